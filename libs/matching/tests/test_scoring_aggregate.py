import math

import numpy as np

from matching.aggregate import aggregate
from matching.retrieval import retrieve_topk
from matching.scoring import PairScore, calibrated, compete, quad_iou
from matching.settings import MatchSettings
from matching.verify import PairEvidence

S = MatchSettings()


def _ev(img, frame="f", quad=(0, 0, 100, 200), color=0.9, dense=0.9, inliers=80):
    x0, y0, x1, y1 = quad
    return PairEvidence(img, frame, sim_deep=0.7, inliers=inliers, sim_color=color, sim_dense=dense, sim_edge=0.9,
                        spread=0.4, verified=True,
                        quad=np.float32([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]), H=np.eye(3))


def test_overlapping_claims_compete_and_separate_ones_do_not():
    a = _ev("a", color=0.9)
    b = _ev("b", color=0.6, quad=(10, 5, 105, 210))  # same region, worse colour
    c = _ev("c", color=0.8, quad=(300, 0, 400, 200))  # another region
    out = {p.product_id: p for p in compete([("A", a), ("B", b), ("C", c)], S)}
    assert out["B"].score_pair == 0 and out["B"].suppressed_by == "A"
    assert out["A"].score_pair > 0 and out["C"].score_pair > 0
    assert out["A"].margin is not None and out["A"].margin > 0 and out["C"].margin is None


def test_images_of_one_product_do_not_suppress_each_other():
    out = compete([("A", _ev("a1")), ("A", _ev("a2", color=0.7))], S)
    assert all(p.score_pair > 0 for p in out)


def test_duel_decides_between_equal_evidence():
    a, b = _ev("a"), _ev("b")
    out = {p.product_id: p for p in compete([("A", a), ("B", b)], S, {("a", "b"): 0.1, ("b", "a"): 0.9})}
    assert out["A"].suppressed_by == "B" and out["B"].score_pair > 0


def test_colour_veto_keeps_the_region_but_scores_zero():
    # perfect print and keypoints, wrong colours: a twin that differs by its colour band
    twin = _ev("a", color=0.1, dense=1.0, inliers=200)
    sibling = _ev("b", color=0.05, dense=0.5, quad=(5, 5, 100, 200))
    out = {p.product_id: p for p in compete([("A", twin), ("B", sibling)], S)}
    assert out["A"].logit > out["B"].logit and out["A"].score_pair == 0
    assert out["B"].suppressed_by == "A" and out["B"].score_pair == 0
    [p] = compete([("A", _ev("a", color=0.1, dense=1.0, inliers=200))], S.model_copy(update=dict(color_veto_below=0.0)))
    assert p.score_pair > 0


def test_unverified_pairs_score_zero():
    ev = PairEvidence("x", "f", reason="too few inliers")
    [p] = compete([("X", ev)], S)
    assert p.score_pair == 0 and p.logit == -math.inf


def test_calibration_formula():
    # default (fitted) weights: more evidence, more confidence
    assert calibrated(2.0, None, S) > calibrated(0.0, None, S)
    assert calibrated(1.0, 0.2, S) > calibrated(0.0, 0.2, S)
    # the margin term and its cap, with explicit weights
    s = S.model_copy(update=dict(cal_bias=0.0, cal_logit=1.0, cal_margin=1.0, cal_alone=0.0, margin_cap=2.0))
    assert calibrated(0.0, 1.0, s) > calibrated(0.0, 0.1, s)
    assert calibrated(0.0, 2.0, s) == calibrated(0.0, 9.0, s)
    assert abs(calibrated(0.0, None, s) - 0.5) < 1e-9


def test_quad_iou():
    q = np.float32([[0, 0], [10, 0], [10, 10], [0, 10]])
    assert abs(quad_iou(q, q) - 1) < 1e-6
    assert quad_iou(q, q + 20) == 0
    assert abs(quad_iou(q, q + [5, 0]) - 50 / 150) < 1e-3


def _ps(pid, frame, score, img=None):
    return PairScore(img or f"{pid}-img", frame, pid, score, 0.0, None, None, PairEvidence("i", frame))


FRAMES = {"f1": ("v", 1.0), "f2": ("v", 2.5), "f3": ("v", 4.0)}


