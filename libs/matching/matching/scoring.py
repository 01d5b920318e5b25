"""Pair score and per-frame competition.

``score_pair`` keeps the SPEC's ingredients (sim_deep, sim_kp, sim_edge) and adds the two
appearance terms; instead of a fixed weighted sum it is a logistic model, so that the number is
a calibrated probability that the catalog product is the one in the keyframe (weights fitted on
the grocery train split; every weight is a setting).

Competition: catalog products that claim the same keyframe region (their projected outlines
overlap) fight for it; only the best keeps its score. A sibling variant that matches as many
keypoints as the real product loses to it on colour and detail, instead of being reported too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .settings import MatchSettings
from .verify import PairEvidence


def sim_kp(ev: PairEvidence, s: MatchSettings) -> float:
    return min(1.0, ev.inliers / s.kp_inliers_sat)


# Stage-1 inputs; feature NAME has the weight setting ``w_NAME``.
FEATURES = ("deep", "kp", "color", "dense", "edge", "spread", "distinct", "distinct_rel")


def pair_features(ev: PairEvidence, s: MatchSettings) -> list[float]:
    """Stage-1 inputs, in the order of FEATURES."""
    return [ev.sim_deep, sim_kp(ev, s), ev.sim_color, ev.sim_dense, ev.sim_edge, ev.spread, ev.distinct,
            distinct_rel(ev)]


def distinct_rel(ev: PairEvidence) -> float:
    """``distinct`` relative to what the catalog image can give: the share of its keypoints (those
    that project into the keyframe) that no other product shares. A product of a brand with many
    catalog siblings (six Arla cartons) has few unshared keypoints, so even its true matches have
    a low ``distinct``; a held-out twin matches *less* of the unshared print than its catalog
    image has. 1 = as product-specific as the image allows; capped at 2."""
    return float(min(2.0, ev.distinct / max(ev.distinct_base, 0.05)))


def stage1_weights(s: MatchSettings) -> list[float]:
    return [getattr(s, f"w_{f}") for f in FEATURES]


def pair_logit(ev: PairEvidence, s: MatchSettings) -> float:
    if not ev.verified:
        return -math.inf
    z = s.w_bias + sum(w * x for w, x in zip(stage1_weights(s), pair_features(ev, s)))
    return z + s.w_learned if ev.learned else z


def calibrated(z: float, margin: float | None, s: MatchSettings) -> float:
    """Stage 2: probability that a region's winner is right, from its logit and its lead."""
    m = 0.0 if margin is None else min(margin, s.margin_cap)
    alone = 1.0 if margin is None else 0.0
    return sigmoid(s.cal_bias + s.cal_logit * z + s.cal_margin * m + s.cal_alone * alone)


def sigmoid(z: float) -> float:
    if z == -math.inf:
        return 0.0
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


@dataclass
class PairScore:
    img_id: str
    frame_id: str
    product_id: str
    score_pair: float  # calibrated, after competition (0 when suppressed or unverified)
    logit: float  # stage-1 evidence (-inf when unverified)
    margin: float | None  # lead over the best suppressed rival (None: no rival)
    suppressed_by: str | None
    evidence: PairEvidence


def quad_iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float32), b.astype(np.float32)
    inter, _ = cv2.intersectConvexConvex(a, b)
    ua = abs(cv2.contourArea(a)) + abs(cv2.contourArea(b)) - inter
    return float(inter / ua) if ua > 0 else 0.0


def compete(evidence: list[tuple[str, PairEvidence]], s: MatchSettings,
            duels: dict[tuple[str, str], float] | None = None) -> list[PairScore]:
    """Score the candidates of one keyframe; overlapping claims compete, the best wins.

    ``evidence`` holds (product_id, PairEvidence) for the keyframe's candidates. Images of the same
    product do not compete with each other (they support the same claim). Returns one PairScore
    per input, in input order. ``duels`` (from ``verify.frame_duels``) adjust each candidate's
    logit by its worst duel against an overlapping rival of another product.
    """
    z = [pair_logit(ev, s) for _, ev in evidence]
    if duels:
        for i, (pid, ev) in enumerate(evidence):
            won = [duels[(ev.img_id, e2.img_id)] for p2, e2 in evidence
                   if p2 != pid and (ev.img_id, e2.img_id) in duels and e2.verified]
            if won and z[i] != -math.inf:
                z[i] += s.w_duel * (min(won) - 0.5)
    order = sorted(range(len(evidence)), key=lambda i: -z[i])
    winner_of: dict[int, int] = {}  # suppressed index -> winner index
    winners: list[int] = []
    for i in order:
        pid, ev = evidence[i]
        if not ev.verified or ev.quad is None:
            continue
        w = next((w for w in winners
                  if evidence[w][0] != pid and quad_iou(evidence[w][1].quad, ev.quad) > s.compete_iou), None)
        if w is None:
            winners.append(i)
        else:
            winner_of[i] = w
    out: list[PairScore] = []
    for i, (pid, ev) in enumerate(evidence):
        if i in winner_of:
            out.append(PairScore(ev.img_id, ev.frame_id, pid, 0.0, z[i], None, evidence[winner_of[i]][0], ev))
        elif i in winners:
            rivals = [z[j] for j, w in winner_of.items() if w == i]
            margin = z[i] - max(rivals) if rivals else None
            # colour veto: the winner keeps its region (its siblings stay suppressed) but scores 0
            score = calibrated(z[i], margin, s) if ev.sim_color >= s.color_veto_below else 0.0
            out.append(PairScore(ev.img_id, ev.frame_id, pid, score, z[i], margin, None, ev))
        else:
            out.append(PairScore(ev.img_id, ev.frame_id, pid, 0.0, z[i], None, None, ev))
    return out
