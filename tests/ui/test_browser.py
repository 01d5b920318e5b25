"""The web UI in a real headless Chromium against the running stack: an analyst starts a job from
the form, watches it run, browses its matches (evidence, filter, group, sort), a product page and a
video page; the empty and error states say what to do; 500 matches stay paged and lazy; the pages
are keyboard reachable and readable in a narrow window."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from uistack import KEY, enter_key

REPO = Path(__file__).resolve().parents[2]


def cards(page):
    return page.locator("article.match")


def match_ids(page) -> set[str]:
    return set(cards(page).evaluate_all("(els) => els.map((e) => e.dataset.matchId)"))


def set_min_score(page, value: float) -> float:
    """Type ``value`` into the gallery's minimum-score field (3 decimals, as a person would);
    returns the number typed, which is what the page filters by."""
    typed = f"{value:.3f}"
    page.fill("#gallery-min", typed)
    return float(typed)


def test_start_a_job_from_the_form_watch_it_and_browse_its_matches(page, stack):
    page.goto("/")
    # keys are on: the page asks for one, once, and keeps it for the browser session
    enter_key(page)
    assert page.evaluate("sessionStorage.getItem('pvm.apiKey')") == KEY
    page.locator("table.jobs, .empty").first.wait_for()

    page.fill("#industry", "breakfast")
    page.fill("#top_amz", "50")
    page.fill("#top_ebay", "50")
    page.fill("#recency_days", "365")
    page.click("button:has-text('Start job')")
    page.wait_for_url(re.compile(r"#/jobs/[^/?]+$"))
    job_id = page.url.rsplit("/", 1)[-1]
    stack.jobs["form"] = job_id

    # the job page follows the job: stages move from running to done, the percent up to 100
    seen_states, seen_percents = set(), set()
    deadline = time.monotonic() + 600
    while True:
        page.locator(".stages").wait_for()
        seen_states |= set(page.locator(".stage").evaluate_all("(els) => els.map((e) => e.dataset.state)"))
        percent = page.locator(".job-meta progress").get_attribute("value")
        seen_percents.add(float(percent))
        phase = page.locator(".job-meta .phase").inner_text()
        if phase in ("completed", "failed"):
            break
        assert time.monotonic() < deadline, f"job {job_id} still {phase} in the UI"
        time.sleep(0.5)
    assert phase == "completed", page.locator(".error").all_inner_texts()
    assert "running" in seen_states and min(seen_percents) < 100 and 100 in seen_percents, (seen_states, seen_percents)
    assert set(page.locator(".stage").evaluate_all("(els) => els.map((e) => e.dataset.state)")) == {"done"}

    # the gallery holds the job's matches, the same as the API, and they are the demo's true pairs
    api_items = stack.matches(job_id)
    truth = {(m["product_id"], m["video_id"])
             for m in json.loads((stack.dataset / "truth.json").read_text())["matches"]}
    page.wait_for_function(f"document.querySelectorAll('article.match').length === {len(api_items)}")
    assert match_ids(page) == {m["match_id"] for m in api_items}
    found = {(m["product"]["product_id"], m["video"]["video_id"]) for m in api_items}
    assert len(api_items) >= len(truth) - 1 and len(found & truth) >= len(truth) - 1, (found, truth)
    best = api_items[0]  # the API's order: best score first, ties by match_id
    first = cards(page).first
    assert first.get_attribute("data-match-id") == best["match_id"]  # the gallery's default order is the same
    assert first.locator(".score").inner_text() == f"{best['score']:.3f}"
    assert first.locator(".asset-title").first.inner_text() == best["product"]["title"]
    assert best["video"]["title"] in first.inner_text()
    # each card's timeline has the match's segments (the matcher's: where the product is on screen)
    for m in api_items:
        card = page.locator(f"article.match[data-match-id='{m['match_id']}']")
        assert card.locator(".timeline .segment").count() == len(m["segments"]), m["segments"]
    # images come through the API with the key, as they scroll into view
    first.locator(".evidence img.loaded").wait_for()
    first.locator("img.thumb.loaded").wait_for()

    # open an evidence image: a dialog with the full image (catalog image and keyframe side by side)
    first.locator("button.evidence").click()
    lightbox = page.locator("#lightbox")
    lightbox.wait_for(state="visible")
    full = lightbox.locator("img.evidence-full")
    full.wait_for()
    page.wait_for_function("document.querySelector('#lightbox img.evidence-full').naturalWidth > 0")
    width, height = full.evaluate("(img) => [img.naturalWidth, img.naturalHeight]")
    assert width > height > 50
    assert best["product"]["title"] in lightbox.inner_text()
    page.keyboard.press("Escape")
    lightbox.wait_for(state="hidden")

    # filter by score: only the matches at or above the minimum remain, and the address keeps it
    scores = sorted({m["score"] for m in api_items})
    cut = scores[len(scores) // 2]
    cut = set_min_score(page, cut)  # a score of 0.8816 is typed as 0.882, and then filtered out
    expected = {m["match_id"] for m in api_items if m["score"] >= cut - 1e-9}
    page.wait_for_function(f"document.querySelectorAll('article.match').length === {len(expected)}")
    assert match_ids(page) == expected
    assert f"{len(expected)} of {len(api_items)} matches" in page.locator(".summary").inner_text()
    assert "min=" in page.url
    if set_min_score(page, min(1.0, scores[-1] + 0.001)) > scores[-1]:
        page.locator(".gallery .empty").wait_for()
        assert "lower the minimum score" in page.locator(".gallery .empty").inner_text()
    set_min_score(page, 0)
    page.wait_for_function(f"document.querySelectorAll('article.match').length === {len(api_items)}")

    # group by product, then by video: one heading per product (video), with its matches under it
    page.select_option("#gallery-group", "product")
    groups = page.locator("h3.group")
    groups.first.wait_for()
    assert groups.count() == len({m["product"]["product_id"] for m in api_items})
    page.select_option("#gallery-group", "video")
    page.wait_for_function(f"document.querySelectorAll('h3.group').length === "
                           f"{len({m['video']['video_id'] for m in api_items})}")
    page.select_option("#gallery-group", "")
    # sort: lowest score first
    page.select_option("#gallery-sort", "score-asc")
    shown = [float(s) for s in page.locator("article.match .score").all_inner_texts()]
    assert shown == sorted(shown) and shown[0] == pytest.approx(min(scores), abs=1e-3)
    # the controls survive a reload (they live in the address)
    page.reload()
    page.locator("article.match").first.wait_for()
    assert page.locator("#gallery-sort").input_value() == "score-asc"

    # the jobs list shows the job as completed, at 100 %, with its duration
    page.goto("/#/")
    row = page.locator(f"tr[data-job-id='{job_id}']")
    row.wait_for()
    assert row.get_attribute("data-phase") == "completed" and "100%" in row.inner_text()
    assert re.search(r"\d+ (s|min)", row.locator("td[data-label='Duration']").inner_text())


def test_product_and_video_pages_show_every_match_of_theirs(page, stack, demo_job):
    items = stack.matches(demo_job)
    m = max(items, key=lambda m: m["score"])
    product, video = m["product"], m["video"]
    with stack.api() as c:
        product_matches = c.get("/results", params={"product_id": product["product_id"]}).json()["items"]
        video_matches = c.get("/results", params={"video_id": video["video_id"]}).json()["items"]
        images = c.get(f"/products/{product['product_id']}").json()["images"]
        frames = c.get(f"/videos/{video['video_id']}").json()["frames"]

    page.goto(f"/#/jobs/{demo_job}")
    enter_key(page)
    card = page.locator(f"article.match[data-match-id='{m['match_id']}']")
    card.locator("a.asset-title", has_text=product["title"]).click()
    page.wait_for_url(re.compile(r"#/products/"))
    page.locator(".asset-head h2", has_text=product["title"]).wait_for()
    page.wait_for_function(f"document.querySelectorAll('article.match').length === {len(product_matches)}")
    assert match_ids(page) == {x["match_id"] for x in product_matches}
    assert page.locator(".strip img").count() == len(images)
    page.locator(".strip img.loaded").first.wait_for()  # the catalog images are served

    page.locator(f"article.match[data-match-id='{m['match_id']}'] a.asset-title", has_text=video["title"]).click()
    page.wait_for_url(re.compile(r"#/videos/"))
    page.locator(".asset-head h2", has_text=video["title"]).wait_for()
    page.wait_for_function(f"document.querySelectorAll('article.match').length === {len(video_matches)}")
    assert match_ids(page) == {x["match_id"] for x in video_matches}
    assert page.locator(".strip figcaption").count() == len(frames)
    page.locator(".strip img.loaded").first.wait_for()  # keyframes are served
    # the demo's videos are local files: no web link, said so instead of a dead link
    assert "local file" in page.locator(".asset-head").inner_text()


def test_empty_and_error_states_say_what_to_do(page, stack, db):
    db.execute("INSERT INTO jobs (job_id, industry, phase, failed_reason) VALUES "
               "('ui-failed', 'snorkels', 'failed', 'media-ingestion: yt-dlp missing [JOB_FAILED]'), "
               "('ui-running', 'kettles', 'collection', NULL) ON CONFLICT DO NOTHING")
    # a wrong key is refused and asked for again
    page.goto("/#/jobs/ui-failed")
    page.locator("#key-dialog").wait_for(state="visible")
    page.fill("#key-input", "not-a-key")
    page.press("#key-input", "Enter")
    page.locator("#key-dialog .key-message", has_text="does not hold a valid key").wait_for()
    assert page.evaluate("sessionStorage.getItem('pvm.apiKey')") is None  # the refused key is not kept
    enter_key(page)

    # a failed job says why, and what to do
    error = page.locator("[role=alert]", has_text="The job failed")
    error.wait_for()
    assert "media-ingestion: yt-dlp missing" in error.inner_text()
    page.locator(".gallery .empty", has_text="failed before it found any match").wait_for()
    assert page.locator(".stage-failed").count() == 1

    # a job still collecting: no matches yet, and when they will come
    page.goto("/#/jobs/ui-running")
    page.locator(".gallery .empty", has_text="No matches yet").wait_for()
    assert "collection" in page.locator(".gallery .empty").inner_text()

    # the jobs list shows the failed job's reason
    page.goto("/#/")
    page.locator("tr[data-job-id='ui-failed'] .failed-reason", has_text="yt-dlp missing").wait_for()

    # an unknown job, an unknown page
    page.goto("/#/jobs/no-such-job")
    page.locator("[role=alert]", has_text="No such job").wait_for()
    page.goto("/#/nowhere")
    page.locator("[role=alert]", has_text="no such page").wait_for()

    # the orchestrator unreachable: a results-api whose orchestrator is gone says so, and how to check
    lonely = stack.start("results-api", API_KEYS=KEY, ORCHESTRATOR_URL="http://127.0.0.1:9", ORCHESTRATOR_TIMEOUT_S="2")
    page.goto(lonely.url + "/")
    enter_key(page)  # another origin: another browser session store
    alert = page.locator("[role=alert]", has_text="The jobs could not be loaded")
    alert.wait_for()
    assert "is not answering" in alert.inner_text() and "make status" in alert.inner_text()
    # results-api itself gone: the page in the browser says the stack is not answering
    lonely.stop()
    page.locator("[role=alert]", has_text="not answering").wait_for(timeout=30_000)
    assert "make up" in page.locator("[role=alert]").first.inner_text()


MANY_PRODUCTS, MANY_VIDEOS = 25, 20


def seed_many_matches(db, job_id: str) -> int:
    """A completed job with MANY_PRODUCTS x MANY_VIDEOS matches over synthetic products and videos
    whose image, keyframe and evidence files are the demo job's."""
    n_products, n_videos = MANY_PRODUCTS, MANY_VIDEOS
    img = db.execute("SELECT local_path FROM product_images WHERE local_path IS NOT NULL LIMIT 1").fetchone()[0]
    frame = db.execute("SELECT local_path FROM video_frames LIMIT 1").fetchone()[0]
    evidence = db.execute("SELECT evidence_path FROM matches WHERE evidence_path IS NOT NULL LIMIT 1").fetchone()[0]
    db.execute("INSERT INTO jobs (job_id, industry, phase, completed_at) VALUES (%s, 'many', 'completed', now()) "
               "ON CONFLICT DO NOTHING", (job_id,))
    with db.cursor() as cur:
        cur.executemany("INSERT INTO products (product_id, src, asin_or_itemid, title) VALUES (%s, 'amazon', %s, %s) "
                        "ON CONFLICT DO NOTHING", [(f"many-p{i}", f"many-p{i}", f"Many product {i}")
                                                   for i in range(n_products)])
        cur.executemany("INSERT INTO product_images (img_id, product_id, local_path) VALUES (%s, %s, %s) "
                        "ON CONFLICT DO NOTHING", [(f"many-i{i}", f"many-p{i}", img) for i in range(n_products)])
        cur.executemany("INSERT INTO videos (video_id, platform, url, title, duration_s) "
                        "VALUES (%s, 'youtube', %s, %s, 60) ON CONFLICT DO NOTHING",
                        [(f"many-v{i}", f"https://www.youtube.com/watch?v=many{i}", f"Many video {i}")
                         for i in range(n_videos)])
        cur.executemany("INSERT INTO video_frames (frame_id, video_id, ts, local_path) VALUES (%s, %s, 12.5, %s) "
                        "ON CONFLICT DO NOTHING", [(f"many-f{i}", f"many-v{i}", frame) for i in range(n_videos)])
        cur.executemany(
            "INSERT INTO matches (match_id, job_id, product_id, video_id, best_img_id, best_frame_id, ts, score, "
            "evidence_path, segments) VALUES (%s, %s, %s, %s, %s, %s, 12.5, %s, %s, %s::jsonb) ON CONFLICT DO NOTHING",
            [(f"many-m{p}-{v}", job_id, f"many-p{p}", f"many-v{v}", f"many-i{p}", f"many-f{v}", many_score(p, v),
              evidence, json.dumps(many_segments(v))) for p in range(n_products) for v in range(n_videos)])
    return n_products * n_videos


