"""The per-asset stage (watermark, leases, batching, exactly-once completion) on the real broker
and Postgres. The computation is a stand-in; everything around it is the production code."""

import asyncio
import threading

import pytest

from common_py.asset_stage import AssetStage
from common_py.bus import EventBus
from common_py.testing import create_job
from cp_helpers import wait_for

OUT_KEYS = ["image.embedding.ready", "video.embedding.ready", "image.embeddings.completed",
            "video.embeddings.completed"]


class Recorder:
    def __init__(self, fail_ids=(), done_ids=()):
        self.batches: list[list[str]] = []
        self.fail_ids = set(fail_ids)
        self.done_ids = set(done_ids)
        self.persisted: dict[str, tuple] = {}
        self.threads = set()
        self.lock = threading.Lock()

    def compute(self, assets):
        with self.lock:
            self.batches.append([a.asset_id for a in assets])
            self.threads.add(threading.get_ident())
        return [ValueError(f"corrupt {a.asset_id}") if a.asset_id in self.fail_ids else (a.asset_id, a.mask_path)
                for a in assets]

    async def persist(self, tx, asset, result):
        self.persisted[asset.asset_id] = result

    async def is_done(self, conn, asset):
        return asset.asset_id in self.done_ids


async def seed(pool, job_id, n_images, n_frames):
    await pool.execute("INSERT INTO products (product_id, src, asin_or_itemid) VALUES ($1, 'local', $1) "
                       "ON CONFLICT DO NOTHING", f"p-{job_id}")
    for i in range(n_images):
        await pool.execute("INSERT INTO product_images (img_id, product_id, local_path) VALUES ($1, $2, $3)",
                           f"{job_id}-i{i}", f"p-{job_id}", f"products/p/{job_id}-i{i}.jpg")
    await pool.execute("INSERT INTO videos (video_id, platform) VALUES ($1, 'local')", f"v-{job_id}")
    for i in range(n_frames):
        await pool.execute("INSERT INTO video_frames (frame_id, video_id, ts, local_path) VALUES ($1, $2, $3, $4)",
                           f"{job_id}-f{i}", f"v-{job_id}", float(i), f"videos/v/frames/{job_id}-f{i}.jpg")


async def publish_assets(bus, job_id, n_images, n_frames, masked_images=(), masked_frames=()):
    for i in range(n_images):
        await bus.publish("products.image.ready", {"job_id": job_id, "product_id": f"p-{job_id}",
                                                   "image_id": f"{job_id}-i{i}", "local_path": f"products/p/{job_id}-i{i}.jpg"})
    frames = [{"frame_id": f"{job_id}-f{i}", "ts": float(i), "local_path": f"videos/v/frames/{job_id}-f{i}.jpg"}
              for i in range(n_frames)]
    if frames:
        await bus.publish("video.keyframes.ready", {"job_id": job_id, "video_id": f"v-{job_id}", "frames": frames})
    await bus.publish("products.images.ready.batch", {"job_id": job_id, "total_images": n_images})
    await bus.publish("video.keyframes.ready.batch", {"job_id": job_id, "total_keyframes": n_frames})
    for i in masked_images:
        await bus.publish("products.image.masked", {"job_id": job_id, "image_id": f"{job_id}-i{i}",
                                                    "mask_path": f"masks/products/{job_id}-i{i}.png"})
    mf = [{"frame_id": f"{job_id}-f{i}", "ts": float(i), "mask_path": f"masks/frames/{job_id}-f{i}.png"}
          for i in masked_frames]
    if mf:
        await bus.publish("video.keyframes.masked", {"job_id": job_id, "video_id": f"v-{job_id}", "frames": mf})


@pytest.fixture
async def stages(bus_settings, db_pool):
    """start(n, recorder, watermark) -> n replicas of the stage (same service, shared queues),
    each with its own sweeper loop."""
    running = []

    async def start(n, recorder, watermark_s=0.5):
        for _ in range(n):
            bus = EventBus(bus_settings, "embedder", db_pool)
            stage = AssetStage("embeddings", bus.uow, compute=recorder.compute, persist=recorder.persist,
                               is_done=recorder.is_done, watermark_s=watermark_s, batch_size=8, batch_window_s=0.05)
            stage.subscribe(bus)
            await bus.start()

            async def sweeper(stage=stage):
                while True:
                    await stage.sweep()
                    await asyncio.sleep(0.1)

            running.append((bus, asyncio.create_task(sweeper())))

    yield start
    for bus, task in running:
        task.cancel()
        await bus.stop(grace_s=2)


async def test_masked_assets_are_processed_batched_and_complete_once(stages, event_sink, db_pool):
    sink = await event_sink(OUT_KEYS)
    rec = Recorder(fail_ids={"x"})
    await stages(1, rec, watermark_s=30)  # long watermark: everything must come through the masks
    job = await create_job(db_pool)
    await seed(db_pool, job, 6, 5)
    await publish_assets(sink.bus, job, 6, 5, masked_images=range(6), masked_frames=range(5))
    await sink.wait_for("image.embeddings.completed", job)
    await sink.wait_for("video.embeddings.completed", job)
    assert sorted(e["asset_id"] for e in sink.for_job("image.embedding.ready", job)) == [f"{job}-i{i}" for i in range(6)]
    assert len(sink.for_job("video.embedding.ready", job)) == 5
    assert all(mask is not None for _, mask in rec.persisted.values())  # every one used its mask
    assert max(len(b) for b in rec.batches) > 1, rec.batches  # the five frames of a video share a batch
    assert len(rec.threads) == 1  # one worker thread at a time owns the model
    await asyncio.sleep(0.5)
    assert len(sink.for_job("image.embeddings.completed", job)) == 1


