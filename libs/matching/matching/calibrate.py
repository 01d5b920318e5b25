"""Fit the pair-score weights (stage 1 and stage 2 of matching.scoring) on a labelled dataset.

Needs per-keyframe truth: the ``shots`` list that scripts/make_grocery_dataset.py writes into
truth.json (which product each shot shows). Used by ``scripts/bench_quality.py --fit`` on the
train split only; the fitted numbers are then written into MatchSettings' defaults by hand, so
what runs in the services is plain configuration, not a model file.

scikit-learn is imported here only (fitting is an offline step; the services never import this).
"""
from __future__ import annotations

import math

import numpy as np

from .pipeline import FrameEvidence
from .scoring import FEATURES, compete, pair_features, sim_kp
from .settings import MatchSettings


def frame_truth(fevs: list[FrameEvidence], shots: list[dict]) -> dict[str, str | None]:
    """frame_id -> product_id shown in its shot (None: produce or a product not in the catalog)."""
    by_video: dict[str, list[dict]] = {}
    for sh in shots:
        by_video.setdefault(sh["video_id"], []).append(sh)
    out = {}
    for fe in fevs:
        sh = next((x for x in by_video.get(fe.video_id, []) if x["start"] <= (fe.ts or 0.0) < x["end"]), None)
        out[fe.frame_id] = sh["product_id"] if sh else None
    return out


BASE_FEATURES = ("deep", "kp", "color", "dense", "edge", "spread", "distinct")  # round 1


def fit(fevs: list[FrameEvidence], shots: list[dict], s: MatchSettings, C: float = 1.0,
        features: tuple[str, ...] = FEATURES, duels: bool = True, margin: bool = True) -> MatchSettings:
    """Stage 1 on every verified pair, then stage 2 on the competition winners it produces.

    ``features``, ``duels`` and ``margin`` switch parts off (for the ablation table).
    """
    from sklearn.linear_model import LogisticRegression

    truth = frame_truth(fevs, shots)
    use = [FEATURES.index(f) for f in features]
    X, y = [], []
    for fe in fevs:
        for pid, ev in fe.evidence:
            if ev.verified:
                X.append([pair_features(ev, s)[i] for i in use])
                y.append(int(pid == truth[fe.frame_id]))
    lr = LogisticRegression(C=C, max_iter=5000).fit(np.array(X), np.array(y))
    w = np.zeros(len(FEATURES))
    w[use] = lr.coef_[0]
    s1 = s.model_copy(update=dict(w_bias=float(lr.intercept_[0]),
                                  **{f"w_{f}": float(w[i]) for i, f in enumerate(FEATURES)}))
    # the duel weight: the one whose competition picks the shown product most often
    grid = DUEL_GRID if duels else (0.0,)
    best = max(grid, key=lambda wd: (_winner_accuracy(fevs, truth, s1.model_copy(update=dict(w_duel=wd))), -wd))
    s1 = s1.model_copy(update=dict(w_duel=best))
    Z, y2 = [], []
    for fe in fevs:
        for ps in compete(fe.evidence, s1, fe.duels):
            if ps.logit == -math.inf or ps.suppressed_by is not None:
                continue
            m = 0.0 if ps.margin is None else min(ps.margin, s1.margin_cap)
            Z.append([ps.logit, m, 1.0 if ps.margin is None else 0.0] if margin else [ps.logit])
            y2.append(int(ps.product_id == truth[fe.frame_id]))
    lr2 = LogisticRegression(C=C, max_iter=5000).fit(np.array(Z), np.array(y2))
    a = list(lr2.coef_[0]) + [0.0, 0.0]
    return s1.model_copy(update=dict(cal_bias=float(lr2.intercept_[0]), cal_logit=float(a[0]),
                                     cal_margin=float(a[1]), cal_alone=float(a[2])))


