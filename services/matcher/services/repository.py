"""What the matcher reads and writes in Postgres."""

from __future__ import annotations

import hashlib

import asyncpg

from common_py.storage import Storage
from matching.aggregate import ProductVideoMatch
from matching.assets import Asset


def _vec(v):
    return None if v is None else v.to_numpy()


def match_id_for(job_id: str, product_id: str, video_id: str) -> str:
    return "m-" + hashlib.sha1(f"{job_id}|{product_id}|{video_id}".encode()).hexdigest()[:20]


async def job_frames(pool: asyncpg.Pool, storage: Storage, job_id: str) -> tuple[dict[str, list[Asset]], int]:
    """The keyframes the job processes (those its first pass kept) that have features, by video;
    and how many lack them."""
    rows = await pool.fetch(
        """SELECT vf.frame_id, vf.video_id, vf.ts, vf.shot_start, vf.shot_end, vf.local_path, vf.masked_local_path,
                  vf.emb_rgb, vf.emb_gray, vf.kp_blob_path
           FROM video_frames vf JOIN job_frames jf USING (frame_id)
           WHERE jf.job_id = $1 ORDER BY vf.video_id, vf.ts""", job_id)
    by_video: dict[str, list[Asset]] = {}
    skipped = 0
    for r in rows:
        if r["emb_rgb"] is None or not storage.exists(r["kp_blob_path"]):
            skipped += 1
            continue
        by_video.setdefault(r["video_id"], []).append(Asset(
            r["frame_id"], str(storage.resolve(r["local_path"])),
            str(storage.resolve(r["masked_local_path"])) if r["masked_local_path"] else None,
            _vec(r["emb_rgb"]), _vec(r["emb_gray"]), str(storage.resolve(r["kp_blob_path"])), r["video_id"], r["ts"],
            r["shot_start"], r["shot_end"]))
    return by_video, skipped


async def job_catalog(pool: asyncpg.Pool, storage: Storage, job_id: str) -> dict[str, Asset]:
    """Catalog images of the job's products that have features, by img_id."""
    rows = await pool.fetch(
        """SELECT pi.img_id, pi.product_id, pi.local_path, pi.masked_local_path, pi.emb_rgb, pi.emb_gray,
                  pi.kp_blob_path
           FROM product_images pi JOIN job_products jp USING (product_id) WHERE jp.job_id = $1""", job_id)
    return {r["img_id"]: Asset(
        r["img_id"], str(storage.resolve(r["local_path"])),
        str(storage.resolve(r["masked_local_path"])) if r["masked_local_path"] else None,
        _vec(r["emb_rgb"]), _vec(r["emb_gray"]), str(storage.resolve(r["kp_blob_path"])), r["product_id"])
        for r in rows if r["emb_rgb"] is not None and storage.exists(r["kp_blob_path"])}


async def save_matches(conn: asyncpg.Connection, job_id: str, matches: list[ProductVideoMatch]) -> list[str]:
    ids = [match_id_for(job_id, m.product_id, m.video_id) for m in matches]
    await conn.executemany(
        """INSERT INTO matches (match_id, job_id, product_id, video_id, best_img_id, best_frame_id, ts, score,
                                score_pair, consistency, coverage, best_pair_frame_masked, segments, best_pair_drawing)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
           ON CONFLICT (job_id, product_id, video_id) DO UPDATE SET best_img_id = EXCLUDED.best_img_id,
               best_frame_id = EXCLUDED.best_frame_id, ts = EXCLUDED.ts, score = EXCLUDED.score,
               score_pair = EXCLUDED.score_pair, consistency = EXCLUDED.consistency, coverage = EXCLUDED.coverage,
               best_pair_frame_masked = EXCLUDED.best_pair_frame_masked, segments = EXCLUDED.segments,
               best_pair_drawing = EXCLUDED.best_pair_drawing""",
        [(match_id, job_id, m.product_id, m.video_id, m.best_img_id, m.best_frame_id, m.ts or 0.0, m.score,
          m.score_pair, m.consistency, m.coverage, m.best_frame_masked,
          [g.as_dict() for g in m.segments], m.best_drawing) for match_id, m in zip(ids, matches)])
    return ids
