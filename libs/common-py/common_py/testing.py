"""pytest plugin: real infrastructure for tests (registered by the repository's conftest.py).

- `stack_env` (session): the local infrastructure, brought up exactly like `make up` does.
- `pg_dsn` (session): a fresh database on that Postgres, migrated to head, dropped at the end.
- `db_pool`: an asyncpg pool on it (pgvector codec registered).
- `bus_settings`: CommonSettings isolated per test (own exchange and queue prefix, fast retries);
  the test's queues and exchange are deleted afterwards.
- `data_root`: an empty DATA_ROOT.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import uuid
from pathlib import Path

import aio_pika
import pytest
import pytest_asyncio

from common_py.db import create_pool
from common_py.devstack import postgres as pg
from common_py.devstack.migrate import upgrade
from common_py.devstack.stack import Stack, StackSettings
from common_py.settings import CommonSettings

REPO_ROOT = Path(__file__).resolve().parents[3]
# longer than any one test, so a queue only expires once its run is over (or was killed)
TEST_QUEUE_EXPIRES_MS = 15 * 60 * 1000


@pytest.fixture(scope="session")
def stack_env() -> dict[str, str]:
    settings = StackSettings(data_root=Path(os.environ.get("DATA_ROOT", REPO_ROOT / "data")))
    stack = Stack(settings)
    env = {
        "POSTGRES_DSN": stack.ensure_postgres(),
        "BUS_BROKER": stack.ensure_rabbitmq(),
        "REDIS_URL": stack.ensure_redis(),
    }
    stack.state.save()
    return env


@contextlib.contextmanager
def fresh_database(server_dsn: str):
    """A new database on that server, migrated to head; dropped afterwards."""
    dsn = pg.with_database(server_dsn, f"pvm_test_{uuid.uuid4().hex[:10]}")
    pg.ensure_database(dsn)
    upgrade(dsn)
    try:
        yield dsn
    finally:
        pg.drop_database(dsn)


@pytest.fixture(scope="session")
def pg_dsn(stack_env) -> str:
    with fresh_database(stack_env["POSTGRES_DSN"]) as dsn:
        yield dsn


@pytest_asyncio.fixture
async def db_pool(pg_dsn):
    pool = await create_pool(pg_dsn, 1, 5)
    yield pool
    await pool.close()


@pytest.fixture
def data_root(tmp_path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    return root


def isolated_settings(stack_env: dict[str, str], pg_dsn: str, data_root: Path) -> CommonSettings:
    """Settings of a test's own: its exchange and queue prefix, fast retries, queues that expire."""
    tag = uuid.uuid4().hex[:8]
    return CommonSettings(
        postgres_dsn=pg_dsn, bus_broker=stack_env["BUS_BROKER"], redis_url=stack_env["REDIS_URL"],
        bus_exchange=f"test.{tag}", bus_queue_prefix=f"t{tag}.", bus_retry_base_ms=50,
        bus_queue_expires_ms=TEST_QUEUE_EXPIRES_MS,
        bus_shutdown_grace_s=10, data_root=data_root, outbox_relay_interval_s=0.2)


@pytest_asyncio.fixture
async def bus_settings(stack_env, pg_dsn, data_root) -> CommonSettings:
    settings = isolated_settings(stack_env, pg_dsn, data_root)
    yield settings
    await delete_test_topology(settings)


async def delete_test_topology(settings: CommonSettings) -> None:
    """Remove the queues and exchange a test created (found through the management API when it
    is on, otherwise nothing to find: the per-test names keep runs apart anyway)."""
    import httpx

    from urllib.parse import urlsplit

    broker = urlsplit(settings.bus_broker)
    api = f"http://{broker.hostname}:15672/api/queues/%2F"
    try:
        async with httpx.AsyncClient(auth=(broker.username or "guest", broker.password or "guest"),
                                     timeout=5) as client:
            queues = [q["name"] for q in (await client.get(api)).json()
                      if q["name"].startswith(settings.bus_queue_prefix)]
    except Exception:  # noqa: BLE001 - no management API: nothing more to clean
        queues = []
    conn = await aio_pika.connect(settings.bus_broker, timeout=10)  # a dead broker fails the teardown, not hangs it
    try:
        channel = await conn.channel()
        for name in queues:
            await channel.queue_delete(name)
        await channel.exchange_delete(settings.bus_exchange)
    finally:
        await conn.close()


