"""Catalog keypoints at the sizes blurred footage shows a product.

A catalog image is a sharp listing, the product a few hundred pixels wide; in old, compressed or
far footage the same product is 50-150 px of blur. SIFT is scale-invariant only down to what the
two images both still hold: the listing's keypoints describe fine print the footage has lost, and
a blurred product gives 6-11 ratio-test inliers where a sharp one gives 50. Each catalog image
is also shrunk so that its product's longer side is each of
``KP_CATALOG_COARSE_SIDES`` pixels, and the keypoints found there (what such a product still
shows: the logo's blob, the big letters, the picture's outline) join the image's own, in its
pixel coordinates, with shared-keypoint marks of their own (against the same other products'
images as ``matching.distinct`` used, at both sizes).

They are used only for a blurred keyframe: one whose keypoints are coarse themselves (median
diameter at least ``KP_COARSE_FROM`` of its short side; ``keyframe_detail``), and there they
replace the listing's finest keypoints (only the coarsest ``KP_COARSE_OWN_SHARE`` of its own are
kept), so that such a keyframe costs what it cost before. On sharp footage
the listing's own keypoints decide, as before: there the coarse ones would only add what siblings
share (a logo's blob looks alike on every variant) and cost precision. They are computed on
first use, for the catalog images a blurred keyframe retrieves and their peers: a job on sharp
footage pays nothing, and none pays for the whole catalog.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from vision_common.keypoints import Features, extract

from .assets import AssetBundle
from .distinct import shared_with

# a shrunk copy has few keypoints; this only bounds a pathological one
_MAX_COARSE = 1000
# the shrunk copy is enlarged to this longer side for detection (at the listing's 400 px, the
# same keypoints cost three times as long: set on the train clips' --degrade variant)
_DETECT_SIDE = 200


@lru_cache(maxsize=8)
def coarse_sides(spec: str) -> tuple[int, ...]:
    """``"100,50"`` -> (100, 50); empty -> () (off). Cached: verification asks it per pair."""
    sides = tuple(int(v) for v in (spec or "").replace(" ", "").split(",") if v)
    if any(v <= 0 for v in sides):
        raise ValueError(f"KP_CATALOG_COARSE_SIDES must list positive sizes in px, got {spec!r}")
    return sides


def coarse_keypoints(bundle: AssetBundle, sides: tuple[int, ...], method: str) -> Features | None:
    """The ``method`` keypoints of the bundle's thumbnail shrunk to each product size in
    ``sides`` (longer side of the product box, px), in original-image pixels; None when no size
    is clearly smaller than the product already is in the thumbnail."""
    x0, y0, x1, y1 = (v * bundle.thumb_scale for v in bundle.mask_box)
    longest = max(x1 - x0, y1 - y0, 1.0)
    parts = []
    for side in sides:
        f = side / longest
        if f >= 0.8:  # hardly coarser than the listing itself: its own keypoints cover it
            continue
        size = (max(8, round(bundle.thumb.shape[1] * f)), max(8, round(bundle.thumb.shape[0] * f)))
        small = cv2.resize(bundle.thumb, size, interpolation=cv2.INTER_AREA)
        mask = cv2.resize(bundle.thumb_mask, size, interpolation=cv2.INTER_NEAREST)
        feats = extract(small, mask if mask.any() else None, method, _MAX_COARSE, _DETECT_SIDE, region="mask")
        if len(feats):
            parts.append(feats.scaled(1.0 / (f * bundle.thumb_scale)))  # shrunk px -> original px
    return Features.concat(parts) if parts else None


def with_coarse(bundle: AssetBundle, sides: tuple[int, ...], own_share: float, method: str, mask_catalog: bool,
                ratio: float) -> tuple[Features, np.ndarray | None] | None:
    """(the coarsest ``own_share`` of the catalog image's own keypoints followed by its coarse
    ones, their shared marks: the own ones' as ``matching.distinct`` set them, the coarse ones'
    against the same peers' own and coarse keypoints), built on first use and kept on the bundle;
    None without coarse keypoints. A blur has lost the listing's finest keypoints: matched, they
    only cost time and crowd the ratio test."""
    if method not in bundle._with_coarse:
        own, coarse = bundle.keypoints(method, mask_catalog), _coarse_of(bundle, sides, method)
        view = None
        if own is not None and coarse is not None:
            keep = own.size >= np.quantile(own.size, 1.0 - own_share) if len(own) and own_share < 1 else None
            shared = None
            if bundle.shared is not None and len(bundle.shared) == len(own):
                peers = [p.keypoints(method, mask_catalog) for p in bundle.peers]
                marks = shared_with(coarse, peers + [_coarse_of(p, sides, method) for p in bundle.peers], ratio)
                shared = np.concatenate([bundle.shared if keep is None else bundle.shared[keep], marks])
            view = (Features.concat([own if keep is None else own.subset(keep), coarse]), shared)
        bundle._with_coarse[method] = view
    return bundle._with_coarse[method]


def _coarse_of(bundle: AssetBundle, sides: tuple[int, ...], method: str) -> Features | None:
    if method not in bundle.coarse:
        bundle.coarse[method] = coarse_keypoints(bundle, sides, method)
    return bundle.coarse[method]


def keyframe_detail(frame: AssetBundle, method: str) -> float:
    """Median keypoint diameter of the keyframe over its short side: about 0.007 on sharp
    footage, 0.013-0.03 on footage downscaled to 80-200 px and blurred (grocery train clips)."""
    if method not in frame._detail:  # once per keyframe, not once per candidate verified
        f = frame.keypoints(method, False)
        frame._detail[method] = 0.0 if f is None or not len(f) else \
            float(np.median(f.size) / max(1, min(frame.image_shape[:2])))
    return frame._detail[method]

