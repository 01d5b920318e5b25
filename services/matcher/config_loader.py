"""Settings of the matcher: the shared ones, the matching ones (RETRIEVAL_TOPK, SIM_DEEP_MIN,
INLIERS_MIN, MATCH_BEST_MIN, MATCH_CONS_MIN, MATCH_ACCEPT and the rest: see
libs/matching/matching/settings.py) and its own."""

from pydantic import AliasChoices, Field

from common_py.settings import CommonSettings
from matching.settings import MatchSettings


class MatcherConfig(CommonSettings):
    http_port: int = Field(8106, validation_alias=AliasChoices("HTTP_PORT"))
    vector_index_url: str = Field("http://127.0.0.1:8090", description="where vector-index answers /search/frames")
    vector_index_timeout_s: float = Field(30.0, gt=0)
    match_workers: int = Field(2, ge=1, description="keyframes verified in parallel (threads; OpenCV releases the GIL)")
    matching: MatchSettings = Field(default_factory=MatchSettings)


def load_config() -> MatcherConfig:
    return MatcherConfig()
