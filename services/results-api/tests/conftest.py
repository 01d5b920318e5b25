"""Tests of this service import its modules (handlers, services, config_loader) as the service
itself does: with the service folder first on sys.path."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
