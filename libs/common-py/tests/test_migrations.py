"""Alembic upgrade and downgrade both work, on a database of their own."""

import uuid

import psycopg

from common_py.devstack import postgres as pg
from common_py.devstack.migrate import downgrade, upgrade

SPEC_TABLES = {"products", "product_images", "videos", "video_frames", "matches",
               "jobs", "phase_events", "inbox", "outbox", "job_stages", "stage_assets",
               "job_products", "job_videos", "job_frames", "frame_regions"}


def tables(dsn):
    with psycopg.connect(dsn) as conn:
        return {r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")}


def test_upgrade_downgrade_upgrade(stack_env):
    dsn = pg.with_database(stack_env["POSTGRES_DSN"], f"pvm_mig_{uuid.uuid4().hex[:8]}")
    pg.ensure_database(dsn)
    try:
        upgrade(dsn)
        assert tables(dsn) == SPEC_TABLES
        with psycopg.connect(dsn) as conn:
            cols = {r[0]: r[1] for r in conn.execute(
                "SELECT column_name, udt_name FROM information_schema.columns WHERE table_name = 'product_images'")}
            assert cols["emb_rgb"] == "vector" and cols["emb_gray"] == "vector"
            assert "masked_local_path" in cols
            def columns(table):
                return {r[0]: r[1] for r in conn.execute(
                    "SELECT column_name, udt_name FROM information_schema.columns WHERE table_name = %s", (table,))}
            assert "best_pair_frame_masked" in columns("matches") and columns("matches")["segments"] == "jsonb"
            assert columns("matches")["best_pair_drawing"] == "jsonb"
            assert {"shot_start", "shot_end"} <= set(columns("video_frames"))
            # the regions' vectors are as wide as the frames' own (EMBED_DIM at the first migration)
            assert columns("frame_regions")["emb_rgb"] == "vector"
            widths = {r[0]: r[1] for r in conn.execute(
                "SELECT attrelid::regclass::text, atttypmod FROM pg_attribute "
                "WHERE attname = 'emb_gray' AND attrelid IN ('video_frames'::regclass, 'frame_regions'::regclass)")}
            assert widths["frame_regions"] == widths["video_frames"] > 0
            assert columns("product_images")["emb_masked"] == columns("video_frames")["kp_masked"] == "bool"
            hnsw = {r[0] for r in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%USING hnsw%vector_cosine_ops%'")}
            assert hnsw == {"product_images_emb_rgb_hnsw", "product_images_emb_gray_hnsw",
                            "video_frames_emb_rgb_hnsw", "video_frames_emb_gray_hnsw"}
        downgrade(dsn)
        assert tables(dsn) == set()
        upgrade(dsn)
        assert tables(dsn) == SPEC_TABLES
    finally:
        pg.drop_database(dsn)
