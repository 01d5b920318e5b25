"""Masks for catalog images and keyframes: the product kept, people and background removed.

A mask is written once per asset (masks/{products,frames}/<id>.png) and reused by later jobs.
Segmentation that fails, or removes almost everything, yields the whole image as the mask (the
segmenter decides that), so a `.masked` event always follows a readable image. An unreadable
image is a fatal error for that asset only: its message goes to the DLQ, and downstream
processes the asset raw after the watermark (where it fails again, visibly, as that one asset).
"""

from __future__ import annotations

import asyncio
import logging
import time

import numpy as np

from common_py import metrics
from common_py.errors import FatalError, asset_error_code
from common_py.storage import Storage
from vision_common.errors import ImageError
from vision_common.image_io import encode_image, read_image
from vision_common.segmentation import Segmenter

log = logging.getLogger("product-segmentor")


def _observe(batch: int, started: float) -> None:
    """The model metrics the other model stages report through AssetStage (dashboard: model panels)."""
    metrics.MODEL_BATCH.labels("segmentation").observe(batch)
    metrics.MODEL_SECONDS.labels("segmentation").observe(time.perf_counter() - started)


class ProductSegmentor:
    def __init__(self, segmenter: Segmenter, storage: Storage):
        self.segmenter = segmenter
        self.storage = storage
        self._model = asyncio.Lock()  # one inference at a time: the model is not shared across threads

    def _mask_png(self, rel_image: str) -> bytes:
        image = read_image(self.storage.resolve(rel_image))
        started = time.perf_counter()
        result = self.segmenter.segment(image)
        _observe(1, started)
        if result.fallback:
            log.info("whole-image mask for %s: %s", rel_image, result.reason)
        return encode_image(result.mask, ".png")

    async def mask(self, rel_image: str, rel_mask: str) -> str:
        """Write the mask of one image (unless an earlier job did); returns its path."""
        if self.storage.exists(rel_mask):
            return rel_mask
        try:
            async with self._model:
                png = await asyncio.to_thread(self._mask_png, rel_image)
        except ImageError as exc:
            raise FatalError(str(exc), asset_error_code(exc)) from exc
        await asyncio.to_thread(self.storage.write_bytes, rel_mask, png)
        return rel_mask

    async def mask_frames(self, frames: list[tuple[str, str]]) -> dict[str, str]:
        """frames: (image path, mask path) of one video; returns image path -> mask path for the
        frames that could be read (one unreadable keyframe does not lose the others)."""
        out = {}
        todo = []
        for rel_image, rel_mask in frames:
            if self.storage.exists(rel_mask):
                out[rel_image] = rel_mask
            else:
                todo.append((rel_image, rel_mask))
        images, readable, errors = [], [], []
        for rel_image, rel_mask in todo:
            try:
                images.append(await asyncio.to_thread(read_image, self.storage.resolve(rel_image)))
                readable.append((rel_image, rel_mask))
            except ImageError as exc:
                log.error("cannot mask keyframe %s: %s", rel_image, exc, extra={"error_code": asset_error_code(exc)})
                errors.append(exc)
        if errors and not images and not out:  # nothing of this video can be masked: the event's fatal error
            raise FatalError(f"none of the {len(errors)} keyframe(s) can be read; first: {errors[0]}",
                             asset_error_code(errors[0]))
        if images:
            async with self._model:
                started = time.perf_counter()
                results = await asyncio.to_thread(self.segmenter.segment_batch, images)
                _observe(len(images), started)
            for (rel_image, rel_mask), result in zip(readable, results):
                png = await asyncio.to_thread(encode_image, result.mask.astype(np.uint8), ".png")
                await asyncio.to_thread(self.storage.write_bytes, rel_mask, png)
                out[rel_image] = rel_mask
        return out
