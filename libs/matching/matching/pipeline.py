"""The whole chain on a dataset folder (SPEC §8 layout), built only from the service functions.

  prepare_dataset  decode videos -> keyframes -> segment -> embed -> keypoint bundle, and the same
                   for catalog images (what media-ingestion, product-segmentor, vision-embedding
                   and vision-keypoint do), in ``workers`` processes;
  verify_dataset   per keyframe: retrieve_with_regions over catalog images, verify_pair each candidate
                   (what the matcher does per keyframe);
  score_dataset    frame_scores + aggregate with MatchSettings (the matcher's decision).

scripts/bench_quality.py is a thin wrapper over these; the pipeline issue reproduces its numbers
through the services, which call the same functions with the same settings.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import pickle
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vision_common.errors import VisionError
from vision_common.keyframes import KeyframeSettings
from vision_common.settings import VisionSettings

from .aggregate import FrameInfo, ProductVideoMatch, aggregate
from .appearance import AppearanceEvidence, appearance_evidence
from .assets import Asset, extract_asset_features, save_asset_features
from .retrieval import first_pass, retrieve_with_regions
from .scoring import PairScore
from .settings import MatchSettings
from .distinct import prepare_catalog
from .frame import frame_evidence, frame_scores, worth_verifying
from .verify import PairEvidence

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    catalog: list[Asset] = field(default_factory=list)
    frames: list[Asset] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    keyframe_wall_s: float = 0.0
    video_seconds: float = 0.0  # total length of the videos
    keyframes_extracted: int = 0  # before the first pass (``frames`` holds those that passed it)
    first_pass: list[dict] = field(default_factory=list)  # {video_id, ts, sim, passed} per keyframe


def load_dataset(root: str | os.PathLike) -> tuple[list[dict], list[dict], list[dict] | None]:
    root = Path(root)
    products = json.loads((root / "catalog.json").read_text())["products"]
    videos = json.loads((root / "videos.json").read_text())["videos"]
    truth = None
    if (root / "truth.json").is_file():
        truth = json.loads((root / "truth.json").read_text()).get("matches")
    return products, videos, truth


# --- worker side ------------------------------------------------------------------------------
_W: dict = {}


def _single_threaded() -> None:
    """One thread per worker process (parallelism is by process): OpenCV and the BLAS behind the
    descriptor matching's matrix products."""
    import cv2

    cv2.setNumThreads(1)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return
    threadpool_limits(1)


def _init_worker(vsettings_json: str) -> None:
    """Load the models once per worker process (one thread each: parallelism is by process)."""
    import torch

    from vision_common.embedding import build_embedder
    from vision_common.segmentation import build_segmenter

    _single_threaded()
    torch.set_num_threads(1)
    vs = VisionSettings.model_validate_json(vsettings_json)
    _W.update(settings=vs, segmenter=build_segmenter(vs), embedder=build_embedder(vs))


def _process_images(items: list[tuple[str, np.ndarray]], work: Path, kind: str, t: dict) -> list[dict]:
    """Segment, embed and extract features of (asset_id, image) items; write mask + npz."""
    from vision_common.image_io import write_png

    seg, emb, vs = _W["segmenter"], _W["embedder"], _W["settings"]
    t0 = time.perf_counter()
    results = seg.segment_batch([im for _, im in items])
    t1 = time.perf_counter()
    masks = [None if r.fallback else r.mask for r in results]
    e_rgb, e_gray = emb.embed([im for _, im in items], masks)
    t2 = time.perf_counter()
    out = []
    for (aid, im), r, m, er, eg in zip(items, results, masks, e_rgb, e_gray):
        mask_path = work / "masks" / kind / f"{aid}.png"
        write_png(mask_path, r.mask)
        fs = extract_asset_features(im, m, vs, seg_fallback=r.fallback)
        kp_path = save_asset_features(work / "kp" / f"{aid}.npz", fs)
        out.append({"asset_id": aid, "mask_path": str(mask_path), "features_path": str(kp_path),
                    "emb_rgb": er, "emb_gray": eg, "seg_fallback": r.fallback, "seg_reason": r.reason})
    t3 = time.perf_counter()
    t["segment"] += t1 - t0
    t["embed"] += t2 - t1
    t["keypoints"] += t3 - t2
    return out


