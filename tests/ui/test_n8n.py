"""integrations/n8n's workflow imported into real n8n (the pinned npm package, its CLI, a SQLite
database of its own) and executed against the running stack: it starts a job, polls its status until
the job is done, fetches the results and outputs one item per match, sending the API key as an n8n
credential. n8n is installed into a cache once (scripts/n8n_local.py); the test skips only where
npm or its registry cannot be reached."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from uistack import OTHER_KEY

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import n8n_local  # noqa: E402

# the first test also installs n8n when the cache has none (npm ci: 6 to 10 minutes on 2 cores)
pytestmark = pytest.mark.timeout(3000)


@pytest.fixture(scope="session")
def n8n():
    try:
        return n8n_local.install(log=lambda m: print(m, flush=True))
    except n8n_local.RegistryUnreachable as exc:
        pytest.skip(f"n8n cannot be installed here: {exc}")


def settings(stack, **extra) -> dict:
    return {"orchestratorUrl": stack.orchestrator, "resultsApiUrl": stack.ui, "industry": "breakfast",
            "top_amz": 50, "top_ebay": 50, "poll_seconds": 1, **extra}


def test_the_workflow_starts_a_job_waits_for_it_and_outputs_one_item_per_match(n8n, stack, tmp_path):
    items, run = n8n_local.run_workflow(n8n, tmp_path / "home", settings(stack), OTHER_KEY)
    ran = run["data"]["resultData"]["runData"]
    # it polled: the status was asked for more than once before the job was done
    assert len(ran["Get status"]) >= 2 and len(ran["Wait"]) == len(ran["Get status"])
    [status] = n8n_local.node_items(run, "Get status")
    assert status["phase"] == "completed"
    job_id = status["job_id"]

    expected = stack.matches(job_id)
    assert expected, "the demo job found no match: nothing to compare"
    assert [i["match_id"] for i in items] == [m["match_id"] for m in expected]  # one item per match, in order
    for item, match in zip(items, expected):
        assert item == {
            "job_id": job_id, "match_id": match["match_id"], "score": match["score"], "ts": match["ts"],
            "product_id": match["product"]["product_id"], "product_title": match["product"]["title"],
            "product_brand": match["product"]["brand"], "product_url": match["product"]["url"],
            "video_id": match["video"]["video_id"], "video_title": match["video"]["title"],
            "video_platform": match["video"]["platform"], "watch_url": match["watch_url"],
            "evidence_url": stack.ui + match["evidence_url"], "ui_url": f"{stack.ui}/#/jobs/{job_id}"}

    # min_score in the Settings node filters on the API's side
    cut = sorted(m["score"] for m in expected)[len(expected) // 2]
    items, _ = n8n_local.run_workflow(n8n, tmp_path / "home2", settings(stack, min_score=cut), OTHER_KEY)
    assert [i["match_id"] for i in items] == [m["match_id"] for m in stack.matches(items[0]["job_id"])
                                              if m["score"] >= cut]


def test_a_wrong_key_stops_the_workflow_at_the_first_call(n8n, stack, tmp_path):
    with pytest.raises(n8n_local.WorkflowFailed) as failed:
        n8n_local.run_workflow(n8n, tmp_path / "home", settings(stack), "not-a-key")
    assert failed.value.node == "Start job" and failed.value.http_code == "401"
    assert "the X-API-Key header does not hold a valid key" in str(failed.value)  # the API's own message


def test_a_refused_job_and_a_job_past_the_timeout_stop_the_workflow_saying_why(n8n, stack, tmp_path):
    # a platform the orchestrator does not know: it refuses the job (422), the workflow stops there
    with pytest.raises(n8n_local.WorkflowFailed) as failed:
        n8n_local.run_workflow(n8n, tmp_path / "home", settings(stack, platforms="tiktok"), OTHER_KEY)
    assert failed.value.node == "Start job" and failed.value.http_code == "422"
    assert "'youtube' or 'bilibili'" in str(failed.value), failed.value  # the API's message
    # a job still running after timeout_minutes: the workflow gives up, naming the job and its phase
    with pytest.raises(n8n_local.WorkflowFailed) as failed:
        n8n_local.run_workflow(n8n, tmp_path / "home2", settings(stack, timeout_minutes=0), OTHER_KEY)
    assert failed.value.node == "Stop: timed out", failed.value
    assert re.search(r"job \S+ is still in \w+ after 0 minutes", str(failed.value)), failed.value