# -- real service processes ----------------------------------------------------------------------

def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _file_size_limit(limit: int):
    def apply() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


class ServiceProcess:
    """One service started as its own process (`python services/<name>/main.py`)."""

    def __init__(self, name: str, env: dict[str, str], log_path: Path, file_size_limit: int | None = None):
        """`file_size_limit`: the largest file (bytes) the process may write (RLIMIT_FSIZE), a
        disk that is full for this process only; Python then gets EFBIG instead of a signal."""
        import sys

        self.name = name
        self.port = int(env["HTTP_PORT"])
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, f"services/{name}/main.py"], cwd=REPO_ROOT, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     preexec_fn=_file_size_limit(file_size_limit) if file_size_limit else None)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 120.0) -> None:
        import time

        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.name} not ready after {timeout}s:\n{self.log_text()[-3000:]}")

    def stop(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                # what it is stuck on goes to its log (common_py.runtime registers SIGUSR1)
                self.proc.send_signal(signal.SIGUSR1)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(2)
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def service_env(settings: CommonSettings, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "POSTGRES_DSN": settings.postgres_dsn, "BUS_BROKER": settings.bus_broker,
        "REDIS_URL": settings.redis_url, "BUS_EXCHANGE": settings.bus_exchange,
        "BUS_QUEUE_PREFIX": settings.bus_queue_prefix, "BUS_RETRY_BASE_MS": str(settings.bus_retry_base_ms),
        "DATA_ROOT": str(settings.data_root), "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1",
        "OUTBOX_RELAY_INTERVAL_S": "1",
    })
    # one Prefect home for every test orchestrator: its temporary API starts ~40 % faster on a
    # database that already exists than on a fresh one in each test's DATA_ROOT
    env.setdefault("PREFECT_HOME", str(REPO_ROOT / "data" / "test-prefect"))
    if settings.bus_queue_expires_ms:
        env["BUS_QUEUE_EXPIRES_MS"] = str(settings.bus_queue_expires_ms)
    env.update({k: str(v) for k, v in extra.items()})
    env.setdefault("HTTP_PORT", str(free_port()))
    return env


class ServiceStarter:
    """Starts service processes on `settings`, logs in `log_dir`; `stop_all()` sends each SIGTERM
    and returns the ones that did not exit cleanly."""

    def __init__(self, settings: CommonSettings, log_dir: Path):
        self.settings = settings
        self.log_dir = log_dir
        self.started: list[ServiceProcess] = []

    def __call__(self, name: str, wait: bool = True, file_size_limit: int | None = None,
                 **extra: str) -> ServiceProcess:
        """file_size_limit=N: the process can write no file over N bytes (a disk full for it alone)."""
        env = service_env(self.settings, **extra)
        proc = ServiceProcess(name, env, self.log_dir / f"{name}-{len(self.started)}.log", file_size_limit)
        self.started.append(proc)
        if wait:
            proc.wait_ready()
        return proc

    def stop_all(self) -> dict[str, int]:
        codes = {p.name: p.stop() for p in self.started}
        return {n: c for n, c in codes.items() if c != 0}


@pytest.fixture
def start_service(bus_settings, tmp_path):
    """start_service('matcher', EXTRA_ENV='x') -> a ready ServiceProcess; stopped (SIGTERM) after
    the test, which fails if the process did not exit cleanly."""
    starter = ServiceStarter(bus_settings, tmp_path)
    yield starter
    bad = starter.stop_all()
    assert not bad, f"services did not shut down cleanly on SIGTERM: {bad}"


def build_demo_dataset(out: Path, *args: str) -> Path:
    """The demo dataset (scripts/make_demo_dataset.py) at `out`; `args` as its command line takes."""
    import sys

    subprocess.run([sys.executable, str(REPO_ROOT / "scripts/make_demo_dataset.py"), str(out), *args],
                   check=True, capture_output=True)
    return out


# the ten services of SPEC §2, in the order a whole pipeline is started
PIPELINE = ["orchestrator", "results-api", "vector-index", "catalog-collector", "media-ingestion",
            "product-segmentor", "vision-embedding", "vision-keypoint", "matcher", "evidence-builder"]


