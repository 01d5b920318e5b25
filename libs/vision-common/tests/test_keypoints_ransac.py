import cv2
import numpy as np
import pytest

from vision_common.testing import iconic, perspective_copy, textured
from vision_common.keypoints import extract, extract_all, Features, FeatureSet, load_features, save_features
from vision_common.ransac import (find_homography, homography_is_plausible, merge_nearest, mutual_nearest, nearest_two,
                                  project, ratio_from_nearest, ratio_match)


def _verify(a_img, b_img, method="sift", a_mask=None):
    fa = extract(a_img, a_mask, method, 1500, 400)
    fb = extract(b_img, None, method, 1500, 400)
    c = ratio_match(fa, fb, 0.85)
    H, inl = find_homography(fa.xy[c.idx_a], fb.xy[c.idx_b])
    return fa, fb, c, H, int(inl.sum())


@pytest.mark.parametrize("method", ["sift", "akaze"])
def test_warped_relit_occluded_copy_matches_with_the_right_homography(method):
    prod = textured(3)
    scene, H_true = perspective_copy(prod, relight=1.3, occlude=True)
    fa, fb, c, H, n_in = _verify(prod, scene, method)
    assert n_in >= 25
    corners = np.float64([[0, 0], [220, 0], [220, 300], [0, 300]])
    err = np.linalg.norm(project(H, corners) - project(H_true, corners), axis=1)
    assert err.max() < 4.0, err
    assert homography_is_plausible(H, (0, 0, 220, 300))


def test_different_product_gives_no_consistent_homography():
    scene, _ = perspective_copy(textured(3))
    _, _, c, H, n_in = _verify(textured(11), scene)
    assert n_in < 12


def test_real_catalog_image_matches_its_warped_copy_not_another(grocery):
    a = iconic(grocery, "Tropicana-Apple-Juice")
    other = iconic(grocery, "Oatly-Oat-Milk")
    scene, _ = perspective_copy(a, relight=0.8, seed=2)
    assert _verify(a, scene)[4] >= 30
    assert _verify(other, scene)[4] < 12


def test_keypoints_stay_inside_the_mask_and_coordinates_are_original_pixels():
    img = textured(5)  # 300 x 220, upscaled for detection (400 px target)
    mask = np.zeros(img.shape[:2], np.uint8)
    mask[:, :110] = 255
    f = extract(img, mask, "sift", 1500, 400)
    assert len(f) > 20
    assert f.xy[:, 0].max() < 110 + 0.03 * 300 + 2  # mask grown by 3 % of the size at most
    assert f.xy[:, 1].max() <= 300 and f.desc.shape[1] == 128
    assert np.allclose(np.linalg.norm(f.desc, axis=1), 1.0, atol=1e-3)  # RootSIFT is unit L2


def test_flat_image_gives_no_features_and_matching_copes():
    flat = np.full((200, 200, 3), 128, np.uint8)
    f = extract(flat, None)
    assert len(f) == 0
    c = ratio_match(f, extract(textured(1), None))
    assert len(c) == 0
    H, inl = find_homography(np.zeros((3, 2)), np.zeros((3, 2)))
    assert H is None and not inl.any()


def test_save_load_round_trip(tmp_path):
    fs = FeatureSet((300, 220), extract_all(textured(2), None, "sift,akaze"), {"thumb": np.arange(6, dtype=np.uint8)})
    save_features(tmp_path / "kp" / "a.npz", fs)
    back = load_features(tmp_path / "kp" / "a.npz")
    assert back.image_shape == (300, 220) and set(back.features) == {"sift", "akaze"}
    # SIFT is stored as its uint8 histograms, so the RootSIFT that comes back is the one computed
    # at detection, to float32 rounding
    assert back.features["sift"].desc.dtype == np.float32
    assert np.allclose(back.features["sift"].desc, fs.features["sift"].desc, rtol=0, atol=1e-6)
    assert np.array_equal(back.features["akaze"].desc, fs.features["akaze"].desc)
    assert back.features["akaze"].binary and not back.features["sift"].binary
    assert np.array_equal(back.extra["thumb"], np.arange(6))
    with np.load(tmp_path / "kp" / "a.npz") as z:
        assert z["sift__counts"].dtype == np.uint8 and "sift__desc" not in z.files


def test_sift_counts_follow_a_subset_and_float16_files_still_load(tmp_path):
    f = extract(textured(3), None, "sift", 1500, 400)
    assert f.sift_counts is not None and f.sift_counts.shape == f.desc.shape
    half = f.subset(np.arange(len(f)) % 2 == 0)
    assert np.array_equal(half.sift_counts, f.sift_counts[::2])
    save_features(tmp_path / "half.npz", FeatureSet((300, 220), {"sift": half}))
    assert np.allclose(load_features(tmp_path / "half.npz").features["sift"].desc, f.desc[::2], atol=1e-6)
    # a feature set without the counts (an older file, or one built by hand) is stored as float16
    # RootSIFT, and loads as float32 within float16's precision
    f.sift_counts = None
    save_features(tmp_path / "f16.npz", FeatureSet((300, 220), {"sift": f}))
    with np.load(tmp_path / "f16.npz") as z:
        assert z["sift__desc"].dtype == np.float16
    back = load_features(tmp_path / "f16.npz").features["sift"]
    assert back.desc.dtype == np.float32 and np.allclose(back.desc, f.desc, atol=1e-3)
    assert back.sift_counts is None


