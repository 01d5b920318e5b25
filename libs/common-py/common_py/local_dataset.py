"""The local dataset of SPEC §8, as the local sources of catalog-collector (catalog.json) and
media-ingestion (videos.json) read it: which entries a job's industry selects, loading an index
file, and resolving the files it names without ever leaving the dataset folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

Index = TypeVar("Index", bound=BaseModel)


class DatasetError(Exception):
    """An index file is missing or invalid, or names a file outside the dataset folder."""


def selects(industry: str, title: str | None, keywords: list[str]) -> bool:
    """SPEC §8: entries whose keywords or title contain the industry (case-insensitive); `*` is all."""
    needle = industry.strip().lower()
    if needle == "*":
        return True
    return needle in (title or "").lower() or any(needle in k.lower() for k in keywords)


class LocalDataset:
    def __init__(self, root: Path, error: type[Exception] = DatasetError):
        self.root = Path(root).resolve()
        # raised for every problem, so that a service's source reports them as its own error type
        self.error = error

    def load(self, name: str, model: type[Index]) -> Index:
        """`<root>/<name>` parsed into `model`."""
        path = self.root / name
        try:
            return model.model_validate(json.loads(path.read_text()))
        except FileNotFoundError as exc:
            raise self.error(f"local dataset has no {name}: {path}") from exc
        except (json.JSONDecodeError, ValidationError) as exc:
            raise self.error(f"{path} is not a valid {name}: {exc}") from exc

    def inside(self, rel: str, what: str) -> Path:
        """The absolute path of `rel`, which must stay in the folder once resolved (no `..`, no
        absolute path, no symlink out): the index is input, not trusted to name any file."""
        path = (self.root / rel).resolve()
        if self.root not in path.parents:
            raise self.error(f"{what} {rel!r} is outside the dataset folder")
        return path
