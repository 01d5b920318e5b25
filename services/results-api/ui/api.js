// Every call the UI makes goes through here: same origin (results-api; job calls are forwarded to
// the orchestrator under /orchestrator/), with the API key of this browser session when one is set.

const KEY_STORAGE = "pvm.apiKey";

export const apiKey = {
  get: () => sessionStorage.getItem(KEY_STORAGE) || "",
  set: (key) => sessionStorage.setItem(KEY_STORAGE, key),
  forget: () => sessionStorage.removeItem(KEY_STORAGE),
};

// thrown for every failed call; `kind` tells the views what to show
export class ApiError extends Error {
  constructor(kind, message, status = 0) {
    super(message);
    this.kind = kind; // "auth" (401), "unreachable", "notfound", "invalid" (422), "server"
    this.status = status;
  }
}

// Called on a 401 with the server's message; resolves when the user has entered a key (the call is
// then retried) or rejects when they cancel. app.js installs the real one (the key dialog).
let askForKey = async (message) => { throw new ApiError("auth", message, 401); };
export function onKeyNeeded(fn) { askForKey = fn; }

function headers(extra = {}) {
  const key = apiKey.get();
  return key ? {...extra, "X-API-Key": key} : extra;
}

async function request(path, init = {}) {
  const sent = apiKey.get();
  let response;
  try {
    response = await fetch(path, {...init, headers: headers(init.headers)});
  } catch (err) {
    throw new ApiError("unreachable",
      `results-api at ${location.origin} is not answering (${err.message}). Is the stack up? ` +
      "`make up` starts it, `make status` shows what runs.");
  }
  if (response.status === 401) {
    // refused with the key this session holds (or with none): ask for one (again), then retry;
    // the reader's Cancel ends it. Refused with a key replaced meanwhile: just retry with the new one.
    if (apiKey.get() === sent) {
      apiKey.forget();
      await askForKey(await detailOf(response));
    }
    return request(path, init);
  }
  if (!response.ok) {
    const detail = await detailOf(response);
    const kind = response.status === 401 ? "auth" : response.status === 404 ? "notfound"
      : response.status === 422 ? "invalid" : response.status === 502 ? "unreachable" : "server";
    throw new ApiError(kind, detail, response.status);
  }
  return response;
}

// FastAPI's {"detail": "..."} or {"detail": [{loc, msg}, ...]} as one readable line
async function detailOf(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON */ }
  const detail = body && body.detail;
  if (Array.isArray(detail)) return detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
  return detail ? String(detail) : `HTTP ${response.status} ${response.statusText}`;
}

export async function getJSON(path) {
  return (await request(path)).json();
}

export async function postJSON(path, body) {
  const response = await request(path, {method: "POST", headers: {"Content-Type": "application/json"},
                                        body: JSON.stringify(body)});
  return response.json();
}

// An image the API serves, as an object URL: an <img src> cannot send the X-API-Key header, so
// images are fetched like the JSON is. Callers revoke the URL when its element goes away.
export async function imageURL(path) {
  const response = await request(path);
  return URL.createObjectURL(await response.blob());
}

// Every match of a query, in pages of 200 (the API's largest page).
export async function allMatches(path, params = {}) {
  const items = [];
  for (let offset = 0; ; offset += 200) {
    const query = new URLSearchParams({...params, limit: "200", offset: String(offset)});
    const page = await getJSON(`${path}?${query}`);
    items.push(...page.items);
    if (!page.items.length || items.length >= page.total) return items;
  }
}
