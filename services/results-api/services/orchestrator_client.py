"""Forwards the web UI's job calls (start a job, list jobs, a job's status) to the orchestrator.

The UI is served by this API, so the browser talks to one origin and one port: nothing else needs to
be reachable from the analyst's laptop, and no CORS is needed. The orchestrator stays the owner of
those calls: the request goes through unchanged, with the caller's X-API-Key, and its answer
(status and JSON body, a 401 or 422 included) comes back unchanged. When the orchestrator does not
answer, the caller gets 502 with a message saying so, which the UI shows as it is.
"""

from __future__ import annotations

import logging

import httpx
from fastapi import Response
from fastapi.responses import JSONResponse

log = logging.getLogger("results-api.orchestrator")

FORWARDED_HEADERS = ("x-api-key", "content-type")


class OrchestratorClient:
    def __init__(self, base_url: str, timeout_s: float):
        self.base_url = base_url.rstrip("/")
        self.client = httpx.AsyncClient(base_url=self.base_url, timeout=timeout_s)

    async def forward(self, method: str, path: str, headers, *, params=None, body: bytes | None = None) -> Response:
        sent = {k: v for k, v in headers.items() if k.lower() in FORWARDED_HEADERS}
        try:
            r = await self.client.request(method, path, params=params, content=body, headers=sent)
        except httpx.HTTPError as exc:
            why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            log.warning("orchestrator %s %s%s failed: %s", method, self.base_url, path, why)
            return JSONResponse({"detail": f"the orchestrator at {self.base_url} is not answering ({why}); "
                                           "is it running? (`make status` shows what runs)"}, status_code=502)
        return Response(r.content, status_code=r.status_code,
                        media_type=r.headers.get("content-type", "application/json"))

    async def close(self) -> None:
        await self.client.aclose()
