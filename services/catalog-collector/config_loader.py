"""Settings of catalog-collector: the shared ones (common_py.settings) plus its own, all from env."""

from pydantic import AliasChoices, Field

from common_py.settings import CommonSettings


class CatalogCollectorConfig(CommonSettings):
    http_port: int = Field(8101, validation_alias=AliasChoices("HTTP_PORT"))


def load_config() -> CatalogCollectorConfig:
    return CatalogCollectorConfig()
