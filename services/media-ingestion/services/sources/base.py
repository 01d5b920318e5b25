"""The video source interface: search, then fetch a playable file."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol


@dataclass
class VideoRecord:
    platform: str                    # "youtube" | "bilibili" | "local": the `videos.platform` column
    source_id: str                   # the platform's id (or the dataset's)
    url: str | None = None
    title: str | None = None
    duration_s: float | None = None
    published_at: datetime | None = None
    local_file: Path | None = None   # set by sources whose files are already on disk
    # what the source learned while searching (yt-dlp's info dict), so fetch need not ask again
    source_data: dict | None = field(default=None, repr=False)


class SourceError(Exception):
    """The source as a whole cannot answer (outage, missing tool, unreadable dataset)."""


class VideoSource(Protocol):
    name: str

    async def search(self, industry: str, queries: list[str], recency_days: int, limit: int) -> list[VideoRecord]:
        """At most `limit` videos, best first."""

    async def fetch(self, record: VideoRecord, dest_dir: Path) -> Path:
        """A playable file for `record` (downloaded into `dest_dir` if it is not local)."""
