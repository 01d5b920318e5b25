"""The evidence image of one match: catalog image and keyframe side by side, the inliers that
made the match drawn between them, the product outline, score and timestamp
(`evidence/<match_id>.jpg`), by `matching.evidence.build_evidence`: it verifies the best pair again
with the matcher's own settings (one pair: cheap) to recover the inlier correspondences, which
are not stored."""

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
            """SELECT m.match_id, m.score, m.ts, m.best_pair_frame_masked, p.title, v.title AS video_title,
                      pi.img_id, pi.product_id, pi.local_path AS img_path, pi.kp_blob_path AS img_kp,
                      vf.frame_id, vf.video_id, vf.local_path AS frame_path, vf.kp_blob_path AS frame_kp
               FROM matches m JOIN products p USING (product_id) JOIN videos v USING (video_id)
               JOIN product_images pi ON pi.img_id = m.best_img_id
               JOIN video_frames vf ON vf.frame_id = m.best_frame_id
               WHERE m.match_id = $1""", match_id)
        if row is None:
            raise FatalError(f"no match {match_id}", ErrorCode.BAD_INPUT)
        if not (self.storage.exists(row["img_kp"]) and self.storage.exists(row["frame_kp"])):
            raise FatalError(f"match {match_id}: a feature bundle is missing", ErrorCode.ASSET_MISSING)
        r = self.storage.resolve
        catalog = Asset(row["img_id"], str(r(row["img_path"])), None, None, None, str(r(row["img_kp"])),
                        row["product_id"])
        frame = Asset(row["frame_id"], str(r(row["frame_path"])), None, None, None, str(r(row["frame_kp"])),
                      row["video_id"], row["ts"])
        return dict(row), catalog, frame

    async def build(self, match_id: str) -> str:
        row, catalog, frame = await self.load(match_id)
        rel = self.storage.evidence(match_id)
        title = f"{row['title'] or row['img_id']}  in  {row['video_title'] or row['frame_id']}"
        await asyncio.to_thread(build_evidence, catalog, frame, self.storage.resolve(rel), self.s,
                                row["score"], row["ts"], title, row["best_pair_frame_masked"])
        return rel
