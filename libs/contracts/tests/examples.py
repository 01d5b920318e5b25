"""One valid payload per routing key; the tests derive the invalid ones from these."""

import uuid


def _ids(**fields):
    return {"event_id": str(uuid.uuid4()), "job_id": "job-1", **fields}


def valid_examples() -> dict[str, dict]:
    frames_ready = [{"frame_id": "vid1-f0", "ts": 1.5, "local_path": "videos/vid1/frames/vid1-f0.jpg"}]
    frames_masked = [{"frame_id": "vid1-f0", "ts": 1.5, "mask_path": "masks/frames/vid1-f0.png"}]
    return {
        "products.collect.request": _ids(industry="ergonomic pillow", top_amz=10, top_ebay=10),
        "videos.search.request": _ids(industry="ergonomic pillow", queries=["ergonomic pillow"],
                                      platforms=["youtube", "bilibili"], recency_days=365),
        "match.request": _ids(industry="ergonomic pillow", top_k=20),
        "products.image.ready": _ids(product_id="p1", image_id="img1", local_path="products/p1/img1.jpg"),
        "video.keyframes.ready": _ids(video_id="vid1", frames=frames_ready),
        "products.image.masked": _ids(image_id="img1", mask_path="masks/products/img1.png"),
        "video.keyframes.masked": _ids(video_id="vid1", frames=frames_masked),
        "image.embedding.ready": _ids(asset_id="img1"),
        "video.embedding.ready": _ids(asset_id="vid1-f0"),
        "image.keypoint.ready": _ids(asset_id="img1"),
        "video.keypoint.ready": _ids(asset_id="vid1-f0"),
        "match.result": _ids(product_id="p1", video_id="vid1",
                             best_pair={"img_id": "img1", "frame_id": "vid1-f0", "score_pair": 0.93},
                             score=0.95, ts=1.5),
        "products.images.ready.batch": _ids(total_images=12),
        "video.keyframes.ready.batch": _ids(total_keyframes=340),
        "products.images.masked.batch": _ids(total_images=12),
        "video.keyframes.masked.batch": _ids(total_keyframes=0),
        "products.collections.completed": _ids(),
        "videos.collections.completed": _ids(),
        "image.embeddings.completed": _ids(),
        "video.embeddings.completed": _ids(),
        "image.keypoints.completed": _ids(),
        "video.keypoints.completed": _ids(),
        "matchings.process.completed": _ids(),
        "evidences.generation.completed": _ids(),
        "job.failed": _ids(service="catalog-collector", reason="source unavailable", error_code="SOURCE_DOWN"),
    }
