"""The HTTP API against the real service process and the real Postgres+pgvector, with rows these
tests insert; expected answers come from a numpy brute force over the same vectors."""

import httpx
import numpy as np
import pytest

K_MAX = 50  # SEARCH_K_MAX given to the service by conftest.py


@pytest.fixture
async def dim(clean_pool) -> int:
    return await clean_pool.fetchval("SELECT atttypmod FROM pg_attribute "
                                     "WHERE attrelid = 'product_images'::regclass AND attname = 'emb_rgb'")


@pytest.fixture
async def client(vector_index):
    async with httpx.AsyncClient(base_url=vector_index.url, timeout=30) as c:
        yield c


def cosine(q: np.ndarray, m: np.ndarray) -> np.ndarray:
    q64, m64 = q.astype(np.float64), m.astype(np.float64)
    return m64 @ q64 / (np.linalg.norm(m64, axis=1) * np.linalg.norm(q64))


def brute_force(q_rgb, q_gray, catalog: dict, k: int, space: str = "max", only=None, exclude=None):
    """catalog: img_id -> (product_id, rgb, gray). Returns [(img_id, similarity)] best first."""
    ids = [i for i, (p, _, _) in catalog.items() if i != exclude and (only is None or p in only)]
    rgb = cosine(q_rgb, np.stack([catalog[i][1] for i in ids])) if q_rgb is not None else None
    gray = cosine(q_gray, np.stack([catalog[i][2] for i in ids])) if q_gray is not None else None
    sim = {"rgb": rgb, "gray": gray}.get(space)
    if space == "max":
        sim = np.maximum(rgb, gray)
    order = np.argsort(-sim)[:k]
    return [(ids[j], float(sim[j])) for j in order]


def assert_same(results: list[dict], expected: list[tuple[str, float]]) -> None:
    got_sims = [r["similarity"] for r in results]
    assert [r["img_id"] for r in results] == [i for i, _ in expected], (results, expected)
    np.testing.assert_allclose(got_sims, [s for _, s in expected], atol=1e-5)
    assert got_sims == sorted(got_sims, reverse=True)


def no_near_ties(expected: list[tuple[str, float]]) -> bool:
    sims = [s for _, s in expected]
    return all(a - b > 1e-4 for a, b in zip(sims, sims[1:]))


def random_catalog(rng, dim: int, n_products: int, images_per_product: int = 2) -> dict:
    catalog = {}
    for p in range(n_products):
        for i in range(images_per_product):
            catalog[f"img{p}-{i}"] = (f"prod{p}", rng.standard_normal(dim).astype(np.float32),
                                      rng.standard_normal(dim).astype(np.float32))
    return catalog


async def seed_catalog(seed, catalog: dict) -> None:
    await seed.images([(i, p, r, g) for i, (p, r, g) in catalog.items()])


async def test_image_query_equals_numpy_brute_force_in_every_space(seed, client, dim):
    rng = np.random.default_rng(7)
    catalog = random_catalog(rng, dim, 40)
    # a few images near img0-0 in rgb or in gray, so the top of the list is not all noise
    _, q_rgb, q_gray = catalog["img0-0"]
    for n in range(6):
        p, _, _ = catalog[f"img{n + 1}-0"]
        catalog[f"img{n + 1}-0"] = (p, (q_rgb + (0.5 + 0.3 * n) * rng.standard_normal(dim)).astype(np.float32),
                                    (q_gray + (2.5 - 0.3 * n) * rng.standard_normal(dim)).astype(np.float32))
    await seed_catalog(seed, catalog)

    for space in ("max", "rgb", "gray"):
        expected = brute_force(q_rgb, q_gray, catalog, 10, space, exclude="img0-0")
        assert no_near_ties(expected)
        body = (await client.get("/search", params={"image_id": "img0-0", "k": 10, "space": space})).json()
        assert body["image_id"] == "img0-0" and body["reason"] is None and body["space"] == space
        assert_same(body["results"], expected)
        for r in body["results"]:  # both cosines are reported, and the ranking one is the right one
            _, rgb, gray = catalog[r["img_id"]]
            assert r["sim_rgb"] == pytest.approx(cosine(q_rgb, rgb[None])[0], abs=1e-5)
            assert r["sim_gray"] == pytest.approx(cosine(q_gray, gray[None])[0], abs=1e-5)
            assert r["product_id"] == catalog[r["img_id"]][0]
            want = {"max": max(r["sim_rgb"], r["sim_gray"]), "rgb": r["sim_rgb"], "gray": r["sim_gray"]}[space]
            assert r["similarity"] == pytest.approx(want)


