"""videos.search.request -> ingest, then the job's keyframe count and completion in one transaction."""

import logging

from common_py import completion
from common_py.bus import Event, HandlerContext
from services.ingestion import MediaIngestion

STAGE, DONE = "videos.collections", "videos.collections.completed"
log = logging.getLogger("media-ingestion")


def on_search_request(ingestion: MediaIngestion):
    async def handle(event: Event, ctx: HandlerContext) -> None:
        p = event.payload
        if await completion.stage_completed(ingestion.uow.pool, event.job_id, STAGE):
            log.warning("videos of job %s are ingested already; a repeated request is ignored", event.job_id)
            return
        total = await ingestion.ingest(event.job_id, p["industry"], p["queries"], p["platforms"],
                                       p["recency_days"], p.get("max_videos"))
        async with ctx.transaction() as tx:
            if await completion.claim_stage(tx, event.job_id, STAGE):  # else a copy of the request won
                await tx.emit("video.keyframes.ready.batch", {"job_id": event.job_id, "total_keyframes": total})
                await completion.emit_completed(tx, event.job_id, STAGE, DONE)
    return handle
