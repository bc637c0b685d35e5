// Data: repos, a repo's branches and commits, and a commit's files with previews.

import * as api from "../api.js";
import { badge, bytes, enc, errorBox, facts, fill, h, link, route, short, table, when } from "../dom.js";

const LISTING = 500; // directory entries per page
const HISTORY = 200; // commits per page

export async function repos({ main, signal }) {
  const all = await api.get("/v1/repos", null, signal);
  main.replaceChildren(
    h("h1", {}, "Repos"),
    table(
      [
        ["repo", (r) => link(route(`/repos/${enc(r.name)}`), r.name)],
        ["size", (r) => bytes(r.size_bytes)],
        ["created", (r) => when(r.created)],
        ["description", (r) => r.description],
      ],
      all,
      (r) => ({ testid: `repo-row-${r.name}` }),
      "No repos yet.",
    ),
  );
}

function commitLink(repo, id, text = short(id)) {
  return link(route(`/repos/${enc(repo)}/commit/${id}`), h("code", {}, text));
}

/** A repo: its branches and the commit history of one of them. */
export async function repo({ main, params: [name], query, signal }) {
  const [info, branches] = await Promise.all([api.get(`/v1/repos/${enc(name)}`, null, signal), api.get(`/v1/repos/${enc(name)}/branches`, null, signal)]);
  const branch = query.branch ?? (branches.some((b) => b.name === "master") ? "master" : branches[0]?.name);
  const history = branch ? await api.page("/v1/commits", { repo: name, branch, limit: HISTORY, start_after: query.after }, signal) : { items: [], next: null };
  const commits = history.items;
  main.replaceChildren(
    h("h1", {}, "Repo ", name),
    facts([["size", bytes(info.size_bytes)], ["created", when(info.created)], ["description", info.description]]),
    h("h2", {}, "Branches"),
    table(
      [
        ["branch", (b) => link(route(`/repos/${enc(name)}`, { branch: b.name }), b.name, b.name === branch ? { class: "active" } : {})],
        ["head", (b) => (b.head ? commitLink(name, b.head) : "no commits")],
        ["", (b) => (b.head ? link(route(`/repos/${enc(name)}/commit/${enc(b.name)}`), "files") : "")],
      ],
      branches,
      (b) => ({ testid: `branch-row-${b.name}` }),
      "No branches: put a file to make master.",
    ),
    h("h2", {}, "Commits of ", branch ?? "—"),
    table(
      [
        ["commit", (c) => commitLink(name, c.id)],
        ["started", (c) => when(c.started)],
        ["by", (c) => (c.origin === "auto" ? link(route(`/jobs/${enc(name)}/${c.id}`), "pipeline job") : "user")],
        ["files", (c) => c.file_count ?? ""],
        ["size", (c) => bytes(c.size_bytes)],
        ["state", (c) => (c.error ? badge("failure") : c.finished ? "finished" : badge("running"))],
        ["description", (c) => c.error || c.description],
        ["", (c) => [link(route(`/repos/${enc(name)}/diff/${c.id}`), "diff"), " · ", link(route(`/lineage/${enc(`${name}@${c.id}`)}`), "lineage")]],
      ],
      commits,
      (c) => ({ testid: `commit-row-${c.id}` }),
      "No commits yet.",
    ),
    history.next ? h("p", {}, link(route(`/repos/${enc(name)}`, { branch, after: history.next }), "older commits")) : null,
  );
}

function crumbs(repo, ref, path) {
  const parts = path.split("/").filter(Boolean);
  const out = [link(route(`/repos/${enc(repo)}/commit/${enc(ref)}`), `${repo}@${short(ref)}`), " : /"];
  parts.forEach((p, i) => {
    const at = "/" + parts.slice(0, i + 1).join("/") + (i < parts.length - 1 ? "/" : "");
    out.push(link(route(`/repos/${enc(repo)}/commit/${enc(ref)}`, { path: at }), p), i < parts.length - 1 ? "/" : "");
  });
  return h("p", { class: "crumbs", testid: "crumbs" }, out);
}

function writerCell(repo, w) {
  if (!w) return h("span", { class: "muted" }, "…");
  if (!w.commit) return h("span", { class: "muted", title: "written more than 64 commits ago" }, "earlier");
  return [
    commitLink(repo, w.commit),
    w.job ? [" · job ", link(route(`/jobs/${enc(w.job.pipeline)}/${w.job.id}`), short(w.job.id))] : w.origin === "user" ? " · user" : "",
    w.datum && w.job ? [" · datum ", link(route(`/jobs/${enc(w.job.pipeline)}/${w.job.id}`, { datum: w.datum.id }), h("code", {}, short(w.datum.id)))] : "",
  ];
}

