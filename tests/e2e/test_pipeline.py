"""End to end: all ten services as real processes against the real broker and Postgres, a job on
a generated dataset through the HTTP API, then phases, counts, matches, evidence files and
exactly one `.completed` per stage checked; again with two replicas of embedding and keypoint."""

import asyncio
import json
from pathlib import Path

import cv2
import httpx
import pytest

from common_py.testing import build_demo_dataset, fresh_database, start_pipeline
from contracts import COMPLETION_KEYS
from vision_common.keyframes import KeyframeSettings, budget

@pytest.fixture(scope="module")
def demo_dataset(tmp_path_factory):
    return build_demo_dataset(tmp_path_factory.mktemp("demo") / "dataset", "--videos", "4")


@pytest.fixture(scope="module")
def long_dataset(tmp_path_factory):
    """Two clips and a 100 s video in which one product is shown at two moments far apart."""
    return build_demo_dataset(tmp_path_factory.mktemp("demo-long") / "dataset", "--videos", "2", "--long-video", "100")


async def run_job(procs, industry="breakfast") -> tuple[str, dict, list[str]]:
    orch = procs["orchestrator"][0].url
    phases = []
    async with httpx.AsyncClient(base_url=orch, timeout=30) as client:
        r = await client.post("/start-job", json={"industry": industry, "top_amz": 20, "top_ebay": 20})
        assert r.status_code == 200, r.text
        job_id = r.json()["job_id"]
        deadline = asyncio.get_running_loop().time() + 600
        while True:
            status = (await client.get(f"/status/{job_id}")).json()
            if not phases or phases[-1] != status["phase"]:
                phases.append(status["phase"])
            if status["phase"] in ("completed", "failed"):
                return job_id, status, phases
            assert asyncio.get_running_loop().time() < deadline, status
            await asyncio.sleep(0.5)


async def check_job(job_id, status, phases, procs, db_pool, data_root: Path, dataset: Path, sink):
    assert status["phase"] == "completed", status
    assert phases[0] in ("collection", "feature_extraction") and phases[-1] == "completed"
    assert status["percent"] == 100
    catalog = json.loads((dataset / "catalog.json").read_text())["products"]
    videos = json.loads((dataset / "videos.json").read_text())["videos"]
    c = status["counts"]
    assert c["products"] == len(catalog) and c["product_images"] == sum(len(p["images"]) for p in catalog)
    # 3-8 keyframes for a short clip, more for a long video (all pass the demo's first pass)
    assert c["videos"] == len(videos)
    assert 3 * len(videos) <= c["keyframes"] <= sum(budget(v["duration_s"], KeyframeSettings()) for v in videos)
    for stage in ("image.embeddings", "image.keypoints"):
        assert c["stages"][stage] == {**c["stages"][stage], "expected": c["product_images"], "completed": True}
    for stage in ("video.embeddings", "video.keypoints"):
        assert c["stages"][stage]["expected"] == c["keyframes"] and c["stages"][stage]["completed"]

    # exactly one .completed per stage: in the outbox (every emitted event), and on the bus
    emitted = dict(await db_pool.fetch(
        "SELECT routing_key, count(*) FROM outbox WHERE job_id = $1 AND routing_key LIKE '%.completed' "
        "GROUP BY routing_key", job_id))
    assert emitted == {k: 1 for k in COMPLETION_KEYS}
    for key in COMPLETION_KEYS:
        assert len(sink.for_job(key, job_id)) == 1, key
    assert {e["name"] for e in status["events"]} == set(COMPLETION_KEYS)

    # matches: rows, events, evidence files, the results API, and the truth
    rows = await db_pool.fetch("SELECT * FROM matches WHERE job_id = $1", job_id)
    assert len(sink.for_job("match.result", job_id)) == len(rows) == c["matches"] == c["evidence"]
    for row in rows:
        img = cv2.imread(str(data_root / row["evidence_path"]))
        assert img is not None and img.shape[1] > img.shape[0]  # side by side
        assert row["score"] >= 0.8 and row["best_pair_drawing"]["inliers"] > 0  # drawn as the matcher decided
    async with httpx.AsyncClient(base_url=procs["results-api"][0].url, timeout=30) as client:
        items = (await client.get("/results", params={"job_id": job_id, "limit": 200})).json()["items"]
        assert {i["match_id"] for i in items} == {r["match_id"] for r in rows}
        for i in items:
            e = await client.get(i["evidence_url"])
            assert e.status_code == 200 and e.headers["content-type"] == "image/jpeg"
    truth = {(m["product_id"], m["video_id"]) for m in json.loads((dataset / "truth.json").read_text())["matches"]}
    found = {(r["product_id"], r["video_id"]) for r in rows}
    assert len(found & truth) >= len(truth) - 1, (found, truth)  # the matcher's quality is the bench's job;
    assert len(found & truth) >= 1                                # here: real matches flow end to end