async def test_without_masks_the_watermark_processes_raw_images(stages, event_sink, db_pool):
    sink = await event_sink(OUT_KEYS)
    rec = Recorder()
    await stages(1, rec, watermark_s=0.5)
    job = await create_job(db_pool)
    await seed(db_pool, job, 3, 4)
    await publish_assets(sink.bus, job, 3, 4, masked_images=[0])  # the segmentor answered for one image only
    await sink.wait_for("image.embeddings.completed", job, timeout=20)
    await sink.wait_for("video.embeddings.completed", job, timeout=20)
    masks = {k: m for k, (_, m) in rec.persisted.items() if k.startswith(job)}
    assert masks[f"{job}-i0"] is not None
    assert all(masks[f"{job}-i{i}"] is None for i in (1, 2)) and all(masks[f"{job}-f{i}"] is None for i in range(4))


async def test_two_replicas_one_completion_and_one_event_per_asset(stages, event_sink, db_pool):
    sink = await event_sink(OUT_KEYS)
    rec = Recorder(fail_ids=set())
    await stages(2, rec, watermark_s=0.3)
    jobs = [await create_job(db_pool) for _ in range(3)]
    for job in jobs:
        await seed(db_pool, job, 5, 6)
        await publish_assets(sink.bus, job, 5, 6, masked_images=[0, 2, 4], masked_frames=[1, 3])
    for job in jobs:
        await sink.wait_for("image.embeddings.completed", job, timeout=30)
        await sink.wait_for("video.embeddings.completed", job, timeout=30)
    await asyncio.sleep(1.0)
    for job in jobs:
        assert len(sink.for_job("image.embeddings.completed", job)) == 1
        assert len(sink.for_job("video.embeddings.completed", job)) == 1
        ids = [e["asset_id"] for e in sink.for_job("image.embedding.ready", job) + sink.for_job("video.embedding.ready", job)]
        assert len(ids) == len(set(ids)) == 11


async def test_failed_assets_still_let_the_stage_complete_and_reuse_skips_compute(stages, event_sink, db_pool):
    sink = await event_sink(OUT_KEYS)
    job = await create_job(db_pool)
    rec = Recorder(fail_ids={f"{job}-i1"}, done_ids={f"{job}-i2"})
    await stages(1, rec, watermark_s=30)
    await seed(db_pool, job, 3, 0)
    await publish_assets(sink.bus, job, 3, 0, masked_images=range(3))
    await sink.wait_for("image.embeddings.completed", job)
    await sink.wait_for("video.embeddings.completed", job)  # zero keyframes: completes at once
    ready = {e["asset_id"] for e in sink.for_job("image.embedding.ready", job)}
    assert ready == {f"{job}-i0", f"{job}-i2"}  # the corrupt one is finished as failed, not announced
    assert all(f"{job}-i2" not in b for b in rec.batches)  # reused, not recomputed
    row = await db_pool.fetchrow("SELECT status, detail FROM stage_assets WHERE asset_id = $1", f"{job}-i1")
    assert row["status"] == "failed" and "corrupt" in row["detail"]


async def test_claim_leases_each_asset_once_and_lets_a_masked_run_overtake_a_raw_lease(db_pool):
    """The lease rules of AssetStage._claim, statement by statement (no bus needed)."""
    from common_py.asset_stage import Asset
    from common_py.uow import UnitOfWork

    job_id = await create_job(db_pool)
    stage = AssetStage("embeddings", UnitOfWork(db_pool), compute=lambda assets: [], persist=None,
                       is_done=None, watermark_s=60, lease_s=300)
    raw = [Asset(job_id, "video", f"f{i}", f"videos/v/frames/f{i}.jpg", None) for i in range(3)]

    # a batch that names an asset twice leases it once
    got = await stage._claim([raw[0], raw[1], raw[0]])
    assert [a.asset_id for a in got] == ["f0", "f1"]
    # leased assets are not leased again by another raw attempt; a new one is
    assert [a.asset_id for a in await stage._claim(raw)] == ["f2"]
    # a masked computation may overtake a raw lease, and records its mask
    masked = Asset(job_id, "video", "f1", "videos/v/frames/f1.jpg", "masks/frames/f1.png")
    assert [a.asset_id for a in await stage._claim([masked])] == ["f1"]
    assert await db_pool.fetchval("SELECT mask_path FROM stage_assets WHERE job_id = $1 AND asset_id = 'f1'",
                                  job_id) == "masks/frames/f1.png"
    # a finished asset is never leased again; one whose lease ran out is
    await db_pool.execute("UPDATE stage_assets SET status = 'done' WHERE job_id = $1 AND asset_id = 'f1'", job_id)
    await db_pool.execute("UPDATE stage_assets SET due_at = now() - interval '1 s' WHERE job_id = $1", job_id)
    assert [a.asset_id for a in await stage._claim(raw + [masked])] == ["f0", "f2"]
    # every row keeps its path; the leased ones are due when their lease ends
    rows = await db_pool.fetch("SELECT asset_id, local_path, due_at > now() AS leased FROM stage_assets "
                               "WHERE job_id = $1 ORDER BY asset_id", job_id)
    assert [(r["asset_id"], r["local_path"], r["leased"]) for r in rows] == [
        ("f0", "videos/v/frames/f0.jpg", True), ("f1", "videos/v/frames/f1.jpg", False),
        ("f2", "videos/v/frames/f2.jpg", True)]
