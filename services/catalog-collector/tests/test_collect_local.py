"""catalog-collector as a real process on a local dataset the test writes."""

import io
import json
import os

import pytest
from PIL import Image

from common_py.testing import create_job

KEYS = ["products.image.ready", "products.images.ready.batch", "products.collections.completed", "job.failed"]


def img(color, size=(240, 180), stripe=None) -> bytes:
    im = Image.new("RGB", size, color)
    if stripe:
        im.paste(stripe, (0, 0, size[0] // 2, size[1] // 3))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=95)
    return out.getvalue()


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "ds"
    (root / "img").mkdir(parents=True)
    files = {
        "img/a1.jpg": img((200, 40, 40), stripe=(0, 0, 255)),
        "img/a1_copy.jpg": img((200, 40, 40), stripe=(0, 0, 255)),  # same picture: phash duplicate
        "img/a2.jpg": img((40, 200, 40), stripe=(255, 255, 0)),
        "img/b1.jpg": img((40, 40, 200), stripe=(255, 0, 0)),
        "img/broken.jpg": b"\xff\xd8\xff not a jpeg",
        "img/c1.jpg": img((120, 120, 120)),
    }
    for rel, data in files.items():
        (root / rel).write_bytes(data)
    catalog = {"products": [
        {"product_id": "pillow-a", "src": "local", "title": "Ergonomic Pillow A", "brand": "Acme",
         "keywords": ["ergonomic pillow"], "images": ["img/a1.jpg", "img/a1_copy.jpg", "img/a2.jpg"]},
        {"product_id": "pillow-b", "src": "amazon", "title": "Pillow B", "keywords": ["ergonomic pillow"],
         "images": ["img/b1.jpg", "img/broken.jpg", "img/missing.jpg"]},
        {"product_id": "pillow-c", "src": "amazon", "title": "Pillow C", "keywords": ["ergonomic pillow"],
         "images": ["img/c1.jpg"]},
        {"product_id": "lamp", "src": "local", "title": "Desk lamp", "keywords": ["lamp"], "images": ["img/c1.jpg"]},
    ]}
    (root / "catalog.json").write_text(json.dumps(catalog))
    return root


async def test_collects_selected_products_skips_bad_images_and_reuses_across_jobs(
        start_service, event_sink, bus_settings, db_pool, dataset):
    sink = await event_sink(KEYS)
    proc = start_service("catalog-collector", LOCAL_DATASET_DIR=str(dataset))
    producer = sink.bus
    job1 = await create_job(db_pool, "ergonomic pillow")
    # top_amz=1: only the first amazon-labelled product; local ones are capped by the sum (1+1)
    await producer.publish("products.collect.request", {"job_id": job1, "industry": "Ergonomic PILLOW",
                                                        "top_amz": 1, "top_ebay": 1})
    done = await sink.wait_for("products.collections.completed", job1)
    assert len(done) == 1
    # the count comes on a queue of its own: it may land after the completion
    total = (await sink.wait_for("products.images.ready.batch", job1))[0]["total_images"]
    ready = await sink.wait_for("products.image.ready", job1, count=total)  # also a queue of its own
    assert total == len(ready) == 3  # a1, a2 (copy dropped), b1 (broken + missing skipped)
    assert {r["product_id"] for r in ready} == {"pillow-a", "amz-pillow-b"}
    for r in ready:
        path = bus_settings.data_root / r["local_path"]
        assert path.is_file() and Image.open(path).format == "JPEG"
    rows = await db_pool.fetch("SELECT p.product_id, p.src, p.title FROM products p JOIN job_products j "
                               "USING (product_id) WHERE j.job_id = $1 ORDER BY 1", job1)
    assert [(r["product_id"], r["src"]) for r in rows] == [("amz-pillow-b", "amazon"), ("pillow-a", "local")]
    # each skipped image says why: a missing file is a missing asset, not a corrupt one (issue 16)
    skipped = {e["message"].split()[2]: e["error_code"] for e in map(json.loads, proc.log_text().splitlines())
               if e["message"].startswith("skipping image")}
    assert {os.path.basename(k): v for k, v in skipped.items()} == {"broken.jpg": "ASSET_CORRUPT",
                                                                   "missing.jpg": "ASSET_MISSING"}

    # a second job over the same products fetches nothing again: same files, same ids
    mtimes = {r["image_id"]: os.stat(bus_settings.data_root / r["local_path"]).st_mtime_ns for r in ready}
    job2 = await create_job(db_pool, "ergonomic pillow")
    await producer.publish("products.collect.request", {"job_id": job2, "industry": "ergonomic pillow",
                                                        "top_amz": 1, "top_ebay": 1})
    await sink.wait_for("products.collections.completed", job2)
    total2 = (await sink.wait_for("products.images.ready.batch", job2))[0]["total_images"]
    ready2 = await sink.wait_for("products.image.ready", job2, count=total2)
    assert {r["image_id"] for r in ready2} == set(mtimes)
    assert all(os.stat(bus_settings.data_root / r["local_path"]).st_mtime_ns == mtimes[r["image_id"]] for r in ready2)
    assert await db_pool.fetchval("SELECT count(*) FROM product_images WHERE product_id IN "
                                  "('pillow-a', 'amz-pillow-b')") == 3


async def test_no_match_completes_empty_and_no_source_fails_the_job(start_service, event_sink, db_pool, dataset):
    sink = await event_sink(KEYS)
    proc = start_service("catalog-collector", LOCAL_DATASET_DIR=str(dataset))
    job = await create_job(db_pool, "submarine")
    request = {"job_id": job, "industry": "submarine", "top_amz": 5, "top_ebay": 5}
    await sink.bus.publish("products.collect.request", request)
    await sink.wait_for("products.collections.completed", job)
    assert (await sink.wait_for("products.images.ready.batch", job))[0]["total_images"] == 0

    # the same request again with an event_id of its own (issue 16: it collected again and
    # emitted a second completion): ignored, nothing emitted
    await sink.bus.publish("products.collect.request", request)
    fence = await create_job(db_pool, "submarine")
    await sink.bus.publish("products.collect.request", {**request, "job_id": fence})
    await sink.wait_for("products.images.ready.batch", fence)
    await sink.wait_until("products.collections.completed", job, lambda _: "a repeated request is ignored"
                          in proc.log_text(), timeout=10, what="the repeat logged as ignored")
    assert len(sink.for_job("products.collections.completed", job)) == 1
    assert len(sink.for_job("products.images.ready.batch", job)) == 1


async def test_without_any_source_the_job_fails_with_a_clear_reason(start_service, event_sink, db_pool):
    sink = await event_sink(KEYS)
    start_service("catalog-collector")  # no LOCAL_DATASET_DIR, no credentials
    job = await create_job(db_pool)
    await sink.bus.publish("products.collect.request", {"job_id": job, "industry": "x", "top_amz": 1, "top_ebay": 1})
    failed = await sink.wait_for("job.failed", job)
    assert failed[0]["service"] == "catalog-collector" and "LOCAL_DATASET_DIR" in failed[0]["reason"]
    assert not sink.for_job("products.collections.completed", job)
