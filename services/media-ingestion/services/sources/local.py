"""The local video source (SPEC §8): videos.json in a dataset folder. It stands in for every
platform: the job's `platforms` and `recency_days` do not filter it, its `industry` does."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, Field

from common_py.local_dataset import LocalDataset, selects
from services.sources.base import SourceError, VideoRecord


class _Video(BaseModel):
    video_id: str = Field(..., min_length=1)
    platform: str = "local"
    title: str | None = None
    url: str | None = None
    keywords: list[str] = Field(default_factory=list)
    path: str
    published_at: datetime | None = None
    duration_s: float | None = None


class _Videos(BaseModel):
    videos: list[_Video]


class LocalVideoSource:
    name = "local"

    def __init__(self, root: Path):
        self.dataset = LocalDataset(root, error=SourceError)

    async def search(self, industry: str, queries: list[str], recency_days: int, limit: int) -> list[VideoRecord]:
        videos = await asyncio.to_thread(self.dataset.load, "videos.json", _Videos)
        out = []
        for v in videos.videos:
            if len(out) >= limit:
                break
            if not selects(industry, v.title, v.keywords):
                continue
            file = self.dataset.inside(v.path, f"video {v.video_id}:")
            out.append(VideoRecord(platform=v.platform, source_id=v.video_id, url=v.url or file.as_uri(),
                                   title=v.title, duration_s=v.duration_s, published_at=v.published_at,
                                   local_file=file))
        return out

    async def fetch(self, record: VideoRecord, dest_dir: Path) -> Path:
        return record.local_file
