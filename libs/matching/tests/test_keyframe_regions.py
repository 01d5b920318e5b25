"""Keyframe keypoints inside vs outside the product mask, the whole-keyframe fallback, and the
gates on where a verified product lies in the keyframe."""
import numpy as np

from matching.assets import Asset, AssetBundle, extract_asset_features, save_asset_features
from matching.aggregate import aggregate
from matching.distinct import prepare_catalog
from matching.evidence import redo_verification
from matching.frame import frame_evidence
from matching.scoring import compete, distinct_rel, pair_logit
from matching.settings import MatchSettings
from matching.verify import verify_pair, visible_share
from vision_common.testing import iconic, old_footage, perspective_copy

S = MatchSettings()


def _cat_bundle(img):
    return AssetBundle.from_featureset(extract_asset_features(img, ((img.min(axis=2) < 235) * 255).astype(np.uint8)))


def _product_only(img):
    """The catalog image cropped to the product (so that a warped copy fills its half)."""
    ys, xs = np.nonzero(img.min(axis=2) < 235)
    return img[max(0, ys.min() - 4):ys.max() + 5, max(0, xs.min() - 4):xs.max() + 5]


def _two_product_scene(grocery, left="Tropicana-Apple-Juice", right="Oatly-Oat-Milk"):
    """Two products side by side on a cluttered background: (scene 400 x 600, left-half mask)."""
    a, _ = perspective_copy(_product_only(iconic(grocery, left)), out_size=(300, 400), seed=1)
    b, _ = perspective_copy(_product_only(iconic(grocery, right)), out_size=(300, 400), seed=2, occlude=False)
    scene = np.hstack([a, b])
    mask = np.zeros(scene.shape[:2], np.uint8)
    mask[:, :300] = 255
    return scene, mask


def _catalog_assets(tmp_path, grocery, names):
    out = []
    for n in names:
        img = iconic(grocery, n)
        p = save_asset_features(tmp_path / f"{n}.npz", extract_asset_features(
            img, ((img.min(axis=2) < 235) * 255).astype(np.uint8)))
        out.append(Asset(f"{n}__0", None, None, None, None, str(p), owner_id=n))
    return prepare_catalog(out, S)


def test_bundle_keeps_masked_and_whole_keyframe_keypoints(grocery):
    scene, mask = _two_product_scene(grocery)
    b = AssetBundle.from_featureset(extract_asset_features(scene, mask))
    inside, every = b.keypoints("sift", True), b.keypoints("sift", False)
    assert len(every) > len(inside) > 50
    assert (inside.xy[:, 0] < 300 + 0.03 * 600 + 2).all()
    assert (every.xy[:, 0] > 320).sum() > 50  # the right product's keypoints are kept too


def test_whole_keyframe_pass_reusing_the_masked_pass_finds_the_same_matches(tmp_path, grocery):
    cats = _catalog_assets(tmp_path, grocery, ["Tropicana-Apple-Juice", "Oatly-Oat-Milk"])
    scene, mask = _two_product_scene(grocery)
    frame = AssetBundle.from_featureset(extract_asset_features(scene, mask))
    for c in cats:
        memo: dict = {}
        masked = verify_pair(c.bundle(), frame, S, c.asset_id, "f", nearest=memo)
        assert c.asset_id in memo
        reused = verify_pair(c.bundle(), frame, S, c.asset_id, "f", frame_masked=False, nearest=memo)
        plain = verify_pair(c.bundle(), frame, S, c.asset_id, "f", frame_masked=False)
        assert reused.n_matches == plain.n_matches != masked.n_matches  # the second pass did match more keypoints
        assert reused.verified == plain.verified and abs(reused.inliers - plain.inliers) <= 2


def test_salient_product_first_other_products_with_the_whole_keyframe(tmp_path, grocery):
    cats = _catalog_assets(tmp_path, grocery, ["Tropicana-Apple-Juice", "Oatly-Oat-Milk"])
    scene, mask = _two_product_scene(grocery)
    frame = AssetBundle.from_featureset(extract_asset_features(scene, mask))
    ev, _ = frame_evidence(frame, "f", cats, [0.5, 0.5], S)
    got = {pid: e for pid, e in ev}
    # the product inside the mask is verified with the mask's keypoints; the one beside it, which
    # the mask does not show, with every keypoint of the keyframe
    assert got["Tropicana-Apple-Juice"].verified and got["Tropicana-Apple-Juice"].frame_masked
    assert got["Oatly-Oat-Milk"].verified and not got["Oatly-Oat-Milk"].frame_masked
    masked_only = S.model_copy(update=dict(kp_keyframe_fallback=False))
    got = dict(frame_evidence(frame, "f", cats, [0.5, 0.5], masked_only)[0])
    assert got["Tropicana-Apple-Juice"].verified and not got["Oatly-Oat-Milk"].verified

    # the mask holds the wrong object (here: the empty right half is masked, nothing verifies
    # inside it): every keypoint of the keyframe is used, both products are found
    wrong = np.zeros_like(mask)
    wrong[:40, 520:] = 255
    frame = AssetBundle.from_featureset(extract_asset_features(scene, wrong))
    ev, _ = frame_evidence(frame, "f", cats, [0.5, 0.5], S)
    assert all(e.verified for _, e in ev), [(p, e.reason) for p, e in ev]
    off = S.model_copy(update=dict(kp_keyframe_fallback=False))
    ev, _ = frame_evidence(frame, "f", cats, [0.5, 0.5], off)
    assert not any(e.verified for _, e in ev)


