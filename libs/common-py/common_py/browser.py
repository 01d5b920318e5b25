"""The system's Chromium for Playwright (the UI's browser tests, scripts/ui_screenshots.py).

Playwright's own browser download (`playwright install`) needs a site other than the package
registries, so the project drives Debian's `chromium` package instead; CHROMIUM_PATH points at
another build."""

from __future__ import annotations

import os
import shutil

# headless without a GPU or a sandbox (containers, CI), and no background calls to the internet
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
INSTALL_HINT = ("`apt-get install chromium` (Debian's package; .ci/run installs it), or set CHROMIUM_PATH; "
                "Playwright drives the system browser and never downloads its own")


def chromium_path() -> str | None:
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")


def launch(playwright, **kwargs):
    """A headless Chromium from a started `sync_playwright()` (or async) object."""
    path = chromium_path()
    if path is None:
        raise RuntimeError(f"no Chromium on this machine: {INSTALL_HINT}")
    return playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, **kwargs)
