"""Bus bindings of catalog-collector."""

from handlers.collect_request import on_collect_request
from services.collector import CatalogCollector
from services.source_plan import build_source_planner


def register(rt) -> None:
    c = rt.settings
    collector = CatalogCollector(rt.bus.uow, rt.storage, build_source_planner(c), max_side=c.image_max_side,
                                 per_product=c.images_per_product_max, dup_distance=c.phash_dup_max_distance)
    rt.bus.subscribe("products.collect.request", on_collect_request(collector), prefetch=2)
