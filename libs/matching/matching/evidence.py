"""Evidence image: catalog image and keyframe side by side, inlier lines, outline, score and ts.

The matcher stores what it will be drawn from with each accepted match (``pair_drawing``: the best
pair's inliers and outline), so the image shows the matcher's own decision; a match stored without
it is verified again from the two feature bundles (``redo_verification``)."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from vision_common.image_io import write_jpg

from .verify import PairEvidence

if False:  # typing only (avoids an import cycle at run time)
    from .assets import Asset
    from .settings import MatchSettings

PANEL_H = 480
DRAWING_POINTS_MAX = 120  # inlier pairs kept with a match (the image draws at most 60 of them)


def pair_drawing(ev: PairEvidence, max_points: int = DRAWING_POINTS_MAX) -> dict:
    """What an evidence image draws of a verified pair, as JSON (original image pixels): an
    even sample of its inlier pairs, the catalog outline in the keyframe, its numbers."""
    n = len(ev.pts_cat)
    idx = np.linspace(0, n - 1, min(max_points, n)).astype(int) if n else np.zeros(0, int)

    def rounded(a) -> list:
        return np.round(np.asarray(a, np.float64), 1).tolist()

    return {"kind": ev.kind, "inliers": int(ev.inliers), "sim_color": round(float(ev.sim_color), 4),
            "sim_dense": round(float(ev.sim_dense), 4), "sim_deep": round(float(ev.sim_deep), 4),
            "pts_cat": rounded(ev.pts_cat[idx]), "pts_frame": rounded(ev.pts_frame[idx]),
            "quad": rounded(ev.quad) if ev.quad is not None else None}


def evidence_from_drawing(drawing: dict, img_id: str = "", frame_id: str = "") -> PairEvidence:
    """The PairEvidence ``render_evidence`` needs, from a stored ``pair_drawing``."""
    def points(key: str) -> np.ndarray:
        return np.asarray(drawing.get(key) or [], np.float32).reshape(-1, 2)

    quad = drawing.get("quad")
    return PairEvidence(img_id, frame_id, inliers=int(drawing.get("inliers", 0)), kind=drawing.get("kind", "geometry"),
                        sim_color=float(drawing.get("sim_color", 0.0)), sim_dense=float(drawing.get("sim_dense", 0.0)),
                        sim_deep=float(drawing.get("sim_deep", 0.0)),
                        verified=True,
                        quad=np.asarray(quad, np.float64).reshape(4, 2) if quad is not None else None,
                        pts_cat=points("pts_cat"), pts_frame=points("pts_frame"))


def _fit(img: np.ndarray, h: int) -> tuple[np.ndarray, float]:
    s = h / img.shape[0]
    return cv2.resize(img, (max(1, round(img.shape[1] * s)), h),
                      interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC), s


def render_evidence(catalog_img: np.ndarray, frame_img: np.ndarray, ev: PairEvidence | None,
                    score: float | None = None, ts: float | None = None, title: str | None = None,
                    max_lines: int = 60) -> np.ndarray:
    """BGR image: catalog (left) | keyframe (right), green lines between up to ``max_lines``
    inlier pairs, the catalog outline projected into the keyframe, and a caption band with the
    score, score_pair, inliers, timestamp and an optional title."""
    left, sl = _fit(catalog_img, PANEL_H)
    right, sr = _fit(frame_img, PANEL_H)
    gap = 8
    canvas = np.full((PANEL_H + 56, left.shape[1] + gap + right.shape[1], 3), 255, np.uint8)
    canvas[:PANEL_H, :left.shape[1]] = left
    ox = left.shape[1] + gap
    canvas[:PANEL_H, ox:] = right
    if ev is not None and ev.quad is not None:
        q = (ev.quad * sr + [ox, 0]).astype(np.int32)
        cv2.polylines(canvas, [q], True, (0, 200, 255), 2, cv2.LINE_AA)
    if ev is not None and len(ev.pts_cat):
        idx = np.linspace(0, len(ev.pts_cat) - 1, min(max_lines, len(ev.pts_cat))).astype(int)
        for a, b in zip(ev.pts_cat[idx], ev.pts_frame[idx]):
            pa = (int(a[0] * sl), int(a[1] * sl))
            pb = (int(b[0] * sr) + ox, int(b[1] * sr))
            cv2.line(canvas, pa, pb, (60, 200, 60), 1, cv2.LINE_AA)
            cv2.circle(canvas, pa, 3, (0, 160, 0), -1, cv2.LINE_AA)
            cv2.circle(canvas, pb, 3, (0, 160, 0), -1, cv2.LINE_AA)
    parts = []
    if score is not None:
        parts.append(f"score {score:.2f}")
    if ev is not None and ev.kind == "appearance":  # no inliers: the outline is the product region
        parts.append(f"by appearance  look {ev.sim_deep:.2f}  colours {ev.sim_color:.2f}")
    elif ev is not None:
        parts.append(f"inliers {ev.inliers}  colour {ev.sim_color:.2f}  detail {ev.sim_dense:.2f}")
    if ts is not None:
        parts.append(f"t = {int(ts // 60)}:{ts % 60:05.2f}")
    cv2.putText(canvas, "   ".join(parts), (10, PANEL_H + 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    if title:
        cv2.putText(canvas, title[:90], (10, PANEL_H + 46), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (80, 80, 80), 1, cv2.LINE_AA)
    return canvas


def write_evidence(path: str | os.PathLike, *args, **kwargs) -> Path:
    """``render_evidence`` then an atomic JPEG write (what evidence-builder stores)."""
    return write_jpg(path, render_evidence(*args, **kwargs), 90)


def redo_verification(catalog: "Asset", frame: "Asset", s: "MatchSettings", frame_masked: bool | None) -> PairEvidence:
    """The best pair's verification again, from the same keyframe keypoints the matcher used:
    ``frame_masked`` = ``ProductVideoMatch.best_frame_masked`` (inside the keyframe's mask, or all
    of them). None (a match recorded without it) is guessed from this pair's own logit, which can
    differ from the matcher's choice, made over every candidate of the keyframe."""
    from .scoring import pair_logit
    from .verify import verify_pair

    cb, fb = catalog.bundle(), frame.bundle()
    ev = verify_pair(cb, fb, s, catalog.asset_id, frame.asset_id, frame_masked=frame_masked is not False)
    if frame_masked is None and s.kp_keyframe_fallback and pair_logit(ev, s) < s.kp_fallback_below:
        full = verify_pair(cb, fb, s, catalog.asset_id, frame.asset_id, frame_masked=False)
        if full.verified:
            ev = full
    return ev


