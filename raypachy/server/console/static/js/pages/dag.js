// The DAG: every repo and pipeline, laid out by dagre, pipelines coloured by their last job.

import * as api from "../api.js";
import { bytes, enc, facts, h, link, route, short, when } from "../dom.js";
import { drawGraph } from "../graph.js";

const COMBINATORS = ["cross", "union", "join", "group"];

/** The nodes and edges of one pipeline's input tree; returns what feeds the pipeline. */
function inputs(pipeline, input, nodes, edges, at = "input") {
  if (input.pfs) return { id: `repo:${input.pfs.repo}`, label: input.pfs.glob ?? "/" };
  if (input.cron) return { id: `repo:${input.cron.repo || `${pipeline}_${input.cron.name}`}`, label: `cron ${input.cron.spec}` };
  const kind = COMBINATORS.find((k) => input[k]);
  const id = `op:${pipeline}:${at}`;
  nodes.push({ id, kind: "op", state: kind, lines: [kind], testid: `dag-op-${pipeline}-${at}`, title: `${kind} of ${input[kind].length} inputs of ${pipeline}` });
  input[kind].forEach((child, i) => {
    const from = inputs(pipeline, child, nodes, edges, `${at}.${kind}.${i}`);
    edges.push({ from: from.id, to: id, label: from.label });
  });
  return { id, label: "" };
}

function repoLines(repo, head) {
  return [repo.name, head ? `head ${short(head)}` : "no commits", bytes(repo.size_bytes)];
}

function pipelineLines(p, state) {
  return [p.name, p.state === "stopped" ? "stopped" : `last job: ${state ?? "none"}`, `version ${short(p.version)}`];
}

async function heads(repos, signal) {
  const branches = await Promise.all(repos.map((r) => api.get(`/v1/repos/${enc(r.name)}/branches`, null, signal)));
  return Object.fromEntries(repos.map((r, i) => [r.name, branches[i].find((b) => b.name === "master")?.head ?? branches[i][0]?.head ?? null]));
}

export default async function dag({ main, signal }) {
  const [repos, pipelines] = await Promise.all([api.get("/v1/repos", null, signal), api.get("/v1/pipelines", null, signal)]);
  const head = await heads(repos, signal);
  if (!repos.length) {
    main.replaceChildren(h("h1", {}, "DAG"), h("p", { class: "empty", testid: "dag-empty" }, "No repos yet: ", h("code", {}, "raypachy create repo NAME"), " makes one."));
    return;
  }
  const nodes = [];
  const edges = [];
  const known = new Set(repos.map((r) => r.name));
  for (const r of repos) nodes.push({ id: `repo:${r.name}`, kind: "repo", state: head[r.name] ? "ready" : "empty", lines: repoLines(r, head[r.name]), testid: `dag-node-${r.name}`, data: r });
  for (const p of pipelines) {
    nodes.push({ id: `pipeline:${p.name}`, kind: "pipeline", state: p.last_job_state ?? "none", extraClass: p.state === "stopped" ? "stopped" : "", lines: pipelineLines(p, p.last_job_state), testid: `dag-node-${p.name}`, data: p });
    const top = inputs(p.name, p.spec.input, nodes, edges);
    edges.push({ from: top.id, to: `pipeline:${p.name}`, label: top.label });
    edges.push({ from: `pipeline:${p.name}`, to: `repo:${p.output_repo}` });
    for (const name of p.inputs) {
      if (!known.has(name)) {
        known.add(name);
        nodes.push({ id: `repo:${name}`, kind: "repo", state: "missing", lines: [name, "missing"], testid: `dag-node-${name}` });
      }
    }
  }

  const details = h("aside", { class: "details", testid: "dag-details" }, h("p", { class: "empty" }, "Click a repo or a pipeline for its details."));
  const svg = drawGraph(nodes, edges, { onSelect: (node, group) => details.replaceChildren(...describe(node, head, group)) });
  main.replaceChildren(
    h("h1", {}, "DAG"),
    h("p", { class: "hint" }, "Inputs flow left to right; each pipeline is coloured by its last job, live."),
    h("div", { class: "dag" }, h("div", { class: "canvas", testid: "dag" }, svg), details),
  );

  // Live: pipelines take the state of their newest job; repos their new heads.
  const newest = Object.fromEntries(pipelines.map((p) => [p.name, { id: p.last_job, created: "" }]));
  let refresh = null;
  const onJob = (j) => {
    const seen = newest[j.pipeline];
    if (seen && seen.id !== j.id && seen.created && j.created < seen.created) return;
    newest[j.pipeline] = { id: j.id, created: j.created };
    const node = svg.querySelector(`[data-kind=pipeline][data-testid="dag-node-${CSS.escape(j.pipeline)}"]`);
    const p = pipelines.find((x) => x.name === j.pipeline);
    if (!node || !p) return;
    node.dataset.state = j.state;
    node.setAttribute("class", node.getAttribute("class").replace(/state-\S+/, `state-${j.state}`));
    node.querySelectorAll("text")[1].textContent = pipelineLines(p, j.state)[1];
    clearTimeout(refresh);
    refresh = setTimeout(() => updateRepos(svg, head, signal).catch(() => {}), 300);
  };
  api.follow("/v1/events/jobs", { limit: 50 }, { snapshot: (d) => [...d.jobs].reverse().forEach(onJob), job: onJob }, signal);
}

async function updateRepos(svg, head, signal) {
  const repos = await api.get("/v1/repos", null, signal);
  Object.assign(head, await heads(repos, signal));
  for (const r of repos) {
    const node = svg.querySelector(`[data-kind=repo][data-testid="dag-node-${CSS.escape(r.name)}"]`);
    if (!node) continue;
    const lines = repoLines(r, head[r.name]);
    node.querySelectorAll("text").forEach((t, i) => (t.textContent = lines[i] ?? ""));
    node.dataset.state = head[r.name] ? "ready" : "empty";
  }
}

function describe(node, head, group) {
  if (node.kind === "repo" && node.data) {
    const r = node.data;
    const at = head[r.name];
    return [
      h("h2", {}, "repo ", r.name),
      facts([["head", at ? link(route(`/repos/${enc(r.name)}/commit/${at}`), short(at)) : "no commits"], ["size", bytes(r.size_bytes)], ["created", when(r.created)], ["description", r.description]]),
      h("p", {}, link(route(`/repos/${enc(r.name)}`), "branches and commits"), " · ", at ? link(route(`/repos/${enc(r.name)}/commit/master`), "files") : "", at ? [" · ", link(route(`/lineage/${enc(`${r.name}@${at}`)}`), "lineage")] : ""),
    ];
  }
  if (node.kind === "pipeline") {
    const p = node.data;
    return [
      h("h2", {}, "pipeline ", p.name),
      facts([["state", p.state], ["last job", p.last_job ? link(route(`/jobs/${enc(p.name)}/${p.last_job}`), `${short(p.last_job)} (${group.dataset.state})`) : "none"], ["runs", p.transform], ["inputs", p.inputs.join(", ")], ["version", p.version], ["description", p.description]]),
      h("p", {}, link(route(`/pipelines/${enc(p.name)}`), "spec, versions, Ray options"), " · ", link(route("/jobs", { pipeline: p.name }), "jobs"), " · ", link(route(`/repos/${enc(p.output_repo)}`), "output repo")),
    ];
  }
  return [h("h2", {}, node.lines[0]), h("p", {}, node.title ?? "")];
}
