"""The evidence image of one match: catalog image and keyframe side by side, the inliers that
made the match drawn between them, the product outline, score and timestamp
(`evidence/<match_id>.jpg`), by `matching.evidence.build_evidence`, from what the matcher stored
with the match (`best_pair_drawing`). A match stored without it (before migration 0005) has its
best pair verified again from the two feature bundles, with the matcher's own settings."""

from __future__ import annotations

import asyncio

from common_py.errors import ErrorCode, FatalError
from common_py.storage import Storage
from matching.assets import Asset
from matching.evidence import build_evidence
from matching.settings import MatchSettings


class EvidenceRenderer:
    def __init__(self, pool, storage: Storage, settings: MatchSettings):
        self.pool = pool
        self.storage = storage
        self.s = settings

    async def load(self, match_id: str) -> tuple[dict, Asset, Asset]:
        row = await self.pool.fetchrow(
            """SELECT m.match_id, m.score, m.ts, m.best_pair_frame_masked, m.best_pair_drawing,
                      p.title, v.title AS video_title,
                      pi.img_id, pi.product_id, pi.local_path AS img_path, pi.kp_blob_path AS img_kp,
                      vf.frame_id, vf.video_id, vf.local_path AS frame_path, vf.kp_blob_path AS frame_kp
               FROM matches m JOIN products p USING (product_id) JOIN videos v USING (video_id)
               JOIN product_images pi ON pi.img_id = m.best_img_id
               JOIN video_frames vf ON vf.frame_id = m.best_frame_id
               WHERE m.match_id = $1""", match_id)
        if row is None:
            raise FatalError(f"no match {match_id}", ErrorCode.BAD_INPUT)
        # a feature bundle is needed to verify the pair again (no drawing stored) and, for its
        # thumbnail, when the image file itself is gone
        for image, bundle in (("img_path", "img_kp"), ("frame_path", "frame_kp")):
            if (row["best_pair_drawing"] is None or not self.storage.exists(row[image])) \
                    and not self.storage.exists(row[bundle]):
                raise FatalError(f"match {match_id}: a feature bundle is missing", ErrorCode.ASSET_MISSING)
        r = self.storage.resolve
        catalog = Asset(row["img_id"], str(r(row["img_path"])), None, None, None,
                        str(r(row["img_kp"])) if row["img_kp"] else None, row["product_id"])
        frame = Asset(row["frame_id"], str(r(row["frame_path"])), None, None, None,
                      str(r(row["frame_kp"])) if row["frame_kp"] else None, row["video_id"], row["ts"])
        return dict(row), catalog, frame

    async def build(self, match_id: str) -> str:
        row, catalog, frame = await self.load(match_id)
        rel = self.storage.evidence(match_id)
        title = f"{row['title'] or row['img_id']}  in  {row['video_title'] or row['frame_id']}"
        await asyncio.to_thread(build_evidence, catalog, frame, self.storage.resolve(rel), self.s,
                                row["score"], row["ts"], title, row["best_pair_frame_masked"],
                                row["best_pair_drawing"])
        return rel
