"""An OAuth client-credentials token, asked for once and reused until shortly before it expires.

eBay and Amazon both hand out application tokens that live for an hour or two; asking for one per
request would double the calls and hit the token endpoints' own rate limits.
"""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable

from common_py.safe_http import HTTPStatusError

# (access_token, lifetime in seconds) from the provider's token endpoint
TokenFetcher = Callable[[], Awaitable[tuple[str, float]]]


class TokenCache:
    def __init__(self, fetch: TokenFetcher, *, margin_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self._fetch = fetch
        self._margin_s = margin_s  # renew this long before expiry: a token must not die in flight
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()  # concurrent callers share one refresh

    async def get(self) -> str:
        async with self._lock:
            if self._token is None or self._clock() >= self._expires_at - self._margin_s:
                token, lifetime = await self._fetch()
                self._token, self._expires_at = token, self._clock() + float(lifetime)
            return self._token

    def invalidate(self, token: str) -> None:
        """The API refused `token` (401): forget it, unless another caller already replaced it."""
        if self._token == token:
            self._token = None


async def with_token(cache: TokenCache, call: Callable[[str], Awaitable]):
    """`call(token)`; on a 401 the token is renewed and the call made once more (a token can be
    revoked or expire early on the provider's side), a second 401 is the caller's error."""
    token = await cache.get()
    try:
        return await call(token)
    except HTTPStatusError as exc:
        if exc.status != 401:
            raise
        cache.invalidate(token)
        return await call(await cache.get())
