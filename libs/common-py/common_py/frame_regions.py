"""The ``frame_regions`` table (migration 0006): a keyframe's region vectors, written by
media-ingestion's first pass and read by vector-index's per-region retrieval. One place for its
SQL, since two services share it."""

from __future__ import annotations

import numpy as np


async def save_regions(conn, regions: dict[str, tuple[np.ndarray, np.ndarray]], model: str) -> None:
    """Store keyframes' regions: frame_id -> (rgb, gray), (R, dim) each, numbered from 1 in the
    order given. The vectors depend only on the frame and the model, so a second job's first pass
    over the same frame writes the same values again (or a newer model's)."""
    await conn.executemany(
        """INSERT INTO frame_regions (frame_id, region, emb_rgb, emb_gray, emb_model) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (frame_id, region) DO UPDATE
           SET emb_rgb = EXCLUDED.emb_rgb, emb_gray = EXCLUDED.emb_gray, emb_model = EXCLUDED.emb_model""",
        [(frame_id, i + 1, np.asarray(r, np.float32), np.asarray(g, np.float32), model)
         for frame_id, (rgb, gray) in regions.items() for i, (r, g) in enumerate(zip(rgb, gray))])


async def load_regions(conn, frame_ids: list[str]) -> dict[str, list[tuple]]:
    """frame_id -> [(emb_rgb, emb_gray)] of its regions in order (vectors as the pgvector codec
    decodes them, ready to be passed back as query parameters), for the frames that have any
    made by the model that made the frame's own vector (a region of another model's space would
    be compared with the catalog in the wrong space)."""
    rows = await conn.fetch(
        """SELECT fr.frame_id, fr.emb_rgb, fr.emb_gray FROM frame_regions fr JOIN video_frames vf USING (frame_id)
           WHERE fr.frame_id = ANY($1::text[]) AND fr.emb_model = vf.emb_model ORDER BY fr.frame_id, fr.region""",
        frame_ids)
    out: dict[str, list[tuple]] = {}
    for r in rows:
        out.setdefault(r["frame_id"], []).append((r["emb_rgb"], r["emb_gray"]))
    return out
