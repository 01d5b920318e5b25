"""Per-keyframe matching: verify the retrieved catalog images, duel overlapping ones, compete.

``match_frame`` is what the matcher service calls per keyframe; ``frame_evidence`` (with
``appearance.appearance_evidence``) is its first half and ``frame_scores`` its second, both shared
with matching.pipeline (the bench, which caches the evidence), so both run exactly the same steps.
"""
from __future__ import annotations

import logging
import math

import numpy as np

from .appearance import AppearanceEvidence, appearance_evidence, appearance_scores
from .assets import Asset, AssetBundle
from .scoring import PairScore, compete, pair_logit
from .settings import MatchSettings
from .verify import PairEvidence, frame_duels, verify_pair

log = logging.getLogger(__name__)
_warned_unprepared = False


def frame_evidence(frame_bundle: AssetBundle, frame_id: str, candidates: list[Asset], sims: list[float],
                   s: MatchSettings) -> tuple[list[tuple[str, PairEvidence]], dict[tuple[str, str], float]]:
    """Verify each candidate (skipping those below SIM_DEEP_MIN or with unreadable features) and
    run the duels between overlapping ones. Returns ((product_id, evidence) list, duels).

    The keyframe's keypoints inside its product mask (the salient, held product) are tried first.
    With KP_KEYFRAME_FALLBACK on, candidates are verified again with every keypoint of the
    keyframe: all of them when none reaches a stage-1 logit of KP_FALLBACK_BELOW inside the mask
    (the mask held another object), otherwise those the mask did not verify at all (a product
    beside the masked one: a frame with three products is three questions); in that pass a
    product must cover KP_FALLBACK_MIN_AREA of the keyframe."""
    todo = []
    for c, sim in zip(candidates, sims):
        if sim < s.sim_deep_min:
            continue
        try:
            cb = c.bundle()
        except Exception as exc:
            log.warning("catalog image %s: features unreadable, skipped: %s", c.asset_id, exc)
            continue
        if cb.shared is None:
            _warn_unprepared()
        todo.append((c.asset_id, c.owner_id or c.asset_id, cb, sim))

    nearest: dict = {}  # the masked pass's nearest neighbours, reused by the whole-keyframe pass

    def run(masked: bool, which: list) -> list[tuple[PairEvidence, AssetBundle, str]]:
        return [(verify_pair(cb, frame_bundle, s, aid, frame_id, sim, frame_masked=masked, nearest=nearest), cb, pid)
                for aid, pid, cb, sim in which]

    items = run(True, todo)
    # (no keypoint outside the mask: the second pass would repeat the first)
    if s.kp_keyframe_fallback and frame_bundle.mask_split(s.kp_match_method) is not None:
        logits = [pair_logit(ev, s) for ev, _, _ in items]
        # The mask shows no catalog product: every candidate looks at the whole keyframe. It
        # shows one: its verdicts stand (a sibling verified there and beaten is what makes the
        # winner sure), and only the candidates it did not verify at all look elsewhere.
        if max(logits, default=-math.inf) < s.kp_fallback_below:
            again = range(len(items))
        else:
            again = [i for i, z in enumerate(logits) if z == -math.inf]
        for i, redone in zip(again, run(False, [todo[i] for i in again])):
            items[i] = redone
    return [(pid, ev) for ev, _, pid in items], frame_duels(frame_bundle, items, s)


def worth_verifying(sims: list[float], s: MatchSettings) -> bool:
    """The cheap first pass: a keyframe none of whose candidates reaches SIM_DEEP_MIN is not
    verified at all (its features are not even read)."""
    return any(sim >= s.sim_deep_min for sim in sims)


def match_frame(frame: Asset, candidates: list[Asset], s: MatchSettings,
                sims: list[float] | None = None) -> list[PairScore]:
    """Pair scores of one keyframe against its candidate catalog images (any order): one per
    verified candidate (geometry), then at most one appearance score (matching.appearance).

    ``candidates`` are catalog-image assets (``owner_id`` = product_id), typically the top-K of
    ``retrieve_topk`` (or of pgvector), prepared once per job with
    ``matching.distinct.prepare_catalog`` (without it ``distinct`` is unknown and counts as 1);
    ``sims`` their retrieval similarities (computed from the embeddings when omitted). A keyframe
    whose feature file cannot be read gives no scores.
    """
    if sims is None:
        sims = [_sim(frame, c) for c in candidates]
    if not worth_verifying(sims, s):
        return []
    try:
        fb = frame.bundle(cache=False)
    except Exception as exc:
        log.warning("keyframe %s: features unreadable, skipped: %s", frame.asset_id, exc)
        return []
    evidence, duels = frame_evidence(fb, frame.asset_id, candidates, sims, s)
    looks = appearance_evidence(fb, frame.asset_id, candidates, sims, s)
    return frame_scores(evidence, duels, looks, fb.mask_box, s)


def frame_scores(evidence: list[tuple[str, PairEvidence]], duels: dict[tuple[str, str], float],
                 looks: list[AppearanceEvidence], region_box: tuple[float, float, float, float] | None,
                 s: MatchSettings) -> list[PairScore]:
    """The keyframe's decision from its evidence (``match_frame``'s second half, which
    matching.pipeline runs on cached evidence): the verified candidates compete, then the look
    speaks where geometry is silent."""
    geometric = compete(evidence, s, duels)
    return geometric + appearance_scores(looks, geometric, region_box, s)


def _warn_unprepared() -> None:
    global _warned_unprepared
    if not _warned_unprepared:
        _warned_unprepared = True
        log.warning("catalog not prepared with matching.distinct.prepare_catalog: 'distinct' evidence is "
                    "unknown (counted as 1.0), so scores are not the ones the weights were fitted for")


def _sim(a: Asset, b: Asset) -> float:
    if a.emb_rgb is None or b.emb_rgb is None:
        return 0.0
    return float(max(np.dot(a.emb_rgb, b.emb_rgb), np.dot(a.emb_gray, b.emb_gray)))
