"""The composition root every service shares: settings -> logs -> db pool -> bus -> handlers ->
HTTP (health, readiness, metrics, and the service's own API if it has one) -> run until SIGTERM.

A service's main.py builds its own objects in a `setup(runtime)` function and calls
`run_service(...)`; everything else (signals, graceful shutdown, the outbox relay, DLQ gauges)
happens here once.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import inspect
import logging
import signal
import socket
from typing import Any, Awaitable, Callable

import uvicorn
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from common_py import api_errors
from common_py.bus import EventBus
from common_py.db import create_pool
from common_py.logs import configure_logging
from common_py.settings import CommonSettings
from common_py.storage import Storage

log = logging.getLogger("common_py.runtime")

ReadyCheck = Callable[[], Awaitable[bool | str] | bool | str]


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside our loop: the runtime owns the signals, not uvicorn."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


class ServiceRuntime:
    def __init__(self, name: str, settings: CommonSettings, *, app: FastAPI | None = None,
                 use_db: bool = True, use_bus: bool = True):
        self.name = name
        self.settings = settings
        self.storage = Storage(settings.data_root)
        self.app = app or FastAPI(title=name, docs_url=None, redoc_url=None)
        self.use_db = use_db
        self.use_bus = use_bus
        self.pool = None
        self.bus: EventBus | None = None
        self.port: int | None = None
        self._ready_checks: dict[str, tuple[ReadyCheck, bool]] = {}
        self._periodic: list[tuple[str, float, Callable[[], Awaitable[Any]]]] = []
        self._on_stop: list[Callable[[], Awaitable[Any]]] = []
        self._tasks: list[asyncio.Task] = []
        self._server: _EmbeddedServer | None = None
        self._stop = asyncio.Event()
        self._install_routes()

    # -- composition hooks --------------------------------------------------------------------
    def add_ready_check(self, name: str, check: ReadyCheck, required: bool = True) -> None:
        """`check` returns True when ready, or a string saying why not. A check that is not
        `required` is reported by /readyz but does not make the service unready (a cache the
        service can answer without, say)."""
        self._ready_checks[name] = (check, required)

    def on_stop(self, fn: Callable[[], Awaitable[Any]]) -> None:
        """Run `fn` at shutdown, after the last handler finished (close clients, flush)."""
        self._on_stop.append(fn)

    def every(self, seconds: float, name: str, fn: Callable[[], Awaitable[Any]]) -> None:
        """Run `fn` periodically in the background; its errors are logged, never fatal."""
        self._periodic.append((name, seconds, fn))

    # -- HTTP -----------------------------------------------------------------------------------
    def _install_routes(self) -> None:
        app = self.app
        api_errors.install(app)  # bad input is a 4xx with a JSON body, never a 500

        @app.get("/healthz", tags=["ops"], summary="The process is alive")
        async def healthz() -> dict:
            return {"status": "alive", "service": self.name}

        @app.get("/readyz", tags=["ops"], summary="Broker, database and models are ready")
        async def readyz(response: Response) -> dict:
            checks = await self.readiness()
            optional = {name for name, (_, required) in self._ready_checks.items() if not required}
            ok = all(v == "ok" for name, v in checks.items() if name not in optional)
            response.status_code = 200 if ok else 503
            return {"status": "ready" if ok else "not ready", "service": self.name, "checks": checks}

        @app.get("/metrics", tags=["ops"], summary="Prometheus metrics")
        async def metrics_endpoint() -> Response:
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        if self.use_db:
            try:
                await asyncio.wait_for(self.pool.fetchval("SELECT 1"), 2) if self.pool else None
                checks["db"] = "ok" if self.pool else "not connected"
            except Exception as exc:  # noqa: BLE001
                checks["db"] = f"error: {exc}"
        if self.use_bus:
            checks["broker"] = "ok" if self.bus is not None and self.bus.connected else "not connected"
        for name, (check, _) in self._ready_checks.items():
            try:
                result = check()
                if inspect.isawaitable(result):
                    result = await result
                checks[name] = "ok" if result is True else str(result or "not ready")
            except Exception as exc:  # noqa: BLE001
                checks[name] = f"error: {exc}"
        return checks

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self, setup: Callable[["ServiceRuntime"], Any] | None = None) -> None:
        s = self.settings
        if self.use_db:
            self.pool = await create_pool(s.postgres_dsn, s.db_pool_min, s.db_pool_max)
        if self.use_bus:
            self.bus = EventBus(s, self.name, self.pool)
            await self.bus.connect()
        if setup is not None:
            result = setup(self)
            if inspect.isawaitable(result):
                await result
        if self.bus is not None:
            await self.bus.start()
            if self.pool is not None:
                self.every(s.outbox_relay_interval_s, "outbox-relay", self.bus.relay_outbox_once)
            if self.bus.subscriptions:
                self.every(15, "dlq-depth", self.bus.dlq_depths)
        await self._start_http()
        for name, seconds, fn in self._periodic:
            self._tasks.append(asyncio.create_task(self._loop(name, seconds, fn), name=name))
        log.info("%s started: http port %s, %d subscription(s)", self.name, self.port,
                 len(self.bus.subscriptions) if self.bus else 0)

    async def _start_http(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.settings.http_host, self.settings.http_port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_config=None, lifespan="off", access_log=False)
        self._server = _EmbeddedServer(config)
        self._tasks.append(asyncio.create_task(self._server.serve(sockets=[sock]), name="http"))
        while not self._server.started:
            await asyncio.sleep(0.01)

    async def _loop(self, name: str, seconds: float, fn: Callable[[], Awaitable[Any]]) -> None:
        while not self._stop.is_set():
            try:
                await fn()
            except Exception as exc:  # noqa: BLE001
                log.warning("periodic task %s failed: %s", name, exc)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), seconds)

    def request_stop(self) -> None:
        self._stop.set()

    async def wait(self) -> None:
        await self._stop.wait()

    async def stop(self) -> None:
        """SIGTERM: stop consuming, finish in-flight handlers, then close everything."""
        self._stop.set()
        if self.bus is not None:
            await self.bus.stop()
        if self._server is not None:
            self._server.should_exit = True
        for task in self._tasks:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
        for fn in self._on_stop:
            try:
                await fn()
            except Exception as exc:  # noqa: BLE001 - shutting down regardless
                log.warning("shutdown hook failed: %s", exc)
        if self.pool is not None:
            await self.pool.close()
        log.info("%s stopped", self.name)


def run_service(name: str, settings: CommonSettings, setup: Callable[[ServiceRuntime], Any] | None = None,
                *, app: FastAPI | None = None, use_db: bool = True, use_bus: bool = True) -> None:
    configure_logging(name, settings.log_level)
    # `kill -USR1 <pid>` writes every thread's Python stack to stderr: what a process that does
    # not answer SIGTERM is stuck on (the tests send it before they give up and kill -9)
    faulthandler.register(signal.SIGUSR1, all_threads=True)

    async def main() -> None:
        runtime = ServiceRuntime(name, settings, app=app, use_db=use_db, use_bus=use_bus)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runtime.request_stop)
        try:
            await runtime.start(setup)
            await runtime.wait()
        finally:
            await runtime.stop()

    asyncio.run(main())
