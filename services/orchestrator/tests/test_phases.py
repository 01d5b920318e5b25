"""The phase table, as a pure function: order independence and barriers."""

import itertools

from services.phases import BARRIERS, advance, waiting_for

ALL = [k for needed, _ in BARRIERS.values() for k in sorted(needed)]


def run(order):
    phase, received, trail = "collection", set(), []
    for name in order:
        received.add(name)
        entered = advance(phase, received)
        trail += entered
        if entered:
            phase = entered[-1]
    return phase, trail


def test_every_arrival_order_ends_completed_through_every_phase():
    for order in itertools.permutations(ALL[:4] + ALL[6:]):  # 6 of the 8: 720 orders, both barriers mixed
        full = list(order) + [k for k in ALL if k not in order]
        phase, trail = run(full)
        assert phase == "completed"
        assert trail == ["feature_extraction", "matching", "evidence", "completed"]


def test_feature_barrier_needs_all_four():
    received = {"products.collections.completed", "videos.collections.completed",
                "image.embeddings.completed", "video.embeddings.completed", "image.keypoints.completed"}
    assert advance("collection", received) == ["feature_extraction"]
    assert waiting_for("feature_extraction", received) == ["video.keypoints.completed"]
    assert advance("feature_extraction", received | {"video.keypoints.completed"}) == ["matching"]


def test_late_events_do_not_skip_barriers():
    # evidence done before matching is impossible in practice, but must not jump phases
    assert advance("collection", {"evidences.generation.completed", "matchings.process.completed"}) == []
    assert advance("completed", set(ALL)) == [] and advance("failed", set(ALL)) == []
