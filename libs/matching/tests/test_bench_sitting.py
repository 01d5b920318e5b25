"""scripts/bench_sitting.py: one benchmark sitting over the dev sets, built when missing, benched
with bench_quality.py, saved and compared. Run for real on the self-contained demo dataset."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "bench_sitting.py"


def sitting(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=900,
                          cwd=REPO, env={**os.environ, **(env or {})})


def test_every_listed_set_names_a_generator_that_takes_its_flags():
    r = sitting("--list")
    assert r.returncode == 0, r.stderr
    sets = [line.split()[:3] for line in r.stdout.splitlines() if not line.startswith("group ")]
    names = [s[0] for s in sets]
    assert {"train", "val", "val-grid-c100", "val-4min-c300", "goods-4min-c300", "demo"} <= set(names)
    helps: dict[str, str] = {}
    for line in r.stdout.splitlines():
        if line.startswith("group "):
            continue
        name, _, script, *args = line.split()
        if script not in helps:
            h = subprocess.run([sys.executable, str(REPO / script), "--help"], capture_output=True, text=True, cwd=REPO)
            assert h.returncode == 0, h.stderr
            helps[script] = h.stdout
        flags = [a for a in args if a.startswith("--")]
        assert all(re.search(rf"{re.escape(f)}\b", helps[script]) for f in flags), (name, flags)
    assert re.search(r"^group c100: .*val-grid-c100", r.stdout, re.M)


def test_a_set_named_like_its_variants_is_the_one_set():
    # "val" is the set; its variants are the group "val-all" (a name no set has)
    r = sitting("--list")
    groups = dict(line.removeprefix("group ").split(": ", 1) for line in r.stdout.splitlines()
                  if line.startswith("group "))
    names = {line.split()[0] for line in r.stdout.splitlines() if not line.startswith("group ")}
    assert not set(groups) & names
    assert {"val", "val-grid", "val-twins"} <= set(groups["val-all"].split())


def test_an_unknown_set_is_refused_before_anything_runs(tmp_path):
    r = sitting("val", "val-nope", "--root", str(tmp_path))
    assert r.returncode == 2 and "val-nope" in r.stderr
    assert not any(tmp_path.iterdir())


def test_a_set_that_cannot_be_built_is_a_failed_row_and_the_sitting_fails(tmp_path):
    r = sitting("val", "--root", str(tmp_path), "--label", "x", env={"SHARED_DIR": str(tmp_path / "nothing")})
    assert r.returncode == 1
    saved = json.loads((tmp_path / "sittings" / "x.json").read_text())
    assert list(saved["results"]) == ["val"]  # the one set, not the group of val variants
    assert "grocery dataset not found" in saved["results"]["val"]["error"]
    assert re.search(r"^\| val \| failed \|.*grocery dataset not found", r.stdout, re.M)


def _bench_reuse(root: Path) -> dict:
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "bench_quality.py"), "--dataset", str(root / "demo"),
                        "--work", str(root / "work-demo"), "--reuse"], capture_output=True, text=True, cwd=REPO,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(900)
def test_a_sitting_builds_benches_saves_and_compares(tmp_path):
    # --reuse with nothing stored yet: built, prepared and verified, timings of its own
    r = sitting("demo", "--root", str(tmp_path), "--label", "before", "--reuse")
    assert r.returncode == 0, r.stderr
    before = json.loads((tmp_path / "sittings" / "before.json").read_text())
    assert before["results"]["demo"]["reused"] is False
    truth = tmp_path / "demo" / "truth.json"
    built_at = truth.stat().st_mtime_ns
    # the sitting saved bench_quality's own result: the same numbers it gives from the same evidence
    direct = _bench_reuse(tmp_path)
    got = before["results"]["demo"]
    for k in ("pairs_true", "pairs_predicted", "precision", "recall", "retrieval_recall_at_k", "calibration"):
        assert got[k] == direct[k], k
    assert got["keyframes_per_s"] > 0

    # the environment reaches the bench: an accept bar nobody reaches predicts nothing
    r = sitting("demo", "--root", str(tmp_path), "--label", "strict", "--reuse",
                "--compare", str(tmp_path / "sittings" / "before.json"), env={"MATCH_ACCEPT": "1.01"})
    assert r.returncode == 0, r.stderr
    strict = json.loads((tmp_path / "sittings" / "strict.json").read_text())["results"]["demo"]
    assert strict["pairs_predicted"] == 0 and strict["pairs_true"] == got["pairs_true"] and strict["reused"]
    assert truth.stat().st_mtime_ns == built_at  # not built again
    row = next(line for line in r.stdout.splitlines() if line.startswith("| demo |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == f"{got['recall']:.3f} -> 0.000"  # R, before -> after
    assert cells[6].endswith("-> reused")  # kf/s: a re-scoring measures no keyframe stage
    # a saved sitting shows the same table again, without running anything
    shown = sitting("--show", str(tmp_path / "sittings" / "strict.json"),
                    "--compare", str(tmp_path / "sittings" / "before.json"))
    assert shown.returncode == 0 and row in shown.stdout.splitlines()
