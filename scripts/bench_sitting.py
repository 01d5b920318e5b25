#!/usr/bin/env python3
"""One benchmark sitting: every dev set of docs/quality.md, built if missing, benched, one table.

A matching change is judged on all of them at once, before and after, on one machine
(docs/quality.md). This runs that sitting: for each set named (or each set of a group), it
builds the dataset with its generator when ``ROOT/<set>`` holds none, runs
``bench_quality.py --dataset ROOT/<set> --work ROOT/work-<set>`` (its caches kept, so
``--reuse`` re-scores from the stored evidence in seconds), and saves every set's bench JSON
in ``ROOT/sittings/<label>.json`` as each one finishes, so an interrupted sitting keeps what it
ran. The environment passes through: ``APP_CHANCES_REF=0 scripts/bench_sitting.py ...`` is the
same sitting with one setting changed. ``--compare`` puts an earlier sitting's numbers beside;
``--show`` prints a saved sitting's table again (an interrupted one's too).

Examples:
  python scripts/bench_sitting.py --list
  python scripts/bench_sitting.py fit val-all goods demo --label before
  python scripts/bench_sitting.py all --label after --compare data/bench/sittings/before.json
  APP_CHANCES_REF=0 python scripts/bench_sitting.py c300 --reuse --label no-chances

Columns: P / R at MATCH_ACCEPT; recall@K (the true product among some keyframe's candidates);
true/scored >= 0.80 (every scored (product, video) at 0.80 or more, accepted or not: the
calibration the issue asks for per set); keyframes verified / extracted; keyframes per second of
the keyframe stages; seconds per video minute (keyframe stages + matching, and matching alone).
A set that fails (its data missing, a crash) is a row saying why; the exit code is then 1.
"""
from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "scripts"


def _grocery(split: str, *flags: str) -> list[str]:
    return ["make_grocery_dataset.py", "--split", split, *flags]


def _variants(name: str, base: list[str], sizes=(100, 300)) -> dict[str, list[str]]:
    """A set and its bigger-catalog twins (``-c100``, ``-c300``: the same clips and truth)."""
    out = {name: base}
    out.update({f"{name}-c{n}": [*base, "--catalog-size", str(n)] for n in sizes})
    return out


# set name -> generator (script, arguments before the output folder's place at the end)
SETS: dict[str, list[str]] = {
    "train": _grocery("train"),
    "train-c300": _grocery("train", "--catalog-size", "300"),
    "train-degraded": _grocery("train", "--degrade"),
    "train-grid": _grocery("train", "--grid"),
    **_variants("val", _grocery("val")),
    **_variants("val-degraded", _grocery("val", "--degrade")),
    **_variants("val-grid", _grocery("val", "--grid")),
    **_variants("val-shelf", _grocery("val", "--shelf")),
    **_variants("val-wide", _grocery("val", "--footage", "wide")),
    **_variants("val-twins", _grocery("val", "--more-twins")),
    **_variants("val-4min", _grocery("val", "--bury", "4")),
    **_variants("goods", ["make_goods_dataset.py"]),
    **_variants("goods-4min", ["make_goods_dataset.py", "--bury", "4"], sizes=(300,)),
    "demo": ["make_demo_dataset.py"],
}

# groups of sets; never a set's name, so "val" is always the one set and "val-all" its variants
GROUPS: dict[str, list[str]] = {
    "fit": [n for n in SETS if n.startswith("train")],
    "val-all": [n for n in SETS if n.startswith("val") and "-c" not in n and "4min" not in n],
    "c100": [n for n in SETS if n.endswith("-c100")],
    "c300": [n for n in SETS if n.endswith("-c300")],
    "long": [n for n in SETS if "4min" in n],
    "goods-all": [n for n in SETS if n.startswith("goods")],
    "short": [n for n in SETS if "4min" not in n],
    "all": list(SETS),
}
assert not set(GROUPS) & set(SETS)


def expand(names: list[str]) -> list[str]:
    """Set and group names -> set names, in the order given, each once."""
    out: list[str] = []
    for n in names:
        for s in GROUPS.get(n, [n]):
            if s not in SETS:
                raise KeyError(n)
            if s not in out:
                out.append(s)
    return out


def generator_command(name: str, out: Path) -> list[str]:
    script, *args = SETS[name]
    return [sys.executable, str(SCRIPTS / script), *args, str(out)]


def _tail(text: str, n: int = 300) -> str:
    return " ".join(text.strip().split())[-n:]


def run_set(name: str, root: Path, reuse: bool, workers: int | None) -> dict:
    """Build ``name`` when missing, bench it; its bench JSON, or ``{"error": ...}``. ``reused``
    in it says whether it was scored from stored evidence (``reuse`` and a cache there)."""
    data, work = root / name, root / f"work-{name}"
    reused = reuse and (work / "verified.pkl").is_file() and (work / "prepared.pkl").is_file()
    if not (data / "truth.json").is_file():
        r = subprocess.run(generator_command(name, data), capture_output=True, text=True, cwd=REPO)
        if r.returncode != 0:
            return {"error": f"building the set failed: {_tail(r.stderr or r.stdout)}"}
    cmd = [sys.executable, str(SCRIPTS / "bench_quality.py"), "--dataset", str(data), "--work", str(work)]
    if reuse:
        cmd.append("--reuse")
    if workers:
        cmd += ["--workers", str(workers)]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    lines = r.stdout.strip().splitlines()
    if r.returncode != 0 or not lines:
        return {"error": f"bench_quality exited {r.returncode}: {_tail(r.stderr)}"}
    return {**json.loads(lines[-1]), "reused": reused}


