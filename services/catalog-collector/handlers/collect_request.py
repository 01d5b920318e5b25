"""products.collect.request -> collect, then the job's count and completion in one transaction."""

from common_py.bus import Event, HandlerContext
from services.collector import CatalogCollector


def on_collect_request(collector: CatalogCollector):
    async def handle(event: Event, ctx: HandlerContext) -> None:
        p = event.payload
        total = await collector.collect(event.job_id, p["industry"], p["top_amz"], p["top_ebay"])
        async with ctx.transaction() as tx:
            await tx.emit("products.images.ready.batch", {"job_id": event.job_id, "total_images": total})
            await tx.emit("products.collections.completed", {"job_id": event.job_id})
    return handle
