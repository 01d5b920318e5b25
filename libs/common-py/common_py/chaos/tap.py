"""Two consumers on the events exchange of a chaos run.

`Tap` records every event (routing key, event_id, job, body): the check that each stage
completed exactly once counts the distinct `.completed` event ids it saw, and the "redelivered
after commit" experiment sends what it recorded back. `Duplicator` is a second publisher: while
it runs, it publishes a copy of every event of the jobs it is given (marked, so that the copies
are not copied again)."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass

import aio_pika

COPY_HEADER = "x-chaos-copy"


@dataclass(frozen=True)
class Seen:
    routing_key: str
    event_id: str
    job_id: str | None
    body: bytes
    headers: dict
    copy: bool


class _Consumer:
    def __init__(self, broker: str, exchange: str, queue: str):
        self.broker, self.exchange_name, self.queue_name = broker, exchange, queue
        self.connection = None
        self.channel = None
        self.exchange = None

    async def start(self) -> None:
        self.connection = await aio_pika.connect_robust(self.broker, client_properties={"connection_name": "chaos"})
        self.channel = await self.connection.channel()
        self.exchange = await self.channel.declare_exchange(self.exchange_name, aio_pika.ExchangeType.TOPIC,
                                                            durable=True)
        # durable: it survives a broker restart, so nothing published around one is missed
        self.queue = await self.channel.declare_queue(self.queue_name, durable=True)
        await self.queue.bind(self.exchange, routing_key="#")
        self.consumer_tag = await self.queue.consume(self._on_message)

    async def _on_message(self, message) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        if self.connection is not None:
            await self.connection.close()


def _parse(message) -> Seen:
    try:
        payload = json.loads(message.body)
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    headers = dict(message.headers or {})
    return Seen(message.routing_key, str(payload.get("event_id")), payload.get("job_id"), message.body, headers,
                bool(headers.get(COPY_HEADER)))


class Tap(_Consumer):
    def __init__(self, broker: str, exchange: str = "events"):
        super().__init__(broker, exchange, "chaos.tap")
        self.by_job: dict[str, list[Seen]] = defaultdict(list)

    async def _on_message(self, message) -> None:
        seen = _parse(message)
        if seen.job_id:
            self.by_job[seen.job_id].append(seen)
        await message.ack()

    def completions(self, job_id: str) -> dict[str, set[str]]:
        """`.completed` routing key -> the distinct event ids seen for the job."""
        out: dict[str, set[str]] = defaultdict(set)
        for seen in self.by_job.get(job_id, []):
            if seen.routing_key.endswith(".completed"):
                out[seen.routing_key].add(seen.event_id)
        return out

    async def republish(self, events: list[Seen]) -> None:
        """Send recorded events again, as they were (same event_id): what a consumer sees when a
        message it handled comes back (its process died after the commit, before the ack)."""
        for seen in events:
            await self.exchange.publish(aio_pika.Message(seen.body, headers=seen.headers, message_id=seen.event_id,
                                                         content_type="application/json",
                                                         delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                                        routing_key=seen.routing_key)


class Duplicator(_Consumer):
    def __init__(self, broker: str, jobs: set[str] | None = None, exchange: str = "events"):
        """`jobs`: copy only the events of these jobs (None: of every job)."""
        super().__init__(broker, exchange, "chaos.duplicator")
        self.jobs = jobs
        self.copied = 0

    async def _on_message(self, message) -> None:
        seen = _parse(message)
        if not seen.copy and seen.job_id and (self.jobs is None or seen.job_id in self.jobs):
            headers = {**seen.headers, COPY_HEADER: 1}
            await self.exchange.publish(aio_pika.Message(message.body, headers=headers, message_id=message.message_id,
                                                         content_type=message.content_type,
                                                         delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                                        routing_key=message.routing_key)
            self.copied += 1
        await message.ack()

    async def stop(self) -> None:
        if self.channel is not None and not self.channel.is_closed:
            await self.queue.cancel(self.consumer_tag)
            await self.channel.queue_delete(self.queue_name)
        await super().stop()
