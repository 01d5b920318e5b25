"""Fixtures for the matching tests: the grocery and goods datasets in ../shared (skip with a
message when absent) and model files in MODELS_DIR (skip with the command that fetches them)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def shared_dataset(name: str, marker: str) -> Path:
    env = os.environ.get("SHARED_DIR")
    d = (Path(env) if env else REPO.parent / "shared") / "datasets" / name
    if not (d / marker).exists():
        pytest.skip(f"{name} dataset not found at {d} (set SHARED_DIR to the folder holding datasets/)")
    return d


@pytest.fixture(scope="session")
def grocery() -> Path:
    return shared_dataset("grocery", "classes.csv")


@pytest.fixture(scope="session")
def goods() -> Path:
    return shared_dataset("goods", "objects")


@pytest.fixture(scope="session")
def models_dir() -> Path:
    d = Path(os.environ.get("MODELS_DIR", REPO / "data" / "models"))
    if not d.is_absolute():
        d = REPO / d
    if not (d / "selfie_segmentation.tflite").is_file():
        pytest.skip(f"model files missing in {d}; run `python scripts/fetch_models.py`")
    return d
