#!/usr/bin/env python3
"""Build a matcher benchmark dataset (SPEC §8 local layout) from the Grocery Store Dataset.

  catalog.json   the packaged products' iconic images (one clean image per product, like a
                 listing), except HELD_OUT: those products stay out of the catalog, so their
                 in-store photos are hard negatives (each has a sibling in the catalog that
                 differs by a colour band, a word or a picture).
  videos/*.mp4   short clips (mp4v, 10 fps, 360x360) assembled from the split's in-store photos:
                 each clip has 3-6 shots with slow camera motion (zoom, pan, slight roll, light
                 change, sometimes a blurred start or a cross-fade), showing 0-3 catalog products
                 (one or two shots each, different photos), plus distractor shots: produce
                 (fruit/vegetables) and held-out packages.
  truth.json     {"matches": [{product_id, video_id}]} plus, for diagnostics, "shots": the
                 shot timeline of every clip with its photo and class, and "also_shown": catalog
                 products a clip's photos show on a shelf besides their own class (ALSO_SHOWN,
                 checked by eye), which a matcher may report or not.

With --bury MINUTES each clip is instead placed, at a random point, inside about MINUTES of
other footage: slow pans over the split's produce photos that no clip uses (filler shots of
3-8 s, drawn from a random stream of their own, so the clips inside are the same clips). The
truth's shot timeline is shifted to where the clip sits, and lists the filler shots too.

Harder looks of the same clips (the plan is the same; only what a shot shows changes, drawn
from a random stream of each photo's own):
  --degrade   every clip shot is downscaled to a short side of 80-200 px, blurred (sigma
              0.6-1.5) and JPEG-compressed (quality 15-35), then enlarged back: small, blurry,
              old footage
  --grid      every clip shot is a 2x2 shelf: its photo in one cell, three produce photos no clip
              uses in the others (each product a quarter of the frame, among others)
  --shelf     every clip shot is a 2x2 shelf of catalog products: its photo in one cell, store
              photos of three other catalog products of the split in the others (drawn per shot,
              so they recur across clips); every product on a shelf is a match of its clip
              (truth.json's shots list them as "beside")
More open-set twins (a different plan: fewer catalog products, more held-out photos):
  --more-twins     also hold MORE_TWINS out of the catalog
Another clip generator (the same plan and photos, filmed differently):
  --footage wide   640x360 at 25 fps, the camera's square view between black bars
A bigger catalog (the same clips and truth):
  --catalog-size N  pad the catalog to N products with listings no clip is about, one product
                    per image: the produce iconic images and ../shared's goods photos (about
                    120, kinds in turns), then train store photos of produce no clip uses. A
                    produce listing whose class a clip shows is listed in truth.json's
                    "also_shown" (a matcher may report it or not)

Every photo is used at most once per dataset (filler photos only recur as filler); the same
--seed gives the same dataset. Images
are read from ../shared/datasets/grocery (or --grocery) and written only under OUT: never
commit OUT (put it under data/, which git ignores, or outside the repo).

Examples:
  python scripts/make_grocery_dataset.py --split train data/bench/grocery-train
  python scripts/make_grocery_dataset.py --split val data/bench/grocery-val --videos 30
  # each product also gets 3 of its train in-store photos as gallery images (a listing's extra views)
  python scripts/make_grocery_dataset.py --split val data/bench/grocery-val-g3 --gallery 3 --gallery-from train
  # the same clips, each buried inside 4 minutes of other footage (real-length videos)
  python scripts/make_grocery_dataset.py --split val data/bench/grocery-val-4min --bury 4
  # the same clips, small and blurry; and as 2x2 shelves
  python scripts/make_grocery_dataset.py --split val data/bench/grocery-val-degraded --degrade
  python scripts/make_grocery_dataset.py --split val data/bench/grocery-val-grid --grid
  python scripts/make_grocery_dataset.py --split val data/bench/grocery-val-wide --footage wide
  # several catalog products in every frame (2x2 shelves of them)
  python scripts/make_grocery_dataset.py --split val data/bench/grocery-val-shelf --shelf
  # the same clips against a catalog of 100 products (retrieval recall@K as the catalog grows)
  python scripts/make_grocery_dataset.py --split val data/bench/grocery-val-c100 --catalog-size 100
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

# Siblings left out of the catalog (their photos become hard negatives). Each has a near-twin in
# the catalog: Arla Standard (red) vs Arla Medium-Fat (green), Garant Standard vs Medium-Fat,
# God Morgon Orange & Red Grapefruit vs Orange / Red Grapefruit, Yoggi Vanilla vs Strawberry,
# Alpro Vanilla vs Blueberry. All five have photos in both train and val.
HELD_OUT = (
    "Arla-Standard-Milk",
    "Garant-Ecological-Standard-Milk",
    "God-Morgon-Orange-Red-Grapefruit-Juice",
    "Yoggi-Vanilla-Yoghurt",
    "Alpro-Vanilla-Soyghurt",
)
# --more-twins: four more products out of the catalog, each beside a sibling that stays in it
# (Arla Ecological vs Arla Medium Fat milk, Bravo Orange vs Apple, God Morgon Apple vs Orange,
# Arla Mild Vanilla vs Arla Natural yoghurts). All four have photos in both splits.
MORE_TWINS = (
    "Arla-Ecological-Medium-Fat-Milk",
    "Bravo-Orange-Juice",
    "God-Morgon-Apple-Juice",
    "Arla-Mild-Vanilla-Yoghurt",
)
# Catalog products a store photo shows besides its own class, checked by eye: the cartons on the
# shelf behind the one held up, readable and whole enough to be recognised (the SPEC's "visibly
# appears"). A clip that shows such a photo neither must match them nor is wrong to: truth.json
# lists them as "also_shown" pairs, which the benchmark counts neither way. Found by looking at
# every accepted pair that truth.json lacked in val and its variants (before and after each
# matching change), then at everything else recognisable in those photos; on train every such
# pair was wrong, so it has none.
ALSO_SHOWN = {
    "val/Packages/Juice/Bravo-Apple-Juice/Bravo-Apple-Juice_003.jpg": ("God-Morgon-Red-Grapefruit-Juice",),
    "val/Packages/Juice/Bravo-Orange-Juice/Bravo-Orange-Juice_001.jpg": (
        "God-Morgon-Red-Grapefruit-Juice", "Bravo-Apple-Juice"),
    "val/Packages/Juice/Bravo-Orange-Juice/Bravo-Orange-Juice_002.jpg": (
        "God-Morgon-Red-Grapefruit-Juice", "Bravo-Apple-Juice"),
    "val/Packages/Juice/God-Morgon-Apple-Juice/God-Morgon-Apple-Juice_003.jpg": (
        "God-Morgon-Red-Grapefruit-Juice", "Bravo-Apple-Juice"),
    "val/Packages/Juice/God-Morgon-Orange-Red-Grapefruit-Juice/God-Morgon-Orange-Red-Grapefruit-Juice_004.jpg": (
        "God-Morgon-Apple-Juice",),
    "val/Packages/Yoghurt/Valio-Vanilla-Yoghurt/Valio-Vanilla-Yoghurt_005.jpg": ("Yoggi-Strawberry-Yoghurt",),
}
SIZE = 360
FPS = 10


@dataclass(frozen=True)
class Footage:
    """How the clips are filmed. The default is the benchmark's camera (360x360, 10 fps); a wider
    frame shows the camera's square view centred between black bars (a phone clip in a landscape
    video)."""

    width: int = SIZE
    height: int = SIZE
    fps: int = FPS

    def frame(self, view: np.ndarray) -> np.ndarray:
        if self.width == view.shape[1]:
            return view
        out = np.zeros((self.height, self.width, 3), np.uint8)
        x = (self.width - view.shape[1]) // 2
        out[:, x:x + view.shape[1]] = view
        return out


# --footage choices: another clip generator than the one the matcher was tuned on
FOOTAGE = {"square": Footage(), "wide": Footage(640, 360, 25)}


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def shared_dataset(name: str) -> Path:
    """../shared/datasets/<name> beside the repository, or under $SHARED_DIR."""
    env = os.environ.get("SHARED_DIR")
    base = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared"
    return base / "datasets" / name


def photo_class(photo: str) -> str:
    """The class folder of a store photo ("val/Packages/Juice/Bravo-Apple-Juice/x.jpg" -> "Bravo-Apple-Juice")."""
    return photo.split("/")[3]


def read_split(grocery: Path, split: str) -> tuple[dict[str, list[str]], list[str]]:
    """Photos per packaged class, and the produce photos, of one split."""
    packages: dict[str, list[str]] = defaultdict(list)
    produce: list[str] = []
    for line in (grocery / f"{split}.txt").read_text().splitlines():
        if not line.strip():
            continue
        rel = line.split(",")[0].strip()
        parts = rel.split("/")
        if parts[1] == "Packages":
            packages[parts[3]].append(rel)
        else:
            produce.append(rel)
    return packages, produce


def fine_classes(grocery: Path) -> dict[str, str]:
    """Fine class id of every store photo of both splits and of every iconic image."""
    out = {}
    for split in ("train", "val"):
        for line in (grocery / f"{split}.txt").read_text().splitlines():
            if line.strip():
                rel, fine = [c.strip() for c in line.split(",")[:2]]
                out[rel] = fine
    for line in (grocery / "classes.csv").read_text().splitlines()[1:]:
        cols = line.split(",")
        out[cols[4].lstrip("/")] = cols[1]
    return out


def distractor_listings(grocery: Path, fine: dict[str, str], split: str, n: int, seed: int,
                        used: set[str]) -> list[tuple[Path, str | None]]:
    """``n`` catalog images of things no clip is about, as (path, produce fine class or None).

    Listing-like images first: the produce iconic images (clean, on white) and ../shared's goods
    photos (objects and pets), their kinds taking turns so every kind is in a small catalog. Past
    those (about 120), train store photos of produce that no clip of this dataset uses: photos
    taken like the footage, which a real catalog's lifestyle pictures can be too. Never a
    packaged product (the catalog's and the held-out twins) and never a val photo. ``fine``:
    ``fine_classes(grocery)``."""
    goods = shared_dataset("goods")
    listing_like: dict[str, list[tuple[Path, str | None]]] = defaultdict(list)
    for path in sorted(goods.glob("*/*/*.jpg")):
        listing_like[f"goods:{path.parent.name}"].append((path, None))
    for rel in fine:
        if rel.startswith("iconic-images") and "/Packages/" not in rel:
            listing_like[f"produce:{fine[rel]}"].append((grocery / rel, fine[rel]))
    store: dict[str, list[tuple[Path, str | None]]] = defaultdict(list)
    for rel in read_split(grocery, "train")[1]:
        if rel not in used:
            store[fine[rel]].append((grocery / rel, fine[rel]))
    rng = random.Random(f"{seed}-distractors-{split}")
    picked = take_in_turns(listing_like, n, rng)
    picked += take_in_turns(store, n - len(picked), rng)
    if len(picked) < n:
        raise SystemExit(f"--catalog-size: only {len(picked)} distractor images found (goods at {goods})")
    return picked


def take_in_turns(groups: dict[str, list], n: int, rng: random.Random) -> list:
    """Up to ``n`` items, the groups (in a random order) giving one each in turns."""
    keys = sorted(groups)
    rng.shuffle(keys)
    queues = [list(groups[k]) for k in keys]
    picked: list = []
    while len(picked) < n and any(queues):
        for q in queues:
            if q and len(picked) < n:
                picked.append(q.pop(0))
    return picked


def add_listing(out: Path, catalog: list[dict], i: int, src: Path) -> str:
    """Catalog product ``other-<i>`` with ``src`` as its one image (at most 640 px: a listing's
    size, not a camera original); returns its product_id."""
    pid = f"other-{i:03d}"
    dst = out / "catalog" / pid / "0.jpg"
    dst.parent.mkdir(parents=True, exist_ok=True)
    img = cv2.imread(str(src))
    k = min(1.0, 640 / max(img.shape[:2]))
    cv2.imwrite(str(dst), cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_AREA))
    catalog.append({"product_id": pid, "src": "local", "title": f"Other listing {i}", "brand": "other",
                    "url": f"local://other/{pid}", "keywords": ["other"], "images": [f"catalog/{pid}/0.jpg"]})
    return pid


def iconic_products(grocery: Path) -> list[dict]:
    out = []
    for line in (grocery / "classes.csv").read_text().splitlines()[1:]:
        cols = line.split(",")
        if "/Packages/" not in cols[4]:
            continue
        out.append({"name": cols[0], "coarse": cols[2], "iconic": cols[4].lstrip("/")})
    return out


class Camera:
    """Slow camera motion over one photo: interpolated crop window, roll and gain."""

    def __init__(self, rng: random.Random, duration: float, fps: int = FPS):
        self.n = max(2, int(round(duration * fps)))
        z0, z1 = rng.uniform(0.78, 1.0), rng.uniform(0.78, 1.0)
        self.zoom = (z0, z1)
        self.center = [(rng.uniform(-1, 1), rng.uniform(-1, 1)) for _ in range(2)]
        self.roll = (rng.uniform(-4, 4), rng.uniform(-4, 4))
        self.gain = (rng.uniform(0.85, 1.15), rng.uniform(0.85, 1.15))
        self.blur_start = rng.random() < 0.3  # a fast pan into the shot

    def frames(self, photo: np.ndarray, size: int = SIZE):
        h, w = photo.shape[:2]
        for i in range(self.n):
            t = i / (self.n - 1)
            t = t * t * (3 - 2 * t)  # ease in/out
            z = self.zoom[0] + (self.zoom[1] - self.zoom[0]) * t
            cx = self.center[0][0] + (self.center[1][0] - self.center[0][0]) * t
            cy = self.center[0][1] + (self.center[1][1] - self.center[0][1]) * t
            side = z * min(h, w)
            x0 = (w - side) / 2 * (1 + cx)
            y0 = (h - side) / 2 * (1 + cy)
            ang = self.roll[0] + (self.roll[1] - self.roll[0]) * t
            s = size / side
            M = cv2.getRotationMatrix2D((x0 + side / 2, y0 + side / 2), ang, s)
            M[0, 2] += size / 2 - (x0 + side / 2)
            M[1, 2] += size / 2 - (y0 + side / 2)
            f = cv2.warpAffine(photo, M, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            g = self.gain[0] + (self.gain[1] - self.gain[0]) * t
            f = cv2.convertScaleAbs(f, alpha=g)
            if self.blur_start and i < 3:
                k = np.zeros((1, 15 - 4 * i), np.float32)
                k[:] = 1.0 / k.size
                f = cv2.filter2D(f, -1, k)
            yield f


def gallery_photos(grocery: Path, split: str, per_product: int, seed: int) -> dict[str, list[str]]:
    """``per_product`` in-store photos of each packaged class from ``split``: extra catalog views
    (a listing's gallery), drawn with their own random stream so the clips do not change."""
    packages, _ = read_split(grocery, split)
    rng = random.Random(f"{seed}-gallery-{split}")
    return {c: rng.sample(v, min(per_product, len(v))) for c, v in sorted(packages.items())}


@dataclass
class Shot:
    photo: str
    label: str  # grocery class, "produce:<class>" or "filler:<class>"
    in_catalog: bool
    camera: Camera
    crossfade: bool = False  # a 3-frame cross-fade from the previous shot into this one

    @property
    def filler(self) -> bool:
        return self.label.startswith("filler:")


class Filler:
    """Footage to bury clips in: slow pans (3-8 s) over produce photos that no clip uses, drawn
    from a random stream of their own."""

    def __init__(self, grocery: Path, photos: list[str], rng: random.Random, fps: int = FPS):
        if not photos:
            raise SystemExit("--bury: every produce photo of the split is used by a clip; nothing left as filler")
        self.grocery, self.photos, self.rng, self.fps = grocery, photos, rng, fps
        self._images: dict[str, np.ndarray] = {}

    def shots(self, seconds: float) -> list[Shot]:
        out, total = [], 0.0
        while total < seconds - 1.0:
            duration = min(self.rng.uniform(3.0, 8.0), max(1.6, seconds - total))
            photo = self.rng.choice(self.photos)
            out.append(Shot(photo, "filler:" + photo.split("/")[-2], False, Camera(self.rng, duration, self.fps),
                            crossfade=self.rng.random() < 0.25))
            total += duration
        return out

    def around(self, clip: list[Shot], minutes: float) -> tuple[list[Shot], list[Shot]]:
        """Filler shots to put before and after ``clip`` so that the video lasts about ``minutes``,
        the clip at a random point."""
        clip_s = sum(sh.camera.n + 3 * sh.crossfade for sh in clip) / self.fps
        around = max(0.0, minutes * 60 - clip_s)
        before = self.rng.uniform(0, around)
        return self.shots(before), self.shots(around - before)

    def image(self, photo: str) -> np.ndarray:
        if photo not in self._images:  # filler photos recur: read each once
            self._images[photo] = cv2.imread(str(self.grocery / photo))
        return self._images[photo]


class Look:
    """What a clip shot shows under --degrade / --grid (see the module doc); each photo's changes
    come from a random stream of its own, so they do not depend on the order of rendering."""

    def __init__(self, grocery: Path, seed: int, degrade: bool, grid_pool: list[str] | None,
                 shelf_pool: list[str] | None = None):
        self.grocery, self.seed, self.degrade, self.grid_pool = grocery, seed, degrade, grid_pool
        self.shelf_pool = shelf_pool

    def neighbours(self, photo: str, rng: random.Random | None = None) -> list[str]:
        """The three photos beside ``photo`` on its 2x2 shelf (none without --grid / --shelf): unused
        produce, or (--shelf) store photos of three other catalog products."""
        rng = rng or random.Random(f"{self.seed}-look-{photo}")
        if self.shelf_pool is not None:
            others = [ph for ph in self.shelf_pool if photo_class(ph) != photo_class(photo)]
            picked: list[str] = []
            for ph in rng.sample(others, len(others)):  # three different products
                if all(photo_class(ph) != photo_class(q) for q in picked):
                    picked.append(ph)
                if len(picked) == 3:
                    return picked
        if self.grid_pool is not None:
            return rng.sample(self.grid_pool, 3)
        return []

    def image(self, photo: str) -> np.ndarray:
        img = cv2.imread(str(self.grocery / photo))
        rng = random.Random(f"{self.seed}-look-{photo}")
        if self.grid_pool is not None or self.shelf_pool is not None:
            side = min(img.shape[:2])
            cells = [photo] + self.neighbours(photo, rng)
            order = rng.sample(range(4), 4)
            tiles = [cv2.resize(self._square(cv2.imread(str(self.grocery / cells[i]))), (side, side)) for i in order]
            img = np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:])])
        if self.degrade:
            h, w = img.shape[:2]
            k = rng.uniform(80, 200) / min(h, w)
            small = cv2.resize(img, (max(8, round(w * k)), max(8, round(h * k))), interpolation=cv2.INTER_AREA)
            small = cv2.GaussianBlur(small, (0, 0), rng.uniform(0.6, 1.5))
            ok, jpg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(15, 35)])
            img = cv2.resize(cv2.imdecode(jpg, cv2.IMREAD_COLOR), (w, h), interpolation=cv2.INTER_LINEAR)
        return img

    @staticmethod
    def _square(img: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        side = min(h, w)
        y, x = (h - side) // 2, (w - side) // 2
        return img[y:y + side, x:x + side]


def round_robin(items: list[str], key: Callable[[str], str]) -> list[str]:
    """``items`` reordered so that groups take turns (each group's own order kept); clips pop from
    the end, so the turns are taken from the end."""
    groups: dict[str, list[str]] = defaultdict(list)
    for it in items:
        groups[key(it)].append(it)
    turns = []
    while any(groups.values()):
        for g in sorted(groups):
            if groups[g]:
                turns.append(groups[g].pop())
    return turns[::-1]


def plan_clip(rng: random.Random, pools: dict[str, list[str]], cat_classes: list[str], held: list[str],
              prod_pool: list[str], fps: int = FPS) -> list[Shot]:
    """The shots of one clip (photos, labels, camera paths), drawing from ``rng`` in a fixed order."""
    available = [c for c in cat_classes if pools[c]]
    n_cat = rng.choices([0, 1, 2, 3], weights=[0.2, 0.35, 0.3, 0.15])[0]
    # prefer classes with many photos left so the split's photos are spread over the clips
    available.sort(key=lambda c: -len(pools[c]) + rng.random())
    picked = []
    for c in available[:n_cat]:
        k = 2 if (len(pools[c]) >= 2 and rng.random() < 0.5) else 1
        for _ in range(k):
            picked.append((pools[c].pop(), c, True))
    n_dis = rng.randint(1, 2) + max(0, 3 - len(picked) - 2)
    for _ in range(n_dis):
        if held and rng.random() < 0.5:
            ph = held.pop()
            picked.append((ph, photo_class(ph), False))
        elif prod_pool:
            ph = prod_pool.pop()
            picked.append((ph, "produce:" + ph.split("/")[-2], False))
    while len(picked) < 3 and prod_pool:
        ph = prod_pool.pop()
        picked.append((ph, "produce:" + ph.split("/")[-2], False))
    rng.shuffle(picked)
    shots = []
    for si, (photo, label, cat) in enumerate(picked):
        cam = Camera(rng, rng.uniform(1.6, 3.0), fps)
        shots.append(Shot(photo, label, cat, cam, crossfade=si > 0 and rng.random() < 0.25))
    return shots


def write_video(path: Path, shots: list[Shot], image_of: Callable[[Shot], np.ndarray],
                footage: Footage = Footage()) -> list[tuple[float, float]]:
    """Render ``shots`` into an mp4v file; returns each shot's (start, end) in seconds."""
    fps = footage.fps
    tmp = path.with_name(f".{path.name}.tmp.mp4")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (footage.width, footage.height))
    if not writer.isOpened():
        raise SystemExit("cv2.VideoWriter(mp4v) failed to open")
    n_frames, prev_last, spans = 0, None, []
    for shot in shots:
        frames = [footage.frame(f) for f in shot.camera.frames(image_of(shot), footage.height)]
        start = n_frames / fps
        if prev_last is not None and shot.crossfade:
            for a in (0.25, 0.5, 0.75):
                writer.write(cv2.addWeighted(prev_last, 1 - a, frames[0], a, 0))
                n_frames += 1
        for f in frames:
            writer.write(f)
            n_frames += 1
        prev_last = frames[-1]
        spans.append((start, n_frames / fps))
    writer.release()
    os.replace(tmp, path)
    return spans


