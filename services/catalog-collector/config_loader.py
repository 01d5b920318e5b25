"""Settings of catalog-collector: the shared ones (common_py.settings) plus its own, all from env."""

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from common_py.settings import CommonSettings


class CatalogCollectorConfig(CommonSettings):
    # `X=` (as in a copied .env.example) means unset: not "", and not Path(""), which is the cwd
    model_config = SettingsConfigDict(env_ignore_empty=True)  # merged into CommonSettings' config

    http_port: int = Field(8101, validation_alias=AliasChoices("HTTP_PORT"))
    local_dataset_dir: Path | None = Field(
        None, description="a dataset in the SPEC §8 layout; the product source when no online one is configured")
    image_max_side: int = Field(1024, ge=64, description="catalog images are downscaled to this longest side")
    images_per_product_max: int = Field(8, ge=1, description="gallery images kept per product")
    phash_dup_max_distance: int = Field(
        4, ge=0, le=64, description="gallery images within this perceptual-hash distance are one image")

    # eBay Browse API: runs when both credentials are set
    ebay_client_id: str | None = Field(None, description="eBay application (client) id")
    ebay_client_secret: SecretStr | None = Field(None, description="eBay application secret (cert id)")
    ebay_marketplace_id: str = Field("EBAY_US", description="X-EBAY-C-MARKETPLACE-ID, e.g. EBAY_US, EBAY_GB, EBAY_DE")
    ebay_api_base: str = Field("https://api.ebay.com", description="https://api.sandbox.ebay.com for the sandbox")
    ebay_page_size: int = Field(50, ge=1, le=200, description="items per search request (paged up to top_ebay)")

    # Amazon Creators API: runs when credential id, secret and partner tag are set
    amazon_credential_id: str | None = Field(None, description="Creators API credential id")
    amazon_credential_secret: SecretStr | None = Field(None, description="Creators API credential secret")
    amazon_credential_version: str = Field(
        "2.1", description="credential version from Associates Central: 2.1/3.1 NA, 2.2/3.2 EU, 2.3/3.3 FE")
    amazon_partner_tag: str | None = Field(None, description="associate tag, e.g. mystore-20")
    amazon_marketplace: str = Field("www.amazon.com", description="x-marketplace, e.g. www.amazon.co.uk")
    amazon_api_base: str = Field("https://creatorsapi.amazon")
    amazon_auth_url: str | None = Field(None, description="token endpoint; default: the one of the credential version")

    # every online request and image download (common_py.safe_http)
    download_max_bytes: int = Field(15 * 1024 * 1024, ge=1024, description="largest response or image accepted")
    download_connect_timeout_s: float = Field(5.0, gt=0)
    download_read_timeout_s: float = Field(15.0, gt=0, description="longest silence while reading a response")
    download_total_timeout_s: float = Field(60.0, gt=0, description="whole request, redirects included")
    download_max_redirects: int = Field(5, ge=0)
    download_allow_loopback: bool = Field(
        False, description="tests only: lets online sources reach a replay server on 127.0.0.1")

    @property
    def ebay_configured(self) -> bool:
        return bool(self.ebay_client_id and self.ebay_client_secret and self.ebay_client_secret.get_secret_value())

    @property
    def amazon_configured(self) -> bool:
        secret = self.amazon_credential_secret.get_secret_value() if self.amazon_credential_secret else ""
        return bool(self.amazon_credential_id and secret and self.amazon_partner_tag)


def load_config() -> CatalogCollectorConfig:
    return CatalogCollectorConfig()
