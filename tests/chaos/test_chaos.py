"""The fault-injection experiments `make test` runs (issue 16): kill -9 of the matcher,
vision-keypoint and evidence-builder mid-job, every event published twice, handled events
redelivered, 25+ kinds of bad input beside a job, 5 jobs at once, a full disk for one service;
each job checked against the truth (common_py.chaos.truth). `make chaos` runs these and the
long ones (every service killed, two replicas, broker and Postgres restarts, 20 jobs)."""

import pytest

from common_py.chaos.experiments import EXPERIMENTS, run_experiment

QUICK = [e for e in EXPERIMENTS if e.quick]
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("experiment", QUICK, ids=[e.name.replace(" ", "_") for e in QUICK])
async def test_experiment(chaos, experiment):
    if chaos.baseline is None and experiment is not EXPERIMENTS[0]:
        await run_experiment(chaos, EXPERIMENTS[0])  # the undisturbed run every other one compares with
    row = await run_experiment(chaos, experiment)
    chaos.rows.append(row)  # the table at the end of the run (conftest)
    assert row.passed, "\n".join([f"{row.name}: {row.outcome}", *row.problems])
