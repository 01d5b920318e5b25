"""One chaos stack for the module (common_py.chaos: a RabbitMQ node and a Postgres of its own, the
ten services under supervisord, the demo dataset), and the report table at the end of the run."""

import shutil
import sys

import pytest
import pytest_asyncio

from common_py.chaos.experiments import Chaos
from common_py.chaos.infra import RabbitNode
from common_py.chaos.report import json_line, table
from common_py.chaos.stack import ChaosStack

RUNS: list[Chaos] = []  # what the terminal summary reports


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chaos(tmp_path_factory):
    if not RabbitNode.available():
        pytest.skip("rabbitmq-server is not installed (apt-get install rabbitmq-server): the chaos suite runs a "
                    "broker of its own, which it may stop and restart")
    stack = ChaosStack(tmp_path_factory.mktemp("chaos"))
    try:
        await stack.start(log)
        chaos = Chaos(stack, log)
        RUNS.append(chaos)
        yield chaos
    finally:
        await stack.stop()
        for bulky in ("rabbit", "pg", "dataset"):  # keep data/logs for a failed run to be read
            shutil.rmtree(stack.root / bulky, ignore_errors=True)


def pytest_terminal_summary(terminalreporter):
    for chaos in RUNS:
        terminalreporter.write_sep("-", "chaos experiments")
        terminalreporter.write_line(table(chaos.rows))
        terminalreporter.write_line(json_line(chaos.rows))
