"""The offline fitting behind the defaults (matching.calibrate), on verification results made here:
per keyframe the shown product and a sibling claim the same region; the shown one agrees in
colour and detail, the sibling matches as many keypoints (the trap the score must avoid)."""
import numpy as np

from matching.calibrate import ablation, cross_validate, fit, frame_truth
from matching.pipeline import FrameEvidence, evaluate, score_dataset
from matching.settings import MatchSettings
from matching.verify import PairEvidence

S = MatchSettings()
QUAD = np.float32([[40, 40], [200, 40], [200, 300], [40, 300]])


def _pair(img, frame, rng, right):
    ev = PairEvidence(img, frame, sim_deep=float(rng.uniform(0.4, 0.7)), inliers=int(rng.integers(30, 80)),
                      verified=True, quad=QUAD + rng.normal(0, 2, QUAD.shape).astype(np.float32))
    ev.sim_color = float(rng.uniform(0.8, 1.0) if right else rng.uniform(0.3, 0.75))
    ev.sim_dense = float(rng.uniform(0.6, 0.9) if right else rng.uniform(0.2, 0.55))
    ev.sim_edge, ev.spread, ev.distinct, ev.distinct_base = 0.5, 0.5, 0.5, 0.5
    return ev


def _dataset(n_videos=24, seed=0):
    """Each video shows product A or B in two keyframes (one 2 s shot), or nothing (produce)."""
    rng = np.random.default_rng(seed)
    fevs, shots, truth = [], [], []
    for v in range(n_videos):
        vid = f"v{v:02d}"
        shown = ("A", "B", None)[v % 3]
        if shown:
            shots.append({"video_id": vid, "start": 0.0, "end": 2.0, "product_id": shown})
            truth.append({"product_id": shown, "video_id": vid})
        for k, ts in enumerate((0.5, 1.5)):
            fid = f"{vid}__f{k}"
            ev = [(p, _pair(f"{p}__0", fid, rng, p == shown)) for p in ("A", "B")]
            fevs.append(FrameEvidence(fid, vid, ts, [(f"{p}__0", 0.6) for p in ("A", "B")], ev))
    return fevs, shots, truth


def test_frame_truth_reads_the_shot_timeline():
    fevs, shots, _ = _dataset(3)
    t = frame_truth(fevs, shots)
    assert t["v00__f0"] == "A" and t["v01__f1"] == "B" and t["v02__f0"] is None


def test_fit_weights_colour_and_detail_and_accepts_only_the_shown_product():
    fevs, shots, truth = _dataset()
    s = fit(fevs, shots, S)
    assert s.w_color > 0 and s.w_dense > 0
    _, matches = score_dataset(fevs, s)
    e = evaluate(matches, truth)
    assert e["precision"] == 1.0 and e["recall"] >= 0.9


def test_cross_validation_scores_each_video_with_weights_fitted_without_it():
    fevs, shots, truth = _dataset()
    cv = cross_validate(fevs, shots, truth, S, folds=4)
    assert cv["pairs_true"] == len(truth) == 16
    assert cv["precision"] == 1.0 and cv["recall"] >= 0.9
    # a score that ignores colour and detail cannot tell the sibling apart
    blind = cross_validate(fevs, shots, truth, S, folds=4, features=("deep", "kp", "spread"), duels=False,
                           margin=False)
    assert blind["f1"] < cv["f1"]


def test_ablation_rows_carry_val_and_train_cv_numbers():
    fevs, shots, truth = _dataset(seed=1)
    val, _, val_truth = _dataset(12, seed=2)
    rows = ablation(fevs, shots, val, val_truth, S, train_truth=truth)
    assert rows[-1]["variant"].endswith("the default")
    assert all({"precision", "recall", "f1", "train_cv"} <= set(r) for r in rows)
    assert rows[-1]["f1"] > rows[2]["f1"]  # the full score beats geometry alone here too