KEYS = sorted(COMPLETION_KEYS) + ["match.result"]


async def test_a_job_runs_end_to_end_through_every_service(start_service, event_sink, db_pool, bus_settings, demo_dataset):
    sink = await event_sink(KEYS)
    procs = start_pipeline(start_service, demo_dataset, replicas=1)
    job_id, status, phases = await run_job(procs)
    await check_job(job_id, status, phases, procs, db_pool, bus_settings.data_root, demo_dataset, sink)

    # SPEC §3: a job with zero products and zero keyframes still completes (empty batches are done)
    empty_id, empty, _ = await run_job(procs, industry="submarine")
    assert empty["phase"] == "completed", empty
    assert {k: v for k, v in empty["counts"].items() if k != "stages"} == {
        "products": 0, "product_images": 0, "videos": 0, "keyframes": 0, "matches": 0, "evidence": 0}
    for key in COMPLETION_KEYS:
        assert len(sink.for_job(key, empty_id)) == 1, key


async def test_two_replicas_of_embedding_and_keypoint_complete_each_stage_once(
        start_service, event_sink, db_pool, bus_settings, demo_dataset):
    sink = await event_sink(KEYS)
    procs = start_pipeline(start_service, demo_dataset, replicas=2)
    job_id, status, phases = await run_job(procs)
    await check_job(job_id, status, phases, procs, db_pool, bus_settings.data_root, demo_dataset, sink)
    # both replicas did part of the work (the broker spreads deliveries between consumers)
    for name in ("vision-embedding", "vision-keypoint"):
        handled = []
        for p in procs[name]:
            text = httpx.get(p.url + "/metrics").text
            handled.append(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                               if line.startswith("events_total{") and 'outcome="ok"' in line))
        assert all(h > 0 for h in handled), (name, handled)


class TestLongVideo:
    @pytest.fixture(scope="class")
    @staticmethod
    def pg_dsn(stack_env):
        """A database of its own: the local catalog source keys images by their path, so the same
        catalog in another dataset folder would add its images to the same products."""
        with fresh_database(stack_env["POSTGRES_DSN"]) as dsn:
            yield dsn

    async def test_a_long_video_is_matched_with_every_moment_the_product_is_on_screen(
            self, start_service, event_sink, db_pool, bus_settings, long_dataset):
        sink = await event_sink(KEYS)
        procs = start_pipeline(start_service, long_dataset, replicas=1)
        job_id, status, phases = await run_job(procs)
        await check_job(job_id, status, phases, procs, db_pool, bus_settings.data_root, long_dataset, sink)
        truth = json.loads((long_dataset / "truth.json").read_text())
        [pid] = [m["product_id"] for m in truth["matches"] if m["video_id"] == "demo-long"]
        shown = [(s["start"], s["end"]) for v in truth["videos"] if v["video_id"] == "demo-long"
                 for s in v["shots"] if s["product_id"]]
        frames = await db_pool.fetchval("SELECT count(*) FROM job_frames jf JOIN video_frames vf USING (frame_id) "
                                        "WHERE jf.job_id = $1 AND vf.video_id = 'demo-long'", job_id)
        assert frames > 8  # the long video is not cut down to a short clip's 8 keyframes
        async with httpx.AsyncClient(base_url=procs["results-api"][0].url, timeout=30) as client:
            items = (await client.get("/results", params={"job_id": job_id, "limit": 200})).json()["items"]
            [match] = [i for i in items if i["video"]["video_id"] == "demo-long" and i["product"]["product_id"] == pid]
            detail = (await client.get(f"/matches/{match['match_id']}")).json()
        segments = detail["segments"]
        assert segments == match["segments"] and segments == sorted(segments, key=lambda g: g["start"])
        # both moments are found, as separate segments, each around its shot; ts is the best frame of one
        for start, end in shown:
            assert any(g["start"] <= end and g["end"] >= start for g in segments), (shown, segments)
        assert len(segments) >= 2 and all(g["end"] - g["start"] < 15 for g in segments)
        assert any(g["best_ts"] == detail["ts"] for g in segments)
        [event] = [e for e in sink.for_job("match.result", job_id) if e["video_id"] == "demo-long"]
        assert event["segments"] == segments
