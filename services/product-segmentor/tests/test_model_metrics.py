"""Segmentation reports model_batch_size / model_seconds{model="segmentation"} like the other model
stages, so the pipeline dashboard's model panels cover it (no infrastructure needed)."""

import cv2
import numpy as np
from prometheus_client import REGISTRY

from common_py.storage import Storage
from services.segmentor import ProductSegmentor
from vision_common.segmentation import WholeImageSegmenter


def count(name: str) -> float:
    return REGISTRY.get_sample_value(name, {"model": "segmentation"}) or 0.0


async def test_single_images_and_keyframe_batches_are_observed(tmp_path):
    storage = Storage(tmp_path)
    image = np.full((40, 60, 3), 120, np.uint8)
    for name in ("a.jpg", "f1.jpg", "f2.jpg", "f3.jpg"):
        cv2.imwrite(str(tmp_path / name), image)
    seg = ProductSegmentor(WholeImageSegmenter(), storage)
    batches, items = count("model_batch_size_count"), count("model_batch_size_sum")

    await seg.mask("a.jpg", "masks/a.png")
    await seg.mask_frames([("f1.jpg", "masks/f1.png"), ("f2.jpg", "masks/f2.png"), ("f3.jpg", "masks/f3.png")])
    await seg.mask("a.jpg", "masks/a.png")  # reused mask: no inference, nothing observed

    assert count("model_batch_size_count") - batches == 2
    assert count("model_batch_size_sum") - items == 4  # one single image + one batch of three
    assert count("model_seconds_count") >= 2
