"""The orchestrator as a real process: HTTP API, kickoff events, phase manager, failures."""

import asyncio
import random
import uuid

import httpx

from contracts import COMPLETION_KEYS


async def wait_for(fn, timeout=30.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await fn()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.1)


# what the orchestrator publishes, recorded by common_py.testing's event_sink
REQUESTS = ["products.collect.request", "videos.search.request", "match.request"]


async def status(client, job_id):
    r = await client.get(f"/status/{job_id}")
    assert r.status_code == 200, r.text
    return r.json()


async def test_start_job_emits_both_requests_and_walks_every_phase(start_service, event_sink):
    sink = await event_sink(REQUESTS)
    proc = start_service("orchestrator", RETRIEVAL_TOPK="17")
    async with httpx.AsyncClient(base_url=proc.url, timeout=30) as client:
        r = await client.post("/start-job", json={"industry": "  ergonomic pillow ", "top_amz": 3, "top_ebay": 2,
                                                  "recency_days": 30})
        assert r.status_code == 200, r.text
        job_id = r.json()["job_id"]
        [collect] = await sink.wait_for("products.collect.request", job_id, timeout=30)
        assert collect == {"job_id": job_id, "industry": "ergonomic pillow", "top_amz": 3, "top_ebay": 2,
                           "event_id": collect["event_id"]}
        [search] = await sink.wait_for("videos.search.request", job_id, timeout=30)
        assert search["queries"] == ["ergonomic pillow"] and search["platforms"] == ["youtube", "bilibili"]
        assert search["recency_days"] == 30
        first = await status(client, job_id)
        assert first["phase"] == "collection" and first["percent"] == 0

        # completions in a random order, each published twice (the second is a duplicate), and
        # once more with an event_id of its own (a stage that completed twice: issue 16)
        keys = sorted(COMPLETION_KEYS - {"matchings.process.completed", "evidences.generation.completed"})
        random.shuffle(keys)
        for key in keys:
            payload = {"job_id": job_id, "event_id": str(uuid.uuid4())}
            await sink.bus.publish(key, payload)
            await sink.bus.publish(key, payload)
            await sink.bus.publish(key, {"job_id": job_id})
        await sink.wait_for("match.request", job_id, timeout=30)
        assert (await status(client, job_id))["phase"] == "matching"
        for key in ("matchings.process.completed", "evidences.generation.completed"):
            await sink.bus.publish(key, {"job_id": job_id})
        done = await wait_for(lambda: _phase_is(client, job_id, "completed"))
        assert done["percent"] == 100 and done["completed_at"]
        names = [e["name"] for e in done["events"]]
        assert sorted(names) == sorted(COMPLETION_KEYS), names  # each once
        await asyncio.sleep(0.5)
        [request] = sink.for_job("match.request", job_id)  # one, despite the duplicated completions
        assert request == {"job_id": job_id, "industry": "ergonomic pillow", "top_k": 17,
                           "event_id": request["event_id"]}


async def _phase_is(client, job_id, phase):
    s = await status(client, job_id)
    return s if s["phase"] == phase else None


BAD_INPUTS = [
    ({}, "industry"), ({"industry": "   "}, "industry"), ({"industry": "x", "top_amz": -1}, "top_amz"),
    ({"industry": "x", "platforms": ["tiktok"]}, "platforms"), ({"industry": "x", "recency_days": 0}, "recency_days"),
    ({"industry": "x", "queries": ["q" * 201]}, "queries"),
]


async def test_bad_input_is_a_clear_422_and_creates_nothing(start_service, db_pool):
    proc = start_service("orchestrator")
    before = await db_pool.fetchval("SELECT count(*) FROM jobs")
    async with httpx.AsyncClient(base_url=proc.url, timeout=30) as client:
        for body, field in BAD_INPUTS:
            r = await client.post("/start-job", json=body)
            assert r.status_code == 422, body
            assert any(field in map(str, err["loc"]) for err in r.json()["detail"]), r.json()
        assert (await client.get(f"/status/{uuid.uuid4()}")).status_code == 404
    assert await db_pool.fetchval("SELECT count(*) FROM jobs") == before


async def test_job_failed_and_timeouts_fail_the_job_with_a_reason(start_service, event_sink):
    bus = (await event_sink(REQUESTS)).bus
    proc = start_service("orchestrator", PHASE_TIMEOUT_FEATURE_EXTRACTION_S="1.5", TIMEOUT_CHECK_INTERVAL_S="0.3")
    async with httpx.AsyncClient(base_url=proc.url, timeout=30) as client:
        a = (await client.post("/start-job", json={"industry": "a"})).json()["job_id"]
        b = (await client.post("/start-job", json={"industry": "b"})).json()["job_id"]
        await bus.publish("job.failed", {"job_id": a, "service": "media-ingestion", "reason": "yt-dlp missing",
                                         "error_code": "JOB_FAILED"})
        failed = await wait_for(lambda: _phase_is(client, a, "failed"))
        assert failed["failed_reason"] == "media-ingestion: yt-dlp missing [JOB_FAILED]"
        # b reaches feature_extraction and then stalls there past its timeout
        for key in ("products.collections.completed", "videos.collections.completed"):
            await bus.publish(key, {"job_id": b})
        stalled = await wait_for(lambda: _phase_is(client, b, "failed"), timeout=20)
        assert "feature_extraction exceeded its timeout" in stalled["failed_reason"]
        assert stalled["percent"] == 20  # the progress it had reached
        # a late completion does not resurrect a failed job
        await bus.publish("image.embeddings.completed", {"job_id": b})
        await asyncio.sleep(0.5)
        assert (await status(client, b))["phase"] == "failed"


