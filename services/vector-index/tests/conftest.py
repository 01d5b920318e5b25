"""Tests of this service import its modules (handlers, services, config_loader) as the service
itself does: with the service folder first on sys.path.

Fixtures: `vector_index`, one real service process per test module (started once: booting is
the slow part, and the tests only read); `clean_pool`, the test database emptied of assets."""

from pathlib import Path

import pytest
import pytest_asyncio

from common_py.testing import use_service_modules

use_service_modules(Path(__file__).resolve().parents[1])
import services  # noqa: E402,F401

from common_py.settings import CommonSettings  # noqa: E402
from common_py.testing import ServiceProcess, service_env  # noqa: E402


@pytest.fixture(scope="module")
def vector_index(stack_env, pg_dsn, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vector-index")
    settings = CommonSettings(postgres_dsn=pg_dsn, bus_broker=stack_env["BUS_BROKER"],
                              redis_url=stack_env["REDIS_URL"], data_root=tmp)
    # a small SEARCH_K_MAX so the limit's 422 is testable without huge k
    proc = ServiceProcess("vector-index", service_env(settings, SEARCH_K_MAX="50", SEARCH_MAX_FRAMES="8"),
                          tmp / "vector-index.log")
    try:
        proc.wait_ready()
        yield proc
    finally:
        assert proc.stop() == 0, proc.log_text()[-3000:]


@pytest_asyncio.fixture
async def clean_pool(db_pool):
    """The test database with no jobs, products or videos (each test seeds its own)."""
    await db_pool.execute("TRUNCATE jobs, products, videos CASCADE")
    return db_pool


class Seeder:
    """Rows the tests insert: products with images, videos with frames, jobs with products."""

    def __init__(self, pool):
        self.pool = pool

    async def images(self, rows) -> None:
        """rows: (img_id, product_id, emb_rgb, emb_gray); products are created as needed."""
        products = sorted({r[1] for r in rows})
        await self.pool.executemany(
            "INSERT INTO products (product_id, src, asin_or_itemid, title) VALUES ($1, 'local', $1, $1) "
            "ON CONFLICT DO NOTHING", [(p,) for p in products])
        await self.pool.executemany(
            "INSERT INTO product_images (img_id, product_id, local_path, emb_rgb, emb_gray) "
            "VALUES ($1, $2, 'products/' || $2 || '/' || $1 || '.jpg', $3, $4)", rows)

    async def frames(self, video_id: str, rows, model: str = "test-model") -> None:
        """rows: (frame_id, ts, emb_rgb, emb_gray); ``model`` is their emb_model."""
        await self.pool.execute("INSERT INTO videos (video_id, platform, url) VALUES ($1, 'youtube', $1) "
                                "ON CONFLICT DO NOTHING", video_id)
        await self.pool.executemany(
            "INSERT INTO video_frames (frame_id, video_id, ts, local_path, emb_rgb, emb_gray, emb_model) "
            "VALUES ($1, $2, $3, 'videos/x.jpg', $4, $5, $6)",
            [(f, video_id, ts, r, g, model if r is not None else None) for f, ts, r, g in rows])

    async def job(self, job_id: str, product_ids) -> None:
        await self.pool.execute("INSERT INTO jobs (job_id, industry) VALUES ($1, 'test')", job_id)
        await self.pool.executemany("INSERT INTO job_products (job_id, product_id) VALUES ($1, $2)",
                                    [(job_id, p) for p in product_ids])


@pytest_asyncio.fixture
async def seed(clean_pool) -> Seeder:
    return Seeder(clean_pool)
