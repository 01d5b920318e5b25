#!/usr/bin/env python3
"""Run integrations/n8n's workflow in a real, local n8n (the `n8n` npm package, CLI only, with a
SQLite database of its own) against a running stack, and print the items it outputs: one per match.

  .venv/bin/python scripts/n8n_local.py install          # n8n into the cache (once, ~10 min: 1.4 GB)
  .venv/bin/python scripts/n8n_local.py run --industry breakfast --top 50 --api-key "$KEY"

`install` puts the n8n that integrations/n8n/package-lock.json pins under
$N8N_CACHE_DIR (default ~/.cache/product-video-matcher/n8n/<hash of the lock>), with `npm ci` from
the npm registry; a later call finds it there. `run` imports the workflow (its Settings node set
from the options) and a Header Auth credential holding the key into a fresh n8n home, executes it
with `n8n execute`, and prints the items of its last node as JSON, one per line. It is what the
tests in tests/ui/test_n8n.py do, and a way to try the workflow without an n8n server.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
N8N_DIR = REPO / "integrations" / "n8n"
WORKFLOW = N8N_DIR / "product-video-matcher.workflow.json"
WORKFLOW_ID = "pvmJobToMatches1"
CREDENTIAL = {"id": "pvmApiKeyCred01", "name": "Product-video matcher API key", "type": "httpHeaderAuth"}
OUTPUT_NODE = "Match"


class RegistryUnreachable(RuntimeError):
    """npm is missing or the npm registry does not answer: n8n cannot be installed here."""


def cache_dir() -> Path:
    """Where the pinned n8n is installed: one folder per lock file, so a new pin installs anew."""
    digest = hashlib.sha256((N8N_DIR / "package.json").read_bytes() + (N8N_DIR / "package-lock.json").read_bytes())
    base = os.environ.get("N8N_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / \
        "product-video-matcher" / "n8n"
    return Path(base) / digest.hexdigest()[:16]


def n8n_bin(root: Path | None = None) -> Path:
    return (root or cache_dir()) / "node_modules" / ".bin" / "n8n"


def installed() -> Path | None:
    path = n8n_bin()
    return path if path.exists() and (cache_dir() / ".complete").exists() else None


def install(timeout_s: float = 2400, log=print) -> Path:
    """The n8n binary, installed first if the cache has none. Raises RegistryUnreachable when npm
    or the registry is not there (callers may skip), RuntimeError when the install itself fails."""
    found = installed()
    if found:
        return found
    npm = shutil.which("npm")
    if npm is None:
        raise RegistryUnreachable("npm is not installed (Debian: apt-get install npm), so n8n cannot be installed")
    ping = subprocess.run([npm, "ping"], capture_output=True, text=True, timeout=60)
    if ping.returncode != 0:
        raise RegistryUnreachable(f"the npm registry does not answer (`npm ping`: {ping.stderr.strip()[-300:]})")
    target = cache_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))  # renamed into place when whole
    for name in ("package.json", "package-lock.json"):
        shutil.copy(N8N_DIR / name, work / name)
    log(f"installing n8n into {target} (npm ci; about 10 minutes and 1.4 GB the first time)")
    env = dict(os.environ, SCARF_ANALYTICS="false", npm_config_fund="false", npm_config_audit="false",
               npm_config_update_notifier="false")
    run = subprocess.run([npm, "ci", "--loglevel=error"], cwd=work, env=env, capture_output=True, text=True,
                         timeout=timeout_s)
    if run.returncode != 0:
        shutil.rmtree(work, ignore_errors=True)
        raise RuntimeError(f"npm ci failed ({run.returncode}):\n{run.stderr[-3000:]}")
    (work / ".complete").write_text("npm ci finished\n")
    if target.exists():  # another process finished first: keep its copy
        shutil.rmtree(work, ignore_errors=True)
    else:
        work.rename(target)
    return n8n_bin()


def configured_workflow(settings: dict) -> dict:
    """The workflow file with its Settings node's values replaced by `settings` (as a user edits it)."""
    workflow = json.loads(WORKFLOW.read_text())
    [node] = [n for n in workflow["nodes"] if n["name"] == "Settings"]
    fields = {a["name"]: a for a in node["parameters"]["assignments"]["assignments"]}
    unknown = set(settings) - set(fields)
    if unknown:
        raise ValueError(f"the Settings node has no field(s) {sorted(unknown)}; it has {sorted(fields)}")
    for name, value in settings.items():
        fields[name]["value"] = value
    return workflow


