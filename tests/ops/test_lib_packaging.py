"""Images install the libs as real (non-editable) packages: every module and data file of the
source tree must be in what pip installs, or a container fails where a developer's editable
install works (a sub-package left out of `packages`, schemas left out of package data)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LIBS = {"contracts": "contracts", "common-py": "common_py", "vision-common": "vision_common",
        "matching": "matching"}


@pytest.mark.parametrize("lib", sorted(LIBS))
def test_installed_package_has_every_source_file(lib, tmp_path):
    pkg = LIBS[lib]
    src = REPO / "libs" / lib / pkg
    target = tmp_path / "site"
    # a clean copy, as a Docker build context has: no build/ or *.egg-info left by earlier installs,
    # which setuptools would otherwise reuse and so hide a packaging mistake
    clean = tmp_path / lib
    shutil.copytree(REPO / "libs" / lib, clean,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "tests"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(target), str(clean)],
                   check=True, capture_output=True, cwd=tmp_path)
    wanted = {p.relative_to(src).as_posix() for p in src.rglob("*")
              if p.is_file() and p.suffix in (".py", ".json", ".onnx", ".tflite") and "__pycache__" not in p.parts}
    installed = {p.relative_to(target / pkg).as_posix() for p in (target / pkg).rglob("*") if p.is_file()}
    assert wanted, f"nothing found under {src}"
    assert wanted <= installed, f"left out of the {lib} package: {sorted(wanted - installed)}"
