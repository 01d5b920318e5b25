"""common_py.local_dataset: what the local sources of catalog-collector and media-ingestion share."""

import json

import pytest
from pydantic import BaseModel

from common_py.local_dataset import DatasetError, LocalDataset, selects


class Index(BaseModel):
    items: list[str]


@pytest.mark.parametrize("industry, title, keywords, expected", [
    ("pillow", "Ergonomic Pillow", [], True),            # in the title, whatever the case
    ("  ERGONOMIC ", None, ["ergonomic pillow"], True),  # in a keyword, trimmed
    ("*", None, [], True),                               # everything
    ("pillow", "Desk lamp", ["lamp", "office"], False),
    ("pillow", None, [], False),
])
def test_selects_by_title_or_keyword(industry, title, keywords, expected):
    assert selects(industry, title, keywords) is expected


def test_load_parses_the_index_or_says_what_is_wrong(tmp_path):
    dataset = LocalDataset(tmp_path)
    (tmp_path / "index.json").write_text(json.dumps({"items": ["a", "b"]}))
    assert dataset.load("index.json", Index).items == ["a", "b"]

    with pytest.raises(DatasetError, match="has no missing.json"):
        dataset.load("missing.json", Index)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(DatasetError, match="broken.json is not a valid broken.json"):
        dataset.load("broken.json", Index)
    (tmp_path / "wrong.json").write_text(json.dumps({"items": "not a list"}))
    with pytest.raises(DatasetError, match="wrong.json is not a valid"):
        dataset.load("wrong.json", Index)


def test_errors_take_the_type_the_caller_asks_for(tmp_path):
    class SourceError(Exception):
        """A service's own error type (catalog-collector and media-ingestion pass theirs)."""

    dataset = LocalDataset(tmp_path, error=SourceError)
    with pytest.raises(SourceError):
        dataset.load("missing.json", Index)
    with pytest.raises(SourceError, match="image '../x.jpg' is outside the dataset folder"):
        dataset.inside("../x.jpg", "image")


def test_inside_resolves_files_and_refuses_any_way_out(tmp_path):
    root = tmp_path / "dataset"
    (root / "img").mkdir(parents=True)
    (root / "img" / "a.jpg").write_bytes(b"x")
    (tmp_path / "secret.jpg").write_bytes(b"x")
    (root / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    dataset = LocalDataset(root / "img" / "..")  # the root itself is resolved too
    image = (root / "img" / "a.jpg").resolve()
    assert dataset.inside("img/a.jpg", "image") == image
    assert dataset.inside("img/../img/a.jpg", "image") == image
    for rel in ("../secret.jpg", str(tmp_path / "secret.jpg"), "link.jpg", ".", ""):
        with pytest.raises(DatasetError, match="outside the dataset folder"):
            dataset.inside(rel, "image")
