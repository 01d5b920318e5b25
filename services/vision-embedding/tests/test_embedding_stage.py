"""vision-embedding as a real process: vectors in pgvector, per-asset events, one completion."""

import cv2
import numpy as np

from common_py.testing import add_product_image, create_job

KEYS = ["image.embedding.ready", "video.embedding.ready", "image.embeddings.completed", "video.embeddings.completed"]


def package(color, label):
    img = np.full((320, 320, 3), 245, np.uint8)
    cv2.rectangle(img, (90, 40), (230, 290), color, -1)
    cv2.putText(img, label, (100, 170), cv2.FONT_HERSHEY_SIMPLEX, 1.1, (255, 255, 255), 3)
    cv2.circle(img, (160, 240), 25, (20, 20, 20), -1)
    return img


def in_scene(img, seed):
    """The package photographed: perspective, a wall behind it, other light."""
    rng = np.random.default_rng(seed)
    scene = np.full((360, 480, 3), 200, np.uint8) + rng.integers(0, 12, (360, 480, 3)).astype(np.uint8)
    src = np.float32([[0, 0], [320, 0], [320, 320], [0, 320]])
    dst = np.float32([[120, 40], [400, 70], [380, 330], [100, 300]])
    warped = cv2.warpPerspective(img, cv2.getPerspectiveTransform(src, dst), (480, 360))
    keep = cv2.warpPerspective(np.full((320, 320), 255, np.uint8), cv2.getPerspectiveTransform(src, dst), (480, 360))
    scene[keep > 0] = warped[keep > 0]
    return cv2.convertScaleAbs(scene, alpha=0.8, beta=15)


async def test_embeds_masked_and_raw_assets_and_completes_once(start_service, event_sink, bus_settings, db_pool):
    sink = await event_sink(KEYS)
    start_service("vision-embedding", SEGMENT_WATERMARK_S="1", SWEEP_INTERVAL_S="0.2")
    root = bus_settings.data_root
    job = await create_job(db_pool)
    a, b = package((200, 60, 30), "OAT"), package((30, 140, 40), "SOY")
    for img_id, pid, img in (("img-a", "pa", a), ("img-b", "pb", b)):
        await add_product_image(db_pool, root, pid, img_id, img)
    (root / "masks/products").mkdir(parents=True)
    mask = np.zeros((320, 320), np.uint8)
    mask[40:290, 90:230] = 255
    cv2.imwrite(str(root / "masks/products/img-a.png"), mask)
    cv2.imwrite(str(root / "masks/products/img-b.png"), mask)
    await db_pool.execute("INSERT INTO videos (video_id, platform) VALUES ('v1', 'local') ON CONFLICT DO NOTHING")
    (root / "videos/v1/frames").mkdir(parents=True)
    cv2.imwrite(str(root / "videos/v1/frames/v1-f0.jpg"), in_scene(a, 1))
    (root / "videos/v1/frames/v1-f1.jpg").write_bytes(b"corrupt keyframe")
    for i in range(2):
        await db_pool.execute("INSERT INTO video_frames (frame_id, video_id, ts, local_path) VALUES ($1, 'v1', $2, $3) "
                              "ON CONFLICT DO NOTHING", f"v1-f{i}", float(i), f"videos/v1/frames/v1-f{i}.jpg")

    bus = sink.bus
    for img_id, pid in (("img-a", "pa"), ("img-b", "pb")):
        await bus.publish("products.image.ready", {"job_id": job, "product_id": pid, "image_id": img_id,
                                                   "local_path": f"products/{pid}/{img_id}.jpg"})
    await bus.publish("video.keyframes.ready", {"job_id": job, "video_id": "v1", "frames": [
        {"frame_id": f"v1-f{i}", "ts": float(i), "local_path": f"videos/v1/frames/v1-f{i}.jpg"} for i in range(2)]})
    await bus.publish("products.images.ready.batch", {"job_id": job, "total_images": 2})
    await bus.publish("video.keyframes.ready.batch", {"job_id": job, "total_keyframes": 2})
    # the catalog images get masks; the keyframes pass the 1 s watermark and are embedded raw
    for img_id in ("img-a", "img-b"):
        await bus.publish("products.image.masked", {"job_id": job, "image_id": img_id,
                                                    "mask_path": f"masks/products/{img_id}.png"})

    await sink.wait_for("image.embeddings.completed", job, timeout=60)
    await sink.wait_for("video.embeddings.completed", job, timeout=60)
    # the per-asset events come on queues of their own: they may arrive after the completions
    assert {e["asset_id"] for e in await sink.wait_for("image.embedding.ready", job, count=2)} == {"img-a", "img-b"}
    # the corrupt keyframe failed: only the other one is embedded
    assert {e["asset_id"] for e in await sink.wait_for("video.embedding.ready", job)} == {"v1-f0"}

    rows = {r["img_id"]: r for r in await db_pool.fetch("SELECT img_id, emb_rgb, emb_gray, emb_model FROM product_images")}
    frame = await db_pool.fetchrow("SELECT emb_rgb, emb_gray FROM video_frames WHERE frame_id = 'v1-f0'")
    vec = {k: (r["emb_rgb"].to_numpy(), r["emb_gray"].to_numpy()) for k, r in rows.items()}
    vec["v1-f0"] = (frame["emb_rgb"].to_numpy(), frame["emb_gray"].to_numpy())
    for rgb, gray in vec.values():
        assert rgb.shape == (1280,) and abs(np.linalg.norm(rgb) - 1) < 1e-3 and abs(np.linalg.norm(gray) - 1) < 1e-3
    assert rows["img-a"]["emb_model"] == "efficientnet-lite0"
    # the photographed package is nearer its own catalog image than another product's
    sim = {k: float(vec[k][0] @ vec["v1-f0"][0]) for k in rows}
    assert sim["img-a"] > sim["img-b"], sim
    failed = await db_pool.fetchval("SELECT detail FROM stage_assets WHERE asset_id = 'v1-f1' AND status = 'failed'")
    assert "v1-f1" in failed