def _catalog_task(args: tuple[str, str, str, str]) -> dict:
    from vision_common.image_io import read_image

    product_id, img_id, path, work = args
    t: dict = defaultdict(float)
    try:
        t0 = time.perf_counter()
        im = read_image(path)
        t["decode"] += time.perf_counter() - t0
        rec = _process_images([(img_id, im)], Path(work), "products", t)[0]
        rec.update(owner_id=product_id, image_path=path)
        return {"assets": [rec], "errors": [], "t": dict(t)}
    except VisionError as exc:
        return {"assets": [], "errors": [{"asset": img_id, "error": str(exc)}], "t": dict(t)}


def _video_task(args: tuple[str, str, str, dict, tuple | None]) -> dict:
    """Keyframes of one video, the first pass against the catalog (``gate``: catalog rgb and gray
    embeddings, FIRST_PASS_MIN_SIM, and the same again when RETRIEVAL_REGION_CROPS cuts the kept
    keyframes' regions out, else None; or None for no first pass), then the per-keyframe stages
    on the keyframes that pass."""
    from vision_common.image_io import decode_image
    from vision_common.keyframes import KeyframeSettings, extract_keyframes

    video_id, path, work, ks, gate = args
    ks = KeyframeSettings(**ks)
    t: dict = defaultdict(float)
    try:
        t0 = time.perf_counter()
        kfs = extract_keyframes(path, ks.min_frames, ks.max_frames, ks)
        t["decode"] += time.perf_counter() - t0
        recs, passes = [], []
        # in chunks, so that a long video's decoded keyframes are never all in memory at once
        for start in range(0, len(kfs), 32):
            t0 = time.perf_counter()
            items, meta = [], {}
            for i, k in enumerate(kfs[start:start + 32], start):
                fid = f"{video_id}__f{i:03d}"
                # stored as media-ingestion stores it, and processed as read back from that file
                fpath = Path(work) / "videos" / video_id / "frames" / f"{fid}.jpg"
                fpath.parent.mkdir(parents=True, exist_ok=True)
                fpath.write_bytes(k.jpeg)
                items.append((fid, decode_image(k.jpeg, str(fpath))))
                meta[fid] = dict(owner_id=video_id, ts=k.ts, shot_start=k.shot_start, shot_end=k.shot_end,
                                 image_path=str(fpath))
            t["store"] += time.perf_counter() - t0
            if gate is not None:
                t0 = time.perf_counter()
                fp = first_pass(_W["embedder"], [im for _, im in items], gate[0], gate[1], crop_from=gate[3])
                keep = fp.sims >= gate[2]
                passes.extend({"video_id": video_id, "ts": meta[fid]["ts"], "sim": round(float(sim), 4),
                               "passed": bool(ok)} for (fid, _), sim, ok in zip(items, fp.sims, keep))
                for (fid, _), rgb, gray in zip(items, fp.region_rgb, fp.region_gray):
                    meta[fid].update(region_rgb=rgb, region_gray=gray)  # as media-ingestion stores them
                items = [it for it, ok in zip(items, keep) if ok]
                t["first_pass"] += time.perf_counter() - t0
            for r in _process_images(items, Path(work), "frames", t) if items else []:
                r.update(meta[r["asset_id"]])
                recs.append(r)
        return {"assets": recs, "errors": [], "t": dict(t), "video_s": kfs[-1].shot_end if kfs else 0.0,
                "keyframes": len(kfs), "first_pass": passes}
    except VisionError as exc:
        return {"assets": [], "errors": [{"asset": video_id, "error": str(exc)}], "t": dict(t)}


def _to_asset(r: dict) -> Asset:
    return Asset(r["asset_id"], r.get("image_path"), r.get("mask_path"), r["emb_rgb"], r["emb_gray"],
                 r["features_path"], owner_id=r.get("owner_id"), ts=r.get("ts"),
                 shot_start=r.get("shot_start"), shot_end=r.get("shot_end"),
                 region_rgb=r.get("region_rgb"), region_gray=r.get("region_gray"))


