"""Settings of results-api: the shared ones (common_py.settings), API access (keys, CORS) and its
own, all from env."""

from pydantic import AliasChoices, Field

from common_py.api_access import ApiAccessSettings


class ResultsApiConfig(ApiAccessSettings):
    http_port: int = Field(8080, validation_alias=AliasChoices("RESULTS_API_PORT", "HTTP_PORT"))
    results_cache_ttl_s: float = Field(
        5.0, ge=0, description="how long a GET /results answer is served from Redis; 0 turns the cache off")
    results_cache_prefix: str = Field("results-api:", description="prefix of every Redis key this service writes")
    redis_timeout_s: float = Field(
        0.25, gt=0, description="connect/read timeout of a Redis call: a cache must fail fast, not slow the API")
    redis_retry_s: float = Field(
        5.0, ge=0, description="after a Redis error, answer from Postgres alone for this long before trying again")
    orchestrator_url: str = Field(
        "http://127.0.0.1:8000", description="where the web UI's job calls (/orchestrator/...) are forwarded")
    orchestrator_timeout_s: float = Field(10.0, gt=0, description="time limit of one forwarded call")


def load_config() -> ResultsApiConfig:
    return ResultsApiConfig()
