"""Appearance evidence (matching.appearance): the answer for 3D, low-texture products."""
import json

import numpy as np
import pytest

from matching.aggregate import aggregate
from matching.appearance import (AppearanceEvidence, appearance_evidence, appearance_scores, calibrated_logit,
                                 discount_look_chances, histogram_similarity, region_histogram)
from matching.assets import Asset, AssetBundle, extract_asset_features, save_asset_features
from matching.calibrate import fit_appearance, fit_appearance_lead
from matching.distinct import prepare_catalog
from matching.evidence import build_evidence, evidence_from_drawing, pair_drawing
from matching.frame import match_frame
from matching.pipeline import FrameEvidence
from matching.scoring import PairScore, sigmoid
from matching.settings import MatchSettings
from matching.verify import PairEvidence
from vision_common.image_io import read_image
from vision_common.settings import VisionSettings
from vision_common.testing import iconic, perspective_copy

S = MatchSettings()


def look(pid: str, deep: float, hist: float, frame: str = "f1") -> AppearanceEvidence:
    return AppearanceEvidence(pid, f"{pid}__0", frame, deep, hist)


def geometric(pid: str, score: float) -> PairScore:
    return PairScore(f"{pid}__0", "f1", pid, score, 1.0, None, None, PairEvidence(f"{pid}__0", "f1", verified=True))


def test_only_the_keyframes_best_looking_product_gets_a_score():
    out = appearance_scores([look("boot", 0.80, 0.60), look("sneaker", 0.70, 0.50), look("bowl", 0.40, 0.2)],
                            [], (10, 20, 110, 220), S)
    assert [p.product_id for p in out] == ["boot"]
    p = out[0]
    assert p.evidence.kind == "appearance" and p.evidence.inliers == 0
    assert p.margin > 0
    assert p.score_pair == pytest.approx(sigmoid(calibrated_logit(p.logit, p.margin, S)))
    assert p.evidence.quad.tolist() == [[10, 20], [110, 20], [110, 220], [10, 220]]  # the region's box


def look_pair(pid: str, frame: str, score: float) -> PairScore:
    return PairScore(f"{pid}__0", frame, pid, score, 1.0, None, None,
                     PairEvidence(f"{pid}__0", frame, sim_deep=0.8, kind="appearance"))


def produce_video(n_looks: int, lookalike_wins: int, others: float = 0.6, score: float = 0.94) -> list[PairScore]:
    """``n_looks`` keyframes of one video in which the look spoke: a look-alike listing wins
    ``lookalike_wins`` of them at ``score``, other listings the rest at ``others``."""
    return [look_pair("granny-smith", f"f{i}", score) if i < lookalike_wins
            else look_pair(f"other-{i}", f"f{i}", others) for i in range(n_looks)]


def discounted(pairs: list[PairScore], s: MatchSettings = S) -> dict[str, float]:
    out = discount_look_chances(pairs, {p.frame_id: "v" for p in pairs}, s)
    return {p.product_id: p.score_pair for p in out}


def test_a_few_looks_among_many_on_screen_say_less():
    # produce footage against produce listings: twenty keyframes put some listing on screen
    assert S.app_chances_ref > 0
    lack = np.log(22 / (S.app_chances_ref * 2))
    assert discounted(produce_video(22, 2))["granny-smith"] == pytest.approx(sigmoid(np.log(0.94 / 0.06) - lack))
    frames = {f"f{i}": ("v", float(i)) for i in range(22)}
    assert not [m for m in aggregate(produce_video(22, 2), frames, S) if m.product_id == "granny-smith"]
    # the same two wins where the look found nothing else: as they were, and accepted
    assert discounted(produce_video(2, 2))["granny-smith"] == pytest.approx(0.94)
    assert [m.product_id for m in aggregate(produce_video(2, 2), frames, S)] == ["granny-smith"]


