"""The API over HTTP against the real service process and the real Postgres, with the rows of
conftest.MATCHES (m1 .95 j-pillow, m5 .90 j-pillow-2, m3 .88 j-lamp, m2 .83 j-pillow, m4 .81 j-lamp)."""

import os

import httpx
import pytest

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(2048) + b"\xff\xd9"


@pytest.fixture
async def client(results_api, seed):
    async with httpx.AsyncClient(base_url=results_api.url, timeout=10) as c:
        yield c


@pytest.fixture
def evidence(results_api):
    """Writes an evidence file under the service's DATA_ROOT; removed afterwards."""
    written = []

    def write(rel: str, data: bytes = JPEG):
        path = results_api.data_root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)
        return path

    yield write
    for path in written:
        path.unlink(missing_ok=True)


async def ids(client, **params) -> list[str]:
    r = await client.get("/results", params=params)
    assert r.status_code == 200, r.text
    return [m["match_id"] for m in r.json()["items"]]


async def test_results_best_score_first_with_product_video_and_evidence(client, evidence):
    evidence("evidence/m1.jpg")  # m3's evidence_path names a file that was never written
    r = await client.get("/results")
    assert r.status_code == 200 and r.headers["x-cache"] == "off"
    body = r.json()
    assert (body["total"], body["limit"], body["offset"]) == (5, 50, 0)
    assert [m["match_id"] for m in body["items"]] == ["m1", "m5", "m3", "m2", "m4"]
    m1 = body["items"][0]
    assert m1 == {
        "match_id": "m1", "job_id": "j-pillow", "industry": "Ergonomic Pillow", "score": 0.95, "ts": 12.5,
        "best_img_id": "i1a", "best_frame_id": "f1a", "created_at": m1["created_at"],
        "product": {"product_id": "p1", "title": "Contour memory foam pillow", "brand": "SleepCo",
                    "url": "https://example.com/p1", "src": "amazon", "thumbnail_url": "/product-images/i1a"},
        "video": {"video_id": "v1", "title": "Pillow review", "url": "https://youtube.com/watch?v=1",
                  "platform": "youtube", "duration_s": 61.0},
        "evidence_url": "/evidence/m1.jpg", "segments": [],
        "watch_url": "https://youtube.com/watch?v=1&t=12s",
    }
    assert [m["evidence_url"] for m in body["items"][1:]] == [None] * 4
    # the URL it gives is the one that serves the image
    img = await client.get(m1["evidence_url"])
    assert img.status_code == 200 and img.content == JPEG


async def test_filters_industry_job_and_min_score(client):
    # industry goes through jobs.industry, case-insensitively, across every job of that industry
    assert await ids(client, industry="ergonomic PILLOW") == ["m1", "m5", "m2"]
    assert await ids(client, industry="  Desk Lamp ") == ["m3", "m4"]
    assert await ids(client, industry="pillow") == []  # exact industry, not a substring
    assert await ids(client, job_id="j-pillow") == ["m1", "m2"]
    assert await ids(client, min_score=0.85) == ["m1", "m5", "m3"]
    assert await ids(client, min_score=0.88) == ["m1", "m5", "m3"]  # inclusive
    assert await ids(client, industry="ergonomic pillow", min_score=0.85) == ["m1", "m5"]
    assert await ids(client, industry="desk lamp", job_id="j-pillow") == []
    # one product's or one video's matches, over every job (the UI's product and video pages)
    assert await ids(client, product_id="p1") == ["m1", "m5"]
    assert await ids(client, video_id="v2") == ["m5", "m2", "m4"]
    assert await ids(client, product_id="p3", video_id="v2", min_score=0.8) == ["m4"]
    assert await ids(client, product_id="nope") == []


async def test_pagination_keeps_the_total(client):
    r = (await client.get("/results", params={"limit": 2, "offset": 2})).json()
    assert [m["match_id"] for m in r["items"]] == ["m3", "m2"] and r["total"] == 5
    r = (await client.get("/results", params={"limit": 2, "offset": 10})).json()
    assert r["items"] == [] and r["total"] == 5


async def test_equal_scores_order_by_match_id(client, add_matches):
    await add_matches(("m0", "j-lamp", "p1", "v1", "i1a", "f1a", 1.0, 0.90, None))
    assert await ids(client, min_score=0.9) == ["m1", "m0", "m5"]


