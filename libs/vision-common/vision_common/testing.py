"""Synthetic images for tests (here and in libs/matching): package-like prints, warped copies.

Kept in the package so both libraries' tests build their cases the same way; nothing in the
services imports it.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def iconic(grocery: Path, name: str) -> np.ndarray:
    """The catalog image of a packaged product by class name (e.g. 'Arla-Medium-Fat-Milk')."""
    hits = list((grocery / "iconic-images-and-descriptions" / "Packages").glob(f"*/{name}/{name}_Iconic.jpg"))
    assert hits, name
    return cv2.imread(str(hits[0]))


def old_footage(img: np.ndarray, short: int = 120, sigma: float = 1.2, quality: int = 25,
                enlarge: bool = True) -> np.ndarray:
    """What make_grocery_dataset.py --degrade does to a shot: small (short side ``short`` px),
    blurred, JPEG, enlarged back (or left small: ``enlarge=False``)."""
    h, w = img.shape[:2]
    f = short / min(h, w)
    small = cv2.GaussianBlur(cv2.resize(img, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA), (0, 0), sigma)
    small = cv2.imdecode(cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) if enlarge else small


def textured(seed: int, size: tuple[int, int] = (300, 220)) -> np.ndarray:
    """A synthetic 'package print': coloured blocks, circles and words (plenty of corners)."""
    rng = np.random.default_rng(seed)
    h, w = size
    img = np.full((h, w, 3), 235, np.uint8)
    for _ in range(14):
        x, y = int(rng.integers(0, w - 30)), int(rng.integers(0, h - 30))
        col = tuple(int(c) for c in rng.integers(0, 255, 3))
        if rng.random() < 0.5:
            cv2.rectangle(img, (x, y), (x + int(rng.integers(15, 60)), y + int(rng.integers(15, 60))), col, -1)
        else:
            cv2.circle(img, (x + 15, y + 15), int(rng.integers(6, 25)), col, -1)
    for i in range(5):
        word = "".join(chr(int(c)) for c in rng.integers(65, 90, 6))
        cv2.putText(img, word, (8, 40 + 50 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.9,
                    tuple(int(c) for c in rng.integers(0, 120, 3)), 2, cv2.LINE_AA)
    return img


def perspective_copy(img: np.ndarray, out_size=(400, 400), relight=1.25, occlude=True, seed=0):
    """Warp ``img`` into a cluttered scene with a perspective, change the light, hide a corner.

    Returns (scene, H) with H mapping ``img`` pixels to ``scene`` pixels.
    """
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    W, Hh = out_size
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = np.float32([[70, 40], [W - 90, 70], [W - 60, Hh - 50], [90, Hh - 30]])
    H = cv2.getPerspectiveTransform(src, dst)
    bg = rng.integers(0, 255, (Hh // 20, W // 20, 3)).astype(np.uint8)
    scene = cv2.resize(bg, (W, Hh), interpolation=cv2.INTER_NEAREST)
    warped = cv2.warpPerspective(img, H, (W, Hh))
    m = cv2.warpPerspective(np.full((h, w), 255, np.uint8), H, (W, Hh)) > 0
    scene[m] = warped[m]
    scene = np.clip(scene.astype(np.float32) * np.float32([relight * 0.9, relight, relight * 1.1]), 0, 255).astype(np.uint8)
    if occlude:  # a 'thumb' over the lower-left part of the product
        cv2.ellipse(scene, (110, Hh - 90), (45, 70), 20, 0, 360, (120, 150, 200), -1)
    return scene, H


def white_background_mask(img: np.ndarray) -> np.ndarray:
    """Ground truth for a catalog image: everything that is not the white background."""
    from .segmentation import clean_mask

    m = (img.min(axis=2) < 235).astype(np.uint8) * 255
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    return clean_mask(m.astype(np.float32) / 255.0, 0.5, keep_ratio=0.5)


def person_scene(grocery: Path, models_dir: Path) -> tuple[np.ndarray, np.ndarray, tuple[slice, slice]]:
    """A product cut-out held up beside a person (the test photo fetched into MODELS_DIR):
    (scene BGR, product ground-truth mask, the person's core region as slices)."""
    person = cv2.imread(str(models_dir / "test-assets" / "astronaut.png"))
    prod = cv2.resize(iconic(grocery, "Tropicana-Apple-Juice"), (240, 240))
    pmask = cv2.resize(white_background_mask(iconic(grocery, "Tropicana-Apple-Juice")), (240, 240),
                       interpolation=cv2.INTER_NEAREST)
    scene = np.zeros((420, 620, 3), np.uint8)
    scene[:] = (90, 110, 100)
    scene[40:400, 380:600] = cv2.resize(person, (220, 360))
    roi = scene[100:340, 60:300]
    roi[pmask > 0] = prod[pmask > 0]  # the product as a cut-out, like a product held up
    prod_gt = np.zeros(scene.shape[:2], np.uint8)
    prod_gt[100:340, 60:300] = pmask
    # the astronaut's face and suit: the middle of the pasted photo (flag and shuttle excluded)
    person_core = (slice(40 + 60, 400), slice(380 + 66, 380 + 154))
    return scene, prod_gt, person_core
