"""HTTP endpoints: thin; validation by the models, work by services/."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from services.models import StartJobRequest, StartJobResponse
from services.status import job_status

router = APIRouter()


@router.post("/start-job", response_model=StartJobResponse, tags=["jobs"],
             summary="Start a job for an industry keyword (n8n calls this)")
async def start_job(body: StartJobRequest, request: Request) -> StartJobResponse:
    state = request.app.state
    if getattr(state, "kickoff", None) is None:
        raise HTTPException(503, "the orchestrator is still starting; retry in a few seconds")
    job_id = await state.kickoff(body)
    return StartJobResponse(job_id=job_id, phase="collection", status_url=f"/status/{job_id}")


@router.get("/status/{job_id}", tags=["jobs"], summary="Phase, percent and counts of a job")
async def status(job_id: str, request: Request) -> dict:
    result = await job_status(request.app.state.pool, job_id)
    if result is None:
        raise HTTPException(404, f"no job {job_id}")
    return result


@router.get("/jobs", tags=["jobs"], summary="The most recent jobs")
async def jobs(request: Request, limit: int = 20) -> list[dict]:
    limit = max(1, min(limit, 200))
    rows = await request.app.state.pool.fetch(
        "SELECT job_id, industry, phase, failed_reason, created_at, updated_at, completed_at FROM jobs "
        "ORDER BY created_at DESC LIMIT $1", limit)
    return [{**dict(r), **{k: r[k].isoformat() if r[k] else None for k in ("created_at", "updated_at", "completed_at")}}
            for r in rows]