@pytest.mark.parametrize("params, field, words", [
    ({"min_score": 1.5}, "min_score", "less than or equal to 1"),
    ({"min_score": -0.1}, "min_score", "greater than or equal to 0"),
    ({"min_score": "high"}, "min_score", "valid number"),
    ({"limit": 0}, "limit", "greater than or equal to 1"),
    ({"limit": 1000}, "limit", "less than or equal to 200"),
    ({"offset": -1}, "offset", "greater than or equal to 0"),
])
async def test_bad_query_parameters_are_422_naming_the_parameter(client, params, field, words):
    r = await client.get("/results", params=params)
    assert r.status_code == 422
    [error] = r.json()["detail"]
    assert error["loc"] == ["query", field] and words in error["msg"]


async def test_product_video_match_and_job_endpoints(client):
    p = (await client.get("/products/p1")).json()
    assert (p["product_id"], p["src"], p["brand"], p["price"], p["currency"]) == (
        "p1", "amazon", "SleepCo", 19.99, "USD")
    assert [(i["img_id"], i["local_path"], i["image_url"], i["has_embedding"]) for i in p["images"]] == [
        ("i1a", "products/p1/i1a.jpg", "/product-images/i1a", True),
        ("i1b", "products/p1/i1b.jpg", "/product-images/i1b", False)]

    v = (await client.get("/videos/v1")).json()
    assert (v["platform"], v["title"], v["duration_s"]) == ("youtube", "Pillow review", 61.0)
    assert v["published_at"].startswith("2026-06-01T12:00:00")
    assert [(f["frame_id"], f["ts"], f["image_url"]) for f in v["frames"]] == [
        ("f1b", 3.0, "/frames/f1b"), ("f1a", 12.5, "/frames/f1a")]  # by ts

    m = (await client.get("/matches/m3")).json()
    assert (m["job_id"], m["industry"], m["score"], m["ts"], m["score_pair"], m["consistency"]) == (
        "j-lamp", "desk lamp", 0.88, 3.0, 0.88, 2)
    assert m["product"]["product_id"] == "p3" and m["video"]["video_id"] == "v1"
    assert m["evidence_url"] is None  # its evidence_path names a file that does not exist
    assert m["watch_url"] == "https://youtube.com/watch?v=1&t=3s"
    assert (await client.get("/matches/m2")).json()["watch_url"] == "https://bilibili.com/video/2?t=40"

    r = await client.get("/jobs/j-lamp/matches", params={"min_score": 0.85})
    assert [x["match_id"] for x in r.json()["items"]] == ["m3"]


@pytest.mark.parametrize("path, message", [
    ("/products/nope", "no product with product_id 'nope'"),
    ("/videos/nope", "no video with video_id 'nope'"),
    ("/matches/nope", "no match with match_id 'nope'"),
    ("/jobs/nope/matches", "no job with job_id 'nope'"),
    ("/evidence/nope.jpg", "no match with match_id 'nope'"),
    ("/evidence/m2.jpg", "match 'm2' has no evidence image yet"),
    ("/evidence/m3.jpg", "match 'm3' has no evidence image yet"),
    ("/product-images/nope", "no product image 'nope' (or its file is gone from DATA_ROOT)"),
    ("/product-images/i2a", "no product image 'i2a' (or its file is gone from DATA_ROOT)"),  # row, no file
    ("/frames/nope", "no keyframe 'nope' (or its file is gone from DATA_ROOT)"),
])
async def test_unknown_ids_and_missing_evidence_are_404(client, path, message):
    r = await client.get(path)
    assert r.status_code == 404 and r.json() == {"detail": message}


async def test_evidence_is_served_as_jpeg_from_data_root(client, evidence, db_pool):
    evidence("evidence/m1.jpg")
    r = await client.get("/evidence/m1.jpg")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/jpeg" and r.content == JPEG

    # a file at the SPEC §5 place counts while the row names none yet
    other = os.urandom(64)
    evidence("evidence/m2.jpg", other)
    assert (await client.get("/evidence/m2.jpg")).content == other
    assert (await client.get("/matches/m2")).json()["evidence_url"] == "/evidence/m2.jpg"

    # a stored path that leaves DATA_ROOT is never followed
    evidence("../outside.jpg", b"secret")
    await db_pool.execute("UPDATE matches SET evidence_path = '../outside.jpg' WHERE match_id = 'm4'")
    r = await client.get("/evidence/m4.jpg")
    assert r.status_code == 404 and b"secret" not in r.content
    assert (await client.get("/matches/m4")).json()["evidence_url"] is None


async def test_product_images_and_keyframes_are_served_from_data_root(client, evidence, db_pool):
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(64)
    await db_pool.execute("UPDATE product_images SET local_path = 'products/p1/i1b.png' WHERE img_id = 'i1b'")
    evidence("products/p1/i1a.jpg")
    evidence("products/p1/i1b.png", png)
    evidence("videos/v1/frames/f1a.jpg")
    r = await client.get("/product-images/i1a")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content == JPEG
    assert "max-age" in r.headers["cache-control"]
    r = await client.get("/product-images/i1b")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png" and r.content == png
    r = await client.get("/frames/f1a")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content == JPEG
    # the URLs the API hands out are the ones that serve the files
    p = (await client.get("/products/p1")).json()
    assert [(await client.get(i["image_url"])).content for i in p["images"]] == [JPEG, png]
    item = (await client.get("/results", params={"product_id": "p1", "limit": 1})).json()["items"][0]
    assert (await client.get(item["product"]["thumbnail_url"])).content == JPEG
    # a stored path that leaves DATA_ROOT is never followed
    evidence("../outside.jpg", b"secret")
    await db_pool.execute("UPDATE video_frames SET local_path = '../outside.jpg' WHERE frame_id = 'f1b'")
    r = await client.get("/frames/f1b")
    assert r.status_code == 404 and b"secret" not in r.content


async def test_openapi_docs(client):
    assert (await client.get("/docs")).status_code == 200
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"/results", "/products/{product_id}", "/videos/{video_id}", "/matches/{match_id}",
            "/jobs/{job_id}/matches", "/evidence/{match_id}.jpg", "/product-images/{img_id}", "/frames/{frame_id}",
            "/orchestrator/start-job", "/orchestrator/status/{job_id}", "/orchestrator/jobs"} <= set(paths)


async def test_segments_where_the_product_is_on_screen(client, db_pool):
    """The matcher's segments come back in /results, /matches/{id} and the job's matches, in time
    order; keyframes say which stretch of their video they stand for."""
    segments = [{"start": 2.0, "end": 6.5, "best_ts": 3.0, "score": 0.91},
                {"start": 11.8, "end": 14.0, "best_ts": 12.5, "score": 0.97}]
    await db_pool.execute("UPDATE matches SET segments = $2 WHERE match_id = $1", "m1", segments)
    await db_pool.execute("UPDATE video_frames SET shot_start = 11.8, shot_end = 14.0 WHERE frame_id = 'f1a'")
    items = {m["match_id"]: m for m in (await client.get("/results", params={"job_id": "j-pillow"})).json()["items"]}
    assert items["m1"]["segments"] == segments and items["m2"]["segments"] == []
    assert (await client.get("/matches/m1")).json()["segments"] == segments
    job = (await client.get("/jobs/j-pillow/matches")).json()["items"]
    assert [m["segments"] for m in job if m["match_id"] == "m1"] == [segments]
    frames = (await client.get("/videos/v1")).json()["frames"]
    assert [(f["frame_id"], f["shot_start"], f["shot_end"]) for f in frames] == [("f1b", None, None),
                                                                                ("f1a", 11.8, 14.0)]


@pytest.mark.parametrize("path", [
    "/products/a%00b", "/videos/a%00b", "/matches/a%00b", "/jobs/a%00b/matches", "/evidence/a%00b.jpg",
    "/results?job_id=a%00b", "/results?industry=a%00b", "/products/%ED%A0%80", "/matches/%ff%fe",
    "/products/..%2F..%2Fetc%2Fpasswd", "/evidence/..%2F..%2Fetc%2Fpasswd.jpg",
    "/results?offset=1e20", "/results?offset=99999999999999999999", "/results?limit=1e999",
    "/results?min_score=nan", "/results?min_score=inf",
])
async def test_hostile_ids_and_numbers_are_4xx_never_500(client, path):
    """Found by the fault-injection suite (issue 16): a NUL byte in an id, a huge offset and a
    non-finite number each ended as a 500 (Postgres refused the value, or the 422 body itself
    could not be written as JSON)."""
    r = await client.get(path)
    assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
    assert isinstance(r.json()["detail"], (str, list))
    assert (await client.get("/healthz")).status_code == 200


async def test_results_for_an_unknown_job_is_404(client):
    """/results?job_id= names one job: an unknown one is a 404, as on /jobs/{job_id}/matches,
    not an empty page that looks like a job without matches (issue 16)."""
    r = await client.get("/results", params={"job_id": "no-such-job"})
    assert r.status_code == 404 and r.json() == {"detail": "no job with job_id 'no-such-job'"}
    assert await ids(client, job_id="j-pillow") == ["m1", "m2"]
