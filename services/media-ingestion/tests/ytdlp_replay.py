"""Replays recorded yt-dlp extractor results: the YouTube and Bilibili extractors' network entry
points (`_search_results` of the search extractors, `_real_extract` of the video extractors) answer
from a recording instead of the sites. Everything after them is yt-dlp's own code: the playlist
and flat-entry handling, format sorting and selection, and the HTTP download, which fetches the
recorded format URLs from a replay server on 127.0.0.1.

Recording layout (JSON; `{replay}` in it becomes the replay server's base URL, and dates are
written relative to today, `{date_days_ago:N}` and `"{ts_days_ago:N}"`, so the recording does not
age out of the recency window):
    {"searches": {"ytsearch": {"<query>": [flat entries...] | {"error": "..."}}, "bilisearch": {...}},
     "videos":   {"youtube": {"<id in the URL>": info | {"error": "..."}}, "bilibili": {...}}}

In-process tests call `install(recording)`; the service process under test gets it through
`subprocess_hook/sitecustomize.py`, which calls `install_from_env()`.
"""

from __future__ import annotations

import copy
import json
import os
import re
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

from yt_dlp.extractor.bilibili import BiliBiliIE, BiliBiliSearchIE
from yt_dlp.extractor.youtube import YoutubeIE, YoutubeSearchIE
from yt_dlp.utils import ExtractorError

ENV = "PVM_YTDLP_REPLAY"  # path of a recording file, for the service process
PATCHED = {  # class -> (method, recording section, key)
    YoutubeSearchIE: ("_search_results", "searches", "ytsearch"),
    BiliBiliSearchIE: ("_search_results", "searches", "bilisearch"),
    YoutubeIE: ("_real_extract", "videos", "youtube"),
    BiliBiliIE: ("_real_extract", "videos", "bilibili"),
}


class Calls:
    """What yt-dlp asked the extractors for, in order: ("ytsearch", query) or ("youtube", id)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.items: list[tuple[str, str]] = []

    def add(self, key: str, what: str) -> None:
        with self._lock:
            self.items.append((key, what))

    def of(self, key: str) -> list[str]:
        return [w for k, w in self.items if k == key]


def load(path: Path | str, base_url: str, now: datetime | None = None) -> dict:
    now = now or datetime.now(timezone.utc)
    ago = lambda m: now - timedelta(days=int(m[1]))  # noqa: E731
    text = Path(path).read_text().replace("{replay}", base_url)
    text = re.sub(r'"\{ts_days_ago:(\d+)\}"', lambda m: str(int(ago(m).timestamp())), text)
    text = re.sub(r"\{date_days_ago:(\d+)\}", lambda m: ago(m).strftime("%Y%m%d"), text)
    return json.loads(text)


def install(recording: dict, setattr_=setattr) -> Calls:
    """Patch the extractors (with `setattr_`: pytest's monkeypatch.setattr undoes it afterwards)."""
    calls = Calls()

    def searcher(key: str):
        def _search_results(self, query, *args, **kwargs):
            calls.add(key, query)
            answer = recording["searches"].get(key, {}).get(query, [])
            if isinstance(answer, dict):
                raise ExtractorError(answer["error"], expected=True)
            for entry in answer:
                yield copy.deepcopy(entry)
        return _search_results

    def extractor(key: str):
        def _real_extract(self, url):
            video_id = self._match_id(url)
            calls.add(key, video_id)
            info = recording["videos"].get(key, {}).get(video_id)
            if info is None or "error" in info:
                raise ExtractorError((info or {}).get("error", f"Video unavailable: {video_id}"), expected=True)
            return copy.deepcopy(info)
        return _real_extract

    for cls, (method, section, key) in PATCHED.items():
        setattr_(cls, method, searcher(key) if section == "searches" else extractor(key))
    return calls


def install_from_env() -> Calls | None:
    path = os.environ.get(ENV)
    return install(json.loads(Path(path).read_text())) if path else None
