"""vision-keypoint: AKAZE / RootSIFT local features of every catalog image and keyframe, saved as .npz blobs.

Composition root: read config, build the service's objects, bind its handlers, run until SIGTERM.
"""

from common_py.runtime import run_service
from config_loader import load_config
from handlers import register


def main() -> None:
    run_service("vision-keypoint", load_config(), register)


if __name__ == "__main__":
    main()
