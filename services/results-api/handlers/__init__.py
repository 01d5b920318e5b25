"""Bus bindings of results-api."""

import logging

log = logging.getLogger("results-api")


async def log_event(event, ctx):
    log.info("received %s", event.routing_key)


def register(rt) -> None:
    pass  # HTTP only
