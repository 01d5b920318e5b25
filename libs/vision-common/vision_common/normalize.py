"""Normalisation helpers: gray + CLAHE, resizing, mask crops.

Gray + CLAHE is the illumination-robust view of an image (SPEC §2: ``emb_gray`` and the keypoint
detector both use it): store lighting, shadows and white balance change colours and global
contrast, CLAHE evens out local contrast so the same print gives similar gradients.
"""
from __future__ import annotations

import cv2
import numpy as np

_CLAHE_CACHE: dict[tuple[float, int], cv2.CLAHE] = {}


def to_gray(img: np.ndarray) -> np.ndarray:
    return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def clahe_gray(img: np.ndarray, clip: float = 2.0, tiles: int = 8) -> np.ndarray:
    """Gray image with contrast-limited adaptive histogram equalisation."""
    key = (clip, tiles)
    if key not in _CLAHE_CACHE:  # creating a CLAHE object is cheap but not free; reuse it
        _CLAHE_CACHE[key] = cv2.createCLAHE(clipLimit=clip, tileGridSize=(tiles, tiles))
    return _CLAHE_CACHE[key].apply(to_gray(img))


def gray_clahe_bgr(img: np.ndarray) -> np.ndarray:
    """Gray + CLAHE replicated to 3 channels, for models that take colour input."""
    g = clahe_gray(img)
    return cv2.merge([g, g, g])


def resize_max_side(img: np.ndarray, max_side: int, upscale: bool = False) -> tuple[np.ndarray, float]:
    """Resize so the longer side is ``max_side``; returns (image, scale applied)."""
    h, w = img.shape[:2]
    s = max_side / float(max(h, w))
    if s >= 1.0 and not upscale:
        return img, 1.0
    interp = cv2.INTER_AREA if s < 1.0 else cv2.INTER_CUBIC
    out = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=interp)
    return out, s


def pad_to_square(img: np.ndarray, value: int | tuple[int, ...] = 255) -> np.ndarray:
    """Pad (not stretch) to a square so a tall carton keeps its shape for the embedder."""
    h, w = img.shape[:2]
    n = max(h, w)
    top, left = (n - h) // 2, (n - w) // 2
    return cv2.copyMakeBorder(img, top, n - h - top, left, n - w - left, cv2.BORDER_CONSTANT, value=value)


def mask_bbox(mask: np.ndarray, margin: float = 0.0) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the nonzero mask pixels grown by ``margin`` x size, or None if empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    mx, my = int((x1 - x0) * margin), int((y1 - y0) * margin)
    h, w = mask.shape[:2]
    return max(0, x0 - mx), max(0, y0 - my), min(w, x1 + mx), min(h, y1 + my)


def masked_crop(img: np.ndarray, mask: np.ndarray | None, fill: int | None = 255, margin: float = 0.04) -> np.ndarray:
    """Crop to the mask's box; with ``fill``, paint the pixels outside the mask that value.

    ``fill=None`` only crops.
    """
    if mask is None:
        return img
    box = mask_bbox(mask, margin)
    if box is None:
        return img
    x0, y0, x1, y1 = box
    crop = img[y0:y1, x0:x1].copy()
    if fill is None:
        return crop
    m = mask[y0:y1, x0:x1]
    # feather by a few pixels so the cut-out edge does not become a strong artificial feature
    m = cv2.dilate(m, np.ones((5, 5), np.uint8))
    crop[m == 0] = fill
    return crop
