"""The event bus on aio-pika (SPEC §3, §10).

Why aio-pika and not FastStream: we need exact control of the retry path (a delay queue per
queue, then a DLQ with the reason in headers), of when the ack happens (after the unit of work
commits) and of the shutdown sequence. aio-pika exposes all of that directly; FastStream's
middleware would wrap the same calls with more indirection.

Topology, per subscription of service S to routing key K (prefix = BUS_QUEUE_PREFIX):
  <prefix>S.K         quorum queue bound to the `events` topic exchange with K. Quorum queues
                      count deliveries, so a message that crashes the process every time it is
                      delivered is dead-lettered after `x-delivery-limit` instead of looping.
  <prefix>S.K.retry   holds a failed message for BUS_RETRY_BASE_MS * 2^(attempt-1) ms, then
                      dead-letters it back to S.K (no consumer reads it).
  <prefix>S.K.dlq     dead letters; headers x-error-code, x-error, x-attempts, x-service.
With BUS_QUEUE_EXPIRES_MS (tests) the three carry x-expires: the broker deletes them once they
have had no consumer that long, whether or not the process that made them shut down cleanly.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

import aio_pika
import asyncpg
from aio_pika.abc import AbstractIncomingMessage

from contracts import ROUTING_KEYS, ContractError, validate

from common_py import metrics
from common_py.db import database_unreachable
from common_py.errors import AlreadyHandled, ErrorCode, FatalError, JobFailed, JobFinished, PipelineError
from common_py.logs import log_context
from common_py.settings import CommonSettings
from common_py.storage import raise_if_unwritable
from common_py.uow import OutgoingEvent, UnitOfWork, already_handled, new_event

log = logging.getLogger("common_py.bus")

DELIVERY_LIMIT = 5  # redeliveries (crash before ack) before the broker dead-letters a message
TERMINAL_PHASES = ("completed", "failed")
OUTAGE_RETRY_MAX_MS = 30_000  # the longest wait between two tries while Postgres is unreachable


@dataclass(frozen=True)
class Event:
    routing_key: str
    payload: dict[str, Any]
    attempt: int = 1
    redelivered: bool = False
    deliveries: int = 0  # earlier deliveries of this message that its consumer never finished

    @property
    def event_id(self) -> str:
        return self.payload["event_id"]

    @property
    def job_id(self) -> str:
        return self.payload["job_id"]


class HandlerContext:
    """What a handler gets besides the event: an idempotent transaction for its effects."""

    def __init__(self, uow: UnitOfWork, consumer: str, event: Event):
        self._uow = uow
        self._consumer = consumer
        self.event = event
        self.used = False

    def transaction(self):
        """Open the handler's transaction: its writes, the inbox row and the emitted events
        commit together. Raises AlreadyHandled (the bus acks) if the event was handled before."""
        if self.used:
            raise RuntimeError("a handler commits its effects in exactly one transaction")
        self.used = True
        ev = self.event
        return self._uow.begin(inbox=(self._consumer, ev.event_id, ev.routing_key, ev.job_id))


Handler = Callable[[Event, HandlerContext], Awaitable[None]]


@dataclass
class Subscription:
    routing_key: str
    handler: Handler
    queue_name: str
    require_job: bool = True
    prefetch: int | None = None
    critical: bool = False  # the job cannot proceed without this message: dead-lettering it fails the job
    # filled at start
    channel: Any = None
    queue: Any = None
    consumer_tag: str | None = None

    @property
    def retry_queue(self) -> str:
        return self.queue_name + ".retry"

    @property
    def dlq(self) -> str:
        return self.queue_name + ".dlq"


@dataclass
class EventBus:
    settings: CommonSettings
    service: str
    pool: asyncpg.Pool | None = None
    subscriptions: list[Subscription] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._pub_channel: aio_pika.abc.AbstractChannel | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self._inflight: set[asyncio.Task] = set()
        self._stopping = False
        self.uow = UnitOfWork(self.pool, self.publish_events) if self.pool is not None else None

    # -- connection ---------------------------------------------------------------------------
    async def connect(self) -> None:
        self._connection = await aio_pika.connect_robust(
            self.settings.bus_broker, client_properties={"connection_name": self.service})
        self._pub_channel = await self._connection.channel(publisher_confirms=True)
        self._exchange = await self._pub_channel.declare_exchange(
            self.settings.bus_exchange, aio_pika.ExchangeType.TOPIC, durable=True)

    @property
    def connected(self) -> bool:
        return self._connection is not None and not self._connection.is_closed

    def queue_name(self, routing_key: str) -> str:
        return f"{self.settings.bus_queue_prefix}{self.service}.{routing_key}"

    # -- publishing ---------------------------------------------------------------------------
    async def publish(self, routing_key: str, payload: dict[str, Any]) -> str:
        """Validate and publish one event now, waiting for the broker's confirm. Handlers use
        `ctx.transaction().emit(...)` instead, so their events go out only after commit."""
        event = new_event(routing_key, payload)
        await self._publish(event)
        return event.event_id

    async def _publish(self, event: OutgoingEvent) -> None:
        assert self._exchange is not None, "connect() first"
        message = aio_pika.Message(
            json.dumps(event.payload).encode(), content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT, message_id=event.event_id,
            headers={"x-routing-key": event.routing_key, "x-producer": self.service},
            timestamp=datetime.now(timezone.utc))
        await self._exchange.publish(message, routing_key=event.routing_key)
        metrics.EVENTS.labels(event.routing_key, "published").inc()

    async def publish_events(self, events: list[OutgoingEvent]) -> None:
        """After a commit: publish the outbox rows and mark them. A failure leaves them for the
        relay; the handler's work is committed either way."""
        published = []
        for event in events:
            try:
                await self._publish(event)
                published.append(uuid.UUID(event.event_id))
            except Exception as exc:  # noqa: BLE001
                metrics.EVENTS.labels(event.routing_key, "publish_failed").inc()
                log.warning("publish of %s failed, the outbox relay will retry: %s", event.routing_key, exc,
                            extra={"error_code": ErrorCode.DEPENDENCY_UNAVAILABLE})
        if published and self.pool is not None:
            await self.pool.execute(
                "UPDATE outbox SET published_at = now() WHERE event_id = ANY($1::uuid[])", published)

    async def relay_outbox_once(self, older_than_s: float = 2.0, limit: int = 200) -> int:
        """Publish outbox rows a crash (or a broker outage) left unpublished."""
        assert self.pool is not None
        sent = 0
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT event_id, routing_key, payload FROM outbox WHERE published_at IS NULL "
                "AND created_at < now() - make_interval(secs => $1) ORDER BY created_at LIMIT $2 "
                "FOR UPDATE SKIP LOCKED", older_than_s, limit)
            for row in rows:
                event = OutgoingEvent(str(row["event_id"]), row["routing_key"], row["payload"])
                try:
                    await self._publish(event)
                except Exception as exc:  # noqa: BLE001
                    await conn.execute("UPDATE outbox SET attempts = attempts + 1, last_error = $2 "
                                       "WHERE event_id = $1", row["event_id"], str(exc)[:500])
                    break
                await conn.execute("UPDATE outbox SET published_at = now(), attempts = attempts + 1 "
                                   "WHERE event_id = $1", row["event_id"])
                sent += 1
            pending = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        metrics.OUTBOX_PENDING.set(pending)  # counted after this transaction's own updates
        return sent

    # -- consuming ----------------------------------------------------------------------------
    def subscribe(self, routing_key: str, handler: Handler, *, require_job: bool = True,
                  prefetch: int | None = None, critical: bool = False) -> Subscription:
        """Bind `handler` to `routing_key`. `require_job`: an event for a job that does not exist
        is a fatal error (DLQ), since nothing downstream could use its result. `critical`: the job
        cannot go on without this message (a request, a per-job step), so when it is
        dead-lettered the bus also publishes `job.failed` with the reason, instead of leaving the
        job to wait for its phase timeout."""
        if routing_key not in ROUTING_KEYS:  # fail at startup, not on the first message
            raise ValueError(f"no contract for routing key {routing_key!r}")
        sub = Subscription(routing_key, handler, self.queue_name(routing_key), require_job, prefetch, critical)
        self.subscriptions.append(sub)
        return sub

    async def declare(self, sub: Subscription) -> None:
        assert self._connection is not None
        sub.channel = await self._connection.channel()
        await sub.channel.set_qos(prefetch_count=sub.prefetch or self.settings.bus_prefetch)
        exchange = await sub.channel.declare_exchange(
            self.settings.bus_exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        expiry = {"x-expires": self.settings.bus_queue_expires_ms} if self.settings.bus_queue_expires_ms else {}
        await sub.channel.declare_queue(sub.dlq, durable=True, arguments=expiry or None)
        await sub.channel.declare_queue(sub.retry_queue, durable=True, arguments={
            "x-dead-letter-exchange": "", "x-dead-letter-routing-key": sub.queue_name, **expiry})
        sub.queue = await sub.channel.declare_queue(sub.queue_name, durable=True, arguments={
            "x-queue-type": "quorum", "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": "", "x-dead-letter-routing-key": sub.dlq, **expiry})
        await sub.queue.bind(exchange, routing_key=sub.routing_key)

    async def start(self) -> None:
        if self._connection is None:
            await self.connect()
        for sub in self.subscriptions:
            await self.declare(sub)
        for sub in self.subscriptions:
            sub.consumer_tag = await sub.queue.consume(self._callback(sub))

    def _callback(self, sub: Subscription):
        async def on_message(message: AbstractIncomingMessage) -> None:
            task = asyncio.create_task(self._handle(sub, message))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        return on_message

    async def _handle(self, sub: Subscription, message: AbstractIncomingMessage) -> None:
        headers = dict(message.headers or {})
        # the key this queue is bound to, whatever a header claims: a message is validated and
        # handled as what it was delivered as (a retry arrives with the queue's name as its key)
        routing_key = sub.routing_key
        attempt = int(headers.get("x-attempt", 1))
        started = time.perf_counter()
        try:
            payload = json.loads(message.body)
            if not isinstance(payload, dict):
                raise ValueError(f"expected a JSON object, got {type(payload).__name__}")
        except (ValueError, UnicodeDecodeError) as exc:
            await self._dead_letter(sub, message, routing_key, ErrorCode.MALFORMED_MESSAGE,
                                    f"malformed JSON: {exc}", attempt)
            return
        try:
            validate(routing_key, payload)
        except ContractError as exc:
            with log_context(job_id=str(payload.get("job_id")), event_id=str(payload.get("event_id"))):
                await self._dead_letter(sub, message, routing_key, ErrorCode.SCHEMA_INVALID, str(exc), attempt)
            return

        # quorum queues count the deliveries a consumer never settled (it died holding them)
        event = Event(routing_key, payload, attempt, bool(message.redelivered),
                      int(headers.get("x-delivery-count") or 0))
        with log_context(job_id=event.job_id, event_id=event.event_id):
            try:
                await self._run_handler(sub, event)
            except AlreadyHandled:
                metrics.EVENTS.labels(routing_key, "duplicate").inc()
                await message.ack()
            except JobFinished as exc:
                log.info("ignoring %s: %s", routing_key, exc)
                metrics.EVENTS.labels(routing_key, "job_finished").inc()
                await message.ack()
            except FatalError as exc:
                if isinstance(exc, JobFailed) or (sub.critical and exc.code != ErrorCode.UNKNOWN_JOB):
                    await self._report_job_failed(sub, event, exc.code, str(exc))
                await self._dead_letter(sub, message, routing_key, exc.code, str(exc), attempt)
            except Exception as exc:  # noqa: BLE001 - every other failure is worth retrying
                code = exc.code if isinstance(exc, PipelineError) else ErrorCode.INTERNAL
                # epoch milliseconds as an integer: AMQP's float header is 32-bit (minutes off)
                since = int(headers.get("x-outage-since") or time.time() * 1000) / 1000
                if database_unreachable(exc) and time.time() - since < self.settings.bus_outage_retry_s:
                    # Postgres is down or restarting: wait for it without using up an attempt
                    await self._retry(sub, message, routing_key, ErrorCode.DEPENDENCY_UNAVAILABLE, exc, attempt,
                                      outage_since=since)
                elif attempt < self.settings.bus_max_attempts:
                    await self._retry(sub, message, routing_key, code, exc, attempt)
                else:
                    reason = f"{type(exc).__name__}: {exc}"
                    if sub.critical:
                        await self._report_job_failed(
                            sub, event, code, f"{routing_key} failed {attempt} times; last error: {reason}")
                    await self._dead_letter(sub, message, routing_key, code, reason, attempt)
            else:
                metrics.EVENTS.labels(routing_key, "ok").inc()
                await message.ack()
            finally:
                metrics.HANDLER_SECONDS.labels(routing_key).observe(time.perf_counter() - started)

    async def _run_handler(self, sub: Subscription, event: Event) -> None:
        assert self.pool is not None and self.uow is not None, "a consuming bus needs a db pool"
        consumer = sub.queue_name
        if await already_handled(self.pool, consumer, event.event_id):
            raise AlreadyHandled(event.event_id)
        if sub.require_job:
            phase = await self.pool.fetchval("SELECT phase FROM jobs WHERE job_id = $1", event.job_id)
            if phase is None:
                raise FatalError(f"unknown job {event.job_id}", ErrorCode.UNKNOWN_JOB)
            if phase in TERMINAL_PHASES:  # a stray or late event must not change a finished job
                raise JobFinished(f"job {event.job_id} is {phase}")
        if event.deliveries >= DELIVERY_LIMIT:
            # The process died holding this message on each delivery so far, and the broker will
            # dead-letter it silently if it dies once more: stop here, with a reason (a critical
            # one fails its job now instead of leaving it to the phase timeout).
            raise FatalError(f"{event.routing_key} was delivered {event.deliveries + 1} times and its consumer "
                             f"died before finishing it each time (killed, or crashed by this message)",
                             ErrorCode.CONSUMER_CRASHED)
        ctx = HandlerContext(self.uow, consumer, event)
        metrics.HANDLERS_IN_FLIGHT.labels(event.routing_key).inc()
        try:
            await sub.handler(event, ctx)
        except OSError as exc:  # a full or read-only DATA_ROOT fails the job at once, with why
            raise_if_unwritable(exc, f"what {event.routing_key} produces")
            raise
        finally:
            metrics.HANDLERS_IN_FLIGHT.labels(event.routing_key).dec()
        if not ctx.used:  # a handler with no effects still records that it saw the event
            async with ctx.transaction():
                pass

    async def _report_job_failed(self, sub: Subscription, event: Event, code: ErrorCode, reason: str) -> None:
        ctx = HandlerContext(self.uow, sub.queue_name, event)
        try:
            async with ctx.transaction() as tx:
                await tx.emit("job.failed", {"job_id": event.job_id, "service": self.service,
                                             "reason": reason[:2000], "error_code": code.value})
        except AlreadyHandled:
            pass
        except Exception as exc:  # noqa: BLE001 - the dead letter below still records the failure
            log.error("could not publish job.failed: %s", exc, extra={"error_code": ErrorCode.DEPENDENCY_UNAVAILABLE})

    async def _retry(self, sub: Subscription, message: AbstractIncomingMessage, routing_key: str,
                     code: ErrorCode, exc: Exception, attempt: int, outage_since: float | None = None) -> None:
        headers = dict(message.headers or {})
        if outage_since is None:
            delay_ms = self.settings.bus_retry_base_ms * 2 ** (attempt - 1)
            log.warning("attempt %d/%d of %s failed, retrying in %d ms: %s: %s", attempt,
                        self.settings.bus_max_attempts, routing_key, delay_ms, type(exc).__name__, exc,
                        extra={"error_code": code})
            attempt += 1
        else:  # the same attempt again, later: backing off to 30 s while the outage lasts
            waits = int(headers.get("x-outage-retries", 0))
            delay_ms = min(self.settings.bus_retry_base_ms * 2 ** waits, OUTAGE_RETRY_MAX_MS)
            log.warning("%s could not reach the database, retrying in %d ms (down for %.0f s): %s: %s", routing_key,
                        delay_ms, time.time() - outage_since, type(exc).__name__, exc, extra={"error_code": code})
            headers.update({"x-outage-since": int(outage_since * 1000), "x-outage-retries": waits + 1})
        headers.update({"x-attempt": attempt, "x-routing-key": routing_key,
                        "x-last-error": f"{type(exc).__name__}: {exc}"[:1000]})
        await self._pub_channel.default_exchange.publish(
            aio_pika.Message(message.body, headers=headers, content_type=message.content_type,
                             delivery_mode=aio_pika.DeliveryMode.PERSISTENT, message_id=message.message_id,
                             expiration=delay_ms / 1000),
            routing_key=sub.retry_queue)
        metrics.EVENTS.labels(routing_key, "retried").inc()
        await message.ack()

    async def _dead_letter(self, sub: Subscription, message: AbstractIncomingMessage, routing_key: str,
                           code: ErrorCode, reason: str, attempt: int) -> None:
        log.error("dead-lettering %s after %d attempt(s): %s", routing_key, attempt, reason,
                  extra={"error_code": code})
        headers = dict(message.headers or {})
        headers.update({"x-routing-key": routing_key, "x-error-code": code.value, "x-error": reason[:1000],
                        "x-retryable": code.retryable, "x-attempts": attempt, "x-service": self.service,
                        "x-failed-at": datetime.now(timezone.utc).isoformat()})
        await self._pub_channel.default_exchange.publish(
            aio_pika.Message(message.body, headers=headers, content_type=message.content_type,
                             delivery_mode=aio_pika.DeliveryMode.PERSISTENT, message_id=message.message_id),
            routing_key=sub.dlq)
        metrics.EVENTS.labels(routing_key, "dead_lettered").inc()
        await message.ack()

    # -- operations ---------------------------------------------------------------------------
    async def dlq_depths(self) -> dict[str, int]:
        depths = {}
        for sub in self.subscriptions:
            if sub.channel is None:
                continue
            q = await sub.channel.declare_queue(sub.dlq, durable=True, passive=True)
            depths[sub.dlq] = q.declaration_result.message_count
            metrics.DLQ_DEPTH.labels(sub.dlq).set(depths[sub.dlq])
        return depths

    async def stop(self, grace_s: float | None = None) -> None:
        """Stop consuming, let in-flight handlers finish (up to the grace period), then close.
        Anything still unacked is requeued by the broker when the channel closes."""
        self._stopping = True
        for sub in self.subscriptions:
            if sub.queue is not None and sub.consumer_tag is not None:
                try:
                    await sub.queue.cancel(sub.consumer_tag)
                except Exception:  # noqa: BLE001 - the channel may already be gone
                    pass
        grace = self.settings.bus_shutdown_grace_s if grace_s is None else grace_s
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=grace)
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
