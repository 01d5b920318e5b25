"""Tests of this service import its modules (handlers, services, config_loader) as the service
itself does: with the service folder first on sys.path. The test helpers (replay.py) are on it too."""

import sys
from pathlib import Path

import pytest

from common_py.testing import use_service_modules

use_service_modules(Path(__file__).resolve().parents[1])
sys.path.insert(1, str(Path(__file__).resolve().parent))


@pytest.fixture(autouse=True)
def _offline(no_network):
    """No test reaches past this machine: the online sources are tested against replay servers on
    127.0.0.1."""
