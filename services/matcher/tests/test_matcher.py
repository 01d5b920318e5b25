"""The matcher as a real process beside a real vector-index: rows with real embeddings and
feature bundles (made here with the same library calls the vision services make), a match.request
in, matches and events out."""

import importlib.util
import random
from pathlib import Path

import cv2
import pytest

from common_py.testing import create_job
from matching.assets import extract_asset_features, save_asset_features
from vision_common.embedding import build_embedder
from vision_common.settings import VisionSettings

REPO = Path(__file__).resolve().parents[3]
KEYS = ["match.result", "matchings.process.completed", "job.failed"]


def demo_module():
    spec = importlib.util.spec_from_file_location("make_demo_dataset", REPO / "scripts/make_demo_dataset.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def scenes():
    """Two sibling cartons (same layout, other band and word), a kitchen scene showing the first
    one in perspective and under other light, and a scene with neither."""
    demo = demo_module()
    base, shape, _ = demo.FAMILIES["Sunny"]
    orange = demo.package("Sunny", "Orange", base, shape, (20, 130, 250), 0)
    apple = demo.package("Sunny", "Apple", base, shape, (60, 190, 80), 0)
    rng = random.Random(3)
    scene = demo.kitchen(rng)
    demo.place(scene, orange, rng, 0.6, (380, 360))
    return {"orange": demo.on_white(orange, False, rng), "apple": demo.on_white(apple, False, rng),
            "scene": cv2.resize(scene, (360, 360)), "empty": cv2.resize(demo.scene_with(None, rng), (360, 360))}


async def insert_asset(pool, root, table, key, asset_id, owner_col, owner, image, embedder, extra=None):
    rel = f"{table}/{asset_id}.jpg"
    (root / table).mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(root / rel), image)
    rgb, gray = embedder.embed([image], [None])
    kp = f"kp/{asset_id}.npz"
    save_asset_features(root / kp, extract_asset_features(image, None))
    cols = {key: asset_id, owner_col: owner, "local_path": rel, "emb_rgb": rgb[0], "emb_gray": gray[0],
            "kp_blob_path": kp, **(extra or {})}
    names = ", ".join(cols)
    marks = ", ".join(f"${i + 1}" for i in range(len(cols)))
    await pool.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", *cols.values())


async def test_matches_the_shown_product_not_its_sibling(start_service, event_sink, bus_settings, db_pool, scenes):
    sink = await event_sink(KEYS)
    root = bus_settings.data_root
    embedder = build_embedder(VisionSettings())
    job = await create_job(db_pool, "breakfast")
    for pid in ("sunny-orange", "sunny-apple"):
        await db_pool.execute("INSERT INTO products (product_id, src, asin_or_itemid) VALUES ($1, 'local', $1)", pid)
        await db_pool.execute("INSERT INTO job_products VALUES ($1, $2)", job, pid)
        await insert_asset(db_pool, root, "product_images", "img_id", f"img-{pid}", "product_id", pid,
                           scenes[pid.split("-")[1]], embedder)
    for vid, key in (("vid-orange", "scene"), ("vid-empty", "empty")):
        await db_pool.execute("INSERT INTO videos (video_id, platform) VALUES ($1, 'local')", vid)
        await db_pool.execute("INSERT INTO job_videos VALUES ($1, $2)", job, vid)
        await insert_asset(db_pool, root, "video_frames", "frame_id", f"{vid}-f0", "video_id", vid, scenes[key],
                           embedder, {"ts": 2.5, "shot_start": 1.0, "shot_end": 4.2})
        await db_pool.execute("INSERT INTO job_frames VALUES ($1, $2)", job, f"{vid}-f0")
    # a keyframe of the video that this job's first pass left out: the matcher does not look at it
    await insert_asset(db_pool, root, "video_frames", "frame_id", "vid-orange-f1", "video_id", "vid-orange",
                       scenes["scene"], embedder, {"ts": 30.0})

    index = start_service("vector-index")
    start_service("matcher", VECTOR_INDEX_URL=index.url)
    await sink.bus.publish("match.request", {"job_id": job, "industry": "breakfast", "top_k": 20})
    await sink.wait_for("matchings.process.completed", job, timeout=120)
    results = sink.for_job("match.result", job)
    assert [(r["product_id"], r["video_id"]) for r in results] == [("sunny-orange", "vid-orange")]
    r = results[0]
    assert r["best_pair"] == {**r["best_pair"], "img_id": "img-sunny-orange", "frame_id": "vid-orange-f0"}
    assert r["score"] >= 0.8 and r["ts"] == 2.5
    # where it is on screen: the span its keyframe stands for (not the keyframe outside the job)
    [segment] = r["segments"]
    assert (segment["start"], segment["end"], segment["best_ts"]) == (1.0, 4.2, 2.5) and segment["score"] >= 0.8
    row = await db_pool.fetchrow("SELECT * FROM matches WHERE match_id = $1", r["match_id"])
    assert (row["job_id"], row["product_id"], row["video_id"], row["best_frame_id"]) == \
        (job, "sunny-orange", "vid-orange", "vid-orange-f0")
    assert abs(row["score"] - r["score"]) < 1e-9 and row["segments"] == r["segments"]
    # what the evidence image will draw: the verified pair's inliers and outline, as decided here
    drawing = row["best_pair_drawing"]
    assert drawing["inliers"] >= 12 and 12 <= len(drawing["pts_cat"]) == len(drawing["pts_frame"]) <= 120
    assert len(drawing["quad"]) == 4


