"""The local video source (SPEC §8): videos.json in a dataset folder. It stands in for every
platform: the job's `platforms` and `recency_days` do not filter it, its `industry` does."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

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


def selects(industry: str, title: str | None, keywords: list[str]) -> bool:
    needle = industry.strip().lower()
    if needle == "*":
        return True
    return needle in (title or "").lower() or any(needle in k.lower() for k in keywords)


class LocalVideoSource:
    name = "local"

    def __init__(self, root: Path):
        self.root = Path(root).resolve()

    def _load(self) -> _Videos:
        path = self.root / "videos.json"
        try:
            return _Videos.model_validate(json.loads(path.read_text()))
        except FileNotFoundError as exc:
            raise SourceError(f"local dataset has no videos.json: {path}") from exc
        except (json.JSONDecodeError, ValidationError) as exc:
            raise SourceError(f"{path} is not a valid video list: {exc}") from exc

    async def search(self, industry: str, queries: list[str], recency_days: int, limit: int) -> list[VideoRecord]:
        videos = await asyncio.to_thread(self._load)
        out = []
        for v in videos.videos:
            if len(out) >= limit:
                break
            if not selects(industry, v.title, v.keywords):
                continue
            file = (self.root / v.path).resolve()
            if self.root not in file.parents:
                raise SourceError(f"video {v.video_id}: {v.path!r} is outside the dataset folder")
            out.append(VideoRecord(platform=v.platform, source_id=v.video_id, url=v.url or file.as_uri(),
                                   title=v.title, duration_s=v.duration_s, published_at=v.published_at,
                                   local_file=file))
        return out

    async def fetch(self, record: VideoRecord, dest_dir: Path) -> Path:
        return record.local_file
