// Small DOM and formatting helpers shared by the views.

// el("a.card", {href: "#/x", onclick: fn}, child, "text", ...) -> an element. Children that are
// null/undefined/false are skipped, strings become text nodes (never parsed as HTML).
export function el(tag, attrs = {}, ...children) {
  const [name, ...classes] = tag.split(".");
  const node = document.createElement(name || "div");
  if (classes.length) node.className = classes.join(" ");
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node, ...children) {
  node.replaceChildren();
  for (const child of children.flat(Infinity)) if (child) node.append(child);
  return node;
}

// 4.8 -> "0:04.8", 3725 -> "1:02:05"
export function fmtTs(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  const s = Math.max(0, seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const secText = Number.isInteger(sec) || h ? String(Math.floor(sec)).padStart(2, "0")
                                             : sec.toFixed(1).padStart(4, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${secText}` : `${m}:${secText}`;
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined || ms < 0) return "–";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function fmtTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return d.toLocaleString(undefined, {dateStyle: "medium", timeStyle: "short"});
}

export const fmtScore = (score) => (typeof score === "number" ? score.toFixed(3) : "–");

export const PHASES = ["collection", "feature_extraction", "matching", "evidence", "completed"];
export const phaseLabel = (phase) => (phase || "").replace(/_/g, " ");
export const isActive = (phase) => phase !== "completed" && phase !== "failed";

// the hash route "#/jobs/abc?min=0.9&group=video" -> {parts: ["jobs", "abc"], params}
export function parseHash(hash) {
  const [path, query = ""] = (hash || "").replace(/^#/, "").split("?");
  return {parts: path.split("/").filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query)};
}

// a link to another site, only for a web address: a source's `javascript:` or `local://` address
// is never made a link
export function externalLink(href, text, label) {
  if (!/^https?:\/\//i.test(href || "")) return null;
  return el("a", {href, target: "_blank", rel: "noopener noreferrer", "aria-label": label}, text, " ↗");
}
