#!/usr/bin/env python3
"""Screenshots of the web UI's main pages, for docs/ and the README, taken in headless Chromium (the
system's, see common_py.browser) against a running stack: the jobs list, a job's page with its
matches, an evidence image opened, a product page, a video page, and a job page in a narrow window.

  make demo                                              # a completed job with matches
  .venv/bin/python scripts/ui_screenshots.py --out docs/screenshots

The PNGs are reduced to a 256-colour palette, so the set stays small enough to keep in git.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import httpx
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo import default_api_key  # noqa: E402  (the same key rule as the demo: API_KEYS' first)

from common_py import browser as system_browser  # noqa: E402

WIDTH, HEIGHT = 1200, 820


def pick_job(api: httpx.Client) -> str:
    """The most recent completed job that has matches."""
    for job in api.get("/orchestrator/jobs", params={"limit": 50}).raise_for_status().json():
        if job["phase"] != "completed":
            continue
        if api.get(f"/jobs/{job['job_id']}/matches", params={"limit": 1}).raise_for_status().json()["total"]:
            return job["job_id"]
    raise SystemExit("no completed job with matches: run `make demo` first, or pass --job")


def images_loaded(page) -> None:
    """Wait until every image the UI has started to load is there (lazy images off screen never start)."""
    page.wait_for_timeout(300)
    page.wait_for_function("[...document.querySelectorAll('img[data-src]')].every((img) => {"
                           "  const r = img.getBoundingClientRect();"
                           "  return r.top > innerHeight || r.bottom < 0 || (img.complete && img.naturalWidth > 0); })",
                           timeout=20_000)


def shoot(page, path: Path) -> None:
    page.screenshot(path=str(path))
    Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)
    print(f"{path}  {path.stat().st_size // 1024} KiB")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=f"http://127.0.0.1:{os.environ.get('RESULTS_API_PORT', '8080')}",
                    help="the web UI (results-api)")
    ap.add_argument("--api-key", default=default_api_key(), help="X-API-Key (default: the first of API_KEYS)")
    ap.add_argument("--job", help="the job to show (default: the most recent completed job with matches)")
    ap.add_argument("--out", type=Path, default=Path("docs/screenshots"), help="folder for the PNGs")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    headers = {"X-API-Key": args.api_key} if args.api_key else {}
    with httpx.Client(base_url=args.url, headers=headers, timeout=30) as api:
        job_id = args.job or pick_job(api)
        best = api.get(f"/jobs/{job_id}/matches", params={"limit": 1}).raise_for_status().json()["items"][0]
    args.out.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as p:
        browser = system_browser.launch(p)
        context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, base_url=args.url)
        if args.api_key:  # as if the key had been entered once in this tab
            context.add_init_script(f"sessionStorage.setItem('pvm.apiKey', {json.dumps(args.api_key)})")
        page = context.new_page()

        page.goto("/#/")
        page.locator("table.jobs").wait_for()
        shoot(page, args.out / "jobs.png")

        page.goto(f"/#/jobs/{job_id}")
        page.locator("article.match").first.wait_for()
        images_loaded(page)
        shoot(page, args.out / "job.png")

        page.locator("button.evidence").first.click()
        page.wait_for_function("document.querySelector('#lightbox img.evidence-full')?.naturalWidth > 0")
        shoot(page, args.out / "evidence.png")
        page.keyboard.press("Escape")

        page.goto(f"/#/products/{best['product']['product_id']}")
        page.locator("article.match").first.wait_for()
        images_loaded(page)
        shoot(page, args.out / "product.png")

        page.goto(f"/#/videos/{best['video']['video_id']}")
        page.locator("article.match").first.wait_for()
        images_loaded(page)
        shoot(page, args.out / "video.png")

        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"/#/jobs/{job_id}?group=product")
        page.locator("article.match").first.wait_for()
        images_loaded(page)
        shoot(page, args.out / "narrow.png")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
