"""The bus against the real RabbitMQ and the real Postgres: no mocks."""

import asyncio
import json
import uuid

import pytest

from contracts import ContractError

from common_py.bus import EventBus
from common_py.errors import ErrorCode, FatalError, JobFailed
from common_py.testing import create_job, existing_queues
from cp_helpers import drain_queue, publish_raw, wait_for


def ready_payload(job_id, image_id="img1"):
    return {"job_id": job_id, "product_id": "p1", "image_id": image_id, "local_path": f"products/p1/{image_id}.jpg"}


@pytest.fixture
async def bus_pair(bus_settings, db_pool):
    """A consuming bus (service 'svc') and a producing bus ('producer')."""
    consumer = EventBus(bus_settings, "svc", db_pool)
    producer = EventBus(bus_settings, "producer", db_pool)
    await producer.connect()
    yield consumer, producer
    await consumer.stop(grace_s=2)
    await producer.stop(grace_s=0)


async def test_round_trip_validates_and_delivers(bus_pair, db_pool):
    consumer, producer = bus_pair
    job_id = await create_job(db_pool)
    seen = []

    async def handler(event, ctx):
        seen.append(event)

    consumer.subscribe("products.image.ready", handler)
    await consumer.start()
    event_id = await producer.publish("products.image.ready", ready_payload(job_id))
    await wait_for(lambda: seen)
    assert seen[0].routing_key == "products.image.ready"
    assert seen[0].event_id == event_id and seen[0].job_id == job_id
    assert seen[0].payload["local_path"] == "products/p1/img1.jpg"
    assert seen[0].attempt == 1
    # the inbox recorded it even though the handler opened no transaction itself
    assert await db_pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", uuid.UUID(event_id)) == 1


async def test_producer_refuses_an_invalid_payload(bus_pair, db_pool):
    _, producer = bus_pair
    with pytest.raises(ContractError) as err:
        await producer.publish("products.image.ready", {"job_id": "j", "product_id": "p1"})
    assert err.value.field == "image_id"


async def test_schema_invalid_and_malformed_go_straight_to_dlq_while_good_ones_flow(bus_pair, bus_settings, db_pool):
    consumer, producer = bus_pair
    job_id = await create_job(db_pool)
    handled = []

    async def handler(event, ctx):
        handled.append(event.payload["image_id"])

    sub = consumer.subscribe("products.image.ready", handler)
    await consumer.start()
    bad = dict(ready_payload(job_id), event_id=str(uuid.uuid4()))
    del bad["local_path"]
    await publish_raw(bus_settings.bus_broker, bus_settings.bus_exchange, "products.image.ready", bad)
    await publish_raw(bus_settings.bus_broker, bus_settings.bus_exchange, "products.image.ready", b"{not json")
    await producer.publish("products.image.ready", ready_payload(job_id, "good1"))
    await producer.publish("products.image.ready", ready_payload(job_id, "good2"))
    await wait_for(lambda: len(handled) == 2)
    dead = await drain_queue(bus_settings.bus_broker, sub.dlq)
    codes = sorted(m.headers["x-error-code"] for m in dead)
    assert codes == ["MALFORMED_MESSAGE", "SCHEMA_INVALID"]
    schema_msg = next(m for m in dead if m.headers["x-error-code"] == "SCHEMA_INVALID")
    assert "local_path" in schema_msg.headers["x-error"] and schema_msg.headers["x-attempts"] == 1
    assert json.loads(schema_msg.body)["image_id"] == "img1"  # the original body is kept
    assert sorted(handled) == ["good1", "good2"]


async def test_failing_handler_is_retried_then_dead_lettered_and_others_keep_flowing(bus_pair, bus_settings, db_pool):
    consumer, producer = bus_pair
    job_id = await create_job(db_pool)
    attempts: dict[str, list[int]] = {}

    async def handler(event, ctx):
        image_id = event.payload["image_id"]
        attempts.setdefault(image_id, []).append(event.attempt)
        if image_id == "poison":
            raise RuntimeError("model exploded")

    sub = consumer.subscribe("products.image.ready", handler)
    await consumer.start()
    await producer.publish("products.image.ready", ready_payload(job_id, "poison"))
    for i in range(5):
        await producer.publish("products.image.ready", ready_payload(job_id, f"ok{i}"))
    dead = await wait_for(lambda: drain_queue(bus_settings.bus_broker, sub.dlq, timeout=0.2), timeout=20)
    assert attempts["poison"] == [1, 2, 3]  # BUS_MAX_ATTEMPTS attempts, no more
    assert dead[0].headers["x-attempts"] == 3
    assert dead[0].headers["x-error-code"] == "INTERNAL" and dead[0].headers["x-retryable"] is True
    assert "model exploded" in dead[0].headers["x-error"]
    assert all(attempts[f"ok{i}"] == [1] for i in range(5))


