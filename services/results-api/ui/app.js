// Boot: the API key dialog and the hash router (#/, #/jobs/<id>, #/products/<id>, #/videos/<id>).
// Hash routes need no server routes: results-api serves this one page at "/".

import {apiKey, ApiError, onKeyNeeded} from "./api.js";
import {LazyImages} from "./gallery.js";
import {clear, el, parseHash} from "./util.js";
import {jobsView, jobView, productView, videoView} from "./views.js";

const root = document.getElementById("app");
const keyDialog = document.getElementById("key-dialog");
const keyButton = document.getElementById("key-button");

// -- API key: asked for on the first 401, kept for this browser session (sessionStorage) --------
let pendingKey = null;

function askForKey(message) {
  // many calls may get their 401 at once: one dialog answers them all
  if (pendingKey) return pendingKey;
  showKeyState(); // api.js forgets a refused key before it asks
  pendingKey = new Promise((resolve, reject) => {
    const input = keyDialog.querySelector("input");
    keyDialog.querySelector(".key-message").textContent = message || "";
    input.value = "";
    keyDialog.returnValue = ""; // Esc leaves the last value in place: start from none
    keyDialog.showModal();
    input.focus();
    keyDialog.addEventListener("close", () => {
      pendingKey = null;
      const value = input.value.trim();
      if (keyDialog.returnValue === "save" && value) {
        apiKey.set(value);
        showKeyState();
        resolve();
      } else {
        reject(new ApiError("auth", message || "an API key is needed", 401));
      }
    }, {once: true});
  });
  return pendingKey;
}

function showKeyState() {
  keyButton.textContent = apiKey.get() ? "API key: set" : "API key";
}

onKeyNeeded(askForKey);
keyButton.addEventListener("click", () => {
  const had = apiKey.get();
  askForKey(had ? "A key is set for this session. Enter another one, or cancel to keep it."
                : "Enter the key you were given (sent as X-API-Key; kept until this tab closes).")
    .then(() => route(), () => {});
});
document.getElementById("key-forget").addEventListener("click", () => {
  apiKey.forget();
  showKeyState();
  keyDialog.close("forget");
});

// -- router ------------------------------------------------------------------------------------
let current = null;

function route(moveFocus = false) {
  if (current) {
    current.dead = true;
    for (const fn of current.cleanup) fn();
  }
  const ctx = {
    dead: false,
    cleanup: [],
    lazy: new LazyImages(),
    alive: () => !ctx.dead,
    onPollError: async () => false,
    // gallery controls live in the address (shareable, kept on reload) without re-rendering
    keepParams: (state) => {
      const {parts} = parseHash(location.hash);
      const query = new URLSearchParams();
      if (state.min) query.set("min", String(state.min));
      if (state.group) query.set("group", state.group);
      if (state.sort && state.sort !== "score") query.set("sort", state.sort);
      const path = parts.map(encodeURIComponent).join("/");
      history.replaceState(null, "", `#/${path}${query.toString() ? `?${query}` : ""}`);
    },
  };
  ctx.cleanup.push(() => ctx.lazy.reset());
  current = ctx;
  const {parts, params} = parseHash(location.hash);
  window.scrollTo({top: 0});
  const [section, id] = parts;
  let view;
  if (!section) {
    document.title = "Jobs · product ↔ video matcher";
    view = jobsView(root, ctx);
  } else if (section === "jobs" && id) {
    document.title = "Job · product ↔ video matcher";
    view = jobView(root, ctx, id, params);
  } else if (section === "products" && id) {
    document.title = "Product · product ↔ video matcher";
    view = productView(root, ctx, id, params);
  } else if (section === "videos" && id) {
    document.title = "Video · product ↔ video matcher";
    view = videoView(root, ctx, id, params);
  } else {
    clear(root, el("div.error", {role: "alert"}, "There is no such page. ", el("a", {href: "#/"}, "Go to the jobs list.")));
    return;
  }
  // on a new page, focus moves to its content, as a page load would (screen readers announce it)
  if (moveFocus) root.focus({preventScroll: true});
  Promise.resolve(view).catch((err) => {
    if (!ctx.dead) clear(root, el("div.error", {role: "alert"}, `Something went wrong: ${err.message}`));
  });
}

window.addEventListener("hashchange", () => route(true));
// the skip link moves focus to the content; as a plain "#app" link it would change the route
document.querySelector(".skip").addEventListener("click", (e) => {
  e.preventDefault();
  root.focus();
});
showKeyState();
route();
