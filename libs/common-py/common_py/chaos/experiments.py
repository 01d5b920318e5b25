"""The experiments. Each runs jobs on the chaos stack while it breaks one thing, then checks them
(common_py.chaos.truth) and returns one row of the report. `quick` ones are what `make test`
runs (tests/chaos); `make chaos` runs them all.

Later jobs reuse the images, keyframes, masks and features of earlier ones, so an experiment
that kills a stage's service first makes that stage redo its work (ChaosStack.forget), and kills
it only once its /metrics show an event in flight."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import httpx

from common_py.bus import DELIVERY_LIMIT
from common_py.chaos.stack import BAD_INDUSTRY, HTTP_TIMEOUT, ChaosStack
from common_py.chaos.tap import Duplicator
from common_py.chaos.truth import check_job, dlq_problems
from common_py.db import create_pool
from common_py.devstack.services import REPO_ROOT


@dataclass
class Row:
    name: str
    expected: str
    outcome: str = ""
    lost: int = 0
    duplicated: int = 0
    seconds: float = 0.0
    passed: bool = False
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Experiment:
    name: str
    expected: str
    run: Callable[["Chaos", Row], Awaitable[None]]
    quick: bool = False


class Chaos:
    """What the experiments share: the stack and the matches of the undisturbed run."""

    def __init__(self, stack: ChaosStack, log=print):
        self.stack = stack
        self.log = log
        self.baseline: set[tuple[str, str]] | None = None
        self.rows: list[Row] = []
        self.kickoff_s = 0.1  # how long POST /start-job takes (measured by the undisturbed run)

    async def check(self, row: Row, jobs: list[str], *, phase: str = "completed", compare: bool = True,
                    allowed_dlq=None) -> list:
        """Check each job against the truth and the DLQs against what the experiment put there;
        returns the dead letters (the DLQs are left empty for the next experiment)."""
        if compare and self.baseline is None:
            row.problems.append("no undisturbed run to compare with (the baseline failed)")
        for job in jobs:
            result = await check_job(self.stack, job, self.baseline if compare else None, phase=phase)
            row.lost += result.lost
            row.duplicated += result.duplicated
            row.problems += [f"{job[:8]}: {p}" for p in result.problems]
        dead = await self.stack.drain_dlqs()
        problems, unexpected = dlq_problems(dead, allowed_dlq or (lambda q, h, b: False))
        row.problems += problems
        row.lost += unexpected
        return dead


# -- helpers --------------------------------------------------------------------------------------

async def wait_busy(stack: ChaosStack, service: str, job_id: str, timeout_s: float = 300) -> tuple[str, float]:
    """(program, events in flight) of the first process of `service` seen handling events."""
    deadline = time.monotonic() + timeout_s
    polls = 0
    while time.monotonic() < deadline:
        for program, (_, port) in stack.processes(service).items():
            busy = await stack.in_flight(port)
            if busy > 0:
                return program, busy
        polls += 1
        if polls % 25 == 0:
            status = await stack.status(job_id)
            if status and status["phase"] in ("completed", "failed"):
                break
        await asyncio.sleep(0.02)
    raise RuntimeError(f"{service} was never seen handling an event of job {job_id}")


def _phase_reached(*phases: str):
    return lambda status: status["phase"] in phases


# -- the undisturbed run --------------------------------------------------------------------------

async def baseline(chaos: Chaos, row: Row) -> None:
    stack = chaos.stack
    started = time.monotonic()
    job = await stack.start_job()
    chaos.kickoff_s = time.monotonic() - started  # when to kill the orchestrator mid-kickoff
    status = await stack.wait_job(job)
    found = {(m["product_id"], m["video_id"]) for m in await stack.pool.fetch(
        "SELECT product_id, video_id FROM matches WHERE job_id = $1", job)}
    chaos.baseline = found if status["phase"] == "completed" else None
    await chaos.check(row, [job])
    hits = len(found & stack.truth)
    row.outcome = (f"{status['phase']}: {len(found)} matches, {hits} of the {len(stack.truth)} in truth.json, "
                   f"{len(found - stack.truth)} wrong")
    if found != stack.truth:
        row.problems.append(f"the undisturbed run differs from truth.json: missing {sorted(stack.truth - found)}, "
                            f"extra {sorted(found - stack.truth)}")


async def hold_deliveries(stack: ChaosStack, service: str, job_id: str, timeout_s: float = 300) -> int:
    """Freeze `service` until the broker has delivered it events of the job that it has not
    acknowledged, then let it run for a moment (its handlers start, some may finish): the state
    of a kill mid-stage, for a stage too quick to be caught by polling. Returns those events."""
    programs = list(stack.processes(service))
    for program in programs:
        stack.pause(program)
    try:
        deadline = time.monotonic() + timeout_s
        while not (held := await stack.unacked(service)):
            status = await stack.status(job_id)
            if time.monotonic() > deadline or (status and status["phase"] in ("completed", "failed")):
                raise RuntimeError(f"{service} was never delivered an event of job {job_id}")
            await asyncio.sleep(0.5)
    finally:
        for program in programs:
            stack.pause(program, False)
    await asyncio.sleep(0.01)
    return held


# -- kill -9 --------------------------------------------------------------------------------------

FORGET = {"catalog-collector": "images", "media-ingestion": "frames", "product-segmentor": "masks",
          "vision-embedding": "embeddings", "vision-keypoint": "keypoints"}
BUSY_VIA = {"vector-index": "matcher"}  # it serves the matcher's searches; it handles no events
# stages that take milliseconds (evidence-builder draws what the matcher stored): polling their
# in-flight gauge can miss them, so they are frozen until their events are delivered, then killed
HELD = {"evidence-builder"}


def kill_mid_stage(service: str, replicas: int = 1):
    async def run(chaos: Chaos, row: Row) -> None:
        stack = chaos.stack
        if replicas > 1:
            await stack.apply_replicas({service: replicas})
        try:
            if service in FORGET:
                await stack.forget(FORGET[service])
            job = await stack.start_job()
            watched = BUSY_VIA.get(service, service)
            if service in HELD:
                held = await hold_deliveries(stack, service, job)
                victim = next(iter(stack.processes(service)))
                what = f"10 ms after {held} event(s) were delivered to it (frozen until then)"
            else:
                program, busy = await wait_busy(stack, watched, job)
                victim = program if watched == service else next(iter(stack.processes(service)))
                what = f"while {program} handled {busy:g} event(s)" if watched != service else \
                    f"with {busy:g} event(s) in flight"
            pid = stack.kill(victim)
            back = await stack.wait_back(victim, pid)
            status = await stack.wait_job(job)
            await chaos.check(row, [job])
            row.outcome = f"killed {victim} {what}; back in {back:.0f}s; job {status['phase']}, " \
                          f"{status['counts']['matches']} matches"
        finally:
            if replicas > 1:
                await stack.apply_replicas({})
    return run


async def kill_orchestrator_in_kickoff(chaos: Chaos, row: Row) -> None:
    stack = chaos.stack
    since = await stack.pool.fetchval("SELECT now()")

    async def post_once():
        async with httpx.AsyncClient(base_url=stack.url("orchestrator"), timeout=HTTP_TIMEOUT) as client:
            try:
                r = await client.post("/start-job", json={"industry": "breakfast", "top_amz": 20, "top_ebay": 20})
                return r.json().get("job_id") if r.status_code == 200 else f"HTTP {r.status_code}"
            except httpx.TransportError as exc:
                return exc

    request = asyncio.create_task(post_once())
    await asyncio.sleep(chaos.kickoff_s / 2)  # halfway through a kickoff (a Prefect flow) as timed before
    answered_first = request.done()
    pid = stack.kill("orchestrator")
    answer = await request
    if answered_first:
        row.problems.append(f"the kickoff answered within {chaos.kickoff_s / 2:.3f}s, before the kill")
    back = await stack.wait_back("orchestrator", pid)
    created = [r["job_id"] for r in await stack.pool.fetch(
        "SELECT job_id FROM jobs WHERE created_at >= $1 ORDER BY created_at", since)]
    if isinstance(answer, str) and answer not in created:
        row.problems.append(f"the API answered job {answer}, which does not exist")
    how = f"the client got {type(answer).__name__}" if not isinstance(answer, str) else f"the client got {answer}"
    jobs = list(created)
    if not jobs:  # nothing was committed: the client tries again, as n8n's retry would
        jobs.append(await stack.start_job())
        how += "; no job was committed, the retry started one"
    else:
        how += f"; {len(created)} job(s) committed, finished by the restarted orchestrator"
    for job in jobs:
        await stack.wait_job(job)
    await chaos.check(row, jobs)
    row.outcome = f"killed {chaos.kickoff_s / 2:.2f}s into POST /start-job: {how}; back in {back:.0f}s"


async def kill_results_api_while_polling(chaos: Chaos, row: Row) -> None:
    stack = chaos.stack
    done = await stack.pool.fetchval("SELECT job_id FROM jobs WHERE phase = 'completed' ORDER BY created_at LIMIT 1")
    want = {r["match_id"] for r in await stack.pool.fetch("SELECT match_id FROM matches WHERE job_id = $1", done)}
    seen = {"ok": 0, "down": 0, "wrong": 0, "5xx": 0, "ok_after": 0}
    stop = asyncio.Event()
    killed = asyncio.Event()

    async def poll():
        async with httpx.AsyncClient(base_url=stack.url("results-api"), timeout=5) as client:
            while not stop.is_set():
                try:
                    r = await client.get("/results", params={"job_id": done, "limit": 200})
                except httpx.TransportError:
                    seen["down"] += 1
                else:
                    if r.status_code >= 500:
                        seen["5xx"] += 1
                    elif {m["match_id"] for m in r.json()["items"]} != want:
                        seen["wrong"] += 1
                    else:
                        seen["ok"] += 1
                        seen["ok_after"] += killed.is_set()
                await asyncio.sleep(0.05)

    side = await stack.start_job()  # the pipeline does not need the read side
    poller = asyncio.create_task(poll())
    while seen["ok"] < 5:
        await asyncio.sleep(0.05)
    pid = stack.kill("results-api")
    killed.set()
    back = await stack.wait_back("results-api", pid)
    await asyncio.sleep(1)
    stop.set()
    await poller
    await stack.wait_job(side)
    await chaos.check(row, [side])
    if seen["5xx"] or seen["wrong"] or not seen["ok_after"] or not seen["down"]:
        row.problems.append(f"polling saw {seen}")
    row.outcome = (f"a client polling /results saw {seen['ok']} right answers, {seen['down']} refused "
                   f"connections while it was down ({back:.0f}s), no 5xx, no wrong answer; the job beside completed")


async def crash_loop(chaos: Chaos, row: Row) -> None:
    """The matcher killed every time it picks up the job's match.request."""
    stack = chaos.stack
    job = await stack.start_job()
    kills = 0
    while True:
        try:
            program, _ = await wait_busy(stack, "matcher", job, timeout_s=120)
        except RuntimeError:
            break  # the job moved on: the request is no longer being handled
        pid = stack.kill(program)
        kills += 1
        await stack.wait_back(program, pid)
        if kills > DELIVERY_LIMIT + 1:
            break
    status = await stack.wait_job(job, timeout_s=120)
    waited = (await stack.pool.fetchval("SELECT extract(epoch FROM updated_at - created_at) FROM jobs "
                                        "WHERE job_id = $1", job))
    dead = await chaos.check(row, [job], phase="failed", compare=False,
                             allowed_dlq=lambda q, h, b: q.endswith("matcher.match.request.dlq"))
    codes = [h.get("x-error-code") for q, h, b in dead]
    reason = status.get("failed_reason") or ""
    if kills != DELIVERY_LIMIT or codes != ["CONSUMER_CRASHED"] or "CONSUMER_CRASHED" not in reason:
        row.problems.append(f"dead letters {codes}; failed_reason {reason!r}")
    row.outcome = (f"{kills} kills; the next delivery was dead-lettered as {codes} and the job failed "
                   f"{waited:.0f}s after it started: {reason[:90]}")


