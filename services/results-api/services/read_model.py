"""The read side: rows from the repository shaped into the API's models, the /results cache,
and evidence files under DATA_ROOT."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable
import asyncpg

from common_py.storage import Storage, UnsafePath
from services import links
from services.cache import ResultsCache
from services.models import (MatchDetail, MatchSummary, Product, ProductImage, ProductRef, ResultsPage, Video,
                             VideoFrame, VideoRef)
from services.repository import MatchFilter, Repository

log = logging.getLogger("results-api")


@dataclass(frozen=True)
class ResultsQuery:
    industry: str | None = None
    job_id: str | None = None
    min_score: float | None = None
    product_id: str | None = None
    video_id: str | None = None
    limit: int = 50
    offset: int = 0


class ReadModel:
    def __init__(self, repo: Repository, cache: ResultsCache, storage: Storage):
        self.repo = repo
        self.cache = cache
        self.storage = storage

    async def results(self, q: ResultsQuery) -> tuple[bytes, str]:
        """The JSON body of GET /results and the cache outcome (hit, miss, bypass, off)."""
        key = self.cache.key(asdict(q))
        body, outcome = await self.cache.get(key)
        if body is not None:
            return body, outcome
        # one job's matches are cached only once it has ended: the UI follows a running job with
        # this query, and a copy from before its last matches would outlive its completion
        final = q.job_id is None or not self.cache.enabled or await self.repo.job_ended(q.job_id)
        flt = MatchFilter(q.industry, q.job_id, q.min_score, q.product_id, q.video_id)
        rows, total = await self.repo.matches(flt, q.limit, q.offset)
        page = ResultsPage(items=[self._summary(r) for r in rows], total=total, limit=q.limit, offset=q.offset)
        body = page.model_dump_json().encode()
        if final:
            await self.cache.put(key, body)
        return body, outcome

    async def job_exists(self, job_id: str) -> bool:
        return await self.repo.job_exists(job_id)

    async def match(self, match_id: str) -> MatchDetail | None:
        row = await self.repo.match(match_id)
        if row is None:
            return None
        return MatchDetail(**self._summary(row).model_dump(), score_pair=row["score_pair"],
                           consistency=row["consistency"], coverage=row["coverage"])

    async def product(self, product_id: str) -> Product | None:
        row, images = await self.repo.product(product_id)
        if row is None:
            return None
        return Product(**dict(row), images=[ProductImage(**dict(i), image_url=links.product_image_url(i["img_id"]))
                                            for i in images])

    async def video(self, video_id: str) -> Video | None:
        row, frames = await self.repo.video(video_id)
        if row is None:
            return None
        return Video(**dict(row), frames=[VideoFrame(**dict(f), image_url=links.frame_url(f["frame_id"]))
                                          for f in frames])

    async def evidence_file(self, match_id: str) -> tuple[bool, Path | None]:
        """(the match exists, its evidence image if the file is there)."""
        exists, rel = await self.repo.evidence_path(match_id)
        if not exists:
            return False, None
        return True, self._evidence(match_id, rel)

    async def image_file(self, kind: str, asset_id: str) -> Path | None:
        """A product image (kind "product") or keyframe (kind "frame") under DATA_ROOT, if its row
        and its file are there."""
        rel = await self.repo.image_path(kind, asset_id)
        return None if rel is None else self._file(lambda: rel, f"{kind} image {asset_id}")

    # -- internals --------------------------------------------------------------------------------
    def _evidence(self, match_id: str, rel: str | None) -> Path | None:
        """The file the row names or, while the row names none, the file at its SPEC §5 place
        (evidence/<match_id>.jpg), so an image written but not yet recorded is still served."""
        return self._file(lambda: rel or self.storage.evidence(match_id), f"evidence of match {match_id}")

    def _file(self, rel: Callable[[], str], what: str) -> Path | None:
        """The file at the DATA_ROOT-relative path `rel()` gives, if it is there. A path that would
        leave DATA_ROOT (from the row, or refused while `rel()` builds it) is never followed."""
        try:
            path = self.storage.resolve(rel())
        except UnsafePath as exc:
            log.warning("%s not served: %s", what, exc)
            return None
        return path if path.is_file() else None

    def _summary(self, r: asyncpg.Record) -> MatchSummary:
        has_evidence = self._evidence(r["match_id"], r["evidence_path"]) is not None
        return MatchSummary(
            match_id=r["match_id"], job_id=r["job_id"], industry=r["industry"], score=r["score"], ts=r["ts"],
            best_img_id=r["best_img_id"], best_frame_id=r["best_frame_id"], created_at=r["created_at"],
            product=ProductRef(product_id=r["product_id"], title=r["product_title"], brand=r["brand"],
                               url=r["product_url"], src=r["src"],
                               thumbnail_url=links.product_image_url(r["best_img_id"])),
            video=VideoRef(video_id=r["video_id"], title=r["video_title"], url=r["video_url"],
                           platform=r["platform"], duration_s=r["duration_s"]),
            evidence_url=links.evidence_url(r["match_id"]) if has_evidence else None,
            watch_url=links.watch_url(r["video_url"], r["ts"]),
            segments=r["segments"] or [])
