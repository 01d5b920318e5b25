"""evidence-builder as a real process: match.result in, side-by-side evidence on disk and in the
matches row; the expected count comes from matchings.process.completed; one completion."""

import importlib.util
import random
from pathlib import Path

import cv2
import pytest

from common_py.testing import create_job
from matching.assets import extract_asset_features, save_asset_features

REPO = Path(__file__).resolve().parents[3]
KEYS = ["evidences.generation.completed"]


@pytest.fixture(scope="module")
def images():
    spec = importlib.util.spec_from_file_location("make_demo_dataset", REPO / "scripts/make_demo_dataset.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    base, shape, _ = demo.FAMILIES["Brew & Co"]
    front = demo.package("Brew & Co", "Dark Roast", base, shape, (20, 20, 140), 0)
    rng = random.Random(5)
    scene = demo.kitchen(rng)
    demo.place(scene, front, rng, 0.6, (360, 360))
    return demo.on_white(front, False, rng), cv2.resize(scene, (360, 360))


async def seed_match(pool, root, job, n, catalog_img, frame_img, with_features=True, drawing=None):
    await pool.execute("INSERT INTO products (product_id, src, asin_or_itemid, title) VALUES ($1, 'local', $1, "
                       "'Brew & Co Dark Roast') ON CONFLICT DO NOTHING", f"p{n}")
    await pool.execute("INSERT INTO videos (video_id, platform, title) VALUES ($1, 'local', 'Kitchen clip') "
                       "ON CONFLICT DO NOTHING", f"v{n}")
    for rel, img, kp in ((f"products/p{n}/i{n}.jpg", catalog_img, f"kp/i{n}.npz"),
                         (f"videos/v{n}/frames/f{n}.jpg", frame_img, f"kp/f{n}.npz")):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / rel), img)
        if with_features:
            save_asset_features(root / kp, extract_asset_features(img, None))
    await pool.execute("INSERT INTO product_images (img_id, product_id, local_path, kp_blob_path) VALUES ($1, $2, $3, $4)",
                       f"i{n}", f"p{n}", f"products/p{n}/i{n}.jpg", f"kp/i{n}.npz")
    await pool.execute("INSERT INTO video_frames (frame_id, video_id, ts, local_path, kp_blob_path) VALUES ($1, $2, 4.5, $3, $4)",
                       f"f{n}", f"v{n}", f"videos/v{n}/frames/f{n}.jpg", f"kp/f{n}.npz")
    await pool.execute("INSERT INTO matches (match_id, job_id, product_id, video_id, best_img_id, best_frame_id, ts, "
                       "score, best_pair_drawing) VALUES ($1, $2, $3, $4, $5, $6, 4.5, 0.97, $7)",
                       f"m{n}", job, f"p{n}", f"v{n}", f"i{n}", f"f{n}", drawing)


def result(job, n):
    return {"job_id": job, "match_id": f"m{n}", "product_id": f"p{n}", "video_id": f"v{n}",
            "best_pair": {"img_id": f"i{n}", "frame_id": f"f{n}", "score_pair": 0.97}, "score": 0.97, "ts": 4.5}


async def test_renders_evidence_records_it_and_completes_once(start_service, event_sink, bus_settings, db_pool, images):
    sink = await event_sink(KEYS)
    start_service("evidence-builder")
    root = bus_settings.data_root
    job = await create_job(db_pool)
    await seed_match(db_pool, root, job, 1, *images)
    await seed_match(db_pool, root, job, 2, *images, with_features=False)  # its bundles are gone
    await seed_match(db_pool, root, job, 3, *images)
    # what the matcher stores with a match is drawn as it is: no bundle, no second verification
    stored = {"inliers": 31, "sim_color": 0.9, "sim_dense": 0.8, "pts_cat": [[40.0, 50.0], [90.0, 120.0]],
              "pts_frame": [[200.0, 150.0], [240.0, 210.0]], "quad": [[10, 10], [300, 10], [300, 300], [10, 300]]}
    await seed_match(db_pool, root, job, 4, *images, with_features=False, drawing=stored)
    # the count may arrive before the results: completion waits for both
    await sink.bus.publish("matchings.process.completed", {"job_id": job})
    for n in (1, 2, 4):
        await sink.bus.publish("match.result", result(job, n))
        await sink.bus.publish("match.result", result(job, n))  # a duplicate (other event_id) changes nothing
    # SPEC §3's match.result has no match_id (ours adds it): the row is found by job, product, video
    await sink.bus.publish("match.result", {k: v for k, v in result(job, 3).items() if k != "match_id"})
    await sink.wait_for("evidences.generation.completed", job, timeout=60)
    assert await db_pool.fetchval("SELECT evidence_path FROM matches WHERE match_id = 'm3'") == "evidence/m3.jpg"

    rel = await db_pool.fetchval("SELECT evidence_path FROM matches WHERE match_id = 'm1'")
    assert rel == "evidence/m1.jpg"
    ev = cv2.imread(str(root / rel))
    cat, frame = images
    assert ev is not None and ev.shape[1] > cat.shape[1] and ev.shape[0] > 400  # two panels and a caption
    assert await db_pool.fetchval("SELECT evidence_path FROM matches WHERE match_id = 'm4'") == "evidence/m4.jpg"
    # the match without features (and nothing stored to draw) costs its picture, not the job
    assert await db_pool.fetchval("SELECT evidence_path FROM matches WHERE match_id = 'm2'") is None
    assert await db_pool.fetchval("SELECT status FROM stage_assets WHERE asset_id = 'm2'") == "failed"
    import asyncio
    await asyncio.sleep(0.5)
    assert len(sink.for_job("evidences.generation.completed", job)) == 1


async def test_a_job_without_matches_completes_at_once(start_service, event_sink, db_pool):
    sink = await event_sink(KEYS)
    start_service("evidence-builder")
    job = await create_job(db_pool)
    await sink.bus.publish("matchings.process.completed", {"job_id": job})
    await sink.wait_for("evidences.generation.completed", job, timeout=30)


async def test_a_full_disk_fails_the_job_with_the_reason_and_leaves_no_half_file(
        start_service, event_sink, bus_settings, db_pool, images):
    """Issue 16 (disk full for one service): every evidence image failed as "one bad picture" and
    the job completed without any. Now the job fails with the reason, and nothing half-written
    is left where a reader would find it."""
    sink = await event_sink(KEYS + ["job.failed"])
    start_service("evidence-builder", file_size_limit=4096)  # no evidence image fits in 4 KB
    root = bus_settings.data_root
    job = await create_job(db_pool)
    await seed_match(db_pool, root, job, 7, *images)
    await sink.bus.publish("matchings.process.completed", {"job_id": job})
    await sink.bus.publish("match.result", result(job, 7))
    [failed] = await sink.wait_for("job.failed", job, timeout=60)
    assert failed["service"] == "evidence-builder" and failed["error_code"] == "STORAGE_UNWRITABLE"
    assert "cannot write the evidence image of m7 under DATA_ROOT" in failed["reason"]
    assert "File too large" in failed["reason"]
    assert not sink.for_job("evidences.generation.completed", job)
    assert await db_pool.fetchval("SELECT evidence_path FROM matches WHERE match_id = 'm7'") is None
    assert list((root / "evidence").glob("*")) == []  # no m7.jpg, no temp file beside it
