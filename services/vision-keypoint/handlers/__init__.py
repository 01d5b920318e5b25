"""Bus bindings of vision-keypoint: the shared per-asset stage with the keypoint computation."""

from common_py.asset_stage import AssetStage
from services.keypoints import KeypointStage


def register(rt) -> None:
    c = rt.settings
    work = KeypointStage(rt.storage, c.vision)
    stage = AssetStage("keypoints", rt.bus.uow, compute=work.compute, persist=work.persist, is_done=work.is_done,
                       watermark_s=c.segment_watermark_s, batch_size=c.batch_size, batch_window_s=c.batch_window_s)
    stage.subscribe(rt.bus, prefetch=c.consume_prefetch)
    rt.every(c.sweep_interval_s, "watermark-sweep", stage.sweep)
