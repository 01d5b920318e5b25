"""Which video sources run for a job, decided by configuration and the job's platforms.

- local: when LOCAL_DATASET_DIR is set; it stands in for every platform (SPEC §8);
- youtube, bilibili (yt-dlp): for the platforms the job names, when online video sources are on
  (VIDEO_ONLINE_SOURCES: `auto` turns them on exactly when no local dataset is configured).
"""

from __future__ import annotations

import logging

from services.sources.local import LocalVideoSource
from services.sources.ytdlp import SEARCH_KEYS, YtDlpOptions, YtDlpVideoSource

log = logging.getLogger("media-ingestion")


def ytdlp_options(config) -> YtDlpOptions:
    return YtDlpOptions(
        max_videos=config.video_max_per_platform, results_per_query=config.video_search_depth,
        max_duration_s=config.video_max_duration_s, max_filesize=int(config.video_max_filesize_mb * 1024 * 1024),
        min_height=config.video_min_height, socket_timeout_s=config.ytdlp_socket_timeout_s,
        download_timeout_s=config.video_download_timeout_s, cookies_file=config.ytdlp_cookies_file,
        js_runtime=config.ytdlp_js_runtime, js_runtime_path=config.ytdlp_js_runtime_path,
        remote_components=tuple(c.strip() for c in config.ytdlp_remote_components.split(",") if c.strip()))


def build_source_planner(config):
    local = LocalVideoSource(config.local_dataset_dir) if config.local_dataset_dir else None
    online = {}
    if config.online_videos_enabled:
        options = ytdlp_options(config)
        online = {platform: YtDlpVideoSource(platform, options) for platform in SEARCH_KEYS}
    log.info("video sources: %s", ", ".join((["local"] if local else []) + list(online)) or "none")

    def plan(platforms: list[str]) -> list:
        sources = []
        if local is not None:
            sources.append(local)
        sources += [online[p] for p in platforms if p in online]
        return sources

    return plan
