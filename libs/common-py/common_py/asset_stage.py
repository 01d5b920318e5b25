"""A per-asset stage fed by the segmentor, with the watermark fallback (SPEC §3, architecture.md).

vision-embedding and vision-keypoint are the same machine with a different computation:
  * `*.ready` events register each asset as pending, due `watermark_s` later;
  * `*.masked` events process the asset at once, with its mask;
  * a sweeper processes assets still pending past their due time on the raw image, so a slow or
    dead segmentor delays a job by at most the watermark and never blocks it;
  * the `.batch` count events (ready or masked, whichever comes first) set how many assets the
    job has; the transaction that finishes the last one emits the stage's `.completed`, once,
    whatever the number of replicas (common_py.completion).
Work is claimed with a lease (due_at pushed forward) before computing, so a replica that dies
mid-batch leaves the asset to be picked up again when the lease ends.

A service supplies `compute(assets) -> list[result | Exception]` (blocking; runs in a worker
thread, one batch at a time, so a model is never used from two threads), `persist(tx, asset,
result)` (writes its columns) and `is_done(asset)` (results of an earlier job to reuse).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import asyncpg

from common_py import completion, metrics
from common_py.bus import Event, EventBus, HandlerContext
from common_py.errors import ErrorCode, FatalError, asset_error_code
from common_py.storage import unwritable
from common_py.uow import Transaction, UnitOfWork, stable_event_id

log = logging.getLogger("common_py.asset_stage")

KINDS = ("image", "video")


@dataclass
class Asset:
    job_id: str
    kind: str                 # "image" (catalog image) | "video" (keyframe)
    asset_id: str             # img_id | frame_id
    local_path: str           # relative to DATA_ROOT
    mask_path: str | None     # relative to DATA_ROOT; None = process the raw image
    owner_id: str | None = None
    ts: float | None = None


Compute = Callable[[list[Asset]], list[Any]]
Persist = Callable[[Transaction, Asset, Any], Awaitable[None]]
IsDone = Callable[[asyncpg.Connection, Asset], Awaitable[bool]]


class _Batcher:
    """Groups assets submitted by concurrent handlers into model batches."""

    def __init__(self, compute: Compute, batch_size: int, window_s: float, model_name: str):
        self.compute = compute
        self.batch_size = batch_size
        self.window_s = window_s
        self.model_name = model_name
        self._queue: asyncio.Queue[tuple[Asset, asyncio.Future]] = asyncio.Queue()
        self._task: asyncio.Task | None = None

    async def run(self, assets: list[Asset]) -> list[Any]:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name=f"{self.model_name}-batcher")
        loop = asyncio.get_running_loop()
        futures = []
        for asset in assets:
            fut = loop.create_future()
            await self._queue.put((asset, fut))
            futures.append(fut)
        return await asyncio.gather(*futures)

    async def _loop(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            deadline = time.monotonic() + self.window_s
            while len(batch) < self.batch_size:
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), timeout))
                except asyncio.TimeoutError:
                    break
            assets = [a for a, _ in batch]
            started = time.perf_counter()
            try:
                results = await asyncio.to_thread(self.compute, assets)
            except Exception as exc:  # noqa: BLE001 - a failed batch fails its assets, not the loop
                results = [exc] * len(assets)
            metrics.MODEL_BATCH.labels(self.model_name).observe(len(assets))
            metrics.MODEL_SECONDS.labels(self.model_name).observe(time.perf_counter() - started)
            for (_, fut), result in zip(batch, results):
                if not fut.done():
                    fut.set_result(result)


class AssetStage:
    def __init__(self, name: str, uow: UnitOfWork, *, compute: Compute, persist: Persist, is_done: IsDone,
                 watermark_s: float, batch_size: int = 16, batch_window_s: float = 0.05, lease_s: float = 300.0):
        """`name` is the stage's plural noun ("embeddings", "keypoints"): the stage rows are
        "<kind>.<name>", the per-asset events "<kind>.<singular>.ready", the completions
        "<kind>.<name>.completed" (SPEC §3)."""
        self.name = name
        self.singular = name[:-1] if name.endswith("s") else name
        self.uow = uow
        self.persist = persist
        self.is_done = is_done
        self.watermark_s = watermark_s
        self.lease_s = lease_s
        self.batcher = _Batcher(compute, batch_size, batch_window_s, name)
        self.service = name  # the bus's service name once subscribed

    def stage(self, kind: str) -> str:
        return f"{kind}.{self.name}"

    def ready_key(self, kind: str) -> str:
        return f"{kind}.{self.singular}.ready"

    def completed_key(self, kind: str) -> str:
        return f"{kind}.{self.name}.completed"

    # -- bus bindings ---------------------------------------------------------------------------
    def subscribe(self, bus: EventBus, prefetch: int | None = None) -> None:
        self.service = bus.service
        bus.subscribe("products.image.ready", self.on_image_ready, prefetch=prefetch)
        bus.subscribe("video.keyframes.ready", self.on_frames_ready, prefetch=prefetch)
        bus.subscribe("products.image.masked", self.on_image_masked, prefetch=prefetch)
        bus.subscribe("video.keyframes.masked", self.on_frames_masked, prefetch=prefetch)
        for key, kind, field in (("products.images.ready.batch", "image", "total_images"),
                                 ("products.images.masked.batch", "image", "total_images"),
                                 ("video.keyframes.ready.batch", "video", "total_keyframes"),
                                 ("video.keyframes.masked.batch", "video", "total_keyframes")):
            bus.subscribe(key, self._on_count(kind, field), prefetch=prefetch)

    async def on_image_ready(self, event: Event, ctx: HandlerContext) -> None:
        p = event.payload
        async with ctx.transaction() as tx:
            await completion.register_asset(tx, event.job_id, self.stage("image"), p["image_id"],
                                            local_path=p["local_path"], due_in_s=self.watermark_s)

    async def on_frames_ready(self, event: Event, ctx: HandlerContext) -> None:
        async with ctx.transaction() as tx:
            for f in event.payload["frames"]:
                await completion.register_asset(tx, event.job_id, self.stage("video"), f["frame_id"],
                                                local_path=f["local_path"], due_in_s=self.watermark_s)

    async def on_image_masked(self, event: Event, ctx: HandlerContext) -> None:
        p = event.payload
        row = await self.uow.pool.fetchrow(
            "SELECT local_path, product_id FROM product_images WHERE img_id = $1", p["image_id"])
        if row is None:
            raise FatalError(f"unknown catalog image {p['image_id']}", ErrorCode.ASSET_MISSING)
        asset = Asset(event.job_id, "image", p["image_id"], row["local_path"], p["mask_path"], row["product_id"])
        await self.process([asset])  # the bus records the event as handled after this

    async def on_frames_masked(self, event: Event, ctx: HandlerContext) -> None:
        p = event.payload
        rows = {r["frame_id"]: r for r in await self.uow.pool.fetch(
            "SELECT frame_id, local_path, ts FROM video_frames WHERE frame_id = ANY($1::text[])",
            [f["frame_id"] for f in p["frames"]])}
        assets = [Asset(event.job_id, "video", f["frame_id"], rows[f["frame_id"]]["local_path"], f["mask_path"],
                        p["video_id"], f["ts"]) for f in p["frames"] if f["frame_id"] in rows]
        missing = [f["frame_id"] for f in p["frames"] if f["frame_id"] not in rows]
        if missing:
            log.error("unknown keyframes %s in a masked event", missing, extra={"error_code": ErrorCode.ASSET_MISSING})
        await self.process(assets)  # the bus records the event as handled after this

    def _on_count(self, kind: str, field: str):
        async def handle(event: Event, ctx: HandlerContext) -> None:
            async with ctx.transaction() as tx:
                await completion.complete_if_done(tx, event.job_id, self.stage(kind), self.completed_key(kind),
                                                  expected=event.payload[field])
        return handle

    # -- processing -----------------------------------------------------------------------------
    async def _claim(self, assets: list[Asset]) -> list[Asset]:
        """Lease the assets that are still to do; the others are done (or leased elsewhere). One
        statement for the batch (completion.lease_assets); a masked computation may overtake a raw
        one running on the watermark (the first to finish is kept, see _finish)."""
        unique: dict[tuple[str, str, str], Asset] = {}  # a batch may name an asset twice
        for a in assets:
            unique.setdefault((a.job_id, self.stage(a.kind), a.asset_id), a)
        leased = await completion.lease_assets(
            self.uow.pool, [(*key, a.local_path, a.mask_path) for key, a in unique.items()], self.lease_s)
        return [a for key, a in unique.items() if key in leased]

    async def process(self, assets: list[Asset]) -> None:
        """Compute (or reuse) and record each asset; emit its per-asset event and, when it is the
        last one, the stage's completion."""
        todo = await self._claim(assets)
        if not todo:
            return
        async with self.uow.pool.acquire() as conn:
            reuse = [a for a in todo if await self.is_done(conn, a)]
        fresh = [a for a in todo if a not in reuse]
        results = await self.batcher.run(fresh) if fresh else []
        outcomes = [(a, None) for a in reuse] + list(zip(fresh, results))
        for asset, result in outcomes:
            await self._finish(asset, result)

    async def _finish(self, asset: Asset, result: Any) -> None:
        stage = self.stage(asset.kind)
        async with self.uow.begin() as tx:
            if isinstance(result, Exception) and unwritable(result):
                # not this asset's fault: DATA_ROOT takes no file, so no asset can be done
                log.critical("%s of %s %s cannot be written under DATA_ROOT: %s", self.name, asset.kind,
                             asset.asset_id, result,
                             extra={"job_id": asset.job_id, "error_code": ErrorCode.STORAGE_UNWRITABLE})
                await tx.emit("job.failed", {
                    "event_id": stable_event_id(asset.job_id, "job.failed", stage),
                    "job_id": asset.job_id, "service": self.service, "error_code": ErrorCode.STORAGE_UNWRITABLE.value,
                    "reason": f"cannot write the {self.name} of {asset.kind} {asset.asset_id} under DATA_ROOT: "
                              f"{result}"[:2000]})
            if isinstance(result, Exception):
                log.error("%s of %s %s failed: %s", self.name, asset.kind, asset.asset_id, result,
                          extra={"job_id": asset.job_id, "error_code": asset_error_code(result)})
                newly = await completion.mark_asset(tx, asset.job_id, stage, asset.asset_id, "failed", str(result)[:500])
            else:
                # first finisher wins: a raw result (watermark) racing a masked one is kept once
                newly = await completion.mark_asset(tx, asset.job_id, stage, asset.asset_id, "done")
                if newly and result is not None:
                    await self.persist(tx, asset, result)
                if newly:
                    await tx.emit(self.ready_key(asset.kind), {
                        "event_id": stable_event_id(asset.job_id, self.ready_key(asset.kind), asset.asset_id),
                        "job_id": asset.job_id, "asset_id": asset.asset_id})
            if newly:
                await completion.complete_if_done(tx, asset.job_id, stage, self.completed_key(asset.kind))

    async def sweep(self, limit: int = 64) -> int:
        """Process pending assets past their watermark on the raw image."""
        rows = await self.uow.pool.fetch(
            """SELECT a.job_id, a.stage, a.asset_id, a.local_path, a.mask_path FROM stage_assets a
               WHERE a.stage = ANY($1::text[]) AND a.status = 'pending' AND a.due_at <= now()
               ORDER BY a.due_at LIMIT $2""",
            [self.stage(k) for k in KINDS], limit)
        if not rows:
            return 0
        assets = [Asset(r["job_id"], r["stage"].split(".")[0], r["asset_id"], r["local_path"], r["mask_path"])
                  for r in rows if r["local_path"]]
        late = [a.asset_id for a in assets if a.mask_path is None]
        if late:
            log.warning("%d asset(s) passed the segmentation watermark; processing them unmasked", len(late))
        await self.process(assets)
        return len(assets)