def test_only_on_screen_looks_count_so_a_boot_in_minutes_of_other_footage_keeps_its_score():
    # a hundred keyframes whose look found nothing like the catalog (winners far below
    # SEGMENT_PAIR_MIN) and one in which the boot is on screen
    pairs = [look_pair("boot", "f0", 0.95)] + [look_pair(f"other-{i}", f"f{i}", 0.05) for i in range(1, 100)]
    scores = discounted(pairs)
    assert scores["boot"] == pytest.approx(0.95) and scores["other-1"] == pytest.approx(0.05)
    # a video whose look never found anything on screen: nothing to discount
    assert discounted([look_pair("bowl", "f0", 0.3)]) == {"bowl": pytest.approx(0.3)}


def test_a_product_that_keeps_winning_its_share_of_the_looks_is_not_discounted():
    assert discounted(produce_video(20, 20))["granny-smith"] == pytest.approx(0.94)
    assert discounted(produce_video(20, 10))["granny-smith"] < 0.94
    # weak looks of the product itself count as chances it did not win
    pairs = produce_video(1, 1) + [look_pair("granny-smith", "f9", 0.6)]
    weak = discount_look_chances(pairs, {"f0": "v", "f9": "v"}, S)
    assert [p.score_pair for p in weak] == pytest.approx([sigmoid(np.log(0.94 / 0.06) - np.log(2)),
                                                          sigmoid(np.log(0.6 / 0.4) - np.log(2))])


def test_chances_are_counted_per_video_and_geometry_is_never_discounted():
    pairs = produce_video(22, 2) + [PairScore("pack__0", "g0", "pack", 0.9, 1.0, None, None,
                                              PairEvidence("pack__0", "g0", verified=True))]
    pairs += [look_pair("granny-smith", "w0", 0.94)]  # the same look, alone in another video
    video_of = {f"f{i}": "long" for i in range(22)} | {"g0": "long", "w0": "short"}
    out = discount_look_chances(pairs, video_of, S)
    by = {(p.product_id, p.frame_id): p.score_pair for p in out}
    assert by[("pack", "g0")] == 0.9
    assert by[("granny-smith", "w0")] == pytest.approx(0.94)
    assert by[("granny-smith", "f0")] < 0.8
    off = S.model_copy(update={"app_chances_ref": 0.0})
    assert [p.score_pair for p in discount_look_chances(pairs, video_of, off)] == [p.score_pair for p in pairs]


def test_a_lead_over_the_catalog_is_no_evidence_against_a_twin_missing_from_it():
    # a wide lead (a twin missing from the catalog has one too) raises nothing
    alone = appearance_scores([look("sneaker", 0.72, 0.40)], [], None, S)[0]
    ahead = appearance_scores([look("sneaker", 0.72, 0.40), look("bowl", 0.30, 0.1)], [], None, S)[0]
    assert alone.margin is None and ahead.margin > S.app_lead_full
    assert ahead.score_pair == pytest.approx(alone.score_pair)


def test_a_narrow_lead_says_less_the_look_cannot_tell_which_product_it_is():
    assert S.app_cal_lead > 0 and S.app_lead_full > 0  # the fitted defaults use it
    ahead = appearance_scores([look("satsuma", 0.80, 0.70), look("bowl", 0.30, 0.1)], [], None, S)[0]
    tied = appearance_scores([look("satsuma", 0.80, 0.70), look("orange", 0.795, 0.69)], [], None, S)[0]
    assert tied.product_id == "satsuma" and 0 < tied.margin < S.app_lead_full
    assert tied.score_pair < ahead.score_pair
    lack = S.app_lead_full - tied.margin
    assert tied.score_pair == pytest.approx(sigmoid(S.app_cal_bias + S.app_cal_logit * tied.logit - S.app_cal_lead * lack))
    off = S.model_copy(update={"app_cal_lead": 0.0})
    assert appearance_scores([look("satsuma", 0.80, 0.70), look("orange", 0.795, 0.69)], [], None, off)[0].score_pair \
        == pytest.approx(ahead.score_pair)