def fit_appearance(fevs: list[FrameEvidence], shots: list[dict], s: MatchSettings, C: float = 1.0) -> MatchSettings:
    """The appearance weights (matching.appearance): stage 1 on every candidate product of every
    keyframe (is it the one shown?), stage 2 on each keyframe's winner (is the winner right?).
    Keyframes whose region geometry already gave to another product are left out of stage 2, as
    they are when scoring; those in which geometry judged the winner itself stay in: stage 2
    answers "how often is a keyframe's best look the product shown", for any product. Asked only
    where a printed grocery package gave no homography, it would learn that the look is then
    mostly wrong, which is true of print and false of a shoe (docs/quality.md)."""
    from sklearn.linear_model import LogisticRegression

    from .appearance import appearance_scores

    truth = frame_truth(fevs, shots)
    X, y = [], []
    for fe in fevs:
        for e in fe.appearance:
            X.append(e.features())
            y.append(int(e.product_id == truth[fe.frame_id]))
    if len(set(y)) < 2:  # nothing to learn from (no appearance evidence, or of one kind only)
        return s
    lr = LogisticRegression(C=C, max_iter=5000).fit(np.array(X), np.array(y))
    s1 = s.model_copy(update=dict(app_bias=float(lr.intercept_[0]), app_w_deep=float(lr.coef_[0][0]),
                                  app_w_hist=float(lr.coef_[0][1])))
    Z, y2 = [], []
    for fe in fevs:
        for ps in appearance_scores(fe.appearance, compete(fe.evidence, s, fe.duels), fe.region_box, s1,
                                    verdict_stands=False):
            Z.append([ps.logit])
            y2.append(int(ps.product_id == truth[fe.frame_id]))
    if len(set(y2)) < 2:
        return s1
    lr2 = LogisticRegression(C=C, max_iter=5000).fit(np.array(Z), np.array(y2))
    return s1.model_copy(update=dict(app_cal_bias=float(lr2.intercept_[0]), app_cal_logit=float(lr2.coef_[0][0])))


def fit_appearance_lead(fevs: list[FrameEvidence], shots: list[dict], s: MatchSettings,
                        also_shown: set[tuple[str, str]] = frozenset(),
                        fulls: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0)) -> MatchSettings:
    """Stage 2's ambiguity term (APP_LEAD_FULL, APP_CAL_LEAD) with stage 1 and the rest of stage 2
    held: the (full, weight) of least log loss over the keyframes' scored appearance winners (a
    grid: the term is a hinge, not a logistic input). Winners that ``also_shown`` lists (a
    produce listing of the class a shot shows) are neither right nor wrong and are left out."""
    from .appearance import appearance_scores

    truth = frame_truth(fevs, shots)
    base, lead, y = [], [], []
    for fe in fevs:
        for ps in appearance_scores(fe.appearance, compete(fe.evidence, s, fe.duels), fe.region_box, s):
            if (ps.product_id, fe.video_id) in also_shown:
                continue
            base.append(s.app_cal_bias + s.app_cal_logit * ps.logit)
            lead.append(np.inf if ps.margin is None else ps.margin)
            y.append(int(ps.product_id == truth[fe.frame_id]))
    if len(set(y)) < 2:
        return s
    base, lead, y = np.array(base), np.array(lead), np.array(y)

    def loss(full: float, w: float) -> float:
        z = base - w * np.maximum(0.0, full - lead)
        return float(np.sum(np.logaddexp(0.0, z) - y * z))

    best = min(((loss(f, w), f, w) for f in fulls for w in np.arange(0.0, 12.01, 0.1)), key=lambda t: t[0])
    return s.model_copy(update=dict(app_lead_full=best[1], app_cal_lead=round(float(best[2]), 2)))


def spec_baseline(fevs: list[FrameEvidence], s: MatchSettings, competition: bool):
    """The SPEC §6 formula as written: score_pair = 0.35 sim_deep + 0.55 sim_kp + 0.10 sim_edge
    on every verified pair (sim_kp = min(1, inliers / kp_inliers_sat)), optionally with the
    per-frame competition on that score; aggregated with the SPEC's 0.88 / 2 / 0.92 rules."""
    from .aggregate import aggregate
    from .scoring import PairScore, quad_iou

    pairs, frames = [], {}
    for fe in fevs:
        frames[fe.frame_id] = fe.info
        cand = []
        for pid, ev in fe.evidence:
            sc = 0.35 * ev.sim_deep + 0.55 * sim_kp(ev, s) + 0.10 * ev.sim_edge
            cand.append((sc if ev.verified else 0.0, pid, ev))
        cand.sort(key=lambda t: -t[0])
        kept: list = []
        for sc, pid, ev in cand:
            lost = competition and sc > 0 and any(
                p != pid and quad_iou(e.quad, ev.quad) > s.compete_iou for _, p, e in kept)
            if sc > 0 and not lost:
                kept.append((sc, pid, ev))
            pairs.append(PairScore(ev.img_id, fe.frame_id, pid, 0.0 if lost else sc, 0.0, None, None, ev))
    spec = s.model_copy(update=dict(match_pair_min=0.80, match_best_min=0.88, match_cons_min=2,
                                    match_strong_min=0.92, match_accept=0.80))
    return aggregate(pairs, frames, spec)


