"""Bus bindings of the matcher."""

from services.matcher import Matcher
from services.retrieval import VectorIndexClient


def register(rt) -> None:
    c = rt.settings
    index = VectorIndexClient(c.vector_index_url, c.vector_index_timeout_s)
    rt.on_stop(index.close)
    matcher = Matcher(rt.pool, rt.storage, index, c.matching, c.match_workers)
    # one job at a time: matching a job already uses every core
    rt.bus.subscribe("match.request", matcher.handle, prefetch=1, critical=True)