async def test_vectors_made_without_a_mask_are_made_again_once_the_mask_exists(
        start_service, event_sink, bus_settings, db_pool):
    """Issue 16: vectors made on the raw image while the segmentor was down were reused by every
    later job, even after the mask existed."""
    sink = await event_sink(KEYS)
    start_service("vision-embedding", SEGMENT_WATERMARK_S="0.5", SWEEP_INTERVAL_S="0.2")
    root = bus_settings.data_root
    await add_product_image(db_pool, root, "pm", "img-m", in_scene(package((200, 60, 30), "OAT"), 3))
    ready = {"product_id": "pm", "image_id": "img-m", "local_path": "products/pm/img-m.jpg"}

    async def vector():
        row = await db_pool.fetchrow("SELECT emb_rgb, emb_masked FROM product_images WHERE img_id = 'img-m'")
        return row["emb_rgb"].to_numpy(), row["emb_masked"]

    outage = await create_job(db_pool)
    await sink.bus.publish("products.image.ready", {"job_id": outage, **ready})
    await sink.bus.publish("products.images.ready.batch", {"job_id": outage, "total_images": 1})
    await sink.wait_for("image.embeddings.completed", outage, timeout=60)
    raw, masked_flag = await vector()
    assert masked_flag is False

    (root / "masks/products").mkdir(parents=True)
    mask = np.zeros((360, 480), np.uint8)
    mask[60:320, 110:390] = 255  # the package, without the wall around it
    cv2.imwrite(str(root / "masks/products/img-m.png"), mask)
    later = await create_job(db_pool)
    await sink.bus.publish("products.image.ready", {"job_id": later, **ready})
    await sink.bus.publish("products.image.masked", {"job_id": later, "image_id": "img-m",
                                                     "mask_path": "masks/products/img-m.png"})
    await sink.bus.publish("products.images.masked.batch", {"job_id": later, "total_images": 1})
    await sink.wait_for("image.embeddings.completed", later, timeout=60)
    masked, masked_flag = await vector()
    assert masked_flag is True
    assert float(raw @ masked) < 0.999  # made again, from the masked image
