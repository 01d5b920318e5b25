"""Bus bindings of media-ingestion."""

from handlers.search_request import on_search_request
from services.first_pass import FirstPass
from services.ingestion import MediaIngestion
from vision_common.embedding import build_embedder
from services.source_plan import build_source_planner


def register(rt) -> None:
    c = rt.settings
    first_pass = FirstPass(rt.pool, rt.storage, lambda: build_embedder(c.vision),
                           min_sim=c.matching.first_pass_min_sim, wait_s=c.first_pass_wait_s,
                           region_crops=c.matching.retrieval_region_crops)
    ingestion = MediaIngestion(rt.bus.uow, rt.storage, build_source_planner(c), first_pass,
                               max_videos=c.max_videos_per_job, keyframes=c.keyframe_settings())
    # critical: without this request the job has no videos; if it dies, the job fails with why
    rt.bus.subscribe("videos.search.request", on_search_request(ingestion), prefetch=1, critical=True)
