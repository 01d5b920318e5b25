// The pages: jobs (list + start form), one job (progress, then its matches), a product, a video.
// Each view renders into `root`, polls while it has something to wait for, and stops when the
// reader leaves it (`ctx.alive()` turns false, `ctx.cleanup` runs).

import {allMatches, getJSON, postJSON} from "./api.js";
import {Gallery, lazyImg} from "./gallery.js";
import {clear, el, externalLink, fmtDuration, fmtTime, fmtTs, isActive, PHASES, phaseLabel} from "./util.js";

const POLL_MS = 2000;

export function errorBox(err, what) {
  const hint = {
    auth: "This API needs a key: use “API key” at the top right.",
    unreachable: "Check that the services run (`make status`; `make up` starts them).",
    notfound: "Check the address, or go back to the jobs list.",
  }[err.kind] || "";
  return el("div.error", {role: "alert"}, el("strong", {}, `${what}: `), err.message, hint ? el("div", {}, hint) : null);
}

function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

// run `step` now and every `ms` while the view is alive and `step` returns true
async function poll(ctx, ms, step) {
  while (ctx.alive()) {
    let again;
    try { again = await step(); } catch (err) { again = await ctx.onPollError(err); }
    if (!again || !ctx.alive()) return;
    await sleep(ms);
  }
}

function phaseBadge(phase) { return el(`span.phase.phase-${phase}`, {}, phaseLabel(phase)); }

function progressBar(percent, label) {
  return el("progress", {max: "100", value: String(percent ?? 0), "aria-label": label}, `${percent ?? 0}%`);
}

function duration(job) {
  const end = job.completed_at || (isActive(job.phase) ? null : job.updated_at);
  return fmtDuration((end ? new Date(end) : new Date()) - new Date(job.created_at));
}

// ---------------------------------------------------------------------------------------------
// #/  jobs list and the start form

export async function jobsView(root, ctx) {
  const message = el("div", {"aria-live": "polite"});
  const form = startForm(message, ctx);
  const listBox = el("div", {}, el("p.muted", {}, "loading the jobs…"));
  clear(root,
    el("section.card-box", {"aria-labelledby": "start-title"}, el("h2", {id: "start-title"}, "Start a job"), form, message),
    el("section", {"aria-labelledby": "jobs-title"}, el("h2", {id: "jobs-title"}, "Jobs"), listBox));
  const statuses = new Map();
  ctx.onPollError = async (err) => { clear(listBox, errorBox(err, "The jobs could not be loaded")); return true; };
  await poll(ctx, POLL_MS, async () => {
    const jobs = await getJSON("/orchestrator/jobs?limit=50");
    // the list has the phase; the percent of a running job comes from its status
    await Promise.all(jobs.filter((j) => isActive(j.phase)).map(async (j) => {
      statuses.set(j.job_id, await getJSON(`/orchestrator/status/${encodeURIComponent(j.job_id)}`));
    }));
    if (ctx.alive()) clear(listBox, jobsTable(jobs, statuses));
    return true; // keep refreshing: a job may be started elsewhere (n8n)
  });
}

function jobsTable(jobs, statuses) {
  if (!jobs.length) return el("div.empty", {}, "No jobs yet. Start one with the form above (with the demo dataset: industry “breakfast”).");
  return el("table.jobs", {},
    el("thead", {}, el("tr", {}, ["Industry", "Phase", "Progress", "Started", "Duration", "Why it failed"].map((h) => el("th", {scope: "col"}, h)))),
    el("tbody", {}, jobs.map((job) => {
      const percent = job.phase === "completed" ? 100 : statuses.get(job.job_id)?.percent ?? null;
      return el("tr", {dataset: {jobId: job.job_id, phase: job.phase}},
        el("td", {"data-label": "Industry"}, el("a", {href: `#/jobs/${encodeURIComponent(job.job_id)}`}, job.industry)),
        el("td", {"data-label": "Phase"}, phaseBadge(job.phase)),
        el("td", {"data-label": "Progress"}, percent === null ? "–" : [progressBar(percent, `${job.industry}: ${percent}%`), ` ${percent}%`]),
        el("td", {"data-label": "Started"}, fmtTime(job.created_at)),
        el("td", {"data-label": "Duration"}, duration(job)),
        el("td.failed-reason", {"data-label": "Why it failed"}, job.failed_reason || ""));
    })));
}

