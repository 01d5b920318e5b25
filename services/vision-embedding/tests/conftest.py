"""Tests of this service import its modules (handlers, services, config_loader) as the service
itself does: with the service folder first on sys.path."""

from pathlib import Path

from common_py.testing import use_service_modules

use_service_modules(Path(__file__).resolve().parents[1])
