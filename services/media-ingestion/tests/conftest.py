"""Tests of this service import its modules (handlers, services, config_loader) as the service
itself does: with the service folder first on sys.path. The test helpers (media_server.py, ytdlp_replay.py) are on it too."""

import ipaddress
import socket
import sys
from pathlib import Path

from common_py.testing import use_service_modules

import pytest

use_service_modules(Path(__file__).resolve().parents[1])
sys.path.insert(1, str(Path(__file__).resolve().parent))


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """No test reaches past this machine: a connection to any non-loopback address fails loudly
    (yt-dlp is driven by recorded extractor results and downloads from 127.0.0.1)."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def check(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = str(address[0]).split("%", 1)[0]
            if not ipaddress.ip_address(host).is_loopback:
                raise OSError(f"test tried to reach the network: {address}")

    monkeypatch.setattr(socket.socket, "connect", lambda s, a: (check(s, a), real_connect(s, a))[1])
    monkeypatch.setattr(socket.socket, "connect_ex", lambda s, a: (check(s, a), real_connect_ex(s, a))[1])
