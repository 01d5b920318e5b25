"""The filtered HNSW path itself. On tables this small the planner rightly prefers an exact scan,
so these tests take the HNSW index the way a large catalog would (sequential scans and sorts
disabled for the session) and check, with EXPLAIN, that the service's SQL then scans the index
with the job filter inside the scan, re-sorts, and still returns k rows where a plain
(non-iterative) HNSW scan returns fewer."""

import json

import asyncpg
import numpy as np
import pytest
from pgvector.asyncpg import register_vector

from services.search import ScanSettings, VectorSearch, build_search_sql, configure_scan

K = 5
EF = 10  # the index's candidate list; the job's images are all beyond it


@pytest.fixture
async def index_pool(pg_dsn, clean_pool):
    pool = await asyncpg.create_pool(pg_dsn, min_size=1, max_size=2, init=register_vector,
                                     server_settings={"enable_seqscan": "off", "enable_sort": "off"})
    yield pool
    await pool.close()


@pytest.fixture
async def starving_job(seed, clean_pool):
    """60 images of other products close to q, the job's K images far from it."""
    dim = await clean_pool.fetchval("SELECT atttypmod FROM pg_attribute "
                                    "WHERE attrelid = 'product_images'::regclass AND attname = 'emb_rgb'")
    rng = np.random.default_rng(1)
    q = rng.standard_normal(dim).astype(np.float32)
    rows = [(f"near{i}", f"pn{i}", (q + 0.3 * rng.standard_normal(dim)).astype(np.float32)) for i in range(60)]
    rows += [(f"far{i}", f"pf{i}", (q + 3.0 * rng.standard_normal(dim)).astype(np.float32)) for i in range(K)]
    await seed.images([(i, p, v, v) for i, p, v in rows])
    await seed.job("job-far", [f"pf{i}" for i in range(K)])
    await clean_pool.execute("ANALYZE product_images; ANALYZE job_products")
    return q


def plan_nodes(plan: dict) -> list[dict]:
    nodes = [plan]
    for child in plan.get("Plans", []):
        nodes += plan_nodes(child)
    return nodes


async def test_filtered_query_scans_the_hnsw_index_iteratively_and_resorts(index_pool, starving_job):
    sql, params = build_search_sql({"rgb": starving_job}, "rgb", K, "job-far", None)
    async with index_pool.acquire() as conn, conn.transaction():
        await configure_scan(conn, ScanSettings(ef_search=EF), K)
        assert await conn.fetchval("SHOW hnsw.iterative_scan") == "relaxed_order"
        assert await conn.fetchval("SHOW hnsw.ef_search") == str(EF)
        raw = await conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, *params)
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    nodes = plan_nodes(plan)
    hnsw = [n for n in nodes if n.get("Index Name") == "product_images_emb_rgb_hnsw"]
    assert hnsw, f"the HNSW index was not used: {[n['Node Type'] for n in nodes]}"
    # the index handed over more rows than ef_search: the scan went on past its first candidates
    assert hnsw[0]["Actual Rows"] > EF
    assert plan["Node Type"] in ("Limit", "Sort") and any(n["Node Type"] == "Sort" for n in nodes)
    assert plan["Actual Rows"] == K


async def test_iterative_scan_returns_k_where_a_post_filter_starves(index_pool, starving_job):
    search = VectorSearch(index_pool, ScanSettings(ef_search=EF))
    await search.load()
    hits = await search.by_vector(starving_job.tolist(), K, "rgb", "job-far")
    assert sorted(h.img_id for h in hits) == [f"far{i}" for i in range(K)]
    sims = [h.similarity for h in hits]
    assert sims == sorted(sims, reverse=True)

    # control: the same SQL with the iterative scan off finds none of the job's images, so the
    # scenario above really is one where a naive filtered ANN query starves
    sql, params = build_search_sql({"rgb": starving_job}, "rgb", K, "job-far", None)
    async with index_pool.acquire() as conn, conn.transaction():
        await configure_scan(conn, ScanSettings(ef_search=EF), K)
        await conn.execute("SET LOCAL hnsw.iterative_scan = off")
        assert len(await conn.fetch(sql, *params)) < K


async def test_ef_search_is_raised_to_k_and_settings_stay_in_the_transaction(index_pool):
    async with index_pool.acquire() as conn:
        async with conn.transaction():
            await configure_scan(conn, ScanSettings(ef_search=EF, max_scan_tuples=5000), 3 * EF)
            assert await conn.fetchval("SHOW hnsw.ef_search") == str(3 * EF)
            assert await conn.fetchval("SHOW hnsw.max_scan_tuples") == "5000"
        # SET LOCAL semantics: the connection goes back to the pool with the server default ('off',
        # or '' while pgvector's library is not loaded in this session yet)
        assert await conn.fetchval("SHOW hnsw.iterative_scan") in ("off", "")
