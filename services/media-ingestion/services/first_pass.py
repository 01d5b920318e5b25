"""The first pass: which keyframes of a video are worth this job's while.

A long video is mostly footage of something else. Every keyframe is stored, but a job sends on
(to segmentation, features and verification, ~95 % of a keyframe's cost) only those whose
embedding, of the whole frame or of one of its quadrants, reaches FIRST_PASS_MIN_SIM with some
image of the job's own catalog.

The catalog is collected and embedded while videos download; the first pass waits for the job's
`image.embeddings` stage to complete (at most FIRST_PASS_WAIT_S, once per job). Past that, or with
FIRST_PASS_MIN_SIM = -1, every keyframe goes on: a slow catalog costs time, never matches.

The quadrant vectors of a kept keyframe are stored (``frame_regions``): retrieval asks them for
candidates per region. By default they are pooled from the first pass's forward pass, at no
further model cost; with RETRIEVAL_REGION_CROPS=true each quadrant of a kept keyframe is also cut
out and embedded on its own, stored after them (eight more forward passes: two views of four).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from common_py import completion
from common_py.storage import Storage
from matching.retrieval import FirstPassResult, first_pass
from vision_common.image_io import read_image

log = logging.getLogger("media-ingestion")

_CHUNK = 32  # keyframes decoded and embedded at a time


class FirstPass:
    def __init__(self, pool, storage: Storage, embedder_factory, *, min_sim: float, wait_s: float,
                 poll_s: float = 1.0, region_crops: bool = False):
        self.pool = pool
        self.storage = storage
        self._embedder_factory = embedder_factory  # built on first use: with the pass off, no model
        self._embedder = None
        self.min_sim = min_sim
        self.wait_s = wait_s
        self.poll_s = poll_s
        self.region_crops = region_crops  # kept keyframes' regions also cut out and embedded on their own
        self._catalogs: OrderedDict[str, tuple[np.ndarray, np.ndarray] | None] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.min_sim > -1

    async def _catalog(self, job_id: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The job's catalog embeddings (rgb, gray) once its image embeddings are complete;
        None when they are not within FIRST_PASS_WAIT_S (then nothing is filtered)."""
        if job_id in self._catalogs:
            return self._catalogs[job_id]
        deadline = time.monotonic() + self.wait_s
        while True:
            async with self.pool.acquire() as conn:
                done = (await completion.progress(conn, job_id, "image.embeddings")).completed
            if done or time.monotonic() >= deadline:
                break
            await asyncio.sleep(min(self.poll_s, max(0.0, deadline - time.monotonic())))
        catalog = None
        if done:
            rows = await self.pool.fetch(
                """SELECT pi.emb_rgb, pi.emb_gray FROM product_images pi JOIN job_products jp USING (product_id)
                   WHERE jp.job_id = $1 AND pi.emb_rgb IS NOT NULL AND pi.emb_gray IS NOT NULL""", job_id)
            dim = len(rows[0]["emb_rgb"].to_numpy()) if rows else 1
            catalog = (np.array([r["emb_rgb"].to_numpy() for r in rows], np.float32).reshape(-1, dim),
                       np.array([r["emb_gray"].to_numpy() for r in rows], np.float32).reshape(-1, dim))
        else:
            log.warning("job %s: the catalog's embeddings were not complete within %.0fs; its keyframes all go on "
                        "(no first pass)", job_id, self.wait_s, extra={"job_id": job_id})
        self._catalogs[job_id] = catalog
        while len(self._catalogs) > 8:
            self._catalogs.popitem(last=False)
        return catalog

    def _first_pass(self, paths: list[str], catalog: tuple[np.ndarray, np.ndarray]) -> FirstPassResult:
        if self._embedder is None:
            self._embedder = self._embedder_factory()
        parts = []
        for start in range(0, len(paths), _CHUNK):
            images = [read_image(self.storage.resolve(p)) for p in paths[start:start + _CHUNK]]
            parts.append(first_pass(self._embedder, images, *catalog,
                                    crop_from=self.min_sim if self.region_crops else None))
        return FirstPassResult(np.concatenate([p.sims for p in parts]),
                               np.concatenate([p.region_rgb for p in parts]),
                               np.concatenate([p.region_gray for p in parts]))

    async def select(self, job_id: str, video_id: str, frames: list) -> Selection:
        """The frames (objects with ``frame_id`` and ``local_path``) this job processes, in their
        order, and the region vectors of those (stored for per-region retrieval)."""
        if not self.enabled or not frames:
            return Selection(list(frames))
        catalog = await self._catalog(job_id)
        if catalog is None:
            return Selection(list(frames))
        fp = await asyncio.to_thread(self._first_pass, [f.local_path for f in frames], catalog)
        kept = [i for i, sim in enumerate(fp.sims) if sim >= self.min_sim]
        log.info("first pass: %d of %d keyframes of %s look like the job's catalog (best %.2f)",
                 len(kept), len(frames), video_id, float(fp.sims.max()) if len(fp.sims) else -1.0,
                 extra={"job_id": job_id})
        has_regions = fp.region_rgb.shape[1] > 0  # a model without a spatial map has none unless cut out
        regions = {frames[i].frame_id: (fp.region_rgb[i], fp.region_gray[i]) for i in kept} if has_regions else {}
        return Selection([frames[i] for i in kept], regions, self._embedder.name)


@dataclass
class Selection:
    """The keyframes a job processes; ``regions``: frame_id -> (rgb, gray) region vectors (R, dim)
    made by ``model``, for those the first pass embedded (none when it did not run)."""

    frames: list
    regions: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    model: str | None = None
