"""SPEC §3: the retired event names must not appear anywhere in the repository.

The names are assembled from pieces so that this file is the only place that knows them and
does not itself contain them.
"""

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RETIRED = [".".join(p) for p in (("features", "ready"), ("features", "extraction", "completed"),
                                  ("match", "result", "enriched"))]
# The same names as they would appear in file names (schema files use the routing key).
RETIRED += [n.replace(".", "_") for n in RETIRED]


def _repo_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                         cwd=REPO, capture_output=True, check=True).stdout
    return [REPO / p for p in out.decode().split("\0") if p]


def test_no_retired_event_name_anywhere_in_the_repo():
    hits = []
    for path in _repo_files():
        if not path.is_file():
            continue
        rel = path.relative_to(REPO).as_posix()
        text = path.read_bytes().decode("utf-8", errors="ignore")
        for name in RETIRED:
            if name in rel or name in text:
                hits.append(f"{rel}: {name}")
    assert not hits, "retired event names found (SPEC §3):\n" + "\n".join(hits)


def test_the_scan_would_catch_a_retired_name(tmp_path):
    # Guard against a scan that silently checks nothing: the file list must include this file,
    # and the matcher must fire on text that contains a name.
    files = {p.relative_to(REPO).as_posix() for p in _repo_files()}
    assert "tests/repo/test_retired_event_names.py" in files
    assert any(name in f"publish('{RETIRED[1]}')" for name in RETIRED)