def test_evidence_redoes_the_verification_the_matcher_scored(tmp_path, grocery):
    cats = _catalog_assets(tmp_path, grocery, ["Tropicana-Apple-Juice", "Oatly-Oat-Milk"])
    scene, _ = _two_product_scene(grocery)
    wrong = np.zeros(scene.shape[:2], np.uint8)
    wrong[:40, 520:] = 255  # the mask holds nothing: the products are found by the whole-keyframe pass
    frame = Asset("f", None, None, None, None,
                  str(save_asset_features(tmp_path / "f.npz", extract_asset_features(scene, wrong))), owner_id="v")
    ev, duels = frame_evidence(frame.bundle(), "f", cats, [0.5, 0.5], S)
    scored = dict(ev)["Oatly-Oat-Milk"]
    assert scored.verified and not scored.frame_masked
    found = {m.product_id: m for m in aggregate(compete(ev, S, duels), {"f": ("v", 1.0)}, S, include_rejected=True)}
    assert found["Oatly-Oat-Milk"].best_frame_masked is False  # what the matcher stores with the match

    oatly = next(c for c in cats if c.owner_id == "Oatly-Oat-Milk")
    again = redo_verification(oatly, frame, S, frame_masked=False)
    assert again.verified and again.inliers == scored.inliers
    # redrawn from the mask's keypoints instead, the pair would not even be found
    assert not redo_verification(oatly, frame, S, frame_masked=True).verified


def test_small_product_outside_the_mask_is_found_unless_a_minimum_area_is_asked(grocery):
    cat = _cat_bundle(iconic(grocery, "Tropicana-Apple-Juice"))
    big, _ = perspective_copy(iconic(grocery, "Tropicana-Apple-Juice"), out_size=(400, 400), seed=4, occlude=False)
    scene = np.full((1200, 1200, 3), 90, np.uint8)
    scene[400:800, 400:800] = big  # the product covers a few % of the keyframe
    frame = AssetBundle.from_featureset(extract_asset_features(scene, None))
    assert verify_pair(cat, frame, S).verified  # found where the mask is (here: everywhere)
    ev = verify_pair(cat, frame, S, frame_masked=False)
    assert ev.verified and ev.area < 0.1  # a product on a shelf behind the one held up is still shown
    only_big = S.model_copy(update=dict(kp_fallback_min_area=0.15))
    ev = verify_pair(cat, frame, only_big, frame_masked=False)
    assert not ev.verified and ev.area < 0.15 and "small region" in ev.reason


def test_a_sibling_beaten_inside_the_mask_stays_there_as_the_winners_rival(tmp_path, grocery):
    """Arla Medium Fat held up (masked) with Oatly beside it; Arla Standard, its sibling, is in
    the catalog too. The sibling verifies inside the mask on the shared print and loses there:
    that verdict stands (it is what makes the winner sure), while Oatly, which the mask does not
    show, is looked for with the whole keyframe."""
    cats = _catalog_assets(tmp_path, grocery, ["Arla-Medium-Fat-Milk", "Arla-Standard-Milk", "Oatly-Oat-Milk"])
    scene, mask = _two_product_scene(grocery, left="Arla-Medium-Fat-Milk", right="Oatly-Oat-Milk")
    frame = AssetBundle.from_featureset(extract_asset_features(scene, mask))
    ev, duels = frame_evidence(frame, "f", cats, [0.5] * 3, S)
    got = dict(ev)
    sibling = got["Arla-Standard-Milk"]
    assert sibling.verified and sibling.frame_masked and pair_logit(sibling, S) < S.kp_fallback_below
    assert got["Oatly-Oat-Milk"].verified and not got["Oatly-Oat-Milk"].frame_masked
    scores = {p.product_id: p for p in compete(ev, S, duels)}
    assert scores["Arla-Standard-Milk"].suppressed_by == "Arla-Medium-Fat-Milk"
    assert scores["Arla-Medium-Fat-Milk"].margin is not None and scores["Arla-Medium-Fat-Milk"].score_pair > 0.95
    assert scores["Oatly-Oat-Milk"].score_pair > 0.8


