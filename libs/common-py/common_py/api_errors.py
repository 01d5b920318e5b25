"""Bad HTTP input is a 4xx, never a 500 (SPEC §7, §10), for every service's FastAPI app.

The fault-injection suite (issue 16) found three ways a hostile request became a 500:
  * a value Postgres cannot store (a NUL byte in a path id or query value, an integer past
    bigint): the query failed inside the handler;
  * a non-finite number (`1e999`, `NaN`) or a lone surrogate in a JSON body: validation rejected
    it correctly, but the 422 body that quotes the input could not be written as JSON;
  * text with a NUL byte or a lone surrogate in a JSON body that passed validation and failed
    only when written (after the kickoff's retries).
`install(app)` answers the first two for every route; `StorableStr` refuses the third where a
body field is declared.
"""

from __future__ import annotations

import math
from typing import Annotated, Any
from urllib.parse import unquote_plus

import asyncpg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator


def unstorable(text: str) -> str | None:
    """Why Postgres text (UTF-8) cannot hold `text`, or None if it can."""
    if "\x00" in text:
        return "contains a NUL byte"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode text)"
    return None


def _check_storable(text: str) -> str:
    why = unstorable(text)
    if why:
        raise ValueError(f"text {why}")
    return text


# a str body field that can be written to Postgres as it is
StorableStr = Annotated[str, AfterValidator(_check_storable)]


def json_safe(value: Any) -> Any:
    """`value` with what strict JSON cannot carry made printable: non-finite floats as their
    name, lone surrogates escaped, bytes decoded."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8") if unstorable(value) else value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


class _RejectNulInUrl:
    """A NUL byte in the path or the query can name nothing that exists, and Postgres refuses it
    as a parameter: answer 400 before any route sees it."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            query = unquote_plus(scope.get("query_string", b"").decode("latin-1"))
            if "\x00" in scope.get("path", "") or "\x00" in query:
                response = JSONResponse({"detail": "the URL contains a NUL byte (%00), which no id or value "
                                                   "can hold"}, status_code=400)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse({"detail": json_safe(jsonable_encoder(exc.errors()))}, status_code=422)


async def _data_error(request: Request, exc: asyncpg.DataError) -> JSONResponse:
    # a value that got past validation but not into Postgres (out of range, bad text): the
    # request's fault, said plainly, never a 500 with a traceback
    return JSONResponse({"detail": f"a value in the request cannot be used: {exc}"}, status_code=422)


def install(app: FastAPI) -> None:
    app.add_middleware(_RejectNulInUrl)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(asyncpg.DataError, _data_error)
