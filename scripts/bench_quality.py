#!/usr/bin/env python3
"""Benchmark the matching core on a dataset in the SPEC §8 local layout.

Runs what the services run, with their settings (VisionSettings / MatchSettings from the
environment): decode videos, pick keyframes, segment, embed, keypoint bundles (catalog images and
keyframes), retrieve top-K, verify + compete per keyframe, aggregate per (product, video), and
compares the accepted pairs with truth.json. Progress goes to stderr; the LAST line of stdout is
one JSON object:

  pairs_true, pairs_predicted, precision, recall, f1, retrieval_recall_at_k, keyframes, seconds,
  keyframes_per_s (decode+segment+embed+keypoints, wall clock over --workers processes),
  stage_seconds (per stage, summed over workers), matching_seconds (catalog_prepare_s of it: the
  once-per-job catalog preparation, the longest of the workers'), errors, false_positives,
  false_negatives, calibration (precision per score bin over every scored pair, accepted or
  not); also_shown (accepted pairs that truth.json lists as "also_shown": a product the clip
  shows on a shelf behind its subject, counted neither right nor wrong); video_minutes and
  per_video_minute (seconds per minute of video: wall clock of the keyframe stages and of
  matching, and each stage's CPU seconds, decoding apart);
  segments (time_recall, time_precision, shots_found of the accepted true matches' on-screen
  segments against the truth's shot timeline) and verified_keyframes (how many keyframes the
  first pass let through to verification).

Examples:
  python scripts/make_grocery_dataset.py --split val data/bench/grocery-val
  python scripts/bench_quality.py --dataset data/bench/grocery-val
  python scripts/bench_quality.py --dataset data/bench/grocery-val --work data/bench/work-val --reuse
  # real-length videos: the same clips inside 4 minutes of other footage
  python scripts/make_grocery_dataset.py --split val data/bench/grocery-val-4min --bury 4
  python scripts/bench_quality.py --dataset data/bench/grocery-val-4min
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm


def main(argv: list[str] | None = None) -> int:
    from vision_common.keyframes import KeyframeSettings

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True, type=Path, help="folder with catalog.json, videos.json, truth.json")
    ap.add_argument("--work", type=Path, default=None,
                    help="where masks, keyframes and feature files go (default: a temporary folder)")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse the prepared assets and verification cached in --work (skips extraction and "
                         "matching; keyframes_per_s is then the cached run's). Delete WORK/verified.pkl "
                         "after changing matching settings, the whole WORK after changing vision settings")
    ap.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_WORKERS", "2")),
                    help="processes for extraction and matching (default 2: the target machine's cores)")
    ap.add_argument("--fit", action="store_true",
                    help="also fit the pair-score weights on this dataset's per-shot truth (train split only) and "
                         "report them under 'fitted' as env assignments; the run itself uses the current settings")
    ap.add_argument("--fit-catalog", nargs=2, action="append", type=Path, metavar=("DATASET", "WORK"), default=[],
                    help="with --fit: the same clips matched against another catalog (make_grocery_dataset.py "
                         "--catalog-size), cached in WORK by an earlier run; the appearance lead term is fitted "
                         "on this dataset's keyframes and on those (repeatable)")
    ap.add_argument("--cv", type=int, default=0, metavar="FOLDS",
                    help="also report cross-validation by video (weights refitted on the other folds, per-shot truth "
                         "needed) under 'cv': the honest number for the split the defaults were fitted on")
    ap.add_argument("--ablation-train", type=Path, default=None, metavar="TRAIN_WORK",
                    help="ablation table: fit each variant on the train split's cached verification "
                         "(TRAIN_WORK/verified.pkl, truth from --ablation-train-dataset) and evaluate it here")
    ap.add_argument("--ablation-train-dataset", type=Path, default=None)
    ks0 = KeyframeSettings()
    ap.add_argument("--min-frames", type=int, default=ks0.min_frames, help="keyframes per video at least")
    ap.add_argument("--max-frames", type=int, default=ks0.max_frames,
                    help="keyframe budget of a short clip (default %(default)s)")
    ap.add_argument("--per-minute", type=float, default=ks0.per_minute,
                    help="keyframe budget of a long video per minute (default %(default)s)")
    ap.add_argument("--max-per-video", type=int, default=ks0.max_total,
                    help="keyframes per video at most (default %(default)s)")
    ap.add_argument("--first-pass-min-sim", type=float, default=None,
                    help="FIRST_PASS_MIN_SIM for this run (default: the setting's); -1 turns the first pass off, "
                         "-0.99 computes it and lets every keyframe through (to study its similarities)")
    args = ap.parse_args(argv)
    if args.fit_catalog and not args.fit:
        ap.error("--fit-catalog is a part of --fit: give both")

    from matching.pipeline import (evaluate, evaluate_calibration, evaluate_first_pass, evaluate_segments,
                                   load_cache, load_dataset, pair_set, prepare_dataset, save_cache,
                                   score_dataset, verify_dataset)
    from matching.settings import MatchSettings
    from vision_common.settings import VisionSettings

    if not (args.dataset / "catalog.json").is_file():
        print(f"{args.dataset}: no catalog.json (not a dataset folder)", file=sys.stderr)
        return 2
    vs, ms = VisionSettings(), MatchSettings()
    ks = KeyframeSettings(min_frames=args.min_frames, max_frames=args.max_frames, per_minute=args.per_minute,
                          max_total=args.max_per_video)
    tmp = None
    if args.work is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-")
        args.work = Path(tmp.name)
    args.work.mkdir(parents=True, exist_ok=True)
    prep_cache, ver_cache = args.work / "prepared.pkl", args.work / "verified.pkl"

    def progress(it, total, desc):
        return tqdm(it, total=total, desc=desc, file=sys.stderr, dynamic_ncols=True)

    t0 = time.perf_counter()
    if args.reuse and prep_cache.is_file():
        prep = load_cache(prep_cache)
    else:
        prep = prepare_dataset(args.dataset, args.work, vs, args.workers, ks, progress,
                               first_pass_min_sim=args.first_pass_min_sim)
        save_cache(prep_cache, prep)
    t1 = time.perf_counter()
    timings: dict = {}  # catalog_prepare_s, when verification runs (not with --reuse)
    if args.reuse and ver_cache.is_file():
        fevs = load_cache(ver_cache)
    else:
        fevs = verify_dataset(prep, ms, args.workers, progress, timings)
        save_cache(ver_cache, fevs)
    t_verified = time.perf_counter()
    pairs, matches = score_dataset(fevs, ms)
    t2 = time.perf_counter()

    _, _, truth = load_dataset(args.dataset)
    truth_file = args.dataset / "truth.json"
    truth_doc = json.loads(truth_file.read_text()) if truth_file.is_file() else {}
    shots = truth_doc.get("shots")
    result: dict = {}
    if truth is not None:
        also_shown = truth_doc.get("also_shown", [])
        result.update(evaluate(matches, truth, fevs, prep.catalog, also_shown))
        true = pair_set(truth)
        either = pair_set(also_shown) - true
        pred = {(m.product_id, m.video_id): m for m in matches if m.accepted}
        result["false_positives"] = [dict(product_id=p, video_id=v, score=pred[(p, v)].score)
                                     for (p, v) in sorted(set(pred) - true - either)]
        result["false_negatives"] = [dict(product_id=p, video_id=v) for (p, v) in sorted(true - set(pred))]
        result["also_shown"] = [dict(product_id=p, video_id=v, score=pred[(p, v)].score)
                                for (p, v) in sorted(set(pred) & either)]
        result["calibration"] = evaluate_calibration(fevs, pairs, truth, ms, also_shown=also_shown)
        if shots:
            result["segments"] = evaluate_segments(matches, shots)
            result["first_pass"] = evaluate_first_pass(prep.first_pass, shots)
    if args.fit or (args.cv and truth is not None):
        if not shots:
            print("--fit and --cv need per-shot truth ('shots' in truth.json)", file=sys.stderr)
            return 2
    if args.fit:
        from matching.calibrate import as_env, fit, fit_appearance, fit_appearance_lead

        fitted = fit_appearance(fevs, shots, fit(fevs, shots, ms))
        lead_fevs, also = list(fevs), pair_set(also_shown)
        for other, other_work in args.fit_catalog:
            t = json.loads((other / "truth.json").read_text())
            if t.get("shots") != shots:
                print(f"--fit-catalog {other}: not the same clips as --dataset", file=sys.stderr)
                return 2
            lead_fevs += load_cache(other_work / "verified.pkl")
            also |= pair_set(t.get("also_shown"))
        result["fitted"] = as_env(fit_appearance_lead(lead_fevs, shots, fitted, also))
    if args.cv and truth is not None:
        from matching.calibrate import cross_validate

        result["cv"] = cross_validate(fevs, shots, truth, ms, folds=args.cv)
    if args.ablation_train is not None and truth is not None:
        from matching.calibrate import ablation

        tr_fevs = load_cache(args.ablation_train / "verified.pkl")
        tr = json.loads((args.ablation_train_dataset / "truth.json").read_text())
        result["ablation"] = ablation(tr_fevs, tr["shots"], fevs, truth, ms, train_truth=tr["matches"])
    n_kf = len(prep.frames)
    minutes = prep.video_seconds / 60 or None  # (caches written before it was recorded: unknown)
    matching_wall = t_verified - t1

    def per_min(v: float) -> float | None:
        return round(v / minutes, 2) if minutes else None

    result.update({
        "keyframes": n_kf,
        "keyframes_extracted": prep.keyframes_extracted or n_kf,
        "verified_keyframes": sum(1 for fe in fevs if fe.evidence),
        "video_minutes": round(minutes, 2) if minutes else None,
        "per_video_minute": {
            "wall_s": per_min(prep.keyframe_wall_s + matching_wall),
            "keyframe_stages_wall_s": per_min(prep.keyframe_wall_s),
            "matching_wall_s": per_min(matching_wall),
            "keyframes": per_min(n_kf),
            **{f"cpu_{k.removeprefix('keyframe_')}_s": per_min(v) for k, v in sorted(prep.stage_seconds.items())
               if k.startswith("keyframe_")},
        },
        "catalog_images": len(prep.catalog),
        "seconds": round(t2 - t0, 2),
        "keyframes_per_s": round(n_kf / prep.keyframe_wall_s, 2) if prep.keyframe_wall_s else None,
        "matching_seconds": round(t2 - t1, 2),
        "catalog_prepare_s": timings.get("catalog_prepare_s"),
        "stage_seconds": {k: round(v, 2) for k, v in sorted(prep.stage_seconds.items())},
        "workers": args.workers,
        "errors": prep.errors,
        "settings": {"segmenter": vs.segmenter, "seg_input_size": vs.seg_input_size, "embed_model": vs.embed_model,
                     "kp_methods": vs.kp_methods, "retrieval_topk": ms.retrieval_topk,
                     "retrieval_region_k": ms.retrieval_region_k,
                     "kp_catalog_coarse_sides": ms.kp_catalog_coarse_sides, "kp_coarse_from": ms.kp_coarse_from,
                     "kp_coarse_own_share": ms.kp_coarse_own_share, "kp_blur_method": ms.kp_blur_method,
                     "w_learned": ms.w_learned,
                     "sim_deep_min": ms.sim_deep_min, "match_accept": ms.match_accept,
                     "first_pass_min_sim": (ms.first_pass_min_sim if args.first_pass_min_sim is None
                                            else args.first_pass_min_sim),
                     "keyframes": {"max_frames": ks.max_frames, "per_minute": ks.per_minute,
                                   "max_per_video": ks.max_total}},
    })
    if tmp is not None:
        tmp.cleanup()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
