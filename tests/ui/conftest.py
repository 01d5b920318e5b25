"""The analyst's side, tested as an analyst meets it: one running stack for the whole suite (every
service a real process on the demo dataset, API keys on, its own database, exchange and queue
prefix), the web UI in a real headless Chromium (the system's, driven by Playwright), and the n8n
workflow in real n8n.

Fixtures: `stack` (session), `browser` (session), `page` (a fresh browser context per test that
fails the test on any uncaught JavaScript error), `demo_job` (a completed job of the demo dataset),
`db` (a psycopg connection to the stack's database).
"""

import asyncio
import sys
from pathlib import Path

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the tests import uistack, as tests/ops import opsparse

from common_py.testing import (ServiceStarter, build_demo_dataset, delete_test_topology,  # noqa: E402
                               isolated_settings, start_pipeline)
from common_py import browser as system_browser  # noqa: E402
from uistack import KEY, OTHER_KEY, Stack  # noqa: E402


@pytest.fixture(scope="session")
def stack(stack_env, pg_dsn, tmp_path_factory):
    root = tmp_path_factory.mktemp("ui-stack")
    (root / "data").mkdir()
    dataset = build_demo_dataset(root / "dataset")  # the demo's: 8 clips, `make demo`'s 8 matches
    settings = isolated_settings(stack_env, pg_dsn, root / "data")
    start = ServiceStarter(settings, root)
    try:
        procs = start_pipeline(start, dataset, API_KEYS=f"{KEY},{OTHER_KEY}")
        yield Stack(procs, settings, dataset, start)
    finally:
        bad = start.stop_all()
        asyncio.run(delete_test_topology(settings))
    assert not bad, f"services did not shut down cleanly on SIGTERM: {bad}"


@pytest.fixture
def db(stack):
    with psycopg.connect(stack.settings.postgres_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def demo_job(stack) -> str:
    """A completed job on the demo dataset: the one the browser test started from the form, or a
    new one started through the API when that test did not run."""
    if "form" not in stack.jobs:
        with stack.api(stack.orchestrator) as c:
            r = c.post("/start-job", json={"industry": "breakfast", "top_amz": 50, "top_ebay": 50})
            job_id = r.raise_for_status().json()["job_id"]
        assert stack.wait_for_job(job_id)["phase"] == "completed"
        stack.jobs["form"] = job_id
    return stack.jobs["form"]


@pytest.fixture(scope="session")
def browser(stack):
    # after the stack, so it closes before the stack's teardown: sync Playwright keeps an asyncio
    # loop running in this thread while it is open, and the fixtures around it call asyncio.run
    if system_browser.chromium_path() is None:
        pytest.skip(f"no Chromium on this machine: {system_browser.INSTALL_HINT}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = system_browser.launch(p)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, stack):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=stack.ui)
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"uncaught JavaScript errors: {errors}"
