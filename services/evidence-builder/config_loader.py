"""Settings of evidence-builder: the shared ones, the matching ones (the verifier's settings, so
the drawn inliers are the ones the matcher counted) and its own."""

from pydantic import AliasChoices, Field

from common_py.settings import CommonSettings
from matching.settings import MatchSettings


class EvidenceBuilderConfig(CommonSettings):
    http_port: int = Field(8107, validation_alias=AliasChoices("HTTP_PORT"))
    consume_prefetch: int = Field(4, ge=1)
    matching: MatchSettings = Field(default_factory=MatchSettings)


def load_config() -> EvidenceBuilderConfig:
    return EvidenceBuilderConfig()
