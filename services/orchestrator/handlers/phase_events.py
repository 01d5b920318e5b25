"""Bus handlers of the phase manager: every `.completed`, and `job.failed`.

They leave the phase gauges to the periodic timeout check: a GROUP BY over every job on each
event costs more than a gauge that is at most TIMEOUT_CHECK_INTERVAL_S old is worth."""

from __future__ import annotations

from common_py.bus import Event, HandlerContext
from services.phase_manager import PhaseManager


def on_completed(manager: PhaseManager):
    async def handle(event: Event, ctx: HandlerContext) -> None:
        async with ctx.transaction() as tx:
            await manager.on_completed(tx, event.job_id, event.event_id, event.routing_key)
    return handle


def on_job_failed(manager: PhaseManager):
    async def handle(event: Event, ctx: HandlerContext) -> None:
        p = event.payload
        async with ctx.transaction() as tx:
            await manager.fail(tx, event.job_id, f"{p['service']}: {p['reason']} [{p['error_code']}]")
    return handle
