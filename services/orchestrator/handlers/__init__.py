"""Bus bindings of orchestrator."""

import logging

log = logging.getLogger("orchestrator")


async def log_event(event, ctx):
    log.info("received %s", event.routing_key)


def register(rt) -> None:
    rt.bus.subscribe("products.collections.completed", log_event)
    rt.bus.subscribe("videos.collections.completed", log_event)
    rt.bus.subscribe("image.embeddings.completed", log_event)
    rt.bus.subscribe("video.embeddings.completed", log_event)
    rt.bus.subscribe("image.keypoints.completed", log_event)
    rt.bus.subscribe("video.keypoints.completed", log_event)
    rt.bus.subscribe("matchings.process.completed", log_event)
    rt.bus.subscribe("evidences.generation.completed", log_event)
    rt.bus.subscribe("job.failed", log_event)
