"""vision-embedding starts as its own process, connects, declares its queues and serves health."""

from common_py.testing import check_service_boots

BINDINGS = [
    "products.image.masked",
    "products.images.masked.batch",
    "video.keyframes.masked",
    "video.keyframes.masked.batch",
    "products.image.ready",
    "products.images.ready.batch",
    "video.keyframes.ready",
    "video.keyframes.ready.batch"
]


async def test_boots_declares_its_queues_and_stops_cleanly(start_service, bus_settings):
    await check_service_boots(start_service, bus_settings, "vision-embedding", BINDINGS)
