"""pytest plugin: real infrastructure for tests (registered by the repository's conftest.py).

- `stack_env` (session): the local infrastructure, brought up exactly like `make up` does.
- `pg_dsn` (session): a fresh database on that Postgres, migrated to head, dropped at the end.
- `db_pool`: an asyncpg pool on it (pgvector codec registered).
- `bus_settings`: CommonSettings isolated per test (own exchange and queue prefix, fast retries);
  the test's queues and exchange are deleted afterwards.
- `data_root`: an empty DATA_ROOT.
"""

from __future__ import annotations

import os
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


@pytest.fixture(scope="session")
def pg_dsn(stack_env) -> str:
    dsn = pg.with_database(stack_env["POSTGRES_DSN"], f"pvm_test_{uuid.uuid4().hex[:10]}")
    pg.ensure_database(dsn)
    upgrade(dsn)
    yield dsn
    pg.drop_database(dsn)


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


@pytest_asyncio.fixture
async def bus_settings(stack_env, pg_dsn, data_root) -> CommonSettings:
    tag = uuid.uuid4().hex[:8]
    settings = CommonSettings(
        postgres_dsn=pg_dsn, bus_broker=stack_env["BUS_BROKER"], redis_url=stack_env["REDIS_URL"],
        bus_exchange=f"test.{tag}", bus_queue_prefix=f"t{tag}.", bus_retry_base_ms=50,
        bus_shutdown_grace_s=10, data_root=data_root, outbox_relay_interval_s=0.2)
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
    conn = await aio_pika.connect(settings.bus_broker)
    try:
        channel = await conn.channel()
        for name in queues:
            await channel.queue_delete(name)
        await channel.exchange_delete(settings.bus_exchange)
    finally:
        await conn.close()
