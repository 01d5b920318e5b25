"""Long videos through the real service: every shot represented, the keyframes announced in
events of at most 64 with the span each stands for, and the first pass that sends on only the
keyframes that look like something in the job's catalog."""

import importlib.util
import json
import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from common_py.testing import create_job

REPO = Path(__file__).resolve().parents[3]
KEYS = ["video.keyframes.ready", "video.keyframes.ready.batch", "videos.collections.completed", "job.failed"]
FPS = 10


def demo_module():
    spec = importlib.util.spec_from_file_location("make_demo_dataset", REPO / "scripts/make_demo_dataset.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def write_video(path: Path, pictures: list[np.ndarray], shot_s: float) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (360, 360))
    for pic in pictures:
        big = cv2.resize(pic, (400, 400))
        n = int(round(shot_s * FPS))
        for i in range(n):  # a slow pan, so frames differ a little
            writer.write(np.ascontiguousarray(big[i * 20 // n:i * 20 // n + 360, i * 40 // n:i * 40 // n + 360]))
    writer.release()


def noise(seed: int) -> np.ndarray:
    """Blocky texture in a hue of its own (consecutive seeds: a colour jump, i.e. a cut)."""
    rng = np.random.default_rng(seed)
    hsv = np.empty((30, 40, 3), np.uint8)
    hsv[..., 0] = (seed * 37) % 180
    hsv[..., 1] = rng.integers(120, 255, (30, 40))
    hsv[..., 2] = rng.integers(60, 255, (30, 40))
    return cv2.resize(cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR), (400, 300), interpolation=cv2.INTER_NEAREST)


def dataset(root: Path, video_id: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "videos.json").write_text(json.dumps({"videos": [
        {"video_id": video_id, "platform": "local", "title": "A long haul", "keywords": ["haul"],
         "path": "long.mp4"}]}))
    return root


async def collect(sink, job):
    await sink.wait_for("videos.collections.completed", job, timeout=180)
    total = (await sink.wait_for("video.keyframes.ready.batch", job))[0]["total_keyframes"]
    events = await sink.wait_until("video.keyframes.ready", job,
                                   lambda evs: sum(len(e["frames"]) for e in evs) >= total)
    return total, events


async def test_every_shot_of_a_long_video_in_events_of_at_most_64(start_service, event_sink, db_pool, tmp_path):
    root = dataset(tmp_path / "ds", "long-70-shots")
    shots = [noise(i) for i in range(70)]  # 70 shots of 1.2 s: 84 s
    write_video(root / "long.mp4", shots, 1.2)
    sink = await event_sink(KEYS)
    start_service("media-ingestion", LOCAL_DATASET_DIR=str(root), FIRST_PASS_WAIT_S="0", KEYFRAMES_PER_MINUTE="60")
    job = await create_job(db_pool, "haul")
    await sink.bus.publish("videos.search.request", {"job_id": job, "industry": "haul", "queries": ["haul"],
                                                     "platforms": ["youtube"], "recency_days": 7})
    total, events = await collect(sink, job)
    assert sorted(len(e["frames"]) for e in events) == [6, 64]  # 70 keyframes, two events
    frames = sorted((f for e in events for f in e["frames"]), key=lambda f: f["ts"])
    assert total == len(frames) == 70
    for i, f in enumerate(frames):  # one per shot, inside it, and the span it stands for is the shot
        assert 1.2 * i <= f["ts"] < 1.2 * (i + 1) and f["shot_start"] <= f["ts"] < f["shot_end"]
        assert abs(f["shot_start"] - 1.2 * i) <= 0.2 + 1e-6 and abs(f["shot_end"] - 1.2 * (i + 1)) <= 0.2 + 1e-6
    rows = await db_pool.fetch("SELECT vf.frame_id, vf.shot_start, vf.shot_end FROM job_frames jf "
                               "JOIN video_frames vf USING (frame_id) WHERE jf.job_id = $1", job)
    assert {(r["frame_id"], r["shot_start"], r["shot_end"]) for r in rows} == {
        (f["frame_id"], f["shot_start"], f["shot_end"]) for f in frames}


@pytest.fixture(scope="module")
def cartons():
    demo = demo_module()
    base, shape, _ = demo.FAMILIES["Sunny"]
    orange = demo.package("Sunny", "Orange", base, shape, (20, 130, 250), 0)
    rng = random.Random(3)
    return demo.on_white(orange, False, rng), [demo.scene_with(orange, random.Random(i)) for i in range(2)]


async def add_catalog(db_pool, data_root: Path, job: str, image: np.ndarray) -> None:
    """One product whose only image is embedded, and the job's image.embeddings stage complete:
    what the catalog side of a job leaves behind."""
    from vision_common.embedding import build_embedder
    from vision_common.settings import VisionSettings

    rgb, gray = build_embedder(VisionSettings()).embed([image], [None])
    (data_root / "products").mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(data_root / "products" / "sunny.jpg"), image)
    await db_pool.execute("INSERT INTO products (product_id, src, asin_or_itemid) VALUES ('sunny', 'local', 'sunny') "
                          "ON CONFLICT DO NOTHING")
    await db_pool.execute("INSERT INTO product_images (img_id, product_id, local_path, emb_rgb, emb_gray) "
                          "VALUES ('sunny-0', 'sunny', 'products/sunny.jpg', $1, $2) ON CONFLICT DO NOTHING",
                          rgb[0], gray[0])
    await db_pool.execute("INSERT INTO job_products VALUES ($1, 'sunny')", job)
    await db_pool.execute("INSERT INTO job_stages (job_id, stage, expected, completed_event_id, completed_at) "
                          "VALUES ($1, 'image.embeddings', 1, gen_random_uuid(), now())", job)


async def test_the_first_pass_sends_on_only_what_looks_like_the_catalog(start_service, event_sink, db_pool,
                                                                        bus_settings, tmp_path, cartons):
    catalog_image, with_carton = cartons
    root = dataset(tmp_path / "ds", "long-with-cartons")
    # noise, carton, noise, noise, carton, noise: 2.5 s shots
    pictures = [noise(1), with_carton[0], noise(2), noise(3), with_carton[1], noise(4)]
    write_video(root / "long.mp4", pictures, 2.5)
    sink = await event_sink(KEYS)
    # noise scores ~0.34 against the carton, scenes showing it 0.47-0.57 (whole-frame EfficientNet)
    first = start_service("media-ingestion", LOCAL_DATASET_DIR=str(root), FIRST_PASS_MIN_SIM="0.42",
                          FIRST_PASS_WAIT_S="30")
    job = await create_job(db_pool, "haul")
    await add_catalog(db_pool, bus_settings.data_root, job, catalog_image)
    await sink.bus.publish("videos.search.request", {"job_id": job, "industry": "haul", "queries": ["haul"],
                                                     "platforms": ["youtube"], "recency_days": 7})
    total, events = await collect(sink, job)
    shots = sorted({int(f["ts"] // 2.5) for e in events for f in e["frames"]})
    assert shots == [1, 4] and total == sum(len(e["frames"]) for e in events) >= 2
    stored = await db_pool.fetchval("SELECT count(*) FROM video_frames WHERE video_id = 'long-with-cartons'")
    assert stored > total and stored >= 6  # every keyframe is kept for later jobs; this one processes two shots
    assert await db_pool.fetchval("SELECT count(*) FROM job_frames WHERE job_id = $1", job) == total
    # the kept keyframes' quadrant vectors are stored for per-region retrieval, those of no other
    regions = await db_pool.fetch(
        "SELECT fr.frame_id, fr.region, fr.emb_rgb, fr.emb_gray, fr.emb_model, vf.local_path FROM frame_regions fr "
        "JOIN video_frames vf USING (frame_id) WHERE vf.video_id = 'long-with-cartons' ORDER BY frame_id, region")
    kept = {r["frame_id"] for r in await db_pool.fetch("SELECT frame_id FROM job_frames WHERE job_id = $1", job)}
    assert {r["frame_id"] for r in regions} == kept and len(regions) == 4 * len(kept)
    assert {r["region"] for r in regions} == {1, 2, 3, 4} and {r["emb_model"] for r in regions} == {"efficientnet-lite0"}
    from vision_common.embedding import build_embedder
    from vision_common.image_io import read_image
    from vision_common.settings import VisionSettings

    first_kept = regions[0]
    stored_image = read_image(str(Path(bus_settings.data_root) / first_kept["local_path"]))
    want_rgb, want_gray = build_embedder(VisionSettings()).embed_regions([stored_image])
    np.testing.assert_allclose(first_kept["emb_rgb"].to_numpy(), want_rgb[0, 1], atol=1e-4)
    np.testing.assert_allclose(first_kept["emb_gray"].to_numpy(), want_gray[0, 1], atol=1e-4)

    # another job on the same video whose catalog is not ready in time: every keyframe goes on
    job2 = await create_job(db_pool, "haul")
    assert first.stop() == 0
    start_service("media-ingestion", LOCAL_DATASET_DIR=str(root), FIRST_PASS_MIN_SIM="0.42", FIRST_PASS_WAIT_S="0")
    await sink.bus.publish("videos.search.request", {"job_id": job2, "industry": "haul", "queries": ["haul"],
                                                     "platforms": ["youtube"], "recency_days": 7})
    total2, _ = await collect(sink, job2)
    assert total2 == stored


async def test_with_region_crops_a_kept_keyframes_quadrants_are_cut_out_and_embedded(
        start_service, event_sink, db_pool, bus_settings, tmp_path, cartons):
    """RETRIEVAL_REGION_CROPS=true: a kept keyframe's stored region vectors are the windows pooled
    from the whole frame's pass (regions 1-4) and then its quadrants cut out and embedded on their
    own (regions 5-8)."""
    from vision_common.embedding import crop_windows
    from vision_common.embedding import build_embedder
    from vision_common.image_io import read_image
    from vision_common.settings import VisionSettings

    catalog_image, with_carton = cartons
    root = dataset(tmp_path / "ds", "crops-with-cartons")
    write_video(root / "long.mp4", [noise(5), with_carton[0], noise(6)], 2.5)
    sink = await event_sink(KEYS)
    start_service("media-ingestion", LOCAL_DATASET_DIR=str(root), FIRST_PASS_MIN_SIM="0.42",
                  FIRST_PASS_WAIT_S="30", RETRIEVAL_REGION_CROPS="true")
    job = await create_job(db_pool, "haul")
    await add_catalog(db_pool, bus_settings.data_root, job, catalog_image)
    await sink.bus.publish("videos.search.request", {"job_id": job, "industry": "haul", "queries": ["haul"],
                                                     "platforms": ["youtube"], "recency_days": 7})
    total, events = await collect(sink, job)
    assert {int(f["ts"] // 2.5) for e in events for f in e["frames"]} == {1}
    regions = await db_pool.fetch(
        "SELECT fr.region, fr.emb_rgb, fr.emb_gray, vf.local_path FROM frame_regions fr "
        "JOIN video_frames vf USING (frame_id) WHERE vf.video_id = 'crops-with-cartons' ORDER BY frame_id, region")
    assert len(regions) == 8 * total and [r["region"] for r in regions[:8]] == list(range(1, 9))
    image = read_image(str(Path(bus_settings.data_root) / regions[0]["local_path"]))
    embedder = build_embedder(VisionSettings())
    cut_rgb, cut_gray = embedder.embed(crop_windows(image), [None] * 4)
    pooled_rgb, pooled_gray = embedder.embed_regions([image])
    want_rgb = np.concatenate([pooled_rgb[0, 1:], cut_rgb])
    want_gray = np.concatenate([pooled_gray[0, 1:], cut_gray])
    for r in regions[:8]:
        np.testing.assert_allclose(r["emb_rgb"].to_numpy(), want_rgb[r["region"] - 1], atol=1e-4)
        np.testing.assert_allclose(r["emb_gray"].to_numpy(), want_gray[r["region"] - 1], atol=1e-4)
    assert not np.allclose(cut_rgb[0], pooled_rgb[0, 1], atol=1e-2)