# -- duplicated and redelivered events ------------------------------------------------------------

async def duplicate_every_event(chaos: Chaos, row: Row) -> None:
    stack = chaos.stack
    dup = Duplicator(stack.rabbit.url)
    await dup.start()
    try:
        job = await stack.start_job()
        await stack.wait_job(job)
    finally:
        await dup.stop()
    await chaos.check(row, [job])
    row.outcome = f"{dup.copied} events of the job published a second time; job completed as undisturbed"


async def redeliver_after_commit(chaos: Chaos, row: Row) -> None:
    stack = chaos.stack
    job = await stack.start_job()
    status = await stack.wait_job(job, until=_phase_reached("matching", "evidence"))
    await asyncio.sleep(0.5)
    handled = [seen for seen in stack.tap.by_job[job] if not seen.copy]
    await stack.tap.republish(handled)
    final = await stack.wait_job(job)
    await asyncio.sleep(2)  # the last redeliveries are handled (and must change nothing)
    await chaos.check(row, [job])
    kinds = len({s.routing_key for s in handled})
    row.outcome = (f"{len(handled)} events ({kinds} kinds) delivered again, same event_id, in phase "
                   f"{status['phase']}; job {final['phase']}")


# -- broker and database restarts -----------------------------------------------------------------

async def broker_restart(chaos: Chaos, row: Row) -> None:
    stack = chaos.stack
    await stack.forget("embeddings")  # a feature phase long enough to restart the broker in
    job = await stack.start_job()
    status = await stack.wait_job(job, until=lambda s: s["phase"] == "feature_extraction" and s["percent"] > 25)
    started = time.monotonic()
    await asyncio.to_thread(stack.rabbit.restart)
    down = time.monotonic() - started
    final = await stack.wait_job(job)
    await chaos.check(row, [job])
    row.outcome = (f"RabbitMQ node stopped and started ({down:.0f}s) at {status['percent']}%; services "
                   f"reconnected; job {final['phase']}")


