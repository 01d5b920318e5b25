"""Pair verification: keypoints -> ratio test -> MAGSAC homography -> appearance after warping.

Why appearance: a sibling variant (same brand and layout, another flavour or fat content) matches
as many keypoints as the real product, because most of the print is shared. What differs is a
colour band, a picture or a word. Once the homography puts the catalog image on top of the
keyframe region, those differences can be measured pixel by pixel:
  * ``sim_color``: share of the product's coloured pixels whose hue agrees (after a per-channel
    gain for the store's light);
  * ``sim_dense``: share of textured cells whose gray+CLAHE patch correlates (NCC, +-3 px search);
  * ``sim_edge``: share of catalog edge pixels with a keyframe edge within 2 px.
All three are computed in a canonical frame (the catalog product box scaled to CANON px), so
their values do not depend on image sizes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from vision_common.keypoints import Features
from vision_common.ransac import (NearestTwo, find_homography, homography_is_plausible, merge_nearest, mutual_nearest,
                                  nearest_two, project, ratio_from_nearest, ratio_match)

from . import learned
from .assets import AssetBundle
from .coarse import coarse_sides, keyframe_detail, with_coarse
from .settings import MatchSettings

CANON = 192  # longer side of the canonical comparison box, px


@dataclass
class PairEvidence:
    img_id: str
    frame_id: str
    sim_deep: float = 0.0
    n_matches: int = 0
    inliers: int = 0
    inlier_ratio: float = 0.0  # SPEC: inliers / min(kpA, kpB)
    sim_color: float = 0.0
    sim_dense: float = 0.0
    sim_edge: float = 0.0
    spread: float = 0.0  # convex hull of the catalog-side inliers / catalog product box area
    # share of the inliers on catalog keypoints that no other product's catalog image has
    # (1.0 when unknown): the evidence that this product, not just its brand, is shown
    distinct: float = 1.0
    # share of the catalog image's keypoints (those projecting into the keyframe) that no other
    # product shares: what ``distinct`` would be if the inliers were spread like the keypoints
    distinct_base: float = 1.0
    # share of the projected product outline inside the keyframe (a product cut by the border
    # shows too little of its print for the appearance checks to mean much)
    visible: float = 0.0
    area: float = 0.0  # share of the keyframe covered by the projected product outline
    verified: bool = False  # homography found, plausible, enough inliers, mostly inside
    # which keyframe keypoints were matched: inside its product mask (True) or all of them (the
    # whole-keyframe fallback); the evidence image redraws the pair from the same ones
    frame_masked: bool = True
    reason: str | None = None
    # "geometry" (a verified homography) or "appearance" (matching.appearance: no inliers, the
    # outline is the keyframe's product region)
    kind: str = "geometry"
    # matched with learned keypoints (matching.learned, a blurred keyframe), not the stored ones:
    # the pair score weighs such evidence less (w_learned)
    learned: bool = False
    H: np.ndarray | None = None  # catalog px -> keyframe px
    quad: np.ndarray | None = None  # catalog product box projected into the keyframe (4, 2)
    pts_cat: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))  # inliers
    pts_frame: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))


def _canon_transform(box: tuple[float, float, float, float], scale: float) -> tuple[np.ndarray, tuple[int, int]]:
    """Canonical px -> thumbnail px of the asset (box given in original px)."""
    x0, y0, x1, y1 = box
    bw, bh = max(1.0, x1 - x0), max(1.0, y1 - y0)
    k = CANON / max(bw, bh)  # canonical px per original px
    size = (max(8, int(round(bw * k))), max(8, int(round(bh * k))))
    C = np.array([[scale / k, 0, x0 * scale], [0, scale / k, y0 * scale], [0, 0, 1]], np.float64)
    return C, size


def _light_gain(cat: np.ndarray, frm: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per-channel gain mapping the keyframe's light onto the catalog's (white balance + level).

    The tint is read only where the catalog print is neutral (white or gray: the light's colour
    shows there and nowhere else); the level from the median over the whole product. Without
    neutral pixels only the level is corrected: estimating the tint from coloured print would
    turn a red sibling into the green original.
    """
    idx = np.flatnonzero(valid.ravel())
    if len(idx) > 6000:  # medians of a regular subsample: same answer, a tenth of the time
        idx = idx[:: len(idx) // 6000]
    c = cat.reshape(-1, 3)[idx].astype(np.float32) + 4.0
    f = frm.reshape(-1, 3)[idx].astype(np.float32) + 4.0
    level = float(np.median(c.sum(1) / f.sum(1)))
    neutral = ((c.max(axis=1) - c.min(axis=1)) < 20) & (c.mean(axis=1) > 64)
    if neutral.sum() < 50:
        return np.full(3, np.clip(level, 0.4, 2.5), np.float32)
    g = np.median(c[neutral] / f[neutral], axis=0)
    g = np.clip(g / g.mean(), 0.7, 1.4)  # tint only; a store light is never stronger than this
    return (g * np.clip(level, 0.4, 2.5)).astype(np.float32)


def color_agreement(cat_bgr: np.ndarray, frm_bgr: np.ndarray, valid: np.ndarray, min_chroma: float = 15.0,
                    hue_tol_deg: float = 30.0) -> float:
    """Share of the catalog's coloured pixels whose hue the keyframe reproduces.

    Hue, not Lab distance: light changes saturation and lightness a lot and hue little, while a
    sibling variant's band (red vs green, purple vs yellow) is a change of hue. Measured on the
    train split, hue agreement separates true pairs from sibling pairs better than a Lab
    distance (AUC 0.91 vs 0.89 against held-out siblings). A catalog product with (almost) no
    colour is compared on achromaticity instead: the keyframe must not be coloured there.
    """
    fb = np.clip(frm_bgr.astype(np.float32) * _light_gain(cat_bgr, frm_bgr, valid), 0, 255).astype(np.uint8)
    lc = cv2.cvtColor(cat_bgr, cv2.COLOR_BGR2LAB).astype(np.float32) - np.float32([0, 128, 128])
    lf = cv2.cvtColor(fb, cv2.COLOR_BGR2LAB).astype(np.float32) - np.float32([0, 128, 128])
    cc = np.hypot(lc[..., 1], lc[..., 2])
    cf = np.hypot(lf[..., 1], lf[..., 2])
    coloured = valid & (cc > min_chroma)
    if coloured.sum() < 50:
        return float((cf[valid] < 25.0).mean())
    dh = np.abs(np.angle(np.exp(1j * (np.arctan2(lc[..., 2], lc[..., 1]) - np.arctan2(lf[..., 2], lf[..., 1])))))
    return float((dh[coloured] < np.deg2rad(hue_tol_deg)).mean())


def appearance(cat: AssetBundle, frame: AssetBundle, H: np.ndarray, s: MatchSettings) -> tuple[float, float, float]:
    """(sim_color, sim_dense, sim_edge) of the keyframe warped onto the catalog product."""
    C, (cw, ch) = _canon_transform(cat.mask_box, cat.thumb_scale)
    Sa = np.diag([cat.thumb_scale, cat.thumb_scale, 1.0])
    Sb = np.diag([frame.thumb_scale, frame.thumb_scale, 1.0])
    # canonical -> catalog original -> keyframe original -> keyframe thumbnail
    to_frame = Sb @ H @ np.linalg.inv(Sa) @ C
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    c_img = cv2.warpPerspective(cat.thumb, C, (cw, ch), flags=flags, borderValue=(255, 255, 255))
    c_mask = cv2.warpPerspective(cat.thumb_mask, C, (cw, ch), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
    f_img = cv2.warpPerspective(frame.thumb, to_frame, (cw, ch), flags=flags)
    f_in = cv2.warpPerspective(np.full(frame.thumb.shape[:2], 255, np.uint8), to_frame, (cw, ch),
                               flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
    valid = (cv2.erode(c_mask, np.ones((5, 5), np.uint8)) > 0) & (f_in > 0)
    if valid.sum() < 0.1 * cw * ch:
        return 0.0, 0.0, 0.0

    # colour (blurred: a pixel or two of misregistration must not look like a colour change)
    sim_color = color_agreement(cv2.GaussianBlur(c_img, (0, 0), 2.0), cv2.GaussianBlur(f_img, (0, 0), 2.0),
                                valid, s.color_min_chroma, s.color_hue_tol_deg)

    # dense detail: per-cell NCC with a small shift search
    g_c = cv2.cvtColor(c_img, cv2.COLOR_BGR2GRAY)
    g_f = cv2.warpPerspective(frame.gray_clahe, to_frame, (cw, ch), flags=flags)
    from vision_common.normalize import clahe_gray

    g_c = clahe_gray(g_c)
    cell, pad = int(s.dense_cell_px), 3
    good = total = 0
    g_fp = cv2.copyMakeBorder(g_f, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    for y in range(0, ch - cell + 1, cell):
        for x in range(0, cw - cell + 1, cell):
            if valid[y:y + cell, x:x + cell].mean() < 0.8:
                continue
            tpl = g_c[y:y + cell, x:x + cell]
            if tpl.std() < 8.0:  # flat print (white, solid colour): no detail to compare
                continue
            total += 1
            win = g_fp[y:y + cell + 2 * pad, x:x + cell + 2 * pad]
            if win.std() < 2.0:
                continue
            r = cv2.matchTemplate(win, tpl, cv2.TM_CCOEFF_NORMED)
            if float(r.max()) >= s.ncc_min:
                good += 1
    sim_dense = good / total if total else 0.0

    # edges: catalog edges that have a keyframe edge nearby
    e_c = cv2.Canny(g_c, 60, 150) > 0
    e_f = cv2.Canny(g_f, 60, 150)
    near = cv2.dilate(e_f, np.ones((5, 5), np.uint8)) > 0
    ec = e_c & valid
    sim_edge = float((near & ec).sum() / ec.sum()) if ec.sum() >= 20 else 0.0
    return sim_color, sim_dense, sim_edge


def verify_pair(cat: AssetBundle, frame: AssetBundle, s: MatchSettings, img_id: str = "",
                frame_id: str = "", sim_deep: float = 0.0, frame_masked: bool = True,
                nearest: dict[str, NearestTwo] | None = None) -> PairEvidence:
    """Geometric + appearance verification of one (catalog image, keyframe) pair.

    ``frame_masked``: match the keyframe's keypoints inside its product mask only (the default,
    the salient object), or all of them (the whole-keyframe fallback of ``frame.frame_evidence``).
    ``nearest``: a per-keyframe memo (img_id -> nearest neighbours inside the mask) that lets the
    whole-keyframe pass match only the keypoints outside the mask and reuse the rest.
    """
    use_learned = learned.uses_learned(frame, s)
    ev = PairEvidence(img_id, frame_id, sim_deep=float(sim_deep), frame_masked=frame_masked, learned=use_learned)
    if use_learned:
        (fa, shared), with_coarse = learned.catalog_keypoints(cat, s), False
        fb = learned.keyframe_keypoints(frame, frame_masked, s)
    else:
        fa, shared, with_coarse = catalog_keypoints(cat, frame, s)
        fb = frame.keypoints(s.kp_match_method, frame_masked)
    if fa is None or fb is None:
        ev.reason = f"no {s.kp_blur_method if use_learned else s.kp_match_method} features"
        return ev
    if len(fa) < 4 or len(fb) < 4:
        ev.reason = "too few keypoints"
        return ev
    if use_learned:  # learned descriptors: mutual nearest neighbours (matching.learned)
        corr = mutual_nearest(fa, fb)
    else:
        corr = _correspondences(fa, frame, s, frame_masked, nearest, img_id)
    ev.n_matches = len(corr)
    if len(corr) < s.min_good_matches:
        ev.reason = "too few ratio-test matches"
        return ev
    pa, pb = fa.xy[corr.idx_a], fb.xy[corr.idx_b]
    H, inl = find_homography(pa, pb, s.ransac_method, s.ransac_thresh_px)
    if H is None:
        ev.reason = "no homography"
        return ev
    # one catalog keypoint per inlier: repeated print (two identical logos) must not count twice;
    # with coarse keypoints also one keyframe keypoint: a point of the print found at two sizes
    in_idx = np.unique(corr.idx_a[inl])
    n_in = int(len(in_idx))
    if with_coarse:
        n_in = min(n_in, len(np.unique(corr.idx_b[inl])))
    if shared is not None and n_in and len(shared) == len(fa):
        ev.distinct = float(1.0 - shared[in_idx].mean())
        pr = project(H, fa.xy)
        h, w = frame.image_shape[:2]
        vis = (pr[:, 0] >= 0) & (pr[:, 0] < w) & (pr[:, 1] >= 0) & (pr[:, 1] < h)
        ev.distinct_base = float(1.0 - shared[vis].mean()) if vis.any() else float(1.0 - shared.mean())
    ev.inliers = n_in
    ev.inlier_ratio = n_in / max(1, min(len(fa), len(fb)))
    if not homography_is_plausible(H, cat.mask_box):
        ev.reason = "implausible homography"
        return ev
    ev.H = H
    x0, y0, x1, y1 = cat.mask_box
    ev.quad = project(H, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)).astype(np.float32)
    ev.pts_cat, ev.pts_frame = pa[inl], pb[inl]
    ev.visible, ev.area = visible_share(ev.quad, frame.image_shape)
    # A brand logo alone (shared by every sibling) gives a tight cluster of inliers; the real
    # product matches all over its face.
    if len(ev.pts_cat) >= 3:
        hull = cv2.convexHull(ev.pts_cat.astype(np.float32))
        ev.spread = float(cv2.contourArea(hull) / max(1.0, (x1 - x0) * (y1 - y0)))
    if n_in < s.inliers_min_count or ev.inlier_ratio < s.inliers_min:
        ev.reason = "too few inliers"
        return ev
    if ev.visible < s.min_visible:
        ev.reason = "product mostly outside the keyframe"
        return ev
    if not frame_masked and ev.area < s.kp_fallback_min_area:
        ev.reason = "small region outside the keyframe's product mask"
        return ev
    ev.verified = True
    ev.sim_color, ev.sim_dense, ev.sim_edge = appearance(cat, frame, H, s)
    return ev


def catalog_keypoints(cat: AssetBundle, frame: AssetBundle,
                      s: MatchSettings) -> tuple[Features | None, np.ndarray | None, bool]:
    """(the catalog image's keypoints to match, their shared-keypoint marks, whether its coarse
    keypoints are among them): the coarse ones join only for a blurred keyframe
    (``matching.coarse``)."""
    fa, shared = cat.keypoints(s.kp_match_method, s.kp_mask_catalog), cat.shared
    sides = coarse_sides(s.kp_catalog_coarse_sides)
    if fa is None or not sides or s.kp_coarse_from <= 0 or keyframe_detail(frame, s.kp_match_method) < s.kp_coarse_from:
        return fa, shared, False
    view = with_coarse(cat, sides, s.kp_coarse_own_share, s.kp_match_method, s.kp_mask_catalog, s.distinct_ratio)
    return (fa, shared, False) if view is None else (*view, True)


def _correspondences(fa, frame: AssetBundle, s: MatchSettings, frame_masked: bool,
                     nearest: dict[str, NearestTwo] | None, key: str):
    """Ratio-test matches of catalog features ``fa`` against the keyframe's (masked or all).

    With a ``nearest`` memo and float descriptors flagged in/out of the mask, the masked pass
    stores its nearest neighbours and the whole-keyframe pass adds only the keypoints outside
    the mask (same matches as matching all of them: the two nearest of a union are among the two
    nearest of each part). The whole-keyframe pass then costs the outside share, not all of it."""
    fb = frame.keypoints(s.kp_match_method, frame_masked)
    split = frame.mask_split(s.kp_match_method)
    if nearest is None or fa.binary or split is None:
        return ratio_match(fa, fb, s.ratio_test)
    if frame_masked:
        n = nearest[key] = nearest_two(fa, fb)
    elif key in nearest:
        n = merge_nearest(nearest[key], split.inside, nearest_two(fa, split.outside_features), split.outside)
    else:  # the masked pass did not match this pair (too few keypoints inside the mask)
        return ratio_match(fa, fb, s.ratio_test)
    return ratio_from_nearest(n, s.ratio_test)


def visible_share(quad: np.ndarray, image_shape: tuple[int, ...]) -> tuple[float, float]:
    """(share of the area of ``quad`` (keyframe px) inside the keyframe, share of the keyframe
    that this part covers)."""
    h, w = image_shape[:2]
    q = quad.astype(np.float32)
    area = abs(cv2.contourArea(q))
    if area <= 0:
        return 0.0, 0.0
    inter, _ = cv2.intersectConvexConvex(q, np.float32([[0, 0], [w, 0], [w, h], [0, h]]))
    return float(min(1.0, inter / area)), float(min(1.0, inter / max(1.0, float(w * h))))


def render_on_frame(cat: AssetBundle, frame: AssetBundle, H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The catalog image and its product mask warped into the keyframe thumbnail."""
    M = np.diag([frame.thumb_scale, frame.thumb_scale, 1.0]) @ H @ np.diag(
        [1.0 / cat.thumb_scale, 1.0 / cat.thumb_scale, 1.0])
    size = (frame.thumb.shape[1], frame.thumb.shape[0])
    img = cv2.warpPerspective(cat.thumb, M, size, flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(cat.thumb_mask, M, size, flags=cv2.INTER_NEAREST)
    return img, mask


def _lab_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    la = cv2.cvtColor(a, cv2.COLOR_BGR2LAB).astype(np.float32)
    lb = cv2.cvtColor(b, cv2.COLOR_BGR2LAB).astype(np.float32)
    d = la - lb
    return np.sqrt((d[..., 0] * 0.5) ** 2 + d[..., 1] ** 2 + d[..., 2] ** 2)


def duel(frame: AssetBundle, a: AssetBundle, Ha: np.ndarray, b: AssetBundle, Hb: np.ndarray,
         s: MatchSettings) -> tuple[float, float]:
    """Which of two catalog products claiming the same keyframe region is the one shown?

    Both catalog images are rendered onto the keyframe with their own homographies; where the two
    renders differ (the sibling's other colour band, picture or word), the keyframe is compared
    with each, after fitting each one's light. Returns (share for A, share for B): the share of
    those pixels where A is the closer one *and explains the keyframe*, and the same for B.
    ~(1, 0): A is shown; ~(0, 1): B is; (0.5, 0.5): undecidable (the prints do not differ there);
    both low: neither is shown there, a third variant of the brand (the held-out twin: a grey
    band is closer to a brown one than to a blue one, but it is neither). A purely relative duel
    (``duel_explain`` = inf) handed such a twin the win over its sibling.
    """
    fa, ma = render_on_frame(a, frame, Ha)
    fb, mb = render_on_frame(b, frame, Hb)
    region = cv2.erode(((ma > 0) & (mb > 0)).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    if region.sum() < 200:
        return 0.5, 0.5
    ys, xs = np.nonzero(region)  # work on the shared region's box only
    box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    blur = lambda im: cv2.GaussianBlur(im, (0, 0), 1.5)  # noqa: E731 - tolerate small misregistration
    fa, fb, fr, region = blur(fa[box]), blur(fb[box]), blur(frame.thumb[box]), region[box]
    differ = region & (_lab_dist(fa, fb) > s.duel_diff)
    if differ.sum() < max(30, 0.01 * region.sum()):
        return 0.5, 0.5
    fr_a = np.clip(fr.astype(np.float32) * _light_gain(fa, fr, region), 0, 255).astype(np.uint8)
    fr_b = np.clip(fr.astype(np.float32) * _light_gain(fb, fr, region), 0, 255).astype(np.uint8)
    da, db = _lab_dist(fr_a, fa)[differ], _lab_dist(fr_b, fb)[differ]
    a_closer = da < db
    # a render explains a pixel it is close to in absolute terms, or clearly closer than the
    # other (a colour ratio test, for light the gain did not fully correct)
    ra = (da < s.duel_explain) | (da < s.duel_ratio * db)
    rb = (db < s.duel_explain) | (db < s.duel_ratio * da)
    return float((a_closer & ra).mean()), float((~a_closer & rb).mean())


def frame_duels(frame: AssetBundle, items: list[tuple[PairEvidence, AssetBundle, str]],
                s: MatchSettings) -> dict[tuple[str, str], float]:
    """Duels between verified candidates of different products whose outlines overlap.

    ``items``: (evidence, catalog bundle, product_id) per candidate. Returns {(img_a, img_b):
    share for A}, both orders.
    """
    from .scoring import quad_iou

    ok = [(ev, cb, pid) for ev, cb, pid in items if ev.verified and ev.quad is not None and ev.H is not None]
    out: dict[tuple[str, str], float] = {}
    for i in range(len(ok)):
        for j in range(i + 1, len(ok)):
            (ea, ca, pa), (eb, cb, pb) = ok[i], ok[j]
            if pa == pb or quad_iou(ea.quad, eb.quad) <= s.compete_iou:
                continue
            out[(ea.img_id, eb.img_id)], out[(eb.img_id, ea.img_id)] = duel(frame, ca, ea.H, cb, eb.H, s)
    return out
