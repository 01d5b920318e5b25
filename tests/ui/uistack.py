"""Helpers of the UI suite: the running stack the tests share, the key the UI is given, Chromium."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from common_py.settings import CommonSettings
from common_py.testing import ServiceProcess, ServiceStarter

KEY = "analyst-key-1"
OTHER_KEY = "n8n-key-2"


@dataclass
class Stack:
    procs: dict[str, list[ServiceProcess]]
    settings: CommonSettings
    dataset: Path
    start: ServiceStarter
    jobs: dict[str, str] = field(default_factory=dict)  # what the tests started, by name

    @property
    def ui(self) -> str:
        return self.procs["results-api"][0].url

    @property
    def orchestrator(self) -> str:
        return self.procs["orchestrator"][0].url

    def api(self, base: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=base or self.ui, headers={"X-API-Key": KEY}, timeout=30)

    def wait_for_job(self, job_id: str, timeout: float = 600) -> dict:
        deadline = time.monotonic() + timeout
        with self.api(self.orchestrator) as c:
            while True:
                status = c.get(f"/status/{job_id}").raise_for_status().json()
                if status["phase"] in ("completed", "failed"):
                    return status
                assert time.monotonic() < deadline, status
                time.sleep(1)

    def matches(self, job_id: str) -> list[dict]:
        with self.api() as c:
            return c.get("/results", params={"job_id": job_id, "limit": 200}).raise_for_status().json()["items"]


def enter_key(page, key: str = KEY) -> None:
    """Answer the key dialog the UI opens on its first 401."""
    dialog = page.locator("#key-dialog")
    dialog.wait_for(state="visible")
    page.fill("#key-input", key)
    page.press("#key-input", "Enter")
    dialog.wait_for(state="hidden")
