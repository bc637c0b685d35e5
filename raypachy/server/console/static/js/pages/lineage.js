// Lineage: where a commit or a file came from (up to the raw data and the pipeline versions
// that made it) and what it fed downstream, as one graph.

import * as api from "../api.js";
import { enc, h, link, route, short } from "../dom.js";
import { drawGraph } from "../graph.js";

export default async function lineage({ main, params: [target], signal }) {
  const data = await api.get("/v1/lineage", { target }, signal);
  const nodes = new Map();
  const edges = new Map();
  const edge = (from, to, label = "") => edges.set(`${from}>${to}`, { from, to, label });

  const commitNode = (c) => {
    const id = `c:${c.repo}@${c.id}`;
    let node = nodes.get(id);
    if (!node) {
      node = { id, kind: "commit", repo: c.repo, commit: c.id, paths: new Set(), state: c.origin === "user" ? "raw" : "derived", testid: `lineage-node-${c.repo}@${c.id}` };
      nodes.set(id, node);
    }
    if (c.path) node.paths.add(c.path);
    return id;
  };
  const pipelineNode = (p) => {
    const id = `p:${p.name}@${p.version}`;
    if (!nodes.has(id)) nodes.set(id, { id, kind: "pipeline", name: p.name, version: p.version, code: p.code, job: p.job, state: p.state ?? "version", testid: `lineage-pipeline-${p.name}@${p.version}` });
    return id;
  };

  const up = (n) => {
    const here = commitNode(n);
    if (!n.pipeline) return here;
    const made = pipelineNode(n.pipeline);
    edge(made, here);
    for (const i of n.inputs ?? []) edge(up(i), made, i.glob_match ?? "");
    return here;
  };
  const down = (from, list) => {
    for (const n of list) {
      const here = commitNode(n);
      if (n.pipeline) {
        const made = pipelineNode(n.pipeline);
        edge(from, made);
        edge(made, here);
      } else edge(from, here);
      down(here, n.downstream ?? []);
    }
  };
  const root = up(data.upstream);
  down(root, data.downstream);

  const drawn = [...nodes.values()].map((n) => {
    if (n.kind === "pipeline") {
      return { ...n, lines: [`${n.name}`, `version ${short(n.version)}`, n.code ? `${n.code}`.slice(0, 48) : ""].filter(Boolean), title: `pipeline ${n.name} version ${n.version}` };
    }
    const lines = [`${n.repo}@${short(n.commit)}`, ...[...n.paths].sort().slice(0, 4), n.state === "raw" ? "raw data (user commit)" : ""].filter(Boolean);
    return { ...n, lines, extraClass: n.id === root ? "target" : "", title: `${n.repo}@${n.commit}` };
  });
  const svg = drawGraph(drawn, [...edges.values()], {
    onSelect: (n) => {
      if (n.kind === "pipeline") location.hash = route(`/pipelines/${enc(n.name)}`, { version: n.version });
      else location.hash = route(`/repos/${enc(n.repo)}/commit/${n.commit}`, { path: n.paths.size === 1 ? [...n.paths][0] : undefined });
    },
  });
  const what = data.path ? `${data.commit.repo}@${short(data.commit.id)}:${data.path}` : `${data.commit.repo}@${short(data.commit.id)}`;
  main.replaceChildren(
    h("h1", {}, "Lineage of ", h("code", {}, what)),
    h("p", { class: "hint" }, "Left: the raw data and the pipeline versions that made it. Right: what it fed. Click a node to open it. ", link(route(`/repos/${enc(data.commit.repo)}/commit/${data.commit.id}`, { path: data.path }), "open the target")),
    h("div", { class: "canvas", testid: "lineage" }, svg),
  );
}