async def test_max_takes_the_better_space_of_each_image(seed, client, dim):
    rng = np.random.default_rng(11)
    q_rgb, q_gray = rng.standard_normal(dim), rng.standard_normal(dim)
    noise = lambda: rng.standard_normal(dim)  # noqa: E731
    catalog = {
        # same product seen in colour but with another gray rendering, and the reverse
        "rgb-twin": ("p-rgb", (q_rgb + 0.2 * noise()).astype(np.float32), noise().astype(np.float32)),
        "gray-twin": ("p-gray", noise().astype(np.float32), (q_gray + 0.1 * noise()).astype(np.float32)),
        "both-meh": ("p-both", (q_rgb + 1.0 * noise()).astype(np.float32), (q_gray + 1.0 * noise()).astype(np.float32)),
        **{f"other{i}": (f"p-other{i}", noise().astype(np.float32), noise().astype(np.float32)) for i in range(20)},
    }
    await seed_catalog(seed, catalog)
    await seed.frames("v1", [("f1", 1.5, q_rgb.astype(np.float32), q_gray.astype(np.float32))])

    by_max = (await client.get("/search", params={"frame_id": "f1", "k": 3})).json()["results"]
    assert [r["img_id"] for r in by_max] == ["gray-twin", "rgb-twin", "both-meh"]
    assert by_max[0]["similarity"] == by_max[0]["sim_gray"] > by_max[0]["sim_rgb"]
    assert by_max[1]["similarity"] == by_max[1]["sim_rgb"] > by_max[1]["sim_gray"]
    by_rgb = (await client.get("/search", params={"frame_id": "f1", "k": 3, "space": "rgb"})).json()["results"]
    assert by_rgb[0]["img_id"] == "rgb-twin" and "gray-twin" not in [r["img_id"] for r in by_rgb]


async def test_job_filter_keeps_only_the_jobs_products(seed, client, dim):
    rng = np.random.default_rng(3)
    catalog = random_catalog(rng, dim, 30)
    await seed_catalog(seed, catalog)
    job_products = {f"prod{p}" for p in range(0, 30, 3)}
    await seed.job("job-a", sorted(job_products))
    q_rgb, q_gray = rng.standard_normal(dim).astype(np.float32), rng.standard_normal(dim).astype(np.float32)
    await seed.frames("v1", [("f1", 0.0, q_rgb, q_gray)])

    body = (await client.get("/search", params={"frame_id": "f1", "k": 8, "job_id": "job-a"})).json()
    expected = brute_force(q_rgb, q_gray, catalog, 8, only=job_products)
    assert no_near_ties(expected)
    assert_same(body["results"], expected)
    assert {r["product_id"] for r in body["results"]} <= job_products
    # the unfiltered query really differs (the filter did something)
    unfiltered = (await client.get("/search", params={"frame_id": "f1", "k": 8})).json()["results"]
    assert {r["product_id"] for r in unfiltered} - job_products


async def test_job_filter_is_not_starved_by_closer_vectors_of_other_jobs(seed, client, dim):
    """300 other-job images sit right next to the query, the job's 25 are far away: a post-filter
    on the index's first ef_search candidates would return none of them."""
    rng = np.random.default_rng(5)
    q = rng.standard_normal(dim).astype(np.float32)
    near = {f"near{i}": (f"pn{i}", (q + 0.3 * rng.standard_normal(dim)).astype(np.float32), None) for i in range(300)}
    far = {f"far{i}": (f"pf{i}", (q + 3.0 * rng.standard_normal(dim)).astype(np.float32), None) for i in range(25)}
    await seed.images([(i, p, r, r) for i, (p, r, _) in {**near, **far}.items()])
    await seed.job("job-far", [p for p, _, _ in far.values()])

    for k in (20, 25):
        body = (await client.post("/search", json={"vector": q.tolist(), "k": k, "job_id": "job-far"})).json()
        assert len(body["results"]) == k
        assert all(r["img_id"].startswith("far") for r in body["results"])
        expected = brute_force(q, None, {i: (p, r, r) for i, (p, r, _) in far.items()}, k, "rgb")
        assert_same(body["results"], expected)
    body = (await client.post("/search", json={"vector": q.tolist(), "k": 40, "job_id": "job-far"})).json()
    assert len(body["results"]) == 25  # all there are