ABLATION = [
    ("SPEC formula (0.35 deep + 0.55 kp + 0.10 edge), every pair on its own", None),
    ("SPEC formula + per-frame competition", None),
    ("learned score: geometry only (deep, kp, spread), competition",
     dict(features=("deep", "kp", "spread"), duels=False, margin=False)),
    ("+ colour (hue agreement after warping)", dict(features=("deep", "kp", "spread", "color"), duels=False,
                                                    margin=False)),
    ("+ dense detail and edges (NCC cells, edge chamfer)",
     dict(features=BASE_FEATURES[:6], duels=False, margin=False)),
    ("+ distinct evidence (inliers not shared with other products)",
     dict(features=BASE_FEATURES, duels=False, margin=False)),
    ("+ sibling duels", dict(features=BASE_FEATURES, duels=True, margin=False)),
    ("+ margin calibration (stage 2): round 1's score", dict(features=BASE_FEATURES, duels=True, margin=True)),
    ("+ distinct relative to the image (distinct_rel): the default",
     dict(features=FEATURES, duels=True, margin=True)),
]


def ablation(train_fevs: list[FrameEvidence], train_shots: list[dict], eval_fevs: list[FrameEvidence],
             eval_truth: list[dict], s: MatchSettings, train_truth: list[dict] | None = None) -> list[dict]:
    """What each stage adds: fit on train, evaluate on the other set, same aggregation rules; with
    ``train_truth`` also each variant's 4-fold CV on train (the number the choices were made on)."""
    from .pipeline import evaluate, score_dataset

    keys = ("pairs_predicted", "precision", "recall", "f1")
    rows = []
    for i, (name, kw) in enumerate(ABLATION):
        if kw is None:
            matches = spec_baseline(eval_fevs, s, competition=(i == 1))
        else:
            _, matches = score_dataset(eval_fevs, fit(train_fevs, train_shots, s, **kw))
        e = evaluate(matches, eval_truth)
        row = {"variant": name, **{k: e[k] for k in keys}}
        if train_truth is not None:  # the SPEC rows have nothing to fit: plain evaluation on train
            cv = (evaluate(spec_baseline(train_fevs, s, competition=(i == 1)), train_truth) if kw is None
                  else cross_validate(train_fevs, train_shots, train_truth, s, **kw))
            row["train_cv"] = {k: cv[k] for k in keys}
        rows.append(row)
    return rows


DUEL_GRID = (0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 14.0)


def _winner_accuracy(fevs: list[FrameEvidence], truth: dict[str, str | None], s: MatchSettings) -> float:
    """Share of keyframes showing a catalog product whose best-scoring winner is that product."""
    ok = n = 0
    for fe in fevs:
        if truth.get(fe.frame_id) is None:
            continue
        n += 1
        scored = [p for p in compete(fe.evidence, s, fe.duels) if p.suppressed_by is None and p.logit > -math.inf]
        if scored and max(scored, key=lambda p: p.logit).product_id == truth[fe.frame_id]:
            ok += 1
    return ok / n if n else 0.0


def as_env(s: MatchSettings) -> str:
    keys = ["w_duel", "w_bias"] + [f"w_{f}" for f in FEATURES] + [
            "cal_bias", "cal_logit", "cal_margin", "cal_alone"] + [
            "app_bias", "app_w_deep", "app_w_hist", "app_cal_bias", "app_cal_logit", "app_lead_full", "app_cal_lead"]
    return " ".join(f"{k.upper()}={getattr(s, k):.3f}" for k in keys)


def cv_folds(video_ids: list[str], folds: int) -> list[set[str]]:
    """Deterministic split of videos into ``folds`` groups (sorted ids, round robin)."""
    vids = sorted(set(video_ids))
    return [set(vids[i::folds]) for i in range(folds)]


def cross_validate(fevs: list[FrameEvidence], shots: list[dict], truth: list[dict], s: MatchSettings,
                   folds: int = 4, **fit_kw) -> dict:
    """Cross-validation by video: fit the weights on the other folds, score and aggregate each fold
    with them, pool the accepted pairs and compare with ``truth`` (the honest train number)."""
    from .pipeline import evaluate, score_dataset

    matches = []
    for held in cv_folds([fe.video_id for fe in fevs], folds):
        tr = [fe for fe in fevs if fe.video_id not in held]
        te = [fe for fe in fevs if fe.video_id in held]
        sf = fit(tr, shots, s, **fit_kw)
        if s.appearance:
            sf = fit_appearance(tr, shots, sf)
        matches.extend(score_dataset(te, sf)[1])
    return evaluate(matches, truth)