async def test_with_api_keys_every_job_call_needs_a_key(start_service, db_pool):
    proc = start_service("orchestrator", API_KEYS="k-analyst,k-n8n")
    before = await db_pool.fetchval("SELECT count(*) FROM jobs")
    async with httpx.AsyncClient(base_url=proc.url, timeout=30) as client:
        for headers in ({}, {"X-API-Key": "wrong"}):
            r = await client.post("/start-job", json={"industry": "lamp"}, headers=headers)
            assert r.status_code == 401 and "X-API-Key" in r.json()["detail"], r.text
            assert (await client.get("/jobs", headers=headers)).status_code == 401
        assert await db_pool.fetchval("SELECT count(*) FROM jobs") == before  # a refused call starts nothing
        r = await client.post("/start-job", json={"industry": "lamp"}, headers={"X-API-Key": "k-n8n"})
        assert r.status_code == 200, r.text
        job_id = r.json()["job_id"]
        assert (await client.get(f"/status/{job_id}")).status_code == 401
        analyst = {"X-API-Key": "k-analyst"}
        assert (await client.get(f"/status/{job_id}", headers=analyst)).json()["phase"] == "collection"
        [job] = [j for j in (await client.get("/jobs", headers=analyst)).json() if j["job_id"] == job_id]
        assert job["industry"] == "lamp" and job["completed_at"] is None and job["created_at"]
        # health and metrics stay open for probes and Prometheus
        for path in ("/healthz", "/readyz", "/metrics"):
            assert (await client.get(path)).status_code == 200, path
    # the suite shares one database: a job left in collection would count in test_phase_metrics
    await db_pool.execute("DELETE FROM jobs WHERE job_id = $1", job_id)


# raw bodies: what a careless or hostile client sends (issue 16 found most of these ending as a
# 500: the 422 quoting inf/NaN or a lone surrogate could not be written as JSON, and text with a
# NUL passed validation and failed in Postgres, after the kickoff's retries)
HOSTILE_BODIES = [
    (b'{"industry": "x", "top_amz": 1e999}', "top_amz"),      # json reads it as inf
    (b'{"industry": "x", "top_ebay": NaN}', "top_ebay"),
    (b'{"industry": "x", "recency_days": -Infinity}', "recency_days"),
    (b'{"industry": "a\\ud800b"}', "industry"),                 # a lone surrogate
    (b'{"industry": "a\\u0000b"}', "industry"),                 # NUL: Postgres text cannot hold it
    (b'{"industry": "x", "queries": ["ok", "a\\u0000"]}', "queries"),
    (b'{"industry": "x", "queries": ["\\udfff"]}', "queries"),
    (b'{"industry": ', "body"),                                 # truncated JSON
    (b'\xff\xfe not json', "body"),
    (b'[1, 2]', "body"),
]


async def test_hostile_input_is_a_4xx_at_once_and_creates_nothing(start_service, db_pool):
    proc = start_service("orchestrator")
    before = await db_pool.fetchval("SELECT count(*) FROM jobs")
    async with httpx.AsyncClient(base_url=proc.url, timeout=30) as client:
        for body, field in HOSTILE_BODIES:
            started = asyncio.get_running_loop().time()
            r = await client.post("/start-job", content=body, headers={"content-type": "application/json"})
            if field == "body" and r.status_code == 400:  # bytes that are not UTF-8: FastAPI's 400
                assert "parsing the body" in r.json()["detail"]
            else:
                assert r.status_code == 422, (body, r.status_code, r.text)
                assert any(field in map(str, err["loc"]) for err in r.json()["detail"]), (body, r.json())
            assert asyncio.get_running_loop().time() - started < 2, body  # no kickoff retries first
        for path in ("/status/a%00b", "/status/..%2F..%2Fetc%2Fpasswd", "/status/%ED%A0%80", "/jobs?limit=1e999"):
            r = await client.get(path)
            assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
        assert (await client.get("/healthz")).status_code == 200
    assert await db_pool.fetchval("SELECT count(*) FROM jobs") == before
    plain = [line for line in proc.log_text().splitlines() if line.strip() and not line.startswith("{")]
    assert not plain, plain[:20]
