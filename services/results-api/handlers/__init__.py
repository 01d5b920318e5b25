"""results-api is HTTP only (the read side: it consumes no events). `register` builds the read
model the HTTP handlers use."""

import logging

from common_py.api_access import install_api_access
from services.cache import ResultsCache
from services.orchestrator_client import OrchestratorClient
from services.read_model import ReadModel
from services.repository import Repository

log = logging.getLogger("results-api")


def register(rt) -> None:
    config = rt.settings
    install_api_access(rt.app, config, rt.name)  # API_KEYS, CORS_ORIGINS
    cache = ResultsCache(config.redis_url, config.results_cache_ttl_s, prefix=config.results_cache_prefix,
                         timeout_s=config.redis_timeout_s, retry_s=config.redis_retry_s)
    rt.app.state.read_model = ReadModel(Repository(rt.pool), cache, rt.storage)
    # Redis is reported ("ok", "off" or "degraded: ...") but never makes the API unready:
    # /results answers from Postgres when Redis is down (README, "Why Redis does not gate readiness").
    rt.add_ready_check("redis", cache.check, required=False)
    rt.on_stop(cache.close)
    rt.app.state.orchestrator = OrchestratorClient(config.orchestrator_url, config.orchestrator_timeout_s)
    rt.on_stop(rt.app.state.orchestrator.close)
    log.info("serving DATA_ROOT %s; /results cache %s; web UI at / (job calls forwarded to %s)", rt.storage.root,
             f"{config.results_cache_ttl_s}s in Redis" if cache.enabled else "off", config.orchestrator_url)
