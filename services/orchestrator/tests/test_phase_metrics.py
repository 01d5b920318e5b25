"""The phase gauges ops/prom-rules alert on: jobs per phase, the oldest job's time in its phase, and
each phase's timeout, as the running orchestrator exposes them on /metrics."""

import asyncio

import httpx

from common_py.testing import create_job


def sample(metrics_text: str, name: str, phase: str) -> float | None:
    prefix = f'{name}{{phase="{phase}"}} '
    for line in metrics_text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix):])
    return None


async def test_oldest_job_per_phase_and_timeouts_reach_metrics(start_service, db_pool):
    stuck = await create_job(db_pool, "stuck")
    await create_job(db_pool, "fresh")
    await db_pool.execute("UPDATE jobs SET phase_started_at = now() - interval '300 seconds' WHERE job_id = $1", stuck)
    proc = start_service("orchestrator", PHASE_TIMEOUT_COLLECTION_S="900", TIMEOUT_CHECK_INTERVAL_S="0.2")
    async with httpx.AsyncClient(base_url=proc.url, timeout=10) as client:
        for _ in range(100):  # the periodic timeout check refreshes the gauges
            text = (await client.get("/metrics")).text
            if sample(text, "phase_state", "collection") == 2:
                break
            await asyncio.sleep(0.1)
    assert sample(text, "phase_state", "collection") == 2
    oldest = sample(text, "phase_oldest_seconds", "collection")
    assert oldest is not None and 300 <= oldest < 400, oldest  # the stuck job's age, not the fresh one's
    assert sample(text, "phase_oldest_seconds", "matching") == 0  # an empty phase reads 0, not stale
    assert sample(text, "phase_timeout_seconds", "collection") == 900
    assert sample(text, "phase_timeout_seconds", "feature_extraction") == 3600
    assert sample(text, "phase_oldest_seconds", "failed") is None  # terminal states are never "stuck"