async def test_a_job_without_keyframes_completes_with_no_match(start_service, event_sink, db_pool):
    sink = await event_sink(KEYS)
    job = await create_job(db_pool)
    index = start_service("vector-index")
    matcher = start_service("matcher", VECTOR_INDEX_URL=index.url)
    await sink.bus.publish("match.request", {"job_id": job, "industry": "x", "top_k": 20})
    await sink.wait_for("matchings.process.completed", job, timeout=60)
    assert sink.for_job("match.result", job) == []

    # the same request again with an event_id of its own (issue 16: it matched again and emitted
    # a second completion): ignored, nothing emitted
    await sink.bus.publish("match.request", {"job_id": job, "industry": "x", "top_k": 20})
    fence = await create_job(db_pool)
    await sink.bus.publish("match.request", {"job_id": fence, "industry": "x", "top_k": 20})
    await sink.wait_for("matchings.process.completed", fence, timeout=60)
    assert "a repeated match.request is ignored" in matcher.log_text()
    assert len(sink.for_job("matchings.process.completed", job)) == 1


async def test_an_unreachable_index_fails_the_job_after_the_retries(start_service, event_sink, db_pool, bus_settings,
                                                                   scenes):
    sink = await event_sink(KEYS)
    root = bus_settings.data_root
    embedder = build_embedder(VisionSettings())
    job = await create_job(db_pool)
    await db_pool.execute("INSERT INTO products (product_id, src, asin_or_itemid) VALUES ('pz', 'local', 'pz')")
    await db_pool.execute("INSERT INTO job_products VALUES ($1, 'pz')", job)
    await insert_asset(db_pool, root, "product_images", "img_id", "img-pz", "product_id", "pz", scenes["orange"], embedder)
    await db_pool.execute("INSERT INTO videos (video_id, platform) VALUES ('vz', 'local')")
    await db_pool.execute("INSERT INTO job_videos VALUES ($1, 'vz')", job)
    await insert_asset(db_pool, root, "video_frames", "frame_id", "vz-f0", "video_id", "vz", scenes["scene"], embedder,
                       {"ts": 0.0})
    await db_pool.execute("INSERT INTO job_frames VALUES ($1, 'vz-f0')", job)
    start_service("matcher", VECTOR_INDEX_URL="http://127.0.0.1:9")  # nothing listens there
    await sink.bus.publish("match.request", {"job_id": job, "industry": "x", "top_k": 20})
    failed = await sink.wait_for("job.failed", job, timeout=60)
    assert failed[0]["service"] == "matcher" and "vector-index unreachable" in failed[0]["reason"]
    assert not sink.for_job("matchings.process.completed", job)


async def test_a_product_only_a_region_of_the_keyframe_is_near_is_verified_too(start_service, event_sink,
                                                                               bus_settings, db_pool, scenes):
    """top_k 1, and a keyframe whose own vector is the sibling carton's (as when its mask held the
    wrong object): by that vector alone only the sibling is verified and the orange carton is
    never asked. With RETRIEVAL_REGION_K the keyframe's stored quadrants (frame_regions) bring
    the orange carton to verification, and it is matched."""
    from common_py.frame_regions import save_regions

    sink = await event_sink(KEYS)
    root = bus_settings.data_root
    embedder = build_embedder(VisionSettings())
    apple_rgb, apple_gray = embedder.embed([scenes["apple"]], [None])
    jobs = [await create_job(db_pool, "breakfast") for _ in range(2)]
    for pid in ("region-orange", "region-apple"):
        await db_pool.execute("INSERT INTO products (product_id, src, asin_or_itemid) VALUES ($1, 'local', $1)", pid)
        await insert_asset(db_pool, root, "product_images", "img_id", f"img-{pid}", "product_id", pid,
                           scenes[pid.split("-")[1]], embedder)
    await db_pool.execute("INSERT INTO videos (video_id, platform) VALUES ('vid-r', 'local')")
    await insert_asset(db_pool, root, "video_frames", "frame_id", "vid-r-f0", "video_id", "vid-r", scenes["scene"],
                       embedder, {"ts": 1.0, "emb_rgb": apple_rgb[0], "emb_gray": apple_gray[0],
                                  "emb_model": embedder.name})
    q_rgb, q_gray = embedder.embed_regions([scenes["scene"]])
    await save_regions(db_pool, {"vid-r-f0": (q_rgb[0, 1:], q_gray[0, 1:])}, embedder.name)
    for job in jobs:
        for pid in ("region-orange", "region-apple"):
            await db_pool.execute("INSERT INTO job_products VALUES ($1, $2)", job, pid)
        await db_pool.execute("INSERT INTO job_videos VALUES ($1, 'vid-r')", job)
        await db_pool.execute("INSERT INTO job_frames VALUES ($1, 'vid-r-f0')", job)

    index = start_service("vector-index")
    found = []
    for job, region_k in zip(jobs, ("0", "2")):
        matcher = start_service("matcher", VECTOR_INDEX_URL=index.url, RETRIEVAL_REGION_K=region_k)
        await sink.bus.publish("match.request", {"job_id": job, "industry": "breakfast", "top_k": 1})
        await sink.wait_for("matchings.process.completed", job, timeout=120)
        found.append({r["product_id"] for r in sink.for_job("match.result", job)})
        assert matcher.stop() == 0
    assert "region-orange" not in found[0]
    assert "region-orange" in found[1]
