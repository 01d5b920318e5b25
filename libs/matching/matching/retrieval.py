"""Candidate retrieval (SPEC §6.1): cosine on emb_rgb and emb_gray, take the max, top-K, then
the nearest few of each region of the keyframe (``retrieve_with_regions``).

The matcher service does the same through vector-index with pgvector HNSW (two ``<=>`` queries,
max per image); this numpy version is exact and is what tests and the bench use. The regions'
vectors come from the first pass (``first_pass``): pooled from its forward pass over the whole
frame and, for the keyframes it keeps when asked, each window also cut out and embedded as an
image of its own.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vision_common.embedding import REGION_WINDOWS, crop_windows


def similarity(q_rgb: np.ndarray, q_gray: np.ndarray, db_rgb: np.ndarray, db_gray: np.ndarray) -> np.ndarray:
    """(Q, N) max(cos_rgb, cos_gray); inputs L2-normalised, 1-D queries allowed."""
    q_rgb, q_gray = np.atleast_2d(q_rgb), np.atleast_2d(q_gray)
    return np.maximum(q_rgb @ db_rgb.T, q_gray @ db_gray.T)


def best_similarity(q_rgb: np.ndarray, q_gray: np.ndarray, db_rgb: np.ndarray, db_gray: np.ndarray) -> np.ndarray:
    """(Q,) each query's highest similarity to any database row (-1 when the database is empty)."""
    n = np.atleast_2d(q_rgb).shape[0]
    if db_rgb.shape[0] == 0 or n == 0:
        return np.full(n, -1.0)
    return similarity(q_rgb, q_gray, db_rgb, db_gray).max(axis=1)


@dataclass
class FirstPassResult:
    """What the first pass learns of a batch of keyframes: each one's best similarity to the
    catalog (``sims``, (N,)) and the vectors of its regions (``region_rgb``/``region_gray``,
    (N, R, dim): the four quadrants pooled, none for models without a spatial map, then, where
    they are cut out, the four quadrants cut out), which retrieval searches again for candidates
    per region."""

    sims: np.ndarray
    region_rgb: np.ndarray
    region_gray: np.ndarray


def first_pass(embedder, images: list[np.ndarray], db_rgb: np.ndarray, db_gray: np.ndarray,
               crop_from: float | None = None) -> FirstPassResult:
    """The first pass's question for each keyframe: how close is the frame, or one of its regions
    (``embed_regions``: the whole frame and its quadrants), to the nearest catalog image? The
    keyframe is not segmented yet; a shelf of four products is far from each one's catalog image
    as a whole, and near it in the quadrant that holds it.

    With ``crop_from``, a keyframe whose similarity reaches it (one the job goes on with) also
    gets its windows cut out and embedded on their own (``crop_windows``), as regions after the
    pooled ones: a pooled window still sees the whole frame (the network's receptive field spans
    it), so a package beside three crates of produce stays near produce, while the pooled window's
    context is what finds some other products; retrieval asks both. It costs a forward pass per
    window and view, paid only for the keyframes kept."""
    if not images:
        return FirstPassResult(np.zeros(0), np.zeros((0, 0, 0), np.float32), np.zeros((0, 0, 0), np.float32))
    rgb, gray = embedder.embed_regions(images)
    n, r, d = rgb.shape
    sims = best_similarity(rgb.reshape(n * r, d), gray.reshape(n * r, d), db_rgb, db_gray).reshape(n, r).max(axis=1)
    region_rgb, region_gray = rgb[:, 1:], gray[:, 1:]
    if crop_from is not None:
        windows = REGION_WINDOWS[1:]
        # the cut-out windows go after the pooled ones (a model without a spatial map has none);
        # a dropped keyframe's rows stay zero: it is never stored nor searched
        region_rgb, region_gray = (np.concatenate([pooled, np.zeros((n, len(windows), d), np.float32)], axis=1)
                                   for pooled in (region_rgb, region_gray))
        kept = np.flatnonzero(sims >= crop_from)
        if len(kept):
            crops = [c for i in kept for c in crop_windows(images[i], windows)]
            c_rgb, c_gray = embedder.embed(crops, [None] * len(crops))
            region_rgb[kept, r - 1:] = c_rgb.reshape(len(kept), len(windows), d)
            region_gray[kept, r - 1:] = c_gray.reshape(len(kept), len(windows), d)
    return FirstPassResult(sims, np.ascontiguousarray(region_rgb), np.ascontiguousarray(region_gray))


def retrieve_topk(q_rgb: np.ndarray, q_gray: np.ndarray, db_rgb: np.ndarray, db_gray: np.ndarray,
                  k: int = 20, min_sim: float = -1.0) -> list[list[tuple[int, float]]]:
    """For each query, the top-``k`` database rows as (index, similarity), best first."""
    if db_rgb.shape[0] == 0:
        return [[] for _ in range(np.atleast_2d(q_rgb).shape[0])]
    sim = similarity(q_rgb, q_gray, db_rgb, db_gray)
    k = min(k, sim.shape[1])
    out = []
    for row in sim:
        idx = np.argpartition(-row, k - 1)[:k]
        idx = idx[np.argsort(-row[idx])]
        out.append([(int(i), float(row[i])) for i in idx if row[i] >= min_sim])
    return out


def retrieve_with_regions(q_rgb: np.ndarray, q_gray: np.ndarray, region_rgb: np.ndarray | None,
                          region_gray: np.ndarray | None, db_rgb: np.ndarray, db_gray: np.ndarray,
                          k: int = 20, region_k: int = 0) -> list[tuple[int, float]]:
    """One keyframe's candidates: its top-``k`` database rows by its own vector, then, for each
    of its regions, the ``region_k`` rows nearest that region which are not among them yet.

    Every candidate carries its similarity to the keyframe's own vector (what verification and
    the appearance evidence read as ``sim_deep``); a region only decides which rows are asked.
    A frame with three products has one vector near none of them; each is near the region that
    holds it."""
    top = retrieve_topk(q_rgb, q_gray, db_rgb, db_gray, k)[0]
    if region_k <= 0 or region_rgb is None or len(region_rgb) == 0 or not top:
        return top
    seen = {i for i, _ in top}
    extra: list[int] = []
    for hits in retrieve_topk(region_rgb, region_gray, db_rgb, db_gray, region_k):
        for i, _ in hits:
            if i not in seen:
                seen.add(i)
                extra.append(i)
    if not extra:
        return top
    sims = similarity(q_rgb, q_gray, db_rgb[extra], db_gray[extra])[0]
    order = np.argsort(-sims, kind="stable")
    return top + [(extra[j], float(sims[j])) for j in order]