def postgres_down(outage_s: float = 0):
    """Postgres restarted mid-job (`pg_ctl restart`), or stopped for `outage_s` and started again."""
    async def run(chaos: Chaos, row: Row) -> None:
        stack = chaos.stack
        await stack.forget("embeddings")
        job = await stack.start_job()
        status = await stack.wait_job(job, until=lambda s: s["phase"] == "feature_extraction" and s["percent"] > 25)
        started = time.monotonic()
        if outage_s:
            await asyncio.to_thread(stack.pg.stop)
            await asyncio.sleep(outage_s)
            await asyncio.to_thread(stack.pg.start)
        else:
            await asyncio.to_thread(stack.pg.restart)
        down = time.monotonic() - started
        await stack.pool.close()  # ours lost its connections too
        stack.pool = await create_pool(stack.pg.dsn, 1, 8)
        final = await stack.wait_job(job)
        await chaos.check(row, [job])
        how = f"stopped for {down:.0f}s" if outage_s else f"restarted (pg_ctl restart -m fast, {down:.1f}s)"
        row.outcome = f"Postgres {how} at {status['percent']}%; job {final['phase']}"
    return run


# -- bad input ------------------------------------------------------------------------------------

RAW = "application/json"


def _http_cases(job_unknown: str) -> list[tuple[str, str, str, str, object, set[int]]]:
    """(what, service, method, path, body (bytes or JSON), acceptable statuses)."""
    trav = "..%2F..%2F..%2Fetc%2Fpasswd"
    return [
        ("malformed JSON", "orchestrator", "POST", "/start-job", b'{"industry": ', {422}),
        ("bytes that are not JSON", "orchestrator", "POST", "/start-job", b"\xff\xfe\x00\x01garbage", {400, 422}),
        ("wrong type", "orchestrator", "POST", "/start-job", {"industry": "x", "top_amz": "ten"}, {422}),
        ("missing field", "orchestrator", "POST", "/start-job", {"top_amz": 3}, {422}),
        ("megabyte string", "orchestrator", "POST", "/start-job", {"industry": "x" * 1_000_000}, {422}),
        ("number 1e999", "orchestrator", "POST", "/start-job", b'{"industry": "x", "top_amz": 1e999}', {422}),
        ("NaN", "orchestrator", "POST", "/start-job", b'{"industry": "x", "top_ebay": NaN}', {422}),
        ("out-of-range number", "orchestrator", "POST", "/start-job", {"industry": "x", "recency_days": 10**12}, {422}),
        ("lone surrogate", "orchestrator", "POST", "/start-job", b'{"industry": "a\\ud800"}', {422}),
        ("NUL in text", "orchestrator", "POST", "/start-job", b'{"industry": "a\\u0000b"}', {422}),
        ("unknown job id", "orchestrator", "GET", f"/status/{job_unknown}", None, {404}),
        ("path traversal in job_id", "orchestrator", "GET", f"/status/{trav}", None, {404}),
        ("NUL in job_id", "orchestrator", "GET", "/status/a%00b", None, {400}),
        ("offset 1e20", "results-api", "GET", "/results?offset=1e20", None, {422}),
        ("offset past bigint", "results-api", "GET", "/results?offset=99999999999999999999", None, {422}),
        ("min_score NaN", "results-api", "GET", "/results?min_score=NaN", None, {422}),
        ("unknown job_id on /results", "results-api", "GET", f"/results?job_id={job_unknown}", None, {404}),
        ("path traversal in product_id", "results-api", "GET", f"/products/{trav}", None, {404}),
        ("path traversal in video_id", "results-api", "GET", f"/videos/{trav}", None, {404}),
        ("path traversal in match_id", "results-api", "GET", f"/matches/{trav}", None, {404}),
        ("path traversal in /jobs/{job_id}", "results-api", "GET", f"/jobs/{trav}/matches", None, {404}),
        ("path traversal in evidence", "results-api", "GET", f"/evidence/{trav}.jpg", None, {404}),
        ("NUL in product_id", "results-api", "GET", "/products/a%00b", None, {400}),
        ("path traversal in img_id", "results-api", "GET", f"/product-images/{trav}", None, {404}),
        ("path traversal in frame_id", "results-api", "GET", f"/frames/{trav}", None, {404}),
        ("path traversal through the UI's forwarding", "results-api", "GET", f"/orchestrator/status/{trav}",
         None, {404}),
        ("path traversal in the UI's files", "results-api", "GET", "/ui/..%2F..%2Fconfig_loader.py", None, {404}),
        ("NaN through the UI's forwarding", "results-api", "POST", "/orchestrator/start-job",
         b'{"industry": "x", "top_amz": NaN}', {422}),
        ("path traversal in image_id", "vector-index", "GET", f"/search?image_id={trav}", None, {404, 422}),
        ("k out of range", "vector-index", "GET", "/search?frame_id=x&k=-1", None, {422}),
        ("wrong type in search body", "vector-index", "POST", "/search/frames", {"frame_ids": "x", "k": 5}, {422}),
    ]