def prepare_dataset(root: str | os.PathLike, work: str | os.PathLike, vs: VisionSettings | None = None,
                    workers: int = 2, ks: KeyframeSettings | None = None, progress=None,
                    first_pass_min_sim: float | None = None) -> Prepared:
    """Run the per-asset stages over a dataset; bad assets are recorded in ``errors``.
    Keyframes go through the first pass against the catalog (``first_pass_min_sim``, default
    MatchSettings'; -1 is off) before the per-keyframe stages, as in media-ingestion."""
    vs = vs or VisionSettings()
    ks = ks or KeyframeSettings()
    if first_pass_min_sim is None:
        first_pass_min_sim = MatchSettings().first_pass_min_sim
    root, work = Path(root), Path(work)
    products, videos, _ = load_dataset(root)
    cat_tasks = [(p["product_id"], f"{p['product_id']}__{i}", str(root / rel), str(work))
                 for p in products for i, rel in enumerate(p.get("images", []))]
    prep = Prepared()
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # torch + fork is unsafe; spawn gives clean per-process models
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(vs.model_dump_json(),)) as ex:
        for res in _tracked(ex.map(_catalog_task, cat_tasks), len(cat_tasks), "catalog images", progress):
            _collect(prep, res, catalog=True)
        gate = None
        if first_pass_min_sim > -1:
            cat = [c for c in prep.catalog if c.emb_rgb is not None]
            gate = (np.stack([c.emb_rgb for c in cat]) if cat else np.zeros((0, 1), np.float32),
                    np.stack([c.emb_gray for c in cat]) if cat else np.zeros((0, 1), np.float32),
                    first_pass_min_sim, first_pass_min_sim if MatchSettings().retrieval_region_crops else None)
        vid_tasks = [(v["video_id"], str(root / v["path"]), str(work), dataclasses.asdict(ks), gate) for v in videos]
        t0 = time.perf_counter()
        for res in _tracked(ex.map(_video_task, vid_tasks), len(vid_tasks), "videos", progress):
            _collect(prep, res, catalog=False)
        prep.keyframe_wall_s = time.perf_counter() - t0
    return prep


def _collect(prep: Prepared, res: dict, catalog: bool) -> None:
    (prep.catalog if catalog else prep.frames).extend(_to_asset(r) for r in res["assets"])
    prep.errors.extend(res["errors"])
    prep.video_seconds += res.get("video_s", 0.0)
    prep.keyframes_extracted += res.get("keyframes", 0)
    prep.first_pass.extend(res.get("first_pass", []))
    prefix = "catalog_" if catalog else "keyframe_"
    for k, v in res["t"].items():
        prep.stage_seconds[prefix + k] += v


def _tracked(it, total, desc, progress):
    if progress is None:
        return it
    return progress(it, total=total, desc=desc)


# --- matching side ----------------------------------------------------------------------------
@dataclass
class FrameEvidence:
    frame_id: str
    video_id: str
    ts: float | None
    candidates: list[tuple[str, float]]  # (img_id, retrieval similarity), best first
    evidence: list[tuple[str, PairEvidence]]  # (product_id, evidence)
    duels: dict[tuple[str, str], float] = field(default_factory=dict)
    shot_start: float | None = None
    shot_end: float | None = None
    appearance: list[AppearanceEvidence] = field(default_factory=list)
    region_box: tuple[float, float, float, float] | None = None  # the keyframe's product mask box

    @property
    def info(self) -> FrameInfo:
        return FrameInfo(self.video_id, self.ts, self.shot_start, self.shot_end)


_CATALOG: dict = {}


def _shared_catalog(catalog: list[Asset], s: MatchSettings) -> float:
    """``prepare_catalog`` (what the matcher does once per job), cached per worker process:
    every video task gets the same catalog. Returns the seconds it took here (0: cached)."""
    key = tuple(c.asset_id for c in catalog)
    t = time.perf_counter()
    if key not in _CATALOG:
        ok = prepare_catalog(catalog, s)
        _CATALOG.clear()
        _CATALOG[key] = {c.asset_id: c.bundle() for c in ok}
    for c in catalog:
        c._bundle = _CATALOG[key].get(c.asset_id)
    return time.perf_counter() - t


