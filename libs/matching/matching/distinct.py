"""Which catalog keypoints are shared with other products (brand logos, common claims)?

A sibling variant matches a keyframe mostly through what it shares with the real product: the
brand's logo, the layout, the "100 % squeezed fruit" band. Marking, once per catalog, the
keypoints of each catalog image that also match another product's image lets the verifier ask
how much of a pair's evidence is specific to the product (``PairEvidence.distinct``).
"""
from __future__ import annotations

import numpy as np

from vision_common.keypoints import Features
from vision_common.ransac import ratio_match

from .assets import Asset, AssetBundle
from .settings import MatchSettings


def mark_shared_keypoints(images: list[tuple[str, AssetBundle]], s: MatchSettings,
                          embeddings: np.ndarray | None = None, neighbours: int = 8) -> None:
    """Set ``bundle.shared`` for every (product_id, bundle) catalog image, in place.

    Each image is compared with the ``neighbours`` most similar images of *other* products
    (by embedding when given, else with all of them): siblings are near each other there.
    """
    n = len(images)
    for i, (pid, b) in enumerate(images):
        others = [j for j in range(n) if images[j][0] != pid]
        if embeddings is not None and len(others) > neighbours:
            sims = embeddings[others] @ embeddings[i]
            others = [others[k] for k in np.argsort(-sims)[:neighbours]]
        b.peers = [images[j][1] for j in others]  # matching.coarse marks its keypoints against the same
        b._with_coarse.clear()
        f = b.keypoints(s.kp_match_method, s.kp_mask_catalog)
        if f is not None:
            b.shared = shared_with(f, [p.keypoints(s.kp_match_method, s.kp_mask_catalog) for p in b.peers],
                                   s.distinct_ratio)


def shared_with(f: Features, others: list[Features | None], ratio: float) -> np.ndarray:
    """True for the keypoints of ``f`` that pass the ratio test against one of ``others``."""
    shared = np.zeros(len(f), bool)
    for g in others:
        if g is not None and len(g) >= 2 and len(f) >= 2:
            shared[ratio_match(f, g, ratio).idx_a] = True
    return shared


def prepare_catalog(catalog: list[Asset], s: MatchSettings) -> list[Asset]:
    """Once per job, before ``match_frame``: load the catalog images' bundles, mark the keypoints
    shared between products, and keep the bundles on the assets. Returns the assets whose
    features could be read (the others are logged and left out)."""
    import logging

    log = logging.getLogger(__name__)
    ok = []
    for c in catalog:
        try:
            c.bundle()
            ok.append(c)
        except Exception as exc:
            log.warning("catalog image %s skipped: %s", c.asset_id, exc)
    embs = None
    if ok and all(c.emb_rgb is not None for c in ok):
        embs = np.stack([c.emb_rgb for c in ok])
    mark_shared_keypoints([(c.owner_id or c.asset_id, c.bundle()) for c in ok], s, embs)
    return ok
