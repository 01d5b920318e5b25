"""SafeHttp against a real HTTP server on 127.0.0.1 (no other network): the server is reachable
only because each test opts in to loopback, which is off by default, and names other than IP
literals resolve through a resolver the test injects."""

from __future__ import annotations

import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from common_py.errors import ErrorCode
from common_py.safe_http import (ConnectFailed, FetchPolicy, FetchTimeout, HTTPStatusError, SafeHttp, TooLarge,
                                 TooManyRedirects, UnsafeURL, blocked_reason)

CAP = 4096


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        """No access log: the test output shows what matters."""

    def _reply(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if "Content-Length" not in (headers or {}) and "Transfer-Encoding" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:  # noqa: C901 - one route table, read top to bottom
        self.server.hits.append((self.command, self.path))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?")[0]
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        if path == "/ok":
            self._reply(200, b"x" * 1000, {"Content-Type": "image/jpeg"})
        elif path == "/echo":
            self._reply(200, json.dumps({"method": self.command, "path": self.path, "body": body.decode(),
                                         "headers": {k.lower(): v for k, v in self.headers.items()}}).encode())
        elif path == "/declared-big":
            self._reply(200, b"", {"Content-Length": str(CAP * 10)})
        elif path == "/chunked-big":  # no Content-Length: only counting the stream catches it
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for _ in range(64):
                    self.wfile.write(b"400\r\n" + b"y" * 1024 + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                return  # the client hung up at the cap, as it should
        elif path == "/gzip-bomb":
            self._reply(200, gzip.compress(b"\0" * CAP * 50), {"Content-Encoding": "gzip"})
        elif path == "/slow-first-byte":
            time.sleep(3.0)
            self._reply(200, b"late")
        elif path == "/trickle":  # each byte within the read timeout, the whole beyond the total cap
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"z")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                return  # the client gave up at its total timeout, as it should
        elif path.startswith("/status/"):
            self._reply(int(path.rsplit("/", 1)[1]), b'{"errors": [{"errorId": 1001}]}')
        elif path == "/to-ok":
            self._reply(302, b"", {"Location": "/ok"})
        elif path == "/to-private":
            self._reply(302, b"", {"Location": "http://10.0.0.1/latest/meta-data/"})
        elif path == "/to-metadata-name":
            self._reply(301, b"", {"Location": "http://metadata.test/computeMetadata/v1/"})
        elif path == "/to-file":
            self._reply(302, b"", {"Location": "file:///etc/passwd"})
        elif path == "/loop":
            self._reply(302, b"", {"Location": "/loop"})
        elif path == "/to-other-origin":
            self._reply(302, b"", {"Location": f"http://other.test:{self.server.server_address[1]}/echo"})
        elif path == "/to-same-origin-echo":
            self._reply(307, b"", {"Location": f"{base}/echo"})
        elif path == "/see-other":
            self._reply(303, b"", {"Location": "/echo"})
        else:
            self._reply(404)


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.hits = []
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def url(srv, path: str) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}{path}"


class FakeDNS:
    """Names the tests use; every answer is recorded, so a test can tell how often we resolved."""

    def __init__(self, table: dict[str, list[str]]):
        self.table = table
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        if host in self.table:
            answer = self.table[host]
            return answer() if callable(answer) else answer
        if host.replace(".", "").isdigit() or ":" in host:
            return [host]
        raise OSError(f"NXDOMAIN {host}")


def client(**policy) -> SafeHttp:
    dns = policy.pop("dns", None)
    base = dict(max_bytes=CAP, connect_timeout_s=1.0, read_timeout_s=0.5, total_timeout_s=3.0, allow_loopback=True)
    return SafeHttp(FetchPolicy(**{**base, **policy}), resolver=dns)


# -- address rules --------------------------------------------------------------------------------

