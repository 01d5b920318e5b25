"""matches.best_pair_drawing: what the evidence image draws of the best pair (its inliers and
outline), stored by the matcher so that evidence-builder draws the matcher's own decision instead
of verifying the pair a second time. NULL (matches from before): verified again, as before.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE matches ADD COLUMN best_pair_drawing jsonb")


def downgrade() -> None:
    op.execute("ALTER TABLE matches DROP COLUMN IF EXISTS best_pair_drawing")
