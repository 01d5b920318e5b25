"""Bindings of the orchestrator: HTTP routes and the phase manager's bus handlers."""

from __future__ import annotations

import asyncio
import logging

from common_py.api_access import install_api_access
from contracts import COMPLETION_KEYS

from handlers.phase_events import on_completed, on_job_failed
from services.kickoff import build_kickoff, warm_up
from services.phase_manager import PhaseManager

log = logging.getLogger("orchestrator")


def register(rt) -> None:
    config = rt.settings
    install_api_access(rt.app, config, rt.name)  # API_KEYS, CORS_ORIGINS
    manager = PhaseManager(rt.pool, config.retrieval_topk, config.phase_timeouts())
    for key in sorted(COMPLETION_KEYS):
        rt.bus.subscribe(key, on_completed(manager))
    rt.bus.subscribe("job.failed", on_job_failed(manager))
    rt.every(config.timeout_check_interval_s, "phase-timeouts", manager.fail_timed_out)

    rt.app.state.pool = rt.pool
    rt.app.state.kickoff = None
    prefect_ready = asyncio.Event()

    async def prepare_prefect() -> None:
        try:
            await warm_up()
        except Exception as exc:  # noqa: BLE001 - readiness reports it
            log.error("Prefect could not start: %s", exc)
            rt.app.state.prefect_error = str(exc)
            return
        rt.app.state.kickoff = build_kickoff(rt.bus.uow, config.kickoff_retries)
        prefect_ready.set()

    rt.app.state.prefect_task = asyncio.create_task(prepare_prefect())
    rt.add_ready_check("prefect", lambda: True if prefect_ready.is_set()
                       else getattr(rt.app.state, "prefect_error", "starting"))