async def test_vector_search_by_space_and_its_validation(seed, client, dim):
    rng = np.random.default_rng(9)
    catalog = random_catalog(rng, dim, 20, images_per_product=1)
    await seed_catalog(seed, catalog)
    q = rng.standard_normal(dim).astype(np.float32)
    for space in ("rgb", "gray"):
        r = await client.post("/search", json={"vector": q.tolist(), "k": 5, "space": space})
        assert r.status_code == 200, r.text
        expected = brute_force(q if space == "rgb" else None, q if space == "gray" else None, catalog, 5, space)
        assert_same(r.json()["results"], expected)
        other = "sim_gray" if space == "rgb" else "sim_rgb"
        assert all(h[other] is None for h in r.json()["results"])  # a raw vector lives in one space

    def detail(resp):
        assert resp.status_code == 422, resp.text
        return str(resp.json()["detail"])

    short = await client.post("/search", json={"vector": [1.0, 2.0, 3.0]})
    assert f"vector has 3 dimensions; the index holds {dim}-dimensional" in detail(short)
    assert "all zeros" in detail(await client.post("/search", json={"vector": [0.0] * dim}))
    assert "k must be at most 50" in detail(await client.post("/search", json={"vector": q.tolist(), "k": K_MAX + 1}))
    assert "greater than or equal to 1" in detail(await client.post("/search", json={"vector": q.tolist(), "k": 0}))
    assert "space" in detail(await client.post("/search", json={"vector": q.tolist(), "space": "max"}))
    r = await client.post("/search", json={"vector": q.tolist(), "job_id": "nope"})
    assert r.status_code == 404 and "no job with job_id 'nope'" in r.json()["detail"]


