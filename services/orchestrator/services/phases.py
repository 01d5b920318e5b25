"""The phase table of SPEC §4 as data, and the pure function that applies it.

Order-independent: `advance` looks only at the *set* of completion events received so far, so a
job moves as far as that set allows whatever order the events arrived in.
"""

from __future__ import annotations

PHASES = ["collection", "feature_extraction", "matching", "evidence", "completed"]
TERMINAL = {"completed", "failed"}

# phase -> (completion events it waits for, next phase)
BARRIERS: dict[str, tuple[frozenset[str], str]] = {
    "collection": (frozenset({"products.collections.completed", "videos.collections.completed"}),
                   "feature_extraction"),
    "feature_extraction": (frozenset({"image.embeddings.completed", "video.embeddings.completed",
                                      "image.keypoints.completed", "video.keypoints.completed"}),
                           "matching"),
    "matching": (frozenset({"matchings.process.completed"}), "evidence"),
    "evidence": (frozenset({"evidences.generation.completed"}), "completed"),
}


def advance(phase: str, received: set[str]) -> list[str]:
    """The phases a job enters, in order, given everything received so far ([] if it stays)."""
    entered = []
    while phase in BARRIERS:
        needed, nxt = BARRIERS[phase]
        if not needed <= received:
            break
        entered.append(nxt)
        phase = nxt
    return entered


def waiting_for(phase: str, received: set[str]) -> list[str]:
    if phase not in BARRIERS:
        return []
    return sorted(BARRIERS[phase][0] - received)