def _bus_cases(job: str, data_rel: str) -> list[tuple[str, str, bytes, dict | None, str]]:
    """(what, routing key, body, headers, error code expected in a DLQ)."""
    def js(payload) -> bytes:
        return json.dumps(payload).encode()

    def ev(**payload) -> dict:
        return {"event_id": str(uuid.uuid4()), **payload}

    frames = [{"frame_id": f"chaos-gone-{i}", "ts": float(i), "local_path": f"{data_rel}/gone-{i}.jpg"}
              for i in range(2)]
    return [
        ("bytes that are not JSON", "products.image.ready", b"\x00\x9c not json " + os.urandom(8), None,
         "MALFORMED_MESSAGE"),
        ("a JSON array", "match.request", b"[1, 2, 3]", None, "MALFORMED_MESSAGE"),
        ("missing field", "match.request", js(ev(job_id=job, industry="x")), None, "SCHEMA_INVALID"),
        ("wrong type", "products.collect.request", js(ev(job_id=job, industry="x", top_amz="ten", top_ebay=1)),
         None, "SCHEMA_INVALID"),
        ("megabyte string", "videos.search.request", js(ev(job_id=job, industry="x" * 1_000_000, queries=["x"],
                                                          platforms=["youtube"], recency_days=1)),
         None, "SCHEMA_INVALID"),
        ("out-of-range number", "match.request", js(ev(job_id=job, industry="x", top_k=10**9)), None,
         "SCHEMA_INVALID"),
        ("unknown job", "match.request", js(ev(job_id="chaos-no-such-job", industry="x", top_k=5)), None,
         "UNKNOWN_JOB"),
        ("path traversal", "products.image.ready", js(ev(job_id=job, product_id="p", image_id="chaos-trav",
                                                         local_path="../../../etc/passwd")), None, "SCHEMA_INVALID"),
        ("spoofed x-routing-key header", "products.image.ready",
         js(ev(job_id=job, industry="x", top_k=5)), {"x-routing-key": "match.request"}, "SCHEMA_INVALID"),
        ("image file missing", "products.image.ready", js(ev(job_id=job, product_id="p", image_id="chaos-gone",
                                                             local_path=f"{data_rel}/gone.jpg")), None,
         "ASSET_MISSING"),
        ("image file corrupt", "products.image.ready", js(ev(job_id=job, product_id="p", image_id="chaos-corrupt",
                                                             local_path=f"{data_rel}/corrupt.jpg")), None,
         "ASSET_CORRUPT"),
        ("image of 20000x20000 pixels", "products.image.ready",
         js(ev(job_id=job, product_id="p", image_id="chaos-huge", local_path=f"{data_rel}/huge.png")), None,
         "ASSET_CORRUPT"),
        ("keyframes missing", "video.keyframes.ready", js(ev(job_id=job, video_id="chaos-gone", frames=frames)),
         None, "ASSET_MISSING"),
    ]


