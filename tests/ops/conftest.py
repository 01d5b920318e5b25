"""tests/ops import their helpers (opsparse) the way service tests import their modules: with this
folder first on sys.path."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
