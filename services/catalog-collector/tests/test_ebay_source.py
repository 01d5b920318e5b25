"""EbaySource against recorded Browse API answers, replayed over HTTP on 127.0.0.1."""

import base64

import pytest

from common_py.safe_http import FetchPolicy, SafeHttp
from replay import Replay, Reply
from services.sources.base import SourceError
from services.sources.ebay import SCOPE, EbaySource
from services.sources.oauth import TokenCache

SEARCH = "/buy/browse/v1/item_summary/search"
TOKEN = "/identity/v1/oauth2/token"
CLIENT_ID, CLIENT_SECRET = "PVMTest-matcher-PRD-5a1b2c3d4-0e9f8a7b", "PRD-5a1b2c3d4e5f-6a7b-8c9d-0e1f-2a3b"


@pytest.fixture
def replay():
    r = Replay()
    r.route("POST", TOKEN, r.fixture("ebay/token.json"))
    r.route("GET", SEARCH, r.fixture("ebay/search_offset0.json"), when={"offset": 0})
    r.route("GET", SEARCH, r.fixture("ebay/search_offset2.json"), when={"offset": 2})
    r.route("GET", SEARCH, r.fixture("ebay/search_offset4_last.json"), when={"offset": 4})
    yield r
    r.close()


@pytest.fixture
async def http():
    client = SafeHttp(FetchPolicy(max_bytes=50_000, read_timeout_s=0.4, total_timeout_s=3, allow_loopback=True))
    yield client
    await client.aclose()


def source(http, replay, **kw) -> EbaySource:
    return EbaySource(http, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, api_base=replay.base,
                      page_size=2, **kw)


def searches(replay):
    return [(s.query["limit"], s.query["offset"]) for s in replay.requests("GET", SEARCH)]


