"""Local features (RootSIFT by default, AKAZE optional) and the verifier's per-asset bundle,
one `kp/<asset_id>.npz` per asset (SPEC §5), written atomically."""

from __future__ import annotations

import asyncpg

from common_py.asset_stage import Asset
from common_py.storage import Storage
from common_py.uow import Transaction
from matching.assets import extract_asset_features, save_asset_features
from vision_common.errors import VisionError
from vision_common.image_io import read_image, read_mask
from vision_common.settings import VisionSettings

TABLE = {"image": ("product_images", "img_id"), "video": ("video_frames", "frame_id")}


class KeypointStage:
    def __init__(self, storage: Storage, vision: VisionSettings):
        self.storage = storage
        self.vision = vision

    def compute(self, assets: list[Asset]) -> list:
        """Blocking (the stage's worker thread). Returns the blob path, or the asset's error."""
        out: list = []
        for a in assets:
            try:
                image = read_image(self.storage.resolve(a.local_path))
                mask = read_mask(self.storage.resolve(a.mask_path), image.shape[:2]) if a.mask_path else None
                features = extract_asset_features(image, mask, self.vision)
                rel = self.storage.keypoints(a.asset_id)
                save_asset_features(self.storage.resolve(rel), features)
                out.append(rel)
            except (VisionError, OSError, ValueError) as exc:
                out.append(exc)
        return out

    async def persist(self, tx: Transaction, asset: Asset, rel: str) -> None:
        table, key = TABLE[asset.kind]
        await tx.conn.execute(f"UPDATE {table} SET kp_blob_path = $2, kp_masked = $3 WHERE {key} = $1",
                              asset.asset_id, rel, asset.mask_path is not None)

    async def is_done(self, conn: asyncpg.Connection, asset: Asset) -> bool:
        """A feature file exists, made with the mask if this computation has one (features made
        on the raw image while the segmentor was down are not reused once it is back)."""
        table, key = TABLE[asset.kind]
        row = await conn.fetchrow(f"SELECT kp_blob_path, kp_masked FROM {table} WHERE {key} = $1", asset.asset_id)
        if row is None or not self.storage.exists(row["kp_blob_path"]):
            return False
        return bool(row["kp_masked"]) or asset.mask_path is None
