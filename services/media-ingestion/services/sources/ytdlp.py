"""YouTube and Bilibili through yt-dlp, used as a library.

search: for each of the job's queries, `ytsearchN:<query>` / `bilisearchN:<query>` (flat: ids and
titles only), then each candidate's own page (metadata, no download) to learn its upload date,
duration and formats. A candidate is kept when it was uploaded within `recency_days`, is not live,
is no longer than `max_duration_s`, and the format we would download is not known to be larger
than `max_filesize`.

fetch: downloads that one format into the ingestion's work folder: the smallest format that
still has >= `min_height` lines (480p), as a single file (video only is fine: keyframes need no
sound, and no ffmpeg merge is needed); below that, the best there is. The size cap holds during
the download too (yt-dlp's `max_filesize` for a declared size, our progress hook for the rest),
and so does a wall-clock cap.

yt-dlp is blocking: every call runs in a worker thread, with a YoutubeDL object of its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yt_dlp

from services.sources.base import SourceError, VideoRecord

log = logging.getLogger("media-ingestion")

SEARCH_KEYS = {"youtube": "ytsearch", "bilibili": "bilisearch"}

# AV1 is left out: OpenCV's bundled FFmpeg may not decode it, and the keyframes need decoding.
_DECODABLE = "[vcodec!^=av01]"


def format_spec(min_height: int) -> str:
    """A single file with video: at least `min_height` if there is one, otherwise the best below."""
    return "/".join([f"bv*[height>={min_height}]{_DECODABLE}", f"b[height>={min_height}]{_DECODABLE}",
                     f"bv*{_DECODABLE}", f"b{_DECODABLE}", "bv*", "b"])


def format_sort(min_height: int) -> list[str]:
    # `res:480` ranks 480p first, then the next larger, and below 480 the largest;
    # then the smaller file wins (`+size`, `+br`: ascending)
    return [f"res:{min_height}", "+size", "+br", "+fps"]


@dataclass(frozen=True)
class YtDlpOptions:
    max_videos: int = 10                # videos this platform contributes to one job at most
    results_per_query: int = 15         # search depth per query, before the filters
    max_duration_s: float = 20 * 60
    max_filesize: int = 300 * 1024 * 1024
    min_height: int = 480
    socket_timeout_s: float = 20.0
    download_timeout_s: float = 600.0   # one video's download, wall clock
    cookies_file: Path | None = None    # Netscape cookies.txt (age-gated videos, Bilibili >480p)
    js_runtime: str | None = None       # deno (yt-dlp's default), node, bun or quickjs
    js_runtime_path: str | None = None
    remote_components: tuple[str, ...] = field(default_factory=tuple)  # e.g. ("ejs:github",)


class _Abort(Exception):
    """Raised from the progress hook: the download went past a cap."""


class _Logger:
    """yt-dlp's messages into our JSON log, at a level that does not drown it."""

    def debug(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    info = debug

    def warning(self, msg: str) -> None:
        log.info("yt-dlp: %s", msg)

    def error(self, msg: str) -> None:
        log.warning("yt-dlp: %s", msg)


class YtDlpVideoSource:
    def __init__(self, platform: str, options: YtDlpOptions | None = None):
        if platform not in SEARCH_KEYS:
            raise ValueError(f"no yt-dlp search for platform {platform!r}")
        self.name = platform
        self.options = options or YtDlpOptions()

    def _params(self, **extra) -> dict:
        o = self.options
        params = {
            "quiet": True, "no_warnings": False, "noprogress": True, "logger": _Logger(),
            "extract_flat": "in_playlist",  # search results as ids; each video's page only when needed
            "noplaylist": True, "format": format_spec(o.min_height), "format_sort": format_sort(o.min_height),
            "socket_timeout": o.socket_timeout_s, "max_filesize": o.max_filesize,
            "retries": 2, "fragment_retries": 2, "continuedl": False, "overwrites": True,
            "restrictfilenames": True, "outtmpl": {"default": "%(id)s.%(ext)s"},
        }
        if o.cookies_file:
            params["cookiefile"] = str(o.cookies_file)
        if o.js_runtime:
            params["js_runtimes"] = {o.js_runtime: {"path": o.js_runtime_path} if o.js_runtime_path else {}}
        if o.remote_components:
            params["remote_components"] = list(o.remote_components)
        params.update(extra)
        return params

    # -- search --------------------------------------------------------------------------------
    async def search(self, industry: str, queries: list[str], recency_days: int, limit: int) -> list[VideoRecord]:
        limit = min(limit, self.options.max_videos)
        if limit <= 0:
            return []
        try:
            return await asyncio.to_thread(self._search, queries or [industry], recency_days, limit)
        except SourceError:
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. a bad yt-dlp option: this source fails, not the job
            raise SourceError(f"{self.name} search failed: {type(exc).__name__}: {exc}") from exc

    def _search(self, queries: list[str], recency_days: int, limit: int) -> list[VideoRecord]:
        cutoff = datetime.now(timezone.utc) - timedelta(days=recency_days)
        found: dict[str, VideoRecord] = {}
        failures = []
        with yt_dlp.YoutubeDL(self._params()) as ydl:
            for query in queries:
                try:
                    result = ydl.extract_info(f"{SEARCH_KEYS[self.name]}{self.options.results_per_query}:{query}",
                                              download=False)
                except Exception as exc:  # noqa: BLE001 - yt-dlp raises DownloadError and others
                    failures.append(f"{query!r}: {exc}")
                    log.warning("%s search %r failed: %s", self.name, query, exc)
                    continue
                for entry in (result or {}).get("entries") or []:
                    if len(found) >= limit:
                        return list(found.values())
                    record = self._candidate(ydl, entry, cutoff, found)
                    if record is not None:
                        found[record.source_id] = record
        if failures and len(failures) == len(queries):
            raise SourceError(f"{self.name} search failed: " + "; ".join(failures))
        return list(found.values())

    def _candidate(self, ydl, entry: dict, cutoff: datetime, found: dict) -> VideoRecord | None:
        video_id = str(entry.get("id") or "")
        if not video_id or video_id in found:
            return None
        # what the search page already tells spares fetching the video's own page
        if (entry.get("duration") or 0) > self.options.max_duration_s:
            log.info("%s %s skipped: longer than %ss", self.name, video_id, self.options.max_duration_s)
            return None
        if entry.get("live_status") in ("is_live", "is_upcoming"):
            log.info("%s %s skipped: live_status %s", self.name, video_id, entry["live_status"])
            return None
        try:
            info = ydl.extract_info(entry.get("url") or entry.get("webpage_url") or video_id, download=False)
        except Exception as exc:  # noqa: BLE001 - one video's page failing skips that video only
            log.warning("%s %s: metadata failed, skipped: %s", self.name, video_id, exc)
            return None
        reason = self.rejects(info, cutoff)
        if reason:
            log.info("%s %s skipped: %s", self.name, info.get("id", video_id), reason)
            return None
        return VideoRecord(platform=self.name, source_id=str(info["id"]), url=info.get("webpage_url"),
                           title=info.get("title"), duration_s=info.get("duration"),
                           published_at=published_at(info), source_data=info)

    def rejects(self, info: dict, cutoff: datetime) -> str | None:
        """Why a video is not ingested, or None."""
        o = self.options
        if info.get("is_live") or info.get("live_status") in ("is_live", "is_upcoming", "post_live"):
            return f"live_status {info.get('live_status') or 'is_live'}"
        when = published_at(info)
        if when is not None and when < cutoff:
            return f"uploaded {when.date()}, before {cutoff.date()}"
        duration = info.get("duration")
        if duration is not None and duration > o.max_duration_s:
            return f"duration {duration:.0f}s > {o.max_duration_s:.0f}s"
        size = info.get("filesize") or info.get("filesize_approx")  # of the format yt-dlp selected
        if size is not None and size > o.max_filesize:
            return f"format {info.get('format_id')} is {size} bytes > {o.max_filesize}"
        return None

    # -- fetch ---------------------------------------------------------------------------------
    async def fetch(self, record: VideoRecord, dest_dir: Path) -> Path:
        return await asyncio.to_thread(self._fetch, record, Path(dest_dir))

    def _fetch(self, record: VideoRecord, dest_dir: Path) -> Path:
        o = self.options
        dest_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()

        def guard(progress: dict) -> None:
            if (progress.get("downloaded_bytes") or 0) > o.max_filesize:
                raise _Abort(f"download passed {o.max_filesize} bytes")
            if time.monotonic() - started > o.download_timeout_s:
                raise _Abort(f"download took longer than {o.download_timeout_s:g}s")

        params = self._params(paths={"home": str(dest_dir), "temp": str(dest_dir)}, progress_hooks=[guard])
        try:
            with yt_dlp.YoutubeDL(params) as ydl:
                if record.source_data is not None:
                    info = ydl.process_ie_result(dict(record.source_data), download=True)  # no second page fetch
                else:
                    info = ydl.extract_info(record.url, download=True)
        except _Abort as exc:
            raise SourceError(f"{self.name} {record.source_id}: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - DownloadError, network errors, extractor bugs
            raise SourceError(f"{self.name} {record.source_id}: download failed: {exc}") from exc
        paths = [Path(d["filepath"]) for d in (info or {}).get("requested_downloads") or [] if d.get("filepath")]
        paths = [p for p in paths if p.is_file()]
        if not paths:  # yt-dlp declines quietly when the declared size is over max_filesize
            raise SourceError(f"{self.name} {record.source_id}: nothing downloaded (over {o.max_filesize} bytes?)")
        return paths[0]


def published_at(info: dict) -> datetime | None:
    if info.get("timestamp") is not None:
        return datetime.fromtimestamp(int(info["timestamp"]), timezone.utc)
    date = info.get("upload_date") or info.get("release_date")
    if date:
        try:
            return datetime.strptime(str(date), "%Y%m%d").replace(tzinfo=timezone.utc)
        except ValueError:
            return None
    return None
