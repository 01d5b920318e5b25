#!/usr/bin/env python3
"""Generate the self-contained demo dataset (SPEC §8 local layout): nothing downloaded, nothing
committed, the same --seed gives the same files.

  catalog.json  7 breakfast-drink products (8 variants are drawn, one is held out) in three
                brand families whose variants share a layout and differ by a colour band and a
                word (the matcher's hard case), each with a front image and a three-quarter view
                on white, like a listing.
  videos/*.mp4  short clips (mp4v, 10 fps, 360x360): 3-5 shots of kitchen scenes with slow
                camera motion; a product appears in perspective, under other light, partly
                hidden by a hand. Some clips show only distractors, and one package family has
                a variant that is not in the catalog: it appears in clips and must not match.
  truth.json    {"matches": [{product_id, video_id}]} and, per clip, its shots.

With --long-video SECONDS one more video, `demo-long`, lasts that long: kitchen footage in which
one catalog product is shown at two moments far apart (two on-screen segments to find).

Example:  python scripts/make_demo_dataset.py data/demo-dataset
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_grocery_dataset import FPS, SIZE, Camera  # noqa: E402  (same camera model as the benchmark)

VERSION = 1  # bump when the output changes, so `make demo` regenerates
KEYWORDS = ["breakfast", "drinks"]

# brand family -> (base colour BGR, logo shape), variants -> (name, band colour BGR, in catalog?)
FAMILIES = {
    "Nordic Oat": ((235, 225, 210), "circle", [("Original", (200, 120, 30), True), ("Chocolate", (40, 60, 110), True),
                                                ("Barista", (60, 60, 60), False)]),
    "Sunny": ((60, 200, 245), "star", [("Orange", (20, 130, 250), True), ("Apple", (60, 190, 80), True),
                                        ("Mango", (30, 180, 240), True)]),
    "Brew & Co": ((45, 35, 30), "diamond", [("Dark Roast", (20, 20, 140), True), ("Light Roast", (110, 170, 210), True)]),
}
DISTRACTOR_WORDS = ["SALT", "FLOUR", "RICE", "PASTA", "TEA", "SUGAR", "OATS", "BEANS"]


def slug(text: str) -> str:
    return "".join(c.lower() if c.isalnum() else "-" for c in text).strip("-").replace("--", "-")


def text_block(img, rng: random.Random, x0, y0, x1, y1, color, lines=5):
    """Small print: many keypoints, like ingredient lists on real packages."""
    h = max(8, (y1 - y0) // (lines + 1))
    for i in range(lines):
        word = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ0123456789 ") for _ in range(rng.randint(10, 16)))
        cv2.putText(img, word, (x0, y0 + (i + 1) * h), cv2.FONT_HERSHEY_PLAIN, 0.8, color, 1, cv2.LINE_AA)


def logo(img, shape, center, r, color):
    cx, cy = center
    if shape == "circle":
        cv2.circle(img, center, r, color, -1, cv2.LINE_AA)
        cv2.circle(img, center, r // 2, (255, 255, 255), 3, cv2.LINE_AA)
    elif shape == "star":
        pts = []
        for k in range(10):
            a = np.pi / 2 + k * np.pi / 5
            rr = r if k % 2 == 0 else r * 0.45
            pts.append((cx + rr * np.cos(a), cy - rr * np.sin(a)))
        cv2.fillPoly(img, [np.int32(pts)], color, cv2.LINE_AA)
    else:
        cv2.fillPoly(img, [np.int32([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)])], color, cv2.LINE_AA)
        cv2.line(img, (cx - r // 2, cy), (cx + r // 2, cy), (255, 255, 255), 3, cv2.LINE_AA)


def package(brand: str, variant: str, base, shape, band, seed: int) -> np.ndarray:
    """The front face of a carton, 240x360. Siblings share everything but the band and a word."""
    rng = random.Random(f"family-{brand}")  # the family's small print is identical on every variant
    w, h = 240, 360
    img = np.full((h, w, 3), base, np.uint8)
    dark = tuple(int(c * 0.35) for c in base)
    cv2.rectangle(img, (0, 0), (w, 70), dark, -1)
    cv2.putText(img, brand.upper(), (12, 48), cv2.FONT_HERSHEY_DUPLEX, 1.0 if len(brand) < 10 else 0.8,
                (255, 255, 255), 2, cv2.LINE_AA)
    logo(img, shape, (w // 2, 140), 46, dark)
    cv2.rectangle(img, (0, 205), (w, 255), band, -1)  # the variant's colour band
    cv2.putText(img, variant.upper(), (14, 240), cv2.FONT_HERSHEY_SIMPLEX, 0.85, (255, 255, 255), 2, cv2.LINE_AA)
    text_block(img, rng, 12, 262, w - 12, h - 30, dark)
    for i in range(12):  # a barcode
        x = 150 + i * 6 + (i % 3)
        cv2.line(img, (x, h - 28), (x, h - 8), (20, 20, 20), 2 if i % 2 else 1)
    cv2.rectangle(img, (0, 0), (w - 1, h - 1), dark, 2)
    del seed
    return img


def on_white(front: np.ndarray, three_quarter: bool, rng: random.Random) -> np.ndarray:
    """A listing image: the carton on white, facing the camera or turned a little."""
    canvas = np.full((480, 480, 3), 255, np.uint8)
    h, w = front.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    if three_quarter:
        dst = np.float32([[150, 55], [330, 85], [330, 400], [150, 430]])
    else:
        dst = np.float32([[120, 40], [360, 40], [360, 440], [120, 440]])
    m = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(front, m, (480, 480))
    keep = cv2.warpPerspective(np.full((h, w), 255, np.uint8), m, (480, 480))
    canvas[keep > 0] = warped[keep > 0]
    return canvas


def kitchen(rng: random.Random) -> np.ndarray:
    """A background: a wall, a counter, shelves and clutter."""
    h = w = 720
    wall = np.array([rng.randint(150, 220) for _ in range(3)], np.float32)
    img = np.tile(np.linspace(0.85, 1.1, h)[:, None, None] * wall, (1, w, 1)).clip(0, 255).astype(np.uint8)
    counter_y = rng.randint(430, 520)
    img[counter_y:] = [rng.randint(60, 120) for _ in range(3)]
    for _ in range(rng.randint(2, 4)):  # shelves
        y = rng.randint(60, counter_y - 120)
        cv2.rectangle(img, (0, y), (w, y + 12), (90, 110, 130), -1)
    for _ in range(rng.randint(6, 10)):  # clutter: jars and boxes
        x, y = rng.randint(0, w - 90), rng.randint(20, counter_y - 40)
        cw, ch = rng.randint(30, 90), rng.randint(40, 110)
        cv2.rectangle(img, (x, y), (x + cw, y + ch), tuple(rng.randint(30, 230) for _ in range(3)), -1)
    noise = np.random.default_rng(rng.randint(0, 10**6)).normal(0, 6, img.shape)
    return (img + noise).clip(0, 255).astype(np.uint8)


def distractor_box(rng: random.Random) -> np.ndarray:
    img = np.full((300, 200, 3), [rng.randint(80, 250) for _ in range(3)], np.uint8)
    cv2.rectangle(img, (0, 0), (200, 60), [rng.randint(0, 120) for _ in range(3)], -1)
    cv2.putText(img, rng.choice(DISTRACTOR_WORDS), (14, 44), cv2.FONT_HERSHEY_DUPLEX, 1.1, (255, 255, 255), 2)
    cv2.circle(img, (100, 150), rng.randint(25, 55), [rng.randint(0, 255) for _ in range(3)], -1)
    text_block(img, rng, 10, 200, 190, 290, (30, 30, 30), 4)
    return img


def place(scene: np.ndarray, obj: np.ndarray, rng: random.Random, height_frac: float, center) -> None:
    """Paste `obj` into `scene` with a perspective turn and light change."""
    h, w = obj.shape[:2]
    sh = height_frac * scene.shape[0]
    sw = sh * w / h
    cx, cy = center
    turn = rng.uniform(-0.25, 0.25) * sw
    tilt = rng.uniform(-0.08, 0.08) * sh
    dst = np.float32([[cx - sw / 2 + turn * 0.3, cy - sh / 2 + tilt], [cx + sw / 2 - turn * 0.3, cy - sh / 2 - tilt],
                      [cx + sw / 2 + turn * 0.2, cy + sh / 2 + tilt], [cx - sw / 2 - turn * 0.2, cy + sh / 2 - tilt]])
    m = cv2.getPerspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]]), dst)
    size = (scene.shape[1], scene.shape[0])
    lit = cv2.convertScaleAbs(obj, alpha=rng.uniform(0.75, 1.15), beta=rng.uniform(-20, 20))
    warped = cv2.warpPerspective(lit, m, size)
    keep = cv2.warpPerspective(np.full((h, w), 255, np.uint8), m, size) > 0
    scene[keep] = warped[keep]


def hand(scene: np.ndarray, rng: random.Random, center, scale: float) -> None:
    """A hand holding the product: a palm and four fingers across its edge."""
    skin = (rng.randint(120, 170), rng.randint(150, 190), rng.randint(200, 235))
    cx, cy = center
    side = rng.choice([-1, 1])
    px = int(cx + side * 115 * scale)
    cv2.ellipse(scene, (px, int(cy + 30 * scale)), (int(60 * scale), int(85 * scale)), 0, 0, 360, skin, -1, cv2.LINE_AA)
    for i in range(4):
        y = int(cy - 20 * scale + i * 32 * scale)
        cv2.ellipse(scene, (int(px - side * 55 * scale), y), (int(34 * scale), int(12 * scale)), 0, 0, 360,
                    skin, -1, cv2.LINE_AA)
    cv2.ellipse(scene, (px, int(cy + 130 * scale)), (int(55 * scale), int(90 * scale)), 0, 0, 360,
                (rng.randint(40, 160), rng.randint(40, 120), rng.randint(30, 90)), -1)  # a sleeve


def scene_with(front: np.ndarray | None, rng: random.Random) -> np.ndarray:
    scene = kitchen(rng)
    for _ in range(rng.randint(1, 2)):  # other packages around
        place(scene, distractor_box(rng), rng, rng.uniform(0.25, 0.35), (rng.randint(90, 630), rng.randint(320, 470)))
    if front is not None:
        center = (rng.randint(250, 470), rng.randint(300, 400))
        place(scene, front, rng, rng.uniform(0.5, 0.68), center)
        if rng.random() < 0.6:
            hand(scene, rng, center, rng.uniform(0.9, 1.2))
    return scene


def write_shots(path: Path, rng: random.Random,
                shots: list[tuple[str | None, np.ndarray | None, object]]) -> list[dict]:
    """Render (product_id, front or None, seconds) shots of kitchen scenes; returns the timeline.
    ``seconds`` may be a function drawing the length, called after the scene is drawn."""
    tmp = path.with_name(f".{path.name}.tmp.mp4")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (SIZE, SIZE))
    n_frames, timeline = 0, []
    for si, (pid, front, seconds) in enumerate(shots):
        photo = scene_with(front, rng)
        start = n_frames / FPS
        for frame in Camera(rng, seconds() if callable(seconds) else seconds).frames(photo):
            writer.write(frame)
            n_frames += 1
        timeline.append({"shot": si, "start": round(start, 2), "end": round(n_frames / FPS, 2), "product_id": pid})
    writer.release()
    os.replace(tmp, path)
    return timeline


def long_video_shots(rng: random.Random, seconds: float, pid: str, front: np.ndarray):
    """Kitchen footage of about ``seconds`` with ``pid`` shown in two 2 s shots, at about a quarter
    and three quarters of the way through."""
    shots, t = [], 0.0
    moments = [seconds * 0.25, seconds * 0.75]
    while t < seconds - 1.5:
        if moments and t >= moments[0]:
            moments.pop(0)
            shots.append((pid, front, 2.0))
            t += 2.0
            continue
        length = min(rng.uniform(3.0, 6.0), max(1.6, seconds - t))
        shots.append((None, None, length))
        t += length
    return shots


def build(out: Path, n_videos: int, seed: int, long_video_s: float = 0.0) -> dict:
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / "videos").mkdir(exist_ok=True)
    products, fronts, hidden = [], {}, []
    for brand, (base, shape, variants) in FAMILIES.items():
        for variant, band, in_catalog in variants:
            pid = slug(f"{brand} {variant}")
            front = package(brand, variant, base, shape, band, seed)
            if not in_catalog:
                hidden.append((pid, front))
                continue
            fronts[pid] = front
            images = []
            for k, tq in enumerate((False, True)):
                rel = f"catalog/{pid}/{k}.jpg"
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(out / rel), on_white(front, tq, rng), [cv2.IMWRITE_JPEG_QUALITY, 92])
                images.append(rel)
            products.append({"product_id": pid, "src": "local", "title": f"{brand} {variant}", "brand": brand,
                             "url": f"local://demo/{pid}", "keywords": list(KEYWORDS), "images": images})

    videos, matches, timelines = [], [], []
    pids = sorted(fronts)
    for vi in range(n_videos):
        vid = f"demo-{vi:02d}"
        n_products = [1, 2, 1, 0, 2, 1, 0, 1][vi % 8]
        chosen = rng.sample(pids, n_products)
        shots = [(pid, fronts[pid]) for pid in chosen]
        if vi % 3 == 1 and hidden:  # the variant missing from the catalog: a hard negative
            shots.append((None, hidden[vi % len(hidden)][1]))
        while len(shots) < 3:
            shots.append((None, None))
        rng.shuffle(shots)
        timeline = write_shots(out / "videos" / f"{vid}.mp4", rng,
                               [(pid, front, lambda: rng.uniform(1.6, 2.4)) for pid, front in shots])
        videos.append({"video_id": vid, "platform": "local", "title": f"Breakfast drinks clip {vi + 1}",
                       "url": f"local://demo/{vid}", "keywords": list(KEYWORDS), "path": f"videos/{vid}.mp4",
                       "published_at": "2026-10-01T00:00:00Z", "duration_s": timeline[-1]["end"]})
        timelines.append({"video_id": vid, "shots": timeline})
        matches += [{"product_id": pid, "video_id": vid} for pid in dict.fromkeys(chosen)]
    if long_video_s > 0:
        lrng = random.Random(f"{seed}-long")
        pid = lrng.choice(pids)
        timeline = write_shots(out / "videos" / "demo-long.mp4", lrng,
                               long_video_shots(lrng, long_video_s, pid, fronts[pid]))
        videos.append({"video_id": "demo-long", "platform": "local", "title": "A long breakfast haul",
                       "url": "local://demo/demo-long", "keywords": list(KEYWORDS), "path": "videos/demo-long.mp4",
                       "published_at": "2026-10-01T00:00:00Z", "duration_s": timeline[-1]["end"]})
        timelines.append({"video_id": "demo-long", "shots": timeline})
        matches.append({"product_id": pid, "video_id": "demo-long"})

    (out / "catalog.json").write_text(json.dumps({"products": products}, indent=1))
    (out / "videos.json").write_text(json.dumps({"videos": videos}, indent=1))
    (out / "truth.json").write_text(json.dumps({"matches": matches, "videos": timelines,
                                                "not_in_catalog": [pid for pid, _ in hidden]}, indent=1))
    (out / "VERSION").write_text(f"{VERSION} {seed} {n_videos} {long_video_s:g}\n")
    return {"products": len(products), "videos": len(videos), "pairs": len(matches), "out": str(out)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="output folder (keep it under data/ or outside the repository)")
    ap.add_argument("--videos", type=int, default=8, help="number of clips (default 8)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--long-video", type=float, default=0.0, metavar="SECONDS",
                    help="add `demo-long`, a video of SECONDS in which one product appears twice (default: none)")
    ap.add_argument("--force", action="store_true", help="rebuild even if OUT already holds this version")
    args = ap.parse_args(argv)
    stamp = args.out / "VERSION"
    want = [str(VERSION), str(args.seed), str(args.videos), f"{args.long_video:g}"]
    if not args.force and stamp.exists() and stamp.read_text().split() == want:
        print(f"demo dataset already in {args.out}")
        return 0
    print(json.dumps(build(args.out, args.videos, args.seed, args.long_video)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
