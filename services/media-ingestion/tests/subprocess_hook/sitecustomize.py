"""Loaded by Python at start-up when this folder is on PYTHONPATH: only the end-to-end test puts
it there, for the media-ingestion process it starts, together with PVM_YTDLP_REPLAY. Then yt-dlp's
YouTube/Bilibili extractors answer from that recording (see ../ytdlp_replay.py)."""

import os

if os.environ.get("PVM_YTDLP_REPLAY"):
    import ytdlp_replay

    ytdlp_replay.install_from_env()