async def test_pages_until_the_cap_with_one_cached_token(http, replay):
    ebay = source(http, replay, marketplace_id="EBAY_GB")
    got = await ebay.search("ergonomic pillow", 3)
    assert [r.item_id for r in got] == ["v1|315500000001|0", "v1|315500000002|0", "v1|315500000003|0"]
    assert searches(replay) == [("2", "0"), ("1", "2")]  # the second page asks only for what is missing

    first = got[0]
    assert (first.src, first.price, first.currency) == ("ebay", 34.99, "USD")
    assert first.url == "https://www.ebay.com/itm/315500000001?hash=item4975a1b2c3:g:pA1AAOSwAbCdEfGh"
    assert first.images == [f"{replay.base}/images/g/pA1/s-l225.jpg"] and first.needs_details  # no additionalImages
    assert len(got[1].images) == 4 and not got[1].needs_details

    token_calls = replay.requests("POST", TOKEN)
    assert len(token_calls) == 1
    assert token_calls[0].headers["authorization"] == "Basic " + base64.b64encode(
        f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert token_calls[0].form() == {"grant_type": "client_credentials", "scope": SCOPE}
    call = replay.requests("GET", SEARCH)[0]
    token = replay.fixture("ebay/token.json")["access_token"]
    assert call.headers["authorization"] == f"Bearer {token}"
    assert call.headers["x-ebay-c-marketplace-id"] == "EBAY_GB" and call.query["q"] == "ergonomic pillow"

    await ebay.search("ergonomic pillow", 1)  # the token is reused, not asked for again
    assert len(replay.requests("POST", TOKEN)) == 1


async def test_stops_at_the_last_page(http, replay):
    got = await source(http, replay).search("ergonomic pillow", 10)
    assert len(got) == 5 and got[-1].item_id == "v1|315500000005|0"
    assert searches(replay) == [("2", "0"), ("2", "2"), ("2", "4")]


async def test_no_match_is_an_empty_result(http, replay):
    replay.route("GET", SEARCH, replay.fixture("ebay/search_empty.json"), when={"q": "zzqx nonexistent gadget"})
    assert await source(http, replay).search("zzqx nonexistent gadget", 10) == []
    assert len(replay.requests("GET", SEARCH)) == 1


async def test_a_token_about_to_expire_is_renewed(http, replay):
    short = {**replay.fixture("ebay/token.json"), "expires_in": 30}  # inside the renewal margin
    replay.route("POST", TOKEN, short)
    ebay = source(http, replay)
    await ebay.search("ergonomic pillow", 1)
    await ebay.search("ergonomic pillow", 1)
    assert len(replay.requests("POST", TOKEN)) == 2


async def test_a_revoked_token_is_renewed_once(http, replay):
    replay.route("POST", TOKEN, {"access_token": "first", "expires_in": 7200}, {"access_token": "second", "expires_in": 7200})
    replay.route("GET", SEARCH, Reply(401, replay.fixture("ebay/error_invalid_token.json")),
                 replay.fixture("ebay/search_offset0.json"))
    got = await source(http, replay).search("ergonomic pillow", 2)
    assert len(got) == 2
    assert [s.headers["authorization"] for s in replay.requests("GET", SEARCH)] == ["Bearer first", "Bearer second"]


async def test_a_second_401_is_an_error_not_a_loop(http, replay):
    replay.route("GET", SEARCH, Reply(401, replay.fixture("ebay/error_invalid_token.json")))
    with pytest.raises(SourceError, match="HTTP 401"):
        await source(http, replay).search("ergonomic pillow", 2)
    assert len(replay.requests("GET", SEARCH)) == 2 and len(replay.requests("POST", TOKEN)) == 2


async def test_bad_credentials_fail_the_source_before_any_search(http, replay):
    replay.route("POST", TOKEN, Reply(401, {"error": "invalid_client",
                                            "error_description": "client authentication failed"}))
    with pytest.raises(SourceError, match="HTTP 401"):
        await source(http, replay).search("ergonomic pillow", 2)
    assert replay.requests("GET", SEARCH) == []


@pytest.mark.parametrize("status", [400, 500, 503])
async def test_http_errors_fail_the_source(http, replay, status):
    replay.route("GET", SEARCH, Reply(status, replay.fixture("ebay/error_system.json")))
    with pytest.raises(SourceError, match=f"HTTP {status}"):
        await source(http, replay).search("ergonomic pillow", 2)


async def test_a_timeout_fails_the_source(http, replay):
    replay.route("GET", SEARCH, Reply(body=replay.fixture("ebay/search_offset0.json"), delay_s=1.0))
    with pytest.raises(SourceError, match="Timeout"):
        await source(http, replay).search("ergonomic pillow", 2)


async def test_details_complete_a_summary_with_the_gallery_and_brand(http, replay):
    replay.route("GET", "/buy/browse/v1/item/v1%7C315500000001%7C0", replay.fixture("ebay/item_315500000001.json"))
    ebay = source(http, replay)
    summary = (await ebay.search("ergonomic pillow", 1))[0]
    full = await ebay.details(summary)
    assert full.brand == "Sleepwell" and not full.needs_details
    assert full.images == [f"{replay.base}/images/g/{p}/s-l1600.jpg" for p in ("pA1", "pA1-again", "pA2")]
    assert (full.title, full.price, full.item_id) == (summary.title, 34.99, "v1|315500000001|0")


async def test_details_that_fail_keep_the_summary(http, replay):
    replay.route("GET", "/buy/browse/v1/item/v1%7C315500000003%7C0",
                 Reply(404, replay.fixture("ebay/error_item_not_found.json")))
    ebay = source(http, replay)
    summary = (await ebay.search("ergonomic pillow", 3))[2]
    kept = await ebay.details(summary)
    assert kept.images == summary.images and not kept.needs_details


async def test_image_fetches_are_capped_and_checked(http, replay):
    replay.route("GET", "/img/ok.jpg", b"\xff\xd8" + b"j" * 1000)
    replay.route("GET", "/img/huge.jpg", b"\xff\xd8" + b"j" * 60_000)
    replay.route("GET", "/img/internal.jpg", Reply(302, headers={"Location": "http://192.168.1.20/admin.jpg"}))
    replay.route("GET", "/img/gone.jpg", Reply(404))
    ebay = source(http, replay)
    assert len(await ebay.fetch_image(f"{replay.base}/img/ok.jpg")) == 1002
    for name, why in (("huge", "cap"), ("internal", "private"), ("gone", "HTTP 404")):
        with pytest.raises(SourceError, match=why):
            await ebay.fetch_image(f"{replay.base}/img/{name}.jpg")


async def test_token_cache_renews_only_near_expiry():
    now = [1000.0]
    issued = []

    async def fetch():
        issued.append(f"t{len(issued)}")
        return issued[-1], 600

    cache = TokenCache(fetch, margin_s=60, clock=lambda: now[0])
    assert await cache.get() == "t0"
    now[0] += 539
    assert await cache.get() == "t0"
    now[0] += 2  # 59 s left: inside the margin
    assert await cache.get() == "t1"
    cache.invalidate("t0")  # a stale 401 does not throw away the newer token
    assert await cache.get() == "t1"
    cache.invalidate("t1")
    assert await cache.get() == "t2"
