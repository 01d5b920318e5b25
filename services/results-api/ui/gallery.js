// The matches gallery: filter by minimum score, group by product or video, sort; cards rendered a
// page at a time (more as the reader scrolls) with images fetched only when they come near the
// viewport, so 500 matches cost 60 cards and a dozen images up front.

import {imageURL} from "./api.js";
import {clear, el, externalLink, fmtScore, fmtTs} from "./util.js";

const PAGE = 60;
const SORTS = {
  "score": ["score, best first", (a, b) => b.score - a.score || a.match_id.localeCompare(b.match_id)],
  "score-asc": ["score, lowest first", (a, b) => a.score - b.score || a.match_id.localeCompare(b.match_id)],
  "ts": ["time in video", (a, b) => a.video.video_id.localeCompare(b.video.video_id) || a.ts - b.ts],
  "product": ["product title", (a, b) => title(a.product).localeCompare(title(b.product)) || b.score - a.score],
  "video": ["video title", (a, b) => title(a.video).localeCompare(title(b.video)) || b.score - a.score],
  "newest": ["newest first", (a, b) => b.created_at.localeCompare(a.created_at)],
};
const GROUPS = {"": "no grouping", "product": "product", "video": "video"};

const title = (asset) => asset.title || asset.product_id || asset.video_id;

// Images load when they come within 300 px of the viewport; every object URL made is remembered
// so a re-render or a route change frees them.
export class LazyImages {
  constructor() {
    this.urls = new Set();
    this.observer = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting) continue;
        this.observer.unobserve(entry.target);
        this.load(entry.target);
      }
    }, {rootMargin: "300px"});
  }

  watch(img) { this.observer.observe(img); return img; }

  async load(img) {
    try {
      const url = await imageURL(img.dataset.src);
      this.urls.add(url);
      img.src = url;
      img.classList.add("loaded");
    } catch (err) {
      img.replaceWith(el("div.img-missing", {role: "img", "aria-label": img.alt}, `image unavailable: ${err.message}`));
    }
  }

  reset() {
    this.observer.disconnect();
    for (const url of this.urls) URL.revokeObjectURL(url);
    this.urls.clear();
  }
}

export const lazyImg = (lazy, src, alt, cls = "") => lazy.watch(el(`img${cls}`, {"data-src": src, alt}));

// The evidence image, large, in a modal dialog (Esc or the button closes it; focus comes back).
export async function openLightbox(match) {
  const dialog = document.getElementById("lightbox");
  const body = dialog.querySelector(".lightbox-body");
  const caption = `${title(match.product)} in ${title(match.video)} at ${fmtTs(match.ts)}, score ${fmtScore(match.score)}`;
  clear(body, el("p.muted", {}, "loading the evidence image…"));
  dialog.querySelector("h2").textContent = "Evidence";
  if (!dialog.open) dialog.showModal();
  try {
    const url = await imageURL(match.evidence_url);
    dialog.addEventListener("close", () => URL.revokeObjectURL(url), {once: true});
    clear(body,
      el("img.evidence-full", {src: url, alt: `Evidence: catalog image (left) and keyframe (right). ${caption}`}),
      el("p.caption", {}, caption, " · ", el("a", {href: url, target: "_blank", rel: "noopener"}, "open the image alone")));
  } catch (err) {
    clear(body, el("p.error", {role: "alert"}, `The evidence image could not be loaded: ${err.message}`));
  }
}

