"""videos.search.request -> ingest, then the job's keyframe count and completion in one transaction."""

from common_py.bus import Event, HandlerContext
from services.ingestion import MediaIngestion


def on_search_request(ingestion: MediaIngestion):
    async def handle(event: Event, ctx: HandlerContext) -> None:
        p = event.payload
        total = await ingestion.ingest(event.job_id, p["industry"], p["queries"], p["platforms"],
                                       p["recency_days"], p.get("max_videos"))
        async with ctx.transaction() as tx:
            await tx.emit("video.keyframes.ready.batch", {"job_id": event.job_id, "total_keyframes": total})
            await tx.emit("videos.collections.completed", {"job_id": event.job_id})
    return handle
