"""orchestrator: main API (`POST /start-job`, `GET /status/{job_id}`) and the phase manager.

Composition root: read config, build the FastAPI app and the phase manager, bind handlers, run
until SIGTERM.
"""

from fastapi import FastAPI

from common_py.runtime import run_service
from config_loader import load_config


def main() -> None:
    config = load_config()  # configures Prefect's environment before anything imports it
    from handlers import register
    from handlers.http import router

    app = FastAPI(title="orchestrator", version="1.0",
                  description="Starts jobs and reports their progress (SPEC §7).")
    app.include_router(router)
    run_service("orchestrator", config, register, app=app)


if __name__ == "__main__":
    main()
