"""A replay server: recorded API answers and test-made images served over real HTTP on 127.0.0.1.

The online sources talk to it exactly as they talk to eBay and Amazon (same client, same checks;
only loopback is opted in). Recorded JSON lives in fixtures/; `{replay}` in it becomes this
server's base URL, so the image links the "API" hands out point back here.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).with_name("fixtures")


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict | list = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


class Replay:
    def __init__(self):
        self._routes: list[tuple[str, str, dict, list[Reply]]] = []
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fixture(self, name: str):
        """A recorded JSON answer with `{replay}` pointing here."""
        return json.loads((FIXTURES / name).read_text().replace("{replay}", self.base))

    def route(self, method: str, path: str, *replies: Reply | dict | list | bytes, when: dict | None = None):
        """Answer `method path` (and, if given, only when the query has these values) with the
        replies in turn; the last one repeats. A route added later wins over an earlier one."""
        replies = [r if isinstance(r, Reply) else Reply(body=r) for r in replies]
        with self._lock:
            self._routes.insert(0, (method, path, {k: str(v) for k, v in (when or {}).items()}, replies))

    def requests(self, method: str | None = None, path_prefix: str = "") -> list[Seen]:
        return [s for s in self.seen if (method is None or s.method == method) and s.path.startswith(path_prefix)]

    def _answer(self, seen: Seen) -> Reply:
        with self._lock:
            self.seen.append(seen)
            for method, path, when, replies in self._routes:
                if method == seen.method and path == seen.path and all(seen.query.get(k) == v for k, v in when.items()):
                    return replies.pop(0) if len(replies) > 1 else replies[0]
        return Reply(404, {"errors": [{"message": f"no recording for {seen.method} {seen.path}"}]})



class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # a client hanging up is not news
            super().handle_error(request, client_address)

def _handler(replay: Replay):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            """Silent: every request is recorded in the replay, a log line per request is noise."""

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            seen = Seen(self.command, parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()},
                        {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length) if length else b"")
            reply = replay._answer(seen)
            if reply.delay_s:
                time.sleep(reply.delay_s)
            body = reply.body
            headers = dict(reply.headers)
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
                headers.setdefault("Content-Type", "application/json")
            elif isinstance(body, str):
                body = body.encode()
            try:
                self.send_response(reply.status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the client gave up (a timeout or size cap under test)
                self.close_connection = True

        do_POST = do_GET

    return Handler