function timeline(match) {
  const segments = Array.isArray(match.segments) ? match.segments.filter((s) => s && s.end >= s.start) : [];
  if (!segments.length) return null;
  const span = match.video.duration_s || Math.max(match.ts, ...segments.map((s) => s.end)) * 1.05 || 1;
  const pct = (t) => `${Math.min(100, Math.max(0, (100 * t) / span)).toFixed(2)}%`;
  const describe = (s) => `${fmtTs(s.start)}–${fmtTs(s.end)}` +
    (typeof s.score === "number" ? ` (score ${fmtScore(s.score)})` : "");
  return el("div.timeline-wrap", {},
    el("div.timeline", {role: "img", "aria-label": `On screen ${segments.map(describe).join(", ")}`},
      segments.map((s) => el("span.segment", {title: describe(s),
                                               style: `left:${pct(s.start)};width:max(3px,${pct(s.end - s.start)})`})),
      el("span.best", {title: `best frame ${fmtTs(match.ts)}`, style: `left:${pct(match.ts)}`})),
    el("div.timeline-legend.muted", {}, `${segments.length} segment${segments.length > 1 ? "s" : ""} on screen`,
       match.video.duration_s ? ` · video ${fmtTs(match.video.duration_s)}` : ""));
}

function card(match, lazy) {
  const p = match.product, v = match.video;
  const evidence = match.evidence_url
    ? el("button.evidence", {type: "button", "aria-label": `Open the evidence image of ${title(p)} in ${title(v)}`,
                             onclick: () => openLightbox(match)},
         lazyImg(lazy, match.evidence_url, `Evidence: ${title(p)} (left) and the keyframe of ${title(v)} (right)`))
    : el("div.evidence.pending", {}, "no evidence image yet");
  return el("article.match", {dataset: {matchId: match.match_id}},
    evidence,
    el("div.match-body", {},
      el("div.score-row", {},
        el("span.score", {title: "final score (0–1)"}, fmtScore(match.score)),
        el("span.muted", {}, `best frame at ${fmtTs(match.ts)}`)),
      el("div.asset", {},
        p.thumbnail_url ? lazyImg(lazy, p.thumbnail_url, `Catalog image of ${title(p)}`, ".thumb") : null,
        el("div", {},
          el("a.asset-title", {href: `#/products/${encodeURIComponent(p.product_id)}`}, title(p)),
          el("div.muted", {}, [p.brand, p.src].filter(Boolean).join(" · "), " ",
             externalLink(p.url, "source", `${title(p)} at ${p.src}`)))),
      el("div.asset", {},
        el("div", {},
          el("a.asset-title", {href: `#/videos/${encodeURIComponent(v.video_id)}`}, title(v)),
          el("div.muted", {}, v.platform, " ",
             match.watch_url ? externalLink(match.watch_url, `watch at ${fmtTs(match.ts)}`, `Watch ${title(v)} at ${fmtTs(match.ts)}`)
                             : el("span", {title: "this video has no web address (a local file)"}, "· local file")))),
      timeline(match)));
}

function groupHeader(kind, items, lazy) {
  const first = items[0];
  const asset = kind === "product" ? first.product : first.video;
  const href = kind === "product" ? `#/products/${encodeURIComponent(asset.product_id)}`
                                  : `#/videos/${encodeURIComponent(asset.video_id)}`;
  return el("h3.group", {},
    kind === "product" && asset.thumbnail_url ? lazyImg(lazy, asset.thumbnail_url, "", ".thumb") : null,
    el("a", {href}, title(asset)),
    el("span.muted", {}, ` · ${items.length} match${items.length > 1 ? "es" : ""}, best ${fmtScore(Math.max(...items.map((m) => m.score)))}`));
}

// state: {min, group, sort}; onChange(state) is called when the reader changes a control (the
// views keep it in the address, so a filtered gallery can be shared and survives a reload).
export class Gallery {
  constructor(container, {state = {}, onChange = () => {}, emptyText = "No matches."} = {}) {
    this.container = container;
    this.state = {min: Number(state.min) || 0, group: state.group in GROUPS ? state.group : "",
                  sort: state.sort in SORTS ? state.sort : "score"};
    this.onChange = onChange;
    this.emptyText = emptyText;
    this.matches = [];
    this.lazy = new LazyImages();
    this.controls = this.buildControls();
    this.summary = el("p.summary", {"aria-live": "polite"});
    this.grid = el("div.gallery");
    this.more = el("div.more");
    clear(container, this.controls, this.summary, this.grid, this.more);
  }

