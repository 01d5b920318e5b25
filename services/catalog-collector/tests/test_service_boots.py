"""catalog-collector starts as its own process, connects, declares its queues and serves health."""

from common_py.testing import check_service_boots

BINDINGS = [
    "products.collect.request"
]


async def test_boots_declares_its_queues_and_stops_cleanly(start_service, bus_settings):
    await check_service_boots(start_service, bus_settings, "catalog-collector", BINDINGS)
