"""Bus bindings of media-ingestion."""

import logging

log = logging.getLogger("media-ingestion")


async def log_event(event, ctx):
    log.info("received %s", event.routing_key)


def register(rt) -> None:
    rt.bus.subscribe("videos.search.request", log_event)