def test_the_score_grows_with_both_the_look_and_the_colours():
    def score(deep, hist):
        return appearance_scores([look("a", deep, hist)], [], None, S)[0].score_pair

    assert score(0.85, 0.70) > score(0.70, 0.70) > score(0.55, 0.70)
    assert score(0.80, 0.70) > score(0.80, 0.40)
    assert score(0.45, 0.30) < 0.2 < 0.8 < score(0.85, 0.75)


def test_geometry_that_gave_the_region_to_another_product_silences_the_look():
    looks = [look("twin-a", 0.80, 0.60), look("twin-b", 0.70, 0.50)]
    assert appearance_scores(looks, [geometric("twin-b", 0.9)], None, S) == []
    # a weak geometric pair of another product leaves the look its say
    assert [p.product_id for p in appearance_scores(looks, [geometric("twin-b", 0.3)], None, S)] == ["twin-a"]


def test_where_geometry_judged_the_product_its_verdict_stands():
    looks = [look("twin-a", 0.80, 0.60), look("twin-b", 0.70, 0.50)]
    # verified and refused (its colour band disagrees: score 0), or verified and accepted: either
    # way the warped comparison has spoken, and the look adds no second opinion
    for score in (0.0, 0.9):
        assert appearance_scores(looks, [geometric("twin-a", score)], None, S) == []
    tried = PairScore("twin-a__0", "f1", "twin-a", 0.0, float("-inf"), None, None,
                      PairEvidence("twin-a__0", "f1", inliers=5, verified=False))
    assert [p.product_id for p in appearance_scores(looks, [tried], None, S)] == ["twin-a"]  # no homography


def test_a_printed_twin_refused_by_geometry_is_not_passed_by_its_look(tmp_path, grocery):
    cat_img = iconic(grocery, "Arla-Medium-Fat-Milk")
    mask = ((cat_img.min(axis=2) < 235) * 255).astype(np.uint8)
    p = save_asset_features(tmp_path / "cat.npz", extract_asset_features(cat_img, mask))
    catalog = [Asset("arla-mf__0", None, None, None, None, str(p), owner_id="arla-medium-fat")]
    prepare_catalog(catalog, S)
    scene, _ = perspective_copy(iconic(grocery, "Arla-Standard-Milk"), seed=5)  # the red twin, not in the catalog
    fp = save_asset_features(tmp_path / "frame.npz", extract_asset_features(scene, None))
    frame = Asset("f1", None, None, None, None, str(fp), owner_id="v1", ts=1.0)
    scores = match_frame(frame, catalog, S, sims=[0.85])  # an embedding that finds them alike
    geo = [p for p in scores if p.evidence.kind == "geometry"]
    assert geo and geo[0].evidence.verified and geo[0].score_pair < 0.5
    assert all(p.evidence.kind == "geometry" for p in scores)
    # the look alone would have passed it: the verdict is what keeps it out
    off = appearance_scores(appearance_evidence(frame.bundle(), frame.asset_id, catalog, [0.85], S), [], None, S)
    assert off and off[0].score_pair > 0.5


def test_switched_off_it_adds_nothing(tmp_path):
    img = np.full((200, 200, 3), 120, np.uint8)
    b = AssetBundle.from_featureset(extract_asset_features(img, None))
    assert appearance_evidence(b, "f1", [], [], S.model_copy(update=dict(appearance=False))) == []


def test_colour_histograms_tell_a_colour_band_apart():
    base = np.full((240, 160, 3), 235, np.uint8)
    green, red = base.copy(), base.copy()
    green[80:160] = (60, 170, 40)
    red[80:160] = (40, 40, 200)

    def hist(im):
        return region_histogram(AssetBundle.from_featureset(extract_asset_features(im, None)))

    assert histogram_similarity(hist(green), hist(green)) == pytest.approx(1.0, abs=1e-3)
    assert histogram_similarity(hist(green), hist(red)) < 0.75


