"""Settings of vision-keypoint: the shared ones, the vision ones (KP_METHODS, KP_MAX_FEATURES,
KP_TARGET_SIDE: libs/vision-common/vision_common/settings.py) and its own."""

from pydantic import AliasChoices, Field

from common_py.settings import CommonSettings
from vision_common.settings import VisionSettings


class VisionKeypointConfig(CommonSettings):
    http_port: int = Field(8105, validation_alias=AliasChoices("HTTP_PORT"))
    segment_watermark_s: float = Field(
        120.0, gt=0, description="an asset whose mask has not arrived this long after it was ready is processed raw")
    sweep_interval_s: float = Field(1.0, gt=0)
    batch_size: int = Field(8, ge=1, description="assets per worker batch")
    batch_window_s: float = Field(0.05, ge=0)
    consume_prefetch: int = Field(32, ge=1)
    vision: VisionSettings = Field(default_factory=VisionSettings)


def load_config() -> VisionKeypointConfig:
    return VisionKeypointConfig()
