// Pipelines: the list, and one pipeline with its spec, versions, Ray options and jobs.

import * as api from "../api.js";
import { badge, enc, errorBox, facts, h, link, progress, route, short, table, when } from "../dom.js";

export async function pipelines({ main, signal }) {
  const all = await api.get("/v1/pipelines", null, signal);
  main.replaceChildren(
    h("h1", {}, "Pipelines"),
    table(
      [
        ["pipeline", (p) => link(route(`/pipelines/${enc(p.name)}`), p.name)],
        ["state", (p) => p.state],
        ["last job", (p) => (p.last_job ? link(route(`/jobs/${enc(p.name)}/${p.last_job}`), badge(p.last_job_state)) : "none")],
        ["inputs", (p) => p.inputs.join(", ")],
        ["runs", (p) => h("code", {}, p.transform)],
        ["version", (p) => h("code", {}, short(p.version))],
      ],
      all,
      (p) => ({ testid: `pipeline-row-${p.name}`, "data-state": p.state }),
      "No pipelines yet: raypachy create pipeline -f spec.json (or --python file.py).",
    ),
  );
}

/** Every leaf of a JSON value as "a.b[0].c" -> value, to say what changed between specs. */
function flatten(value, at = "", out = {}) {
  if (value && typeof value === "object") {
    const entries = Array.isArray(value) ? value.map((v, i) => [`[${i}]`, v]) : Object.entries(value).map(([k, v]) => [at ? `.${k}` : k, v]);
    if (!entries.length) out[at] = JSON.stringify(value);
    for (const [k, v] of entries) flatten(v, at + k, out);
  } else out[at] = JSON.stringify(value);
  return out;
}

export function specChanges(before, after) {
  const a = flatten(before);
  const b = flatten(after);
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.filter((k) => a[k] !== b[k]).map((k) => (k in a ? (k in b ? `${k}: ${a[k]} → ${b[k]}` : `${k} removed`) : `${k}: ${b[k]} added`));
}

export async function pipeline({ main, params: [name], query, signal }) {
  const [info, versions, jobs] = await Promise.all([
    api.get(`/v1/pipelines/${enc(name)}`, null, signal),
    api.get(`/v1/pipelines/${enc(name)}/versions`, null, signal),
    api.get("/v1/jobs", { pipeline: name, limit: 20 }, signal),
  ]);
  const shown = versions.find((v) => v.version === query.version) ?? versions.find((v) => v.current) ?? versions.at(-1);
  const notice = h("div", {});
  const toggle = async () => {
    try {
      await api.post(`/v1/pipelines/${enc(name)}/${info.state === "running" ? "stop" : "start"}`);
      location.hash = route(`/pipelines/${enc(name)}`, { version: query.version, t: Date.now() });
    } catch (e) {
      notice.replaceChildren(errorBox(e));
    }
  };
  let format = query.format === "yaml" ? "yaml" : "json";
  const spec = h("pre", { class: "spec", testid: "pipeline-spec", "data-format": format });
  const paint = () => {
    spec.dataset.format = format;
    spec.textContent = format === "yaml" ? shown.yaml : JSON.stringify(shown.spec, null, 2);
  };
  paint();
  const formatButton = (f) => h("button", { type: "button", testid: `spec-${f}`, onclick: () => ((format = f), paint()) }, f.toUpperCase());

  const ray = info.ray_options && Object.keys(info.ray_options).length;
  main.replaceChildren(
    h("h1", {}, "Pipeline ", name, " ", h("span", { class: `badge run-${info.state}`, testid: "pipeline-state", "data-state": info.state }, info.state)),
    h("p", { class: "actions" }, h("button", { testid: "pipeline-toggle", onclick: toggle }, info.state === "running" ? "Stop pipeline" : "Start pipeline"), " ", link(route("/jobs", { pipeline: name }), "live jobs"), " · ", link(route(`/repos/${enc(info.output_repo)}`), "output repo")),
    notice,
    facts([
      ["description", info.description],
      ["runs", h("code", {}, info.transform)],
      ["inputs", info.inputs.map((r) => [link(route(`/repos/${enc(r)}`), r), " "])],
      ["version", h("code", {}, info.version)],
      ["created", when(info.created)],
      ["updated", when(info.updated)],
      ["last job", info.last_job ? [link(route(`/jobs/${enc(name)}/${info.last_job}`), short(info.last_job)), " ", badge(info.last_job_state)] : "none"],
    ]),
    h("h2", {}, "On Ray"),
    h(
      "div",
      { testid: "ray-options" },
      ray ? h("pre", { class: "spec" }, JSON.stringify(info.ray_options, null, 2)) : h("p", { class: "muted" }, "The Ray options of its datum tasks are known when it is served on a Ray cluster."),
      facts([
        ["can run on", info.can_run_on?.length ? info.can_run_on.join(", ") : ray ? "no node or node type" : ""],
        ["placement", info.placement ? h("span", { class: "error" }, info.placement) : ""],
        ["resources", Object.keys(info.resources).length ? JSON.stringify(info.resources) : ""],
      ]),
    ),
    h("h2", {}, "Spec of version ", h("code", {}, short(shown.version)), shown.current ? " (current)" : ""),
    h("p", {}, formatButton("json"), " ", formatButton("yaml")),
    spec,
    h("h2", {}, "Versions"),
    table(
      [
        ["version", (v) => link(route(`/pipelines/${enc(name)}`, { version: v.version }), h("code", {}, short(v.version)))],
        ["created", (v) => when(v.created)],
        ["jobs", (v) => v.jobs],
        ["", (v) => (v.current ? "current" : "")],
        ["what changed", (v, i = versions.indexOf(v)) => (i ? h("ul", { class: "changes" }, specChanges(versions[i - 1].spec, v.spec).map((c) => h("li", {}, c))) : "first version")],
      ],
      versions,
      (v) => ({ testid: `version-row-${v.version}`, class: v.version === shown.version ? "selected" : "" }),
    ),
    h("h2", {}, "Recent jobs"),
    table(
      [
        ["job", (j) => link(route(`/jobs/${enc(name)}/${j.id}`), h("code", {}, short(j.id)))],
        ["state", (j) => badge(j.state)],
        ["datums", (j) => progress(j.datums)],
        ["version", (j) => h("code", {}, short(j.version))],
        ["created", (j) => when(j.created)],
      ],
      jobs,
      (j) => ({ testid: `pipeline-job-${j.id}` }),
    ),
  );
}
