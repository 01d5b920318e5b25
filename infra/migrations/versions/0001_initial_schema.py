"""Initial schema: SPEC §5 tables, jobs and phases (§4), inbox/outbox and stage completion tracking.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import os

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# pgvector needs a fixed dimension to build an HNSW index. 1280 is the offline default embedder
# (EfficientNet-Lite0); a deployment that uses another model sets EMBED_DIM before migrating, and
# vision-embedding refuses to start (readyz) when its model's dimension differs from the column's.
EMBED_DIM = int(os.environ.get("EMBED_DIM", "1280"))

PHASES = "('collection','feature_extraction','matching','evidence','completed','failed')"


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute(f"""
    CREATE TABLE jobs (
        job_id           text PRIMARY KEY,
        industry         text NOT NULL,
        params           jsonb NOT NULL DEFAULT '{{}}'::jsonb,
        phase            text NOT NULL DEFAULT 'collection' CHECK (phase IN {PHASES}),
        failed_reason    text,
        created_at       timestamptz NOT NULL DEFAULT now(),
        updated_at       timestamptz NOT NULL DEFAULT now(),
        phase_started_at timestamptz NOT NULL DEFAULT now(),
        completed_at     timestamptz
    );
    CREATE INDEX jobs_phase_idx ON jobs (phase, phase_started_at);
    CREATE INDEX jobs_industry_idx ON jobs (lower(industry));

    -- every .completed the phase manager accepted; the primary key is the dedup
    CREATE TABLE phase_events (
        event_id    uuid PRIMARY KEY,
        job_id      text NOT NULL REFERENCES jobs ON DELETE CASCADE,
        name        text NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX phase_events_job_idx ON phase_events (job_id);

    -- idempotent consumers: a row per (consumer, event) written with the handler's effects
    CREATE TABLE inbox (
        consumer    text NOT NULL,
        event_id    uuid NOT NULL,
        routing_key text NOT NULL,
        job_id      text,
        handled_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer, event_id)
    );

    -- events emitted inside a handler's transaction, published after commit (relay retries)
    CREATE TABLE outbox (
        event_id     uuid PRIMARY KEY,
        routing_key  text NOT NULL,
        payload      jsonb NOT NULL,
        job_id       text,
        created_at   timestamptz NOT NULL DEFAULT now(),
        published_at timestamptz,
        attempts     integer NOT NULL DEFAULT 0,
        last_error   text
    );
    CREATE INDEX outbox_unpublished_idx ON outbox (created_at) WHERE published_at IS NULL;
    CREATE INDEX outbox_job_idx ON outbox (job_id, routing_key);

    CREATE TABLE products (
        product_id     text PRIMARY KEY,
        src            text NOT NULL,
        asin_or_itemid text NOT NULL,
        title          text,
        brand          text,
        url            text,
        price          numeric(12, 2),
        currency       text,
        created_at     timestamptz NOT NULL DEFAULT now(),
        UNIQUE (src, asin_or_itemid)
    );

    CREATE TABLE product_images (
        img_id            text PRIMARY KEY,
        product_id        text NOT NULL REFERENCES products ON DELETE CASCADE,
        local_path        text NOT NULL,
        masked_local_path text,
        emb_rgb           vector({EMBED_DIM}),
        emb_gray          vector({EMBED_DIM}),
        emb_model         text,
        kp_blob_path      text,
        phash             text,
        source_url        text,
        created_at        timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX product_images_product_idx ON product_images (product_id);

    CREATE TABLE videos (
        video_id     text PRIMARY KEY,
        platform     text NOT NULL,
        url          text,
        title        text,
        duration_s   double precision,
        published_at timestamptz,
        local_path   text,
        created_at   timestamptz NOT NULL DEFAULT now(),
        UNIQUE (platform, url)
    );

    CREATE TABLE video_frames (
        frame_id          text PRIMARY KEY,
        video_id          text NOT NULL REFERENCES videos ON DELETE CASCADE,
        ts                double precision NOT NULL CHECK (ts >= 0),
        local_path        text NOT NULL,
        masked_local_path text,
        emb_rgb           vector({EMBED_DIM}),
        emb_gray          vector({EMBED_DIM}),
        emb_model         text,
        kp_blob_path      text,
        created_at        timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX video_frames_video_idx ON video_frames (video_id, ts);

    -- which products and videos a job collected (assets are shared across jobs)
    CREATE TABLE job_products (
        job_id     text NOT NULL REFERENCES jobs ON DELETE CASCADE,
        product_id text NOT NULL REFERENCES products ON DELETE CASCADE,
        PRIMARY KEY (job_id, product_id)
    );
    CREATE INDEX job_products_product_idx ON job_products (product_id);
    CREATE TABLE job_videos (
        job_id   text NOT NULL REFERENCES jobs ON DELETE CASCADE,
        video_id text NOT NULL REFERENCES videos ON DELETE CASCADE,
        PRIMARY KEY (job_id, video_id)
    );

    CREATE TABLE matches (
        match_id      text PRIMARY KEY,
        job_id        text NOT NULL REFERENCES jobs ON DELETE CASCADE,
        product_id    text NOT NULL REFERENCES products,
        video_id      text NOT NULL REFERENCES videos,
        best_img_id   text NOT NULL REFERENCES product_images,
        best_frame_id text NOT NULL REFERENCES video_frames,
        ts            double precision NOT NULL,
        score         double precision NOT NULL CHECK (score >= 0 AND score <= 1),
        score_pair    double precision,
        consistency   integer,
        coverage      integer,
        evidence_path text,
        created_at    timestamptz NOT NULL DEFAULT now(),
        UNIQUE (job_id, product_id, video_id)
    );
    CREATE INDEX matches_score_idx ON matches (score DESC);

    -- completion tracking: one row per (job, stage); `expected` comes from the .batch counts
    CREATE TABLE job_stages (
        job_id             text NOT NULL REFERENCES jobs ON DELETE CASCADE,
        stage              text NOT NULL,
        expected           integer CHECK (expected >= 0),
        completed_event_id uuid,
        completed_at       timestamptz,
        updated_at         timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (job_id, stage)
    );
    CREATE TABLE stage_assets (
        job_id     text NOT NULL REFERENCES jobs ON DELETE CASCADE,
        stage      text NOT NULL,
        asset_id   text NOT NULL,
        status     text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
        local_path text,
        mask_path  text,
        due_at     timestamptz,
        detail     text,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (job_id, stage, asset_id)
    );
    CREATE INDEX stage_assets_due_idx ON stage_assets (stage, due_at) WHERE status = 'pending';
    """)
    # HNSW cosine indexes (SPEC §5/§6): retrieval is cosine on emb_rgb and emb_gray.
    for table in ("product_images", "video_frames"):
        for col in ("emb_rgb", "emb_gray"):
            op.execute(f"CREATE INDEX {table}_{col}_hnsw ON {table} USING hnsw ({col} vector_cosine_ops)")


def downgrade() -> None:
    for table in ("stage_assets", "job_stages", "matches", "job_videos", "job_products", "video_frames",
                  "videos", "product_images", "products", "outbox", "inbox", "phase_events", "jobs"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    # The vector extension stays: other databases objects may use it, and it is harmless.