async def _send(client: httpx.AsyncClient, method: str, url: str, body) -> int | str:
    try:
        if isinstance(body, bytes):
            r = await client.request(method, url, content=body, headers={"content-type": RAW})
        elif body is not None:
            r = await client.request(method, url, json=body)
        else:
            r = await client.request(method, url)
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return r.status_code


def _log_records(path, job_id: str) -> list[dict]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("job_id") == job_id:
                out.append(record)
    return out


async def bad_input(chaos: Chaos, row: Row) -> None:
    stack = chaos.stack
    pids = {name: pid for name, (pid, _) in stack.processes().items()}
    side = await stack.start_job()  # the job running beside, which must finish unchanged
    target = f"chaos-bad-{uuid.uuid4().hex[:8]}"  # the bus's bad events name a job of their own
    await stack.pool.execute("INSERT INTO jobs (job_id, industry) VALUES ($1, $2)", target, BAD_INDUSTRY)
    rel = f"chaos-bad/{target}"
    (stack.data / rel).mkdir(parents=True)
    for name in ("corrupt.jpg", "huge.png"):
        (stack.data / rel / name).write_bytes((stack.dataset_dir / "bad" / name).read_bytes())

    http_bad = []
    for what, service, method, path, body, ok in _http_cases(str(uuid.uuid4())):
        async with httpx.AsyncClient(base_url=stack.url(service), timeout=HTTP_TIMEOUT) as client:
            got = await _send(client, method, path, body)
        if got not in ok:
            http_bad.append(f"{service} {method} {path[:60]} ({what}): {got}, expected {sorted(ok)}")
    cases = _bus_cases(target, rel)
    for _, key, body, headers, _ in cases:
        await stack.publish_raw(key, body, headers)
    broken_job = await stack.start_job(BAD_INDUSTRY)  # the dataset's missing, empty, corrupt, huge files

    # every bad message in a DLQ with its code (the same message may die on several queues)
    dead: list = []
    deadline = time.monotonic() + 90
    wanted = {body: code for _, _, body, _, code in cases}
    while time.monotonic() < deadline:
        dead += await stack.drain_dlqs()
        found = {b for q, h, b in dead if b in wanted and h.get("x-error-code") == wanted[b]}
        if found == set(wanted):
            break
        await asyncio.sleep(1)
    bus_bad = [f"{what} on {key}: no dead letter with {code} (got "
               f"{[h.get('x-error-code') for q, h, b in dead if b == body]})"
               for what, key, body, _, code in cases
               if not any(b == body and h.get("x-error-code") == code for q, h, b in dead)]
    stray = [(q, h.get("x-error-code")) for q, h, b in dead if b not in wanted]

    await stack.wait_job(side)
    broken = await stack.wait_job(broken_job)
    await chaos.check(row, [side])
    counts = broken["counts"]
    products = await stack.pool.fetchval("SELECT count(*) FROM job_products WHERE job_id = $1", broken_job)
    skipped = [r for name in ("catalog-collector", "media-ingestion")
               for r in _log_records(stack.log_path(name), broken_job) if r.get("error_code")]
    skipped_codes = sorted(r["error_code"] for r in skipped)
    if broken["phase"] != "completed" or counts["product_images"] or counts["keyframes"]:
        row.problems.append(f"the job on broken files: {broken['phase']} {counts}")
    if skipped_codes != sorted(["ASSET_MISSING", "ASSET_CORRUPT", "ASSET_CORRUPT", "ASSET_CORRUPT",
                                "ASSET_MISSING", "ASSET_CORRUPT", "ASSET_CORRUPT"]):
        row.problems.append(f"the broken files were logged as {skipped_codes}")
    restarted = [n for n, (pid, _) in stack.processes().items() if pids.get(n) != pid]
    if restarted:
        row.problems.append(f"services restarted (crashed?) during bad input: {restarted}")
    row.problems += http_bad + bus_bad + [f"unexpected dead letter {s}" for s in stray]
    row.lost += len(stray)
    await stack.pool.execute("UPDATE jobs SET phase = 'failed', failed_reason = 'chaos: bad input target' "
                             "WHERE job_id = $1", target)
    kinds = len(_http_cases("x")) + len(cases) + len(skipped)
    row.outcome = (f"{kinds} kinds: {len(_http_cases('x')) - len(http_bad)} of {len(_http_cases('x'))} HTTP got "
                   f"their 4xx, {len(cases) - len(bus_bad)} of {len(cases)} bus messages dead-lettered with their "
                   f"code, {len(skipped)} broken dataset files ({products} products) skipped with a code; "
                   f"no service restarted; the job beside completed unchanged")


