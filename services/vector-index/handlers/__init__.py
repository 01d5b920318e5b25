"""Bus bindings of vector-index."""

import logging

log = logging.getLogger("vector-index")


async def log_event(event, ctx):
    log.info("received %s", event.routing_key)


def register(rt) -> None:
    pass  # HTTP only
