"""The web UI: its static files (`/` and `/ui/...`, plain HTML, CSS and JavaScript modules from
ui/, no build step) and the three orchestrator calls it makes, forwarded under `/orchestrator/`
(services/orchestrator_client.py says why)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

UI_DIR = Path(__file__).resolve().parents[1] / "ui"

router = APIRouter(tags=["web UI"])


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    # no-cache: the page is tiny and must pick up a new version of the UI at once
    return FileResponse(UI_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@router.post("/orchestrator/start-job", summary="POST /start-job of the orchestrator, forwarded unchanged")
async def start_job(request: Request) -> Response:
    return await _orchestrator(request).forward("POST", "/start-job", request.headers, body=await request.body())


@router.get("/orchestrator/status/{job_id}", summary="GET /status/{job_id} of the orchestrator, forwarded")
async def status(request: Request, job_id: str) -> Response:
    return await _orchestrator(request).forward("GET", f"/status/{job_id}", request.headers)


@router.get("/orchestrator/jobs", summary="GET /jobs of the orchestrator (the most recent jobs), forwarded")
async def jobs(request: Request, limit: int = Query(20, ge=1, le=200)) -> Response:
    return await _orchestrator(request).forward("GET", "/jobs", request.headers, params={"limit": limit})


def _orchestrator(request: Request):
    return request.app.state.orchestrator


def mount(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/ui", StaticFiles(directory=UI_DIR), name="ui")
