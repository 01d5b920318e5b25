"""product-segmentor as a real process: .ready in, masks on disk and in Postgres, .masked out."""

import json
import os

import cv2
import numpy as np

from common_py.testing import create_job, drain_dlq


KEYS = ["products.image.masked", "products.images.masked.batch", "video.keyframes.masked",
        "video.keyframes.masked.batch"]


def product_on_background(path, background=(235, 235, 235)):
    img = np.full((300, 400, 3), background, np.uint8)
    cv2.rectangle(img, (140, 60), (260, 250), (40, 90, 200), -1)   # the package
    cv2.rectangle(img, (140, 170), (260, 200), (30, 200, 240), -1)
    cv2.putText(img, "MILK", (150, 130), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)


async def seed(pool, data_root, job):
    await pool.execute("INSERT INTO products (product_id, src, asin_or_itemid) VALUES ('p1', 'local', 'p1') "
                       "ON CONFLICT DO NOTHING")
    product_on_background(data_root / "products/p1/img-a.jpg", (255, 255, 255))
    await pool.execute("INSERT INTO product_images (img_id, product_id, local_path) VALUES "
                       "('img-a', 'p1', 'products/p1/img-a.jpg'), ('img-bad', 'p1', 'products/p1/img-bad.jpg') "
                       "ON CONFLICT DO NOTHING")
    (data_root / "products/p1/img-bad.jpg").write_bytes(b"not an image")
    await pool.execute("INSERT INTO videos (video_id, platform) VALUES ('v1', 'local') ON CONFLICT DO NOTHING")
    for i in range(3):
        product_on_background(data_root / f"videos/v1/frames/v1-f{i}.jpg", (60 + 40 * i, 120, 90))
        await pool.execute("INSERT INTO video_frames (frame_id, video_id, ts, local_path) VALUES ($1, 'v1', $2, $3) "
                           "ON CONFLICT DO NOTHING", f"v1-f{i}", float(i), f"videos/v1/frames/v1-f{i}.jpg")


async def publish(bus, job):
    await bus.publish("products.image.ready", {"job_id": job, "product_id": "p1", "image_id": "img-a",
                                               "local_path": "products/p1/img-a.jpg"})
    await bus.publish("products.image.ready", {"job_id": job, "product_id": "p1", "image_id": "img-bad",
                                               "local_path": "products/p1/img-bad.jpg"})
    await bus.publish("video.keyframes.ready", {"job_id": job, "video_id": "v1", "frames": [
        {"frame_id": f"v1-f{i}", "ts": float(i), "local_path": f"videos/v1/frames/v1-f{i}.jpg"} for i in range(3)]})
    await bus.publish("products.images.ready.batch", {"job_id": job, "total_images": 2})
    await bus.publish("video.keyframes.ready.batch", {"job_id": job, "total_keyframes": 3})


async def test_masks_are_written_recorded_announced_and_reused(start_service, event_sink, bus_settings, db_pool):
    sink = await event_sink(KEYS)
    start_service("product-segmentor")
    root = bus_settings.data_root
    job = await create_job(db_pool)
    await seed(db_pool, root, job)
    await publish(sink.bus, job)
    masked = (await sink.wait_for("products.image.masked", job))[0]
    frames = (await sink.wait_for("video.keyframes.masked", job))[0]["frames"]
    assert (await sink.wait_for("products.images.masked.batch", job))[0]["total_images"] == 2
    assert (await sink.wait_for("video.keyframes.masked.batch", job))[0]["total_keyframes"] == 3

    assert masked == {**masked, "image_id": "img-a", "mask_path": "masks/products/img-a.png"}
    mask = cv2.imread(str(root / masked["mask_path"]), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (300, 400) and set(np.unique(mask)) <= {0, 255}
    assert mask[150, 200] == 255 and mask[10, 10] == 0  # the package kept, the white background dropped
    assert [f["frame_id"] for f in frames] == ["v1-f0", "v1-f1", "v1-f2"]
    assert all((root / f["mask_path"]).is_file() for f in frames)
    assert await db_pool.fetchval("SELECT masked_local_path FROM product_images WHERE img_id = 'img-a'") == masked["mask_path"]
    assert await db_pool.fetchval("SELECT count(*) FROM video_frames WHERE video_id = 'v1' "
                                  "AND masked_local_path LIKE 'masks/frames/%'") == 3

    # the unreadable image is that asset's fatal error, in the DLQ with the reason; nothing else is lost
    dead = await drain_dlq(bus_settings, "product-segmentor", "products.image.ready")
    assert len(dead) == 1 and dead[0].headers["x-error-code"] == "ASSET_CORRUPT"
    assert not any(m["image_id"] == "img-bad" for m in sink.for_job("products.image.masked", job))

    # a later job reuses the masks instead of segmenting again
    before = os.stat(root / masked["mask_path"]).st_mtime_ns
    job2 = await create_job(db_pool)
    await publish(sink.bus, job2)
    await sink.wait_for("video.keyframes.masked", job2)
    assert (await sink.wait_for("products.image.masked", job2))[0]["mask_path"] == masked["mask_path"]
    assert os.stat(root / masked["mask_path"]).st_mtime_ns == before


async def test_missing_huge_and_unreadable_inputs_are_dead_lettered_with_their_code(
        start_service, event_sink, bus_settings, db_pool):
    """Issue 16: a missing image file was reported as ASSET_CORRUPT; an image of 20000x20000
    pixels was decoded (1.2 GB) before anything looked at its size; a keyframes event whose
    frames were all missing left no trace but log lines."""
    from PIL import Image

    sink = await event_sink(KEYS)
    start_service("product-segmentor")
    root = bus_settings.data_root
    job = await create_job(db_pool)
    (root / "products/p9").mkdir(parents=True)
    Image.new("1", (20000, 20000), 1).save(root / "products/p9/huge.png")  # ~90 KB on disk
    product_on_background(root / "products/p9/ok.jpg")
    for image_id, rel in (("gone", "products/p9/gone.jpg"), ("huge", "products/p9/huge.png"),
                          ("ok", "products/p9/ok.jpg")):
        await sink.bus.publish("products.image.ready", {"job_id": job, "product_id": "p9", "image_id": image_id,
                                                        "local_path": rel})
    await sink.bus.publish("video.keyframes.ready", {"job_id": job, "video_id": "v9", "frames": [
        {"frame_id": f"v9-f{i}", "ts": float(i), "local_path": f"videos/v9/frames/v9-f{i}.jpg"} for i in range(2)]})
    await sink.wait_until("products.image.masked", job, lambda evs: any(e["image_id"] == "ok" for e in evs))
    dead = []
    for _ in range(3):
        dead += await drain_dlq(bus_settings, "product-segmentor", "products.image.ready")
        if len(dead) == 2:
            break
    by_id = {json.loads(m.body)["image_id"]: m.headers for m in dead}
    assert by_id["gone"]["x-error-code"] == "ASSET_MISSING" and "file not found" in by_id["gone"]["x-error"]
    assert by_id["huge"]["x-error-code"] == "ASSET_CORRUPT" and "image too large" in by_id["huge"]["x-error"]
    [frames] = await drain_dlq(bus_settings, "product-segmentor", "video.keyframes.ready")
    assert frames.headers["x-error-code"] == "ASSET_MISSING"
    assert "none of the 2 keyframe(s) can be read" in frames.headers["x-error"]
