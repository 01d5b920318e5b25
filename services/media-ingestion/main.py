"""media-ingestion: Finds videos of an industry (local dataset, YouTube, Bilibili) and extracts sharp
keyframes covering every shot (3-8 for a short clip, up to 30 a minute for a long video).

Composition root: read config, build the service's objects, bind its handlers, run until SIGTERM.
"""

from common_py.runtime import run_service
from config_loader import load_config
from handlers import register


def main() -> None:
    run_service("media-ingestion", load_config(), register)


if __name__ == "__main__":
    main()
