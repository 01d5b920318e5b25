#!/usr/bin/env python3
"""Break the running system in every way an operator will meet, and say what was lost or duplicated.

Brings up a stack of its own (a RabbitMQ node and an embedded Postgres on free ports, the ten
services under supervisord, the demo dataset plus broken files, all under one folder), runs each
experiment against it, checks every job against the truth (phase, the matches of an undisturbed
run, no duplicate rows, one `.completed` per stage, dead letters only where bad input was put),
prints one table, and as its last line one JSON object:
  {"experiments": N, "passed": P, "lost": L, "duplicated": D, "seconds": S}
Nothing of the machine's own RabbitMQ, Redis or Postgres is restarted. Exit status 0 only when
every experiment passed.

  python scripts/chaos.py                 every experiment (about half an hour on 2 cores)
  python scripts/chaos.py --quick         the ones `make test` runs (tests/chaos)
  python scripts/chaos.py --only kill     experiments whose name contains "kill" (after the undisturbed run)
  python scripts/chaos.py --list          the experiments, and which are quick
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
import uuid
from pathlib import Path

from common_py.chaos.experiments import EXPERIMENTS, Chaos, run_experiment
from common_py.chaos.report import json_line, markdown, table
from common_py.chaos.stack import ChaosStack
from common_py.devstack.services import REPO_ROOT


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def main_async(args) -> int:
    chosen = [e for e in EXPERIMENTS if (e.quick or not args.quick)]
    if args.only:
        chosen = [chosen[0]] + [e for e in chosen[1:] if args.only.lower() in e.name.lower()]
    root = Path(args.root or REPO_ROOT / "data" / "chaos" / time.strftime(f"%Y%m%d-%H%M%S-{uuid.uuid4().hex[:4]}"))
    stack = ChaosStack(root, videos=args.videos)
    rows = []
    try:
        await stack.start(log)
        chaos = Chaos(stack, log)
        for experiment in chosen:
            rows.append(await run_experiment(chaos, experiment))
    finally:
        if args.keep:
            log(f"stack left running in {root} (stop it: supervisorctl -c {root}/data/run/supervisord.conf shutdown)")
        else:
            log("stopping the chaos stack")
            await stack.stop()
            shutil.rmtree(root, ignore_errors=True)
    if args.markdown:
        Path(args.markdown).write_text(markdown(rows) + "\n")
    print(table(rows))
    print(json_line(rows), flush=True)
    return 0 if rows and all(r.passed for r in rows) else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="only the experiments `make test` runs")
    ap.add_argument("--only", help="only experiments whose name contains this (the undisturbed run always comes first)")
    ap.add_argument("--list", action="store_true", help="list the experiments and exit")
    ap.add_argument("--videos", type=int, default=8, help="clips in the demo dataset (default 8, as `make demo`)")
    ap.add_argument("--root", help="folder for the stack (default data/chaos/<time>; removed afterwards)")
    ap.add_argument("--keep", action="store_true", help="leave the stack running afterwards, to look around")
    ap.add_argument("--markdown", help="also write the table as Markdown to this file")
    args = ap.parse_args(argv)
    if args.list:
        for e in EXPERIMENTS:
            print(f"{'quick' if e.quick else '     '}  {e.name}: {e.expected}")
        return 0
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
