"""frame_regions: the vectors of a keyframe's regions (its four quadrants), which retrieval asks
besides the keyframe's own vector, so that a frame holding several products gets candidates for
each (the keyframe's own vector is near none of them).

Written by media-ingestion's first pass, which embeds these regions anyway to decide whether the
keyframe is worth segmenting; read by vector-index (POST /search/frames, region_k). A keyframe
without rows (stored before, or a job with the first pass off) is searched by its own vector only.
The width is that of the existing embedding columns (EMBED_DIM at the first migration).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dim = op.get_bind().exec_driver_sql(
        "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'video_frames'::regclass "
        "AND attname = 'emb_rgb'").scalar()
    op.execute(f"""
    CREATE TABLE frame_regions (
        frame_id  text NOT NULL REFERENCES video_frames ON DELETE CASCADE,
        region    smallint NOT NULL CHECK (region >= 1),
        emb_rgb   vector({int(dim)}) NOT NULL,
        emb_gray  vector({int(dim)}) NOT NULL,
        emb_model text NOT NULL,
        PRIMARY KEY (frame_id, region)
    );
    """)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS frame_regions")
