"""Settings of media-ingestion: the shared ones (common_py.settings) plus its own, all from env."""

from pydantic import AliasChoices, Field

from common_py.settings import CommonSettings


class MediaIngestionConfig(CommonSettings):
    http_port: int = Field(8102, validation_alias=AliasChoices("HTTP_PORT"))


def load_config() -> MediaIngestionConfig:
    return MediaIngestionConfig()