# -- load -----------------------------------------------------------------------------------------

def load(n: int):
    async def run(chaos: Chaos, row: Row) -> None:
        stack = chaos.stack
        peak: dict[str, int] = {}
        peak_total = 0
        stop = asyncio.Event()

        async def sample():
            nonlocal peak_total
            while not stop.is_set():
                try:
                    depths = await stack.queue_depths()
                except httpx.HTTPError:
                    depths = {}
                for name, depth in depths.items():
                    if not name.startswith("chaos."):
                        peak[name] = max(peak.get(name, 0), depth)
                peak_total = max(peak_total, sum(d for q, d in depths.items() if not q.startswith("chaos.")))
                await asyncio.sleep(0.5)

        sampler = asyncio.create_task(sample())
        started = time.monotonic()
        jobs = await asyncio.gather(*[stack.start_job() for _ in range(n)])
        finals = await asyncio.gather(*[stack.wait_job(job, timeout_s=2400) for job in jobs])
        wall = time.monotonic() - started
        stop.set()
        await sampler
        await chaos.check(row, list(jobs))
        times = sorted(await stack.pool.fetchval(
            "SELECT array_agg(extract(epoch FROM completed_at - created_at)::float8) FROM jobs "
            "WHERE job_id = ANY($1::text[]) AND completed_at IS NOT NULL", list(jobs)) or [])
        completed = sum(f["phase"] == "completed" for f in finals)

        def pct(p: float) -> float:
            return times[min(len(times) - 1, int(round(p * (len(times) - 1))))] if times else float("nan")

        top = max(peak, key=peak.get) if peak else "-"
        row.outcome = (f"{completed}/{n} completed in {wall:.0f}s; job time p50 {pct(0.5):.0f}s p95 {pct(0.95):.0f}s; "
                       f"peak queue depth {peak.get(top, 0)} ({top}), {peak_total} in all queues")
    return run


