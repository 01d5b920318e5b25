"""vision-keypoint as a real process: one .npz blob per asset, per-asset events, one completion."""

import cv2
import numpy as np

from common_py.testing import add_product_image, create_job
from matching.assets import load_asset_bundle

KEYS = ["image.keypoint.ready", "video.keypoint.ready", "image.keypoints.completed", "video.keypoints.completed"]


def textured(seed, shape=(300, 300)):
    rng = np.random.default_rng(seed)
    img = np.full((*shape, 3), 230, np.uint8)
    for _ in range(60):
        x, y = (int(v) for v in rng.integers(0, shape[1] - 30, 2))
        cv2.rectangle(img, (x, y), (x + int(rng.integers(8, 30)), y + int(rng.integers(8, 30))),
                      tuple(int(c) for c in rng.integers(0, 255, 3)), -1)
    return img


async def test_writes_blobs_with_and_without_masks_and_completes_once(start_service, event_sink, bus_settings, db_pool):
    sink = await event_sink(KEYS)
    start_service("vision-keypoint", SEGMENT_WATERMARK_S="1", SWEEP_INTERVAL_S="0.2")
    root = bus_settings.data_root
    job = await create_job(db_pool)
    await add_product_image(db_pool, root, "pk", "img-k", textured(1))
    (root / "masks/products").mkdir(parents=True)
    mask = np.zeros((300, 300), np.uint8)
    mask[:, :150] = 255  # only the left half is "product"
    cv2.imwrite(str(root / "masks/products/img-k.png"), mask)
    await db_pool.execute("INSERT INTO videos (video_id, platform) VALUES ('vk', 'local') ON CONFLICT DO NOTHING")
    (root / "videos/vk/frames").mkdir(parents=True)
    cv2.imwrite(str(root / "videos/vk/frames/vk-f0.jpg"), textured(2, (240, 320)))
    cv2.imwrite(str(root / "videos/vk/frames/vk-f1.jpg"), np.full((240, 320, 3), 128, np.uint8))  # no keypoints
    for i in range(2):
        await db_pool.execute("INSERT INTO video_frames (frame_id, video_id, ts, local_path) VALUES ($1, 'vk', $2, $3) "
                              "ON CONFLICT DO NOTHING", f"vk-f{i}", float(i), f"videos/vk/frames/vk-f{i}.jpg")
    bus = sink.bus
    await bus.publish("products.image.ready", {"job_id": job, "product_id": "pk", "image_id": "img-k",
                                               "local_path": "products/pk/img-k.jpg"})
    await bus.publish("products.image.masked", {"job_id": job, "image_id": "img-k", "mask_path": "masks/products/img-k.png"})
    await bus.publish("video.keyframes.ready", {"job_id": job, "video_id": "vk", "frames": [
        {"frame_id": f"vk-f{i}", "ts": float(i), "local_path": f"videos/vk/frames/vk-f{i}.jpg"} for i in range(2)]})
    await bus.publish("products.images.masked.batch", {"job_id": job, "total_images": 1})
    await bus.publish("video.keyframes.ready.batch", {"job_id": job, "total_keyframes": 2})

    await sink.wait_for("image.keypoints.completed", job, timeout=60)
    await sink.wait_for("video.keypoints.completed", job, timeout=60)
    # the per-asset events come on queues of their own: they may arrive after the completions
    assert [e["asset_id"] for e in await sink.wait_for("image.keypoint.ready", job)] == ["img-k"]
    # a flat keyframe has no keypoints: still a valid (empty) blob, not an error
    assert {e["asset_id"] for e in await sink.wait_for("video.keypoint.ready", job, count=2)} == {"vk-f0", "vk-f1"}

    rel = await db_pool.fetchval("SELECT kp_blob_path FROM product_images WHERE img_id = 'img-k'")
    assert rel == "kp/img-k.npz"
    bundle = load_asset_bundle(root / rel)
    sift = bundle.features["sift"]
    assert len(sift) > 20
    assert sift.xy[:, 0].max() < 160  # the mask kept the features on the product half
    flat = load_asset_bundle(root / await db_pool.fetchval(
        "SELECT kp_blob_path FROM video_frames WHERE frame_id = 'vk-f1'"))
    assert len(flat.features["sift"]) == 0


async def test_features_made_without_a_mask_are_made_again_once_the_mask_exists(
        start_service, event_sink, bus_settings, db_pool):
    """Issue 16: a job that ran while the segmentor was down made its features from the raw
    image (the watermark); a later job that had the mask reused them anyway, for good."""
    sink = await event_sink(KEYS)
    start_service("vision-keypoint", SEGMENT_WATERMARK_S="0.5", SWEEP_INTERVAL_S="0.2")
    root = bus_settings.data_root
    await add_product_image(db_pool, root, "pm", "img-m", textured(5))
    ready = {"product_id": "pm", "image_id": "img-m", "local_path": "products/pm/img-m.jpg"}

    outage = await create_job(db_pool)  # no .masked ever comes: raw features after the watermark
    await sink.bus.publish("products.image.ready", {"job_id": outage, **ready})
    await sink.bus.publish("products.images.ready.batch", {"job_id": outage, "total_images": 1})
    await sink.wait_for("image.keypoints.completed", outage, timeout=60)
    raw = load_asset_bundle(root / "kp/img-m.npz").features["sift"]
    assert raw.xy[:, 0].max() > 200  # features all over the image
    assert await db_pool.fetchval("SELECT kp_masked FROM product_images WHERE img_id = 'img-m'") is False

    (root / "masks/products").mkdir(parents=True)
    mask = np.zeros((300, 300), np.uint8)
    mask[:, :150] = 255
    cv2.imwrite(str(root / "masks/products/img-m.png"), mask)
    later = await create_job(db_pool)  # the segmentor is back
    await sink.bus.publish("products.image.ready", {"job_id": later, **ready})
    await sink.bus.publish("products.image.masked", {"job_id": later, "image_id": "img-m",
                                                     "mask_path": "masks/products/img-m.png"})
    await sink.bus.publish("products.images.masked.batch", {"job_id": later, "total_images": 1})
    await sink.wait_for("image.keypoints.completed", later, timeout=60)
    masked = load_asset_bundle(root / "kp/img-m.npz").features["sift"]
    assert masked.xy[:, 0].max() < 160  # made again, with the mask
    assert await db_pool.fetchval("SELECT kp_masked FROM product_images WHERE img_id = 'img-m'") is True

    # and those are reused by the next job, masked or on the watermark alike
    mtime = (root / "kp/img-m.npz").stat().st_mtime_ns
    again = await create_job(db_pool)
    await sink.bus.publish("products.image.ready", {"job_id": again, **ready})
    await sink.bus.publish("products.images.ready.batch", {"job_id": again, "total_images": 1})
    await sink.wait_for("image.keypoints.completed", again, timeout=60)
    assert (root / "kp/img-m.npz").stat().st_mtime_ns == mtime
