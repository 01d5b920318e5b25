"""Which product sources run: credentials present, the local dataset, and the job's caps."""

import pytest

from config_loader import CatalogCollectorConfig
from services.collector import CatalogCollector, SourcePlan
from services.source_plan import build_source_planner
from services.sources.base import ProductRecord

EBAY = {"ebay_client_id": "id", "ebay_client_secret": "secret"}
AMAZON = {"amazon_credential_id": "id", "amazon_credential_secret": "secret", "amazon_partner_tag": "pvm-20"}
NONE = {k: None for k in (*EBAY, *AMAZON)}  # whatever the environment holds, these tests say it all


@pytest.mark.parametrize("settings, expected", [
    ({}, []),
    ({"local": True}, [("local", {"amazon": 2, "ebay": 3, "local": 5})]),
    (EBAY, [("ebay", {"ebay": 3})]),
    ({**AMAZON, "amazon_partner_tag": None}, []),  # no partner tag: Amazon is not configured
    ({**EBAY, "ebay_client_secret": ""}, []),
    ({"local": True, **EBAY, **AMAZON}, [("local", {"amazon": 2, "ebay": 3, "local": 5}), ("ebay", {"ebay": 3}),
                                         ("amazon", {"amazon": 2})]),
])
def test_sources_by_configuration(tmp_path, settings, expected):
    settings = dict(settings)
    local = settings.pop("local", False)
    config = CatalogCollectorConfig(_env_file=None, local_dataset_dir=tmp_path if local else None,
                                    **{**NONE, **settings})
    assert [(p.source.name, p.caps) for p in build_source_planner(config)(2, 3)] == expected


class Fake:
    def __init__(self, name):
        self.name, self.asked = name, []

    async def search(self, industry, limit):
        self.asked.append(limit)
        return [ProductRecord(self.name, f"{self.name}-1")]


async def test_a_cap_of_zero_does_not_ask_the_source():
    ebay, amazon = Fake("ebay"), Fake("amazon")
    collector = CatalogCollector(None, None, lambda a, e: [SourcePlan(ebay, {"ebay": e}), SourcePlan(amazon, {"amazon": a})],
                                 max_side=256, per_product=4, dup_distance=4)
    found = await collector.gather("pillow", 0, 7)
    assert [r.item_id for _, r in found] == ["ebay-1"] and ebay.asked == [7] and amazon.asked == []


def test_empty_settings_mean_unset(monkeypatch):
    # a copied .env.example holds `EBAY_CLIENT_ID=` and the like: that configures nothing
    for key in ("LOCAL_DATASET_DIR", "EBAY_CLIENT_ID", "EBAY_CLIENT_SECRET", "AMAZON_CREDENTIAL_ID",
                "AMAZON_CREDENTIAL_SECRET", "AMAZON_PARTNER_TAG", "AMAZON_AUTH_URL"):
        monkeypatch.setenv(key, "")
    config = CatalogCollectorConfig(_env_file=None)
    assert config.local_dataset_dir is None and config.amazon_auth_url is None
    assert build_source_planner(config)(2, 3) == []
