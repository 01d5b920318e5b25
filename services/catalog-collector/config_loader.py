"""Settings of catalog-collector: the shared ones (common_py.settings) plus its own, all from env."""

from pathlib import Path

from pydantic import AliasChoices, Field

from common_py.settings import CommonSettings


class CatalogCollectorConfig(CommonSettings):
    http_port: int = Field(8101, validation_alias=AliasChoices("HTTP_PORT"))
    local_dataset_dir: Path | None = Field(
        None, description="a dataset in the SPEC §8 layout; the product source when no online one is configured")
    image_max_side: int = Field(1024, ge=64, description="catalog images are downscaled to this longest side")
    images_per_product_max: int = Field(8, ge=1, description="gallery images kept per product")
    phash_dup_max_distance: int = Field(
        4, ge=0, le=64, description="gallery images within this perceptual-hash distance are one image")


def load_config() -> CatalogCollectorConfig:
    return CatalogCollectorConfig()
