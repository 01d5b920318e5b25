"""Bus bindings of evidence-builder."""

import logging

log = logging.getLogger("evidence-builder")


async def log_event(event, ctx):
    log.info("received %s", event.routing_key)


def register(rt) -> None:
    rt.bus.subscribe("match.result", log_event)
    rt.bus.subscribe("matchings.process.completed", log_event)
