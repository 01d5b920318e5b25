"""What a job that went through an experiment is checked against: its phase, the matches of an
undisturbed run (and their evidence files), duplicate rows, one `.completed` per stage (in the
outbox and on the bus), and stage assets that never finished."""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts import COMPLETION_KEYS

# per job: (rows, distinct keys) in every table a job writes, so a second row for the same thing
# counts as a duplicate whatever constraints the schema has today
_DUPLICATES = {
    "matches": "SELECT count(*), count(DISTINCT (product_id, video_id)) FROM matches WHERE job_id = $1",
    "job_products": "SELECT count(*), count(DISTINCT product_id) FROM job_products WHERE job_id = $1",
    "job_videos": "SELECT count(*), count(DISTINCT video_id) FROM job_videos WHERE job_id = $1",
    "stage_assets": "SELECT count(*), count(DISTINCT (stage, asset_id)) FROM stage_assets WHERE job_id = $1",
    "job_stages": "SELECT count(*), count(DISTINCT stage) FROM job_stages WHERE job_id = $1",
    "phase_events": "SELECT count(*), count(DISTINCT name) FROM phase_events WHERE job_id = $1",
    "outbox": "SELECT count(*), count(DISTINCT (routing_key, payload - 'event_id')) FROM outbox "
              "WHERE job_id = $1 AND routing_key <> 'job.failed'",
    "product_images": "SELECT count(*), count(DISTINCT (pi.product_id, pi.phash)) FROM product_images pi "
                      "JOIN job_products jp USING (product_id) WHERE jp.job_id = $1",
    "video_frames": "SELECT count(*), count(DISTINCT (vf.video_id, vf.ts)) FROM video_frames vf "
                    "JOIN job_videos jv USING (video_id) WHERE jv.job_id = $1",
}


@dataclass
class JobCheck:
    job_id: str
    phase: str = "?"
    matches: set[tuple[str, str]] = field(default_factory=set)
    lost: int = 0
    duplicated: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.lost == 0 and self.duplicated == 0

    def problem(self, text: str, lost: int = 0, duplicated: int = 0) -> None:
        self.problems.append(text)
        self.lost += lost
        self.duplicated += duplicated


async def duplicates(pool, job_id: str) -> dict[str, int]:
    out = {}
    for table, sql in _DUPLICATES.items():
        rows, distinct = await pool.fetchrow(sql, job_id)
        if rows > distinct:
            out[table] = rows - distinct
    return out


async def check_job(stack, job_id: str, expected: set[tuple[str, str]] | None, *,
                    phase: str = "completed") -> JobCheck:
    """`expected`: the matches an undisturbed run found (None: do not compare matches)."""
    pool = stack.pool
    check = JobCheck(job_id)
    job = await pool.fetchrow("SELECT phase, failed_reason FROM jobs WHERE job_id = $1", job_id)
    if job is None:
        check.problem(f"job {job_id} does not exist", lost=1)
        return check
    check.phase = job["phase"]
    if job["phase"] != phase:
        check.problem(f"job {job_id} is {job['phase']} (expected {phase}): {job['failed_reason']}",
                      lost=1 if phase == "completed" else 0)
    rows = await pool.fetch("SELECT match_id, product_id, video_id, evidence_path FROM matches WHERE job_id = $1",
                            job_id)
    check.matches = {(r["product_id"], r["video_id"]) for r in rows}
    if expected is not None:
        missing, extra = expected - check.matches, check.matches - expected
        if missing:
            check.problem(f"matches missing: {sorted(missing)}", lost=len(missing))
        if extra:
            check.problem(f"matches an undisturbed run does not find: {sorted(extra)}")
    if phase == "completed":
        no_evidence = [r["match_id"] for r in rows
                       if not r["evidence_path"] or not (stack.data / r["evidence_path"]).is_file()]
        if no_evidence:
            check.problem(f"matches without an evidence file: {no_evidence}", lost=len(no_evidence))
        unfinished = await pool.fetchval(
            "SELECT count(*) FROM stage_assets WHERE job_id = $1 AND status = 'pending'", job_id)
        if unfinished:
            check.problem(f"{unfinished} stage asset(s) never finished", lost=unfinished)
        failed = await pool.fetch("SELECT stage, asset_id, detail FROM stage_assets WHERE job_id = $1 "
                                  "AND status = 'failed'", job_id)
        if failed:
            check.problem(f"{len(failed)} asset(s) failed: {[(f['stage'], f['asset_id']) for f in failed][:5]}",
                          lost=len(failed))
        # exactly one .completed per stage: written once, and seen once on the bus
        written = dict(await pool.fetch(
            "SELECT routing_key, count(*) FROM outbox WHERE job_id = $1 AND routing_key LIKE '%.completed' "
            "GROUP BY routing_key", job_id))
        seen = stack.tap.completions(job_id)
        for key in sorted(COMPLETION_KEYS):
            if written.get(key, 0) != 1:
                check.problem(f"{key} written {written.get(key, 0)} times", lost=int(not written.get(key)),
                              duplicated=max(0, written.get(key, 0) - 1))
            if len(seen.get(key, ())) != 1:
                check.problem(f"{key} published with {len(seen.get(key, ()))} event ids",
                              lost=int(not seen.get(key)), duplicated=max(0, len(seen.get(key, ())) - 1))
    for table, extra_rows in (await duplicates(pool, job_id)).items():
        check.problem(f"{extra_rows} duplicate row(s) in {table}", duplicated=extra_rows)
    return check


def dlq_problems(dead: list[tuple[str, dict, bytes]], allowed) -> tuple[list[str], int]:
    """Dead letters the experiment did not put there: (what they are, how many). `allowed(queue,
    headers, body)` says which ones it did."""
    unexpected = [(q, h.get("x-error-code"), h.get("x-error", "")[:120]) for q, h, b in dead if not allowed(q, h, b)]
    return [f"unexpected dead letter in {q}: {code} {why}" for q, code, why in unexpected[:5]], len(unexpected)