def test_drawing_of_an_appearance_match_keeps_its_kind_and_region(tmp_path, grocery):
    img = iconic(grocery, "Bravo-Apple-Juice")
    p = save_asset_features(tmp_path / "a.npz", extract_asset_features(img, None))
    asset = Asset("a", None, None, None, None, str(p), owner_id="x")
    win = appearance_scores([look("x", 0.8, 0.6)], [], (5, 5, 150, 180), S)[0]
    drawing = json.loads(json.dumps(pair_drawing(win.evidence)))  # stored as JSON with the match
    ev = evidence_from_drawing(drawing)
    assert ev.kind == "appearance" and ev.inliers == 0 and len(ev.pts_cat) == 0
    assert ev.sim_deep == pytest.approx(0.8) and ev.quad.tolist() == win.evidence.quad.tolist()
    out = build_evidence(asset, asset, tmp_path / "ev.jpg", drawing=drawing, score=0.9)
    assert read_image(str(out)).shape[0] > 400


def test_fit_learns_that_look_and_colours_both_count():
    rng = np.random.default_rng(0)
    fevs, shots = [], []
    for i in range(60):
        shown = "p0" if i % 3 else None  # a third of the keyframes show nothing of the catalog
        looks = []
        for j in range(4):
            pid = f"p{j}"
            right = pid == shown
            looks.append(AppearanceEvidence(pid, f"{pid}__0", f"v{i}__f0", float(rng.uniform(0.65, 0.9) if right
                                                                                 else rng.uniform(0.3, 0.75)),
                                            float(rng.uniform(0.5, 0.8) if right else rng.uniform(0.1, 0.55))))
        fevs.append(FrameEvidence(f"v{i}__f0", f"v{i}", 1.0, [], [], {}, appearance=looks))
        shots.append({"video_id": f"v{i}", "start": 0.0, "end": 2.0, "product_id": shown})
    s = fit_appearance(fevs, shots, MatchSettings())
    assert s.app_w_deep > 0 and s.app_w_hist > 0 and s.app_cal_logit > 0
    assert (s.app_bias, s.app_cal_bias) != (S.app_bias, S.app_cal_bias)


def _keyframes_with_leads(rng, right_when_narrow: float | None, n: int = 400):
    """Keyframes whose best look is as good as can be (deep 0.85, hist 0.75); a second product
    looks almost the same (narrow lead) in half of them. The winner is right in the wide ones as
    often as stage 2 says, and in ``right_when_narrow`` of the narrow ones (None: as often)."""
    z = AppearanceEvidence("a", "a__0", "f", 0.85, 0.75).logit(S)
    calibrated = sigmoid(S.app_cal_bias + S.app_cal_logit * z)
    fevs, shots = [], []
    for i in range(n):
        narrow = i % 2 == 0
        right = rng.uniform() < (right_when_narrow if narrow and right_when_narrow is not None else calibrated)
        looks = [AppearanceEvidence("a", "a__0", f"v{i}__f0", 0.85, 0.75),
                 AppearanceEvidence("b", "b__0", f"v{i}__f0", 0.84 if narrow else 0.40, 0.74 if narrow else 0.2)]
        fevs.append(FrameEvidence(f"v{i}__f0", f"v{i}", 1.0, [], [], {}, appearance=looks))
        shots.append({"video_id": f"v{i}", "start": 0.0, "end": 2.0, "product_id": "a" if right else None})
    return fevs, shots


