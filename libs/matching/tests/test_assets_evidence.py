import numpy as np
import pytest

from matching.assets import Asset, AssetBundle, extract_asset_features, load_asset_bundle, save_asset_features
from matching.evidence import render_evidence, write_evidence
from matching.frame import match_frame
from matching.settings import MatchSettings
from matching.verify import verify_pair
from vision_common.errors import ImageError
from vision_common.image_io import read_image
from vision_common.testing import iconic, perspective_copy


def test_bundle_round_trip_keeps_what_the_verifier_needs(tmp_path, grocery):
    img = iconic(grocery, "Bravo-Apple-Juice")
    mask = ((img.min(axis=2) < 235) * 255).astype(np.uint8)
    p = save_asset_features(tmp_path / "kp" / "img1.npz", extract_asset_features(img, mask))
    b = load_asset_bundle(p)
    assert b.image_shape == img.shape[:2] and not b.seg_fallback
    assert len(b.features["sift"]) > 100
    assert np.abs(b.thumb.astype(int) - img).mean() < 3  # the colour thumbnail is the image
    assert (b.thumb_mask > 0).sum() == pytest.approx((mask > 0).sum(), rel=0.01)
    x0, y0, x1, y1 = b.mask_box
    assert x0 > 20 and x1 < 180  # the product box, not the whole 198 px image


def test_empty_mask_means_whole_image(grocery):
    img = iconic(grocery, "Bravo-Apple-Juice")
    fs = extract_asset_features(img, np.zeros(img.shape[:2], np.uint8))
    assert int(fs.extra["seg_fallback"]) == 1
    assert tuple(fs.extra["mask_box"]) == (0, 0, img.shape[1], img.shape[0])


def test_match_frame_picks_the_shown_product_and_skips_a_broken_candidate(tmp_path, grocery):
    names = ["God-Morgon-Orange-Juice", "God-Morgon-Apple-Juice", "Tropicana-Apple-Juice"]
    cands = []
    for n in names:
        img = iconic(grocery, n)
        mask = ((img.min(axis=2) < 235) * 255).astype(np.uint8)
        p = save_asset_features(tmp_path / f"{n}.npz", extract_asset_features(img, mask))
        cands.append(Asset(n, None, None, None, None, str(p), owner_id=n))
    cands.append(Asset("broken", None, None, None, None, str(tmp_path / "missing.npz"), owner_id="X"))
    scene, _ = perspective_copy(iconic(grocery, "God-Morgon-Orange-Juice"), seed=7)
    fp = save_asset_features(tmp_path / "frame.npz", extract_asset_features(scene, None))
    frame = Asset("f1", None, None, None, None, str(fp), owner_id="v1", ts=1.5)
    from matching.distinct import prepare_catalog

    assert [c.asset_id for c in prepare_catalog(cands, MatchSettings())] == names  # broken one left out
    scores = match_frame(frame, cands, MatchSettings(), sims=[0.7] * 4)
    by = {s.product_id: s for s in scores}
    assert set(by) == set(names)  # the unreadable candidate is skipped
    assert by["God-Morgon-Orange-Juice"].score_pair > 0.5
    assert by["God-Morgon-Apple-Juice"].score_pair == 0.0
    assert by["Tropicana-Apple-Juice"].score_pair == 0.0


def test_evidence_image_shows_both_images_and_lines(tmp_path, grocery):
    cat = iconic(grocery, "Tropicana-Apple-Juice")
    scene, _ = perspective_copy(cat, seed=1)
    ev = verify_pair(AssetBundle.from_featureset(
        extract_asset_features(cat, ((cat.min(axis=2) < 235) * 255).astype(np.uint8))),
        AssetBundle.from_featureset(extract_asset_features(scene, None)),
        MatchSettings())
    assert ev.verified
    out = render_evidence(cat, scene, ev, score=0.93, ts=75.25, title="Tropicana / clip 7")
    assert out.shape[0] == 480 + 56 and out.shape[1] > 480 + 400
    left = out[:480, :480]
    assert abs(float(left[:, :, 0].mean()) - float(np.resize(cat, (480, 480, 3))[:, :, 0].mean())) < 40
    no_ev = render_evidence(cat, scene, None, score=0.93, ts=75.25, title="Tropicana / clip 7")
    drawn = (out[:480].astype(int) - no_ev[:480]).any(axis=2)
    assert drawn.sum() > 1000  # inlier lines, points and the outline
    assert drawn[:, 480:].sum() > 300 and drawn[:, :480].sum() > 100  # on both sides
    caption_a, caption_b = out[480:], render_evidence(cat, scene, ev, score=0.42, ts=75.25)[480:]
    assert (caption_a != caption_b).any()  # the score is written
    p = write_evidence(tmp_path / "evidence" / "m1.jpg", cat, scene, ev, score=0.93, ts=3.0)
    assert read_image(p).shape == out.shape
    with pytest.raises(ImageError):
        read_image(tmp_path / "evidence" / "nope.jpg")


