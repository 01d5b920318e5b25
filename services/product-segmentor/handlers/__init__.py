"""Bus bindings of product-segmentor."""

from handlers.segment_events import on_frames_ready, on_image_ready, pass_count
from services.segmentor import ProductSegmentor
from vision_common.segmentation import build_segmenter


def register(rt) -> None:
    c = rt.settings
    segmenter = build_segmenter(c.vision)  # loads the models once, at startup
    seg = ProductSegmentor(segmenter, rt.storage)
    rt.add_ready_check("model", lambda: True)
    prefetch = c.segment_prefetch
    rt.bus.subscribe("products.image.ready", on_image_ready(seg, rt.storage), prefetch=prefetch)
    rt.bus.subscribe("video.keyframes.ready", on_frames_ready(seg, rt.storage), prefetch=prefetch)
    rt.bus.subscribe("products.images.ready.batch", pass_count("products.images.masked.batch", "total_images"))
    rt.bus.subscribe("video.keyframes.ready.batch", pass_count("video.keyframes.masked.batch", "total_keyframes"))