async def test_fatal_error_skips_retries(bus_pair, bus_settings, db_pool):
    consumer, producer = bus_pair
    job_id = await create_job(db_pool)
    calls = []

    async def handler(event, ctx):
        calls.append(event.attempt)
        raise FatalError("image is corrupt", ErrorCode.ASSET_CORRUPT)

    sub = consumer.subscribe("products.image.ready", handler)
    await consumer.start()
    await producer.publish("products.image.ready", ready_payload(job_id))
    dead = await wait_for(lambda: drain_queue(bus_settings.bus_broker, sub.dlq, timeout=0.2))
    assert calls == [1]
    assert dead[0].headers["x-error-code"] == "ASSET_CORRUPT" and dead[0].headers["x-retryable"] is False


async def test_unknown_job_is_dead_lettered(bus_pair, bus_settings):
    consumer, producer = bus_pair
    calls = []

    async def handler(event, ctx):
        calls.append(event)

    sub = consumer.subscribe("products.image.ready", handler)
    await consumer.start()
    await producer.publish("products.image.ready", ready_payload("no-such-job"))
    dead = await wait_for(lambda: drain_queue(bus_settings.bus_broker, sub.dlq, timeout=0.2))
    assert dead[0].headers["x-error-code"] == "UNKNOWN_JOB" and not calls


async def test_job_failed_error_emits_job_failed(bus_pair, bus_settings, db_pool):
    consumer, producer = bus_pair
    job_id = await create_job(db_pool)
    failures = []

    async def on_request(event, ctx):
        raise JobFailed("no source is configured for platform 'youtube'")

    async def on_failed(event, ctx):
        failures.append(event.payload)

    consumer.subscribe("videos.search.request", on_request)
    watcher = EventBus(bus_settings, "watcher", db_pool)
    watcher.subscribe("job.failed", on_failed)
    await consumer.start()
    await watcher.start()
    try:
        await producer.publish("videos.search.request", {"job_id": job_id, "industry": "x", "queries": ["x"],
                                                         "platforms": ["youtube"], "recency_days": 30})
        await wait_for(lambda: failures)
    finally:
        await watcher.stop(grace_s=1)
    assert failures[0]["job_id"] == job_id and failures[0]["service"] == "svc"
    assert failures[0]["error_code"] == "JOB_FAILED" and "youtube" in failures[0]["reason"]


async def test_duplicate_event_has_one_effect(bus_pair, bus_settings, db_pool):
    consumer, producer = bus_pair
    job_id = await create_job(db_pool)
    await db_pool.execute("CREATE TABLE IF NOT EXISTS t_effects (job_id text, image_id text)")
    calls = []

    async def handler(event, ctx):
        calls.append(1)
        async with ctx.transaction() as tx:
            await tx.conn.execute("INSERT INTO t_effects VALUES ($1, $2)", event.job_id, event.payload["image_id"])

    consumer.subscribe("products.image.ready", handler)
    await consumer.start()
    payload = dict(ready_payload(job_id, "dup"), event_id=str(uuid.uuid4()))
    for _ in range(3):  # the same event three times, concurrently in flight
        await publish_raw(bus_settings.bus_broker, bus_settings.bus_exchange, "products.image.ready", payload)
    await wait_for(lambda: db_pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1",
                                            uuid.UUID(payload["event_id"])))
    await asyncio.sleep(0.5)
    assert await db_pool.fetchval("SELECT count(*) FROM t_effects WHERE job_id = $1", job_id) == 1


