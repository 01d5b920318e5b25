"""vector-index is HTTP only (embeddings are written straight into pgvector by vision-embedding),
so there are no bus bindings: `register` builds the search service the HTTP handlers use."""

import logging

from services.search import ScanSettings, VectorSearch

log = logging.getLogger("vector-index")


async def register(rt) -> None:
    config = rt.settings
    search = VectorSearch(rt.pool, ScanSettings(config.hnsw_ef_search, config.hnsw_max_scan_tuples))
    try:
        await search.load()
    except Exception as exc:  # noqa: BLE001 - an unmigrated database: readiness says so and retries
        log.warning("could not read the vector schema yet: %s", exc)
    rt.app.state.search = search
    rt.app.state.config = config
    rt.add_ready_check("index", search.readiness)
    log.info("vector dimension %s, pgvector %s", search.dimension, search.pgvector_version)
