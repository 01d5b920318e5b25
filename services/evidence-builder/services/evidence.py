"""The evidence image of one match: catalog image and keyframe side by side, the inliers that
made the match drawn between them, the product outline, score and timestamp
(`evidence/<match_id>.jpg`). The pair is verified again with the matcher's own settings (cheap:
one pair) to recover the inlier correspondences, which are not stored."""

from __future__ import annotations

import asyncio
import logging

import numpy as np

from common_py.errors import ErrorCode, FatalError
from common_py.storage import Storage
from matching.assets import load_asset_bundle
from matching.evidence import render_evidence
from matching.settings import MatchSettings
from matching.verify import verify_pair
from vision_common.image_io import encode_image, read_image

log = logging.getLogger("evidence-builder")


class EvidenceRenderer:
    def __init__(self, pool, storage: Storage, settings: MatchSettings):
        self.pool = pool
        self.storage = storage
        self.s = settings

    async def load(self, match_id: str) -> dict:
        row = await self.pool.fetchrow(
            """SELECT m.match_id, m.score, m.ts, p.title, v.title AS video_title,
                      pi.img_id, pi.local_path AS img_path, pi.kp_blob_path AS img_kp, pi.emb_rgb AS i_rgb,
                      pi.emb_gray AS i_gray,
                      vf.frame_id, vf.local_path AS frame_path, vf.kp_blob_path AS frame_kp, vf.emb_rgb AS f_rgb,
                      vf.emb_gray AS f_gray
               FROM matches m JOIN products p USING (product_id) JOIN videos v USING (video_id)
               JOIN product_images pi ON pi.img_id = m.best_img_id
               JOIN video_frames vf ON vf.frame_id = m.best_frame_id
               WHERE m.match_id = $1""", match_id)
        if row is None:
            raise FatalError(f"no match {match_id}", ErrorCode.BAD_INPUT)
        return dict(row)

    def _render(self, m: dict) -> bytes:
        cat_img = read_image(self.storage.resolve(m["img_path"]))
        frame_img = read_image(self.storage.resolve(m["frame_path"]))
        ev = None
        try:
            sim = 0.0
            if m["i_rgb"] is not None and m["f_rgb"] is not None:
                sim = float(max(np.dot(m["i_rgb"].to_numpy(), m["f_rgb"].to_numpy()),
                                np.dot(m["i_gray"].to_numpy(), m["f_gray"].to_numpy())))
            ev = verify_pair(load_asset_bundle(self.storage.resolve(m["img_kp"])),
                             load_asset_bundle(self.storage.resolve(m["frame_kp"])), self.s,
                             m["img_id"], m["frame_id"], sim)
        except Exception as exc:  # noqa: BLE001 - the picture is still worth having without lines
            log.warning("no inliers drawn for %s: %s", m["match_id"], exc)
        title = f"{m['title'] or m['img_id']}  in  {m['video_title'] or m['frame_id']}"
        return encode_image(render_evidence(cat_img, frame_img, ev, m["score"], m["ts"], title), ".jpg", 90)

    async def build(self, match_id: str) -> str:
        m = await self.load(match_id)
        data = await asyncio.to_thread(self._render, m)
        rel = self.storage.evidence(match_id)
        await asyncio.to_thread(self.storage.write_bytes, rel, data)
        return rel
