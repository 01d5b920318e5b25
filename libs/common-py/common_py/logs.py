"""JSON logs carrying service, job_id, event_id and, on errors, an error code and whether it is
retryable (SPEC §10). The ids come from context variables set by the bus around each handler, so
handler code just calls ``log.info(...)``."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
from typing import Iterator

from pythonjsonlogger.json import JsonFormatter

_job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)
_event_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("event_id", default=None)
_service = "unknown"


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.service = _service
        record.__dict__.pop("color_message", None)  # uvicorn's ANSI-coloured duplicate of message
        if not hasattr(record, "job_id"):
            record.job_id = _job_id.get()
        if not hasattr(record, "event_id"):
            record.event_id = _event_id.get()
        code = getattr(record, "error_code", None)
        if code is not None and not hasattr(record, "retryable"):
            record.retryable = getattr(code, "retryable", None)
        if code is not None:
            record.error_code = getattr(code, "value", code)
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    """One JSON object per line on stderr; idempotent."""
    global _service
    _service = service
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}{service}{job_id}{event_id}",
            style="{",
            rename_fields={"levelname": "level", "asctime": "ts", "name": "logger"},
        )
    )
    handler.addFilter(_ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # a library that gave these loggers a console handler of its own (Prefect does) would print
    # their records, tracebacks of HTTP 500s among them, outside the JSON stream
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "fastapi"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # aiormq/aio_pika are chatty at INFO about reconnects; keep warnings.
    for noisy in ("aiormq", "aio_pika", "httpx", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextlib.contextmanager
def log_context(job_id: str | None = None, event_id: str | None = None) -> Iterator[None]:
    tokens = []
    if job_id is not None:
        tokens.append((_job_id, _job_id.set(job_id)))
    if event_id is not None:
        tokens.append((_event_id, _event_id.set(event_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
