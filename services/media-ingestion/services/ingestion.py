"""Find the videos of an industry, extract their keyframes (every shot represented, 3-8 for a
short clip, more for a long video within a per-minute ceiling; accurate ts and the span each
stands for), store them, keep those that pass the job's first pass, and announce them:
`video.keyframes.ready` per video (in events of at most 64 keyframes), then the job's keyframe
count and its completion.

Like the catalog collector: one transaction per video (progress shows while a long job runs),
deterministic event ids (a redelivered request re-emits the same ids), a video that fails to
decode is logged and skipped, and a video ingested by an earlier job is reused as it is (the
first pass is the job's own: it runs again against each job's catalog).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from dataclasses import dataclass

from common_py.errors import ErrorCode, JobFailed
from common_py.frame_regions import save_regions
from common_py.storage import Storage, derive_id, raise_if_unwritable
from common_py.uow import UnitOfWork, stable_event_id
from services.sources.base import SourceError, VideoRecord, VideoSource
from services.first_pass import FirstPass
from vision_common.errors import VisionError
from vision_common.keyframes import KeyframeSettings, extract_keyframes

log = logging.getLogger("media-ingestion")
_PREFIX = {"youtube": "yt-", "bilibili": "bili-"}
EVENT_FRAMES_MAX = 64  # keyframes per video.keyframes.ready event (the contract's maxItems)


def video_id_for(rec: VideoRecord) -> str:
    return derive_id(rec.source_id, _PREFIX.get(rec.platform, ""), "v-", rec.platform)


def frame_id_for(video_id: str, ts: float) -> str:
    return f"{video_id}-{int(round(ts * 1000)):07d}"


@dataclass
class Frame:
    frame_id: str
    ts: float
    local_path: str
    shot_start: float | None = None
    shot_end: float | None = None

    def event_item(self) -> dict:
        item = {"frame_id": self.frame_id, "ts": self.ts, "local_path": self.local_path}
        if self.shot_start is not None and self.shot_end is not None:
            item.update(shot_start=self.shot_start, shot_end=self.shot_end)
        return item


class MediaIngestion:
    def __init__(self, uow: UnitOfWork, storage: Storage, plan_sources, first_pass: FirstPass, *,
                 max_videos: int, keyframes: KeyframeSettings):
        self.uow = uow
        self.storage = storage
        self.plan_sources = plan_sources  # (platforms) -> list[VideoSource]
        self.first_pass = first_pass
        self.max_videos = max_videos
        self.keyframes = keyframes

    async def find(self, industry: str, queries: list[str], platforms: list[str], recency_days: int,
                   limit: int) -> list[tuple[VideoSource, VideoRecord]]:
        sources = self.plan_sources(platforms)
        if not sources:
            raise JobFailed("no video source is configured: set LOCAL_DATASET_DIR, or enable YouTube/Bilibili")
        found, errors = [], []
        for source in sources:
            try:
                records = await source.search(industry, queries, recency_days, limit - len(found))
            except SourceError as exc:
                errors.append(f"{source.name}: {exc}")
                log.error("video source %s failed: %s", source.name, exc,
                          extra={"error_code": ErrorCode.DEPENDENCY_UNAVAILABLE})
                continue
            found += [(source, r) for r in records]
            if len(found) >= limit:
                break
        if errors and len(errors) == len(sources):
            raise JobFailed("every video source failed: " + "; ".join(errors))
        return found[:limit]

    async def _known_frames(self, video_id: str) -> list[Frame]:
        rows = await self.uow.pool.fetch(
            "SELECT frame_id, ts, local_path, shot_start, shot_end FROM video_frames WHERE video_id = $1 ORDER BY ts",
            video_id)
        frames = [Frame(r["frame_id"], r["ts"], r["local_path"], r["shot_start"], r["shot_end"]) for r in rows]
        return frames if frames and all(self.storage.exists(f.local_path) for f in frames) else []

    async def _extract(self, source: VideoSource, rec: VideoRecord, video_id: str) -> list[Frame]:
        workdir = self.storage.resolve(f"videos/{video_id}/download")
        try:
            path = await source.fetch(rec, workdir)
            ks = self.keyframes
            keyframes = await asyncio.to_thread(extract_keyframes, path, ks.min_frames, ks.max_frames, ks)
        finally:
            if rec.local_file is None:  # a download has served its purpose, a failed one too
                shutil.rmtree(workdir, ignore_errors=True)
                with contextlib.suppress(OSError):  # and a video that failed leaves no empty folder
                    workdir.parent.rmdir()
        frames = []
        for kf in keyframes:
            frame_id = frame_id_for(video_id, kf.ts)
            rel = self.storage.frame(video_id, frame_id)
            await asyncio.to_thread(self.storage.write_bytes, rel, kf.jpeg)
            frames.append(Frame(frame_id, float(kf.ts), rel, kf.shot_start, kf.shot_end))
        return frames

    async def ingest_video(self, job_id: str, source: VideoSource, rec: VideoRecord) -> int:
        """Store the video and its keyframes; returns how many of them this job processes."""
        video_id = video_id_for(rec)
        frames = await self._known_frames(video_id)
        if not frames:
            frames = await self._extract(source, rec, video_id)
        if not frames:
            raise VisionError(f"no usable keyframe in video {video_id}")
        selection = await self.first_pass.select(job_id, video_id, frames)
        kept = selection.frames
        async with self.uow.begin() as tx:
            await tx.conn.execute(
                """INSERT INTO videos (video_id, platform, url, title, duration_s, published_at)
                   VALUES ($1, $2, $3, $4, $5, $6)
                   ON CONFLICT (video_id) DO UPDATE SET title = EXCLUDED.title, url = EXCLUDED.url""",
                video_id, rec.platform, rec.url, rec.title, rec.duration_s, rec.published_at)
            await tx.conn.execute("INSERT INTO job_videos (job_id, video_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                                  job_id, video_id)
            await tx.conn.executemany(
                "INSERT INTO video_frames (frame_id, video_id, ts, local_path, shot_start, shot_end) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (frame_id) DO NOTHING",
                [(f.frame_id, video_id, f.ts, f.local_path, f.shot_start, f.shot_end) for f in frames])
            await tx.conn.executemany(
                "INSERT INTO job_frames (job_id, frame_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                [(job_id, f.frame_id) for f in kept])
            if selection.regions:
                await save_regions(tx.conn, selection.regions, selection.model)
            for i in range(0, len(kept), EVENT_FRAMES_MAX):
                await tx.emit("video.keyframes.ready", {
                    "event_id": stable_event_id(job_id, "video.keyframes.ready", video_id, str(i // EVENT_FRAMES_MAX)),
                    "job_id": job_id, "video_id": video_id,
                    "frames": [f.event_item() for f in kept[i:i + EVENT_FRAMES_MAX]]})
        return len(kept)

    async def ingest(self, job_id: str, industry: str, queries: list[str], platforms: list[str],
                     recency_days: int, max_videos: int | None = None) -> int:
        limit = min(self.max_videos, max_videos) if max_videos is not None else self.max_videos
        total = 0
        for source, rec in await self.find(industry, queries, platforms, recency_days, limit):
            try:
                total += await self.ingest_video(job_id, source, rec)
            except (VisionError, SourceError, OSError) as exc:
                raise_if_unwritable(exc, f"keyframes of video {rec.platform}/{rec.source_id}")
                missing = rec.local_file is not None and not rec.local_file.exists()
                log.error("skipping video %s/%s: %s", rec.platform, rec.source_id, exc,
                          extra={"error_code": ErrorCode.ASSET_MISSING if missing else ErrorCode.ASSET_CORRUPT})
        log.info("ingested %d keyframes for %r", total, industry)
        return total
