"""GET /status/{job_id}: phase, percent and counts, read from Postgres."""

from __future__ import annotations

import asyncpg

from services.phases import advance, waiting_for

STAGES = ["image.embeddings", "video.embeddings", "image.keypoints", "video.keypoints", "evidences"]
# percent at which each phase starts; the feature and evidence phases fill their span with
# the fraction of assets finished, so a long phase visibly moves.
SPAN = {"collection": (0, 20), "feature_extraction": (20, 70), "matching": (70, 85),
        "evidence": (85, 100), "completed": (100, 100)}


async def job_status(pool: asyncpg.Pool, job_id: str) -> dict | None:
    job = await pool.fetchrow(
        "SELECT job_id, industry, params, phase, failed_reason, created_at, updated_at, phase_started_at, "
        "completed_at FROM jobs WHERE job_id = $1", job_id)
    if job is None:
        return None
    counts = dict(await pool.fetchrow(
        """SELECT
             (SELECT count(*) FROM job_products WHERE job_id = $1) AS products,
             (SELECT count(*) FROM product_images pi JOIN job_products jp USING (product_id)
                WHERE jp.job_id = $1) AS product_images,
             (SELECT count(*) FROM job_videos WHERE job_id = $1) AS videos,
             (SELECT count(*) FROM job_frames WHERE job_id = $1) AS keyframes,
             (SELECT count(*) FROM matches WHERE job_id = $1) AS matches,
             (SELECT count(*) FROM matches WHERE job_id = $1 AND evidence_path IS NOT NULL) AS evidence""",
        job_id))
    stage_rows = await pool.fetch(
        """SELECT s.stage, s.expected, s.completed_at IS NOT NULL AS completed,
                  count(a.*) FILTER (WHERE a.status = 'done') AS done,
                  count(a.*) FILTER (WHERE a.status = 'failed') AS failed
           FROM job_stages s LEFT JOIN stage_assets a ON a.job_id = s.job_id AND a.stage = s.stage
           WHERE s.job_id = $1 GROUP BY s.stage, s.expected, s.completed_at""", job_id)
    stages = {r["stage"]: {"expected": r["expected"], "done": r["done"], "failed": r["failed"],
                           "completed": r["completed"]} for r in stage_rows}
    events = await pool.fetch("SELECT name, received_at FROM phase_events WHERE job_id = $1 ORDER BY received_at",
                              job_id)
    received = {e["name"] for e in events}
    phase = job["phase"]
    # a failed job reports the progress of the phase it failed in
    reached = phase if phase != "failed" else (advance("collection", received) or ["collection"])[-1]
    return {
        "job_id": job["job_id"],
        "industry": job["industry"],
        "phase": phase,
        "percent": percent(reached, stages, received),
        "counts": {**counts, "stages": stages},
        "waiting_for": waiting_for(phase, received),
        "failed_reason": job["failed_reason"],
        "params": job["params"],
        "created_at": job["created_at"].isoformat(),
        "updated_at": job["updated_at"].isoformat(),
        "phase_started_at": job["phase_started_at"].isoformat(),
        "completed_at": job["completed_at"].isoformat() if job["completed_at"] else None,
        "events": [{"name": e["name"], "received_at": e["received_at"].isoformat()} for e in events],
    }


def _fraction(stage: dict | None) -> float:
    if not stage:
        return 0.0
    if stage["completed"]:
        return 1.0
    if not stage["expected"]:
        return 0.0
    return min(1.0, (stage["done"] + stage["failed"]) / stage["expected"])


def percent(phase: str, stages: dict, received: set[str]) -> float:
    lo, hi = SPAN.get(phase, (0, 0))
    if phase == "collection":
        frac = len(received & {"products.collections.completed", "videos.collections.completed"}) / 2
    elif phase == "feature_extraction":
        frac = sum(_fraction(stages.get(s)) for s in STAGES[:4]) / 4
    elif phase == "evidence":
        frac = _fraction(stages.get("evidences"))
    else:
        frac = 0.0
    return round(lo + (hi - lo) * frac, 1)
