"""Short-TTL Redis cache of GET /results answers.

A cache must never be the reason the API fails or slows down: every Redis call has a short
timeout and no retries, and after an error Redis is skipped for REDIS_RETRY_S (answers then come
from Postgres alone, marked `X-Cache: bypass`) instead of paying a timeout on every request.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time

import redis.asyncio as aioredis
from prometheus_client import Counter
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

log = logging.getLogger("results-api.cache")

CACHE_REQUESTS = Counter("results_cache_requests_total",
                         "GET /results answers by cache outcome (hit, miss, bypass, off)", ["outcome"])


class ResultsCache:
    def __init__(self, url: str, ttl_s: float, *, prefix: str = "results-api:", timeout_s: float = 0.25,
                 retry_s: float = 5.0):
        self.ttl_ms = int(ttl_s * 1000)
        self.prefix = prefix
        self.retry_s = retry_s
        self.client = aioredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                              retry=Retry(NoBackoff(), 0))
        self._down_until = 0.0
        self._last_error: str | None = None

    @property
    def enabled(self) -> bool:
        return self.ttl_ms > 0

    def key(self, query: dict) -> str:
        digest = hashlib.sha256(json.dumps(query, sort_keys=True).encode()).hexdigest()[:32]
        return f"{self.prefix}results:v1:{digest}"

    async def get(self, key: str) -> tuple[bytes | None, str]:
        """(cached body or None, outcome): hit, miss, bypass (Redis unavailable) or off."""
        if not self.enabled:
            return None, self._count("off")
        if time.monotonic() < self._down_until:
            return None, self._count("bypass")
        try:
            value = await self.client.get(key)
        except Exception as exc:  # noqa: BLE001 - any Redis failure degrades to "no cache"
            self._failed(exc)
            return None, self._count("bypass")
        return value, self._count("hit" if value is not None else "miss")

    async def put(self, key: str, body: bytes) -> None:
        if not self.enabled or time.monotonic() < self._down_until:
            return
        try:
            await self.client.set(key, body, px=self.ttl_ms)
        except Exception as exc:  # noqa: BLE001
            self._failed(exc)

    async def check(self) -> str:
        """For /readyz: "ok", "off", or "degraded: why" (never a reason to be unready)."""
        if not self.enabled:
            return "off"
        try:
            await self.client.ping()
        except Exception as exc:  # noqa: BLE001
            self._failed(exc)
            return f"degraded: {self._last_error}; answering without cache"
        self._down_until = 0.0  # it answers again: use it from the next request on
        return "ok"

    async def close(self) -> None:
        await self.client.aclose()

    def _failed(self, exc: Exception) -> None:
        message = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= self._down_until:  # log once per outage window, not per request
            log.warning("redis unavailable (%s); serving without cache for %.1fs", message, self.retry_s)
        self._last_error = message
        self._down_until = time.monotonic() + self.retry_s

    @staticmethod
    def _count(outcome: str) -> str:
        CACHE_REQUESTS.labels(outcome).inc()
        return outcome
