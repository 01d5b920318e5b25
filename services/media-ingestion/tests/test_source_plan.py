"""Which video sources run: configuration (local dataset, VIDEO_ONLINE_SOURCES) and the job's platforms."""

import pytest
from pydantic import ValidationError

from config_loader import MediaIngestionConfig
from services.source_plan import build_source_planner


def names(config, platforms):
    return [s.name for s in build_source_planner(config)(platforms)]


@pytest.mark.parametrize("dataset, switch, platforms, expected", [
    (False, "auto", ["youtube", "bilibili"], ["youtube", "bilibili"]),  # nothing local: online
    (True, "auto", ["youtube", "bilibili"], ["local"]),                 # the dataset stands in
    (True, "on", ["bilibili"], ["local", "bilibili"]),
    (False, "on", ["youtube"], ["youtube"]),                            # only what the job names
    (False, "off", ["youtube", "bilibili"], []),                        # the job then fails: no source
    (True, "off", ["local"], ["local"]),
])
def test_sources_by_config_and_platforms(tmp_path, dataset, switch, platforms, expected):
    config = MediaIngestionConfig(_env_file=None, local_dataset_dir=tmp_path if dataset else None,
                                  video_online_sources=switch)
    assert names(config, platforms) == expected


def test_settings_reach_the_yt_dlp_options(tmp_path):
    (tmp_path / "c.txt").write_text("# Netscape HTTP Cookie File\n")
    config = MediaIngestionConfig(video_online_sources="on", video_max_filesize_mb=2, video_min_height=720,
                                  ytdlp_remote_components="ejs:github, ejs:npm", ytdlp_cookies_file=tmp_path / "c.txt")
    youtube = build_source_planner(config)(["youtube"])[0]
    o = youtube.options
    assert (o.max_filesize, o.min_height, o.remote_components, o.cookies_file) == (
        2 * 1024 * 1024, 720, ("ejs:github", "ejs:npm"), tmp_path / "c.txt")
    assert youtube._params()["format"].startswith("bv*[height>=720]")


def test_empty_settings_mean_unset(monkeypatch):
    monkeypatch.setenv("LOCAL_DATASET_DIR", "")
    monkeypatch.setenv("YTDLP_COOKIES_FILE", "")
    config = MediaIngestionConfig(_env_file=None)
    assert config.local_dataset_dir is None and config.ytdlp_cookies_file is None  # not Path("") == the cwd
    assert config.online_videos_enabled


def test_a_cookies_file_that_is_not_there_stops_the_service_at_start(tmp_path):
    with pytest.raises(ValidationError, match="ytdlp_cookies_file"):
        MediaIngestionConfig(_env_file=None, ytdlp_cookies_file=tmp_path / "missing.txt")
