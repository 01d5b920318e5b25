import importlib.util
import sys
from pathlib import Path

# The tests import helpers.py by module name; with --import-mode=importlib the test folder is not
# on sys.path, so load it once here.
_spec = importlib.util.spec_from_file_location("cp_helpers", Path(__file__).with_name("helpers.py"))
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
sys.modules["cp_helpers"] = _mod
