"""GET /results through the Redis cache: hits are observable (stale until the TTL passes), and a
Redis that is down, or goes away, costs the cache and nothing else."""

import time

import httpx

from common_py.testing import free_port

TTL_S = 1.0
NEW = ("m9", "j-lamp", "p1", "v1", "i1a", "f1a", 12.5, 0.99, None)


async def lamp(client, **params):
    r = await client.get("/results", params={"industry": "desk lamp", **params})
    assert r.status_code == 200, r.text
    return r.headers["x-cache"], [m["match_id"] for m in r.json()["items"]]


async def test_answers_are_cached_for_the_ttl_and_survive_redis_going_away(
        start_api, private_redis, seed, add_matches):
    api = start_api(REDIS_URL=private_redis.url, RESULTS_CACHE_TTL_S=str(TTL_S), REDIS_RETRY_S="0.2")
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
        assert (await client.get("/readyz")).json()["checks"]["redis"] == "ok"
        first_at = time.monotonic()
        assert await lamp(client) == ("miss", ["m3", "m4"])
        await add_matches(NEW)
        # within the TTL the same query is answered from Redis: the new row is not there yet
        assert await lamp(client) == ("hit", ["m3", "m4"])
        # another query is another key
        assert await lamp(client, min_score=0.5) == ("miss", ["m9", "m3", "m4"])
        time.sleep(max(0.0, first_at + TTL_S + 0.1 - time.monotonic()))
        assert await lamp(client) == ("miss", ["m9", "m3", "m4"])

        private_redis.stop()
        assert await lamp(client) == ("bypass", ["m9", "m3", "m4"])
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ready" and ready.json()["checks"]["db"] == "ok"
        assert ready.json()["checks"]["redis"].startswith("degraded: ")

        # Redis back: used again once REDIS_RETRY_S has passed
        private_redis.start()
        time.sleep(0.3)
        assert (await client.get("/readyz")).json()["checks"]["redis"] == "ok"
        assert (await lamp(client))[0] == "miss"
        assert (await lamp(client))[0] == "hit"
    assert '"redis unavailable' in api.log_text()


async def test_starts_and_serves_with_no_redis_at_all(start_api, seed):
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    api = start_api(REDIS_URL=nowhere)  # start_api waits for /readyz to answer 200
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
        ready = (await client.get("/readyz")).json()
        assert ready["checks"]["redis"].startswith("degraded: ")
        started = time.monotonic()
        assert await lamp(client) == ("bypass", ["m3", "m4"])
        assert await lamp(client) == ("bypass", ["m3", "m4"])
        assert time.monotonic() - started < 2  # no waiting on Redis per request
        metrics = (await client.get("/metrics")).text
        assert 'results_cache_requests_total{outcome="bypass"} 2.0' in metrics


async def test_a_running_jobs_matches_are_never_served_stale(start_api, private_redis, seed, add_matches):
    """The UI follows a running job with /jobs/{id}/matches: the answer must change as soon as the
    matches do, and the last one must not outlive the job's completion. An ended job's is cached."""
    api = start_api(REDIS_URL=private_redis.url, RESULTS_CACHE_TTL_S="60")

    async def job_matches(client):
        r = await client.get("/jobs/j-lamp/matches", params={"limit": 200})
        assert r.status_code == 200, r.text
        return r.headers["x-cache"], [m["match_id"] for m in r.json()["items"]]

    async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
        await seed.execute("UPDATE jobs SET phase = 'matching' WHERE job_id = 'j-lamp'")
        assert await job_matches(client) == ("miss", ["m3", "m4"])
        await add_matches(NEW)
        assert await job_matches(client) == ("miss", ["m9", "m3", "m4"])
        await seed.execute("UPDATE jobs SET phase = 'completed' WHERE job_id = 'j-lamp'")
        assert await job_matches(client) == ("miss", ["m9", "m3", "m4"])
        assert await job_matches(client) == ("hit", ["m9", "m3", "m4"])
