"""Local features: RootSIFT and AKAZE, mask-aware, stored as one ``.npz`` per asset.

Coordinates are always stored in the *original* image's pixels, whatever scale the detector ran
at, so a homography estimated from them maps catalog pixels to keyframe pixels directly.

Detection runs on gray + CLAHE (store lighting). With ``region="mask"`` only inside the product
mask grown by a few percent (keypoints on the product's outline carry the shape; a mask that is a
bit tight must not cut them); with ``region="image"`` on the whole image, each keypoint flagged
``in_mask`` (same grown mask), so the verifier can use the masked set for catalog images and the
whole set for keyframes, where the salient-object mask often picks the wrong object
(docs/quality.md).
Small images are upscaled first: the 198 px catalog images here give SIFT too few octaves on
the print at native size (MODELS.md baseline: catalog upscaled 2x).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import cv2
import numpy as np

from .errors import ImageError
from .image_io import read_npz, write_npz
from .normalize import clahe_gray

METHODS = ("sift", "akaze")


@dataclass
class Features:
    method: str
    xy: np.ndarray  # (N, 2) float32, original-image pixels
    desc: np.ndarray  # (N, 128) float32 RootSIFT, or (N, 61) uint8 AKAZE
    size: np.ndarray  # (N,) float32 keypoint diameter in original pixels
    angle: np.ndarray  # (N,) float32 degrees
    # (N,) bool: inside the (grown) product mask; None when detection ran inside the mask only
    in_mask: np.ndarray | None = None
    # (N, 128) uint8: the SIFT histograms ``desc`` was computed from (OpenCV's SIFT values are
    # whole numbers <= 255), kept from detection until the feature file is written: stored instead
    # of ``desc``, they are exact and a quarter of float32's size (None once loaded)
    sift_counts: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.xy.shape[0])

    def subset(self, sel: np.ndarray) -> "Features":
        return Features(self.method, self.xy[sel], self.desc[sel], self.size[sel], self.angle[sel],
                        None if self.in_mask is None else self.in_mask[sel],
                        None if self.sift_counts is None else self.sift_counts[sel])

    def scaled(self, k: float) -> "Features":
        """The same keypoints with coordinates and sizes multiplied by ``k`` (another pixel grid)."""
        return Features(self.method, self.xy * np.float32(k), self.desc, self.size * np.float32(k), self.angle,
                        self.in_mask, self.sift_counts)

    @staticmethod
    def concat(parts: list["Features"]) -> "Features":
        """One method's keypoints of several sets, in order (their mask flags dropped)."""
        return Features(parts[0].method, np.concatenate([p.xy for p in parts]).astype(np.float32),
                        np.ascontiguousarray(np.concatenate([p.desc for p in parts])),
                        np.concatenate([p.size for p in parts]).astype(np.float32),
                        np.concatenate([p.angle for p in parts]).astype(np.float32))

    def masked(self) -> "Features":
        """The keypoints inside the product mask (all of them when there is no flag)."""
        return self if self.in_mask is None or self.in_mask.all() else self.subset(self.in_mask)

    @property
    def binary(self) -> bool:
        return self.desc.dtype == np.uint8


@dataclass
class FeatureSet:
    """Everything stored for one asset: features per method plus extra arrays (thumbnails ...)."""

    image_shape: tuple[int, int]
    features: dict[str, Features] = field(default_factory=dict)
    extra: dict[str, np.ndarray] = field(default_factory=dict)


def empty_features(method: str) -> Features:
    d = np.zeros((0, 61), np.uint8) if method == "akaze" else np.zeros((0, 128), np.float32)
    z = np.zeros((0,), np.float32)
    return Features(method, np.zeros((0, 2), np.float32), d, z, z.copy())


def root_sift(desc: np.ndarray) -> np.ndarray:
    """RootSIFT (Arandjelovic & Zisserman 2012): L1-normalise then sqrt; L2 on it = Hellinger."""
    d = desc.astype(np.float32)
    d /= np.maximum(d.sum(axis=1, keepdims=True), 1e-7)
    return np.sqrt(d)


def _detector(method: str, max_features: int):
    if method == "sift":
        return cv2.SIFT_create(nfeatures=max_features, contrastThreshold=0.02)
    if method == "akaze":
        # a low threshold: product prints are low-contrast after CLAHE on small images
        return cv2.AKAZE_create(threshold=0.0005)
    raise ValueError(f"unknown keypoint method {method!r} (one of {METHODS})")


def detection_scale(shape: tuple[int, int], target_side: int) -> float:
    return max(1.0, target_side / float(max(shape[:2])))


def grown_mask(mask: np.ndarray) -> np.ndarray:
    """The product mask grown by 3 % of the image size (keypoints on the outline are kept)."""
    grow = max(3, int(0.03 * max(mask.shape[:2]))) | 1
    return cv2.dilate(mask, np.ones((grow, grow), np.uint8))