def start_pipeline(start, dataset: Path, replicas: int = 1, env: dict[str, dict[str, str]] | None = None,
                   **common: str) -> dict[str, list[ServiceProcess]]:
    """Every service on a local dataset (`start` is start_service or a ServiceStarter), the
    matcher pointed at the vector-index and results-api at the orchestrator; `replicas` of
    embedding and keypoint; `env` adds per-service settings, `common` settings for all. Waits
    until every process is ready."""
    env = env or {}
    shared = {"LOCAL_DATASET_DIR": str(dataset), "SEGMENT_WATERMARK_S": "60", "SWEEP_INTERVAL_S": "0.5", **common}
    procs: dict[str, list[ServiceProcess]] = {}

    def launch(name: str) -> ServiceProcess:
        procs.setdefault(name, []).append(start(name, wait=False, **{**shared, **env.get(name, {})}))
        return procs[name][-1]

    shared["VECTOR_INDEX_URL"] = launch("vector-index").url
    shared["ORCHESTRATOR_URL"] = launch("orchestrator").url
    for name in PIPELINE:
        if name not in procs:
            for _ in range(replicas if name in ("vision-embedding", "vision-keypoint") else 1):
                launch(name)
    for group in procs.values():
        for p in group:
            p.wait_ready(timeout=240)
    return procs


async def existing_queues(broker: str, names: list[str]) -> set[str]:
    """Those of `names` that the broker has (a passive declare of each)."""
    conn = await aio_pika.connect(broker)
    found = set()
    try:
        for name in names:
            channel = await conn.channel()  # a failed passive declare closes its channel
            try:
                await channel.declare_queue(name, passive=True)
            except aio_pika.exceptions.ChannelClosed:
                continue  # not declared
            finally:
                if not channel.is_closed:
                    await channel.close()
            found.add(name)
    finally:
        await conn.close()
    return found


async def declared_queues(settings: CommonSettings, service: str, routing_keys: list[str]) -> dict[str, bool]:
    """For each routing key: are the service's queue, retry queue and DLQ all declared?"""
    names = {key: [base, base + ".retry", base + ".dlq"] for key in routing_keys
             for base in [f"{settings.bus_queue_prefix}{service}.{key}"]}
    found = await existing_queues(settings.bus_broker, [n for ns in names.values() for n in ns])
    return {key: set(ns) <= found for key, ns in names.items()}


async def check_service_boots(start_service, bus_settings, name: str, routing_keys: list[str]) -> "ServiceProcess":
    """The foundation contract of every service: it starts, connects, declares its queues, logs
    JSON, and answers /healthz, /readyz and /metrics."""
    import json as _json

    import httpx

    proc = start_service(name)
    async with httpx.AsyncClient(base_url=proc.url, timeout=5) as client:
        health = (await client.get("/healthz")).json()
        assert health == {"status": "alive", "service": name}
        ready = (await client.get("/readyz")).json()
        assert ready["status"] == "ready" and ready["checks"]["db"] == "ok", ready
        metrics = (await client.get("/metrics")).text
        assert "events_total" in metrics and "handler_seconds" in metrics
    assert await declared_queues(bus_settings, name, routing_keys) == {k: True for k in routing_keys}
    logs = [_json.loads(line) for line in proc.log_text().splitlines() if line.startswith("{")]
    assert any(e.get("service") == name and e["message"].startswith(f"{name} started") for e in logs), logs[-5:]
    return proc


class EventSink:
    """Stands in for downstream services: records every event of the given routing keys."""

    def __init__(self, settings: CommonSettings, pool, keys: list[str], name: str = "sink"):
        from common_py.bus import EventBus

        self.got: dict[str, list[dict]] = {k: [] for k in keys}
        self.bus = EventBus(settings, name, pool)
        for key in keys:
            self.bus.subscribe(key, self._record, require_job=False)

    async def _record(self, event, ctx) -> None:
        self.got[event.routing_key].append(event.payload)

    def for_job(self, key: str, job_id: str) -> list[dict]:
        return [p for p in self.got[key] if p["job_id"] == job_id]

    async def wait_for(self, key: str, job_id: str, count: int = 1, timeout: float = 60.0) -> list[dict]:
        """The job's `key` events once there are at least `count`.

        Each routing key reaches the sink through its own queue, so events written in one
        transaction (the last `.ready` and the `.completed`) may arrive in any order: wait for
        what is asserted on, not for the event that was emitted with it."""
        return await self.wait_until(key, job_id, lambda events: len(events) >= count, timeout,
                                     what=f"{count} event(s)")

    async def wait_until(self, key: str, job_id: str, done, timeout: float = 60.0,
                         what: str = "the condition") -> list[dict]:
        """The job's `key` events once `done(events)` holds (e.g. their frames add up to a count)."""
        import asyncio
        import time

        deadline = time.monotonic() + timeout
        while not done(self.for_job(key, job_id)):
            if time.monotonic() > deadline:
                raise AssertionError(f"{key} for {job_id}: {len(self.for_job(key, job_id))} event(s), "
                                     f"not {what}, after {timeout}s")
            await asyncio.sleep(0.05)
        return self.for_job(key, job_id)


