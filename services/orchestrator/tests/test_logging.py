"""Every line the orchestrator logs is JSON, tracebacks too, after Prefect has set up its logging
(issue 16: Prefect gave uvicorn's logger a plain-text handler, so HTTP 500 tracebacks were not)."""

import json
import os
import subprocess
import sys
from pathlib import Path

SERVICE = Path(__file__).resolve().parents[1]

SCRIPT = """
import logging
from config_loader import load_config
from common_py.logs import configure_logging
config = load_config()
configure_logging("orchestrator")
from prefect.logging.configuration import setup_logging
setup_logging()  # what Prefect does when the first flow runs (the warm-up)
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    logging.getLogger("fastapi").exception("a fastapi error")
    logging.getLogger("prefect.task_runs").error("a task failed")
"""


def test_tracebacks_are_json_after_prefect_sets_up_logging(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(DATA_ROOT=str(tmp_path), PYTHONPATH=str(SERVICE))
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=SERVICE, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # fails on any plain-text line
    by_logger = {r["logger"]: r for r in records}
    assert "ZeroDivisionError" in by_logger["uvicorn.error"]["exc_info"]
    assert by_logger["uvicorn.error"]["service"] == "orchestrator"
    assert {"fastapi", "prefect.task_runs"} <= set(by_logger)