@pytest.mark.parametrize("address, reason", [
    ("10.1.2.3", "private"), ("192.168.0.10", "private"), ("172.16.5.4", "private"),
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("224.0.0.251", "multicast"), ("ff02::1", "multicast"), ("0.0.0.0", "unspecified"),
    ("240.0.0.1", "private"), ("100.64.0.1", "not globally routable"), ("fc00::5", "private"),
    ("::ffff:10.0.0.1", "private"), ("::ffff:127.0.0.1", "loopback"), ("2002:a00:1::", "private"),
    ("93.184.216.34", None), ("2606:4700:4700::1111", None),
])
def test_address_rules(address, reason):
    assert blocked_reason(address) == reason


def test_loopback_is_allowed_only_on_request_and_private_never():
    assert blocked_reason("127.0.0.1", allow_loopback=True) is None
    assert blocked_reason("10.0.0.1", allow_loopback=True) == "private"


# -- fetches ----------------------------------------------------------------------------------------

async def test_fetches_a_body_and_follows_a_relative_redirect(server):
    async with client() as http:
        got = await http.fetch(url(server, "/to-ok"))
    assert got.status == 200 and got.content == b"x" * 1000 and got.url.endswith("/ok")
    assert [p for _, p in server.hits] == ["/to-ok", "/ok"]


async def test_loopback_is_refused_by_default_before_any_connection(server):
    async with SafeHttp(FetchPolicy()) as http:  # the production default
        with pytest.raises(UnsafeURL, match="loopback") as err:
            await http.fetch(url(server, "/ok"))
    assert err.value.url == url(server, "/ok") and err.value.code == ErrorCode.BAD_INPUT
    assert server.hits == []


async def test_a_redirect_to_a_private_address_is_refused(server):
    async with client() as http:
        with pytest.raises(UnsafeURL, match=r"10\.0\.0\.1 \(private\)") as err:
            await http.fetch(url(server, "/to-private"))
    assert err.value.url == "http://10.0.0.1/latest/meta-data/" and not err.value.retryable


async def test_a_redirect_to_a_name_with_any_private_address_is_refused():
    # a public and a private answer: one bad address is enough, and nothing is connected to
    dns = FakeDNS({"shop.test": ["127.0.0.1"], "metadata.test": ["93.184.216.34", "169.254.169.254"]})
    async with client(dns=dns) as http:
        with pytest.raises(UnsafeURL, match=r"169\.254\.169\.254 \(link-local\)"):
            await http.fetch("http://metadata.test/computeMetadata/v1/")
    assert dns.calls == ["metadata.test"]


async def test_the_checked_address_is_the_one_connected_to(server):
    # DNS rebinding: the first answer is allowed, every later one points inside. We resolve once
    # per connection and connect to that answer, so the name is never looked up again.
    answers = iter([["127.0.0.1"]])
    dns = FakeDNS({"rebind.test": lambda: next(answers, ["10.0.0.1"])})
    port = server.server_address[1]
    async with client(dns=dns) as http:
        got = await http.fetch(f"http://rebind.test:{port}/echo")
    assert dns.calls == ["rebind.test"]
    assert json.loads(got.content)["headers"]["host"] == f"rebind.test:{port}"


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://example.com/x", "gopher://x/", "http:///nohost"])
async def test_only_http_and_https_are_fetched(target):
    async with client() as http:
        with pytest.raises(UnsafeURL):
            await http.fetch(target)


async def test_a_redirect_to_another_scheme_is_refused(server):
    async with client() as http:
        with pytest.raises(UnsafeURL, match="scheme 'file'"):
            await http.fetch(url(server, "/to-file"))


async def test_redirect_loops_stop(server):
    async with client(max_redirects=3) as http:
        with pytest.raises(TooManyRedirects):
            await http.fetch(url(server, "/loop"))
    assert len(server.hits) == 4  # the first request and three redirects


