// Graphs laid out by dagre and drawn as SVG: the DAG and the lineage pages.

import dagre from "../vendor/dagre.esm.js";
import { s } from "./dom.js";

const LINE = 16; // px per label line
const CHAR = 7.4; // px per character of the monospace label font
const PAD = 12;

/**
 * nodes: [{id, lines: [text...], kind, state, testid, href, title, attrs}]
 * edges: [{from, to, label}]
 * Returns an <svg> element; a click on a node calls onSelect(node).
 */
export function drawGraph(nodes, edges, { rankdir = "LR", onSelect } = {}) {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir, nodesep: 22, ranksep: 60, edgesep: 12, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of nodes) {
    const longest = Math.max(...node.lines.map((l) => l.length), 4);
    g.setNode(node.id, { width: Math.ceil(longest * CHAR) + 2 * PAD, height: node.lines.length * LINE + 2 * PAD - 4 });
  }
  for (const edge of edges) {
    const label = edge.label ?? "";
    g.setEdge(edge.from, edge.to, label ? { label, width: label.length * 6.4, height: 12, labelpos: "c" } : {});
  }
  dagre.layout(g);
  const { width, height } = g.graph();

  const svg = s("svg", { class: "graph", width: Math.ceil(width), height: Math.ceil(height), viewBox: `0 0 ${Math.ceil(width)} ${Math.ceil(height)}` });
  svg.append(
    s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" }))),
  );
  for (const edge of g.edges()) {
    const e = g.edge(edge);
    const d = e.points.map((p, i) => `${i ? "L" : "M"} ${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(" ");
    svg.append(s("path", { class: "edge", d, "marker-end": "url(#arrow)" }));
    if (e.label) svg.append(s("text", { class: "edge-label", x: e.x, y: e.y + 4, "text-anchor": "middle" }, e.label));
  }
  for (const node of nodes) {
    const box = g.node(node.id);
    const x = box.x - box.width / 2;
    const y = box.y - box.height / 2;
    const group = s(
      "g",
      {
        class: `node kind-${node.kind} state-${node.state ?? "none"}${node.extraClass ? " " + node.extraClass : ""}`,
        transform: `translate(${x.toFixed(1)},${y.toFixed(1)})`,
        testid: node.testid,
        "data-kind": node.kind,
        "data-state": node.state ?? "none",
        tabindex: 0,
        role: "button",
        ...(node.attrs ?? {}),
      },
      s("title", {}, node.title ?? node.lines.join("\n")),
      s("rect", { width: box.width, height: box.height, rx: node.kind === "op" ? box.height / 2 : 6 }),
      node.lines.map((line, i) => s("text", { x: PAD, y: PAD + 10 + i * LINE, class: i ? "sub" : "main" }, line)),
    );
    const select = () => onSelect?.(node, group);
    group.addEventListener("click", select);
    group.addEventListener("keydown", (e) => (e.key === "Enter" ? select() : null));
    svg.append(group);
  }
  return svg;
}