async def test_events_emitted_in_a_handler_are_published_after_commit_only(bus_pair, bus_settings, db_pool):
    consumer, producer = bus_pair
    job_id = await create_job(db_pool)
    got = []

    async def handler(event, ctx):
        async with ctx.transaction() as tx:
            await tx.emit("products.image.masked", {"job_id": event.job_id, "image_id": event.payload["image_id"],
                                                    "mask_path": "masks/products/x.png"})
            if event.payload["image_id"] == "rollback":
                raise FatalError("fails after emitting: the event must not go out")

    async def downstream(event, ctx):
        got.append(event.payload["image_id"])

    consumer.subscribe("products.image.ready", handler)
    sink = EventBus(bus_settings, "sink", db_pool)
    sink.subscribe("products.image.masked", downstream)
    await sink.start()
    await consumer.start()
    try:
        await producer.publish("products.image.ready", ready_payload(job_id, "rollback"))
        await producer.publish("products.image.ready", ready_payload(job_id, "keep"))
        await wait_for(lambda: got)
        await asyncio.sleep(0.5)
    finally:
        await sink.stop(grace_s=1)
    assert got == ["keep"]
    assert await db_pool.fetchval("SELECT count(*) FROM outbox WHERE job_id = $1 AND published_at IS NULL", job_id) == 0


async def test_outbox_relay_publishes_what_a_crash_left_behind(bus_settings, db_pool):
    from common_py.uow import UnitOfWork

    job_id = await create_job(db_pool)
    # A unit of work whose after-commit publish never happens (the process "died" right after commit).
    uow = UnitOfWork(db_pool, publish_after_commit=None)
    async with uow.begin() as tx:
        event_id = await tx.emit("products.collections.completed", {"job_id": job_id})
    got = []

    async def downstream(event, ctx):
        got.append(event.event_id)

    sink = EventBus(bus_settings, "sink", db_pool)
    sink.subscribe("products.collections.completed", downstream)
    await sink.start()
    try:
        assert await sink.relay_outbox_once(older_than_s=0) >= 1
        await wait_for(lambda: got)
    finally:
        await sink.stop(grace_s=1)
    assert got == [event_id]
    assert await db_pool.fetchval("SELECT published_at IS NOT NULL FROM outbox WHERE event_id = $1",
                                  uuid.UUID(event_id))


async def test_emit_many_writes_one_outbox_row_per_new_event(db_pool):
    from common_py.uow import UnitOfWork, stable_event_id

    job_id = await create_job(db_pool)
    uow = UnitOfWork(db_pool)
    payloads = [dict(ready_payload(job_id, f"img{i}"), event_id=stable_event_id(job_id, "ready", str(i)))
                for i in range(3)]
    async with uow.begin() as tx:
        ids = await tx.emit_many("products.image.ready", payloads)
        assert await tx.emit_many("products.image.ready", []) == []
    assert ids == [p["event_id"] for p in payloads] == [e.event_id for e in tx.emitted]
    async with uow.begin() as tx:  # a redelivered request emits the same ids again: no new rows
        await tx.emit_many("products.image.ready", payloads[:2])
    rows = await db_pool.fetch("SELECT event_id, routing_key, payload FROM outbox WHERE job_id = $1", job_id)
    assert sorted(str(r["event_id"]) for r in rows) == sorted(ids)
    assert {r["routing_key"] for r in rows} == {"products.image.ready"}
    with pytest.raises(ContractError):  # validated before anything is written, as emit is
        async with uow.begin() as tx:
            await tx.emit_many("products.image.ready", [ready_payload(job_id), {"job_id": job_id}])
    assert await db_pool.fetchval("SELECT count(*) FROM outbox WHERE job_id = $1", job_id) == 3


async def test_exhausting_retries_of_a_critical_message_fails_the_job(bus_pair, bus_settings, db_pool):
    consumer, producer = bus_pair
    job_id = await create_job(db_pool)
    failures = []

    async def on_request(event, ctx):
        raise ConnectionError("vector-index unreachable")

    async def on_failed(event, ctx):
        failures.append(event.payload)

    consumer.subscribe("match.request", on_request, critical=True)
    watcher = EventBus(bus_settings, "watcher", db_pool)
    watcher.subscribe("job.failed", on_failed)
    await consumer.start()
    await watcher.start()
    try:
        await producer.publish("match.request", {"job_id": job_id, "industry": "x", "top_k": 5})
        await wait_for(lambda: failures, timeout=20)
    finally:
        await watcher.stop(grace_s=1)
    assert failures[0]["error_code"] == "INTERNAL"
    assert "failed 3 times" in failures[0]["reason"] and "vector-index unreachable" in failures[0]["reason"]
    dead = await drain_queue(bus_settings.bus_broker, f"{bus_settings.bus_queue_prefix}svc.match.request.dlq")
    assert len(dead) == 1


