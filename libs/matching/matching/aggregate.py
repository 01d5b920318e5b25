"""Per (product, video) aggregation (SPEC §6.4).

Over the M catalog images x N keyframes of one product and one video:
  best        = max score_pair (after the per-frame competition)
  consistency = number of pairs with score_pair >= MATCH_PAIR_MIN (0.80)
  coverage    = number of distinct catalog images of the product with such a pair
keep if (best >= MATCH_BEST_MIN and consistency >= MATCH_CONS_MIN) or best >= MATCH_STRONG_MIN;
score = best + MATCH_BONUS if consistency >= MATCH_CONS_BONUS_AT, + MATCH_BONUS if coverage >=
MATCH_COV_BONUS_AT (capped at 1); accepted if kept and score >= MATCH_ACCEPT.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from .scoring import PairScore
from .settings import MatchSettings


@dataclass
class ProductVideoMatch:
    product_id: str
    video_id: str
    score: float
    best_img_id: str
    best_frame_id: str
    ts: float | None
    score_pair: float
    consistency: int
    coverage: int
    accepted: bool = False
    # the best pair was verified with the keyframe's keypoints inside its mask (True) or with all
    # of them (False): build_evidence redraws it from the same ones
    best_frame_masked: bool = True


def aggregate(pairs: list[PairScore], frames: dict[str, tuple[str, float | None]], s: MatchSettings,
              include_rejected: bool = False) -> list[ProductVideoMatch]:
    """``frames`` maps frame_id -> (video_id, ts). Returns accepted matches, best score first."""
    groups: dict[tuple[str, str], list[PairScore]] = defaultdict(list)
    for p in pairs:
        video_id = frames[p.frame_id][0]
        groups[(p.product_id, video_id)].append(p)
    out = []
    for (pid, vid), ps in groups.items():
        best = max(ps, key=lambda p: p.score_pair)
        strong = [p for p in ps if p.score_pair >= s.match_pair_min]
        consistency = len(strong)
        coverage = len({p.img_id for p in strong})
        kept = ((best.score_pair >= s.match_best_min and consistency >= s.match_cons_min)
                or best.score_pair >= s.match_strong_min)
        score = best.score_pair
        if consistency >= s.match_cons_bonus_at:
            score += s.match_bonus
        if coverage >= s.match_cov_bonus_at:
            score += s.match_bonus
        score = min(1.0, score)
        accepted = kept and score >= s.match_accept
        if accepted or (include_rejected and best.score_pair > 0):
            out.append(ProductVideoMatch(pid, vid, round(score, 4), best.img_id, best.frame_id,
                                         frames[best.frame_id][1], round(best.score_pair, 4),
                                         consistency, coverage, accepted, best.evidence.frame_masked))
    out.sort(key=lambda m: -m.score)
    return out
