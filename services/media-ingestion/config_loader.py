"""Settings of media-ingestion: the shared ones (common_py.settings) plus its own, all from env."""

from pathlib import Path

from pydantic import AliasChoices, Field

from common_py.settings import CommonSettings


class MediaIngestionConfig(CommonSettings):
    http_port: int = Field(8102, validation_alias=AliasChoices("HTTP_PORT"))
    local_dataset_dir: Path | None = Field(
        None, description="a dataset in the SPEC §8 layout; the video source when no online one is configured")
    max_videos_per_job: int = Field(50, ge=0, description="videos ingested per job at most")
    keyframes_min: int = Field(3, ge=1)
    keyframes_max: int = Field(8, ge=1)


def load_config() -> MediaIngestionConfig:
    return MediaIngestionConfig()
