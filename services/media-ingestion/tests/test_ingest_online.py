"""media-ingestion as a real process with YouTube and Bilibili on: yt-dlp in that process answers
from the recording (tests/subprocess_hook/sitecustomize.py) and downloads the rendered videos from
a media server on 127.0.0.1; a second job downloads nothing."""

import json
from pathlib import Path

import pytest

import ytdlp_replay
from common_py.testing import create_job
from media_server import MediaServer
from test_ingest_local import KEYS, render_video

TESTS = Path(__file__).resolve().parent
REQUEST = {"industry": "ergonomic pillow", "queries": ["ergonomic pillow", "pillow review"],
           "platforms": ["youtube", "bilibili"], "recency_days": 60}


@pytest.fixture
def media(tmp_path):
    server = MediaServer()
    colours = {"Xq3pTq8mNfA": [(200, 30, 30), (30, 200, 30), (30, 30, 200)],
               "N4wQuery2v0": [(200, 200, 30), (30, 200, 200), (200, 30, 200)],
               "BV1Ht4y1M7pq": [(90, 90, 90), (250, 120, 0), (0, 120, 250)]}
    for video_id, shots in colours.items():
        render_video(tmp_path / f"{video_id}.mp4", shots)
    # the formats yt-dlp should pick (480p, smallest decodable); k9Vb2LmQw0E's file is missing
    server.add("/videoplayback/Xq3pTq8mNfA/244.webm", (tmp_path / "Xq3pTq8mNfA.mp4").read_bytes())
    server.add("/videoplayback/N4wQuery2v0/244.webm", (tmp_path / "N4wQuery2v0.mp4").read_bytes())
    server.add("/upgcxcode/BV1Ht4y1M7pq/30032.m4s", (tmp_path / "BV1Ht4y1M7pq.mp4").read_bytes())
    yield server
    server.close()


@pytest.fixture
def replay_env(media, tmp_path) -> dict[str, str]:
    recording = tmp_path / "recording.json"
    recording.write_text(json.dumps(ytdlp_replay.load(TESTS / "fixtures" / "ytdlp_recording.json", media.base)))
    return {ytdlp_replay.ENV: str(recording), "PYTHONPATH": f"{TESTS / 'subprocess_hook'}:{TESTS}",
            "VIDEO_ONLINE_SOURCES": "on", "VIDEO_MAX_FILESIZE_MB": "60", "YTDLP_SOCKET_TIMEOUT_S": "5"}


async def test_online_videos_arrive_as_events_and_rows_and_a_second_job_downloads_nothing(
        start_service, event_sink, bus_settings, db_pool, media, replay_env):
    sink = await event_sink(KEYS)
    start_service("media-ingestion", FIRST_PASS_WAIT_S="0", **replay_env)
    job = await create_job(db_pool, "ergonomic pillow")
    await sink.bus.publish("videos.search.request", {"job_id": job, **REQUEST})
    await sink.wait_for("videos.collections.completed", job, timeout=120)
    # the count and the per-video events come on queues of their own: they may lag the completion
    total = (await sink.wait_for("video.keyframes.ready.batch", job))[0]["total_keyframes"]
    ready = {e["video_id"]: e["frames"] for e in await sink.wait_until(
        "video.keyframes.ready", job, lambda evs: sum(len(e["frames"]) for e in evs) >= total)}
    # k9Vb2LmQw0E (40 days old, in the 60-day window) failed to download: skipped, the job goes on
    assert set(ready) == {"yt-Xq3pTq8mNfA", "yt-N4wQuery2v0", "bili-BV1Ht4y1M7pq"}
    assert all(3 <= len(frames) <= 8 for frames in ready.values())
    assert sorted({int(f["ts"] // 1.5) for f in ready["bili-BV1Ht4y1M7pq"]}) == [0, 1, 2]  # every shot seen
    assert total == sum(len(f) for f in ready.values())
    assert sorted(media.paths()) == ["/upgcxcode/BV1Ht4y1M7pq/30032.m4s", "/videoplayback/N4wQuery2v0/244.webm",
                                     "/videoplayback/Xq3pTq8mNfA/244.webm", "/videoplayback/k9Vb2LmQw0E/244.webm"]
    rows = {r["video_id"]: r for r in await db_pool.fetch(
        "SELECT video_id, platform, url, title, duration_s, published_at FROM videos v "
        "JOIN job_videos j USING (video_id) WHERE j.job_id = $1", job)}
    assert set(rows) == set(ready)
    bili = rows["bili-BV1Ht4y1M7pq"]
    assert (bili["platform"], bili["duration_s"], bili["title"]) == ("bilibili", 183.4, "人体工学枕头测评：颈椎枕到底值不值得买？")
    assert rows["yt-Xq3pTq8mNfA"]["url"] == "https://www.youtube.com/watch?v=Xq3pTq8mNfA"
    assert rows["yt-Xq3pTq8mNfA"]["published_at"] is not None
    for video_id in ready:  # downloads are deleted once their keyframes are out
        assert not (bus_settings.data_root / "videos" / video_id / "download").exists()
    assert not (bus_settings.data_root / "videos" / "yt-k9Vb2LmQw0E").exists()

    media.seen.clear()
    job2 = await create_job(db_pool, "ergonomic pillow")
    await sink.bus.publish("videos.search.request", {"job_id": job2, **REQUEST})
    await sink.wait_for("videos.collections.completed", job2, timeout=60)
    again = {e["video_id"]: e["frames"] for e in await sink.wait_for("video.keyframes.ready", job2, count=len(ready))}
    assert {v: [f["frame_id"] for f in fs] for v, fs in again.items()} == {
        v: [f["frame_id"] for f in fs] for v, fs in ready.items()}
    assert media.paths() == ["/videoplayback/k9Vb2LmQw0E/244.webm"]  # only the one that failed is tried again
