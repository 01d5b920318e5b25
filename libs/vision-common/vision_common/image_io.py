"""Reading and writing images, masks and feature blobs.

Every reader turns a bad file into an ``ImageError`` that names the file and the problem, so a
service can log it for that one asset and carry on. Every writer is atomic (temp file in the same
folder + ``os.replace``): a consumer that sees a path never sees half a file, even if the writer
dies mid-way or two replicas write the same asset.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .errors import ImageError, ImageMissing

# Below this many pixels on the short side there is nothing a matcher can use (and OpenCV's
# feature detectors misbehave); keyframes and gallery images are far bigger than this.
MIN_SIDE = 16
# Above this many pixels an image is refused before it is decoded: a 20000x20000 file of a few
# MB would otherwise take 1.2 GB as BGR, in every stage that reads it. The catalog collector
# caps what it stores at the same number (PIL's decompression-bomb guard).
MAX_PIXELS = 80_000_000


def decode_image(data: bytes, name: str = "<bytes>", min_side: int = MIN_SIDE) -> np.ndarray:
    """Decode encoded image bytes to BGR uint8 (alpha dropped, gray expanded to 3 channels)."""
    if not data:
        raise ImageError(f"{name}: empty file")
    _check_declared_size(data, name)
    arr = np.frombuffer(data, dtype=np.uint8)
    img = cv2.imdecode(arr, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ImageError(f"{name}: not a decodable image (corrupt or unsupported format)")
    if img.dtype != np.uint8:
        # 16-bit PNG/TIFF: scale to 8 bits rather than clip.
        img = cv2.convertScaleAbs(img, alpha=255.0 / max(1.0, float(img.max())))
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if min(img.shape[:2]) < min_side:
        raise ImageError(f"{name}: image too small ({img.shape[1]}x{img.shape[0]}, need >= {min_side}px)")
    return np.ascontiguousarray(img)


def _check_declared_size(data: bytes, name: str) -> None:
    """Refuse an image whose header declares more than MAX_PIXELS, without decoding the pixels
    (a format Pillow does not know is left to OpenCV)."""
    import io
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
    except Image.DecompressionBombError as exc:  # Pillow's own, larger limit
        raise ImageError(f"{name}: image too large ({exc})") from exc
    except (UnidentifiedImageError, OSError, ValueError):
        return
    if width * height > MAX_PIXELS:
        raise ImageError(f"{name}: image too large ({width}x{height}, at most {MAX_PIXELS} pixels)")


def read_image(path: str | os.PathLike, min_side: int = MIN_SIDE) -> np.ndarray:
    """Read an image file as BGR uint8 (H, W, 3). Raises ``ImageError`` with a clear reason."""
    p = Path(path)
    if not p.is_file():
        raise ImageMissing(f"{p}: file not found")
    return decode_image(p.read_bytes(), str(p), min_side=min_side)


def read_mask(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a mask as uint8 0/255 (H, W); resized (nearest) to ``shape`` (H, W) when given."""
    p = Path(path)
    if not p.is_file():
        raise ImageMissing(f"{p}: mask file not found")
    data = p.read_bytes()
    if not data:
        raise ImageError(f"{p}: empty mask file")
    m = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if m is None:
        raise ImageError(f"{p}: not a decodable mask image")
    if shape is not None and m.shape[:2] != tuple(shape):
        m = cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return np.where(m >= 128, 255, 0).astype(np.uint8)


def _atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return p


def encode_image(img: np.ndarray, ext: str = ".jpg", quality: int = 92) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if ext.lower() in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(ext, img, params)
    if not ok:
        raise ImageError(f"could not encode image as {ext}")
    return buf.tobytes()


def write_jpg(path: str | os.PathLike, img: np.ndarray, quality: int = 92) -> Path:
    """Atomically write a BGR image as JPEG."""
    return _atomic_write_bytes(path, encode_image(img, ".jpg", quality))


def write_png(path: str | os.PathLike, img: np.ndarray) -> Path:
    """Atomically write an image or mask as PNG (lossless: use this for masks)."""
    return _atomic_write_bytes(path, encode_image(img, ".png"))


def write_npz(path: str | os.PathLike, **arrays: Any) -> Path:
    """Atomically write arrays as an ``.npz``.

    Not compressed: a keyframe's feature file (uint8 SIFT counts, JPEG/PNG thumbnails) is ~340 KiB
    stored against ~270 KiB deflated, but deflating took 21 ms of a keyframe's ~345 ms of CPU and
    inflating 2 ms of every load (docs/quality.md, "Throughput").
    """
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return _atomic_write_bytes(path, buf.getvalue())


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` into memory (the file is closed on return)."""
    p = Path(path)
    if not p.is_file():
        raise ImageMissing(f"{p}: feature file not found")
    try:
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as exc:  # zipfile.BadZipFile, ValueError, OSError ...
        raise ImageError(f"{p}: unreadable feature file ({exc})") from exc
