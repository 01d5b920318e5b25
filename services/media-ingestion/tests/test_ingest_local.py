"""media-ingestion as a real process on a local dataset whose videos the test renders."""

import json
import os

import cv2
import numpy as np
import pytest

from common_py.testing import create_job
from services.ingestion import frame_id_for, video_id_for
from services.sources.base import VideoRecord

KEYS = ["video.keyframes.ready", "video.keyframes.ready.batch", "videos.collections.completed", "job.failed"]
FPS = 10


def render_video(path, shots):
    """Shots of 1.5 s each: a distinct textured scene per shot, slowly panning."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (320, 240))
    rng = np.random.default_rng(7)
    for color in shots:
        scene = np.full((240, 400, 3), color, np.uint8)
        for _ in range(40):  # texture, so frames are sharp
            x, y = rng.integers(0, 380), rng.integers(0, 220)
            cv2.rectangle(scene, (int(x), int(y)), (int(x) + 15, int(y) + 15), tuple(int(c) for c in rng.integers(0, 255, 3)), -1)
        for i in range(int(1.5 * FPS)):
            writer.write(np.ascontiguousarray(scene[:, i * 3:i * 3 + 320]))
    writer.release()


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "ds"
    (root / "v").mkdir(parents=True)
    render_video(root / "v" / "three.mp4", [(200, 30, 30), (30, 200, 30), (30, 30, 200)])
    render_video(root / "v" / "five.mp4", [(200, 200, 30), (30, 200, 200), (200, 30, 200), (90, 90, 90), (250, 120, 0)])
    (root / "v" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 definitely not a video")
    videos = {"videos": [
        {"video_id": "three", "platform": "youtube", "title": "Pillow review", "keywords": ["pillow"], "path": "v/three.mp4"},
        {"video_id": "broken", "platform": "bilibili", "title": "Pillow unboxing", "keywords": ["pillow"], "path": "v/broken.mp4"},
        {"video_id": "five", "platform": "local", "title": "Best pillows 2026", "keywords": [], "path": "v/five.mp4"},
        {"video_id": "other", "platform": "local", "title": "Lamp", "keywords": ["lamp"], "path": "v/three.mp4"},
    ]}
    (root / "videos.json").write_text(json.dumps(videos))
    return root


def test_ids():
    assert video_id_for(VideoRecord("youtube", "dQw4w9WgXcQ")) == "yt-dQw4w9WgXcQ"
    assert video_id_for(VideoRecord("bilibili", "BV1xx411c7mD")) == "bili-BV1xx411c7mD"
    assert "/" not in video_id_for(VideoRecord("local", "a/../b"))
    assert frame_id_for("yt-x", 1.2345) == "yt-x-0001234"


async def test_ingests_keyframes_skips_broken_video_and_reuses_across_jobs(
        start_service, event_sink, bus_settings, db_pool, dataset):
    sink = await event_sink(KEYS)
    start_service("media-ingestion", LOCAL_DATASET_DIR=str(dataset), FIRST_PASS_WAIT_S="0")
    job = await create_job(db_pool, "pillow")
    await sink.bus.publish("videos.search.request", {"job_id": job, "industry": "pillow", "queries": ["pillow"],
                                                     "platforms": ["youtube"], "recency_days": 7})
    await sink.wait_for("videos.collections.completed", job, timeout=120)
    # the count and the per-video events come on queues of their own: they may lag the completion
    total = (await sink.wait_for("video.keyframes.ready.batch", job))[0]["total_keyframes"]
    ready = {e["video_id"]: e["frames"] for e in await sink.wait_until(
        "video.keyframes.ready", job, lambda evs: sum(len(e["frames"]) for e in evs) >= total)}
    assert set(ready) == {"yt-three", "five"}  # broken skipped, "other" not selected
    assert 3 <= len(ready["yt-three"]) <= 8 and 3 <= len(ready["five"]) <= 8
    # one keyframe per shot at least: every 1.5 s shot of the 3-shot video is represented
    shots = sorted({int(f["ts"] // 1.5) for f in ready["yt-three"]})
    assert shots == [0, 1, 2]
    assert total == sum(len(f) for f in ready.values())
    for frames in ready.values():
        for f in frames:
            img = cv2.imread(str(bus_settings.data_root / f["local_path"]))
            assert img is not None and img.shape[:2] == (240, 320)
    assert await db_pool.fetchval("SELECT count(*) FROM video_frames WHERE video_id IN ('yt-three', 'five')") == total
    row = await db_pool.fetchrow("SELECT platform, title FROM videos WHERE video_id = 'yt-three'")
    assert (row["platform"], row["title"]) == ("youtube", "Pillow review")

    mtimes = {f["frame_id"]: os.stat(bus_settings.data_root / f["local_path"]).st_mtime_ns
              for fs in ready.values() for f in fs}
    job2 = await create_job(db_pool, "pillow")
    await sink.bus.publish("videos.search.request", {"job_id": job2, "industry": "pillow", "queries": ["pillow"],
                                                     "platforms": ["youtube"], "recency_days": 7})
    await sink.wait_for("videos.collections.completed", job2, timeout=60)
    again = [f for e in await sink.wait_until("video.keyframes.ready", job2,
                                              lambda evs: sum(len(e["frames"]) for e in evs) >= len(mtimes))
             for f in e["frames"]]
    assert {f["frame_id"] for f in again} == set(mtimes)
    assert all(os.stat(bus_settings.data_root / f["local_path"]).st_mtime_ns == mtimes[f["frame_id"]] for f in again)


async def test_nothing_selected_completes_with_zero_keyframes(start_service, event_sink, db_pool, dataset):
    sink = await event_sink(KEYS)
    proc = start_service("media-ingestion", LOCAL_DATASET_DIR=str(dataset), FIRST_PASS_WAIT_S="0")
    job = await create_job(db_pool, "submarine")
    request = {"job_id": job, "industry": "submarine", "queries": ["x"], "platforms": ["youtube"], "recency_days": 7}
    await sink.bus.publish("videos.search.request", request)
    await sink.wait_for("videos.collections.completed", job)
    assert (await sink.wait_for("video.keyframes.ready.batch", job))[0]["total_keyframes"] == 0

    # the same request again with an event_id of its own (issue 16: it ran the stage again and
    # emitted a second completion): ignored, nothing emitted
    await sink.bus.publish("videos.search.request", request)
    fence = await create_job(db_pool, "submarine")
    await sink.bus.publish("videos.search.request", {**request, "job_id": fence})
    await sink.wait_for("video.keyframes.ready.batch", fence)
    assert "a repeated request is ignored" in proc.log_text()
    assert len(sink.for_job("videos.collections.completed", job)) == 1
    assert len(sink.for_job("video.keyframes.ready.batch", job)) == 1
