"""Settings of product-segmentor: the shared ones, the vision ones (SEGMENTER, SEG_*, MODELS_DIR:
see libs/vision-common/vision_common/settings.py) and its own, all from env."""

from pydantic import AliasChoices, Field

from common_py.settings import CommonSettings
from vision_common.settings import VisionSettings


class ProductSegmentorConfig(CommonSettings):
    http_port: int = Field(8103, validation_alias=AliasChoices("HTTP_PORT"))
    segment_prefetch: int = Field(4, ge=1, description="messages in flight (inference itself runs one at a time)")
    vision: VisionSettings = Field(default_factory=VisionSettings)


def load_config() -> ProductSegmentorConfig:
    return ProductSegmentorConfig()
