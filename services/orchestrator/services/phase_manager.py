"""Moves jobs through their phases on `.completed` events; fails them on `job.failed` or timeout."""

from __future__ import annotations

import logging
import uuid

import asyncpg

from common_py import metrics
from common_py.uow import Transaction
from services.phases import PHASES, TERMINAL, advance

log = logging.getLogger("orchestrator.phases")


class PhaseManager:
    def __init__(self, pool: asyncpg.Pool, top_k: int, timeouts: dict[str, float]):
        self.pool = pool
        self.top_k = top_k
        self.timeouts = timeouts
        for phase, seconds in timeouts.items():
            metrics.PHASE_TIMEOUT.labels(phase).set(seconds)

    async def on_completed(self, tx: Transaction, job_id: str, event_id: str, name: str) -> list[str]:
        """Record a completion (dedup by event_id) and advance the job as far as it can go.
        Returns the phases entered."""
        conn = tx.conn
        job = await conn.fetchrow("SELECT phase, industry FROM jobs WHERE job_id = $1 FOR UPDATE", job_id)
        # one row per completion name: a second `.completed` of a stage (another event_id) is
        # a duplicate too, and must not show up in the job's events (the job row lock above
        # serialises this check)
        fresh = await conn.fetchval(
            "INSERT INTO phase_events (event_id, job_id, name) SELECT $1, $2, $3 "
            "WHERE NOT EXISTS (SELECT 1 FROM phase_events WHERE job_id = $2 AND name = $3) "
            "ON CONFLICT (event_id) DO NOTHING RETURNING true", uuid.UUID(event_id), job_id, name)
        if not fresh or job["phase"] in TERMINAL:
            return []
        received = {r["name"] for r in await conn.fetch(
            "SELECT DISTINCT name FROM phase_events WHERE job_id = $1", job_id)}
        entered = advance(job["phase"], received)
        for phase in entered:
            await conn.execute(
                "UPDATE jobs SET phase = $2, phase_started_at = now(), updated_at = now(), "
                "completed_at = CASE WHEN $2 = 'completed' THEN now() END WHERE job_id = $1", job_id, phase)
            log.info("job %s entered phase %s", job_id, phase)
            if phase == "matching":
                await tx.emit("match.request", {"job_id": job_id, "industry": job["industry"], "top_k": self.top_k})
        return entered

    async def fail(self, tx: Transaction, job_id: str, reason: str) -> bool:
        updated = await tx.conn.fetchval(
            "UPDATE jobs SET phase = 'failed', failed_reason = $2, updated_at = now() "
            "WHERE job_id = $1 AND phase NOT IN ('completed', 'failed') RETURNING true", job_id, reason[:2000])
        if updated:
            log.error("job %s failed: %s", job_id, reason, extra={"job_id": job_id})
        return bool(updated)

    async def fail_timed_out(self) -> list[str]:
        """Fail every job that has spent longer than its phase's timeout in that phase, then
        refresh the phase gauges (this periodic check is their only refresh)."""
        failed = []
        for phase, seconds in self.timeouts.items():
            rows = await self.pool.fetch(
                "UPDATE jobs SET phase = 'failed', updated_at = now(), "
                "failed_reason = format('phase %s exceeded its timeout of %s s', phase, $2::float8) "
                "WHERE phase = $1 AND phase_started_at < now() - make_interval(secs => $2::float8) "
                "RETURNING job_id", phase, seconds)
            for row in rows:
                log.error("job %s failed: phase %s timed out after %s s", row["job_id"], phase, seconds,
                          extra={"job_id": row["job_id"]})
                failed.append(row["job_id"])
        await self.update_phase_gauge()
        return failed

    async def update_phase_gauge(self) -> None:
        rows = {r["phase"]: r for r in await self.pool.fetch(
            "SELECT phase, count(*) AS jobs, extract(epoch FROM now() - min(phase_started_at))::float8 AS oldest "
            "FROM jobs GROUP BY phase")}
        for phase in PHASES + ["failed"]:
            row = rows.get(phase)
            metrics.PHASE_STATE.labels(phase).set(row["jobs"] if row else 0)
            if phase not in TERMINAL:  # time in a finished state is not "stuck"
                metrics.PHASE_OLDEST.labels(phase).set(row["oldest"] if row else 0)
