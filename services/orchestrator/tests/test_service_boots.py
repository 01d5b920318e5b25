"""orchestrator starts as its own process, connects, declares its queues and serves health."""

from common_py.testing import check_service_boots

BINDINGS = [
    "products.collections.completed",
    "videos.collections.completed",
    "image.embeddings.completed",
    "video.embeddings.completed",
    "image.keypoints.completed",
    "video.keypoints.completed",
    "matchings.process.completed",
    "evidences.generation.completed",
    "job.failed"
]


async def test_boots_declares_its_queues_and_stops_cleanly(start_service, bus_settings):
    await check_service_boots(start_service, bus_settings, "orchestrator", BINDINGS)
