"""Unit of work: one Postgres transaction holding a handler's effects, its inbox row and the
events it emits (outbox rows). Events are published only after the commit, so nothing is
announced that did not happen, and the outbox relay republishes anything a crash left behind."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable

import asyncpg

from contracts import validate

from common_py.errors import AlreadyHandled


@dataclass(frozen=True)
class OutgoingEvent:
    event_id: str
    routing_key: str
    payload: dict[str, Any]


_EVENT_NAMESPACE = uuid.UUID("6f1c8a52-3f0e-4d7b-9b2a-5d0c1e7f9a10")


def stable_event_id(*parts: str) -> str:
    """A deterministic event_id for an event that a redelivered request would emit again (the
    same asset of the same job): consumers then drop the repeat by event_id. A uuid5, so it
    still passes the uuid pattern of the contracts."""
    return str(uuid.uuid5(_EVENT_NAMESPACE, "\x1f".join(parts)))


def new_event(routing_key: str, payload: dict[str, Any]) -> OutgoingEvent:
    """Fill event_id, validate against the contract (the producer side of SPEC §3)."""
    body = dict(payload)
    body.setdefault("event_id", str(uuid.uuid4()))
    validate(routing_key, body)
    return OutgoingEvent(body["event_id"], routing_key, body)


class Transaction:
    def __init__(self, conn: asyncpg.Connection):
        self.conn = conn
        self.emitted: list[OutgoingEvent] = []

    async def emit(self, routing_key: str, payload: dict[str, Any]) -> str:
        """Record an event to publish once this transaction commits; returns its event_id."""
        return (await self.emit_many(routing_key, [payload]))[0]

    async def emit_many(self, routing_key: str, payloads: list[dict[str, Any]]) -> list[str]:
        """`emit` for several events of one routing key, in one round trip (executemany)."""
        events = [new_event(routing_key, payload) for payload in payloads]
        if events:
            await self.conn.executemany(
                "INSERT INTO outbox (event_id, routing_key, payload, job_id) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (event_id) DO NOTHING",
                [(uuid.UUID(e.event_id), routing_key, e.payload, e.payload.get("job_id")) for e in events],
            )
        self.emitted.extend(events)
        return [e.event_id for e in events]


PublishFn = Callable[[list[OutgoingEvent]], Awaitable[None]]


class UnitOfWork:
    def __init__(self, pool: asyncpg.Pool, publish_after_commit: PublishFn | None = None):
        self.pool = pool
        self.publish_after_commit = publish_after_commit

    @contextlib.asynccontextmanager
    async def begin(self, inbox: tuple[str, str, str, str | None] | None = None) -> AsyncIterator[Transaction]:
        """`inbox=(consumer, event_id, routing_key, job_id)` makes the transaction idempotent:
        if that row exists the block never runs and AlreadyHandled is raised."""
        async with self.pool.acquire() as conn:
            tx = Transaction(conn)
            async with conn.transaction():
                if inbox is not None:
                    consumer, event_id, routing_key, job_id = inbox
                    inserted = await conn.fetchval(
                        "INSERT INTO inbox (consumer, event_id, routing_key, job_id) VALUES ($1, $2, $3, $4) "
                        "ON CONFLICT DO NOTHING RETURNING true",
                        consumer, uuid.UUID(event_id), routing_key, job_id,
                    )
                    if not inserted:
                        raise AlreadyHandled(f"{consumer} already handled {event_id}")
                yield tx
        if tx.emitted and self.publish_after_commit is not None:
            await self.publish_after_commit(tx.emitted)


async def already_handled(pool: asyncpg.Pool, consumer: str, event_id: str) -> bool:
    return bool(await pool.fetchval(
        "SELECT true FROM inbox WHERE consumer = $1 AND event_id = $2", consumer, uuid.UUID(event_id)))
