"""Exactly one `.completed` per (job, stage), with any number of replicas (SPEC §3).

A stage records each asset it finished (done or failed) and the expected total from the `.batch`
count events. Whoever finishes last, inside its own transaction, locks the job_stages row, sees
`finished >= expected` and no completion yet, and writes the `.completed` event to the outbox.
The row lock serialises the check, so two replicas can never both emit it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from common_py.uow import Transaction


@dataclass(frozen=True)
class StageProgress:
    expected: int | None
    done: int
    failed: int
    completed: bool

    @property
    def finished(self) -> int:
        return self.done + self.failed


async def _lock_stage(tx: Transaction, job_id: str, stage: str, expected: int | None):
    """Lock the stage's row, creating it and recording `expected` when given, and read it: one
    statement per event. An upsert rather than SELECT ... FOR UPDATE because it also waits for a
    concurrent transaction that is still creating the row, which a SELECT would not see."""
    return await tx.conn.fetchrow(
        """INSERT INTO job_stages (job_id, stage, expected) VALUES ($1, $2, $3)
           ON CONFLICT (job_id, stage) DO UPDATE SET
               expected = COALESCE(EXCLUDED.expected, job_stages.expected), updated_at = now()
           RETURNING expected, completed_event_id IS NOT NULL AS completed""",
        job_id, stage, expected)


# A recorded asset keeps its first image path and takes a mask as soon as one is known.
_MERGE_PATHS = """local_path = COALESCE(stage_assets.local_path, EXCLUDED.local_path),
               mask_path = COALESCE(EXCLUDED.mask_path, stage_assets.mask_path)"""


async def register_asset(tx: Transaction, job_id: str, stage: str, asset_id: str, *,
                         local_path: str | None = None, mask_path: str | None = None,
                         due_in_s: float | None = None) -> None:
    """Note an asset as pending (the watermark path); keeps whatever is already recorded."""
    await tx.conn.execute(
        f"""INSERT INTO stage_assets (job_id, stage, asset_id, status, local_path, mask_path, due_at)
           VALUES ($1, $2, $3, 'pending', $4, $5,
                   CASE WHEN $6::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => $6::float8) END)
           ON CONFLICT (job_id, stage, asset_id) DO UPDATE SET {_MERGE_PATHS}""",
        job_id, stage, asset_id, local_path, mask_path, due_in_s)


async def lease_assets(conn_or_tx, assets: list[tuple[str, str, str, str | None, str | None]],
                       lease_s: float) -> set[tuple[str, str, str]]:
    """Lease the (job_id, stage, asset_id, local_path, mask_path) rows still to do, in one
    statement; returns the (job_id, stage, asset_id) leased.

    An asset not yet recorded is inserted already leased; a recorded one is leased if it is
    pending and its lease has run out (or never started), or if this is its masked computation
    (a mask path given), which may overtake a raw one running on the watermark. Each asset may
    appear once (an upsert may not touch the same row twice in one statement)."""
    conn = getattr(conn_or_tx, "conn", conn_or_tx)
    cols = list(zip(*assets)) if assets else [[]] * 5
    rows = await conn.fetch(
        f"""INSERT INTO stage_assets (job_id, stage, asset_id, status, local_path, mask_path, due_at)
           SELECT t.job_id, t.stage, t.asset_id, 'pending', t.local_path, t.mask_path,
                  now() + make_interval(secs => $6)
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
                AS t(job_id, stage, asset_id, local_path, mask_path)
           ON CONFLICT (job_id, stage, asset_id) DO UPDATE SET {_MERGE_PATHS},
               due_at = EXCLUDED.due_at, updated_at = now()
           WHERE stage_assets.status = 'pending'
             AND (stage_assets.due_at IS NULL OR stage_assets.due_at <= now() OR EXCLUDED.mask_path IS NOT NULL)
           RETURNING job_id, stage, asset_id""",
        *(list(c) for c in cols), lease_s)
    return {(r["job_id"], r["stage"], r["asset_id"]) for r in rows}


async def mark_asset(tx: Transaction, job_id: str, stage: str, asset_id: str,
                     status: str = "done", detail: str | None = None) -> bool:
    """Record an asset as finished; False if it was already finished (a duplicate)."""
    if status not in ("done", "failed"):
        raise ValueError(status)
    row = await tx.conn.fetchrow(
        """INSERT INTO stage_assets (job_id, stage, asset_id, status, detail) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (job_id, stage, asset_id) DO UPDATE SET status = EXCLUDED.status,
               detail = EXCLUDED.detail, updated_at = now()
           WHERE stage_assets.status = 'pending'
           RETURNING 1""",
        job_id, stage, asset_id, status, detail)
    return row is not None


async def progress(conn_or_tx, job_id: str, stage: str) -> StageProgress:
    conn = getattr(conn_or_tx, "conn", conn_or_tx)
    row = await conn.fetchrow(
        """SELECT s.expected, s.completed_event_id IS NOT NULL AS completed,
                  count(a.*) FILTER (WHERE a.status = 'done') AS done,
                  count(a.*) FILTER (WHERE a.status = 'failed') AS failed
           FROM (SELECT $1::text AS job_id, $2::text AS stage) k
           LEFT JOIN job_stages s ON s.job_id = k.job_id AND s.stage = k.stage
           LEFT JOIN stage_assets a ON a.job_id = k.job_id AND a.stage = k.stage
           GROUP BY s.expected, s.completed_event_id""",
        job_id, stage)
    return StageProgress(row["expected"], row["done"], row["failed"], bool(row["completed"]))


async def complete_if_done(tx: Transaction, job_id: str, stage: str, completed_key: str, *,
                           expected: int | None = None) -> bool:
    """Emit `completed_key` once, when every expected asset is finished. Call it in the same
    transaction that finished an asset, or with `expected` (a `.batch` count) to record it."""
    stage_row = await _lock_stage(tx, job_id, stage, expected)
    if stage_row["completed"] or stage_row["expected"] is None:
        return False
    # a statement after the lock: READ COMMITTED gives it a snapshot that includes every
    # asset finished by the transactions that held the lock before this one
    finished = await tx.conn.fetchval(
        "SELECT count(*) FROM stage_assets WHERE job_id = $1 AND stage = $2 AND status IN ('done', 'failed')",
        job_id, stage)
    if finished < stage_row["expected"]:
        return False
    await emit_completed(tx, job_id, stage, completed_key)
    return True


# -- stages that one request does whole (collection, matching) ------------------------------------

async def stage_completed(conn_or_tx, job_id: str, stage: str) -> bool:
    """Has the job's `stage` emitted its `.completed`? (A request handler checks this first: a
    repeated request, with an event_id of its own, must not run the stage again.)"""
    conn = getattr(conn_or_tx, "conn", conn_or_tx)
    return bool(await conn.fetchval(
        "SELECT completed_event_id IS NOT NULL FROM job_stages WHERE job_id = $1 AND stage = $2", job_id, stage))


async def claim_stage(tx: Transaction, job_id: str, stage: str) -> bool:
    """Lock the job's row of a stage that one request does whole (collection, matching); False
    if it completed already: a copy of the request got there first, and this one must emit
    nothing. The lock holds until the transaction ends, so only one copy can complete it."""
    return not (await _lock_stage(tx, job_id, stage, None))["completed"]


async def emit_completed(tx: Transaction, job_id: str, stage: str, completed_key: str) -> None:
    """Write the stage's `.completed` to the outbox and record it (its row is locked already)."""
    event_id = await tx.emit(completed_key, {"job_id": job_id})
    await tx.conn.execute(
        "UPDATE job_stages SET completed_event_id = $3, completed_at = now(), updated_at = now() "
        "WHERE job_id = $1 AND stage = $2", job_id, stage, uuid.UUID(event_id))
