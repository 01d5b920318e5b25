"""Fixtures for the matching tests: the grocery dataset in ../shared (skip with a message when
absent) and model files in MODELS_DIR (skip with the command that fetches them)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def grocery() -> Path:
    env = os.environ.get("SHARED_DIR")
    g = (Path(env) if env else REPO.parent / "shared") / "datasets" / "grocery"
    if not (g / "classes.csv").is_file():
        pytest.skip(f"grocery dataset not found at {g} (set SHARED_DIR to the folder holding datasets/)")
    return g


@pytest.fixture(scope="session")
def models_dir() -> Path:
    d = Path(os.environ.get("MODELS_DIR", REPO / "data" / "models"))
    if not d.is_absolute():
        d = REPO / d
    if not (d / "selfie_segmentation.tflite").is_file():
        pytest.skip(f"model files missing in {d}; run `python scripts/fetch_models.py`")
    return d