def _verify_video(args) -> tuple[list[FrameEvidence], float]:
    """One video's keyframes, and the seconds this call spent preparing the catalog."""
    frames, catalog, s = args
    db_rgb = np.stack([c.emb_rgb for c in catalog])
    db_gray = np.stack([c.emb_gray for c in catalog])
    prepare_s = _shared_catalog(catalog, s)
    out = []
    for f in frames:
        topk = retrieve_with_regions(f.emb_rgb, f.emb_gray, f.region_rgb, f.region_gray, db_rgb, db_gray,
                                     s.retrieval_topk, s.retrieval_region_k)
        ev, duels, app, box = [], {}, [], None
        if worth_verifying([sim for _, sim in topk], s):
            try:
                fb = f.bundle(cache=False)
            except Exception as exc:
                log.warning("keyframe %s skipped: %s", f.asset_id, exc)
                continue
            cands, sims = [catalog[i] for i, _ in topk], [sim for _, sim in topk]
            ev, duels = frame_evidence(fb, f.asset_id, cands, sims, s)
            app, box = appearance_evidence(fb, f.asset_id, cands, sims, s), fb.mask_box
        out.append(FrameEvidence(f.asset_id, f.owner_id, f.ts, [(catalog[i].asset_id, sim) for i, sim in topk],
                                 ev, duels, f.shot_start, f.shot_end, app, box))
    return out, prepare_s


def verify_dataset(prep: Prepared, s: MatchSettings, workers: int = 2, progress=None,
                   timings: dict | None = None) -> list[FrameEvidence]:
    """Retrieve + verify every keyframe (parallel over videos). ``timings`` gets
    ``catalog_prepare_s``: the longest any worker spent preparing the catalog (the matcher's
    once-per-job cost, which grows with the catalog while verification per keyframe does not)."""
    by_video: dict[str, list[Asset]] = defaultdict(list)
    for f in prep.frames:
        by_video[f.owner_id].append(f)
    catalog = [c for c in prep.catalog if c.emb_rgb is not None]
    if not catalog:
        return []
    # the workers get plain assets without cached bundles (smaller pickles)
    cat_light = [Asset(c.asset_id, c.image_path, c.mask_path, c.emb_rgb, c.emb_gray, c.features_path, c.owner_id)
                 for c in catalog]
    tasks = [(fs, cat_light, s) for _, fs in sorted(by_video.items())]
    out: list[FrameEvidence] = []
    import multiprocessing as mp

    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                             initializer=_single_threaded) as ex:
        prepare_s = 0.0
        for res, spent in _tracked(ex.map(_verify_video, tasks), len(tasks), "matching videos", progress):
            out.extend(res)
            prepare_s = max(prepare_s, spent)
    if timings is not None:
        timings["catalog_prepare_s"] = round(prepare_s, 2)
    return out


def score_dataset(fevs: list[FrameEvidence], s: MatchSettings) -> tuple[list[PairScore], list[ProductVideoMatch]]:
    pairs: list[PairScore] = []
    frames: dict[str, FrameInfo] = {}
    for fe in fevs:
        frames[fe.frame_id] = fe.info
        pairs.extend(frame_scores(fe.evidence, fe.duels, fe.appearance, fe.region_box, s))
    return pairs, aggregate(pairs, frames, s)


def evaluate(matches: list[ProductVideoMatch], truth: list[dict], fevs: list[FrameEvidence] | None = None,
             catalog: list[Asset] | None = None, also_shown: list[dict] | None = None) -> dict:
    """Precision and recall of the accepted pairs against ``truth``. ``also_shown`` pairs (a
    product a clip shows only on a shelf behind its subject, truth.json's "also_shown") count
    neither way: not needed for recall, not wrong when reported."""
    true = pair_set(truth)
    pred = {(m.product_id, m.video_id) for m in matches if m.accepted}
    either = pair_set(also_shown) - true
    tp = len(true & pred)
    p = tp / len(pred - either) if pred - either else 1.0
    r = tp / len(true) if true else 1.0
    out = {"pairs_true": len(true), "pairs_predicted": len(pred), "true_positives": tp,
           "also_shown_accepted": len(pred & either),
           "precision": round(p, 4), "recall": round(r, 4),
           "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0}
    if fevs is not None and catalog is not None:
        owner = {c.asset_id: c.owner_id for c in catalog}
        retrieved = {(owner[i], fe.video_id) for fe in fevs for i, _ in fe.candidates}
        out["retrieval_recall_at_k"] = round(len(true & retrieved) / len(true), 4) if true else 1.0
    return out


CALIBRATION_EDGES = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0)


