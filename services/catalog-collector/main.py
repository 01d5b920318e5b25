"""catalog-collector: Collects the top products of an industry (local dataset, eBay, Amazon), stores their images.

Composition root: read config, build the service's objects, bind its handlers, run until SIGTERM.
"""

from common_py.runtime import run_service
from config_loader import load_config
from handlers import register


def main() -> None:
    run_service("catalog-collector", load_config(), register)


if __name__ == "__main__":
    main()