class LocalN8n:
    """n8n's CLI on a home folder of its own (SQLite database, config, encryption key)."""

    def __init__(self, binary: Path, home: Path):
        self.binary = binary
        self.home = home
        # logs as JSON lines at level info: `n8n execute` writes the run data as one info message,
        # whether the run succeeded or not
        self.env = dict(os.environ, N8N_USER_FOLDER=str(home), DB_TYPE="sqlite", DB_SQLITE_POOL_SIZE="2",
                        N8N_ENCRYPTION_KEY=secrets.token_hex(16), N8N_DIAGNOSTICS_ENABLED="false",
                        N8N_VERSION_NOTIFICATIONS_ENABLED="false", N8N_TEMPLATES_ENABLED="false",
                        N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS="false", N8N_LOG_LEVEL="info", N8N_LOG_FORMAT="json",
                        N8N_RUNNERS_ENABLED="false", N8N_BLOCK_ENV_ACCESS_IN_NODE="true",
                        N8N_PERSONALIZATION_ENABLED="false")

    def cli(self, *args: str, timeout_s: float = 900, check: bool = True) -> subprocess.CompletedProcess:
        run = subprocess.run([str(self.binary), *args], env=self.env, capture_output=True, text=True,
                             timeout=timeout_s)
        if check and run.returncode != 0:
            raise RuntimeError(f"n8n {' '.join(args)} failed ({run.returncode}):\n"
                               f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
        return run

    def import_file(self, kind: str, data) -> None:
        path = self.home / f"{kind}.json"
        path.write_text(json.dumps(data))
        self.cli(f"import:{kind}", f"--input={path}")

    def execute(self, workflow_id: str, timeout_s: float = 1800) -> dict:
        """The run data of one execution (`n8n execute`); raises WorkflowFailed saying where and why
        when the workflow stopped on an error."""
        out = self.cli("execute", f"--id={workflow_id}", "--rawOutput", timeout_s=timeout_s, check=False)
        run = _run_data(out.stdout)
        if run is None:
            raise RuntimeError(f"n8n execute ({out.returncode}) gave no run data:\n"
                               f"{out.stdout[-3000:]}\n{out.stderr[-2000:]}")
        error = run["data"]["resultData"].get("error")
        if error:
            raise WorkflowFailed(error)
        return run


class WorkflowFailed(RuntimeError):
    """The workflow stopped on an error: `node` is where, the message says why (with the HTTP
    status and the API's own message for a refused call)."""

    def __init__(self, error: dict):
        self.node = (error.get("node") or {}).get("name")
        self.http_code = error.get("httpCode")
        why = error.get("message", "")
        if error.get("httpCode"):
            why += f" (HTTP {error['httpCode']}: {error.get('description') or ''})"
        super().__init__(f"the workflow stopped at {self.node!r}: {why}")


def _run_data(log_lines: str) -> dict | None:
    """The run data among n8n's JSON log lines: the message that is itself a JSON object with "data"."""
    for line in log_lines.splitlines():
        try:
            message = json.loads(line)["message"]
            run = json.loads(message)
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(run, dict) and isinstance(run.get("data"), dict) and "resultData" in run["data"]:
            return run
    return None


def node_items(run: dict, node: str) -> list[dict]:
    """The items a node output in its last run."""
    runs = run["data"]["resultData"]["runData"].get(node)
    if not runs:
        return []
    return [item["json"] for branch in runs[-1]["data"]["main"] for item in branch or []]


def run_workflow(binary: Path, home: Path, settings: dict, api_key: str,
                 timeout_s: float = 1800) -> tuple[list[dict], dict]:
    """(the items of the workflow's last node, the whole run data)."""
    home.mkdir(parents=True, exist_ok=True)
    n8n = LocalN8n(binary, home)
    n8n.import_file("credentials", [{**CREDENTIAL, "data": {"name": "X-API-Key", "value": api_key}}])
    n8n.import_file("workflow", configured_workflow(settings))
    run = n8n.execute(WORKFLOW_ID, timeout_s)
    return node_items(run, OUTPUT_NODE), run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="install the pinned n8n into the cache (if it is not there) and print its path")
    r = sub.add_parser("run", help="execute the workflow against a running stack and print its items")
    r.add_argument("--orchestrator", default=f"http://127.0.0.1:{os.environ.get('ORCHESTRATOR_PORT', '8000')}")
    r.add_argument("--results-api", default=f"http://127.0.0.1:{os.environ.get('RESULTS_API_PORT', '8080')}")
    r.add_argument("--industry", default="breakfast")
    r.add_argument("--top", type=int, default=10, help="top_amz and top_ebay")
    r.add_argument("--min-score", type=float, default=0.0)
    r.add_argument("--poll-seconds", type=float, default=5)
    r.add_argument("--api-key", default=os.environ.get("API_KEY", ""),
                   help="sent as X-API-Key by the workflow's credential (any value when the API has no keys)")
    r.add_argument("--home", type=Path, help="n8n's home folder (default: a temporary one, removed afterwards)")
    args = ap.parse_args(argv)
    try:
        binary = install(log=lambda m: print(m, file=sys.stderr))
    except RegistryUnreachable as exc:
        print(f"n8n is not installed and cannot be: {exc}", file=sys.stderr)
        return 2
    if args.command == "install":
        print(binary)
        return 0
    settings = {"orchestratorUrl": args.orchestrator, "resultsApiUrl": args.results_api, "industry": args.industry,
                "top_amz": args.top, "top_ebay": args.top, "min_score": args.min_score,
                "poll_seconds": args.poll_seconds}
    with tempfile.TemporaryDirectory(prefix="n8n-home-") as tmp:
        items, _ = run_workflow(binary, args.home or Path(tmp), settings, args.api_key or "none")
    for item in items:
        print(json.dumps(item))
    print(f"{len(items)} item(s), one per match", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
