"""matches.best_pair_frame_masked: which keyframe keypoints the matcher verified the best pair with.

The matcher matches a keyframe's keypoints inside its product mask first and all of them only
when nothing is found there; the evidence image must redraw the pair from the same ones.
NULL for matches recorded before this column (the evidence-builder then guesses).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE matches ADD COLUMN best_pair_frame_masked boolean")


def downgrade() -> None:
    op.execute("ALTER TABLE matches DROP COLUMN IF EXISTS best_pair_frame_masked")
