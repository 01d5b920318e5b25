"""vector-index: pgvector HNSW search over product images (`GET /search`, `POST /search`,
`POST /search/frames`).

Composition root: read config, build the FastAPI app, bind its handlers, run until SIGTERM.
HTTP only: no bus connection (embeddings arrive in Postgres directly), so `use_bus=False`.
"""

from fastapi import FastAPI

from common_py.runtime import run_service
from config_loader import load_config
from handlers import register
from handlers.http import router


def main() -> None:
    config = load_config()
    app = FastAPI(title="vector-index", version="1.0",
                  description="Nearest product images by cosine similarity on emb_rgb / emb_gray "
                              "(pgvector HNSW, SPEC §6.1).")
    app.include_router(router)
    run_service("vector-index", config, register, app=app, use_bus=False)


if __name__ == "__main__":
    main()
