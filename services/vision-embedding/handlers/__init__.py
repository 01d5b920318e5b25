"""Bus bindings of vision-embedding: the shared per-asset stage with the embedding computation."""

from common_py.asset_stage import AssetStage
from common_py.db import vector_dimension
from services.embedding import EmbeddingStage
from vision_common.embedding import build_embedder


async def register(rt) -> None:
    c = rt.settings
    embedder = build_embedder(c.vision)  # loads the model once, at startup
    work = EmbeddingStage(embedder, rt.storage)
    stage = AssetStage("embeddings", rt.bus.uow, compute=work.compute, persist=work.persist, is_done=work.is_done,
                       watermark_s=c.segment_watermark_s, batch_size=c.vision.embed_batch_size,
                       batch_window_s=c.batch_window_s)
    stage.subscribe(rt.bus, prefetch=c.consume_prefetch)
    rt.every(c.sweep_interval_s, "watermark-sweep", stage.sweep)

    dim = await vector_dimension(rt.pool)
    model_ok = True if dim == embedder.dim else (
        f"{embedder.name} gives {embedder.dim}-d vectors but the columns are vector({dim}): "
        f"set EMBED_DIM={embedder.dim} and migrate a fresh database, or choose another EMBED_MODEL")
    rt.add_ready_check("model", lambda: model_ok)