def evaluate_calibration(fevs: list[FrameEvidence], pairs: list[PairScore], truth: list[dict], s: MatchSettings,
                         edges: tuple[float, ...] = CALIBRATION_EDGES, also_shown: list[dict] | None = None) -> list[dict]:
    """Precision per score bin over every scored (product, video), accepted or not: what a score
    means on this dataset (a threshold means one thing only if these agree across datasets).
    ``also_shown`` pairs are left out (see ``evaluate``)."""
    true = pair_set(truth)
    either = pair_set(also_shown) - true
    scored = [m for m in aggregate(pairs, {fe.frame_id: fe.info for fe in fevs}, s, include_rejected=True)
              if (m.product_id, m.video_id) not in either]
    out = []
    for lo, hi in zip(edges, edges[1:]):
        inside = [m for m in scored if lo <= m.score < hi or (hi == edges[-1] and m.score == hi)]
        hits = sum((m.product_id, m.video_id) in true for m in inside)
        out.append({"bin": f"{lo:.2f}-{hi:.2f}", "pairs": len(inside), "true": hits,
                    "accepted": sum(m.accepted for m in inside),
                    "precision": round(hits / len(inside), 3) if inside else None})
    return out


def pair_set(rows: list[dict] | None) -> set[tuple[str, str]]:
    """{(product_id, video_id)} of truth.json rows ("matches", "also_shown"); none: empty."""
    return {(t["product_id"], t["video_id"]) for t in rows or ()}


def _overlap(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    """Total length of the intersection of two sets of disjoint intervals."""
    return sum(max(0.0, min(e1, e2) - max(s1, s2)) for s1, e1 in a for s2, e2 in b)


def _union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def evaluate_segments(matches: list[ProductVideoMatch], shots: list[dict]) -> dict:
    """How well the accepted true matches' segments cover the truth's shots of their product:
    time_recall (share of the product's on-screen time inside a segment), time_precision (share
    of segment time when the product is on screen), shots_found (share of its shots touched)."""
    true_spans: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for sh in shots:
        if sh.get("product_id") and sh.get("in_catalog", True):
            true_spans[(sh["product_id"], sh["video_id"])].append((sh["start"], sh["end"]))
    on_screen = inside = covered = n_shots = found = 0.0
    for m in matches:
        truth = true_spans.get((m.product_id, m.video_id))
        if not m.accepted or not truth:
            continue
        pred = _union([(g.start, g.end) for g in m.segments])
        truth_u = _union(truth)
        both = _overlap(truth_u, pred)
        on_screen += sum(b - a for a, b in truth_u)
        inside += both
        covered += sum(b - a for a, b in pred)
        n_shots += len(truth)
        found += sum(1 for t in truth if _overlap([t], pred) > 0)
    return {"time_recall": round(inside / on_screen, 4) if on_screen else None,
            "time_precision": round(inside / covered, 4) if covered else None,
            "shots_found": round(found / n_shots, 4) if n_shots else None}


def evaluate_first_pass(passes: list[dict], shots: list[dict]) -> dict:
    """What the first pass let through: all keyframes, and those inside a shot of a catalog
    product (which it should never drop)."""
    by_video: dict[str, list[dict]] = defaultdict(list)
    for sh in shots:
        by_video[sh["video_id"]].append(sh)

    def shows_product(p: dict) -> bool:
        return any(sh.get("product_id") and sh.get("in_catalog", True) and sh["start"] <= p["ts"] < sh["end"]
                   for sh in by_video[p["video_id"]])

    product = [p for p in passes if shows_product(p)]
    return {"keyframes": len(passes), "passed": sum(p["passed"] for p in passes),
            "product_keyframes": len(product), "product_keyframes_passed": sum(p["passed"] for p in product)}


def save_cache(path: str | os.PathLike, obj) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def load_cache(path: str | os.PathLike):
    with open(path, "rb") as f:
        return pickle.load(f)
