"""Per (product, video) aggregation (SPEC §6.4).

Appearance pairs are first discounted for their video's look chances
(matching.appearance.discount_look_chances). Then, over the M catalog images x N keyframes of one
product and one video:
  best        = max score_pair (after the per-frame competition)
  consistency = number of pairs with score_pair >= MATCH_PAIR_MIN (0.80)
  coverage    = number of distinct catalog images of the product with such a pair
keep if (best >= MATCH_BEST_MIN and consistency >= MATCH_CONS_MIN) or best >= MATCH_STRONG_MIN;
score = best + MATCH_BONUS if consistency >= MATCH_CONS_BONUS_AT, + MATCH_BONUS if coverage >=
MATCH_COV_BONUS_AT (capped at 1); accepted if kept and score >= MATCH_ACCEPT.

An accepted match also says where the product is on screen: every keyframe whose pair scores at
least SEGMENT_PAIR_MIN stands for its span of the video (its shot, or its part of a long shot),
and spans that touch or lie within SEGMENT_MERGE_GAP_S of each other are merged into one segment
``{start, end, best_ts, score}`` (the best pair inside it), in time order.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import NamedTuple

from .appearance import discount_look_chances
from .evidence import pair_drawing
from .scoring import PairScore
from .settings import MatchSettings


class FrameInfo(NamedTuple):
    """Where a keyframe sits in its video: its time and the span it stands for (``None``: only
    the instant ``ts`` is known, e.g. a keyframe stored before spans were recorded)."""

    video_id: str
    ts: float | None
    shot_start: float | None = None
    shot_end: float | None = None


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    best_ts: float
    score: float

    def as_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "best_ts": self.best_ts, "score": self.score}


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
    segments: list[Segment] = field(default_factory=list)
    # what the evidence image draws of the best pair (evidence.pair_drawing), accepted ones only
    best_drawing: dict | None = None


def aggregate(pairs: list[PairScore], frames: dict[str, FrameInfo | tuple], s: MatchSettings,
              include_rejected: bool = False) -> list[ProductVideoMatch]:
    """``frames`` maps frame_id -> FrameInfo (or a (video_id, ts) tuple). Returns accepted matches,
    best score first."""
    frames = {k: FrameInfo(*v) for k, v in frames.items()}
    pairs = discount_look_chances(pairs, {k: f.video_id for k, f in frames.items()}, s)
    groups: dict[tuple[str, str], list[PairScore]] = defaultdict(list)
    for p in pairs:
        groups[(p.product_id, frames[p.frame_id].video_id)].append(p)
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
            segments = segments_of(ps, frames, s) if accepted else []
            out.append(ProductVideoMatch(pid, vid, round(score, 4), best.img_id, best.frame_id,
                                         frames[best.frame_id].ts, round(best.score_pair, 4),
                                         consistency, coverage, accepted, best.evidence.frame_masked, segments,
                                         pair_drawing(best.evidence) if accepted else None))
    out.sort(key=lambda m: -m.score)
    return out


def segments_of(pairs: list[PairScore], frames: dict[str, FrameInfo], s: MatchSettings) -> list[Segment]:
    """The on-screen segments of one (product, video) from its pairs (see the module doc)."""
    best_per_frame: dict[str, float] = {}
    for p in pairs:
        if p.score_pair >= s.segment_pair_min and p.score_pair > best_per_frame.get(p.frame_id, -1.0):
            best_per_frame[p.frame_id] = p.score_pair
    spans = []
    for frame_id, score in best_per_frame.items():
        f = frames[frame_id]
        ts = f.ts or 0.0
        start = f.shot_start if f.shot_start is not None else ts
        end = f.shot_end if f.shot_end is not None else ts
        spans.append((min(start, ts), max(end, ts), ts, score))
    spans.sort()
    merged: list[list[float]] = []
    for start, end, ts, score in spans:
        if merged and start <= merged[-1][1] + s.segment_merge_gap_s:
            cur = merged[-1]
            cur[1] = max(cur[1], end)
            if score > cur[3]:
                cur[2], cur[3] = ts, score
        else:
            merged.append([start, end, ts, score])
    return [Segment(round(a, 3), round(b, 3), round(t, 3), round(sc, 4)) for a, b, t, sc in merged]
