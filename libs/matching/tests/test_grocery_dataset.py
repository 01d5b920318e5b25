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


def test_bury_puts_the_same_clips_inside_minutes_of_other_footage(tmp_path, grocery):
    plain, long = tmp_path / "plain", tmp_path / "long"
    assert build(plain, grocery).returncode == 0
    r = build(long, grocery, "--bury", "0.5")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["videos"] == 2
    clip_shots = json.loads((plain / "truth.json").read_text())["shots"]
    truth = json.loads((long / "truth.json").read_text())
    assert truth["matches"] == json.loads((plain / "truth.json").read_text())["matches"]
    videos = {v["video_id"]: v for v in json.loads((long / "videos.json").read_text())["videos"]}
    clip_photos = {s["photo"] for s in clip_shots}
    for vid, v in videos.items():
        shots = [s for s in truth["shots"] if s["video_id"] == vid]
        cap = cv2.VideoCapture(str(long / v["path"]))
        duration = cap.get(cv2.CAP_PROP_FRAME_COUNT) / cap.get(cv2.CAP_PROP_FPS)
        assert 28 <= duration <= 33 and abs(v["duration_s"] - duration) < 0.2
        assert shots[-1]["end"] == v["duration_s"]
        filler = [s for s in shots if s.get("filler")]
        inside = [s for s in shots if not s.get("filler")]
        assert filler and all(s["photo"] not in clip_photos for s in filler)  # no clip photo is filler
        assert all(s["photo"].startswith("val/") and "/Packages/" not in s["photo"] for s in filler)
        # the clip's shots, in order, shifted to where the clip sits
        plain_shots = [s for s in clip_shots if s["video_id"] == vid]
        offset = inside[0]["start"] - plain_shots[0]["start"]
        assert v["clip_start"] == inside[0]["start"] and v["clip_end"] == inside[-1]["end"]
        assert [(s["photo"], s["product_id"]) for s in inside] == [(s["photo"], s["product_id"]) for s in plain_shots]
        assert all(abs(a["start"] - b["start"] - offset) < 1e-6 for a, b in zip(inside, plain_shots))
        # and they look the same: a frame in the middle of the clip's first shot, here and there
        mid = (plain_shots[0]["start"] + plain_shots[0]["end"]) / 2
        frames = []
        for path, t in ((plain / f"videos/{vid}.mp4", mid), (long / v["path"], mid + offset)):
            c = cv2.VideoCapture(str(path))
            c.set(cv2.CAP_PROP_POS_FRAMES, round(t * 10))
            ok, f = c.read()
            assert ok
            frames.append(f.astype(float))
        assert abs(frames[0] - frames[1]).mean() < 6


def test_degrade_and_grid_change_what_the_shots_show_not_the_clips(tmp_path, grocery):
    plain, degraded, grid = tmp_path / "plain", tmp_path / "degraded", tmp_path / "grid"
    assert build(plain, grocery).returncode == 0
    for out, flag in ((degraded, "--degrade"), (grid, "--grid")):
        r = build(out, grocery, flag)
        assert r.returncode == 0, r.stderr
    truth = {d: json.loads((d / "truth.json").read_text()) for d in (plain, degraded, grid)}
    assert truth[degraded]["meta"]["degrade"] and truth[grid]["meta"]["grid"]
    for d in (degraded, grid):  # the same plan: shots, timeline, pairs
        assert truth[d]["shots"] == truth[plain]["shots"] and truth[d]["matches"] == truth[plain]["matches"]

    def frame(d, i):
        cap = cv2.VideoCapture(str(d / "videos" / "val-000.mp4"))
        cap.set(cv2.CAP_PROP_POS_FRAMES, i)
        return cap.read()[1]

    def detail(img):
        return cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()

    for i in (5, 25):
        p, d, g = frame(plain, i), frame(degraded, i), frame(grid, i)
        assert detail(d) < 0.5 * detail(p)  # small, blurred and compressed: the fine print is gone
        assert (g != p).any()

    # a shelf shot: the photo itself in one cell of four, the others three other photos
    sys.path.insert(0, str(SCRIPT.parent))
    from make_grocery_dataset import Look

    photo = truth[grid]["shots"][0]["photo"]
    pool = sorted({s["photo"] for s in truth[plain]["shots"]} - {photo})
    shelf = Look(grocery, 0, False, pool).image(photo)
    own = cv2.imread(str(grocery / photo))
    side = min(own.shape[:2])
    assert shelf.shape[:2] == (2 * side, 2 * side)
    cells = [shelf[y:y + side, x:x + side] for y in (0, side) for x in (0, side)]
    own_cell = cv2.resize(Look._square(own), (side, side))
    assert sum(bool((c == own_cell).all()) for c in cells) == 1


