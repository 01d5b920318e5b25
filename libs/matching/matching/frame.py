"""Per-keyframe matching: verify the retrieved catalog images, then let them compete."""
from __future__ import annotations

import logging

import numpy as np

from .assets import Asset
from .scoring import PairScore, compete
from .settings import MatchSettings
from .verify import PairEvidence, frame_duels, verify_pair

log = logging.getLogger(__name__)


def match_frame(frame: Asset, candidates: list[Asset], s: MatchSettings,
                sims: list[float] | None = None) -> list[PairScore]:
    """Pair scores of one keyframe against its candidate catalog images (any order).

    ``candidates`` are catalog-image assets (``owner_id`` = product_id), typically the top-K of
    ``retrieve_topk``; ``sims`` their retrieval similarities (computed from the embeddings when
    omitted). A candidate whose feature file cannot be read is skipped with a warning.
    """
    try:
        fb = frame.bundle()
    except Exception as exc:
        log.warning("keyframe %s: features unreadable, skipped: %s", frame.asset_id, exc)
        return []
    if sims is None:
        sims = [_sim(frame, c) for c in candidates]
    evidence: list[tuple[str, PairEvidence]] = []
    items = []
    for c, sim in zip(candidates, sims):
        if sim < s.sim_deep_min:
            continue
        try:
            cb = c.bundle()
        except Exception as exc:
            log.warning("catalog image %s: features unreadable, skipped: %s", c.asset_id, exc)
            continue
        pid = c.owner_id or c.asset_id
        ev = verify_pair(cb, fb, s, c.asset_id, frame.asset_id, sim)
        evidence.append((pid, ev))
        items.append((ev, cb, pid))
    return compete(evidence, s, frame_duels(fb, items, s))


def _sim(a: Asset, b: Asset) -> float:
    if a.emb_rgb is None or b.emb_rgb is None:
        return 0.0
    return float(max(np.dot(a.emb_rgb, b.emb_rgb), np.dot(a.emb_gray, b.emb_gray)))
