"""Bus bindings of catalog-collector."""

from handlers.collect_request import on_collect_request
from services.collector import CatalogCollector
from services.source_plan import build_http, build_source_planner


def register(rt) -> None:
    c = rt.settings
    http = build_http(c)
    rt.on_stop(http.aclose)
    collector = CatalogCollector(rt.bus.uow, rt.storage, build_source_planner(c, http), max_side=c.image_max_side,
                                 per_product=c.images_per_product_max, dup_distance=c.phash_dup_max_distance)
    # critical: without this request the job has no products; if it dies, the job fails with why
    rt.bus.subscribe("products.collect.request", on_collect_request(collector), prefetch=2, critical=True)