function startForm(message, ctx) {
  const field = (label, input) => el("div.field", {}, el("label", {for: input.id}, label), input);
  const number = (id, value, min, max) => el("input", {id, name: id, type: "number", value, min, max, required: true});
  const form = el("form.start", {},
    field("Industry keyword", el("input", {id: "industry", name: "industry", required: true, maxlength: "200",
                                            placeholder: "e.g. ergonomic pillow", autocomplete: "off"})),
    field("Amazon products", number("top_amz", 10, 0, 100)),
    field("eBay products", number("top_ebay", 10, 0, 100)),
    el("fieldset.field", {}, el("legend", {}, "Video platforms"),
      ["youtube", "bilibili"].map((p) => el("label.check", {}, el("input", {type: "checkbox", name: "platforms", value: p, checked: true}), ` ${p}`))),
    field("Videos from the last (days)", number("recency_days", 365, 1, 36500)),
    el("div.field.submit", {}, el("button.primary", {type: "submit"}, "Start job")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const platforms = data.getAll("platforms");
    if (!platforms.length) { clear(message, el("div.error", {role: "alert"}, "Choose at least one video platform.")); return; }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    clear(message, el("p.muted", {}, "starting…"));
    try {
      const started = await postJSON("/orchestrator/start-job", {
        industry: data.get("industry"), top_amz: Number(data.get("top_amz")), top_ebay: Number(data.get("top_ebay")),
        platforms, recency_days: Number(data.get("recency_days"))});
      location.hash = `#/jobs/${encodeURIComponent(started.job_id)}`;
    } catch (err) {
      if (ctx.alive()) clear(message, errorBox(err, "The job was not started"));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

// ---------------------------------------------------------------------------------------------
// #/jobs/<id>  progress per stage, then the matches

const STAGE_ROWS = [
  ["collection", "Collection", (c) => `${c.products} products, ${c.product_images} images, ${c.videos} videos, ${c.keyframes} keyframes`],
  ["feature_extraction", "Features", null],
  ["matching", "Matching", (c) => `${c.matches} match${c.matches === 1 ? "" : "es"}`],
  ["evidence", "Evidence", (c) => `${c.evidence} of ${c.matches} images`],
];
const FEATURE_STAGES = [["image.embeddings", "image embeddings"], ["image.keypoints", "image keypoints"],
                        ["video.embeddings", "keyframe embeddings"], ["video.keypoints", "keyframe keypoints"]];

function stageState(phase, status) {
  const reached = status.phase === "failed" ? failedPhase(status) : status.phase;
  const at = PHASES.indexOf(reached), mine = PHASES.indexOf(phase);
  if (mine < at) return "done";
  if (mine === at) return status.phase === "failed" ? "failed" : "running";
  return "waiting";
}

// the phase a failed job was in: the first whose completions are not all in
function failedPhase(status) {
  const got = new Set(status.events.map((e) => e.name));
  if (!(got.has("products.collections.completed") && got.has("videos.collections.completed"))) return "collection";
  if (!["image.embeddings", "video.embeddings", "image.keypoints", "video.keypoints"].every((s) => got.has(`${s}.completed`))) return "feature_extraction";
  if (!got.has("matchings.process.completed")) return "matching";
  return "evidence";
}

function stagesList(status) {
  const c = status.counts;
  return el("ol.stages", {}, STAGE_ROWS.map(([phase, label, detail]) => {
    const state = stageState(phase, status);
    let text = detail ? detail(c) : "";
    if (phase === "feature_extraction") {
      text = FEATURE_STAGES.map(([key, name]) => {
        const s = c.stages[key];
        return s ? `${name} ${s.done + s.failed}/${s.expected ?? "?"}${s.failed ? ` (${s.failed} failed)` : ""}` : `${name} –`;
      }).join(", ");
    }
    return el(`li.stage.stage-${state}`, {dataset: {stage: phase, state}},
      el("span.stage-name", {}, label), el("span.stage-state", {}, state), el("span.stage-detail.muted", {}, text));
  }));
}

function noMatchesText(status) {
  if (status.phase === "failed") return "The job failed before it found any match.";
  if (isActive(status.phase)) return `No matches yet: the job is in ${phaseLabel(status.phase)}; matches appear during matching and evidence.`;
  return "This job found no match: no catalog product was seen in its videos. Try another industry keyword, or more products.";
}

export async function jobView(root, ctx, jobId, params) {
  const head = el("div", {}, el("p.muted", {}, "loading the job…"));
  const progress = el("section", {"aria-label": "Progress"});
  const matchesBox = el("section", {"aria-labelledby": "matches-title"});
  clear(root, el("p", {}, el("a", {href: "#/"}, "← all jobs")), head, progress, matchesBox);
  // what the gallery shows, as the status counts it; `recheck` bounds the looks after the job ends
  let gallery = null, shown = "", recheck = 15;
  ctx.cleanup.push(() => gallery && gallery.destroy());
  ctx.onPollError = async (err) => {
    clear(head, errorBox(err, err.kind === "notfound" ? "No such job" : "The job's status could not be loaded"));
    return err.kind !== "notfound" && err.kind !== "auth";
  };
  await poll(ctx, POLL_MS, async () => {
    const status = await getJSON(`/orchestrator/status/${encodeURIComponent(jobId)}`);
    if (!ctx.alive()) return false;
    clear(head,
      el("h2", {}, `Job: ${status.industry}`),
      el("p.job-meta", {}, phaseBadge(status.phase), " ", progressBar(status.percent, "job progress"), ` ${status.percent}% · started ${fmtTime(status.created_at)} · ${duration(status)}`,
         el("span.muted", {}, ` · ${status.job_id}`)),
      status.phase === "failed"
        ? el("div.error", {role: "alert"}, el("strong", {}, "The job failed: "), status.failed_reason || "no reason recorded",
             el("div", {}, "Its matches so far are below. Start it again from the jobs page once the cause is fixed; the service logs (data/logs/) say more."))
        : null);
    clear(progress, stagesList(status));
    const active = isActive(status.phase);
    const counted = `${status.counts.matches}/${status.counts.evidence}/${status.phase}`;
    if (counted !== shown) {
      const matches = await allMatches(`/jobs/${encodeURIComponent(jobId)}/matches`);
      if (!ctx.alive()) return false;
      // the matches API caches its answers a few seconds: until they hold what the status counts,
      // look again at the next poll (also for a little while after the job has ended)
      const complete = matches.length >= status.counts.matches &&
        matches.filter((m) => m.evidence_url).length >= status.counts.evidence;
      shown = complete ? counted : "";
      if (!gallery) {
        clear(matchesBox, el("h2", {id: "matches-title"}, "Matches"));
        const box = el("div");
        matchesBox.append(box);
        gallery = new Gallery(box, {state: Object.fromEntries(params), onChange: ctx.keepParams});
      }
      gallery.emptyText = noMatchesText(status);
      gallery.update(matches);
    }
    return active || (shown !== counted && --recheck > 0);
  });
}

// ---------------------------------------------------------------------------------------------
// #/products/<id> and #/videos/<id>

async function assetView(root, ctx, params, load, describe, matchQuery) {
  clear(root, el("p", {}, el("a", {href: "#/"}, "← all jobs")), el("p.muted", {}, "loading…"));
  let asset, matches;
  try {
    [asset, matches] = await Promise.all([load(), allMatches("/results", matchQuery)]);
  } catch (err) {
    if (ctx.alive()) clear(root, el("p", {}, el("a", {href: "#/"}, "← all jobs")), errorBox(err, "Not found"));
    return;
  }
  if (!ctx.alive()) return;
  const box = el("div");
  clear(root, el("p", {}, el("a", {href: "#/"}, "← all jobs")), describe(asset),
        el("h2", {id: "matches-title"}, "Matches, every job"), box);
  const gallery = new Gallery(box, {state: Object.fromEntries(params), onChange: ctx.keepParams,
                                    emptyText: "No job has matched it yet."});
  ctx.cleanup.push(() => gallery.destroy());
  gallery.update(matches);
}

export function productView(root, ctx, productId, params) {
  const lazy = ctx.lazy;
  return assetView(root, ctx, params, () => getJSON(`/products/${encodeURIComponent(productId)}`), (p) =>
    el("section.asset-head", {},
      el("h2", {}, p.title || p.product_id),
      el("p", {}, [p.brand, p.src, p.asin_or_itemid, p.price !== null ? `${p.price} ${p.currency || ""}` : null].filter(Boolean).join(" · "), " ",
         externalLink(p.url, "source page", `${p.title} at ${p.src}`)),
      el("div.strip", {"aria-label": "Catalog images"},
        p.images.map((img) => el("figure", {}, lazyImg(lazy, img.image_url, `Catalog image ${img.img_id}`, ".strip-img"))))),
    {product_id: productId});
}

export function videoView(root, ctx, videoId, params) {
  const lazy = ctx.lazy;
  return assetView(root, ctx, params, () => getJSON(`/videos/${encodeURIComponent(videoId)}`), (v) =>
    el("section.asset-head", {},
      el("h2", {}, v.title || v.video_id),
      el("p", {}, [v.platform, v.duration_s ? `duration ${fmtTs(v.duration_s)}` : null,
                   v.published_at ? `published ${fmtTime(v.published_at)}` : null].filter(Boolean).join(" · "), " ",
         externalLink(v.url, "watch", `Watch ${v.title}`) || el("span.muted", {}, "(a local file)")),
      el("div.strip", {"aria-label": "Keyframes"},
        v.frames.map((f) => el("figure", {}, lazyImg(lazy, f.image_url, `Keyframe at ${fmtTs(f.ts)}`, ".strip-img"),
                               el("figcaption", {}, fmtTs(f.ts)))))),
    {video_id: videoId});
}
