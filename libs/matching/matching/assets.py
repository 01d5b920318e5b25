"""Per-asset records and the feature bundle the keypoint service writes for the verifier.

One ``.npz`` per asset (SPEC §5: ``kp/<asset_id>.npz``) holds everything verification needs,
so the matcher never has to re-read or re-segment an image:
  * local features per method (RootSIFT by default, AKAZE optional), original-pixel coordinates,
    detected on the whole image with a per-keypoint ``in_mask`` flag (KP_REGION=image; with
    KP_REGION=mask only inside the mask, as in round 1);
  * ``thumb_jpg``: the image itself, at most THUMB_SIDE px (JPEG q95 bytes): the colour and
    dense-detail checks compare pixels after warping;
  * ``thumb_mask_png``: the product mask at thumbnail size (PNG bytes);
  * ``thumb_scale`` (thumbnail px per original px), ``mask_box`` (x0, y0, x1, y1, original px),
    ``seg_fallback`` (1 when the mask is the whole image).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

from vision_common.image_io import encode_image
from vision_common.keypoints import FeatureSet, Features, extract_all, load_features, save_features
from vision_common.normalize import mask_bbox, resize_max_side
from vision_common.settings import VisionSettings

THUMB_SIDE = 400


@dataclass
class Asset:
    """What the services know about one catalog image or keyframe (DB row + files)."""

    asset_id: str
    image_path: str | None
    mask_path: str | None
    emb_rgb: np.ndarray | None
    emb_gray: np.ndarray | None
    features_path: str | None
    owner_id: str | None = None  # product_id of a catalog image, video_id of a keyframe
    ts: float | None = None  # keyframes only
    # keyframes only: the span of the video the keyframe stands for (its shot, or part of one)
    shot_start: float | None = None
    shot_end: float | None = None
    # keyframes only: the first pass's region vectors (R, dim) each, which retrieval also asks
    # (matching.retrieval.retrieve_with_regions); None when the first pass did not run
    region_rgb: np.ndarray | None = None
    region_gray: np.ndarray | None = None
    _bundle: "AssetBundle | None" = field(default=None, repr=False)

    def bundle(self, cache: bool = True) -> "AssetBundle":
        """The verifier's view of the asset, loaded from ``features_path`` (and kept, unless
        ``cache`` is False: a keyframe is verified once, and a long video has thousands)."""
        if self._bundle is not None:
            return self._bundle
        if not self.features_path:
            raise ValueError(f"asset {self.asset_id} has no features_path")
        bundle = AssetBundle.from_featureset(load_features(self.features_path))
        if cache:
            self._bundle = bundle
        return bundle


@dataclass
class AssetBundle:
    """Decoded feature bundle: features, thumbnail, mask and geometry of one asset."""

    image_shape: tuple[int, int]
    features: dict[str, Features]  # keypoints inside the product mask (what catalog images use)
    thumb: np.ndarray  # BGR uint8
    thumb_mask: np.ndarray  # uint8 0/255, thumbnail size
    thumb_scale: float
    mask_box: tuple[float, float, float, float]
    seg_fallback: bool
    # Catalog images only, set by matching.distinct.mark_shared_keypoints: True for keypoints that
    # also match another product's catalog image (brand logo, shared claims). None = unknown.
    shared: np.ndarray | None = None
    # every keypoint of the image, inside the mask or not (what keyframes use: the salient-object
    # mask of a store photo often holds the wrong object); = ``features`` for masked-only files
    features_full: dict[str, Features] = field(default_factory=dict)
    # catalog images only: the region's colour histogram (matching.appearance), once per job
    color_hist: np.ndarray | None = None
    # catalog images only: the other products' images the shared marks were taken against
    # (matching.distinct), and, built on first use by matching.coarse for a blurred keyframe, the
    # keypoints of the image shrunk to the sizes such footage shows a product (per method) and
    # the view verification matches there (the coarsest of its own + those, their shared marks)
    peers: list["AssetBundle"] = field(default_factory=list, repr=False, compare=False)
    coarse: dict[str, Features | None] = field(default_factory=dict, repr=False, compare=False)
    _with_coarse: dict[str, tuple | None] = field(default_factory=dict, repr=False, compare=False)
    _splits: dict[str, "MaskSplit | None"] = field(default_factory=dict, repr=False, compare=False)
    # keyframes only: matching.coarse.keyframe_detail per method, once per keyframe
    _detail: dict[str, float] = field(default_factory=dict, repr=False, compare=False)
    # learned keypoints (matching.learned) per method, computed on first use for blurred keyframes
    # and the catalog images they retrieve: a keyframe's all over it (flagged by its mask), a
    # catalog image's inside its mask; and the view verification matches (keyframe: those inside
    # its mask and all; catalog: its keypoints and their shared marks against its peers)
    learned: dict[str, Features | None] = field(default_factory=dict, repr=False, compare=False)
    _learned_view: dict[str, tuple] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for m, f in self.features.items():
            self.features_full.setdefault(m, f)

    @classmethod
    def from_featureset(cls, fs: FeatureSet) -> "AssetBundle":
        e = fs.extra
        thumb = cv2.imdecode(e["thumb_jpg"], cv2.IMREAD_COLOR)
        mask = cv2.imdecode(e["thumb_mask_png"], cv2.IMREAD_GRAYSCALE)
        return cls(fs.image_shape, {m: f.masked() for m, f in fs.features.items()}, thumb, mask,
                   float(e["thumb_scale"]), tuple(float(v) for v in e["mask_box"]), bool(int(e["seg_fallback"])),
                   features_full=dict(fs.features))

    def keypoints(self, method: str, masked: bool) -> Features | None:
        """The ``method`` features inside the product mask (``masked``) or all of them."""
        return (self.features if masked else self.features_full).get(method)

    def mask_split(self, method: str) -> "MaskSplit | None":
        """The ``method`` keypoints split by the product mask; None when none lies outside it (or
        the file flags none), so that the whole set is the masked set. Computed once per bundle:
        the whole-keyframe pass uses it for every candidate."""
        if method not in self._splits:
            full = self.features_full.get(method)
            split = None
            if full is not None and full.in_mask is not None and not full.in_mask.all():
                outside = np.flatnonzero(~full.in_mask)
                split = MaskSplit(np.flatnonzero(full.in_mask), outside, full.subset(outside))
            self._splits[method] = split
        return self._splits[method]

    @cached_property
    def gray_clahe(self) -> np.ndarray:
        from vision_common.normalize import clahe_gray

        return clahe_gray(self.thumb)


@dataclass
class MaskSplit:
    """One method's keypoints of a bundle, split by its product mask (positions among all)."""

    inside: np.ndarray
    outside: np.ndarray
    outside_features: Features


