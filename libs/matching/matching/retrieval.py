"""Candidate retrieval (SPEC §6.1): cosine on emb_rgb and emb_gray, take the max, top-K.

The matcher service does the same with pgvector HNSW (two ``<=>`` queries, max per image); this
numpy version is exact and is what tests and the bench use.
"""
from __future__ import annotations

import numpy as np


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


def first_pass_similarity(embedder, images: list[np.ndarray], db_rgb: np.ndarray, db_gray: np.ndarray) -> np.ndarray:
    """The first pass's question for each keyframe: how close is the frame, or one of its regions
    (``embed_regions``: the whole frame and its quadrants), to the nearest catalog image? The
    keyframe is not segmented yet; a shelf of four products is far from each one's catalog image
    as a whole, and near it in the quadrant that holds it."""
    if not images:
        return np.zeros(0)
    rgb, gray = embedder.embed_regions(images)
    n, r, d = rgb.shape
    return best_similarity(rgb.reshape(n * r, d), gray.reshape(n * r, d), db_rgb, db_gray).reshape(n, r).max(axis=1)


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
