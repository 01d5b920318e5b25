"""Coarse catalog keypoints for blurred footage (matching.coarse), on real catalog images."""
import cv2
import numpy as np
import pytest

from matching.assets import AssetBundle, extract_asset_features
from matching.coarse import coarse_keypoints, coarse_sides, keyframe_detail
from matching.distinct import mark_shared_keypoints
from matching.settings import MatchSettings
from matching.verify import catalog_keypoints, verify_pair
from vision_common.testing import iconic, old_footage, perspective_copy

S = MatchSettings(kp_blur_method="sift")  # SIFT with coarse catalog keypoints (not XFeat: test_learned)
SIDES = coarse_sides(S.kp_catalog_coarse_sides)
WITHOUT = MatchSettings(kp_coarse_from=0, kp_blur_method="sift")  # the listing's own keypoints only, whatever the keyframe


def _bundle(img, mask=None):
    return AssetBundle.from_featureset(extract_asset_features(img, mask))


def _catalog(grocery, name):
    img = iconic(grocery, name)
    return _bundle(img, ((img.min(axis=2) < 235) * 255).astype(np.uint8))  # product on white


def _keyframe(grocery, name, seed=0, blurred=True):
    scene, _ = perspective_copy(iconic(grocery, name), relight=1.1, occlude=False, seed=seed)
    return _bundle(old_footage(scene) if blurred else scene)


def test_sides_setting_is_parsed_and_checked():
    assert coarse_sides("100,50") == (100, 50) and coarse_sides(" 70 ") == (70,) and coarse_sides("") == ()
    with pytest.raises(ValueError):
        coarse_sides("100,-50")


def test_coarse_keypoints_are_coarser_and_lie_on_the_product_in_original_pixels(grocery):
    cat = _catalog(grocery, "Oatly-Oat-Milk")
    coarse, own = coarse_keypoints(cat, SIDES, S.kp_match_method), cat.features[S.kp_match_method]
    assert len(coarse) >= 50
    assert np.median(coarse.size) > 1.5 * np.median(own.size)
    x0, y0, x1, y1 = cat.mask_box
    pad = 0.06 * max(x1 - x0, y1 - y0)  # the grown mask keeps keypoints on the outline
    inside = ((coarse.xy[:, 0] >= x0 - pad) & (coarse.xy[:, 0] <= x1 + pad)
              & (coarse.xy[:, 1] >= y0 - pad) & (coarse.xy[:, 1] <= y1 + pad))
    assert inside.mean() > 0.97


def test_keyframe_detail_tells_blurred_footage_from_sharp(grocery):
    sharp = _keyframe(grocery, "Oatly-Oat-Milk", blurred=False)
    blurred = _keyframe(grocery, "Oatly-Oat-Milk")
    assert keyframe_detail(sharp, "sift") < S.kp_coarse_from <= keyframe_detail(blurred, "sift")


@pytest.mark.parametrize("name", ["Oatly-Oat-Milk", "Arla-Medium-Fat-Milk", "Yoggi-Strawberry-Yoghurt"])
def test_a_small_blurred_copy_is_verified_with_the_coarse_keypoints_only(grocery, name):
    cat, frame = _catalog(grocery, name), _keyframe(grocery, name)
    assert not verify_pair(cat, frame, WITHOUT).verified
    ev = verify_pair(cat, frame, S)
    assert ev.verified, ev.reason
    assert ev.inliers >= S.inliers_min_count and ev.sim_color > 0.8


@pytest.mark.parametrize("shown,sibling", [
    ("Arla-Standard-Milk", "Arla-Medium-Fat-Milk"),  # red vs green band, same layout
    ("Yoggi-Vanilla-Yoghurt", "Yoggi-Strawberry-Yoghurt"),
])
def test_a_blurred_sibling_is_not_verified_as_the_catalog_product(grocery, shown, sibling):
    cat = _catalog(grocery, sibling)
    for seed in range(3):
        assert not verify_pair(cat, _keyframe(grocery, shown, seed), S).verified


def test_a_sharp_keyframe_is_matched_with_the_listing_keypoints_alone(grocery):
    cat, frame = _catalog(grocery, "Oatly-Oat-Milk"), _keyframe(grocery, "Oatly-Oat-Milk", blurred=False)
    fa, _, with_coarse = catalog_keypoints(cat, frame, S)
    assert not with_coarse and len(fa) == len(cat.features[S.kp_match_method])
    a, b = verify_pair(cat, frame, S), verify_pair(cat, frame, WITHOUT)
    assert a.verified and (a.inliers, a.sim_color, a.sim_dense) == (b.inliers, b.sim_color, b.sim_dense)


def test_coarse_keypoints_get_shared_marks_of_their_own_on_first_use(grocery):
    names = ["Arla-Medium-Fat-Milk", "Arla-Standard-Milk", "Oatly-Oat-Milk"]
    cats = {n: _catalog(grocery, n) for n in names}
    mark_shared_keypoints(list(cats.items()), S)
    arla = cats["Arla-Medium-Fat-Milk"]
    assert not arla.coarse  # nothing computed for sharp footage
    fa, shared, with_coarse = catalog_keypoints(arla, _keyframe(grocery, "Arla-Medium-Fat-Milk"), S)
    own = arla.features[S.kp_match_method]
    keep = own.size >= np.quantile(own.size, 1 - S.kp_coarse_own_share)  # the coarsest of its own
    kept = int(keep.sum())
    assert with_coarse and len(shared) == len(fa) > kept and abs(kept - S.kp_coarse_own_share * len(own)) < 0.05 * len(own)
    assert np.array_equal(fa.xy[:kept], own.xy[keep])
    assert np.array_equal(shared[:kept], arla.shared[keep])  # the listing's own marks are untouched
    assert 0.05 < shared[kept:].mean() < 0.95  # the layout the Arla sibling shares, not the green band
    assert arla.coarse.keys() == cats["Arla-Standard-Milk"].coarse.keys()  # the peers' were needed too
