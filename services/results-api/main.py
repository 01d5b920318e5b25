"""results-api: read-only REST over matches, products, videos and evidence images (SPEC §7, the
CQRS read side), and the web UI at `/`.

Composition root: read config, build the FastAPI app, bind its handlers, run until SIGTERM.
HTTP only: no bus connection (`use_bus=False`).
"""

from fastapi import FastAPI

from common_py.runtime import run_service
from config_loader import load_config
from handlers import register, ui
from handlers.http import router


def main() -> None:
    config = load_config()
    app = FastAPI(title="results-api", version="1.0",
                  description="Matches of (product, video) pairs with scores, timestamps and evidence "
                              "images (SPEC §7). Read-only.")
    app.include_router(router)
    ui.mount(app)
    run_service("results-api", config, register, app=app, use_bus=False)


if __name__ == "__main__":
    main()
