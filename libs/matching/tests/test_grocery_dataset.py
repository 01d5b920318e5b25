"""scripts/make_grocery_dataset.py: the benchmark's dataset, and its --gallery option (extra
catalog views from the other split), built from the real grocery photos in ../shared."""
import json
import subprocess
import sys
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "make_grocery_dataset.py"


def build(out: Path, grocery: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--split", "val", str(out), "--videos", "2",
                           "--grocery", str(grocery), *extra], capture_output=True, text=True, timeout=300)


def test_gallery_adds_views_from_the_other_split_and_leaves_the_clips_alone(tmp_path, grocery):
    plain, gal = tmp_path / "plain", tmp_path / "gallery"
    assert build(plain, grocery).returncode == 0
    r = build(gal, grocery, "--gallery", "2", "--gallery-from", "train")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["catalog_images"] == 26 * 3

    products = json.loads((gal / "catalog.json").read_text())["products"]
    for p in products:
        assert p["images"][0] == f"catalog/{p['product_id']}/0.jpg"  # the iconic image stays first
        assert len(p["images"]) == 3
        for rel in p["images"]:
            assert cv2.imread(str(gal / rel)) is not None
    truth = json.loads((gal / "truth.json").read_text())
    gallery = truth["meta"]["gallery"]
    assert len(gallery) == 26 and all(ph.startswith("train/") for v in gallery.values() for ph in v)
    # the clips are the ones built without a gallery: only the catalog differs
    plain_truth = json.loads((plain / "truth.json").read_text())
    assert truth["shots"] == plain_truth["shots"] and truth["matches"] == plain_truth["matches"]
    assert all(s["photo"].startswith("val/") for s in truth["shots"])


def test_gallery_from_the_clips_own_split_is_refused(tmp_path, grocery):
    r = build(tmp_path / "x", grocery, "--gallery", "2", "--gallery-from", "val")
    assert r.returncode == 2 and "other split" in r.stderr
    assert not (tmp_path / "x").exists()