def points_in_mask(pts: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """True for the points (x, y in the mask's pixels) that fall inside ``mask``."""
    xi = np.clip(pts[:, 0].astype(int), 0, mask.shape[1] - 1)
    yi = np.clip(pts[:, 1].astype(int), 0, mask.shape[0] - 1)
    return mask[yi, xi] > 0


def extract(image: np.ndarray, mask: np.ndarray | None, method: str = "sift",
            max_features: int = 1500, target_side: int = 400, region: str = "mask") -> Features:
    """Detect + describe one method's keypoints: inside ``mask`` (``region="mask"``; None = whole
    image), or on the whole image with the ``in_mask`` flag set from ``mask`` (``region="image"``)."""
    if region not in ("mask", "image"):
        raise ValueError(f"unknown keypoint region {region!r} (mask | image)")
    if image is None or image.size == 0:
        raise ImageError("empty image")
    s = detection_scale(image.shape, target_side)
    gray = clahe_gray(image)
    if s > 1.0:
        gray = cv2.resize(gray, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC)
    m = None
    if mask is not None:
        m = grown_mask(mask)
        if m.shape[:2] != gray.shape[:2]:
            m = cv2.resize(m, (gray.shape[1], gray.shape[0]), interpolation=cv2.INTER_NEAREST)
    det = _detector(method, max_features)
    kps, desc = det.detectAndCompute(gray, m if region == "mask" else None)
    if desc is None or not kps:
        f = empty_features(method)
        if region == "image":
            f.in_mask = np.zeros(0, bool)
        return f
    if method == "akaze" and len(kps) > max_features:
        order = np.argsort([-k.response for k in kps])[:max_features]
        kps, desc = [kps[i] for i in order], desc[order]
    pts = np.array([k.pt for k in kps], np.float32)  # detection-scale pixels
    xy = pts / s
    size = np.array([k.size for k in kps], np.float32) / s
    angle = np.array([k.angle for k in kps], np.float32)
    counts = None
    if method == "sift":
        # OpenCV's SIFT values are whole numbers <= 255; were a build to differ, keep float16 storage
        exact = desc.max() <= 255 and np.array_equal(desc, np.rint(desc))
        counts = desc.astype(np.uint8) if exact else None
        desc = root_sift(desc)
    in_mask = None
    if region == "image":
        in_mask = np.ones(len(kps), bool) if m is None else points_in_mask(pts, m)
    return Features(method, xy, np.ascontiguousarray(desc), size, angle, in_mask, counts)


def extract_all(image: np.ndarray, mask: np.ndarray | None, methods: str | list[str] = "sift",
                max_features: int = 1500, target_side: int = 400, region: str = "mask") -> dict[str, Features]:
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    return {m: extract(image, mask, m, max_features, target_side, region) for m in methods}


def save_features(path: str | os.PathLike, fs: FeatureSet) -> None:
    """Write a ``FeatureSet`` as one ``.npz`` (atomic)."""
    arrays: dict[str, np.ndarray] = {"image_shape": np.array(fs.image_shape[:2], np.int32),
                                     "methods": np.array(list(fs.features), dtype="U16")}
    for m, f in fs.features.items():
        if f.sift_counts is not None:
            arrays[f"{m}__counts"] = f.sift_counts  # RootSIFT is recomputed from them on load
        else:
            # RootSIFT values are in [0, 1]: float16 halves the blob with no effect on matching
            arrays[f"{m}__desc"] = f.desc.astype(np.float16) if not f.binary else f.desc
        arrays.update({f"{m}__xy": f.xy, f"{m}__size": f.size, f"{m}__angle": f.angle})
        if f.in_mask is not None:
            arrays[f"{m}__in_mask"] = f.in_mask.astype(bool)
    for k, v in fs.extra.items():
        if "__" in k or k in ("image_shape", "methods"):
            raise ValueError(f"reserved extra key {k!r}")
        arrays[k] = v
    write_npz(path, **arrays)


def load_features(path: str | os.PathLike) -> FeatureSet:
    z = read_npz(path)
    try:
        fs = FeatureSet(tuple(int(v) for v in z["image_shape"]))
        for m in z["methods"].tolist():
            if f"{m}__counts" in z:
                desc = root_sift(z[f"{m}__counts"])
            else:  # AKAZE (uint8), or float16 RootSIFT (files written before the counts were kept)
                desc = z[f"{m}__desc"]
                desc = desc if desc.dtype == np.uint8 else desc.astype(np.float32)
            fs.features[m] = Features(m, z[f"{m}__xy"].astype(np.float32), desc,
                                      z[f"{m}__size"], z[f"{m}__angle"],
                                      z[f"{m}__in_mask"].astype(bool) if f"{m}__in_mask" in z else None)
    except KeyError as exc:
        raise ImageError(f"{path}: not a feature file of this format (missing {exc})") from exc
    fs.extra = {k: v for k, v in z.items() if "__" not in k and k not in ("image_shape", "methods")}
    return fs
