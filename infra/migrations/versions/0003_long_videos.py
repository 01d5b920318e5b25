"""Real-length videos: the span each keyframe stands for, the keyframes each job looks at, and
where a matched product is on screen.

- video_frames.shot_start / shot_end: the stretch of the video the keyframe represents (its shot,
  or its part of a long shot that keeps changing). NULL for keyframes stored before.
- job_frames: the keyframes a job processes. A long video is stored with all its keyframes once;
  each job's first pass keeps only those that look like something in that job's catalog.
  Existing jobs get every keyframe of their videos (what they processed).
- matches.segments: [{start, end, best_ts, score}] where the product is seen, in time order.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE video_frames ADD COLUMN shot_start double precision, ADD COLUMN shot_end double precision;

    CREATE TABLE job_frames (
        job_id   text NOT NULL REFERENCES jobs ON DELETE CASCADE,
        frame_id text NOT NULL REFERENCES video_frames ON DELETE CASCADE,
        PRIMARY KEY (job_id, frame_id)
    );
    CREATE INDEX job_frames_frame_idx ON job_frames (frame_id);
    INSERT INTO job_frames (job_id, frame_id)
        SELECT jv.job_id, vf.frame_id FROM job_videos jv JOIN video_frames vf USING (video_id);

    ALTER TABLE matches ADD COLUMN segments jsonb NOT NULL DEFAULT '[]'::jsonb;
    """)


def downgrade() -> None:
    op.execute("""
    ALTER TABLE matches DROP COLUMN IF EXISTS segments;
    DROP TABLE IF EXISTS job_frames;
    ALTER TABLE video_frames DROP COLUMN IF EXISTS shot_start, DROP COLUMN IF EXISTS shot_end;
    """)