def build_evidence(catalog: "Asset", frame: "Asset", out_path: str | os.PathLike, s: "MatchSettings | None" = None,
                   score: float | None = None, ts: float | None = None, title: str | None = None,
                   frame_masked: bool | None = None, drawing: dict | None = None) -> Path:
    """What evidence-builder does for one accepted match: draw the best pair as the matcher stored
    it (``drawing``, a ``pair_drawing``) or, for a match stored without it, as verified again from
    the two feature bundles (``frame_masked``: see ``redo_verification``), on the original images
    (or the bundles' thumbnails when an image file is gone), and write the JPEG atomically."""
    from vision_common.image_io import read_image

    from .settings import MatchSettings

    if drawing is not None:
        ev = evidence_from_drawing(drawing, catalog.asset_id, frame.asset_id)
    else:
        ev = redo_verification(catalog, frame, s or MatchSettings(), frame_masked)

    def image(asset: "Asset") -> tuple[np.ndarray, float]:
        if asset.image_path:
            try:
                return read_image(asset.image_path), 1.0
            except Exception:
                pass
        bundle = asset.bundle()
        return bundle.thumb, bundle.thumb_scale

    cat_img, sc = image(catalog)
    frm_img, sf = image(frame)
    if ev.quad is not None:  # points are in original pixels: onto a thumbnail they are scaled
        ev.quad = ev.quad * sf
    ev.pts_cat, ev.pts_frame = ev.pts_cat * sc, ev.pts_frame * sf
    return write_evidence(out_path, cat_img, frm_img, ev, score=score, ts=ts if ts is not None else frame.ts,
                          title=title)