def test_aggregation_rules():
    s = S.model_copy(update=dict(match_pair_min=0.8, match_best_min=0.88, match_cons_min=2,
                                 match_strong_min=0.92, match_accept=0.8, match_bonus=0.02))
    two_good = aggregate([_ps("A", "f1", 0.89), _ps("A", "f2", 0.85)], FRAMES, s)
    assert [m.product_id for m in two_good] == ["A"] and two_good[0].consistency == 2
    assert two_good[0].best_frame_id == "f1" and two_good[0].ts == 1.0
    assert aggregate([_ps("B", "f1", 0.90)], FRAMES, s) == []  # one frame, not strong
    strong = aggregate([_ps("C", "f3", 0.95)], FRAMES, s)
    assert strong and strong[0].score == 0.95 and strong[0].ts == 4.0
    three = aggregate([_ps("D", f, 0.9) for f in FRAMES], FRAMES, s)
    assert abs(three[0].score - 0.92) < 1e-9  # consistency bonus
    cov = aggregate([_ps("E", "f1", 0.9, "e1"), _ps("E", "f2", 0.9, "e2")], FRAMES, s)
    assert cov[0].coverage == 2 and abs(cov[0].score - 0.92) < 1e-9
    rejected = aggregate([_ps("F", "f1", 0.5)], FRAMES, s, include_rejected=True)
    assert rejected and not rejected[0].accepted


def test_retrieve_topk_uses_the_max_of_rgb_and_gray():
    db_rgb = np.eye(4, dtype=np.float32)
    db_gray = np.eye(4, dtype=np.float32)[[1, 0, 3, 2]]
    q = np.float32([0.9, 0.1, 0.0, 0.0]) / np.hypot(0.9, 0.1)
    qg = np.float32([0, 0, 1, 0])  # gray view says: image 3
    top = retrieve_topk(q, qg, db_rgb, db_gray, k=2)[0]
    assert [i for i, _ in top] == [3, 0]  # gray says 3 (cos 1.0), rgb says 0 (0.99)
    assert len(retrieve_topk(q, qg, db_rgb, db_gray, k=10)[0]) == 4
    assert retrieve_topk(q, qg, np.zeros((0, 4)), np.zeros((0, 4)), k=3) == [[]]


def test_segments_merge_nearby_spans_in_time_order_with_their_best_frame():
    from matching.aggregate import FrameInfo, Segment

    s = S.model_copy(update=dict(segment_pair_min=0.5, segment_merge_gap_s=2.0))
    frames = {  # frame -> (video, ts, span it stands for)
        "a": FrameInfo("v", 11.0, 10.0, 14.0), "b": FrameInfo("v", 15.5, 14.0, 18.0),  # touching
        "c": FrameInfo("v", 19.2, 19.0, 21.0),  # 1 s after b's span: merged too
        "d": FrameInfo("v", 40.0, 39.0, 42.0),  # far: a segment of its own
        "e": FrameInfo("v", 60.0, 59.0, 61.0),  # scores below segment_pair_min: not seen there
        "f": FrameInfo("v", 80.0),  # no span recorded (an older keyframe): the instant itself
        "w": FrameInfo("w", 5.0, 4.0, 6.0),  # another video
    }
    pairs = [_ps("A", "d", 0.96), _ps("A", "b", 0.9), _ps("A", "a", 0.6), _ps("A", "c", 0.7),
             _ps("A", "e", 0.3), _ps("A", "f", 0.55), _ps("A", "b", 0.2, "A-img2"), _ps("A", "w", 0.95)]
    by_video = {m.video_id: m for m in aggregate(pairs, frames, s)}
    assert by_video["v"].segments == [Segment(10.0, 21.0, 15.5, 0.9), Segment(39.0, 42.0, 40.0, 0.96),
                                      Segment(80.0, 80.0, 80.0, 0.55)]
    assert by_video["v"].ts == 40.0  # ts stays the best frame of the whole video
    assert by_video["w"].segments == [Segment(4.0, 6.0, 5.0, 0.95)]
    # a rejected pair says nothing about where the product is
    [rejected] = aggregate([_ps("B", "a", 0.6)], frames, s, include_rejected=True)
    assert not rejected.accepted and rejected.segments == []
