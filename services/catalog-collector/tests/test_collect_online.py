"""catalog-collector as a real process with eBay and Amazon pointed at a replay server: recorded
API answers, images the test makes, every failure kind an item can have, and a second job that
downloads nothing."""

import io
import json
import os
import random

import pytest
from PIL import Image, ImageDraw

from common_py.testing import create_job
from replay import Replay, Reply

KEYS = ["products.image.ready", "products.images.ready.batch", "products.collections.completed", "job.failed"]
EBAY_SEARCH, AMAZON_SEARCH = "/buy/browse/v1/item_summary/search", "/catalog/v1/searchItems"


def photo(seed: int, size=(400, 300), quality=90) -> bytes:
    """A product-like picture of its own: blocks and a disc, placed by the seed."""
    rng = random.Random(seed)
    im = Image.new("RGB", (400, 300), tuple(rng.randrange(160, 256) for _ in range(3)))
    d = ImageDraw.Draw(im)
    for _ in range(6):
        x, y = rng.randrange(0, 330), rng.randrange(0, 230)
        d.rectangle((x, y, x + rng.randrange(30, 70), y + rng.randrange(30, 70)),
                    fill=tuple(rng.randrange(0, 200) for _ in range(3)))
    d.ellipse((150, 90, 250, 190), fill=tuple(rng.randrange(0, 256) for _ in range(3)))
    out = io.BytesIO()
    im.resize(size).save(out, "JPEG", quality=quality)
    return out.getvalue()


@pytest.fixture
def replay():
    r = Replay()
    r.route("POST", "/identity/v1/oauth2/token", r.fixture("ebay/token.json"))
    r.route("GET", EBAY_SEARCH, r.fixture("ebay/search_offset0.json"), when={"offset": 0})
    r.route("GET", EBAY_SEARCH, r.fixture("ebay/search_offset2.json"), when={"offset": 2})
    r.route("GET", "/buy/browse/v1/item/v1%7C315500000001%7C0", r.fixture("ebay/item_315500000001.json"))
    r.route("GET", "/buy/browse/v1/item/v1%7C315500000003%7C0", Reply(404, r.fixture("ebay/error_item_not_found.json")))
    r.route("POST", "/auth/o2/token", r.fixture("amazon/token.json"))
    r.route("POST", AMAZON_SEARCH, r.fixture("amazon/search_page1.json"))
    images = {
        "/images/g/pA1/s-l1600.jpg": photo(1),
        "/images/g/pA1-again/s-l1600.jpg": photo(1, size=(320, 240), quality=60),  # the same picture again
        "/images/g/pA2/s-l1600.jpg": photo(2),
        "/images/g/pB1/s-l1600.jpg": photo(3),
        "/images/g/pB2/s-l1600.jpg": photo(4),
        "/images/g/pB3-corrupt/s-l1600.jpg": b"\xff\xd8\xff\xe0 truncated, not a picture",
        "/images/g/pB4-internal/s-l1600.jpg": Reply(302, headers={"Location": "http://10.20.30.40/cdn/pB4.jpg"}),
        "/images/g/pC1/s-l1600.jpg": photo(5),
        "/images/I/71pillowA1._SL500_.jpg": photo(6),
        "/images/I/71pillowA2._SL500_.jpg": photo(7),
        "/images/I/71pillowA3-huge._SL500_.jpg": b"\xff\xd8" + os.urandom(400_000),
        "/images/I/81neckB1._SL500_.jpg": photo(8),
    }
    for path, body in images.items():
        r.route("GET", path, body if isinstance(body, Reply) else Reply(body=body, headers={"Content-Type": "image/jpeg"}))
    yield r
    r.close()


def online_env(replay: Replay) -> dict[str, str]:
    return {
        "EBAY_CLIENT_ID": "PVMTest-matcher-PRD-5a1b2c3d4-0e9f8a7b", "EBAY_CLIENT_SECRET": "PRD-5a1b2c3d4e5f",
        "EBAY_API_BASE": replay.base, "EBAY_PAGE_SIZE": "2",
        "AMAZON_CREDENTIAL_ID": "7qamicredential", "AMAZON_CREDENTIAL_SECRET": "s3cr3t", "AMAZON_PARTNER_TAG": "pvm-20",
        "AMAZON_CREDENTIAL_VERSION": "3.1", "AMAZON_AUTH_URL": f"{replay.base}/auth/o2/token",
        "AMAZON_API_BASE": replay.base,
        "DOWNLOAD_ALLOW_LOOPBACK": "true", "DOWNLOAD_MAX_BYTES": "300000", "DOWNLOAD_READ_TIMEOUT_S": "2",
        "IMAGE_MAX_SIDE": "256",
    }


