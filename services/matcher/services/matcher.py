"""match.request -> retrieval (vector-index) -> per-keyframe verification and competition ->
per (product, video) aggregation (libs/matching: the same functions scripts/bench_quality.py
runs) -> matches rows + one match.result per accepted pair + matchings.process.completed."""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from common_py import completion
from common_py.bus import Event, HandlerContext
from common_py.storage import Storage
from common_py.uow import stable_event_id
from matching.aggregate import FrameInfo, aggregate
from matching.assets import Asset
from matching.distinct import prepare_catalog
from matching.frame import match_frame
from matching.scoring import PairScore
from matching.settings import MatchSettings
from services.repository import job_catalog, job_frames, save_matches
from services.retrieval import VectorIndexClient

log = logging.getLogger("matcher")
STAGE, DONE = "matchings", "matchings.process.completed"


class Matcher:
    def __init__(self, pool, storage: Storage, index: VectorIndexClient, settings: MatchSettings, workers: int):
        self.pool = pool
        self.storage = storage
        self.index = index
        self.s = settings
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verify")

    async def _verify(self, frame: Asset, candidates: list[tuple[Asset, float]]) -> list[PairScore]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, match_frame, frame, [c for c, _ in candidates], self.s,
                                          [sim for _, sim in candidates])

    async def match_job(self, job_id: str, top_k: int):
        started = time.perf_counter()
        videos, skipped = await job_frames(self.pool, self.storage, job_id)
        catalog = await job_catalog(self.pool, self.storage, job_id)
        # once per job: load the catalog's feature bundles and mark the keypoints products share
        kept = await asyncio.get_running_loop().run_in_executor(
            self.executor, prepare_catalog, list(catalog.values()), self.s)
        catalog = {a.asset_id: a for a in kept}
        if skipped:
            log.warning("%d keyframe(s) without features are left out of matching", skipped)
        pairs: list[PairScore] = []
        frames_meta: dict[str, FrameInfo] = {}
        if catalog:
            # one search for all keyframes of the job (the client sends it in chunks)
            hits = await self.index.top_k(job_id, [f.asset_id for fs in videos.values() for f in fs], top_k,
                                          self.s.retrieval_region_k)
            for video_id, frames in videos.items():
                work = []
                for f in frames:
                    frames_meta[f.asset_id] = FrameInfo(video_id, f.ts, f.shot_start, f.shot_end)
                    cands = [(catalog[i], sim) for i, sim in hits.get(f.asset_id, []) if i in catalog]
                    if cands:
                        work.append(self._verify(f, cands))
                for result in await asyncio.gather(*work):
                    pairs.extend(result)
        matches = aggregate(pairs, frames_meta, self.s)
        log.info("job %s: %d keyframes, %d catalog images, %d pair scores -> %d accepted matches in %.1fs",
                 job_id, len(frames_meta), len(catalog), len(pairs), len(matches), time.perf_counter() - started)
        return matches

    async def handle(self, event: Event, ctx: HandlerContext) -> None:
        job_id = event.job_id
        if await completion.stage_completed(self.pool, job_id, STAGE):
            log.warning("job %s is matched already; a repeated match.request is ignored", job_id)
            return
        matches = await self.match_job(job_id, event.payload.get("top_k") or self.s.retrieval_topk)
        async with ctx.transaction() as tx:
            if not await completion.claim_stage(tx, job_id, STAGE):
                return  # a copy of the request finished first; its matches stand
            ids = await save_matches(tx.conn, job_id, matches)
            await tx.emit_many("match.result", [{
                "event_id": stable_event_id(job_id, "match.result", match_id),
                "job_id": job_id, "match_id": match_id, "product_id": m.product_id, "video_id": m.video_id,
                "best_pair": {"img_id": m.best_img_id, "frame_id": m.best_frame_id,
                              "score_pair": min(1.0, max(0.0, m.score_pair))},
                "score": min(1.0, max(0.0, m.score)), "ts": max(0.0, m.ts or 0.0),
                "segments": [g.as_dict() for g in m.segments],
            } for match_id, m in zip(ids, matches)])
            await completion.emit_completed(tx, job_id, STAGE, DONE)
