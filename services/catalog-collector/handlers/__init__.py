"""Bus bindings of catalog-collector."""

import logging

log = logging.getLogger("catalog-collector")


async def log_event(event, ctx):
    log.info("received %s", event.routing_key)


def register(rt) -> None:
    rt.bus.subscribe("products.collect.request", log_event)
