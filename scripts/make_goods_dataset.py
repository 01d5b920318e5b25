#!/usr/bin/env python3
"""Build a matcher benchmark dataset (SPEC §8 local layout) from ../shared/datasets/goods: real
photos of 3D, low-texture objects (sneakers, backpacks, a boot, a clock, a bowl, a can, a candle)
and of pets.

  catalog.json   every object except HELD_OUT, with --catalog-photos of its photos (a listing's
                 gallery: other places, other viewpoints than any clip shows)
  videos/*.mp4   clips (mp4v, 10 fps, 360x360, the grocery benchmark's camera: slow zoom, pan,
                 roll, light change, sometimes a blurred start or a cross-fade), each showing 1-2
                 catalog objects (one shot each, an unused photo) and a distractor shot (a second
                 one in a quarter of the clips): a pet, or a HELD_OUT look-alike whose twin is in
                 the catalog
  truth.json     {"matches": [{product_id, video_id}]}, the shot timeline and the split of photos

--catalog-size N pads the catalog to N products with grocery listings no clip shows (one product
per image: the grocery iconic images, then train store photos, classes taking turns), read from
../shared/datasets/grocery: the same clips against a bigger catalog.

--bury MINUTES places each clip at a random point inside about MINUTES of other footage: slow
pans over the grocery *val* produce photos (make_grocery_dataset.py's filler; never a listing),
so a goods object is a short moment of a real-length video. truth.json lists the filler shots.

Measuring only: nothing is fitted on this set (it is too small to hold out a part, and the
issue it serves asks for a matcher that holds on objects it was not tuned on). Every photo is used
once; the same --seed gives the same dataset. Photos are read from ../shared/datasets/goods (or
--goods) and written only under OUT: never commit OUT.

Example:
  python scripts/make_goods_dataset.py data/bench/goods
  python scripts/bench_quality.py --dataset data/bench/goods
  python scripts/make_goods_dataset.py data/bench/goods-c100 --catalog-size 100
  python scripts/make_goods_dataset.py data/bench/goods-4min --bury 4   # each clip inside 4 minutes
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_grocery_dataset import (FPS, SIZE, Camera, Filler, Shot, add_listing, fine_classes,  # noqa: E402
                                  read_split, shared_dataset, slug, take_in_turns, write_video)

# One of each look-alike pair stays out of the catalog: its photos are hard negatives beside its
# twin (shiny_sneaker / colorful_sneaker, backpack_dog / backpack).
HELD_OUT = ("shiny_sneaker", "backpack_dog")


def photos_of(folder: Path) -> dict[str, list[str]]:
    """{name: [relative photo paths]} of the subfolders of ``folder``, sorted."""
    return {d.name: sorted(f"{folder.name}/{d.name}/{p.name}" for p in d.glob("*.jpg"))
            for d in sorted(folder.iterdir()) if d.is_dir()}


def grocery_listings(grocery: Path, n: int, seed: int) -> list[Path]:
    """``n`` grocery images as listings: the iconic images (one per class), then train store
    photos, the classes taking turns. No goods clip shows a grocery product."""
    fine = fine_classes(grocery)
    rng = random.Random(f"{seed}-goods-listings")
    iconic = {fine[rel]: [grocery / rel] for rel in fine if rel.startswith("iconic-images")}
    store: dict[str, list[Path]] = {}
    packages, produce = read_split(grocery, "train")
    for rel in [ph for v in packages.values() for ph in v] + produce:
        store.setdefault(fine[rel], []).append(grocery / rel)
    picked = take_in_turns(iconic, n, rng)
    picked += take_in_turns(store, n - len(picked), rng)
    if len(picked) < n:
        raise SystemExit(f"--catalog-size: only {len(picked)} grocery images found at {grocery}")
    return picked


def build(out: Path, goods: Path, seed: int, catalog_photos: int, catalog_size: int = 0,
          grocery: Path | None = None, bury_minutes: float = 0.0) -> dict:
    rng = random.Random(f"{seed}-goods")
    objects, pets = photos_of(goods / "objects"), photos_of(goods / "distractors")
    missing = set(HELD_OUT) - set(objects)
    if missing:
        raise SystemExit(f"held-out objects not in {goods / 'objects'}: {sorted(missing)}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "videos").mkdir(exist_ok=True)

    catalog, pools, catalog_split = [], {}, {}
    for name, photos in objects.items():
        photos = rng.sample(photos, len(photos))
        if name in HELD_OUT:
            pools[name] = photos
            continue
        pid = slug(name)
        listing, pools[name] = photos[:catalog_photos], photos[catalog_photos:]
        catalog_split[name] = listing
        images = []
        for i, photo in enumerate(listing):
            dst = out / "catalog" / pid / f"{i}.jpg"
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(goods / photo, dst)
            images.append(f"catalog/{pid}/{i}.jpg")
        catalog.append({"product_id": pid, "src": "local", "title": name.replace("_", " "), "brand": None,
                        "url": f"local://goods/{pid}", "keywords": ["goods"], "images": images})

    grocery = grocery or shared_dataset("grocery")
    filler = (Filler(grocery, read_split(grocery, "val")[1], random.Random(f"{seed}-goods-bury"))
              if bury_minutes > 0 else None)
    others = {}
    if catalog_size > len(catalog):
        srcs = grocery_listings(grocery, catalog_size - len(catalog), seed)
        others = {add_listing(out, catalog, i, src): str(src) for i, src in enumerate(srcs)}

    shown = [(ph, name) for name in sorted(pools) if name not in HELD_OUT for ph in pools[name]]
    distractors = ([(ph, name) for name in HELD_OUT for ph in pools[name]]
                   + [(ph, "pet:" + name) for name, phs in pets.items() for ph in phs])
    rng.shuffle(shown)
    rng.shuffle(distractors)

    videos, matches, shots_all = [], [], []
    while shown:
        picked = [(*shown.pop(), True) for _ in range(min(len(shown), rng.choice([1, 1, 2])))]
        # two shots of one object in a clip would be one question asked twice: put one back
        if len(picked) == 2 and picked[0][1] == picked[1][1]:
            shown.insert(0, picked.pop()[:2])
        picked += [(*distractors.pop(), False) for _ in range(min(len(distractors), 1 + (rng.random() < 0.25)))]
        rng.shuffle(picked)
        vid = f"goods-{len(videos):03d}"
        shots = [Shot(ph, name, cat, Camera(rng, rng.uniform(1.6, 3.0)), crossfade=i > 0 and rng.random() < 0.25)
                 for i, (ph, name, cat) in enumerate(picked)]
        if filler is not None:
            pre, post = filler.around(shots, bury_minutes)
            shots = pre + shots + post
        spans = write_video(out / "videos" / f"{vid}.mp4", shots,
                            lambda sh: filler.image(sh.photo) if sh.filler else cv2.imread(str(goods / sh.photo)))
        for si, (sh, (start, end)) in enumerate(zip(shots, spans)):
            shots_all.append({"video_id": vid, "shot": si, "start": round(start, 3), "end": round(end, 3),
                              "photo": sh.photo, "class": sh.label,
                              "product_id": slug(sh.label) if sh.in_catalog else None, "in_catalog": sh.in_catalog,
                              **({"filler": True} if sh.filler else {})})
        videos.append({"video_id": vid, "platform": "local", "title": f"Goods clip {vid}",
                       "url": f"local://goods/{vid}", "keywords": ["goods"], "path": f"videos/{vid}.mp4",
                       "published_at": "2026-01-01T00:00:00Z", "duration_s": round(spans[-1][1], 2)})
        for name in dict.fromkeys(sh.label for sh in shots if sh.in_catalog):
            matches.append({"product_id": slug(name), "video_id": vid})

    (out / "catalog.json").write_text(json.dumps({"products": catalog}, indent=1))
    (out / "videos.json").write_text(json.dumps({"videos": videos}, indent=1))
    meta = {"source": "goods", "seed": seed, "held_out": list(HELD_OUT), "fps": FPS, "size": SIZE,
            "bury_minutes": bury_minutes,
            "catalog_photos": catalog_split,
            **({"catalog_size": len(catalog), "other_listings": {k: v.split("grocery/", 1)[-1] for k, v in others.items()}}
               if others else {})}
    (out / "truth.json").write_text(json.dumps({"matches": matches, "shots": shots_all, "meta": meta}, indent=1))
    return {"products": len(catalog), "catalog_images": sum(len(p["images"]) for p in catalog),
            "videos": len(videos), "pairs": len(matches), "shots": len(shots_all), "out": str(out)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="output folder (outside git, or under data/)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (same seed, same dataset)")
    ap.add_argument("--catalog-photos", type=int, default=2, metavar="N",
                    help="photos of each object in the catalog (default 2); the others go into clips")
    ap.add_argument("--catalog-size", type=int, default=0, metavar="N",
                    help="pad the catalog to N products with grocery listings no clip shows (one per image)")
    ap.add_argument("--bury", type=float, default=0.0, metavar="MINUTES",
                    help="bury each clip at a random point inside about MINUTES of slow pans over grocery val "
                         "produce photos: real-length videos with the same clips inside (default 0: the clips alone)")
    ap.add_argument("--goods", type=Path, default=None,
                    help="goods dataset folder (default: $SHARED_DIR/datasets/goods or ../shared/...)")
    args = ap.parse_args(argv)
    goods = args.goods or shared_dataset("goods")
    if not (goods / "objects").is_dir():
        print(f"goods dataset not found at {goods} (set --goods or SHARED_DIR)", file=sys.stderr)
        return 2
    if args.catalog_photos < 1:
        ap.error("--catalog-photos must be >= 1")
    print(json.dumps(build(args.out, goods, args.seed, args.catalog_photos, args.catalog_size,
                           bury_minutes=args.bury)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