def test_fit_of_the_lead_term_learns_what_a_narrow_lead_is_worth():
    rng = np.random.default_rng(1)
    fevs, shots = _keyframes_with_leads(rng, right_when_narrow=0.3)
    s = fit_appearance_lead(fevs, shots, S.model_copy(update={"app_cal_lead": 0.0, "app_lead_full": 0.0}))
    assert s.app_cal_lead > 1.0 and s.app_lead_full > 0.1
    narrow = appearance_scores(fevs[0].appearance, [], None, s)[0]
    wide = appearance_scores(fevs[1].appearance, [], None, s)[0]
    assert narrow.score_pair < 0.6 < 0.8 < wide.score_pair
    # where a narrow lead is right as often as a wide one, the term is (almost) not used
    def narrow_loss(right_when_narrow, also=frozenset()):
        fevs, shots = _keyframes_with_leads(rng, right_when_narrow)
        s = fit_appearance_lead(fevs, shots, S.model_copy(update={"app_cal_lead": 0.0, "app_lead_full": 0.0}), also)
        return (appearance_scores(fevs[1].appearance, [], None, s)[0].score_pair
                - appearance_scores(fevs[0].appearance, [], None, s)[0].score_pair)

    assert narrow_loss(None) < 0.05
    # winners listed as also shown count neither way: with all narrow ones listed, nothing to learn
    assert narrow_loss(0.0, {("a", f"v{i}") for i in range(0, 400, 2)}) < 0.05


@pytest.fixture(scope="module")
def goods_assets(tmp_path_factory, goods, models_dir):
    """Catalog images and keyframes made from ../shared goods photos, through the real segmenter
    and embedder (what product-segmentor and vision-embedding do)."""
    from vision_common.embedding import build_embedder
    from vision_common.segmentation import build_segmenter

    vs = VisionSettings(models_dir=models_dir)
    seg, emb = build_segmenter(vs), build_embedder(vs)
    work = tmp_path_factory.mktemp("goods")

    def asset(rel: str, owner: str) -> Asset:
        im = read_image(str(goods / rel))
        r = seg.segment_batch([im])[0]
        mask = None if r.fallback else r.mask
        rgb, gray = emb.embed([im], [mask])
        aid = rel.replace("/", "_").removesuffix(".jpg")
        p = save_asset_features(work / f"{aid}.npz", extract_asset_features(im, mask, vs, seg_fallback=r.fallback))
        return Asset(aid, str(goods / rel), None, rgb[0], gray[0], str(p), owner_id=owner)

    catalog = [asset(f"objects/{name}/{i:02d}.jpg", name)
               for name in ("colorful_sneaker", "fancy_boot", "berry_bowl", "backpack", "candle") for i in (0, 1)]
    prepare_catalog(catalog, S)
    frames = {rel: asset(rel, "video") for rel in ("objects/colorful_sneaker/03.jpg", "objects/fancy_boot/04.jpg",
                                                    "objects/shiny_sneaker/01.jpg", "distractors/dog/00.jpg")}
    return catalog, frames


def _best(scores: list[PairScore]) -> dict[str, float]:
    out: dict[str, float] = {}
    for p in scores:
        out[p.product_id] = max(out.get(p.product_id, 0.0), p.score_pair)
    return out


@pytest.mark.parametrize("photo, product", [("objects/colorful_sneaker/03.jpg", "colorful_sneaker"),
                                            ("objects/fancy_boot/04.jpg", "fancy_boot")])
def test_a_3d_object_seen_from_elsewhere_is_found_by_its_look(goods_assets, photo, product):
    catalog, frames = goods_assets
    scores = match_frame(frames[photo], catalog, S)
    looks = [p for p in scores if p.evidence.kind == "appearance"]
    assert [p.product_id for p in looks] == [product]
    best = _best(scores)
    assert max(best, key=best.get) == product and best[product] >= 0.5
    assert all(v < 0.5 for k, v in best.items() if k != product)


def test_a_twin_missing_from_the_catalog_scores_below_the_product_itself(goods_assets):
    catalog, frames = goods_assets
    real = _best(match_frame(frames["objects/colorful_sneaker/03.jpg"], catalog, S))["colorful_sneaker"]
    twin = _best(match_frame(frames["objects/shiny_sneaker/01.jpg"], catalog, S)).get("colorful_sneaker", 0.0)
    assert twin < S.match_accept and twin < real - 0.2
    pet = _best(match_frame(frames["distractors/dog/00.jpg"], catalog, S))
    assert all(v < 0.5 for v in pet.values())
