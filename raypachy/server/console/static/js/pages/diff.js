// A diff: what changed in a commit against its parent or any other commit, text inline.

import * as api from "../api.js";
import { bytes, enc, errorBox, h, link, route, short } from "../dom.js";

const INLINE = 30; // files whose text diff is fetched right away

function lines(diff) {
  if (diff.kind !== "diff") return h("p", { class: "muted" }, diff.reason);
  if (!diff.lines.length) return h("p", { class: "muted" }, "no line changed");
  return h(
    "table",
    { class: "textdiff", testid: "text-diff" },
    h("tbody", {}, diff.lines.map(([op, text]) => h("tr", { class: { "+": "add", "-": "del", "@": "hunk", " ": "same" }[op] }, h("td", { class: "op" }, op === " " ? "" : op), h("td", {}, text)))),
    diff.more_lines ? h("caption", {}, "the first lines of the diff") : null,
  );
}

export default async function diff({ main, params: [name, ref], query, signal }) {
  const path = query.path || "/";
  const newer = await api.get("/v1/commit", { target: `${name}@${ref}` }, signal);
  let old = query.old || null;
  let older = null;
  if (old) {
    older = await api.get("/v1/commit", { target: old.includes("@") ? old : `${name}@${old}` }, signal);
    old = `${older.repo}@${older.id}`;
  }
  const newTarget = `${name}@${newer.id}`;
  const changes = await api.get("/v1/files/diff", { new: newTarget, old, path }, signal);

  const against = h("input", { name: "old", value: query.old ?? "", placeholder: newer.parent ? `parent ${short(newer.parent)}` : "no parent", testid: "diff-old", size: 40 });
  const form = h("form", { class: "inline", testid: "diff-form" }, "against ", against, " ", h("button", { type: "submit" }, "compare"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = route(`/repos/${enc(name)}/diff/${newer.id}`, { old: against.value.trim(), path: query.path });
  });

  const what = older ? `${older.repo}@${short(older.id)}` : newer.parent ? `its parent ${short(newer.parent)}` : "nothing (its first commit)";
  const list = h("div", { testid: "diff" });
  main.replaceChildren(
    h("h1", {}, "Diff of ", link(route(`/repos/${enc(name)}/commit/${newer.id}`), h("code", {}, `${name}@${short(newer.id)}`)), " against ", what),
    form,
    h("p", { class: "muted" }, `${changes.length} changed file${changes.length === 1 ? "" : "s"}`, path !== "/" ? ` under ${path}` : ""),
    list,
  );
  if (!changes.length) list.append(h("p", { class: "empty" }, "Nothing changed."));
  changes.forEach((c, i) => {
    const body = h("div", { class: "diff-body" });
    const load = async () => {
      body.replaceChildren(h("p", { class: "loading" }, "loading…"));
      try {
        body.replaceChildren(lines(await api.get("/v1/files/diff/text", { new: newTarget, old: old ?? undefined, path: c.path }, signal)));
      } catch (e) {
        if (e.name !== "AbortError") body.replaceChildren(errorBox(e));
      }
    };
    const size = c.change === "deleted" ? bytes(c.old.size_bytes) : c.change === "added" ? bytes(c.new.size_bytes) : `${bytes(c.old.size_bytes)} → ${bytes(c.new.size_bytes)}`;
    list.append(
      h(
        "section",
        { class: `change ${c.change}`, testid: `diff-row-${c.path}`, "data-change": c.change },
        h("h3", {}, h("span", { class: `badge change-${c.change}` }, c.change), " ", c.change === "deleted" ? h("code", {}, c.path) : link(route(`/repos/${enc(name)}/commit/${newer.id}`, { path: c.path }), h("code", {}, c.path)), h("span", { class: "muted" }, ` ${size}`), i >= INLINE ? [" ", h("button", { onclick: load }, "show diff")] : null),
        body,
      ),
    );
    if (i < INLINE) load();
  });
}