/** A commit: its facts and its file tree at `path`; a file gets a preview and a download. */
export async function commit({ main, params: [name, ref], query, signal }) {
  const path = query.path || "/";
  const target = `${name}@${ref}`;
  const info = await api.get("/v1/commit", { target }, signal);
  const at = `${name}@${info.id}`;
  const file = await api.get("/v1/files/inspect", { target: at, path }, signal);
  const head = [
    h("h1", {}, "Commit ", h("code", {}, `${name}@${info.id}`)),
    facts([
      ["branch", info.branch],
      ["parent", info.parent ? commitLink(name, info.parent) : "none"],
      ["by", info.origin === "auto" ? link(route(`/jobs/${enc(name)}/${info.id}`), "pipeline job") : "user"],
      ["started", when(info.started)],
      ["finished", info.finished ? when(info.finished) : "open"],
      ["size", bytes(info.size_bytes)],
      ["error", info.error],
      ["provenance", info.provenance.map((p) => [commitLink(p.repo, p.id, `${p.repo}@${short(p.id)}`), " "])],
    ]),
    h("p", { class: "actions" }, link(route(`/repos/${enc(name)}/diff/${info.id}`), "diff against its parent"), " · ", link(route(`/lineage/${enc(at)}`), "lineage"), " · ", link(route(`/repos/${enc(name)}`), "history")),
    crumbs(name, info.id, path),
  ];
  if (file.type === "file") {
    main.replaceChildren(...head, await filePanel(name, at, file, signal));
    return;
  }
  const listing = await api.page("/v1/files", { target: at, path, limit: LISTING, start_after: query.after }, signal);
  const entries = listing.items;
  const writers = {};
  const rows = table(
    [
      ["name", (f) => link(route(`/repos/${enc(name)}/commit/${info.id}`, { path: f.path }), f.path.slice(file.path.length) || f.path)],
      ["type", (f) => f.type],
      ["size", (f) => bytes(f.size_bytes)],
      ["written by", (f) => h("span", { class: "writer", "data-path": f.path }, writerCell(name, writers[f.path]))],
    ],
    entries,
    (f) => ({ testid: `file-row-${f.path}`, "data-type": f.type }),
    "This directory is empty.",
  );
  const more = listing.next ? h("p", {}, link(route(`/repos/${enc(name)}/commit/${info.id}`, { path, after: listing.next }), "next entries")) : "";
  main.replaceChildren(...head, rows, more);
  // Who wrote each entry takes a walk back through the history: fill it in when it comes.
  try {
    for (const w of await api.get("/v1/files/writers", { target: at, path, limit: LISTING, start_after: query.after }, signal)) writers[w.path] = w;
  } catch (e) {
    if (e.name !== "AbortError") main.append(errorBox(e));
    return;
  }
  for (const cell of rows.querySelectorAll?.(".writer") ?? []) fill(cell, writerCell(name, writers[cell.dataset.path]));
}

async function filePanel(name, at, file, signal) {
  const base = file.path.split("/").pop();
  const [preview, writers] = await Promise.all([
    api.get("/v1/files/preview", { target: at, path: file.path }, signal),
    api.get("/v1/files/writers", { target: at, path: file.path }, signal).catch(() => []),
  ]);
  const problem = h("div", {});
  const save = async () => {
    try {
      await api.download("/v1/files/content", { target: at, path: file.path }, base);
    } catch (e) {
      problem.replaceChildren(errorBox(e));
    }
  };
  const body = h("div", { class: "preview", testid: "preview", "data-kind": preview.kind });
  if (preview.kind === "table") {
    fill(
      body,
      h("table", { testid: "preview-table" }, h("thead", {}, h("tr", {}, preview.columns.map((c) => h("th", {}, c)))), h("tbody", {}, preview.rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c)))))),
      preview.more_rows ? h("p", { class: "muted" }, `first ${preview.rows.length} rows`, preview.total_rows ? ` of ${preview.total_rows}` : "") : null,
    );
  } else if (preview.kind === "text") {
    fill(body, h("pre", { testid: "preview-text" }, preview.text), preview.truncated ? h("p", { class: "muted" }, "the first part of the file") : null);
  } else if (preview.kind === "image") {
    const img = h("img", { alt: file.path, testid: "preview-image" });
    body.append(img);
    api.blob("/v1/files/content", { target: at, path: file.path }).then((b) => (img.src = URL.createObjectURL(b)), (e) => body.append(errorBox(e)));
  } else {
    body.append(h("p", { class: "empty" }, preview.reason));
  }
  const w = writers[0];
  return h(
    "div",
    {},
    facts([["size", bytes(file.size_bytes)], ["hash", h("code", {}, file.hash)], ["written by", w ? writerCell(name, w) : ""]]),
    h("p", { class: "actions" }, h("button", { onclick: save, testid: "download" }, "Download ", base), " ", link(route(`/lineage/${enc(`${at}:${file.path}`)}`), "lineage of this file")),
    problem,
    body,
  );
}
