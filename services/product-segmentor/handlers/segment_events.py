"""`.ready` events in, `.masked` events out (one per asset, and the counts passed through)."""

from __future__ import annotations

from common_py.bus import Event, HandlerContext
from common_py.storage import Storage
from common_py.uow import stable_event_id
from services.segmentor import ProductSegmentor


def on_image_ready(seg: ProductSegmentor, storage: Storage):
    async def handle(event: Event, ctx: HandlerContext) -> None:
        p = event.payload
        mask = await seg.mask(p["local_path"], storage.product_mask(p["image_id"]))
        async with ctx.transaction() as tx:
            await tx.conn.execute("UPDATE product_images SET masked_local_path = $2 WHERE img_id = $1",
                                  p["image_id"], mask)
            await tx.emit("products.image.masked", {
                "event_id": stable_event_id(event.job_id, "products.image.masked", p["image_id"]),
                "job_id": event.job_id, "image_id": p["image_id"], "mask_path": mask})
    return handle


def on_frames_ready(seg: ProductSegmentor, storage: Storage):
    async def handle(event: Event, ctx: HandlerContext) -> None:
        p = event.payload
        masks = await seg.mask_frames([(f["local_path"], storage.frame_mask(f["frame_id"])) for f in p["frames"]])
        frames = [{"frame_id": f["frame_id"], "ts": f["ts"], "mask_path": masks[f["local_path"]]}
                  for f in p["frames"] if f["local_path"] in masks]
        async with ctx.transaction() as tx:
            await tx.conn.executemany("UPDATE video_frames SET masked_local_path = $2 WHERE frame_id = $1",
                                      [(f["frame_id"], f["mask_path"]) for f in frames])
            if frames:
                # one masked event per ready event (a long video comes in several)
                await tx.emit("video.keyframes.masked", {
                    "event_id": stable_event_id(event.job_id, "video.keyframes.masked", event.event_id),
                    "job_id": event.job_id, "video_id": p["video_id"], "frames": frames})
    return handle


def pass_count(out_key: str, field: str):
    """The segmentor masks every asset it is told about: its count is the collector's count."""
    async def handle(event: Event, ctx: HandlerContext) -> None:
        async with ctx.transaction() as tx:
            await tx.emit(out_key, {"job_id": event.job_id, field: event.payload[field]})
    return handle