  buildControls() {
    const id = (name) => `gallery-${name}`;
    const select = (name, options, value) => el("select", {id: id(name), name, onchange: (e) => this.set(name, e.target.value)},
      Object.entries(options).map(([k, label]) => el("option", {value: k, selected: k === value}, label)));
    return el("form.controls", {onsubmit: (e) => e.preventDefault(), "aria-label": "Filter, group and sort the matches"},
      el("label", {for: id("min")}, "Minimum score"),
      el("input", {id: id("min"), name: "min", type: "number", min: "0", max: "1", step: "0.01", inputmode: "decimal",
                   value: this.state.min.toFixed(2),
                   oninput: (e) => { const v = Number(e.target.value); if (e.target.value !== "" && v >= 0 && v <= 1) this.set("min", v); }}),
      el("label", {for: id("group")}, "Group by"), select("group", GROUPS, this.state.group),
      el("label", {for: id("sort")}, "Sort by"),
      select("sort", Object.fromEntries(Object.entries(SORTS).map(([k, [label]]) => [k, label])), this.state.sort));
  }

  set(name, value) {
    this.state = {...this.state, [name]: value};
    this.onChange(this.state);
    this.render();
  }

  update(matches) {
    this.matches = matches;
    this.render();
  }

  visible() {
    const [, compare] = SORTS[this.state.sort];
    const shown = this.matches.filter((m) => m.score >= this.state.min - 1e-9).sort(compare);
    if (!this.state.group) return shown.map((m) => ({match: m}));
    const key = (m) => (this.state.group === "product" ? m.product.product_id : m.video.video_id);
    const groups = new Map();
    for (const m of shown) (groups.get(key(m)) || groups.set(key(m), []).get(key(m))).push(m);
    // groups in the order of their first (best-sorted) member
    return [...groups.values()].flatMap((items) => [{header: items}, ...items.map((m) => ({match: m}))]);
  }

  render() {
    const scrollY = window.scrollY;
    this.lazy.reset();
    const rows = this.visible();
    const total = rows.filter((r) => r.match).length;
    this.summary.textContent = this.matches.length
      ? `${total} of ${this.matches.length} match${this.matches.length > 1 ? "es" : ""}` +
        (this.state.min > 0 ? ` with a score of at least ${this.state.min.toFixed(2)}` : "")
      : "";
    clear(this.grid);
    clear(this.more);
    if (!this.matches.length) {
      this.grid.append(el("div.empty", {}, this.emptyText));
      return;
    }
    if (!total) {
      this.grid.append(el("div.empty", {}, `No match scores ${this.state.min.toFixed(2)} or more: lower the minimum score.`));
      return;
    }
    this.rows = rows;
    this.shown = 0;
    this.showMore();
    window.scrollTo({top: scrollY});
  }

  showMore() {
    const start = this.shown;
    let cards = 0, end = start;
    while (end < this.rows.length && cards < PAGE) { if (this.rows[end].match) cards += 1; end += 1; }
    for (const row of this.rows.slice(start, end)) {
      this.grid.append(row.header ? groupHeader(this.state.group, row.header, this.lazy) : card(row.match, this.lazy));
    }
    this.shown = end;
    clear(this.more);
    const left = this.rows.slice(end).filter((r) => r.match).length;
    if (left) {
      const button = el("button", {type: "button", onclick: () => this.showMore()}, `Show ${Math.min(left, PAGE)} more (${left} left)`);
      this.more.append(button);
      // scrolling near the end shows the next page by itself; the button stays for keyboards
      const sentinel = new IntersectionObserver((entries) => {
        if (entries.some((e) => e.isIntersecting)) { sentinel.disconnect(); if (button.isConnected) this.showMore(); }
      }, {rootMargin: "600px"});
      sentinel.observe(button);
    }
  }

  destroy() { this.lazy.reset(); }
}
