"""Bus bindings of media-ingestion."""

from handlers.search_request import on_search_request
from services.ingestion import MediaIngestion
from services.source_plan import build_source_planner


def register(rt) -> None:
    c = rt.settings
    ingestion = MediaIngestion(rt.bus.uow, rt.storage, build_source_planner(c), max_videos=c.max_videos_per_job,
                               kf_min=c.keyframes_min, kf_max=c.keyframes_max)
    # critical: without this request the job has no videos; if it dies, the job fails with why
    rt.bus.subscribe("videos.search.request", on_search_request(ingestion), prefetch=1, critical=True)