def test_three_products_side_by_side_each_match_in_their_own_region(tmp_path, grocery):
    """A shelf frame with three products, one of them small and blurry (downscaled to ~110 px
    wide, blurred and JPEG-compressed): the mask holds the first only, and each of the three is
    still verified where it stands and wins its own region."""

    names = ["Tropicana-Apple-Juice", "Oatly-Oat-Milk", "Arla-Medium-Fat-Milk"]
    cats = _catalog_assets(tmp_path, grocery, names)
    cells = [perspective_copy(_product_only(iconic(grocery, n)), out_size=(300, 400), seed=10 + i, occlude=False)[0]
             for i, n in enumerate(names)]
    small = old_footage(cells[2], short=110, sigma=0.8, quality=40, enlarge=False)  # 110 x 147 px
    cells[2] = np.full_like(cells[2], 110)
    cells[2][120:267, 95:205] = small
    scene = np.hstack(cells)
    mask = np.zeros(scene.shape[:2], np.uint8)
    mask[:, :300] = 255
    frame = Asset("f", None, None, None, None,
                  str(save_asset_features(tmp_path / "f.npz", extract_asset_features(scene, mask))), owner_id="v")
    fb = frame.bundle()
    ev, duels = frame_evidence(fb, "f", cats, [0.5] * 3, S)
    ev = dict(ev)
    for i, n in enumerate(names):
        assert ev[n].verified, (n, ev[n].reason)
        cx = float(ev[n].quad[:, 0].mean())
        assert 300 * i < cx < 300 * (i + 1)  # in its own third of the frame
    assert ev[names[2]].area < 0.05
    scores = {p.product_id: p for p in compete(list(ev.items()), S, duels)}
    assert all(scores[n].suppressed_by is None and scores[n].logit > -np.inf for n in names)


def test_product_mostly_outside_the_keyframe_is_not_verified(grocery):
    img = iconic(grocery, "Tropicana-Apple-Juice")
    cat = _cat_bundle(img)
    scene, _ = perspective_copy(img, out_size=(400, 400), seed=5, occlude=False)
    ok = verify_pair(cat, AssetBundle.from_featureset(extract_asset_features(scene, None)), S)
    assert ok.verified and ok.visible > 0.95
    cut = np.ascontiguousarray(scene[:, 235:])  # only the right ~35 % of the product is left
    ev = verify_pair(cat, AssetBundle.from_featureset(extract_asset_features(cut, None)), S)
    assert ev.inliers >= S.inliers_min_count  # geometry alone would accept it
    assert not ev.verified and ev.visible < S.min_visible and ev.reason == "product mostly outside the keyframe"


def test_visible_share():
    quad = np.float32([[-50, 0], [50, 0], [50, 100], [-50, 100]])
    vis, area = visible_share(quad, (200, 200))
    assert abs(vis - 0.5) < 1e-6 and abs(area - 5000 / 40000) < 1e-6


def test_distinct_is_measured_against_what_the_catalog_image_can_give(tmp_path, grocery):
    # Two Arla siblings share the logo, the cow and the layout: many of each one's keypoints are
    # marked shared, so even the right product's inliers are mostly 'shared' (low distinct);
    # distinct_base says how much of the image is unshared at all.
    cats = _catalog_assets(tmp_path, grocery, ["Arla-Medium-Fat-Milk", "Arla-Sour-Milk"])
    scene, _ = perspective_copy(_product_only(iconic(grocery, "Arla-Medium-Fat-Milk")), out_size=(320, 420), seed=3)
    frame = AssetBundle.from_featureset(extract_asset_features(scene, None))
    ev, _ = frame_evidence(frame, "f", cats, [0.5, 0.5], S)
    got = {pid: e for pid, e in ev}
    right = got["Arla-Medium-Fat-Milk"]
    assert right.verified and 0.0 < right.distinct_base < 1.0
    shared = cats[0].bundle().shared
    assert shared.any() and not shared.all()
    assert distinct_rel(right) == min(2.0, right.distinct / max(right.distinct_base, 0.05))
    assert distinct_rel(right) > 0.7  # the right product's inliers are spread like its keypoints


def test_first_pass_keeps_a_shelf_whose_product_fills_one_quadrant(grocery, models_dir):
    """The first pass asks per region: a 2x2 shelf with one catalog product among produce passes
    FIRST_PASS_MIN_SIM, and its quadrant is far nearer the product than the whole frame; produce
    alone does not pass."""
    import cv2

    from matching.retrieval import best_similarity, first_pass
    from vision_common.embedding import build_embedder
    from vision_common.settings import VisionSettings

    embedder = build_embedder(VisionSettings(models_dir=models_dir))
    names = ["Tropicana-Apple-Juice", "Oatly-Oat-Milk", "Arla-Medium-Fat-Milk"]
    db_rgb, db_gray = embedder.embed([iconic(grocery, n) for n in names], [None] * 3)
    produce = sorted((grocery / "val" / "Vegetables").glob("*/*.jpg"))[::5][:4]
    tiles = [cv2.resize(cv2.imread(str(p)), (180, 180)) for p in produce]
    with_product = [cv2.resize(_product_only(iconic(grocery, "Oatly-Oat-Milk")), (180, 180))] + tiles[:3]
    shelves = [np.vstack([np.hstack(t[:2]), np.hstack(t[2:])]) for t in (with_product, tiles)]
    per_region = first_pass(embedder, shelves, db_rgb, db_gray).sims
    whole = best_similarity(*embedder.embed(shelves, [None, None]), db_rgb, db_gray)
    assert per_region[0] >= S.first_pass_min_sim and per_region[0] > whole[0] + 0.1
    assert per_region[1] < S.first_pass_min_sim
    assert (per_region >= whole - 1e-5).all()  # the whole frame is one of the regions
