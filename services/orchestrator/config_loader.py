"""Settings of orchestrator: the shared ones (common_py.settings) plus its own, all from env."""

from pydantic import AliasChoices, Field

from common_py.settings import CommonSettings


class OrchestratorConfig(CommonSettings):
    http_port: int = Field(8000, validation_alias=AliasChoices("ORCHESTRATOR_PORT", "HTTP_PORT"))


def load_config() -> OrchestratorConfig:
    return OrchestratorConfig()