# -- a disk that is full for one service ----------------------------------------------------------

async def disk_full(chaos: Chaos, row: Row) -> None:
    import cv2

    stack = chaos.stack
    program = "evidence-builder"
    stack.stop_program(program)
    env = stack.program_env(program)
    log = open(stack.data / "logs" / f"{program}-disk-full.log", "wb")

    def limit() -> None:  # no file over 4 KB: every evidence image fails as on a full disk (EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    proc = subprocess.Popen([sys.executable, f"services/{program}/main.py"], cwd=REPO_ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, preexec_fn=limit)
    try:
        port = int(env["HTTP_PORT"])
        while not await stack.ready(port):
            if proc.poll() is not None:
                raise RuntimeError(f"{program} exited under the file size limit")
            await asyncio.sleep(0.3)
        job = await stack.start_job()
        failed = await stack.wait_job(job)
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 60)
        log.close()
        stack.start_program(program)
    reason = failed.get("failed_reason") or ""
    dead = await chaos.check(row, [job], phase="failed", compare=False,
                             allowed_dlq=lambda q, h, b: q.endswith(f"{program}.match.result.dlq")
                             and h.get("x-error-code") == "STORAGE_UNWRITABLE")
    if "STORAGE_UNWRITABLE" not in reason or "File too large" not in reason:
        row.problems.append(f"failed_reason does not say why: {reason!r}")
    half = [p.name for p in (stack.data / "evidence").glob(".*.tmp")]
    written = await stack.pool.fetchval("SELECT count(*) FROM matches WHERE job_id = $1 AND evidence_path IS NOT NULL",
                                        job)
    if half or written:
        row.problems.append(f"half-written evidence left: {half}, {written} row(s) naming a file")
    # back on a disk with room: a new job completes and reads only whole files
    await stack.wait_back(program, 0)
    again = await stack.start_job()
    await stack.wait_job(again)
    await chaos.check(row, [again])
    unreadable = [r["evidence_path"] for r in await stack.pool.fetch(
        "SELECT evidence_path FROM matches WHERE job_id = $1", again)
        if cv2.imread(str(stack.data / r["evidence_path"])) is None]
    if unreadable:
        row.problems.append(f"unreadable evidence images: {unreadable}")
    row.outcome = (f"evidence-builder limited to 4 KB files: job failed at once ({len(dead)} dead letter(s), "
                   f"STORAGE_UNWRITABLE): {reason[:80]}...; no half file; the next job completed")


