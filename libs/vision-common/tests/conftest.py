"""Fixtures shared by the vision-common tests.

Real photos come from the grocery dataset in ../shared (or $SHARED_DIR): tests that need them
skip with a message where it is absent. Model files come from MODELS_DIR (default data/models,
filled by scripts/fetch_models.py): tests that need them skip with the command to run.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]


def _shared() -> Path:
    env = os.environ.get("SHARED_DIR")
    return Path(env) if env else REPO.parent / "shared"


@pytest.fixture(scope="session")
def grocery() -> Path:
    g = _shared() / "datasets" / "grocery"
    if not (g / "classes.csv").is_file():
        pytest.skip(f"grocery dataset not found at {g} (set SHARED_DIR to the folder holding datasets/)")
    return g


@pytest.fixture(scope="session")
def models_dir() -> Path:
    d = Path(os.environ.get("MODELS_DIR", REPO / "data" / "models"))
    if not d.is_absolute():
        d = REPO / d
    need = ["selfie_segmentation.tflite", "face_detection_full_range_sparse.tflite", "test-assets/astronaut.png"]
    missing = [n for n in need if not (d / n).is_file()]
    if missing:
        pytest.skip(f"model files missing in {d}: {missing}; run `python scripts/fetch_models.py`")
    return d