def many_score(p: int, v: int) -> float:
    return round(0.8 + 0.2 * ((p * MANY_VIDEOS + v) % 100) / 100, 3)


def many_segments(v: int) -> list[dict]:
    """On screen once around the best frame (12.5 s of 60), and a second time in odd videos."""
    first = [{"start": 10.0, "end": 15.0, "best_ts": 12.5, "score": 0.95}]
    return first + [{"start": 40.0, "end": 44.0, "best_ts": 41.0, "score": 0.9}] if v % 2 else first


def test_500_matches_are_paged_and_their_images_load_lazily(page, stack, db, demo_job):
    n = seed_many_matches(db, "ui-many")
    image_requests = []
    page.on("request", lambda r: image_requests.append(r.url) if "/evidence/" in r.url else None)
    page.goto("/#/jobs/ui-many")
    enter_key(page)
    cards(page).first.wait_for()
    more = page.locator(".more button")
    more.wait_for()
    assert cards(page).count() == 60 and more.inner_text() == f"Show 60 more ({n - 60} left)"
    assert page.locator(".summary").inner_text() == f"{n} of {n} matches"
    cards(page).first.locator(".evidence img.loaded").wait_for()
    page.wait_for_timeout(500)
    assert 0 < len(image_requests) < 30, len(image_requests)  # the visible cards' images, not 500
    # the video link opens YouTube at the best frame; the timeline shows the match's segments
    first = cards(page).first
    assert first.locator("a", has_text="watch at").get_attribute("href").endswith("&t=12s")
    video = int(first.get_attribute("data-match-id").rsplit("-", 1)[1])
    assert first.locator(".timeline .segment").count() == len(many_segments(video))
    assert first.locator(".timeline .segment").first.evaluate("(e) => e.style.left") == f"{100 * 10 / 60:.2f}%"

    # the button (keyboard) shows the next page
    more.focus()
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelectorAll('article.match').length === 120")
    # filtering works on all 500, not only on what is shown
    set_min_score(page, 0.99)
    expected = sum(1 for p in range(MANY_PRODUCTS) for v in range(MANY_VIDEOS) if many_score(p, v) >= 0.99)
    page.locator(".summary", has_text=f"{expected} of {n} matches").wait_for()
    assert cards(page).count() == min(expected, 60)