def test_implausible_homographies_are_rejected():
    box = (0, 0, 100, 200)
    mirror = np.array([[-1, 0, 100], [0, 1, 0], [0, 0, 1]], float)
    collapse = np.array([[0.001, 0, 0], [0, 0.001, 0], [0, 0, 1]], float)
    assert not homography_is_plausible(mirror, box)
    assert not homography_is_plausible(collapse, box)
    assert homography_is_plausible(cv2.getPerspectiveTransform(
        np.float32([[0, 0], [100, 0], [100, 200], [0, 200]]),
        np.float32([[10, 5], [120, 20], [110, 230], [5, 210]])), box)


def test_ratio_match_by_matrix_product_equals_opencv_brute_force():
    a = extract(textured(3), None, "sift", 1500, 400)
    scene, _ = perspective_copy(textured(3), relight=1.2)
    b = extract(scene, None, "sift", 1500, 400)
    bf = cv2.BFMatcher(cv2.NORM_L2)
    back = {m.queryIdx: m.trainIdx for m in bf.match(b.desc, a.desc)}
    for mutual in (False, True):
        ref = {(m.queryIdx, m.trainIdx) for m, n in bf.knnMatch(a.desc, b.desc, k=2) if m.distance < 0.85 * n.distance}
        if mutual:
            ref = {(i, j) for i, j in ref if back.get(j) == i}
        c = ratio_match(a, b, 0.85, mutual=mutual)
        assert len(ref) > 30
        assert set(zip(c.idx_a.tolist(), c.idx_b.tolist())) == ref
        assert (c.ratio < 0.85).all()


def test_nearest_neighbours_of_two_parts_merge_into_those_of_the_whole():
    a = extract(textured(3), None, "sift", 1500, 400)
    scene, _ = perspective_copy(textured(3), relight=1.2)
    b = extract(scene, None, "sift", 1500, 400)
    part = np.random.default_rng(0).random(len(b)) < 0.4  # e.g. inside / outside a product mask
    ix, iy = np.flatnonzero(part), np.flatnonzero(~part)
    merged = merge_nearest(nearest_two(a, b.subset(ix)), ix, nearest_two(a, b.subset(iy)), iy)
    whole = nearest_two(a, b)
    assert (merged.j1 == whole.j1).all()
    np.testing.assert_allclose(merged.d2, whole.d2, rtol=1e-5, atol=1e-6)
    ref = ratio_match(a, b, 0.85)
    got = ratio_from_nearest(merged, 0.85)
    assert len(ref) > 30
    assert (got.idx_a == ref.idx_a).all() and (got.idx_b == ref.idx_b).all()
    # either part alone finds fewer of them: the merge is not a no-op
    assert len(ratio_from_nearest(nearest_two(a, b.subset(ix)), 0.85)) < len(ref)


def test_whole_image_region_flags_the_keypoints_inside_the_mask(tmp_path):
    img = textured(5)
    mask = np.zeros(img.shape[:2], np.uint8)
    mask[:, :110] = 255
    inside = extract(img, mask, "sift", 3000, 400, region="mask")
    whole = extract(img, mask, "sift", 3000, 400, region="image")
    assert whole.in_mask is not None and inside.in_mask is None
    assert whole.in_mask.any() and not whole.in_mask.all()
    assert (whole.xy[whole.in_mask, 0] < 110 + 0.03 * 300 + 2).all()
    assert (whole.xy[~whole.in_mask, 0] > 110).all()
    # the flagged subset is (about) what detection inside the mask finds
    assert abs(int(whole.in_mask.sum()) - len(inside)) <= 0.1 * len(inside)
    assert len(whole.masked()) == int(whole.in_mask.sum())
    fs = FeatureSet(img.shape[:2], {"sift": whole})
    save_features(tmp_path / "a.npz", fs)
    back = load_features(tmp_path / "a.npz").features["sift"]
    assert np.array_equal(back.in_mask, whole.in_mask)
    # files written before the flag existed load with in_mask None (= all keypoints in the mask)
    save_features(tmp_path / "b.npz", FeatureSet(img.shape[:2], {"sift": inside}))
    old = load_features(tmp_path / "b.npz").features["sift"]
    assert old.in_mask is None and len(old.masked()) == len(old)
    with pytest.raises(ValueError):
        extract(img, mask, "sift", 3000, 400, region="box")


def test_mutual_nearest_keeps_the_pairs_that_choose_each_other():
    rng = np.random.default_rng(3)
    b = rng.normal(size=(300, 64)).astype(np.float32)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    a = b[:120] + 0.05 * rng.normal(size=(120, 64)).astype(np.float32)  # near copies of B's first 120
    a = np.vstack([a, rng.normal(size=(80, 64)).astype(np.float32)])  # and 80 unrelated
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    fa, fb = (Features("xfeat", np.zeros((len(d), 2), np.float32), d, np.ones(len(d), np.float32),
                       np.zeros(len(d), np.float32)) for d in (a, b))
    c = mutual_nearest(fa, fb)
    ref = ratio_match(fa, fb, 1.0, mutual=True)  # the same pairs through the exact L2 ratio path
    assert sorted(zip(c.idx_a, c.idx_b)) == sorted(zip(ref.idx_a, ref.idx_b))
    copies = c.idx_a < 120
    assert copies.sum() == 120 and (c.idx_b[copies] == c.idx_a[copies]).all()
    assert len(mutual_nearest(fa, fb.subset(np.zeros(0, int)))) == 0
