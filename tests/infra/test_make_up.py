"""`make up` twice in a row, then `make down` twice: idempotent, and `down` stops only what `up`
started. Runs an isolated stack (own DATA_ROOT, database, exchange, queue prefix and ports) so a
developer's running stack is left alone."""

import asyncio
import os
import re
import subprocess
import uuid
from pathlib import Path

import httpx
import psycopg

from common_py.devstack import postgres as pg
from common_py.devstack.services import SERVICES
from common_py.settings import CommonSettings
from common_py.testing import TEST_QUEUE_EXPIRES_MS, delete_test_topology

REPO = Path(__file__).resolve().parents[2]
OFFSET = 1000


def make(target: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", target], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


def supervisor_pids(data_root: Path) -> dict[str, str]:
    conf = data_root / "run" / "supervisord.conf"
    out = subprocess.run([str(REPO / ".venv/bin/supervisorctl"), "-c", str(conf), "status"],
                         capture_output=True, text=True).stdout
    return dict(re.findall(r"^(\S+)\s+RUNNING\s+pid (\d+)", out, re.M))


def answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
    except httpx.ConnectError:
        return False
    return True


def test_make_up_twice_then_down_twice(stack_env, tmp_path):
    dsn = pg.with_database(stack_env["POSTGRES_DSN"], f"pvm_makeup_{uuid.uuid4().hex[:8]}")
    data_root = tmp_path / "data"
    tag = uuid.uuid4().hex[:8]
    env = dict(os.environ, DATA_ROOT=str(data_root), POSTGRES_DSN=dsn, BUS_BROKER=stack_env["BUS_BROKER"],
               REDIS_URL=stack_env["REDIS_URL"], SERVICE_PORT_OFFSET=str(OFFSET),
               BUS_EXCHANGE=f"test.{tag}", BUS_QUEUE_PREFIX=f"t{tag}.", REPLICAS="",
               BUS_QUEUE_EXPIRES_MS=str(TEST_QUEUE_EXPIRES_MS),
               # `make up` also reads the repository's .env, which must not move or multiply these
               **{s.port_env: str(s.port) for s in SERVICES if s.port_env != "HTTP_PORT"})
    try:
        first = make("up", env)
        assert first.returncode == 0, first.stdout + first.stderr
        pids = supervisor_pids(data_root)
        assert set(pids) == {s.name for s in SERVICES}
        for spec in SERVICES:
            r = httpx.get(f"http://127.0.0.1:{spec.port + OFFSET}/readyz", timeout=5)
            assert r.status_code == 200, (spec.name, r.text)
        # the web UI is served, and its job calls reach this stack's orchestrator (ports moved by OFFSET)
        ui = f"http://127.0.0.1:{8080 + OFFSET}"
        assert 'id="app"' in httpx.get(ui + "/", timeout=5).text
        r = httpx.get(ui + "/orchestrator/jobs", timeout=10)
        assert r.status_code == 200 and r.json() == [], r.text  # this stack's own database: no jobs yet
        # and the matcher is given this stack's vector-index, not the default port's
        conf = (data_root / "run" / "supervisord.conf").read_text()
        matcher_env = conf.split("[program:matcher]", 1)[1].split("[program:", 1)[0]
        assert f'VECTOR_INDEX_URL="http://127.0.0.1:{8090 + OFFSET}"' in matcher_env
        with psycopg.connect(dsn) as conn:  # migrated
            assert conn.execute("SELECT to_regclass('public.jobs') IS NOT NULL").fetchone()[0]

        second = make("up", env)
        assert second.returncode == 0, second.stdout + second.stderr
        assert supervisor_pids(data_root) == pids, "a second `make up` must not restart anything"
        assert "already running" in second.stdout  # the infrastructure was found, not started

        down = make("down", env)
        assert down.returncode == 0, down.stderr
        assert "stopped: services" in down.stdout and "postgres" not in down.stdout
        for spec in SERVICES:
            assert not answers(f"http://127.0.0.1:{spec.port + OFFSET}/healthz"), \
                f"{spec.name} still answers after make down"
        assert pg.probe(dsn) is None, "make down stopped a Postgres it did not start"
        again = make("down", env)
        assert again.returncode == 0 and "nothing" in again.stdout
    finally:
        make("down", env)
        pg.drop_database(dsn)
        # the services' queues (x-expires would remove them in 15 min; a clean run leaves nothing)
        asyncio.run(delete_test_topology(CommonSettings(
            postgres_dsn=dsn, bus_broker=env["BUS_BROKER"], bus_exchange=env["BUS_EXCHANGE"],
            bus_queue_prefix=env["BUS_QUEUE_PREFIX"])))
