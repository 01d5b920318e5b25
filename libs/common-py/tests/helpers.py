"""Small helpers shared by the common-py tests (imported by path, see conftest); create_job and
the other fixtures every suite shares are in common_py.testing."""

from __future__ import annotations

import asyncio
import json
import time

import aio_pika


async def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05):
    """Poll an (async) predicate until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def drain_queue(broker: str, queue: str, timeout: float = 1.0) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Fetch every message currently in `queue` (acking them)."""
    conn = await aio_pika.connect(broker)
    out = []
    try:
        channel = await conn.channel()
        q = await channel.declare_queue(queue, durable=True, passive=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = await q.get(fail=False)
            if msg is None:
                await asyncio.sleep(0.05)
                continue
            await msg.ack()
            out.append(msg)
    finally:
        await conn.close()
    return out


async def publish_raw(broker: str, exchange: str, routing_key: str, body: bytes | dict,
                      headers: dict | None = None) -> None:
    """Publish bytes that bypass producer validation, as a buggy or foreign producer would."""
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    conn = await aio_pika.connect(broker)
    try:
        channel = await conn.channel()
        ex = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        await ex.publish(aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, headers=headers),
                         routing_key=routing_key)
    finally:
        await conn.close()