def test_keyboard_and_a_narrow_window(page, stack, demo_job):
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto("/")
    enter_key(page)
    page.locator("table.jobs").wait_for()
    overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    assert page.evaluate(overflow) <= 0  # nothing wider than the window: no sideways scrolling
    # on a fresh load the first Tab reaches the skip link, which leads to the content
    page.reload()
    page.locator("table.jobs").wait_for()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to the content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "app" and page.url.endswith("/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "industry"  # the form comes first

    page.goto(f"/#/jobs/{demo_job}")
    cards(page).first.wait_for()
    assert page.evaluate(overflow) <= 0
    # Tab through the page to the first evidence image and open it with Enter; Escape closes it
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.matches('button.evidence')"):
            break
    else:
        pytest.fail("no evidence button is reachable with Tab")
    page.keyboard.press("Enter")
    page.locator("#lightbox img.evidence-full").wait_for()
    page.keyboard.press("Escape")
    page.locator("#lightbox").wait_for(state="hidden")
    assert page.evaluate("document.activeElement.matches('button.evidence')")  # focus comes back


def test_the_screenshot_script_photographs_the_main_pages(stack, demo_job, tmp_path):
    out = tmp_path / "shots"
    run = subprocess.run([sys.executable, str(REPO / "scripts/ui_screenshots.py"), "--url", stack.ui,
                          "--api-key", KEY, "--job", demo_job, "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == ["evidence.png", "job.png", "jobs.png", "narrow.png", "product.png", "video.png"]
    for p in out.glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and 10_000 < p.stat().st_size < 600_000, p


def test_the_gallery_draws_segments_where_a_match_has_them_and_links_only_web_addresses(page):
    """The gallery's own code in the page, on matches shaped like the API's: `segments` (seconds)
    drawn on the video's length; absent or empty, nothing is drawn and nothing fails."""
    page.goto("/")
    enter_key(page)
    page.evaluate("""async () => {
      const {Gallery} = await import("/ui/gallery.js");
      const box = document.createElement("div");
      box.id = "timeline-test";
      document.querySelector("main").replaceChildren(box);
      const base = {job_id: "j", industry: "i", score: 0.9, ts: 30, best_img_id: "i", best_frame_id: "f",
                    created_at: "2026-01-01T00:00:00Z", evidence_url: null, watch_url: null,
                    product: {product_id: "p", title: "P", brand: null, url: null, src: "amazon", thumbnail_url: null},
                    video: {video_id: "v", title: "V", url: null, platform: "youtube", duration_s: 100}};
      const product = (url) => ({...base.product, url});
      new Gallery(box).update([
        {...base, match_id: "with", product: product("https://shop.example/p"),
         segments: [{start: 10, end: 20, best_ts: 15, score: 0.9}, {start: 28, end: 35, best_ts: 30, score: 0.95}]},
        {...base, match_id: "empty", segments: [], product: product("local://demo/p")},
        {...base, match_id: "absent", product: product("javascript:alert(1)")}]);
    }""")
    card = page.locator("article.match[data-match-id='with']")
    segments = card.locator(".timeline .segment")
    assert segments.count() == 2
    assert segments.evaluate_all("(els) => els.map((e) => [e.style.left, e.style.width])") == [
        ["10%", "max(3px, 10%)"], ["28%", "max(3px, 7%)"]]
    label = card.locator(".timeline").get_attribute("aria-label")
    assert label == "On screen 0:10–0:20 (score 0.900), 0:28–0:35 (score 0.950)"
    assert "2 segments on screen" in card.inner_text()
    for match_id in ("empty", "absent"):
        other = page.locator(f"article.match[data-match-id='{match_id}']")
        assert other.count() == 1 and other.locator(".timeline").count() == 0
    # a source link only for a web address: never for `javascript:` or a local dataset's address
    source = card.locator("a", has_text="source")
    assert source.get_attribute("href") == "https://shop.example/p" and source.get_attribute("target") == "_blank"
    assert page.locator("a[href^='javascript'], a[href^='local']").count() == 0
