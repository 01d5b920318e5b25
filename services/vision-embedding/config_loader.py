"""Settings of vision-embedding: the shared ones (common_py.settings) plus its own, all from env."""

from pydantic import AliasChoices, Field

from common_py.settings import CommonSettings


class VisionEmbeddingConfig(CommonSettings):
    http_port: int = Field(8104, validation_alias=AliasChoices("HTTP_PORT"))


def load_config() -> VisionEmbeddingConfig:
    return VisionEmbeddingConfig()