async def test_queues_of_a_dead_process_expire_when_asked_to(bus_settings, db_pool):
    """A test run that is killed never deletes its queues; with BUS_QUEUE_EXPIRES_MS the broker
    does, once they have had no consumer that long (quorum, retry and DLQ queues alike)."""
    settings = bus_settings.model_copy(update={"bus_queue_expires_ms": 1000})
    bus = EventBus(settings, "svc", db_pool)
    sub = bus.subscribe("products.image.ready", lambda event, ctx: None)
    await bus.start()
    names = [sub.queue_name, sub.retry_queue, sub.dlq]
    assert await existing_queues(settings.bus_broker, names) == set(names)
    await bus.stop(grace_s=0)  # what is left behind is what a killed process leaves: the queues
    await asyncio.sleep(5)
    assert await existing_queues(settings.bus_broker, names) == set()


def test_production_queues_do_not_expire_by_default():
    from common_py.settings import CommonSettings

    assert CommonSettings().bus_queue_expires_ms is None


async def test_a_message_whose_consumer_keeps_dying_fails_its_job_with_a_reason(bus_pair, bus_settings, db_pool):
    """Issue 16: a consumer killed on every delivery of match.request let the quorum queue's
    delivery limit dead-letter it with no error code and no job.failed, and the job waited for
    its phase timeout (an hour). Now the last delivery the broker allows is not handled: it goes
    to the DLQ as CONSUMER_CRASHED and the job fails with that reason."""
    import aio_pika

    from common_py.bus import DELIVERY_LIMIT

    consumer, producer = bus_pair
    job_id = await create_job(db_pool)
    calls, failures = [], []

    async def on_request(event, ctx):
        calls.append(event)

    async def on_failed(event, ctx):
        failures.append(event.payload)

    sub = consumer.subscribe("match.request", on_request, critical=True)
    await consumer.connect()
    await consumer.declare(sub)
    await producer.publish("match.request", {"job_id": job_id, "industry": "x", "top_k": 5})
    # a consumer that dies holding the message: its channel closes with the message unacked
    for _ in range(DELIVERY_LIMIT):
        conn = await aio_pika.connect(bus_settings.bus_broker)
        channel = await conn.channel()
        queue = await channel.declare_queue(sub.queue_name, passive=True)
        message = await wait_for(lambda: queue.get(fail=False), timeout=10)
        assert json.loads(message.body)["job_id"] == job_id
        await conn.close()
    watcher = EventBus(bus_settings, "watcher", db_pool)
    watcher.subscribe("job.failed", on_failed)
    await watcher.start()
    try:
        await consumer.start()
        await wait_for(lambda: failures, timeout=20)
    finally:
        await watcher.stop(grace_s=1)
    assert not calls  # not handed to the handler a sixth time
    assert failures[0]["error_code"] == "CONSUMER_CRASHED"
    assert f"delivered {DELIVERY_LIMIT + 1} times" in failures[0]["reason"]
    [dead] = await wait_for(lambda: drain_queue(bus_settings.bus_broker, sub.dlq, timeout=0.2), timeout=10)
    assert dead.headers["x-error-code"] == "CONSUMER_CRASHED" and dead.headers["x-retryable"] is False


async def test_a_message_is_handled_as_the_key_it_was_delivered_on_not_a_header(bus_pair, bus_settings, db_pool):
    """Issue 16: the schema (and the handler's idea of the event) came from the x-routing-key
    header, so a spoofed header made a valid event fail three times as INTERNAL, and let an event
    of another kind past validation."""
    consumer, producer = bus_pair
    job_id = await create_job(db_pool)
    seen = []

    async def handler(event, ctx):
        seen.append((event.routing_key, event.payload["image_id"]))

    sub = consumer.subscribe("products.image.ready", handler)
    await consumer.start()
    spoof = {"x-routing-key": "match.request"}
    good = dict(ready_payload(job_id, "real"), event_id=str(uuid.uuid4()))
    await publish_raw(bus_settings.bus_broker, bus_settings.bus_exchange, "products.image.ready", good, spoof)
    await wait_for(lambda: seen)
    assert seen == [("products.image.ready", "real")]
    # a match.request body delivered as products.image.ready is refused as what it was delivered as
    alien = {"event_id": str(uuid.uuid4()), "job_id": job_id, "industry": "x", "top_k": 5}
    await publish_raw(bus_settings.bus_broker, bus_settings.bus_exchange, "products.image.ready", alien, spoof)
    [dead] = await wait_for(lambda: drain_queue(bus_settings.bus_broker, sub.dlq, timeout=0.2), timeout=10)
    assert dead.headers["x-error-code"] == "SCHEMA_INVALID" and dead.headers["x-attempts"] == 1
    assert dead.headers["x-routing-key"] == "products.image.ready"


