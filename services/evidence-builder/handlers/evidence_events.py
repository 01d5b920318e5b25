"""match.result -> one evidence image; matchings.process.completed -> how many to expect.
Whichever finishes last emits evidences.generation.completed, once (common_py.completion)."""

from __future__ import annotations

import logging

from common_py import completion
from common_py.bus import Event, HandlerContext
from common_py.errors import ErrorCode, FatalError
from common_py.storage import raise_if_unwritable
from services.evidence import EvidenceRenderer
from vision_common.errors import VisionError

STAGE, DONE = "evidences", "evidences.generation.completed"
log = logging.getLogger("evidence-builder")


def on_match_result(renderer: EvidenceRenderer):
    async def handle(event: Event, ctx: HandlerContext) -> None:
        match_id = event.payload.get("match_id") or await renderer.pool.fetchval(
            "SELECT match_id FROM matches WHERE job_id = $1 AND product_id = $2 AND video_id = $3",
            event.job_id, event.payload["product_id"], event.payload["video_id"])
        try:
            rel, status, detail = await renderer.build(match_id), "done", None
        except (VisionError, OSError, ValueError, FatalError) as exc:  # one picture, not the job...
            raise_if_unwritable(exc, f"the evidence image of {match_id}")  # ...unless no picture can be
            log.error("evidence of %s failed: %s", match_id, exc, extra={"error_code": ErrorCode.ASSET_CORRUPT})
            rel, status, detail = None, "failed", str(exc)[:500]
        async with ctx.transaction() as tx:
            if rel:
                await tx.conn.execute("UPDATE matches SET evidence_path = $2 WHERE match_id = $1", match_id, rel)
            if await completion.mark_asset(tx, event.job_id, STAGE, match_id, status, detail):
                await completion.complete_if_done(tx, event.job_id, STAGE, DONE)
    return handle


async def on_matching_completed(event: Event, ctx: HandlerContext) -> None:
    async with ctx.transaction() as tx:
        n = await tx.conn.fetchval("SELECT count(*) FROM matches WHERE job_id = $1", event.job_id)
        await completion.complete_if_done(tx, event.job_id, STAGE, DONE, expected=n)