def test_wide_footage_films_the_same_plan_at_another_size_and_rate(tmp_path, grocery):
    plain, wide = tmp_path / "plain", tmp_path / "wide"
    assert build(plain, grocery).returncode == 0
    r = build(wide, grocery, "--footage", "wide")
    assert r.returncode == 0, r.stderr
    tp, tw = (json.loads((d / "truth.json").read_text()) for d in (plain, wide))
    assert (tw["meta"]["width"], tw["meta"]["size"], tw["meta"]["fps"]) == (640, 360, 25)
    assert [s["photo"] for s in tw["shots"]] == [s["photo"] for s in tp["shots"]]
    assert tw["matches"] == tp["matches"]
    # the same shots last as long (within a frame of each rate and a 3-frame cross-fade)
    for a, b in zip(tp["shots"], tw["shots"]):
        assert abs((a["end"] - a["start"]) - (b["end"] - b["start"])) <= 0.1 + 0.18 + 1e-6
    cap = cv2.VideoCapture(str(wide / "videos" / "val-000.mp4"))
    assert round(cap.get(cv2.CAP_PROP_FPS)) == 25
    ok, f = cap.read()
    assert ok and f.shape == (360, 640, 3)
    assert f[:, :100].max() < 30 and f[:, -100:].max() < 30  # black bars (mp4v leaves a little noise)
    assert f[:, 200:440].std() > 10  # the camera's view between them


