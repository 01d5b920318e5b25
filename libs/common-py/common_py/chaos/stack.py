"""The system a chaos run breaks: the ten services under supervisord (as `make up` runs them) over
a RabbitMQ node and a Postgres of the run's own, on the demo dataset plus a few broken files."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aio_pika
import httpx

from common_py.chaos.infra import PostgresNode, RabbitNode, port_is_free
from common_py.chaos.tap import Tap
from common_py.db import create_pool
from common_py.devstack.migrate import upgrade
from common_py.devstack.services import REPLICA_PORT_STEP, REPO_ROOT, SERVICES, Supervisor, plan
from common_py.devstack.stack import StackSettings

INDUSTRY = "breakfast"      # selects the demo dataset's products and clips
BAD_INDUSTRY = "chaosbad"   # selects only the broken entries added here
HTTP_TIMEOUT = httpx.Timeout(30.0, connect=5.0)

# settings the services run with (beside the addresses): the demo's watermark and sweep, a
# fast outbox relay so a broker outage heals in seconds; everything else is the default
SERVICE_SETTINGS = {"SEGMENT_WATERMARK_S": "60", "SWEEP_INTERVAL_S": "0.5", "OUTBOX_RELAY_INTERVAL_S": "1",
                    "LOG_LEVEL": "INFO", "BUS_EXCHANGE": "events", "BUS_QUEUE_PREFIX": "",
                    "PREFECT_HOME": str(REPO_ROOT / "data" / "chaos-prefect")}


@contextlib.contextmanager
def _environ(**values: str):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _port_offset() -> int:
    """An offset at which every service port (and two replicas' ports) is free."""
    for offset in range(20000, 50000, 250):
        ports = [s.port + offset + REPLICA_PORT_STEP * i for s in SERVICES for i in range(3)]
        if all(port_is_free(p) for p in ports):
            return offset
    raise RuntimeError("no free block of ports for the chaos stack")


def build_dataset(out: Path, videos: int) -> Path:
    """The demo dataset, plus products and clips only BAD_INDUSTRY selects: missing, empty,
    corrupt and 20000x20000 files."""
    from PIL import Image

    subprocess.run([sys.executable, str(REPO_ROOT / "scripts/make_demo_dataset.py"), str(out), "--videos",
                    str(videos)], check=True, capture_output=True)
    bad = out / "bad"
    bad.mkdir(exist_ok=True)
    (bad / "empty.jpg").write_bytes(b"")
    (bad / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg " * 50)
    if not (bad / "huge.png").exists():
        Image.new("1", (20000, 20000), 1).save(bad / "huge.png")  # ~90 KB, 1.2 GB once decoded
    (bad / "empty.mp4").write_bytes(b"")
    (bad / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4096))
    catalog = json.loads((out / "catalog.json").read_text())
    catalog["products"] = [p for p in catalog["products"] if BAD_INDUSTRY not in p["keywords"]]
    for name, images in (("missing", ["bad/missing.jpg"]), ("empty", ["bad/empty.jpg"]),
                         ("corrupt", ["bad/corrupt.jpg"]), ("huge", ["bad/huge.png"])):
        catalog["products"].append({"product_id": f"chaosbad-{name}", "src": "local", "title": f"Broken {name}",
                                    "keywords": [BAD_INDUSTRY], "images": images})
    (out / "catalog.json").write_text(json.dumps(catalog, indent=1))
    clips = json.loads((out / "videos.json").read_text())
    clips["videos"] = [v for v in clips["videos"] if BAD_INDUSTRY not in v["keywords"]]
    for name, path in (("missing", "bad/missing.mp4"), ("empty", "bad/empty.mp4"), ("corrupt", "bad/corrupt.mp4")):
        clips["videos"].append({"video_id": f"chaosbad-{name}", "platform": "local", "title": f"Broken clip {name}",
                                "keywords": [BAD_INDUSTRY], "path": path})
    (out / "videos.json").write_text(json.dumps(clips, indent=1))
    return out


class ChaosStack:
    def __init__(self, root: Path, videos: int = 8):
        self.root = root.resolve()
        self.tag = uuid.uuid4().hex[:6]
        self.data = self.root / "data"
        self.dataset_dir = self.root / "dataset"
        self.videos = videos
        self.rabbit = RabbitNode(self.root / "rabbit", self.tag)
        self.pg = PostgresNode(self.root / "pg")
        self.supervisor = Supervisor(self.data)
        self.offset = _port_offset()
        self.replicas: dict[str, int] = {}
        self.pool = None
        self.tap: Tap | None = None
        self.truth: set[tuple[str, str]] = set()

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def service_env(self) -> dict[str, str]:
        # the services that call another one are told where it is in this stack (as `make up` does)
        return {"DATA_ROOT": str(self.data), "POSTGRES_DSN": self.pg.dsn, "BUS_BROKER": self.rabbit.url,
                "REDIS_URL": StackSettings().redis_url, "LOCAL_DATASET_DIR": str(self.dataset_dir),
                "RESULTS_CACHE_PREFIX": f"chaos-{self.tag}:", "VECTOR_INDEX_URL": self.url("vector-index"),
                "ORCHESTRATOR_URL": self.url("orchestrator"), "API_KEYS": "", **SERVICE_SETTINGS}

    def _plan(self):
        ports = {s.port_env: str(s.port) for s in SERVICES if s.port_env != "HTTP_PORT"}
        with _environ(SERVICE_PORT_OFFSET=str(self.offset), LOCAL_DATASET_DIR=str(self.dataset_dir), **ports):
            return plan(self.replicas)

    async def start(self, log=print) -> None:
        started = time.monotonic()
        self.data.mkdir(parents=True, exist_ok=True)
        log(f"chaos stack in {self.root}: dataset, RabbitMQ node, Postgres, ten services (ports +{self.offset})")
        build_dataset(self.dataset_dir, self.videos)
        truth = json.loads((self.dataset_dir / "truth.json").read_text())["matches"]
        self.truth = {(m["product_id"], m["video_id"]) for m in truth}
        await asyncio.gather(asyncio.to_thread(self.rabbit.start), asyncio.to_thread(self.pg.start))
        await asyncio.to_thread(upgrade, self.pg.dsn)
        self.pool = await create_pool(self.pg.dsn, 1, 8)
        self.tap = Tap(self.rabbit.url)
        await self.tap.start()
        await self.apply_replicas({})
        log(f"chaos stack up in {time.monotonic() - started:.0f}s")

    async def apply_replicas(self, replicas: dict[str, int], timeout_s: float = 300) -> None:
        """(Re)start the services with these replica counts and wait for every /readyz."""
        self.replicas = dict(replicas)
        procs = self._plan()
        with _environ(SERVICE_PORT_OFFSET=str(self.offset)):
            await asyncio.to_thread(self.supervisor.start, procs, self.service_env)
        not_ready = await asyncio.to_thread(self.supervisor.wait_ready, procs, timeout_s)
        if not_ready:
            raise RuntimeError(f"services not ready: {not_ready}\n" +
                               "\n".join(self.supervisor.log_tail(n) for n in not_ready))

    async def stop(self) -> None:
        if self.tap is not None:
            with contextlib.suppress(Exception):
                await self.tap.stop()
        if self.pool is not None:
            await self.pool.close()
        await asyncio.to_thread(self.supervisor.stop)
        await asyncio.to_thread(self.rabbit.stop)
        await asyncio.to_thread(self.pg.stop)

    # -- processes ------------------------------------------------------------------------------
    def processes(self, service: str | None = None) -> dict[str, tuple[int, int]]:
        """supervisord program -> (pid, HTTP port) of the running ones, of one service or all."""
        ports = {p.name: p.port for p in self._plan()}
        out = self.supervisor.ctl("status").stdout
        found = {name: (int(pid), ports[name]) for name, pid in re.findall(r"^(\S+)\s+RUNNING\s+pid (\d+)", out, re.M)
                 if name in ports}
        if service is None:
            return found
        return {n: v for n, v in found.items() if n == service or n.rsplit("-", 1)[0] == service
                and n.rsplit("-", 1)[-1].isdigit()}

    def kill(self, program: str) -> int:
        """kill -9 of the program's whole process group (what an OOM kill or a lost node does)."""
        pid, _ = self.processes()[program]
        os.killpg(pid, signal.SIGKILL)
        return pid

    def pause(self, program: str, paused: bool = True) -> None:
        """SIGSTOP (or SIGCONT) the program's process group: frozen, it keeps what the broker has
        delivered to it, unacknowledged, and does nothing with it."""
        pid, _ = self.processes()[program]
        os.killpg(pid, signal.SIGSTOP if paused else signal.SIGCONT)

    async def wait_back(self, program: str, old_pid: int, timeout_s: float = 300) -> float:
        """Seconds until supervisord has the program running again, with a new pid, and ready."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            running = self.processes().get(program)
            if running and running[0] != old_pid and await self.ready(running[1]):
                return time.monotonic() - started
            await asyncio.sleep(0.3)
        raise RuntimeError(f"{program} did not come back within {timeout_s}s:\n{self.supervisor.log_tail(program)}")

    async def ready(self, port: int) -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                return (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    async def in_flight(self, port: int) -> float:
        """Events the process at `port` is handling right now (its handlers_in_flight gauge)."""
        try:
            async with httpx.AsyncClient(timeout=1) as client:
                text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        except httpx.HTTPError:
            return 0.0
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("handlers_in_flight{"))

    def url(self, service: str) -> str:
        spec = next(s for s in SERVICES if s.name == service)
        return f"http://127.0.0.1:{spec.port + self.offset}"

    def stop_program(self, program: str) -> None:
        self.supervisor.ctl("stop", program)

    def start_program(self, program: str) -> None:
        self.supervisor.ctl("start", program)

    def program_env(self, program: str) -> dict[str, str]:
        """The environment supervisord gives `program` (to run it by hand, under other limits)."""
        proc = next(p for p in self._plan() if p.name == program)
        return {**os.environ, **self.service_env, proc.service.port_env: str(proc.port),
                "HTTP_PORT": str(proc.port), "PYTHONUNBUFFERED": "1", "SERVICE_INSTANCE": program}

    def log_path(self, program: str) -> Path:
        return self.data / "logs" / f"{program}.log"

    # -- jobs -----------------------------------------------------------------------------------
    async def start_job(self, industry: str = INDUSTRY, timeout_s: float = 180) -> str:
        """POST /start-job, retried while the orchestrator is starting or restarting."""
        deadline = time.monotonic() + timeout_s
        body = {"industry": industry, "top_amz": 20, "top_ebay": 20}
        async with httpx.AsyncClient(base_url=self.url("orchestrator"), timeout=HTTP_TIMEOUT) as client:
            while True:
                try:
                    r = await client.post("/start-job", json=body)
                    if r.status_code == 200:
                        return r.json()["job_id"]
                    if r.status_code != 503:
                        raise RuntimeError(f"/start-job answered {r.status_code}: {r.text}")
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the orchestrator did not accept a job")
                await asyncio.sleep(0.5)

    async def status(self, job_id: str) -> dict | None:
        async with httpx.AsyncClient(base_url=self.url("orchestrator"), timeout=HTTP_TIMEOUT) as client:
            try:
                r = await client.get(f"/status/{job_id}")
            except httpx.TransportError:
                return None  # the orchestrator is down (an experiment killed it): ask again
        return r.json() if r.status_code == 200 else None

    async def wait_job(self, job_id: str, timeout_s: float = 900, until=None) -> dict:
        """The job's status once it is completed or failed (or `until(status)` holds)."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = await self.status(job_id)
            if status and (status["phase"] in ("completed", "failed") or (until and until(status))):
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {status and status['phase']} after {timeout_s}s")
            await asyncio.sleep(0.1 if until else 0.5)

    # -- caches: what makes a stage busy again ----------------------------------------------------
    async def forget(self, what: str) -> None:
        """Make the next job redo one stage's work: later jobs reuse images, keyframes, masks and
        features, so without this a repeated job keeps those stages idle."""
        if what == "images":
            for f in (self.data / "products").glob("*/*.jpg"):
                f.unlink()
        elif what == "frames":
            for f in (self.data / "videos").glob("*/frames/*.jpg"):
                f.unlink()
        elif what == "masks":
            shutil.rmtree(self.data / "masks", ignore_errors=True)
            for table in ("product_images", "video_frames"):
                await self.pool.execute(f"UPDATE {table} SET masked_local_path = NULL")
        elif what == "embeddings":
            for table in ("product_images", "video_frames"):
                await self.pool.execute(f"UPDATE {table} SET emb_rgb = NULL, emb_gray = NULL, emb_model = NULL")
        elif what == "keypoints":
            shutil.rmtree(self.data / "kp", ignore_errors=True)
            for table in ("product_images", "video_frames"):
                await self.pool.execute(f"UPDATE {table} SET kp_blob_path = NULL, kp_masked = NULL")
        else:
            raise ValueError(what)

    # -- the broker's view ----------------------------------------------------------------------
    async def _queues(self) -> list[dict]:
        async with httpx.AsyncClient(timeout=5, auth=("guest", "guest")) as client:
            return (await client.get(self.rabbit.api + "/queues/%2F")).json()

    async def queue_depths(self) -> dict[str, int]:
        return {q["name"]: int(q.get("messages") or 0) for q in await self._queues()}

    async def unacked(self, service: str) -> int:
        """Messages of `service`'s queues delivered to a consumer and not acknowledged yet (the
        management API's view, refreshed every few seconds)."""
        return sum(int(q.get("messages_unacknowledged") or 0) for q in await self._queues()
                   if q["name"].startswith(f"{service}."))

    async def drain_dlqs(self) -> list[tuple[str, dict, bytes]]:
        """Every dead letter now in any DLQ, as (queue, headers, body); the DLQs are left empty."""
        names = [n for n in await self.queue_depths() if n.endswith(".dlq")]
        out = []
        conn = await aio_pika.connect(self.rabbit.url)
        try:
            channel = await conn.channel()
            for name in names:
                queue = await channel.declare_queue(name, passive=True)
                while (msg := await queue.get(fail=False)) is not None:
                    out.append((name, dict(msg.headers or {}), msg.body))
                    await msg.ack()
        finally:
            await conn.close()
        return out

    async def publish_raw(self, routing_key: str, body: bytes, headers: dict | None = None) -> None:
        """Bytes on the exchange as a foreign or broken producer would send them (no validation)."""
        conn = await aio_pika.connect(self.rabbit.url)
        try:
            channel = await conn.channel(publisher_confirms=True)
            exchange = await channel.get_exchange("events")
            message = aio_pika.Message(body, headers=headers, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            await exchange.publish(message, routing_key=routing_key)
        finally:
            await conn.close()