def scored_at(result: dict, edge: float = 0.80) -> str:
    """true/scored over the calibration bins from ``edge`` up."""
    bins = [b for b in result.get("calibration", []) if float(b["bin"].split("-")[0]) >= edge - 1e-9]
    return f"{sum(b['true'] for b in bins)}/{sum(b['pairs'] for b in bins)}"


TIMINGS = ("kf/s", "s/video-min", "matching s/video-min")
COLUMNS = ("P", "R", "recall@K", ">=0.80", "keyframes", *TIMINGS, "note")


def row(result: dict | None) -> dict[str, str]:
    """The table's cells for one set's bench JSON (one scored from stored evidence has no
    timings of its own: they read "reused")."""
    if result is None:
        return {}
    if "error" in result:
        return {"P": "failed", "note": result["error"]}
    pvm = result.get("per_video_minute") or {}

    def num(v, fmt="{:.3f}"):
        return "-" if v is None else fmt.format(v)

    cells = {
        "P": num(result.get("precision")), "R": num(result.get("recall")),
        "recall@K": num(result.get("retrieval_recall_at_k"), "{:.2f}"),
        ">=0.80": scored_at(result),
        "keyframes": f"{result.get('verified_keyframes', '-')}/{result.get('keyframes_extracted', '-')}",
        "kf/s": num(result.get("keyframes_per_s"), "{:.2f}"),
        "s/video-min": num(pvm.get("wall_s"), "{:.2f}"),
        "matching s/video-min": num(pvm.get("matching_wall_s"), "{:.2f}"),
    }
    if result.get("reused"):
        cells.update({c: "reused" for c in TIMINGS})
    return cells


def table(sitting: dict, before: dict | None = None) -> str:
    """Markdown table of a sitting; with ``before`` (an earlier sitting), each cell reads
    ``before -> after`` where the two differ."""
    lines = ["| set | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, res in sitting["results"].items():
        now = row(res)
        old = row(before["results"].get(name)) if before else {}
        cells = []
        for c in COLUMNS:
            a, b = old.get(c), now.get(c, "")
            cells.append(b if a is None or a == b else f"{a} -> {b}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _commit() -> str | None:
    r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO)
    return r.stdout.strip() or None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog=f"groups: {', '.join(GROUPS)} (--list shows their sets)")
    ap.add_argument("sets", nargs="*", help="set or group names (see --list)")
    ap.add_argument("--list", action="store_true", help="print every set and the command that builds it")
    ap.add_argument("--root", type=Path, default=REPO / "data" / "bench",
                    help="where the sets, their work folders and the sittings live (default data/bench)")
    ap.add_argument("--label", default=None, help="name of this sitting (default: the date and time)")
    ap.add_argument("--reuse", action="store_true",
                    help="score from each set's stored evidence where it has some (bench_quality --reuse): "
                         "for aggregation changes")
    ap.add_argument("--compare", type=Path, default=None, metavar="SITTING.json",
                    help="an earlier sitting: its numbers beside this one's")
    ap.add_argument("--workers", type=int, default=None, help="bench_quality --workers")
    ap.add_argument("--show", type=Path, default=None, metavar="SITTING.json",
                    help="print a saved sitting's table (one cut short too) and run nothing")
    args = ap.parse_args(argv)

    if args.list:
        for name in SETS:
            print(f"{name:18s} python scripts/{' '.join(SETS[name])} {args.root / name}")
        for group, members in GROUPS.items():
            print(f"group {group}: {' '.join(members)}")
        return 0
    before = None
    for opt, path in (("--compare", args.compare), ("--show", args.show)):
        if path is not None and not path.is_file():
            print(f"{opt} {path}: no such sitting", file=sys.stderr)
            return 2
    if args.compare is not None:
        before = json.loads(args.compare.read_text())
    if args.show is not None:
        print(table(json.loads(args.show.read_text()), before))
        return 0
    if not args.sets:
        ap.error("name at least one set or group (--list shows them)")
    try:
        names = expand(args.sets)
    except KeyError as exc:
        print(f"unknown set or group {exc.args[0]!r}; --list shows them", file=sys.stderr)
        return 2

    label = args.label or datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.root / "sittings" / f"{label}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    sitting = {"label": label, "commit": _commit(),
               "started": datetime.datetime.now().isoformat(timespec="seconds"), "results": {}}
    for i, name in enumerate(names, 1):
        print(f"[{i}/{len(names)}] {name} ...", file=sys.stderr, flush=True)
        res = run_set(name, args.root, args.reuse, args.workers)
        sitting["results"][name] = res
        out.write_text(json.dumps(sitting, indent=1))
        cells = row(res)
        print(f"[{i}/{len(names)}] {name}: " + ", ".join(f"{c} {cells.get(c, '')}" for c in (*COLUMNS[:4], "note")
                                                 if cells.get(c)),
              file=sys.stderr, flush=True)
    print(table(sitting, before))
    print(f"\nsaved: {out}")
    return 1 if any("error" in r for r in sitting["results"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