@pytest.mark.parametrize("phase", ["completed", "failed"])
async def test_events_for_a_finished_job_change_nothing(phase, bus_pair, bus_settings, db_pool):
    """Issue 16: stray events for a finished job still changed its stage counts."""
    consumer, producer = bus_pair
    job_id = await create_job(db_pool)
    await db_pool.execute("UPDATE jobs SET phase = $2 WHERE job_id = $1", job_id, phase)
    calls = []

    async def handler(event, ctx):
        calls.append(event)

    sub = consumer.subscribe("products.image.ready", handler)
    await consumer.start()
    event_id = await producer.publish("products.image.ready", ready_payload(job_id, "stray"))
    other = await create_job(db_pool)
    await producer.publish("products.image.ready", ready_payload(other, "live"))
    await wait_for(lambda: calls)
    await asyncio.sleep(0.3)
    assert [e.job_id for e in calls] == [other]
    assert await db_pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", uuid.UUID(event_id)) == 0
    assert not await drain_queue(bus_settings.bus_broker, sub.dlq, timeout=0.2)


async def test_a_database_outage_delays_a_message_without_using_up_its_attempts(bus_pair, bus_settings, db_pool):
    """Found by `make chaos` (issue 16): with Postgres down for 20 s, every message in flight
    used up its 3 attempts within 3 s and went to the DLQ as INTERNAL, and the job was lost. A
    handler that cannot reach the database is retried, backing off, for BUS_OUTAGE_RETRY_S."""
    import asyncpg

    consumer, producer = bus_pair
    job_id = await create_job(db_pool)
    calls = []

    async def handler(event, ctx):
        calls.append(event.attempt)
        if len(calls) <= 5:  # more failures than BUS_MAX_ATTEMPTS allows
            raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation")

    sub = consumer.subscribe("products.image.ready", handler)
    await consumer.start()
    await producer.publish("products.image.ready", ready_payload(job_id))
    await wait_for(lambda: len(calls) == 6, timeout=30)
    assert calls == [1] * 6  # still the first attempt: the outage was not the message's fault
    assert not await drain_queue(bus_settings.bus_broker, sub.dlq, timeout=0.5)


async def test_an_outage_longer_than_the_limit_falls_back_to_the_attempts(bus_settings, db_pool):
    settings = bus_settings.model_copy(update={"bus_outage_retry_s": 0.3})
    consumer, producer = EventBus(settings, "svc", db_pool), EventBus(settings, "producer", db_pool)
    job_id = await create_job(db_pool)

    async def handler(event, ctx):
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")

    sub = consumer.subscribe("products.image.ready", handler)
    await consumer.start()
    await producer.connect()
    try:
        await producer.publish("products.image.ready", ready_payload(job_id))
        [dead] = await wait_for(lambda: drain_queue(settings.bus_broker, sub.dlq, timeout=0.2), timeout=30)
        assert dead.headers["x-attempts"] == 3 and "Connect call failed" in dead.headers["x-error"]
    finally:
        await consumer.stop(grace_s=1)
        await producer.stop(grace_s=0)


def test_only_the_database_being_unreachable_counts_as_an_outage():
    import asyncpg
    import httpx

    from common_py.db import database_unreachable
    from common_py.errors import RetryableError

    assert database_unreachable(ConnectionRefusedError(111, "Connect call failed"))  # the pool connecting
    assert database_unreachable(asyncpg.exceptions.ConnectionDoesNotExistError("closed in the middle"))
    try:  # asyncpg's error wrapped by a handler still counts
        try:
            raise asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command")
        except asyncpg.PostgresError as inner:
            raise RuntimeError("stage failed") from inner
    except RuntimeError as outer:
        assert database_unreachable(outer)
    try:  # another service refusing: the message's own failure (the matcher's vector-index)
        try:
            raise httpx.ConnectError("All connection attempts failed") from ConnectionRefusedError(111, "refused")
        except httpx.ConnectError as inner:
            raise RetryableError(f"vector-index unreachable: {inner}") from inner
    except RetryableError as outer:
        assert not database_unreachable(outer)
    assert not database_unreachable(asyncpg.exceptions.DataError("invalid input")) and not database_unreachable(None)