def test_more_twins_leaves_four_more_siblings_out_of_the_catalog(tmp_path, grocery):
    sys.path.insert(0, str(SCRIPT.parent))
    from make_grocery_dataset import HELD_OUT, MORE_TWINS, slug

    out = tmp_path / "twins"
    r = subprocess.run([sys.executable, str(SCRIPT), "--split", "val", str(out), "--videos", "12",
                        "--grocery", str(grocery), "--more-twins"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    catalog = {p["product_id"] for p in json.loads((out / "catalog.json").read_text())["products"]}
    truth = json.loads((out / "truth.json").read_text())
    assert set(truth["meta"]["held_out"]) == set(HELD_OUT) | set(MORE_TWINS)
    for name in MORE_TWINS:
        assert slug(name) not in catalog
        # its sibling stays in: the family name (all but the variant word) is still in the catalog
        assert any(pid.startswith(slug(name).split("-")[0]) for pid in catalog)
    shown = [s for s in truth["shots"] if s["class"] in MORE_TWINS]
    assert shown and all(not s["in_catalog"] and s["product_id"] is None for s in shown)
    assert all(m["product_id"] in catalog for m in truth["matches"])


def test_products_a_photo_shows_on_the_shelf_are_listed_apart_from_the_matches(tmp_path, grocery):
    sys.path.insert(0, str(SCRIPT.parent))
    from make_grocery_dataset import ALSO_SHOWN, slug

    out = tmp_path / "val"
    r = build(out, grocery, "--videos", "6")
    assert r.returncode == 0, r.stderr
    catalog = {p["product_id"] for p in json.loads((out / "catalog.json").read_text())["products"]}
    truth = json.loads((out / "truth.json").read_text())
    also = {(t["product_id"], t["video_id"]) for t in truth["also_shown"]}
    # val-005 shows a photo of the held-out God Morgon Orange & Red Grapefruit with God Morgon
    # Apple beside it on the shelf
    assert ("god-morgon-apple-juice", "val-005") in also
    assert not also & {(t["product_id"], t["video_id"]) for t in truth["matches"]}
    for pid, vid in also:
        assert pid in catalog
        shown = [s for s in truth["shots"] if s["video_id"] == vid and pid in s.get("also_shown", [])]
        assert shown and all(pid in {slug(c) for c in ALSO_SHOWN[s["photo"]]} for s in shown)


def test_shelf_puts_three_other_catalog_products_beside_each_shot_and_all_are_matches(tmp_path, grocery):
    plain, shelf = tmp_path / "plain", tmp_path / "shelf"
    assert build(plain, grocery, "--videos", "3").returncode == 0
    r = build(shelf, grocery, "--videos", "3", "--shelf")
    assert r.returncode == 0, r.stderr
    catalog = {p["product_id"] for p in json.loads((shelf / "catalog.json").read_text())["products"]}
    truth, before = (json.loads((d / "truth.json").read_text()) for d in (shelf, plain))
    assert truth["meta"]["shelf"]
    # the same plan: each shot's own photo and timeline; three neighbours more per shot
    assert [(s["photo"], s["start"]) for s in truth["shots"]] == [(s["photo"], s["start"]) for s in before["shots"]]
    matches = {(m["product_id"], m["video_id"]) for m in truth["matches"]}
    assert {(m["product_id"], m["video_id"]) for m in before["matches"]} <= matches
    for s in truth["shots"]:
        beside = s["beside"]
        assert len(beside) == 3 and len({b["product_id"] for b in beside} | {s["product_id"]}) == 4
        for b in beside:
            assert b["product_id"] in catalog and (b["product_id"], s["video_id"]) in matches
            assert b["photo"].startswith("val/Packages/")
    assert len(matches) > 2 * len(before["matches"])
    both = subprocess.run([sys.executable, str(SCRIPT), "--split", "val", str(tmp_path / "x"), "--grid", "--shelf",
                           "--grocery", str(grocery)], capture_output=True, text=True, timeout=60)
    assert both.returncode == 2 and "pick one" in both.stderr


def test_catalog_size_pads_the_catalog_with_listings_no_clip_is_about(tmp_path, grocery):
    plain, big = tmp_path / "plain", tmp_path / "big"
    assert build(plain, grocery).returncode == 0
    r = build(big, grocery, "--catalog-size", "60")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["products"] == 60
    truth, plain_truth = json.loads((big / "truth.json").read_text()), json.loads((plain / "truth.json").read_text())
    assert truth["shots"] == plain_truth["shots"] and truth["matches"] == plain_truth["matches"]
    assert (big / "videos" / "val-000.mp4").read_bytes() == (plain / "videos" / "val-000.mp4").read_bytes()

    products = json.loads((big / "catalog.json").read_text())["products"]
    others = {p["product_id"]: p for p in products if p["product_id"].startswith("other-")}
    sources = truth["meta"]["other_listings"]
    assert len(others) == 34 and set(sources) == set(others)
    for pid, src in sources.items():
        img = cv2.imread(str(big / others[pid]["images"][0]))
        assert img is not None and max(img.shape[:2]) <= 640
        # never a packaged product (those are the catalog's and the held-out twins), never a photo
        # of the clips' own split
        assert "/Packages/" not in src and not src.startswith("val/")
    # several kinds, taken in turns: no single produce class fills the padding
    kinds = {src.rsplit("/", 1)[0] for src in sources.values()}
    assert len(kinds) >= 20
    # a produce listing of a class a clip shows may be reported: listed apart from the matches
    def kind(path: str) -> str:  # "train/Fruit/Kiwi/x.jpg" and "iconic-images-.../Fruit/Kiwi/y.jpg" -> "Fruit/Kiwi"
        return path.split("/", 1)[1].rsplit("/", 1)[0]

    shown = {(kind(s["photo"]), s["video_id"]) for s in truth["shots"]}
    expected = {(pid, vid) for pid, src in sources.items() if not src.startswith("goods/")
                for k, vid in shown if k == kind(src)}
    also = {(a["product_id"], a["video_id"]) for a in truth.get("also_shown", [])}
    assert {a for a in also if a[0].startswith("other-")} == expected
    assert not also & {(m["product_id"], m["video_id"]) for m in truth["matches"]}


def test_catalog_size_fails_clearly_when_there_are_not_enough_listings(tmp_path, grocery):
    r = build(tmp_path / "x", grocery, "--catalog-size", "100000")
    assert r.returncode != 0 and "--catalog-size: only" in r.stderr
