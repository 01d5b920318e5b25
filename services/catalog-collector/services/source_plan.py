"""Which product sources run for a job, decided by configuration and the job's caps.

- local: when LOCAL_DATASET_DIR is set (caps per SPEC §8);
- eBay: when its credentials are set (EBAY_CLIENT_ID, EBAY_CLIENT_SECRET);
- Amazon: when its credentials are set (AMAZON_CREDENTIAL_ID, AMAZON_CREDENTIAL_SECRET,
  AMAZON_PARTNER_TAG).
Each source applies the job's cap for its own label (top_ebay, top_amz; a cap of 0 means the
source is not asked); a source that fails is logged by the collector and the others still run.
"""

from __future__ import annotations

import logging

from common_py.safe_http import FetchPolicy, SafeHttp
from services.collector import SourcePlan
from services.sources.amazon import AmazonCreatorsSource
from services.sources.ebay import EbaySource
from services.sources.local import LocalProductSource

log = logging.getLogger("catalog-collector")


def build_http(config) -> SafeHttp:
    return SafeHttp(FetchPolicy(
        max_bytes=config.download_max_bytes, connect_timeout_s=config.download_connect_timeout_s,
        read_timeout_s=config.download_read_timeout_s, total_timeout_s=config.download_total_timeout_s,
        max_redirects=config.download_max_redirects, allow_loopback=config.download_allow_loopback))


def build_online_sources(config, http: SafeHttp) -> tuple[EbaySource | None, AmazonCreatorsSource | None]:
    ebay = amazon = None
    if config.ebay_configured:
        ebay = EbaySource(http, client_id=config.ebay_client_id,
                          client_secret=config.ebay_client_secret.get_secret_value(),
                          marketplace_id=config.ebay_marketplace_id, api_base=config.ebay_api_base,
                          page_size=config.ebay_page_size)
    if config.amazon_configured:
        amazon = AmazonCreatorsSource(
            http, credential_id=config.amazon_credential_id,
            credential_secret=config.amazon_credential_secret.get_secret_value(),
            version=config.amazon_credential_version, partner_tag=config.amazon_partner_tag,
            marketplace=config.amazon_marketplace, api_base=config.amazon_api_base,
            auth_url=config.amazon_auth_url)
    return ebay, amazon


def build_source_planner(config, http: SafeHttp | None = None):
    local = LocalProductSource(config.local_dataset_dir) if config.local_dataset_dir else None
    ebay, amazon = build_online_sources(config, http or build_http(config))
    log.info("product sources: %s", ", ".join(
        name for name, src in (("local", local), ("ebay", ebay), ("amazon", amazon)) if src) or "none")

    def plan(top_amz: int, top_ebay: int) -> list[SourcePlan]:
        plans = []
        if local is not None:
            # SPEC §8: amazon/ebay-labelled entries keep their caps; `local` ones share the sum
            plans.append(SourcePlan(local, {"amazon": top_amz, "ebay": top_ebay, "local": top_amz + top_ebay}))
        if ebay is not None:
            plans.append(SourcePlan(ebay, {"ebay": top_ebay}))
        if amazon is not None:
            plans.append(SourcePlan(amazon, {"amazon": top_amz}))
        return plans

    return plan
