"""Settings of results-api: the shared ones (common_py.settings) plus its own, all from env."""

from pydantic import AliasChoices, Field

from common_py.settings import CommonSettings


class ResultsApiConfig(CommonSettings):
    http_port: int = Field(8080, validation_alias=AliasChoices("RESULTS_API_PORT", "HTTP_PORT"))


def load_config() -> ResultsApiConfig:
    return ResultsApiConfig()
