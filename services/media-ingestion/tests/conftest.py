"""Tests of this service import its modules (handlers, services, config_loader) as the service
itself does: with the service folder first on sys.path. The test helpers (media_server.py, ytdlp_replay.py) are on it too."""

import sys
from pathlib import Path

import pytest

from common_py.testing import use_service_modules

use_service_modules(Path(__file__).resolve().parents[1])
sys.path.insert(1, str(Path(__file__).resolve().parent))


@pytest.fixture(autouse=True)
def _offline(no_network):
    """No test reaches past this machine: yt-dlp is driven by recorded extractor results and
    downloads from 127.0.0.1."""
