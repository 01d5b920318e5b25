"""Settings of the orchestrator: the shared ones (common_py.settings) plus its own, all from env."""

import os
from pathlib import Path

from pydantic import AliasChoices, Field

from common_py.api_access import ApiAccessSettings


class OrchestratorConfig(ApiAccessSettings):
    http_port: int = Field(8000, validation_alias=AliasChoices("ORCHESTRATOR_PORT", "HTTP_PORT"))
    http_host: str = Field("127.0.0.1", validation_alias=AliasChoices("ORCHESTRATOR_HOST", "HTTP_HOST"))
    retrieval_topk: int = Field(20, ge=1, le=1000, description="top_k sent with match.request (SPEC §6)")
    # A phase older than this fails the job with a reason (SPEC §4 `failed`).
    phase_timeout_collection_s: float = Field(1800, gt=0)
    phase_timeout_feature_extraction_s: float = Field(3600, gt=0)
    phase_timeout_matching_s: float = Field(3600, gt=0)
    phase_timeout_evidence_s: float = Field(1800, gt=0)
    timeout_check_interval_s: float = Field(10, gt=0)
    kickoff_retries: int = Field(3, ge=0, description="Prefect retries of the kickoff task")

    def phase_timeouts(self) -> dict[str, float]:
        return {
            "collection": self.phase_timeout_collection_s,
            "feature_extraction": self.phase_timeout_feature_extraction_s,
            "matching": self.phase_timeout_matching_s,
            "evidence": self.phase_timeout_evidence_s,
        }


def configure_prefect(config: OrchestratorConfig) -> None:
    """Prefect reads its settings from the environment at first use: set them before importing it.
    With no PREFECT_API_URL, flows run against a temporary in-process API (no Prefect server)."""
    os.environ.setdefault("PREFECT_HOME", str((config.data_root / "prefect").resolve()))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")
    # Prefect's records go through our JSON logs, not a console handler of its own
    os.environ.setdefault("PREFECT_LOGGING_SETTINGS_PATH", str(Path(__file__).with_name("prefect-logging.yml")))


def load_config() -> OrchestratorConfig:
    config = OrchestratorConfig()
    configure_prefect(config)
    return config