def test_build_evidence_from_two_assets(tmp_path, grocery):
    from matching.evidence import build_evidence
    from vision_common.image_io import write_jpg

    cat = iconic(grocery, "Arla-Sour-Milk")
    scene, _ = perspective_copy(cat, seed=9)
    write_jpg(tmp_path / "c.jpg", cat)
    write_jpg(tmp_path / "f.jpg", scene)
    cp = save_asset_features(tmp_path / "c.npz", extract_asset_features(cat, ((cat.min(axis=2) < 235) * 255).astype(np.uint8)))
    fp = save_asset_features(tmp_path / "f.npz", extract_asset_features(scene, None))
    c_asset = Asset("c", str(tmp_path / "c.jpg"), None, None, None, str(cp), owner_id="p")
    f_asset = Asset("f", str(tmp_path / "gone.jpg"), None, None, None, str(fp), owner_id="v", ts=2.0)  # image file gone
    out = build_evidence(c_asset, f_asset, tmp_path / "evidence" / "m.jpg", score=0.9)
    img = read_image(out).astype(int)
    plain = render_evidence(cat, f_asset.bundle().thumb, None, score=0.9, ts=2.0).astype(int)
    assert img.shape == plain.shape  # the keyframe panel comes from the stored thumbnail
    changed = np.abs(img[:480] - plain[:480]).max(axis=2) > 60  # beyond JPEG noise: the drawing
    assert changed[:, :480].sum() > 100 and changed[:, 488:].sum() > 300


def test_build_evidence_draws_the_stored_drawing_without_verifying_again(tmp_path, grocery):
    """The evidence image shows the matcher's own decision: the inliers stored with the match
    (pair_drawing), not those of a second verification; no feature bundle is needed."""
    from matching.evidence import build_evidence, evidence_from_drawing, pair_drawing
    from vision_common.image_io import write_jpg

    cat = iconic(grocery, "Arla-Sour-Milk")
    scene, _ = perspective_copy(cat, seed=9)
    write_jpg(tmp_path / "c.jpg", cat)
    write_jpg(tmp_path / "f.jpg", scene)
    ev = verify_pair(AssetBundle.from_featureset(
        extract_asset_features(cat, ((cat.min(axis=2) < 235) * 255).astype(np.uint8))),
        AssetBundle.from_featureset(extract_asset_features(scene, None)), MatchSettings())
    assert ev.verified and ev.inliers > 20
    drawing = pair_drawing(ev, max_points=10)
    assert len(drawing["pts_cat"]) == len(drawing["pts_frame"]) == 10 and drawing["inliers"] == ev.inliers
    again = evidence_from_drawing(drawing)
    assert np.allclose(again.pts_cat, ev.pts_cat[np.linspace(0, len(ev.pts_cat) - 1, 10).astype(int)], atol=0.06)
    assert np.allclose(again.quad, ev.quad, atol=0.06)

    # one stored inlier pair, at a place of our choosing: exactly that line is drawn
    one = {**drawing, "pts_cat": [[20.0, 30.0]], "pts_frame": [[300.0, 200.0]], "quad": None}
    nowhere = str(tmp_path / "no-such-bundle.npz")  # a second verification would fail here
    c_asset = Asset("c", str(tmp_path / "c.jpg"), None, None, None, nowhere, owner_id="p")
    f_asset = Asset("f", str(tmp_path / "f.jpg"), None, None, None, nowhere, owner_id="v", ts=2.0)
    out = build_evidence(c_asset, f_asset, tmp_path / "evidence" / "m.jpg", score=0.9, drawing=one)
    img = read_image(out).astype(int)
    on_disk = read_image(tmp_path / "c.jpg"), read_image(tmp_path / "f.jpg")  # what it draws on
    plain = read_image(write_evidence(tmp_path / "plain.jpg", *on_disk, None, score=0.9, ts=2.0)).astype(int)
    changed = np.abs(img[:480] - plain[:480]).max(axis=2) > 60
    sl, sr = 480 / cat.shape[0], 480 / scene.shape[0]
    a = (round(20 * sl), round(30 * sl))
    b = (round(cat.shape[1] * sl) + 8 + round(300 * sr), round(200 * sr))
    assert changed[a[1] - 2:a[1] + 3, a[0] - 2:a[0] + 3].any() and changed[b[1] - 2:b[1] + 3, b[0] - 2:b[0] + 3].any()
    ys, xs = np.nonzero(changed)
    # nothing else: every changed pixel lies near the line between the two points (JPEG's 8-px
    # blocks around it included)
    d = np.abs((b[0] - a[0]) * (ys - a[1]) - (b[1] - a[1]) * (xs - a[0])) / np.hypot(b[0] - a[0], b[1] - a[1])
    assert len(xs) > 100 and d.max() < 16, d.max()