async def test_batch_frames_for_the_matcher(seed, client, dim):
    rng = np.random.default_rng(21)
    catalog = random_catalog(rng, dim, 25)
    await seed_catalog(seed, catalog)
    job_products = {f"prod{p}" for p in range(12)}
    await seed.job("job-b", sorted(job_products))
    frames = {f"fr{i}": (rng.standard_normal(dim).astype(np.float32), rng.standard_normal(dim).astype(np.float32))
              for i in range(3)}
    await seed.frames("v9", [(f, float(i), r, g) for i, (f, (r, g)) in enumerate(frames.items())])
    await seed.frames("v9", [("fr-pending", 9.0, None, None)])  # keyframe not embedded yet

    ask = ["fr2", "fr-pending", "fr0", "fr2", "fr1"]
    r = await client.post("/search/frames", json={"frame_ids": ask, "k": 6, "job_id": "job-b"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["job_id"] == "job-b" and body["k"] == 6 and body["space"] == "max"
    assert [f["frame_id"] for f in body["frames"]] == ["fr2", "fr-pending", "fr0", "fr1"]
    for f in body["frames"]:
        if f["frame_id"] == "fr-pending":
            assert f["results"] == [] and "no embedding yet" in f["reason"]
            continue
        assert f["reason"] is None
        expected = brute_force(*frames[f["frame_id"]], catalog, 6, only=job_products)
        assert no_near_ties(expected)
        assert_same(f["results"], expected)
        assert set(f["results"][0]) == {"img_id", "product_id", "sim_rgb", "sim_gray", "similarity", "region"}
        assert all(h["region"] is None for h in f["results"])  # no region_k: the frame's own vector only

    r = await client.post("/search/frames", json={"frame_ids": ["fr0", "ghost"], "job_id": "job-b"})
    assert r.status_code == 404 and "'ghost'" in r.json()["detail"]
    r = await client.post("/search/frames", json={"frame_ids": ["fr0"], "job_id": "ghost-job"})
    assert r.status_code == 404 and "no job" in r.json()["detail"]
    r = await client.post("/search/frames", json={"frame_ids": [f"f{i}" for i in range(9)], "job_id": "job-b"})
    assert r.status_code == 422 and "at most 8 frame_ids" in r.text
    r = await client.post("/search/frames", json={"frame_ids": [], "job_id": "job-b"})
    assert r.status_code == 422
    r = await client.post("/search/frames", json={"frame_ids": ["fr0"]})
    assert r.status_code == 422 and "job_id" in r.text


async def test_frames_with_region_k_add_each_regions_nearest_images(seed, client, dim, clean_pool):
    """POST /search/frames with region_k: after the frame's own top-k, the region_k nearest job
    images of each stored region that are not among them, ranked and scored by the frame's own
    vector; the same rule as matching.retrieval.retrieve_with_regions over the same vectors."""
    from common_py.frame_regions import save_regions
    from matching.retrieval import retrieve_with_regions

    rng = np.random.default_rng(5)

    def unit(v):
        return (v / np.linalg.norm(v)).astype(np.float32)

    catalog = {i: (p, unit(r), unit(g)) for i, (p, r, g) in random_catalog(rng, dim, 20).items()}
    await seed_catalog(seed, catalog)
    job_products = {f"prod{p}" for p in range(15)}
    await seed.job("job-r", sorted(job_products))
    own = (unit(rng.standard_normal(dim)), unit(rng.standard_normal(dim)))
    # two regions, each near a job image the frame's own top 5 lacks, and a third near an image
    # of another job's product
    top5 = {i for i, _ in brute_force(*own, catalog, 5, only=job_products)}
    near = [i for i in catalog if catalog[i][0] in job_products and i not in top5][3:5] + ["img17-0"]
    regions = [tuple(unit(catalog[i][s] + 0.3 * rng.standard_normal(dim) / np.sqrt(dim)) for s in (1, 2))
               for i in near]
    await seed.frames("vr", [("fr-shelf", 1.0, *own), ("fr-plain", 2.0, *own)])
    await save_regions(clean_pool, {"fr-shelf": (np.stack([r for r, _ in regions]),
                                                 np.stack([g for _, g in regions]))}, "test-model")
    await save_regions(clean_pool, {"fr-plain": (own[0][None], own[1][None])}, "another-model")

    r = await client.post("/search/frames", json={"frame_ids": ["fr-shelf", "fr-plain"], "k": 5, "region_k": 2,
                                                  "job_id": "job-r"})
    assert r.status_code == 200, r.text
    shelf, plain = r.json()["frames"]
    ids = [i for i in catalog if catalog[i][0] in job_products]
    expected = retrieve_with_regions(own[0], own[1], np.stack([r for r, _ in regions]), np.stack([g for _, g in regions]),
                                     np.stack([catalog[i][1] for i in ids]), np.stack([catalog[i][2] for i in ids]),
                                     k=5, region_k=2)
    assert [h["img_id"] for h in shelf["results"]] == [ids[j] for j, _ in expected]
    np.testing.assert_allclose([h["similarity"] for h in shelf["results"]], [s for _, s in expected], atol=1e-5)
    got = {h["img_id"]: h["region"] for h in shelf["results"]}
    assert len(got) > 5 and got[near[0]] == 1 and got[near[1]] == 2 and "img17-0" not in got
    assert all(h["region"] is None for h in shelf["results"][:5])
    # regions made by another model than the frame's own vector are not asked
    assert_same(plain["results"], brute_force(*own, catalog, 5, only=job_products))
    r = await client.post("/search/frames", json={"frame_ids": ["fr-shelf"], "region_k": 51, "job_id": "job-r"})
    assert r.status_code == 422 and "region_k" in r.text


async def test_unknown_ids_are_404_and_bad_queries_422(seed, client, dim):
    await seed.images([("only", "p", np.ones(dim, np.float32), np.ones(dim, np.float32))])
    cases = {
        ("image_id", "nope"): "no product image with img_id 'nope'",
        ("frame_id", "nope"): "no video frame with frame_id 'nope'",
    }
    for (param, value), message in cases.items():
        r = await client.get("/search", params={param: value})
        assert r.status_code == 404 and r.json()["detail"] == message
    r = await client.get("/search", params={"image_id": "only", "job_id": "nope"})
    assert r.status_code == 404 and r.json()["detail"] == "no job with job_id 'nope'"
    for params in ({}, {"image_id": "only", "frame_id": "x"}):
        r = await client.get("/search", params=params)
        assert r.status_code == 422 and "exactly one of image_id or frame_id" in r.text
    for k in (0, K_MAX + 1, "many"):
        assert (await client.get("/search", params={"image_id": "only", "k": k})).status_code == 422
    assert (await client.get("/search", params={"image_id": "only", "space": "hsv"})).status_code == 422
    # the query image itself is not its own neighbour
    assert (await client.get("/search", params={"image_id": "only"})).json()["results"] == []


async def test_openapi_documents_the_endpoints(client):
    assert (await client.get("/docs")).status_code == 200
    spec = (await client.get("/openapi.json")).json()
    assert {"get"} <= set(spec["paths"]["/search"]) and {"post"} <= set(spec["paths"]["/search"])
    frames = spec["paths"]["/search/frames"]["post"]
    assert frames["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("FramesSearchResponse")