def extract_asset_features(image: np.ndarray, mask: np.ndarray | None, settings: VisionSettings | None = None,
                           seg_fallback: bool | None = None) -> FeatureSet:
    """Compute everything the verifier needs for one asset (called by the keypoint service).

    ``mask`` is the segmentor's product mask (uint8 0/255) or None when the asset is processed
    unmasked (watermark fallback); then the whole image is the product region.
    """
    settings = settings or VisionSettings()
    h, w = image.shape[:2]
    if mask is not None and mask.shape[:2] != (h, w):
        mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
    if mask is not None and not mask.any():
        mask = None
    full = mask is None or bool(mask.min() > 0)
    feats = extract_all(image, None if full else mask, settings.kp_methods,
                        settings.kp_max_features, settings.kp_target_side, settings.kp_region)
    thumb, s = resize_max_side(image, THUMB_SIDE)
    m = np.full((h, w), 255, np.uint8) if mask is None else mask
    tmask = cv2.resize(m, (thumb.shape[1], thumb.shape[0]), interpolation=cv2.INTER_NEAREST)
    box = mask_bbox(m) or (0, 0, w, h)
    extra = {
        "thumb_jpg": np.frombuffer(encode_image(thumb, ".jpg", 95), np.uint8),
        "thumb_mask_png": np.frombuffer(encode_image(tmask, ".png"), np.uint8),
        "thumb_scale": np.float32(s),
        "mask_box": np.array(box, np.float32),
        "seg_fallback": np.int8(full if seg_fallback is None else seg_fallback),
    }
    return FeatureSet((h, w), feats, extra)


def save_asset_features(path: str | os.PathLike, fs: FeatureSet) -> Path:
    save_features(path, fs)
    return Path(path)


def load_asset_bundle(path: str | os.PathLike) -> AssetBundle:
    return AssetBundle.from_featureset(load_features(path))
