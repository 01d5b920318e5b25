"""The job kickoff as a Prefect flow (in-process, with retries; no Prefect server needed).

The one task writes the job row and both request events in a single transaction (events leave
through the outbox after commit), so a kickoff either happened completely or not at all, and a
retry after a transient failure (database or broker hiccup) cannot start a job twice.
"""

from __future__ import annotations

import logging
import uuid

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from common_py.uow import UnitOfWork
from services.models import StartJobRequest

log = logging.getLogger("orchestrator.kickoff")


def build_kickoff(uow: UnitOfWork, retries: int):
    @task(name="create-job-and-requests", retries=retries, retry_delay_seconds=[1, 2, 4][:max(retries, 1)],
          cache_policy=NO_CACHE)
    async def create_job_and_requests(job_id: str, request: dict) -> str:
        req = StartJobRequest.model_validate(request)
        async with uow.begin() as tx:
            inserted = await tx.conn.fetchval(
                "INSERT INTO jobs (job_id, industry, params) VALUES ($1, $2, $3) "
                "ON CONFLICT (job_id) DO NOTHING RETURNING true", job_id, req.industry, req.model_dump())
            if inserted:  # a retry after a commit whose reply was lost must not emit twice
                await tx.emit("products.collect.request", {
                    "job_id": job_id, "industry": req.industry, "top_amz": req.top_amz, "top_ebay": req.top_ebay})
                await tx.emit("videos.search.request", {
                    "job_id": job_id, "industry": req.industry, "queries": req.queries or [req.industry],
                    "platforms": req.platforms, "recency_days": req.recency_days})
        return job_id

    @flow(name="start-job", log_prints=False, validate_parameters=False)
    async def start_job(job_id: str, request: dict) -> str:
        return await create_job_and_requests(job_id, request)

    async def kickoff(request: StartJobRequest) -> str:
        job_id = str(uuid.uuid4())
        await start_job(job_id, request.model_dump())
        log.info("job %s started for %r", job_id, request.industry, extra={"job_id": job_id})
        return job_id

    return kickoff


async def warm_up() -> None:
    """Start Prefect's temporary API once at boot (it takes seconds), not on the first request."""

    @flow(name="warm-up")
    async def noop() -> None:
        return None

    await noop()
