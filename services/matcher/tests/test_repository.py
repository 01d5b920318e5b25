"""save_matches: one row per (job, product, video), all in one round trip; a re-run of the job (a
redelivered match.request) updates those rows instead of adding any."""

import uuid

from common_py.testing import create_job
from matching.aggregate import ProductVideoMatch
from services.repository import match_id_for, save_matches


def found(product_id, video_id, score, frame_masked=True):
    return ProductVideoMatch(product_id, video_id, score, f"img-{product_id}", f"{video_id}-f0", 1.5, score, 2, 1,
                             True, frame_masked)


async def test_saves_each_pair_and_a_rerun_updates_them(db_pool):
    job = await create_job(db_pool)
    tag = uuid.uuid4().hex[:8]
    p1, p2, v = f"p1-{tag}", f"p2-{tag}", f"v-{tag}"
    for pid in (p1, p2):
        await db_pool.execute("INSERT INTO products (product_id, src, asin_or_itemid) VALUES ($1, 'local', $1)", pid)
        await db_pool.execute("INSERT INTO product_images (img_id, product_id, local_path) VALUES ($1, $2, 'x.jpg')",
                              f"img-{pid}", pid)
    await db_pool.execute("INSERT INTO videos (video_id, platform) VALUES ($1, 'local')", v)
    await db_pool.execute("INSERT INTO video_frames (frame_id, video_id, ts, local_path) VALUES ($1, $2, 1.5, 'f.jpg')",
                          f"{v}-f0", v)

    async with db_pool.acquire() as conn, conn.transaction():
        ids = await save_matches(conn, job, [found(p1, v, 0.90), found(p2, v, 0.85, frame_masked=False)])
    assert ids == [match_id_for(job, p1, v), match_id_for(job, p2, v)]
    async with db_pool.acquire() as conn, conn.transaction():
        assert await save_matches(conn, job, [found(p1, v, 0.95)]) == ids[:1]
        assert await save_matches(conn, job, []) == []

    rows = await db_pool.fetch("SELECT match_id, score, best_frame_id, consistency, best_pair_frame_masked "
                               "FROM matches WHERE job_id = $1", job)
    assert {r["match_id"]: r["score"] for r in rows} == {ids[0]: 0.95, ids[1]: 0.85}
    # which keyframe keypoints verified the best pair: the evidence image redraws it from those
    assert {r["match_id"]: r["best_pair_frame_masked"] for r in rows} == {ids[0]: True, ids[1]: False}
    assert {(r["best_frame_id"], r["consistency"]) for r in rows} == {(f"{v}-f0", 2)}
