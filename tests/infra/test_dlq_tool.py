"""scripts/dlq.py: a dead letter is listed with its reason and, once replayed, handled."""

import os
import subprocess
import sys
from pathlib import Path

from common_py.bus import EventBus
from common_py.errors import ErrorCode, FatalError
from common_py.testing import create_job

REPO = Path(__file__).resolve().parents[2]


def dlq_tool(settings, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, BUS_BROKER=settings.bus_broker)
    return subprocess.run([sys.executable, str(REPO / "scripts/dlq.py"), *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60)


async def test_list_show_and_replay(bus_settings, db_pool):
    import asyncio

    job = await create_job(db_pool)
    broken = {"on": True}
    handled = []

    async def handler(event, ctx):
        if broken["on"]:
            raise FatalError("mask file missing", ErrorCode.ASSET_MISSING)
        handled.append(event.event_id)

    bus = EventBus(bus_settings, "svc", db_pool)
    sub = bus.subscribe("products.image.masked", handler)
    await bus.start()
    try:
        event_id = await bus.publish("products.image.masked", {"job_id": job, "image_id": "i1",
                                                               "mask_path": "masks/products/i1.png"})
        for _ in range(100):
            listed = dlq_tool(bus_settings, "list")
            if sub.dlq in listed.stdout:
                break
            await asyncio.sleep(0.2)
        assert sub.dlq in listed.stdout and "ASSET_MISSING" in listed.stdout, listed.stdout + listed.stderr
        shown = dlq_tool(bus_settings, "show", sub.dlq)
        assert "mask file missing" in shown.stdout and event_id in shown.stdout

        broken["on"] = False  # the cause is fixed; send it back
        replayed = dlq_tool(bus_settings, "replay", sub.dlq)
        assert "replayed 1 message" in replayed.stdout, replayed.stdout + replayed.stderr
        for _ in range(100):
            if handled:
                break
            await asyncio.sleep(0.1)
        assert handled == [event_id]
        assert sub.dlq not in dlq_tool(bus_settings, "list").stdout
    finally:
        await bus.stop(grace_s=1)


async def test_show_prints_non_json_and_replay_sends_each_message_once(bus_settings, db_pool):
    """Issue 16: `show` crashed on a message that is not JSON, and `replay -n 10` on a DLQ of 5
    malformed messages replayed 9 (each bounced straight back and was replayed again)."""
    import asyncio

    import aio_pika

    bus = EventBus(bus_settings, "svc", db_pool)
    sub = bus.subscribe("products.image.masked", lambda event, ctx: None)
    await bus.start()
    try:
        conn = await aio_pika.connect(bus_settings.bus_broker)
        channel = await conn.channel()
        exchange = await channel.get_exchange(bus_settings.bus_exchange)
        for i in range(5):
            await exchange.publish(aio_pika.Message(f"not json {i} \xff".encode("latin-1")),
                                   routing_key="products.image.masked")
        await conn.close()
        for _ in range(100):
            listed = dlq_tool(bus_settings, "list")
            if f"     5  {sub.dlq}" in listed.stdout:
                break
            await asyncio.sleep(0.2)
        assert "MALFORMED_MESSAGE" in listed.stdout, listed.stdout + listed.stderr
        shown = dlq_tool(bus_settings, "show", sub.dlq, "-n", "2")
        assert shown.returncode == 0, shown.stderr
        assert "not json 0" in shown.stdout and "body_not_json" in shown.stdout

        replayed = dlq_tool(bus_settings, "replay", sub.dlq, "-n", "10")
        assert "replayed 5 message" in replayed.stdout, replayed.stdout + replayed.stderr
        for _ in range(100):  # they fail again, each once more
            if f"     5  {sub.dlq}" in dlq_tool(bus_settings, "list").stdout:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(dlq_tool(bus_settings, "list").stdout)
    finally:
        await bus.stop(grace_s=1)
