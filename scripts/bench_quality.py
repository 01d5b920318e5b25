#!/usr/bin/env python3
"""Benchmark the matching core on a dataset in the SPEC §8 local layout.

Runs what the services run, with their settings (VisionSettings / MatchSettings from the
environment): decode videos, pick keyframes, segment, embed, keypoint bundles (catalog images and
keyframes), retrieve top-K, verify + compete per keyframe, aggregate per (product, video), and
compares the accepted pairs with truth.json. Progress goes to stderr; the LAST line of stdout is
one JSON object:

  pairs_true, pairs_predicted, precision, recall, f1, retrieval_recall_at_k, keyframes, seconds,
  keyframes_per_s (decode+segment+embed+keypoints, wall clock over --workers processes),
  stage_seconds (per stage, summed over workers), matching_seconds, errors, false_positives,
  false_negatives.

Examples:
  python scripts/make_grocery_dataset.py --split val data/bench/grocery-val
  python scripts/bench_quality.py --dataset data/bench/grocery-val
  python scripts/bench_quality.py --dataset data/bench/grocery-val --work data/bench/work-val --reuse
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
    ap.add_argument("--cv", type=int, default=0, metavar="FOLDS",
                    help="also report cross-validation by video (weights refitted on the other folds, per-shot truth "
                         "needed) under 'cv': the honest number for the split the defaults were fitted on")
    ap.add_argument("--ablation-train", type=Path, default=None, metavar="TRAIN_WORK",
                    help="ablation table: fit each variant on the train split's cached verification "
                         "(TRAIN_WORK/verified.pkl, truth from --ablation-train-dataset) and evaluate it here")
    ap.add_argument("--ablation-train-dataset", type=Path, default=None)
    ap.add_argument("--min-frames", type=int, default=3)
    ap.add_argument("--max-frames", type=int, default=8)
    args = ap.parse_args(argv)

    from matching.pipeline import (evaluate, load_cache, load_dataset, prepare_dataset, save_cache,
                                   score_dataset, verify_dataset)
    from matching.settings import MatchSettings
    from vision_common.settings import VisionSettings

    if not (args.dataset / "catalog.json").is_file():
        print(f"{args.dataset}: no catalog.json (not a dataset folder)", file=sys.stderr)
        return 2
    vs, ms = VisionSettings(), MatchSettings()
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
        prep = prepare_dataset(args.dataset, args.work, vs, args.workers, args.min_frames, args.max_frames, progress)
        save_cache(prep_cache, prep)
    t1 = time.perf_counter()
    if args.reuse and ver_cache.is_file():
        fevs = load_cache(ver_cache)
    else:
        fevs = verify_dataset(prep, ms, args.workers, progress)
        save_cache(ver_cache, fevs)
    pairs, matches = score_dataset(fevs, ms)
    t2 = time.perf_counter()

    _, _, truth = load_dataset(args.dataset)
    result: dict = {}
    if truth is not None:
        result.update(evaluate(matches, truth, fevs, prep.catalog))
        true = {(t["product_id"], t["video_id"]) for t in truth}
        pred = {(m.product_id, m.video_id): m for m in matches if m.accepted}
        result["false_positives"] = [dict(product_id=p, video_id=v, score=pred[(p, v)].score)
                                     for (p, v) in sorted(set(pred) - true)]
        result["false_negatives"] = [dict(product_id=p, video_id=v) for (p, v) in sorted(true - set(pred))]
    if args.fit or (args.cv and truth is not None):
        shots = json.loads((args.dataset / "truth.json").read_text()).get("shots")
        if not shots:
            print("--fit and --cv need per-shot truth ('shots' in truth.json)", file=sys.stderr)
            return 2
    if args.fit:
        from matching.calibrate import as_env, fit

        result["fitted"] = as_env(fit(fevs, shots, ms))
    if args.cv and truth is not None:
        from matching.calibrate import cross_validate

        result["cv"] = cross_validate(fevs, shots, truth, ms, folds=args.cv)
    if args.ablation_train is not None and truth is not None:
        from matching.calibrate import ablation

        tr_fevs = load_cache(args.ablation_train / "verified.pkl")
        tr = json.loads((args.ablation_train_dataset / "truth.json").read_text())
        result["ablation"] = ablation(tr_fevs, tr["shots"], fevs, truth, ms, train_truth=tr["matches"])
    n_kf = len(prep.frames)
    result.update({
        "keyframes": n_kf,
        "catalog_images": len(prep.catalog),
        "seconds": round(t2 - t0, 2),
        "keyframes_per_s": round(n_kf / prep.keyframe_wall_s, 2) if prep.keyframe_wall_s else None,
        "matching_seconds": round(t2 - t1, 2),
        "stage_seconds": {k: round(v, 2) for k, v in sorted(prep.stage_seconds.items())},
        "workers": args.workers,
        "errors": prep.errors,
        "settings": {"segmenter": vs.segmenter, "seg_input_size": vs.seg_input_size, "embed_model": vs.embed_model,
                     "kp_methods": vs.kp_methods, "retrieval_topk": ms.retrieval_topk,
                     "match_accept": ms.match_accept},
    })
    if tmp is not None:
        tmp.cleanup()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