async def test_online_products_arrive_as_events_and_rows_and_a_second_job_downloads_nothing(
        start_service, event_sink, bus_settings, db_pool, replay):
    sink = await event_sink(KEYS)
    proc = start_service("catalog-collector", **online_env(replay))
    job1 = await create_job(db_pool, "ergonomic pillow")
    await sink.bus.publish("products.collect.request", {"job_id": job1, "industry": "ergonomic pillow",
                                                        "top_amz": 2, "top_ebay": 3})
    await sink.wait_for("products.collections.completed", job1)
    # the count and the per-image events come on queues of their own: they may lag the completion
    total = (await sink.wait_for("products.images.ready.batch", job1))[0]["total_images"]
    ready = await sink.wait_for("products.image.ready", job1, count=total)
    per_product = {}
    for r in ready:
        per_product[r["product_id"]] = per_product.get(r["product_id"], 0) + 1
    assert per_product == {
        "ebay-v1-315500000001-0": 2,  # getItem gallery: pA1 + pA2 (the re-encoded copy of pA1 dropped)
        "ebay-v1-315500000002-0": 2,  # pB1 + pB2 (corrupt pB3 and pB4's redirect to 10.x skipped)
        "ebay-v1-315500000003-0": 1,  # getItem 404: the summary image
        "amz-B0CX4PILLW": 2,          # A1 + A2 (A3 over the size cap)
        "amz-B0D7NECK22": 1,
    }
    assert total == len(ready) == 8
    assert [(s.query["limit"], s.query["offset"]) for s in replay.requests("GET", EBAY_SEARCH)] == [("2", "0"), ("1", "2")]
    assert not any("10.20.30.40" in s.path for s in replay.seen)
    for r in ready:
        with Image.open(bus_settings.data_root / r["local_path"]) as im:
            assert im.format == "JPEG" and max(im.size) == 256

    rows = {r["product_id"]: r for r in await db_pool.fetch(
        "SELECT p.product_id, p.src, p.asin_or_itemid, p.brand, p.price, p.currency, p.url FROM products p "
        "JOIN job_products j USING (product_id) WHERE j.job_id = $1", job1)}
    assert set(rows) == set(per_product)
    a = rows["ebay-v1-315500000001-0"]
    assert (a["src"], a["asin_or_itemid"], a["brand"], float(a["price"]), a["currency"]) == (
        "ebay", "v1|315500000001|0", "Sleepwell", 34.99, "USD")
    assert rows["amz-B0CX4PILLW"]["brand"] == "Cloudrest" and rows["amz-B0CX4PILLW"]["url"].startswith(
        "https://www.amazon.com/dp/B0CX4PILLW")
    sources = await db_pool.fetch("SELECT source_url FROM product_images WHERE product_id = 'amz-B0CX4PILLW'")
    assert {s["source_url"] for s in sources} == {f"{replay.base}/images/I/71pillowA{i}._SL500_.jpg" for i in (1, 2)}

    # second job: Amazon is down now; eBay's products were all collected before
    mtimes = {r["image_id"]: os.stat(bus_settings.data_root / r["local_path"]).st_mtime_ns for r in ready}
    replay.seen.clear()
    replay.route("POST", AMAZON_SEARCH, Reply(503, "<html><body>Service Unavailable</body></html>"))
    job2 = await create_job(db_pool, "ergonomic pillow")
    await sink.bus.publish("products.collect.request", {"job_id": job2, "industry": "ergonomic pillow",
                                                        "top_amz": 2, "top_ebay": 3})
    await sink.wait_for("products.collections.completed", job2)
    total2 = (await sink.wait_for("products.images.ready.batch", job2))[0]["total_images"]
    ready2 = await sink.wait_for("products.image.ready", job2, count=total2)
    assert {r["image_id"] for r in ready2} == {r["image_id"] for r in ready if r["product_id"].startswith("ebay-")}
    assert all(os.stat(bus_settings.data_root / r["local_path"]).st_mtime_ns == mtimes[r["image_id"]] for r in ready2)
    downloads = [s.path for s in replay.seen if s.path.startswith(("/images/", "/buy/browse/v1/item/"))]
    assert downloads == []  # no image and no getItem: only the searches
    assert {s.path for s in replay.seen} == {EBAY_SEARCH, AMAZON_SEARCH}  # the eBay token was cached
    assert not sink.for_job("job.failed", job2)
    logs = [json.loads(line) for line in proc.log_text().splitlines() if line.startswith("{")]
    assert any("product source amazon failed" in e["message"] and "HTTP 503" in e["message"]
               and e.get("error_code") == "DEPENDENCY_UNAVAILABLE" for e in logs), [e["message"] for e in logs][-10:]
    brand = await db_pool.fetchval("SELECT brand FROM products WHERE product_id = 'ebay-v1-315500000001-0'")
    assert brand == "Sleepwell"  # the summary of job 2 has no brand; the details of job 1 are kept


async def test_every_online_source_failing_fails_the_job_with_the_reasons(start_service, event_sink, db_pool, replay):
    replay.route("GET", EBAY_SEARCH, Reply(500, replay.fixture("ebay/error_system.json")))
    replay.route("POST", AMAZON_SEARCH, Reply(body={}, delay_s=3))  # past DOWNLOAD_READ_TIMEOUT_S
    sink = await event_sink(KEYS)
    start_service("catalog-collector", **online_env(replay))
    job = await create_job(db_pool, "ergonomic pillow")
    await sink.bus.publish("products.collect.request", {"job_id": job, "industry": "ergonomic pillow",
                                                        "top_amz": 2, "top_ebay": 3})
    failed = await sink.wait_for("job.failed", job)
    assert "ebay: eBay search failed: HTTP 500" in failed[0]["reason"]
    assert "amazon: Amazon search failed: ReadTimeout" in failed[0]["reason"]
