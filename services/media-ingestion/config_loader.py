"""Settings of media-ingestion: the shared ones (common_py.settings) plus its own, all from env."""

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, FilePath
from pydantic_settings import SettingsConfigDict

from common_py.settings import CommonSettings
from matching.settings import MatchSettings
from vision_common.keyframes import KeyframeSettings
from vision_common.settings import VisionSettings

_KS = KeyframeSettings()


class MediaIngestionConfig(CommonSettings):
    # `X=` (as in a copied .env.example) means unset: not "", and not Path(""), which is the cwd
    model_config = SettingsConfigDict(env_ignore_empty=True)  # merged into CommonSettings' config

    http_port: int = Field(8102, validation_alias=AliasChoices("HTTP_PORT"))
    local_dataset_dir: Path | None = Field(
        None, description="a dataset in the SPEC §8 layout; the video source when no online one is configured")
    max_videos_per_job: int = Field(50, ge=0, description="videos ingested per job at most")
    # keyframes (vision_common.keyframes): every shot represented, KEYFRAMES_MIN..KEYFRAMES_MAX for
    # a short clip, up to KEYFRAMES_PER_MINUTE per minute of a long video, KEYFRAMES_MAX_PER_VIDEO at most
    keyframes_min: int = Field(_KS.min_frames, ge=1)
    keyframes_max: int = Field(_KS.max_frames, ge=1, description="the budget of a short clip")
    keyframes_per_minute: float = Field(_KS.per_minute, gt=0, description="the budget of a long video, per minute")
    keyframes_max_per_video: int = Field(_KS.max_total, ge=1)
    video_decode_threads: int = Field(2, ge=1, description="FFmpeg decoder threads")
    # the first pass (services/first_pass.py; its threshold is FIRST_PASS_MIN_SIM, a matching setting)
    first_pass_wait_s: float = Field(
        600, ge=0, description="how long the first pass waits for the job's catalog embeddings before "
                               "letting every keyframe through")
    vision: VisionSettings = Field(default_factory=VisionSettings)
    matching: MatchSettings = Field(default_factory=MatchSettings)

    # YouTube and Bilibili through yt-dlp, for the platforms a job names
    video_online_sources: Literal["auto", "on", "off"] = Field(
        "auto", description="auto: on unless LOCAL_DATASET_DIR is set (the dataset then stands in for them)")
    video_max_per_platform: int = Field(10, ge=0, description="videos one platform contributes to a job")
    video_search_depth: int = Field(15, ge=1, description="search results looked at per query, before the filters")
    video_max_duration_s: float = Field(1200, gt=0, description="longer videos are skipped")
    video_max_filesize_mb: float = Field(300, gt=0, description="larger downloads are skipped or stopped")
    video_min_height: int = Field(480, ge=144, description="download the smallest format with at least this height")
    video_download_timeout_s: float = Field(600, gt=0, description="one video's download, wall clock")
    ytdlp_socket_timeout_s: float = Field(20, gt=0)
    # FilePath: a mistyped path fails at start-up (yt-dlp itself would silently go without cookies)
    ytdlp_cookies_file: FilePath | None = Field(None, description="Netscape cookies.txt (age gates, Bilibili HD)")
    ytdlp_js_runtime: str | None = Field(None, description="deno (yt-dlp's default), node, bun or quickjs")
    ytdlp_js_runtime_path: str | None = Field(None, description="the runtime's executable, if not on PATH")
    ytdlp_remote_components: str = Field("", description="comma list, e.g. ejs:github (yt-dlp's JS challenge solver)")

    def keyframe_settings(self) -> KeyframeSettings:
        return KeyframeSettings(min_frames=self.keyframes_min, max_frames=self.keyframes_max,
                                per_minute=self.keyframes_per_minute, max_total=self.keyframes_max_per_video,
                                threads=self.video_decode_threads)

    @property
    def online_videos_enabled(self) -> bool:
        if self.video_online_sources == "auto":
            return self.local_dataset_dir is None
        return self.video_online_sources == "on"


def load_config() -> MediaIngestionConfig:
    return MediaIngestionConfig()
