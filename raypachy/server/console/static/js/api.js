// The HTTP API, with the token from the login form on every call (fetch and event streams).

const TOKEN_KEY = "raypachy.token";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let unauthenticated = () => {};

/** Called when the API answers 401: the page shows the login form. */
export function onUnauthenticated(fn) {
  unauthenticated = fn;
}

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

function headers(extra = {}) {
  const t = token.get();
  return t ? { ...extra, Authorization: `Bearer ${t}` } : extra;
}

/** A repo or pipeline of another project (``staging%2Fimages`` in the path) travels as
 * its plain name and ``?project=staging``: a path segment never holds a slash. */
function projected(path, params) {
  const m = path.match(/^(\/v1\/(?:repos|pipelines|jobs)\/)([^/?]+)(.*)$/);
  if (!m || !m[2].includes("%2F")) return [path, params];
  const [project, name] = decodeURIComponent(m[2]).split("/");
  return [`${m[1]}${encodeURIComponent(name)}${m[3]}`, { ...(params ?? {}), project }];
}

function url(path, params) {
  [path, params] = projected(path, params);
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params ?? {})) if (v !== null && v !== undefined) q.set(k, v);
  const text = q.toString();
  return text ? `${path}?${text}` : path;
}

async function request(method, path, { params, body, signal } = {}) {
  let response;
  try {
    response = await fetch(url(path, params), {
      method,
      headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }),
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: "no-store",
    });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, "unreachable", "the raypachy API is not reachable: is it running? (raypachy up)");
  }
  if (response.status === 401) {
    unauthenticated();
    throw new ApiError(401, "unauthenticated", "sign in with the API token to see this page");
  }
  if (!response.ok) {
    let payload = null;
    try {
      payload = await response.json();
    } catch {
      // not JSON: say what the status says
    }
    throw new ApiError(response.status, payload?.code ?? "http_error", payload?.message ?? `${response.status} ${response.statusText}`);
  }
  return response;
}

export async function get(path, params, signal) {
  return (await request("GET", path, { params, signal })).json();
}

/** One page of a listing: its entries, and the cursor of the next page (null at the end). */
export async function page(path, params, signal) {
  const response = await request("GET", path, { params, signal });
  const link = response.headers.get("Link") ?? "";
  const next = link.match(/<([^>]*)>;\s*rel="next"/);
  const cursor = next ? new URL(next[1], location.origin).searchParams.get("start_after") : null;
  return { items: await response.json(), next: cursor };
}

export async function post(path, body = {}) {
  return (await request("POST", path, { body })).json();
}

export async function blob(path, params) {
  return (await request("GET", path, { params })).blob();
}

/** Whether the API takes our token (or needs none). */
export async function check() {
  await get("/v1/config");
}

/**
 * Follow a server-sent event stream with fetch (EventSource cannot send the token):
 * calls handlers[event](data) for each event and `status(true|false)` as the stream comes
 * and goes; reconnects until `signal` aborts.
 */
export async function follow(path, params, handlers, signal, status = showLive) {
  signal.addEventListener("abort", () => status(null));
  while (!signal.aborted) {
    try {
      const response = await request("GET", path, { params, signal });
      status(true);
      await readEvents(response.body, handlers, signal);
    } catch (e) {
      if (e.name === "AbortError" || signal.aborted) return;
      if (e.status === 401) return;
    }
    if (signal.aborted) return;
    status(false);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** The "live" mark in the header: following the server's events (true), trying to (false),
 *  or not (null: the page left). */
function showLive(on) {
  const mark = document.getElementById("live");
  if (!mark) return;
  mark.textContent = on === null ? "" : on ? "live" : "reconnecting";
  mark.dataset.state = on === null ? "idle" : on ? "live" : "offline";
}

async function readEvents(body, handlers, signal) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  signal.addEventListener("abort", () => reader.cancel().catch(() => {}));
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length && handlers[event]) handlers[event](JSON.parse(data.join("\n")));
    }
  }
}

/** Save a file of the API (fetched with the token) under `name`. */
export async function download(path, params, name) {
  const data = await blob(path, params);
  const href = URL.createObjectURL(data);
  const a = document.createElement("a");
  a.href = href;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10000);
}
