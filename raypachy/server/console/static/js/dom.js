// Building the page: elements from data (never HTML strings), formats, small widgets.

const SVG = "http://www.w3.org/2000/svg";

function build(el, attrs, children) {
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "style") {
      Object.assign(el.style, value); // through the CSSOM: the page's CSP refuses style attributes
    } else if (key === "testid") {
      el.setAttribute("data-testid", value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** An HTML element: h("a", {href: "#/"}, "text", child, [more]). */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** Replace an element's children (null, false and "" are left out, arrays flattened). */
export function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false && c !== ""));
  return el;
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG, tag), attrs, children);
}

/** A hash route with its query: route("/repos/iris", {branch: "master"}). */
export function route(path, query = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== null && v !== undefined && v !== "") q.set(k, v);
  const text = q.toString();
  return "#" + path + (text ? "?" + text : "");
}

export const enc = encodeURIComponent;

export function short(id) {
  return id ? String(id).slice(0, 8) : "";
}

export function bytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

export function seconds(s) {
  if (s === null || s === undefined) return "";
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 120) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

export function took(start, end) {
  if (!start) return "";
  const stop = end ? new Date(end) : new Date();
  return seconds((stop - new Date(start)) / 1000);
}

/** A state badge: the state's colour comes from the stylesheet. */
export function badge(state, testid) {
  return h("span", { class: `badge state-${state ?? "none"}`, "data-state": state ?? "none", testid }, state ?? "no jobs");
}

/** Processed, skipped, recovered and failed datums as one bar. */
export function progress(d) {
  const total = Math.max(d.total, 1);
  const part = (n, cls, label) =>
    n ? h("span", { class: `seg ${cls}`, style: { width: `${(100 * n) / total}%` }, title: `${n} ${label}` }) : null;
  const done = d.processed + d.skipped + d.failed + d.recovered;
  return h(
    "div",
    { class: "progress", testid: "progress", "data-done": done, "data-total": d.total },
    h(
      "div",
      { class: "bar" },
      part(d.processed, "processed", "processed"),
      part(d.skipped, "skipped", "skipped"),
      part(d.recovered, "recovered", "recovered"),
      part(d.failed, "failed", "failed"),
    ),
    h(
      "span",
      { class: "counts" },
      `${done}/${d.total}`,
      d.skipped ? ` · ${d.skipped} skipped` : "",
      d.failed ? ` · ${d.failed} failed` : "",
      d.recovered ? ` · ${d.recovered} recovered` : "",
    ),
  );
}

/** A table: columns are [title, (row) => cell]; rowAttrs(row) gives each row's attributes. */
export function table(columns, rows, rowAttrs = () => ({}), empty = "nothing here yet") {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, columns.map(([title]) => h("th", {}, title)))),
    h(
      "tbody",
      {},
      rows.map((row) => h("tr", rowAttrs(row), columns.map(([, cell]) => h("td", {}, cell(row))))),
    ),
  );
}

/** A clear one-line message in the page for a failed call (never a stack trace). */
export function errorBox(error) {
  const message = error?.message ? String(error.message) : String(error);
  return h("div", { class: "error", role: "alert", testid: "error" }, message);
}

export function section(title, ...children) {
  return h("section", {}, h("h2", {}, title), children);
}

/** Facts as a definition list: [[term, value], ...] (empty values are left out). */
export function facts(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs.filter(([, v]) => v !== null && v !== undefined && v !== "").map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
  );
}

export function link(href, text, attrs = {}) {
  return h("a", { href, ...attrs }, text);
}
