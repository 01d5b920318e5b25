"""products.collect.request -> collect, then the job's count and completion in one transaction."""

import logging

from common_py import completion
from common_py.bus import Event, HandlerContext
from services.collector import CatalogCollector

STAGE, DONE = "products.collections", "products.collections.completed"
log = logging.getLogger("catalog-collector")


def on_collect_request(collector: CatalogCollector):
    async def handle(event: Event, ctx: HandlerContext) -> None:
        p = event.payload
        if await completion.stage_completed(collector.uow.pool, event.job_id, STAGE):
            log.warning("products of job %s are collected already; a repeated request is ignored", event.job_id)
            return
        total = await collector.collect(event.job_id, p["industry"], p["top_amz"], p["top_ebay"])
        async with ctx.transaction() as tx:
            if await completion.claim_stage(tx, event.job_id, STAGE):  # else a copy of the request won
                await tx.emit("products.images.ready.batch", {"job_id": event.job_id, "total_images": total})
                await completion.emit_completed(tx, event.job_id, STAGE, DONE)
    return handle