async def test_credentials_do_not_follow_a_redirect_to_another_origin(server):
    dns = FakeDNS({"other.test": ["127.0.0.1"]})
    async with client(dns=dns) as http:
        other = json.loads((await http.fetch(url(server, "/to-other-origin"),
                                             headers={"Authorization": "Bearer s3cret"})).content)
        same = json.loads((await http.fetch(url(server, "/to-same-origin-echo"), method="POST",
                                            headers={"Authorization": "Bearer s3cret"}, json={"q": 1})).content)
        see_other = json.loads((await http.fetch(url(server, "/see-other"), method="POST", data={"a": "b"})).content)
    assert "authorization" not in other["headers"]
    assert same["headers"]["authorization"] == "Bearer s3cret"
    assert (same["method"], json.loads(same["body"])) == ("POST", {"q": 1})  # 307 keeps method and body
    assert (see_other["method"], see_other["body"]) == ("GET", "")           # 303 turns into a GET


async def test_a_declared_oversized_body_is_refused_without_reading_it(server):
    async with client() as http:
        with pytest.raises(TooLarge, match="declares 40960 bytes"):
            await http.fetch(url(server, "/declared-big"))


async def test_an_undeclared_oversized_body_is_cut_at_the_cap(server):
    async with client() as http:
        with pytest.raises(TooLarge, match="exceeds the cap of 4096"):
            await http.fetch(url(server, "/chunked-big"))


async def test_the_cap_counts_decompressed_bytes(server):
    async with client() as http:
        with pytest.raises(TooLarge):
            await http.fetch(url(server, "/gzip-bomb"))


async def test_a_per_call_cap_overrides_the_policy(server):
    async with client() as http:
        with pytest.raises(TooLarge):
            await http.fetch(url(server, "/ok"), max_bytes=999)
        assert len((await http.fetch(url(server, "/ok"), max_bytes=1000)).content) == 1000


@pytest.mark.parametrize("status, retryable", [(404, False), (401, False), (429, True), (503, True)])
async def test_http_errors_are_typed_and_say_whether_to_retry(server, status, retryable):
    async with client() as http:
        with pytest.raises(HTTPStatusError) as err:
            await http.fetch(url(server, f"/status/{status}"))
    assert err.value.status == status and err.value.retryable is retryable
    assert b"errorId" in err.value.body  # the answer's own explanation is kept for the log


async def test_a_silent_server_hits_the_read_timeout(server):
    async with client(read_timeout_s=0.3) as http:
        started = time.monotonic()
        with pytest.raises(FetchTimeout) as err:
            await http.fetch(url(server, "/slow-first-byte"))
    assert time.monotonic() - started < 2.0 and err.value.retryable  # not the server's 3 s


async def test_a_trickling_server_hits_the_total_timeout(server):
    async with client(read_timeout_s=0.5, total_timeout_s=0.6) as http:
        started = time.monotonic()
        with pytest.raises(FetchTimeout, match="in all"):
            await http.fetch(url(server, "/trickle"))
    assert time.monotonic() - started < 5.0  # not the 10 s the trickle would take


async def test_a_closed_port_is_a_retryable_connect_failure(server):
    free = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    port = free.server_address[1]
    free.server_close()  # nothing listens there now
    async with client() as http:
        with pytest.raises(ConnectFailed) as err:
            await http.fetch(f"http://127.0.0.1:{port}/ok")
    assert err.value.code == ErrorCode.DEPENDENCY_UNAVAILABLE


async def test_an_unresolvable_name_is_a_connect_failure():
    async with client(dns=FakeDNS({})) as http:
        with pytest.raises(ConnectFailed, match="cannot resolve nowhere.test"):
            await http.fetch("http://nowhere.test/x")


async def test_environment_proxies_are_ignored(server, monkeypatch):
    # a proxy would resolve names for us, out of our checks
    monkeypatch.setenv("HTTP_PROXY", "http://10.9.9.9:3128")
    monkeypatch.setenv("ALL_PROXY", "http://10.9.9.9:3128")
    async with client() as http:
        assert (await http.fetch(url(server, "/ok"))).status == 200