def build(split: str, out: Path, grocery: Path, n_videos: int, seed: int,
          gallery: dict[str, list[str]] | None = None, bury_minutes: float = 0.0,
          degrade: bool = False, grid: bool = False, footage: Footage = Footage(),
          more_twins: bool = False, shelf: bool = False, catalog_size: int = 0) -> dict:
    held_out = HELD_OUT + (MORE_TWINS if more_twins else ())
    rng = random.Random(f"{seed}-{split}")
    packages, produce = read_split(grocery, split)
    products = iconic_products(grocery)
    names = {p["name"] for p in products}
    missing = set(held_out) - names
    if missing:
        raise SystemExit(f"held-out classes not in classes.csv: {missing}")

    out.mkdir(parents=True, exist_ok=True)
    (out / "videos").mkdir(exist_ok=True)
    catalog = []
    for p in products:
        if p["name"] in held_out:
            continue
        pid = slug(p["name"])
        dst = out / "catalog" / pid / "0.jpg"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(grocery / p["iconic"], dst)
        images = [f"catalog/{pid}/0.jpg"]
        for i, photo in enumerate((gallery or {}).get(p["name"], []), start=1):
            shutil.copyfile(grocery / photo, dst.with_name(f"{i}.jpg"))
            images.append(f"catalog/{pid}/{i}.jpg")
        catalog.append({"product_id": pid, "src": "local", "title": p["name"].replace("-", " "),
                        "brand": p["name"].split("-")[0], "url": f"local://grocery/{pid}",
                        "keywords": ["grocery", p["coarse"].lower()], "images": images})
    in_catalog = {slug(p["name"]) for p in products if p["name"] not in held_out}

    pools = {k: rng.sample(v, len(v)) for k, v in sorted(packages.items())}
    cat_classes = sorted(k for k in pools if k not in held_out)
    held = [ph for k in sorted(pools) if k in held_out for ph in pools[k]]
    rng.shuffle(held)
    if more_twins:  # every held-out twin is shown: their photos in turns, class by class
        held = round_robin(held, key=photo_class)
    prod_pool = rng.sample(produce, len(produce))

    clips = []
    for _ in range(n_videos):
        shots = plan_clip(rng, pools, cat_classes, held, prod_pool, footage.fps)
        if not shots:
            break
        clips.append(shots)
    filler = None
    used = {sh.photo for shots in clips for sh in shots}
    unused_produce = sorted(ph for ph in produce if ph not in used)
    if bury_minutes > 0:
        filler = Filler(grocery, unused_produce, random.Random(f"{seed}-bury-{split}"), footage.fps)
    # --shelf: store photos of the catalog's products (they may recur beside other clips' shots)
    shelf_pool = sorted(ph for k, v in packages.items() if k not in held_out for ph in v) if shelf else None
    look = Look(grocery, seed, degrade, unused_produce if grid else None, shelf_pool)
    if grid and len(unused_produce) < 3:
        raise SystemExit("--grid: fewer than 3 produce photos of the split are left for the shelves")
    distractor_class: dict[str, str] = {}  # produce listing -> its fine class
    distractor_src: dict[str, str] = {}  # listing -> where its image came from (truth.json's meta)
    fine_of: dict[str, str] = {}
    if catalog_size > len(catalog):
        fine_of = fine_classes(grocery)
        shown_anywhere = used | (set(unused_produce) if grid or filler is not None else set())
        listings = distractor_listings(grocery, fine_of, split, catalog_size - len(catalog), seed, shown_anywhere)
        for i, (src, fine) in enumerate(listings):
            pid = add_listing(out, catalog, i, src)
            distractor_src[pid] = (str(src.relative_to(grocery)) if fine is not None
                                   else f"goods/{src.parent.name}/{src.name}")
            if fine is not None:
                distractor_class[pid] = fine

    videos, matches, also_shown, shots_all = [], [], [], []
    for vi, clip in enumerate(clips):
        vid = f"{split}-{vi:03d}"
        shots, offset = clip, 0
        if filler is not None:
            pre, post = filler.around(clip, bury_minutes)
            shots, offset = pre + clip + post, len(pre)
        spans = write_video(out / "videos" / f"{vid}.mp4", shots,
                            lambda sh: filler.image(sh.photo) if sh.filler else look.image(sh.photo), footage)
        # what each clip shot shows: its photo, then those beside it on a --grid / --shelf shelf
        shown = {sh.photo: [sh.photo, *look.neighbours(sh.photo)] for sh in clip}
        for si, (sh, (start, end)) in enumerate(zip(shots, spans)):
            beside = [] if sh.filler else shown[sh.photo][1:]
            also = [slug(c) for ph in [sh.photo, *beside] for c in ALSO_SHOWN.get(ph, ()) if slug(c) in in_catalog]
            shots_all.append({"video_id": vid, "shot": si, "start": round(start, 3), "end": round(end, 3),
                              "photo": sh.photo, "class": sh.label,
                              "product_id": slug(sh.label) if sh.in_catalog else None,
                              "in_catalog": sh.in_catalog, **({"filler": True} if sh.filler else {}),
                              **({"beside": [{"photo": ph, "product_id": slug(photo_class(ph))} for ph in beside]}
                                 if shelf else {}),
                              **({"also_shown": also} if also else {})})
        duration = spans[-1][1]
        entry = {"video_id": vid, "platform": "local", "title": f"Grocery clip {vid}",
                 "url": f"local://grocery/{vid}", "keywords": ["grocery"],
                 "path": f"videos/{vid}.mp4", "published_at": "2026-01-01T00:00:00Z",
                 "duration_s": round(duration, 2)}
        if filler is not None:
            entry.update(clip_start=round(spans[offset][0], 3), clip_end=round(spans[offset + len(clip) - 1][1], 3))
        videos.append(entry)
        subjects = [slug(c) for c in dict.fromkeys(sh.label for sh in clip if sh.in_catalog)]
        if shelf:  # every product on a shelf is shown as plainly as the shot's own
            subjects = list(dict.fromkeys(subjects + [slug(photo_class(ph)) for sh in clip
                                                      for ph in shown[sh.photo][1:]]))
        for pid in subjects:
            assert pid in in_catalog
            matches.append({"product_id": pid, "video_id": vid})
        for pid in dict.fromkeys(slug(c) for sh in clip for ph in shown[sh.photo] for c in ALSO_SHOWN.get(ph, ())):
            if pid in in_catalog and pid not in subjects:
                also_shown.append({"product_id": pid, "video_id": vid})
        # a produce listing of a class the video shows (a distractor or filler shot, a shelf cell)
        classes = {fine_of.get(ph) for sh in shots for ph in ([sh.photo] if sh.filler else shown[sh.photo])}
        also_shown += [{"product_id": pid, "video_id": vid} for pid, c in distractor_class.items() if c in classes]

    (out / "catalog.json").write_text(json.dumps({"products": catalog}, indent=1))
    (out / "videos.json").write_text(json.dumps({"videos": videos}, indent=1))
    meta = {"split": split, "seed": seed, "held_out": list(held_out), "fps": footage.fps, "size": footage.height,
            "width": footage.width,
            "gallery": {k: v for k, v in (gallery or {}).items() if k not in held_out},
            "bury_minutes": bury_minutes, "degrade": degrade, "grid": grid, "shelf": shelf,
            **({"catalog_size": len(catalog), "other_listings": distractor_src} if catalog_size else {})}
    (out / "truth.json").write_text(json.dumps({"matches": matches, **({"also_shown": also_shown} if also_shown else {}),
                                                "shots": shots_all, "meta": meta}, indent=1))
    return {"products": len(catalog), "catalog_images": sum(len(p["images"]) for p in catalog),
            "videos": len(videos), "pairs": len(matches), "also_shown": len(also_shown),
            "shots": len(shots_all), "minutes": round(sum(v["duration_s"] for v in videos) / 60, 2), "out": str(out)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="output folder (outside git, or under data/)")
    ap.add_argument("--split", choices=["train", "val"], required=True,
                    help="which photos of the grocery dataset to use (tune on train, check on val)")
    ap.add_argument("--videos", type=int, default=None,
                    help="number of clips (default: 80 for train, 30 for val; fewer if photos run out)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (same seed, same dataset)")
    ap.add_argument("--grocery", type=Path, default=None,
                    help="grocery dataset folder (default: $SHARED_DIR/datasets/grocery or ../shared/...)")
    ap.add_argument("--gallery", type=int, default=0, metavar="N",
                    help="add N in-store photos per product to the catalog, as a listing's extra gallery "
                         "images, taken from --gallery-from (default 0: the iconic image only)")
    ap.add_argument("--gallery-from", choices=["train", "val"], default=None,
                    help="the split the gallery photos come from; must not be --split, so no clip "
                         "shows a photo that is also a catalog image")
    ap.add_argument("--bury", type=float, default=0.0, metavar="MINUTES",
                    help="bury each clip at a random point inside about MINUTES of other footage (slow pans "
                         "over produce photos no clip uses): real-length videos with the same clips inside "
                         "(default 0: the clips alone)")
    ap.add_argument("--degrade", action="store_true",
                    help="every clip shot small (80-200 px), blurred and JPEG-compressed, enlarged back")
    ap.add_argument("--grid", action="store_true",
                    help="every clip shot a 2x2 shelf: its photo among three unused produce photos")
    ap.add_argument("--shelf", action="store_true",
                    help="every clip shot a 2x2 shelf of catalog products: its photo among store photos of "
                         "three other catalog products of the split, each of them a match of the clip")
    ap.add_argument("--more-twins", action="store_true",
                    help="hold four more products out of the catalog (MORE_TWINS), each beside a sibling that "
                         "stays in it: more clips whose only product is a twin missing from the catalog")
    ap.add_argument("--catalog-size", type=int, default=0, metavar="N",
                    help="pad the catalog to N products with listings no clip is about (goods and produce "
                         "photos, one product each): retrieval and matching against a bigger catalog")
    ap.add_argument("--footage", choices=sorted(FOOTAGE), default="square",
                    help="how the clips are filmed: square = 360x360 at 10 fps (the benchmark's camera); "
                         "wide = 640x360 at 25 fps, the square view between black bars")
    args = ap.parse_args(argv)
    grocery = args.grocery or shared_dataset("grocery")
    if args.gallery and (args.gallery_from is None or args.gallery_from == args.split):
        ap.error("--gallery needs --gallery-from naming the other split than --split")
    if not (grocery / "classes.csv").is_file():
        print(f"grocery dataset not found at {grocery} (set --grocery or SHARED_DIR)", file=sys.stderr)
        return 2
    n = args.videos if args.videos is not None else (80 if args.split == "train" else 30)
    gallery = gallery_photos(grocery, args.gallery_from, args.gallery, args.seed) if args.gallery else None
    if args.bury < 0:
        ap.error("--bury must be >= 0")
    if args.grid and args.shelf:
        ap.error("--grid and --shelf are two kinds of shelf: pick one")
    print(json.dumps(build(args.split, args.out, grocery, n, args.seed, gallery, args.bury, args.degrade, args.grid,
                           FOOTAGE[args.footage], args.more_twins, args.shelf, args.catalog_size)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
