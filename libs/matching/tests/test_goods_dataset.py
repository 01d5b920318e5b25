"""scripts/make_goods_dataset.py: the low-texture benchmark set built from the real photos of
../shared/datasets/goods (catalog from some photos of each object, clips from the others, one of
each look-alike pair held out as a hard negative)."""
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import cv2
import pytest

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "make_goods_dataset.py"


def build(out: Path, goods: Path, *extra: str, shared: Path | None = None) -> dict:
    """Run the script; ``shared``: the SHARED_DIR whose grocery set it reads (--catalog-size, --bury)."""
    env = {**os.environ, "SHARED_DIR": str(shared)} if shared else None
    r = subprocess.run([sys.executable, str(SCRIPT), str(out), "--goods", str(goods), *extra],
                       capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("seed", ["0", "1"])
def test_catalog_and_clips_never_share_a_photo_and_the_truth_is_what_the_clips_show(tmp_path, goods, seed):
    out = tmp_path / "a"
    summary = build(out, goods, "--seed", seed)
    catalog = json.loads((out / "catalog.json").read_text())["products"]
    truth = json.loads((out / "truth.json").read_text())
    held = set(truth["meta"]["held_out"])
    assert held and not held & {p["title"].replace(" ", "_") for p in catalog}
    assert summary["products"] == len(catalog) == len(truth["meta"]["catalog_photos"])
    assert all(len(p["images"]) == 2 and all(cv2.imread(str(out / i)) is not None for i in p["images"])
               for p in catalog)

    listed = {ph for phs in truth["meta"]["catalog_photos"].values() for ph in phs}
    shown = [s["photo"] for s in truth["shots"]]
    assert len(shown) == len(set(shown)) and not listed & set(shown)  # each photo once, never both
    # every photo of a catalog object is used: in the catalog or in a clip
    objects = {f"objects/{p.parent.name}/{p.name}" for p in goods.glob("objects/*/*.jpg") if p.parent.name not in held}
    assert listed | {s["photo"] for s in truth["shots"] if s["in_catalog"]} == objects

    per_video = {}
    for s in truth["shots"]:
        per_video.setdefault(s["video_id"], []).append(s)
        assert s["in_catalog"] == (s["product_id"] is not None) and (s["class"] in held) <= (not s["in_catalog"])
    assert {(m["product_id"], m["video_id"]) for m in truth["matches"]} == \
        {(s["product_id"], s["video_id"]) for s in truth["shots"] if s["in_catalog"]}
    for vid, shots in per_video.items():
        kinds = Counter(s["in_catalog"] for s in shots)
        assert kinds[True] >= 1 and kinds[False] >= 1, vid  # a catalog object among distractors
        assert len({s["product_id"] for s in shots if s["in_catalog"]}) == kinds[True]  # one shot per object
        n = cv2.VideoCapture(str(out / "videos" / f"{vid}.mp4")).get(cv2.CAP_PROP_FRAME_COUNT)
        assert abs(n / 10 - shots[-1]["end"]) < 0.11


def test_the_same_seed_gives_the_same_set(tmp_path, goods):
    build(tmp_path / "a", goods)
    build(tmp_path / "b", goods)
    build(tmp_path / "c", goods, "--seed", "1")
    read = lambda d: json.loads((tmp_path / d / "truth.json").read_text())  # noqa: E731
    assert read("a") == read("b") and read("a")["shots"] != read("c")["shots"]
    assert (tmp_path / "a/videos/goods-000.mp4").read_bytes() == (tmp_path / "b/videos/goods-000.mp4").read_bytes()


def test_catalog_size_adds_grocery_listings_and_leaves_the_clips_alone(tmp_path, goods, grocery):
    plain, big = tmp_path / "plain", tmp_path / "big"
    build(plain, goods)
    build(big, goods, "--catalog-size", "120", shared=grocery.parents[1])
    truth, plain_truth = json.loads((big / "truth.json").read_text()), json.loads((plain / "truth.json").read_text())
    assert truth["shots"] == plain_truth["shots"] and truth["matches"] == plain_truth["matches"]
    products = json.loads((big / "catalog.json").read_text())["products"]
    assert len(products) == 120
    others = truth["meta"]["other_listings"]
    assert len(others) == 120 - len(plain_truth["meta"]["catalog_photos"])
    # the 81 iconic images first (every grocery class once), then store photos of the train split
    srcs = [others[p] for p in sorted(others)]
    assert all(s.startswith("iconic-images") for s in srcs[:81]) and len(set(srcs[:81])) == 81
    assert all(s.startswith("train/") for s in srcs[81:])
    for p in products:
        if p["product_id"] in others:
            img = cv2.imread(str(big / p["images"][0]))
            assert img is not None and max(img.shape[:2]) <= 640


def test_bury_puts_the_same_clips_inside_minutes_of_grocery_footage(tmp_path, goods, grocery):
    plain, long = tmp_path / "plain", tmp_path / "long"
    build(plain, goods)
    build(long, goods, "--bury", "0.5", shared=grocery.parents[1])
    plain_truth, truth = json.loads((plain / "truth.json").read_text()), json.loads((long / "truth.json").read_text())
    assert truth["matches"] == plain_truth["matches"] and truth["meta"]["bury_minutes"] == 0.5
    listed = {ph for phs in truth["meta"]["catalog_photos"].values() for ph in phs}
    for v in json.loads((long / "videos.json").read_text())["videos"]:
        shots = [s for s in truth["shots"] if s["video_id"] == v["video_id"]]
        filler = [s for s in shots if s.get("filler")]
        inside = [s for s in shots if not s.get("filler")]
        assert filler and all(s["photo"].startswith("val/") and "/Packages/" not in s["photo"]
                              and not s["in_catalog"] for s in filler)
        assert not listed & {s["photo"] for s in filler}
        clip = [s for s in plain_truth["shots"] if s["video_id"] == v["video_id"]]
        assert [(s["photo"], s["product_id"]) for s in inside] == [(s["photo"], s["product_id"]) for s in clip]
        offset = inside[0]["start"] - clip[0]["start"]
        assert all(abs(a["start"] - b["start"] - offset) < 1e-6 for a, b in zip(inside, clip))
        cap = cv2.VideoCapture(str(long / v["path"]))
        assert 28 <= cap.get(cv2.CAP_PROP_FRAME_COUNT) / 10 <= 33 and shots[-1]["end"] == v["duration_s"]
