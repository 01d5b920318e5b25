"""common_py.api_access on a real FastAPI app (in process, over ASGI): which paths need a key, what a
refused request gets, CORS preflights and headers, the settings and the loopback warning. The
services' own suites check the same through their real processes."""

import logging

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import FileResponse

from common_py.api_access import ApiAccessSettings, install_api_access, is_loopback


def make_app(tmp_path, **settings) -> FastAPI:
    app = FastAPI()
    image = tmp_path / "e.jpg"
    image.write_bytes(b"\xff\xd8jpeg")

    @app.get("/results")
    async def results():
        return {"items": []}

    @app.post("/start-job")
    async def start_job(body: dict):
        return {"job_id": "j1", "got": body}

    @app.get("/evidence/{match_id}.jpg")
    async def evidence(match_id: str):
        return FileResponse(image)

    for path in ("/healthz", "/", "/ui/app.js"):
        app.add_api_route(path, lambda: {"ok": True}, methods=["GET"])
    install_api_access(app, ApiAccessSettings(**settings), "test-api")
    return app


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_with_keys_every_data_path_needs_one_of_them(tmp_path):
    app = make_app(tmp_path, api_keys=" k-one , k-two,")
    async with client(app) as c:
        for method, path in (("GET", "/results"), ("POST", "/start-job"), ("GET", "/evidence/m1.jpg"),
                             ("GET", "/not-a-route")):
            r = await c.request(method, path, json={"industry": "x"} if method == "POST" else None)
            assert r.status_code == 401, path
            assert r.headers["content-type"] == "application/json"
            assert r.json() == {"detail": "this API needs a key: send it in the X-API-Key header "
                                          "(the keys are set with API_KEYS on the server)"}
            r = await c.request(method, path, headers={"X-API-Key": "k-three"})
            assert r.status_code == 401 and r.json() == {"detail": "the X-API-Key header does not hold a valid key"}
        for key in ("k-one", "k-two"):  # either key (rotation), spaces around it in the setting ignored
            r = await c.get("/results", headers={"x-api-key": key})
            assert r.status_code == 200 and r.json() == {"items": []}
        r = await c.post("/start-job", json={"industry": "x"}, headers={"X-API-Key": "k-two"})
        assert r.json() == {"job_id": "j1", "got": {"industry": "x"}}
        r = await c.get("/evidence/m1.jpg", headers={"X-API-Key": "k-one"})
        assert r.status_code == 200 and r.content == b"\xff\xd8jpeg"
        assert (await c.get("/results", headers={"X-API-Key": "k-one "})).status_code == 401  # exact match only
        # no data behind these: health, the UI's static files, the API docs
        for path in ("/healthz", "/", "/ui/app.js", "/docs", "/openapi.json"):
            assert (await c.get(path)).status_code == 200, path


async def test_without_keys_the_api_is_open(tmp_path):
    async with client(make_app(tmp_path, api_keys="  ,")) as c:
        assert (await c.get("/results")).status_code == 200
        assert (await c.post("/start-job", json={})).status_code == 200
        assert "securitySchemes" not in (await c.get("/openapi.json")).json().get("components", {})


async def test_the_api_docs_name_the_key(tmp_path):
    async with client(make_app(tmp_path, api_keys="k")) as c:
        schema = (await c.get("/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["ApiKey"]["name"] == "X-API-Key"
    assert schema["components"]["securitySchemes"]["ApiKey"]["in"] == "header"
    assert schema["security"] == [{"ApiKey": []}] and "/results" in schema["paths"]


async def test_cors_allows_only_the_configured_origins(tmp_path):
    app = make_app(tmp_path, api_keys="k", cors_origins="https://dash.example.com/, http://localhost:3000")
    async with client(app) as c:
        # the preflight carries no key: it is answered before the key check
        r = await c.options("/start-job", headers={"Origin": "https://dash.example.com",
                                                   "Access-Control-Request-Method": "POST",
                                                   "Access-Control-Request-Headers": "x-api-key, content-type"})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "https://dash.example.com"
        assert "x-api-key" in r.headers["access-control-allow-headers"].lower()
        # a refusal still carries the CORS header, so the page can read the 401's message
        r = await c.get("/results", headers={"Origin": "http://localhost:3000"})
        assert r.status_code == 401 and r.headers["access-control-allow-origin"] == "http://localhost:3000"
        r = await c.get("/results", headers={"Origin": "http://localhost:3000", "X-API-Key": "k"})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "http://localhost:3000"
        # another origin gets no CORS header (the browser then hides the answer from its page)
        r = await c.get("/results", headers={"Origin": "https://evil.example", "X-API-Key": "k"})
        assert "access-control-allow-origin" not in r.headers
        r = await c.options("/results", headers={"Origin": "https://evil.example",
                                                 "Access-Control-Request-Method": "GET"})
        assert r.status_code == 400
    async with client(make_app(tmp_path)) as c:  # no CORS_ORIGINS: no cross-origin access at all
        r = await c.get("/results", headers={"Origin": "https://dash.example.com"})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True),
                                            ("localhost", True), ("0.0.0.0", False), ("::", False),
                                            ("192.168.1.10", False), ("example.com", False), ("", False)])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("host, keys, warned", [("0.0.0.0", "", True), ("10.1.2.3", "", True),
                                                ("127.0.0.1", "", False), ("0.0.0.0", "k", False)])
def test_an_open_api_beyond_loopback_is_warned_about_at_start(tmp_path, caplog, host, keys, warned):
    with caplog.at_level(logging.WARNING, logger="common_py.api_access"):
        make_app(tmp_path, http_host=host, http_port=8080, api_keys=keys)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert bool(warnings) is warned, warnings
    if warned:
        assert f"API_KEYS is empty and the API listens on {host}" in warnings[0] and "8080" in warnings[0]


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("API_KEYS", "a,b ,,c")
    monkeypatch.setenv("CORS_ORIGINS", "http://x:1/")
    s = ApiAccessSettings()
    assert s.api_key_list() == ["a", "b", "c"] and s.cors_origin_list() == ["http://x:1"]