@pytest_asyncio.fixture
async def event_sink(bus_settings, db_pool):
    """event_sink([...keys]) -> a started EventSink (queues declared before the test publishes)."""
    sinks: list[EventSink] = []

    async def _make(keys: list[str]) -> EventSink:
        sink = EventSink(bus_settings, db_pool, keys, name=f"sink{len(sinks)}")
        await sink.bus.start()
        sinks.append(sink)
        return sink

    yield _make
    for sink in sinks:
        await sink.bus.stop(grace_s=1)


async def create_job(pool, industry: str = "test", job_id: str | None = None) -> str:
    job_id = job_id or f"job-{uuid.uuid4().hex[:12]}"
    await pool.execute("INSERT INTO jobs (job_id, industry) VALUES ($1, $2) ON CONFLICT DO NOTHING", job_id, industry)
    return job_id


async def add_product_image(pool, data_root: Path, product_id: str, img_id: str, image) -> str:
    """A catalog image as collection leaves it: the file under DATA_ROOT (``image``, BGR) and the
    products / product_images rows. Returns its local_path."""
    import cv2

    rel = f"products/{product_id}/{img_id}.jpg"
    (data_root / rel).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(data_root / rel), image)
    await pool.execute("INSERT INTO products (product_id, src, asin_or_itemid) VALUES ($1, 'local', $1) "
                       "ON CONFLICT DO NOTHING", product_id)
    await pool.execute("INSERT INTO product_images (img_id, product_id, local_path) VALUES ($1, $2, $3) "
                       "ON CONFLICT DO NOTHING", img_id, product_id, rel)
    return rel


async def drain_dlq(settings: CommonSettings, service: str, routing_key: str, wait_s: float = 5.0) -> list:
    """Every message in the DLQ of (service, routing key), waiting up to wait_s for the first."""
    import asyncio

    conn = await aio_pika.connect(settings.bus_broker)
    out = []
    try:
        channel = await conn.channel()
        queue = await channel.declare_queue(f"{settings.bus_queue_prefix}{service}.{routing_key}.dlq", passive=True)
        deadline = asyncio.get_running_loop().time() + wait_s
        while True:
            msg = await queue.get(fail=False)
            if msg is not None:
                await msg.ack()
                out.append(msg)
                continue
            if out or asyncio.get_running_loop().time() > deadline:
                return out
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


def use_service_modules(service_dir: Path) -> None:
    """Make `handlers`, `services` and `config_loader` resolve to this service's own modules, as
    when it runs (`python services/<name>/main.py` puts its folder first on sys.path).

    pytest's importlib mode names test modules after their path (services.<name>.tests...), which
    registers the repository's services/ folder as a namespace package called `services` and hides
    the service's own `services` package; drop that placeholder."""
    import sys

    sys.path.insert(0, str(service_dir))
    placeholder = sys.modules.get("services")
    if placeholder is not None and getattr(placeholder, "__file__", None) is None:
        del sys.modules["services"]


@pytest.fixture
def no_network(monkeypatch):
    """No test reaches past this machine: a connection to any non-loopback address fails loudly.
    Suites that replay online sources make it autouse in their conftest."""
    import ipaddress
    import socket

    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def check(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = str(address[0]).split("%", 1)[0]
            if not ipaddress.ip_address(host).is_loopback:
                raise OSError(f"test tried to reach the network: {address}")

    monkeypatch.setattr(socket.socket, "connect", lambda s, a: (check(s, a), real_connect(s, a))[1])
    monkeypatch.setattr(socket.socket, "connect_ex", lambda s, a: (check(s, a), real_connect_ex(s, a))[1])
