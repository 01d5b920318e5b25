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
from .scoring import compete, pair_features
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


def fit(fevs: list[FrameEvidence], shots: list[dict], s: MatchSettings, C: float = 1.0) -> MatchSettings:
    """Stage 1 on every verified pair, then stage 2 on the competition winners it produces."""
    from sklearn.linear_model import LogisticRegression

    truth = frame_truth(fevs, shots)
    X, y = [], []
    for fe in fevs:
        for pid, ev in fe.evidence:
            if ev.verified:
                X.append(pair_features(ev, s))
                y.append(int(pid == truth[fe.frame_id]))
    lr = LogisticRegression(C=C, max_iter=5000).fit(np.array(X), np.array(y))
    w = lr.coef_[0]
    s1 = s.model_copy(update=dict(w_bias=float(lr.intercept_[0]), w_deep=float(w[0]), w_kp=float(w[1]),
                                  w_color=float(w[2]), w_dense=float(w[3]), w_edge=float(w[4]),
                                  w_spread=float(w[5])))
    # the duel weight: the one whose competition picks the shown product most often
    best = max(DUEL_GRID, key=lambda wd: (_winner_accuracy(fevs, truth, s1.model_copy(update=dict(w_duel=wd))), -wd))
    s1 = s1.model_copy(update=dict(w_duel=best))
    Z, y2 = [], []
    for fe in fevs:
        for ps in compete(fe.evidence, s1, fe.duels):
            if ps.logit == -math.inf or ps.suppressed_by is not None:
                continue
            m = 0.0 if ps.margin is None else min(ps.margin, s1.margin_cap)
            Z.append([ps.logit, m, 1.0 if ps.margin is None else 0.0])
            y2.append(int(ps.product_id == truth[fe.frame_id]))
    lr2 = LogisticRegression(C=C, max_iter=5000).fit(np.array(Z), np.array(y2))
    a = lr2.coef_[0]
    return s1.model_copy(update=dict(cal_bias=float(lr2.intercept_[0]), cal_logit=float(a[0]),
                                     cal_margin=float(a[1]), cal_alone=float(a[2])))


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
    keys = ["w_duel", "w_bias", "w_deep", "w_kp", "w_color", "w_dense", "w_edge", "w_spread",
            "cal_bias", "cal_logit", "cal_margin", "cal_alone"]
    return " ".join(f"{k.upper()}={getattr(s, k):.3f}" for k in keys)
