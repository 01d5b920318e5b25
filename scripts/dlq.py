#!/usr/bin/env python3
"""Inspect and replay dead letters.

  python scripts/dlq.py list                       every DLQ with messages, and why they died
  python scripts/dlq.py show QUEUE.dlq [-n 5]      the first messages of one DLQ (headers + body)
  python scripts/dlq.py replay QUEUE.dlq [-n 100]  send them back to QUEUE for another full set of
                                                   attempts (after fixing what killed them)

Reads BUS_BROKER like the services do (environment, $DATA_ROOT/run/stack.env, .env); the queue
list comes from the management API on port 15672.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from urllib.parse import urlsplit

import aio_pika
import httpx

from common_py.settings import CommonSettings


def management_queues(broker: str) -> list[dict]:
    u = urlsplit(broker)
    r = httpx.get(f"http://{u.hostname}:15672/api/queues/%2F", auth=(u.username or "guest", u.password or "guest"),
                  timeout=10)
    r.raise_for_status()
    return r.json()


async def depths(broker: str, names: list[str]) -> dict[str, int]:
    """Exact message counts (the management API's lag by a few seconds)."""
    conn = await aio_pika.connect(broker)
    try:
        channel = await conn.channel()
        return {n: (await channel.declare_queue(n, passive=True)).declaration_result.message_count for n in names}
    finally:
        await conn.close()


async def fetch(broker: str, queue: str, n: int, ack: bool):
    conn = await aio_pika.connect(broker)
    try:
        channel = await conn.channel()
        q = await channel.declare_queue(queue, passive=True)
        out = []
        while len(out) < n:
            msg = await q.get(fail=False)
            if msg is None:
                break
            out.append(msg)
            if ack:
                await msg.ack()
        if not ack:
            for msg in out:
                await msg.nack(requeue=True)
        return out
    finally:
        await conn.close()


async def replay(broker: str, dlq: str, n: int) -> int:
    target = dlq.removesuffix(".dlq")
    conn = await aio_pika.connect(broker)
    sent = 0
    try:
        channel = await conn.channel(publisher_confirms=True)
        q = await channel.declare_queue(dlq, passive=True)
        await channel.declare_queue(target, passive=True)
        # at most what the DLQ held when we started: a message that fails again at once comes back
        # behind the others, and must not be replayed a second time in the same run
        n = min(n, q.declaration_result.message_count)
        while sent < n:
            msg = await q.get(fail=False)
            if msg is None:
                break
            headers = {k: v for k, v in (msg.headers or {}).items()
                       if not k.startswith(("x-error", "x-attempt", "x-failed", "x-retryable", "x-death", "x-last",
                                            "x-outage"))}
            await channel.default_exchange.publish(
                aio_pika.Message(msg.body, headers=headers, content_type=msg.content_type, message_id=msg.message_id,
                                 delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=target)
            await msg.ack()
            sent += 1
    finally:
        await conn.close()
    return sent


def body_of(raw: bytes) -> dict:
    """A dead letter's body as JSON when it is JSON; otherwise its text (or bytes), since a
    message that is not JSON is exactly what a DLQ collects."""
    try:
        return {"body": json.loads(raw)}
    except (ValueError, UnicodeDecodeError):
        text = raw.decode("utf-8", "backslashreplace")
        return {"body_not_json": text[:4000] + (f"... ({len(raw)} bytes)" if len(text) > 4000 else "")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["list", "show", "replay"])
    ap.add_argument("queue", nargs="?", help="a DLQ name (ends in .dlq)")
    ap.add_argument("-n", type=int, default=None, help="how many messages (show: 5, replay: all)")
    args = ap.parse_args(argv)
    broker = CommonSettings().bus_broker
    if args.command == "list":
        names = [q["name"] for q in management_queues(broker) if q["name"].endswith(".dlq")]
        counts = {n: c for n, c in asyncio.run(depths(broker, names)).items() if c}
        if not counts:
            print("every dead-letter queue is empty")
        for name in sorted(counts):
            msgs = asyncio.run(fetch(broker, name, 50, ack=False))
            reasons = Counter(str((m.headers or {}).get("x-error-code", "?")) for m in msgs)
            print(f"{counts[name]:6d}  {name}  {dict(reasons)}")
        return 0
    if not args.queue or not args.queue.endswith(".dlq"):
        ap.error("give a dead-letter queue name (ending in .dlq); `list` shows them")
    if args.command == "show":
        for m in asyncio.run(fetch(broker, args.queue, args.n or 5, ack=False)):
            headers = {k: v for k, v in (m.headers or {}).items() if k.startswith("x-")}
            print(json.dumps({"headers": headers, **body_of(m.body)}, indent=1, default=str))
        return 0
    sent = asyncio.run(replay(broker, args.queue, args.n or 10**9))
    print(f"replayed {sent} message(s) from {args.queue} to {args.queue.removesuffix('.dlq')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
