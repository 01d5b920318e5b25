"""Bus bindings of matcher."""

import logging

log = logging.getLogger("matcher")


async def log_event(event, ctx):
    log.info("received %s", event.routing_key)


def register(rt) -> None:
    rt.bus.subscribe("match.request", log_event)
