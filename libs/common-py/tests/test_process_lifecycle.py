"""Crash before ack, and SIGTERM with a handler in flight, on real processes."""

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from common_py.bus import EventBus
from common_py.testing import create_job, free_port, service_env
from cp_helpers import wait_for

WORKER = Path(__file__).with_name("worker_proc.py")


def start_worker(mode, settings, mark_dir) -> subprocess.Popen:
    port = free_port()
    env = service_env(settings, BUS_SHUTDOWN_GRACE_S="10", WORKER_MARK_DIR=str(mark_dir), LOG_LEVEL="WARNING",
                      HTTP_PORT=str(port))
    log = open(mark_dir / f"worker-{mode}-{port}.log", "wb")
    proc = subprocess.Popen([sys.executable, str(WORKER), mode], env=env, stdout=log, stderr=subprocess.STDOUT)
    proc.port = port
    return proc


async def outcomes(proc) -> dict[str, float]:
    """events_total of a running worker by outcome, from its /metrics (empty until it serves)."""
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            text = (await client.get(f"http://127.0.0.1:{proc.port}/metrics")).text
    except httpx.HTTPError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("events_total{") and 'event_name="products.image.ready"' in line:
            outcome = line.split('outcome="')[1].split('"')[0]
            out[outcome] = out.get(outcome, 0) + float(line.rsplit(" ", 1)[1])
    return out


async def wait_exit(proc, timeout=20.0) -> int:
    return await asyncio.to_thread(proc.wait, timeout)


def _quietly(check):
    async def run():
        try:
            return await check()
        except httpx.HTTPError:
            return False
    return run


@pytest.fixture
async def effects_table(db_pool):
    await db_pool.execute("CREATE TABLE IF NOT EXISTS t_effects (job_id text, image_id text)")


async def declare_queues(settings, db_pool):
    """Declare the worker's queue before publishing so nothing is dropped while it boots."""
    bus = EventBus(settings, "svc", db_pool)

    async def never_called(event, ctx):  # pragma: no cover - this bus only declares the queue
        raise AssertionError("declare_queues must not consume")

    sub = bus.subscribe("products.image.ready", never_called)
    await bus.connect()
    await bus.declare(sub)
    await bus.stop(grace_s=0)


def payload(job_id, image_id):
    return {"job_id": job_id, "product_id": "p1", "image_id": image_id, "local_path": f"products/p1/{image_id}.jpg"}


@pytest.mark.parametrize("mode", ["crash_after_commit", "crash_before_commit"])
async def test_killed_before_ack_is_redelivered_and_handled_once(mode, bus_settings, db_pool, effects_table, tmp_path):
    job_id = await create_job(db_pool)
    await declare_queues(bus_settings, db_pool)
    producer = EventBus(bus_settings, "producer", db_pool)
    await producer.connect()
    await producer.publish("products.image.ready", payload(job_id, "victim"))
    await producer.stop(grace_s=0)

    first = start_worker(mode, bus_settings, tmp_path)
    assert await wait_exit(first) == -signal.SIGKILL  # it really died mid-message
    assert any(p.name.startswith("started-victim") for p in tmp_path.iterdir())
    committed = await db_pool.fetchval("SELECT count(*) FROM t_effects WHERE job_id = $1", job_id)
    assert committed == (1 if mode == "crash_after_commit" else 0)

    second = start_worker("normal", bus_settings, tmp_path)
    try:
        # the broker redelivers the unacked message to the new process: after a commit it is a
        # duplicate (acked, no effect), before a commit it is handled; either way once in all
        expected = "duplicate" if mode == "crash_after_commit" else "ok"

        async def delivered():
            return (await outcomes(second)).get(expected, 0) >= 1

        await wait_for(delivered, timeout=60)
        assert await db_pool.fetchval("SELECT count(*) FROM t_effects WHERE job_id = $1", job_id) == 1
        assert await db_pool.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1 AND job_id = $2",
                                      f"{bus_settings.bus_queue_prefix}svc.products.image.ready", job_id) == 1
    finally:
        second.send_signal(signal.SIGTERM)
        assert await wait_exit(second) == 0


async def test_sigterm_finishes_in_flight_work_then_exits(bus_settings, db_pool, effects_table, tmp_path):
    job_id = await create_job(db_pool)
    await declare_queues(bus_settings, db_pool)
    worker = start_worker("slow", bus_settings, tmp_path)
    producer = EventBus(bus_settings, "producer", db_pool)
    await producer.connect()
    try:
        await producer.publish("products.image.ready", payload(job_id, "inflight"))
        await wait_for(lambda: any(p.name.startswith("started-inflight") for p in tmp_path.iterdir()), timeout=30)
        worker.send_signal(signal.SIGTERM)  # the handler is sleeping inside its 2 s of work
        assert await wait_exit(worker) == 0
        assert any(p.name.startswith("done-inflight") for p in tmp_path.iterdir())
        assert await db_pool.fetchval("SELECT count(*) FROM t_effects WHERE job_id = $1", job_id) == 1
        # acked before exit: a new consumer finds nothing to redo
        restarted = start_worker("normal", bus_settings, tmp_path)

        async def serving():
            return "# HELP" in await asyncio.to_thread(
                lambda: httpx.get(f"http://127.0.0.1:{restarted.port}/metrics", timeout=2).text)

        await wait_for(_quietly(serving), timeout=60)
        await asyncio.sleep(1)  # time for a redelivery, if there were one
        assert await outcomes(restarted) == {}
        restarted.send_signal(signal.SIGTERM)
        assert await wait_exit(restarted) == 0
        assert len([p for p in tmp_path.iterdir() if p.name.startswith("started-inflight")]) == 1
    finally:
        await producer.stop(grace_s=0)
        if worker.poll() is None:
            worker.kill()
