"""Settings of evidence-builder: the shared ones (common_py.settings) plus its own, all from env."""

from pydantic import AliasChoices, Field

from common_py.settings import CommonSettings


class EvidenceBuilderConfig(CommonSettings):
    http_port: int = Field(8107, validation_alias=AliasChoices("HTTP_PORT"))


def load_config() -> EvidenceBuilderConfig:
    return EvidenceBuilderConfig()
