"""Tests of this service import its modules (handlers, services, config_loader) as the service
itself does: with the service folder first on sys.path.

Fixtures: `results_api`, one real service process per test module with the cache off (the data
tests seed different rows under the same queries); `start_api`, a process of a test's own (cache
tests); `private_redis`, a redis-server of the test's own that it may stop and restart; `seed`,
the test database emptied and filled with a small known set of rows."""

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import pytest_asyncio

from common_py.testing import use_service_modules

use_service_modules(Path(__file__).resolve().parents[1])
import services  # noqa: E402,F401

from common_py.settings import CommonSettings  # noqa: E402
from common_py.testing import ServiceProcess, free_port, service_env  # noqa: E402


def _settings(stack_env, pg_dsn, data_root: Path) -> CommonSettings:
    return CommonSettings(postgres_dsn=pg_dsn, bus_broker=stack_env["BUS_BROKER"],
                          redis_url=stack_env["REDIS_URL"], data_root=data_root)


@pytest.fixture(scope="module")
def results_api(stack_env, pg_dsn, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("results-api")
    (tmp / "data").mkdir()
    proc = ServiceProcess("results-api", service_env(_settings(stack_env, pg_dsn, tmp / "data"),
                                                     RESULTS_CACHE_TTL_S="0"), tmp / "results-api.log")
    proc.data_root = tmp / "data"
    try:
        proc.wait_ready()
        yield proc
    finally:
        assert proc.stop() == 0, proc.log_text()[-3000:]


@pytest.fixture
def start_api(stack_env, pg_dsn, data_root, tmp_path):
    """start_api(REDIS_URL=..., RESULTS_CACHE_TTL_S=...) -> a ready results-api process over
    `data_root`; stopped after the test, which fails unless it exits cleanly."""
    started = []

    def _start(**extra: str) -> ServiceProcess:
        proc = ServiceProcess("results-api", service_env(_settings(stack_env, pg_dsn, data_root), **extra),
                              tmp_path / f"results-api-{len(started)}.log")
        proc.data_root = data_root
        started.append(proc)
        proc.wait_ready()
        return proc

    yield _start
    for proc in started:
        assert proc.stop() == 0, proc.log_text()[-3000:]


class PrivateRedis:
    """A redis-server this test owns (no persistence), so it can take Redis away mid-test."""

    def __init__(self, tmp: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.tmp = tmp
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        import redis

        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no", "--dir", str(self.tmp)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def private_redis(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (Debian/Ubuntu: apt-get install redis-server)")
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


# -- rows -----------------------------------------------------------------------------------------

JOBS = [("j-pillow", "Ergonomic Pillow"), ("j-pillow-2", "ERGONOMIC PILLOW"), ("j-lamp", "desk lamp")]
PRODUCTS = [  # product_id, src, title, brand, url
    ("p1", "amazon", "Contour memory foam pillow", "SleepCo", "https://example.com/p1"),
    ("p2", "ebay", "Cervical neck pillow", None, "https://example.com/p2"),
    ("p3", "amazon", "LED desk lamp", "Brightly", "https://example.com/p3"),
]
IMAGES = [("i1a", "p1"), ("i1b", "p1"), ("i2a", "p2"), ("i3a", "p3")]
VIDEOS = [("v1", "youtube", "https://youtube.com/watch?v=1", "Pillow review", 61.0),
          ("v2", "bilibili", "https://bilibili.com/video/2", "Desk setup", 120.5)]
FRAMES = [("f1a", "v1", 12.5), ("f1b", "v1", 3.0), ("f2a", "v2", 40.0)]
MATCHES = [  # match_id, job_id, product_id, video_id, best_img_id, best_frame_id, ts, score, evidence_path
    ("m1", "j-pillow", "p1", "v1", "i1a", "f1a", 12.5, 0.95, "evidence/m1.jpg"),
    ("m2", "j-pillow", "p2", "v2", "i2a", "f2a", 40.0, 0.83, None),
    ("m5", "j-pillow-2", "p1", "v2", "i1b", "f2a", 40.0, 0.90, None),
    ("m3", "j-lamp", "p3", "v1", "i3a", "f1b", 3.0, 0.88, "evidence/m3.jpg"),
    ("m4", "j-lamp", "p3", "v2", "i3a", "f2a", 40.0, 0.81, None),
]


@pytest_asyncio.fixture
async def seed(db_pool):
    await db_pool.execute("TRUNCATE jobs, products, videos CASCADE")
    await db_pool.executemany("INSERT INTO jobs (job_id, industry) VALUES ($1, $2)", JOBS)
    await db_pool.executemany(
        "INSERT INTO products (product_id, src, asin_or_itemid, title, brand, url, price, currency) "
        "VALUES ($1, $2, $1, $3, $4, $5, 19.99, 'USD')", PRODUCTS)
    await db_pool.executemany(
        "INSERT INTO product_images (img_id, product_id, local_path, emb_rgb) "
        "SELECT $1, $2, 'products/' || $2 || '/' || $1 || '.jpg', "
        "CASE WHEN $1 = 'i1a' THEN array_fill(0.5, ARRAY[atttypmod])::vector END "
        "FROM pg_attribute WHERE attrelid = 'product_images'::regclass AND attname = 'emb_rgb'", IMAGES)
    await db_pool.executemany(
        "INSERT INTO videos (video_id, platform, url, title, duration_s, published_at) "
        "VALUES ($1, $2, $3, $4, $5, '2026-06-01T12:00:00Z')", VIDEOS)
    await db_pool.executemany(
        "INSERT INTO video_frames (frame_id, video_id, ts, local_path) "
        "VALUES ($1, $2, $3, 'videos/' || $2 || '/frames/' || $1 || '.jpg')", FRAMES)
    await insert_matches(db_pool, *MATCHES)
    return db_pool


@pytest.fixture
def add_matches(db_pool):
    """add_matches(row, ...) with rows shaped like MATCHES."""
    return lambda *rows: insert_matches(db_pool, *rows)


async def insert_matches(pool, *rows) -> None:
    await pool.executemany(
        "INSERT INTO matches (match_id, job_id, product_id, video_id, best_img_id, best_frame_id, ts, score, "
        "evidence_path, score_pair, consistency, coverage) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8, 2, 1)",
        rows)
