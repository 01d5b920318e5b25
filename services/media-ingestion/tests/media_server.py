"""Serves the video files the tests render, over real HTTP on 127.0.0.1, where the recorded format
URLs point. Honours Range requests (yt-dlp downloads YouTube formats in ranged chunks), records
every request, and can misbehave on purpose: no Content-Length, or a slow trickle."""

from __future__ import annotations

import re
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class File:
    data: bytes
    chunked: bool = False       # no Content-Length: only counting the stream can cap it
    trickle_s: float = 0.0      # pause between 1 KiB pieces


class MediaServer:
    def __init__(self):
        self.files: dict[str, File] = {}
        self.seen: list[tuple[str, dict[str, str]]] = []  # (path, headers)
        self._server = _QuietServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def add(self, path: str, data: bytes, **kw) -> None:
        self.files[path] = File(data, **kw)

    def paths(self) -> list[str]:
        return [p for p, _ in self.seen]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()



class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # a client hanging up is not news
            super().handle_error(request, client_address)

def _handler(server: MediaServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            """Silent: the tests read `server.seen`, not an access log on stderr."""

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            server.seen.append((path, {k.lower(): v for k, v in self.headers.items()}))
            f = server.files.get(path)
            if f is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data, status = f.data, 200
            m = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
            if m and not f.chunked:
                start = int(m[1])
                end = min(int(m[2]) if m[2] else len(data) - 1, len(data) - 1)
                data, status = f.data[start:end + 1], 206
            try:
                self.send_response(status)
                self.send_header("Content-Type", "video/mp4")
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end}/{len(f.data)}")
                if f.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                for i in range(0, len(data), 1024):
                    piece = data[i:i + 1024]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if f.chunked else piece)
                    if f.trickle_s:
                        self.wfile.flush()
                        time.sleep(f.trickle_s)
                if f.chunked:
                    self.wfile.write(b"0\r\n\r\n")
            except OSError:  # the client stopped reading (a size cap under test): drop the connection
                self.close_connection = True

    return Handler
