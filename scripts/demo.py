#!/usr/bin/env python3
"""Run one real job through the HTTP API of a running stack (`make up`) and report it.

Starts the job (POST /start-job, as n8n does), shows its progress phase by phase
(GET /status/{job_id}), then prints the matches (GET /results) and, when the dataset has a
truth.json, precision and recall against it. It ends with a JSON summary and, last, the address of
the job in the web UI.

With API keys on (API_KEYS in the environment or in .env), the first key is sent as X-API-Key
unless --api-key names another.

  python scripts/demo.py --dataset data/demo-dataset --industry breakfast
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import httpx
from dotenv import dotenv_values

REPO = Path(__file__).resolve().parents[1]


def stage_label(name: str) -> str:
    """"image.embeddings" -> "ima-emb"; a stage without a kind ("matchings") -> "mat"."""
    return "-".join(part[:3] for part in name.split(".")[:2])


def fmt_counts(c: dict) -> str:
    stages = c.get("stages", {})
    feat = " ".join(f"{stage_label(name)}={s['done'] + s['failed']}/{s['expected'] or '?'}"
                    for name, s in sorted(stages.items()) if name != "evidences")
    return (f"products={c['products']} images={c['product_images']} videos={c['videos']} "
            f"keyframes={c['keyframes']} {feat} matches={c['matches']} evidence={c['evidence']}").strip()


def wait_for_job(client: httpx.Client, job_id: str, timeout_s: float) -> dict:
    started = time.monotonic()
    last = None
    while True:
        status = client.get(f"/status/{job_id}").raise_for_status().json()
        line = (status["phase"], status["percent"], fmt_counts(status["counts"]))
        if line != last:
            print(f"[{time.monotonic() - started:6.1f}s] {status['phase']:<18} {status['percent']:5.1f}%  {line[2]}",
                  flush=True)
            last = line
        if status["phase"] in ("completed", "failed"):
            return status
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"job {job_id} still in {status['phase']} after {timeout_s:.0f}s")
        time.sleep(1.0)


def fetch_results(client: httpx.Client, job_id: str) -> list[dict]:
    items, offset = [], 0
    while True:
        page = client.get("/results", params={"job_id": job_id, "limit": 200, "offset": offset}).raise_for_status().json()
        items += page["items"]
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            return items


def score(items: list[dict], truth_path: Path) -> dict | None:
    if not truth_path.exists():
        return None
    truth = {(m["product_id"], m["video_id"]) for m in json.loads(truth_path.read_text())["matches"]}
    predicted = {(i["product"]["product_id"], i["video"]["video_id"]) for i in items}
    tp = len(truth & predicted)
    precision = tp / len(predicted) if predicted else 1.0
    recall = tp / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"pairs_true": len(truth), "pairs_predicted": len(predicted), "true_positives": tp,
            "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "missed": sorted(map(list, truth - predicted)), "wrong": sorted(map(list, predicted - truth))}


def default_api_key() -> str:
    keys = os.environ.get("API_KEYS")
    if keys is None:
        keys = dotenv_values(REPO / ".env").get("API_KEYS") or ""
    return next((k.strip() for k in keys.split(",") if k.strip()), "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, help="the dataset the stack serves (for truth.json)")
    ap.add_argument("--industry", default="breakfast", help="industry keyword of the job (default: breakfast)")
    ap.add_argument("--top", type=int, default=50, help="top_amz and top_ebay of the job")
    ap.add_argument("--orchestrator", default=f"http://127.0.0.1:{os.environ.get('ORCHESTRATOR_PORT', '8000')}")
    ap.add_argument("--results-api", default=f"http://127.0.0.1:{os.environ.get('RESULTS_API_PORT', '8080')}")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the job")
    ap.add_argument("--api-key", default=default_api_key(),
                    help="sent as X-API-Key (default: the first of API_KEYS, from the environment or .env)")
    args = ap.parse_args(argv)
    data_root = Path(os.environ.get("DATA_ROOT", "data"))
    headers = {"X-API-Key": args.api_key} if args.api_key else {}

    with httpx.Client(base_url=args.orchestrator, timeout=60, headers=headers) as orch, \
            httpx.Client(base_url=args.results_api, timeout=60, headers=headers) as results:
        started = time.monotonic()
        r = orch.post("/start-job", json={"industry": args.industry, "top_amz": args.top, "top_ebay": args.top})
        if r.status_code != 200:
            print(f"POST /start-job failed: {r.status_code} {r.text}", file=sys.stderr)
            return 1
        job_id = r.json()["job_id"]
        print(f"job {job_id} started for industry {args.industry!r}")
        status = wait_for_job(orch, job_id, args.timeout)
        seconds = time.monotonic() - started
        ui = f"{args.results_api.rstrip('/')}/#/jobs/{job_id}"
        if status["phase"] == "failed":
            print(f"job failed: {status['failed_reason']}", file=sys.stderr)
            print(json.dumps({"job_id": job_id, "phase": "failed", "seconds": round(seconds, 1)}))
            print(f"the job in the web UI: {ui}", file=sys.stderr)
            return 1
        items = fetch_results(results, job_id)

    print(f"\n{len(items)} match(es) in {seconds:.1f}s:")
    print(f"{'product':<28} {'video':<14} {'score':>6} {'ts':>7}  evidence")
    for i in sorted(items, key=lambda i: (i["video"]["video_id"], -i["score"])):
        evidence = str(data_root / "evidence" / f"{i['match_id']}.jpg") if i.get("evidence_url") else "-"
        print(f"{i['product']['product_id']:<28} {i['video']['video_id']:<14} {i['score']:6.3f} {i['ts']:7.2f}  {evidence}")
    summary = {"job_id": job_id, "phase": status["phase"], "seconds": round(seconds, 1), "matches": len(items)}
    quality = score(items, args.dataset / "truth.json") if args.dataset else None
    if quality:
        print(f"\nagainst truth.json: precision {quality['precision']:.3f}  recall {quality['recall']:.3f}  "
              f"f1 {quality['f1']:.3f}  (missed {quality['missed'] or 'none'}, wrong {quality['wrong'] or 'none'})")
        summary.update(quality)
    print(json.dumps(summary))
    print(f"\nthe web UI (jobs, progress, the matches with their evidence): {ui}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
