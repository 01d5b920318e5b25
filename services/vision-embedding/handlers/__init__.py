"""Bus bindings of vision-embedding."""

import logging

log = logging.getLogger("vision-embedding")


async def log_event(event, ctx):
    log.info("received %s", event.routing_key)


def register(rt) -> None:
    rt.bus.subscribe("products.image.masked", log_event)
    rt.bus.subscribe("products.images.masked.batch", log_event)
    rt.bus.subscribe("video.keyframes.masked", log_event)
    rt.bus.subscribe("video.keyframes.masked.batch", log_event)
    rt.bus.subscribe("products.image.ready", log_event)
    rt.bus.subscribe("products.images.ready.batch", log_event)
    rt.bus.subscribe("video.keyframes.ready", log_event)
    rt.bus.subscribe("video.keyframes.ready.batch", log_event)
