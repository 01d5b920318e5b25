"""Settings of vision-embedding: the shared ones, the vision ones (EMBED_MODEL, EMBED_BATCH_SIZE,
EMBED_DEVICE, CLIP_MODEL_PATH, DINOV2_MODEL_PATH...: libs/vision-common/vision_common/settings.py) and its own."""

from pydantic import AliasChoices, Field

from common_py.settings import CommonSettings
from vision_common.settings import VisionSettings


class VisionEmbeddingConfig(CommonSettings):
    http_port: int = Field(8104, validation_alias=AliasChoices("HTTP_PORT"))
    segment_watermark_s: float = Field(
        120.0, gt=0, description="an asset whose mask has not arrived this long after it was ready is embedded raw")
    sweep_interval_s: float = Field(1.0, gt=0)
    batch_window_s: float = Field(0.05, ge=0, description="how long to gather assets into one model batch")
    consume_prefetch: int = Field(32, ge=1)
    vision: VisionSettings = Field(default_factory=VisionSettings)


def load_config() -> VisionEmbeddingConfig:
    return VisionEmbeddingConfig()
