"""Who may call a service's HTTP API: API keys (`X-API-Key`) and CORS, one implementation for the
orchestrator and results-api.

- `API_KEYS` empty: the API is open. That is meant for a machine where the API listens on loopback
  only (the `make up` default); bound anywhere else, the service logs a warning at start.
- `API_KEYS=k1,k2`: every request needs `X-API-Key: <one of them>`, except the paths that hold no
  data (health, readiness, metrics, the API docs, the web UI's static files). A refused request
  gets 401 and a JSON body saying what to send, never a stack trace. Several keys let a key be
  rotated without downtime (add the new one, move the callers, drop the old one).
- `CORS_ORIGINS`: the browser origins (`https://dash.example.com`) allowed to call the API from
  their own pages; empty allows none (the project's own UI is served by results-api itself, so it
  is same-origin and needs no CORS).

The key check is a plain ASGI middleware rather than a FastAPI dependency so that nothing can be
left unprotected by forgetting to declare it: paths are refused unless listed as public.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
from typing import Iterable

from fastapi import FastAPI
from pydantic import Field
from starlette.middleware.cors import CORSMiddleware

from common_py.settings import CommonSettings

log = logging.getLogger("common_py.api_access")

HEADER = "X-API-Key"
# paths that are served without a key: they show no data (the UI fetches its data with the key)
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc",
                          "/openapi.json", "/", "/favicon.ico"})
PUBLIC_PREFIXES = ("/ui/",)


class ApiAccessSettings(CommonSettings):
    """The settings of a service whose HTTP API is called from outside (orchestrator, results-api)."""

    api_keys: str = Field("", description="comma-separated keys accepted in the X-API-Key header; empty: the API "
                                          "is open (meant for an API bound to loopback only)")
    cors_origins: str = Field("", description="comma-separated browser origins (scheme://host[:port]) allowed to "
                                              "call the API cross-origin; `*` allows any; empty allows none")

    def api_key_list(self) -> list[str]:
        return _split(self.api_keys)

    def cors_origin_list(self) -> list[str]:
        return [o.rstrip("/") for o in _split(self.cors_origins)]


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost: it may resolve to anything


class ApiKeyMiddleware:
    """401 for any request outside the public paths that lacks a valid X-API-Key."""

    def __init__(self, app, keys: Iterable[str], public_paths=PUBLIC_PATHS, public_prefixes=PUBLIC_PREFIXES):
        self.app = app
        self.keys = [k.encode() for k in keys]
        self.public_paths = frozenset(public_paths)
        self.public_prefixes = tuple(public_prefixes)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self._public(scope["path"]):
            return await self.app(scope, receive, send)
        given = next((v for k, v in scope["headers"] if k == b"x-api-key"), None)
        if given is None:
            return await _unauthorized(send, f"this API needs a key: send it in the {HEADER} header "
                                             f"(the keys are set with API_KEYS on the server)")
        # compare with every key (constant time each), so the time taken says nothing about which
        if not any([hmac.compare_digest(given, key) for key in self.keys]):
            return await _unauthorized(send, f"the {HEADER} header does not hold a valid key")
        return await self.app(scope, receive, send)

    def _public(self, path: str) -> bool:
        return path in self.public_paths or path.startswith(self.public_prefixes)


async def _unauthorized(send, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": 401,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})


def install_api_access(app: FastAPI, settings: ApiAccessSettings, service: str) -> None:
    """Key check and CORS on `app`, from `settings`; warns when the API is open beyond loopback."""
    keys = settings.api_key_list()
    if keys:
        app.add_middleware(ApiKeyMiddleware, keys=keys)
        _document_the_key(app)
        log.info("%s: API keys required (%d configured, header %s)", service, len(keys), HEADER)
    elif not is_loopback(settings.http_host):
        log.warning("%s: API_KEYS is empty and the API listens on %s, not on loopback only: anyone who can "
                    "reach port %s can use it (and start jobs). Set API_KEYS.", service, settings.http_host,
                    settings.http_port or "(auto)")
    origins = settings.cors_origin_list()
    if origins:
        # added last, so it runs first: a preflight is answered before the key check (browsers send
        # no custom header on it) and a 401 still carries the CORS headers the page needs to read it
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"],
                           allow_headers=[HEADER, "Content-Type"], expose_headers=["X-Cache"], max_age=600)


def _document_the_key(app: FastAPI) -> None:
    """The OpenAPI schema names the key, so /docs has an "Authorize" button and sends it."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {}).setdefault("securitySchemes", {})["ApiKey"] = {
                "type": "apiKey", "in": "header", "name": HEADER,
                "description": "one of the keys set with API_KEYS on the server"}
            schema["security"] = [{"ApiKey": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi

