"""The real results-api process with API keys and CORS set, the web UI's files, and the job calls it
forwards to the real orchestrator (the browser tests in tests/ui drive the UI itself)."""

import re

import httpx

from common_py.testing import free_port

KEYS = "key-one,key-two"
# an address of another server in markup, a module import, a stylesheet or a fetch
OUTSIDE = re.compile(r"""(?:src|href|action)\s*=\s*["']?(?:https?:)?//|from\s+["'](?:https?:)?//"""
                     r"""|import\(\s*["'](?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import"""
                     r"""|fetch\(\s*["'](?:https?:)?//""")


async def test_with_api_keys_data_needs_a_key_and_the_ui_does_not(start_api, seed):
    api = start_api(API_KEYS=KEYS, CORS_ORIGINS="https://dash.example.com")
    (api.data_root / "evidence").mkdir(exist_ok=True)
    (api.data_root / "evidence" / "m1.jpg").write_bytes(b"\xff\xd8evidence")
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as c:
        for path in ("/results", "/jobs/j-pillow/matches", "/matches/m1", "/products/p1", "/videos/v1",
                     "/evidence/m1.jpg", "/product-images/i1a", "/frames/f1a", "/orchestrator/jobs"):
            r = await c.get(path)
            assert r.status_code == 401, path
            assert "X-API-Key" in r.json()["detail"], r.text  # a message, not a stack trace
            assert (await c.get(path, headers={"X-API-Key": "nope"})).status_code == 401
        r = await c.get("/results", headers={"X-API-Key": "key-two"})
        assert r.status_code == 200 and r.json()["total"] == 5
        r = await c.get("/evidence/m1.jpg", headers={"X-API-Key": "key-one"})
        assert r.status_code == 200 and r.content == b"\xff\xd8evidence"
        # the page and its scripts hold no data: they load without a key, and ask for one
        index = await c.get("/")
        assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
        assert '<script type="module" src="/ui/app.js">' in index.text and 'id="key-dialog"' in index.text
        for asset, kind in (("/ui/app.js", "javascript"), ("/ui/api.js", "javascript"), ("/ui/app.css", "text/css")):
            r = await c.get(asset)
            assert r.status_code == 200 and kind in r.headers["content-type"], asset
        assert "X-API-Key" in (await c.get("/ui/api.js")).text
        assert (await c.get("/healthz")).status_code == 200 and (await c.get("/readyz")).status_code == 200
        # CORS for the configured origin, preflight included
        r = await c.options("/results", headers={"Origin": "https://dash.example.com",
                                                 "Access-Control-Request-Method": "GET",
                                                 "Access-Control-Request-Headers": "x-api-key"})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://dash.example.com"
        r = await c.get("/results", headers={"Origin": "https://other.example", "X-API-Key": "key-one"})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    assert "API keys required (2 configured" in api.log_text()


async def test_the_ui_uses_no_outside_address(start_api):
    """Everything the page loads comes from this API: no CDN, no font or script from elsewhere."""
    api = start_api()
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as c:
        for path in ("/", "/ui/app.js", "/ui/api.js", "/ui/views.js", "/ui/gallery.js", "/ui/util.js", "/ui/app.css"):
            r = await c.get(path)
            assert r.status_code == 200, path
            assert not OUTSIDE.findall(r.text), (path, OUTSIDE.findall(r.text))


async def test_job_calls_are_forwarded_to_the_orchestrator_with_the_key(start_api, start_service):
    orch = start_service("orchestrator", API_KEYS=KEYS)
    api = start_api(API_KEYS=KEYS, ORCHESTRATOR_URL=orch.url)
    key = {"X-API-Key": "key-one"}
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as c:
        r = await c.post("/orchestrator/start-job", json={"industry": "desk lamp", "top_amz": 1}, headers=key)
        assert r.status_code == 200, r.text
        job_id = r.json()["job_id"]
        status = (await c.get(f"/orchestrator/status/{job_id}", headers=key)).json()
        assert (status["job_id"], status["industry"], status["params"]["top_amz"]) == (job_id, "desk lamp", 1)
        jobs = (await c.get("/orchestrator/jobs", params={"limit": 5}, headers=key)).json()
        assert jobs[0]["job_id"] == job_id and jobs[0]["completed_at"] is None
        # the orchestrator's own answers come back unchanged: its 422 and 404
        r = await c.post("/orchestrator/start-job", json={"industry": " "}, headers=key)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "industry"]
        r = await c.get("/orchestrator/status/no-such-job", headers=key)
        assert r.status_code == 404 and r.json() == {"detail": "no job no-such-job"}
        # no key: refused here, before anything reaches the orchestrator
        r = await c.post("/orchestrator/start-job", json={"industry": "desk lamp"})
        assert r.status_code == 401
    # a key results-api accepts but the orchestrator does not: the orchestrator's 401 comes back
    api2 = start_api(API_KEYS="only-here", ORCHESTRATOR_URL=orch.url)
    async with httpx.AsyncClient(base_url=api2.url, timeout=30) as c:
        r = await c.get("/orchestrator/jobs", headers={"X-API-Key": "only-here"})
        assert r.status_code == 401 and r.json()["detail"] == "the X-API-Key header does not hold a valid key"


async def test_an_unreachable_orchestrator_is_a_clear_502(start_api):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    api = start_api(ORCHESTRATOR_URL=dead, ORCHESTRATOR_TIMEOUT_S="2")
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as c:
        for r in (await c.get("/orchestrator/jobs"), await c.post("/orchestrator/start-job", json={"industry": "x"})):
            assert r.status_code == 502
            detail = r.json()["detail"]
            assert detail.startswith(f"the orchestrator at {dead} is not answering (ConnectError"), detail
            assert "make status" in detail
        # the rest of the API does not depend on it
        assert (await c.get("/results")).status_code == 200


async def test_an_open_api_beyond_loopback_is_warned_about_in_the_log(start_api):
    api = start_api(HTTP_HOST="0.0.0.0")
    assert "API_KEYS is empty and the API listens on 0.0.0.0" in api.log_text()
    quiet = start_api()  # loopback (the default): open, and nothing to warn about
    assert "API_KEYS is empty" not in quiet.log_text()
