"""AmazonCreatorsSource against recorded Creators API answers, replayed over HTTP on 127.0.0.1."""

import copy

import pytest

from common_py.safe_http import FetchPolicy, SafeHttp
from replay import Replay, Reply
from services.sources.amazon import RESOURCES, AmazonCreatorsSource
from services.sources.base import SourceError

SEARCH = "/catalog/v1/searchItems"
AUTH = "/oauth2/token"


@pytest.fixture
def replay():
    r = Replay()
    r.route("POST", AUTH, r.fixture("amazon/token.json"))
    r.route("POST", SEARCH, r.fixture("amazon/search_page1.json"))
    yield r
    r.close()


@pytest.fixture
async def http():
    client = SafeHttp(FetchPolicy(read_timeout_s=0.4, total_timeout_s=3, allow_loopback=True))
    yield client
    await client.aclose()


def source(http, replay, version="2.1", **kw) -> AmazonCreatorsSource:
    return AmazonCreatorsSource(http, credential_id="7qamicredential", credential_secret="s3cr3t-from-associates",
                                version=version, partner_tag="pvm-20", api_base=replay.base,
                                auth_url=f"{replay.base}{AUTH}", **kw)


async def test_cognito_credentials_search_and_parse(http, replay):
    got = await source(http, replay, marketplace="www.amazon.co.uk").search("ergonomic pillow", 2)

    token_call = replay.requests("POST", AUTH)[0]
    assert token_call.form() == {"grant_type": "client_credentials", "client_id": "7qamicredential",
                                 "client_secret": "s3cr3t-from-associates", "scope": "creatorsapi/default"}
    call = replay.requests("POST", SEARCH)[0]
    token = replay.fixture("amazon/token.json")["access_token"]
    assert call.headers["authorization"] == f"Bearer {token}, Version 2.1"
    assert call.headers["x-marketplace"] == "www.amazon.co.uk"
    assert call.json() == {"partnerTag": "pvm-20", "keywords": "ergonomic pillow", "itemCount": 2, "itemPage": 1,
                           "resources": RESOURCES}

    first, second = got
    assert (first.src, first.item_id, first.brand, first.price, first.currency) == (
        "amazon", "B0CX4PILLW", "Cloudrest", 39.99, "USD")
    assert first.title.startswith("Cloudrest Ergonomic Cervical Pillow")
    assert first.url.startswith("https://www.amazon.com/dp/B0CX4PILLW")
    assert first.images == [f"{replay.base}/images/I/{n}._SL500_.jpg"
                            for n in ("71pillowA1", "71pillowA2", "71pillowA3-huge")]
    assert (second.brand, second.price, len(second.images)) == (None, None, 1)  # resources it lacks stay empty


async def test_login_with_amazon_credentials(http, replay):
    await source(http, replay, version="3.1").search("ergonomic pillow", 2)
    assert replay.requests("POST", AUTH)[0].json()["scope"] == "creatorsapi::default"
    token = replay.fixture("amazon/token.json")["access_token"]
    assert replay.requests("POST", SEARCH)[0].headers["authorization"] == f"Bearer {token}"


async def test_pages_keep_their_size_and_stop_at_the_cap(http, replay):
    template = replay.fixture("amazon/search_page1.json")["searchResult"]["items"][0]

    def page(first: int) -> dict:
        items = []
        for n in range(first, first + 10):
            item = copy.deepcopy(template)
            item["asin"] = f"B0TEST{n:04d}"
            items.append(item)
        return {"searchResult": {"items": items, "totalResultCount": 340}}

    replay.route("POST", SEARCH, page(0), page(10), page(20))
    got = await source(http, replay).search("ergonomic pillow", 12)
    assert [r.item_id for r in got] == [f"B0TEST{n:04d}" for n in range(12)]
    assert [(c.json()["itemPage"], c.json()["itemCount"]) for c in replay.requests("POST", SEARCH)] == [(1, 10), (2, 10)]
    assert len(replay.requests("POST", AUTH)) == 1


async def test_no_results_is_an_empty_list(http, replay):
    replay.route("POST", SEARCH, Reply(404, replay.fixture("amazon/error_no_results.json")))
    assert await source(http, replay).search("zzqx nonexistent gadget", 5) == []


async def test_a_rejected_token_is_renewed_once(http, replay):
    replay.route("POST", AUTH, {"access_token": "one", "expires_in": 3600}, {"access_token": "two", "expires_in": 3600})
    replay.route("POST", SEARCH, Reply(401, replay.fixture("amazon/error_unauthorized.json")),
                 replay.fixture("amazon/search_page1.json"))
    got = await source(http, replay).search("ergonomic pillow", 2)
    assert len(got) == 2
    assert [c.headers["authorization"] for c in replay.requests("POST", SEARCH)] == [
        "Bearer one, Version 2.1", "Bearer two, Version 2.1"]


@pytest.mark.parametrize("reply, why", [
    (Reply(429, {"errors": [{"code": "TooManyRequests"}]}), "HTTP 429"),
    (Reply(503, "<html>Service Unavailable</html>"), "HTTP 503"),
    (Reply(body={"searchResult": {}}, delay_s=1.0), "Timeout"),
])
async def test_failures_fail_the_source(http, replay, reply, why):
    replay.route("POST", SEARCH, reply)
    with pytest.raises(SourceError, match=why):
        await source(http, replay).search("ergonomic pillow", 2)


def test_an_unknown_credential_version_needs_its_token_endpoint(http):
    with pytest.raises(ValueError, match="AMAZON_AUTH_URL"):
        AmazonCreatorsSource(http, credential_id="a", credential_secret="b", version="4.1", partner_tag="t")
    known = AmazonCreatorsSource(http, credential_id="a", credential_secret="b", version="2.2", partner_tag="t")
    assert known.auth_url == "https://creatorsapi.auth.eu-south-2.amazoncognito.com/oauth2/token"
