"""Settings of vector-index: the shared ones (common_py.settings) plus its own, all from env."""

from pydantic import AliasChoices, Field

from common_py.settings import CommonSettings


class VectorIndexConfig(CommonSettings):
    http_port: int = Field(8090, validation_alias=AliasChoices("VECTOR_INDEX_PORT", "HTTP_PORT"))


def load_config() -> VectorIndexConfig:
    return VectorIndexConfig()