# -- the list -------------------------------------------------------------------------------------

KILLABLE = ["catalog-collector", "media-ingestion", "product-segmentor", "vision-embedding", "vision-keypoint",
            "vector-index", "matcher", "evidence-builder"]
QUICK_KILLS = {"matcher", "vision-keypoint", "evidence-builder"}
REPLICATED = ["catalog-collector", "media-ingestion", "product-segmentor", "vision-embedding", "vision-keypoint",
              "matcher", "evidence-builder"]
SAME = "completed, same matches, nothing lost or duplicated"

EXPERIMENTS: list[Experiment] = [
    Experiment("undisturbed run", "completed, the matches of truth.json", baseline, quick=True),
    *[Experiment(f"kill -9 {s} mid-stage", SAME, kill_mid_stage(s), quick=s in QUICK_KILLS) for s in KILLABLE],
    Experiment("kill -9 orchestrator during kickoff", "every committed job completes, none half-made",
               kill_orchestrator_in_kickoff),
    Experiment("kill -9 results-api while a client polls", "no 5xx, no wrong answer; job beside completes",
               kill_results_api_while_polling),
    *[Experiment(f"kill -9 {s}, 1 of 2 replicas", SAME, kill_mid_stage(s, replicas=2)) for s in REPLICATED],
    Experiment("every event published twice", SAME + ", one .completed per stage", duplicate_every_event, quick=True),
    Experiment("handled events redelivered after commit", SAME, redeliver_after_commit, quick=True),
    Experiment("RabbitMQ restart mid-job", SAME + "; services reconnect", broker_restart),
    Experiment("Postgres restart mid-job", SAME + "; services reconnect", postgres_down()),
    Experiment("Postgres down 20 s mid-job", SAME + "; services wait and reconnect", postgres_down(20)),
    Experiment(f"matcher killed {DELIVERY_LIMIT} times on one request",
               "job fails with CONSUMER_CRASHED at once, not at the phase timeout", crash_loop),
    Experiment("bad input on HTTP, bus and dataset", "each a 4xx or a DLQ entry with its code; job beside unchanged",
               bad_input, quick=True),
    Experiment("5 jobs at once", SAME + " in every job", load(5), quick=True),
    Experiment("20 jobs at once", SAME + " in every job", load(20)),
    Experiment("disk full for evidence-builder", "job fails with STORAGE_UNWRITABLE; no half file read later",
               disk_full, quick=True),
]


async def run_experiment(chaos: Chaos, experiment: Experiment) -> Row:
    row = Row(experiment.name, experiment.expected)
    started = time.monotonic()
    chaos.log(f"--- {experiment.name}")
    try:
        await experiment.run(chaos, row)
    except Exception as exc:  # noqa: BLE001 - an experiment that breaks is a failed row, not a dead run
        row.outcome = row.outcome or f"error: {type(exc).__name__}: {exc}"[:300]
        row.problems.append("".join(traceback.format_exception(exc))[-2000:])
    row.seconds = time.monotonic() - started
    row.passed = not row.problems and row.lost == 0 and row.duplicated == 0
    chaos.log(f"    {'passed' if row.passed else 'FAILED'} in {row.seconds:.0f}s: {row.outcome}")
    for problem in row.problems:
        chaos.log(f"    ! {problem}")
    return row
