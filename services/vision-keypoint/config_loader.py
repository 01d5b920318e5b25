"""Settings of vision-keypoint: the shared ones (common_py.settings) plus its own, all from env."""

from pydantic import AliasChoices, Field

from common_py.settings import CommonSettings


class VisionKeypointConfig(CommonSettings):
    http_port: int = Field(8105, validation_alias=AliasChoices("HTTP_PORT"))


def load_config() -> VisionKeypointConfig:
    return VisionKeypointConfig()
