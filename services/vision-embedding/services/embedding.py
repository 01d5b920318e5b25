"""emb_rgb and emb_gray (gray + CLAHE) of catalog images and keyframes, in batches."""

from __future__ import annotations

import asyncpg

from common_py.asset_stage import Asset
from common_py.storage import Storage
from common_py.uow import Transaction
from vision_common.embedding import Embedder
from vision_common.errors import VisionError
from vision_common.image_io import read_image, read_mask

TABLE = {"image": ("product_images", "img_id"), "video": ("video_frames", "frame_id")}


class EmbeddingStage:
    def __init__(self, embedder: Embedder, storage: Storage):
        self.embedder = embedder
        self.storage = storage

    def compute(self, assets: list[Asset]) -> list:
        """Blocking (runs in the stage's worker thread): one model batch for the readable assets;
        an unreadable one gets its own error and does not spoil the batch."""
        images, masks, slots = [], [], []
        results: list = [None] * len(assets)
        for i, a in enumerate(assets):
            try:
                image = read_image(self.storage.resolve(a.local_path))
                mask = read_mask(self.storage.resolve(a.mask_path), image.shape[:2]) if a.mask_path else None
            except (VisionError, OSError) as exc:
                results[i] = exc
                continue
            images.append(image)
            masks.append(mask)
            slots.append(i)
        if images:
            rgb, gray = self.embedder.embed(images, masks)
            for j, i in enumerate(slots):
                results[i] = (rgb[j], gray[j])
        return results

    async def persist(self, tx: Transaction, asset: Asset, result) -> None:
        table, key = TABLE[asset.kind]
        rgb, gray = result
        await tx.conn.execute(f"UPDATE {table} SET emb_rgb = $2, emb_gray = $3, emb_model = $4, emb_masked = $5 "
                              f"WHERE {key} = $1", asset.asset_id, rgb, gray, self.embedder.name,
                              asset.mask_path is not None)

    async def is_done(self, conn: asyncpg.Connection, asset: Asset) -> bool:
        """Vectors of this model exist, made with the mask if this computation has one (vectors
        made on the raw image while the segmentor was down are not reused once it is back)."""
        table, key = TABLE[asset.kind]
        return bool(await conn.fetchval(
            f"SELECT emb_rgb IS NOT NULL AND emb_gray IS NOT NULL AND emb_model = $2 "
            f"AND (emb_masked IS TRUE OR NOT $3) FROM {table} WHERE {key} = $1",
            asset.asset_id, self.embedder.name, asset.mask_path is not None))
