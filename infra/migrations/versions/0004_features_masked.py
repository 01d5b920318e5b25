"""product_images / video_frames: emb_masked, kp_masked, whether the features were made with the
asset's product mask.

A job that ran while the segmentor was down made its features from the raw images (the
watermark); a later job reused them even after masks existed, so it matched worse for good
(issue 16). vision-embedding and vision-keypoint reuse features only when they were made with a
mask, or when there is no mask to make them with. NULL (rows from before): treated as unmasked,
so they are computed once more when a mask comes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("product_images", "video_frames"):
        op.execute(f"ALTER TABLE {table} ADD COLUMN emb_masked boolean, ADD COLUMN kp_masked boolean")


def downgrade() -> None:
    for table in ("product_images", "video_frames"):
        op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS emb_masked, DROP COLUMN IF EXISTS kp_masked")
