"""Bus bindings of evidence-builder."""

from handlers.evidence_events import on_match_result, on_matching_completed
from services.evidence import EvidenceRenderer


def register(rt) -> None:
    c = rt.settings
    renderer = EvidenceRenderer(rt.pool, rt.storage, c.matching)
    rt.bus.subscribe("match.result", on_match_result(renderer), prefetch=c.consume_prefetch)
    rt.bus.subscribe("matchings.process.completed", on_matching_completed, critical=True)
