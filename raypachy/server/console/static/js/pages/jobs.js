// Jobs: the live list grouped by global id, and one job with its datums and their logs.

import * as api from "../api.js";
import { badge, enc, errorBox, facts, fill, h, link, progress, route, seconds, short, table, took, when } from "../dom.js";

const DATUMS = 1000; // datums a job page shows (the progress route's default)
const ENDED = new Set(["success", "failure", "killed", "unrunnable"]);
const key = (j) => `${j.pipeline}@${j.id}`;

function jobRow(j) {
  return h(
    "tr",
    { testid: `job-row-${key(j)}`, "data-state": j.state, class: `state-${j.state}` },
    h("td", {}, link(route(`/jobs/${enc(j.pipeline)}/${j.id}`), j.pipeline)),
    h("td", {}, badge(j.state)),
    h("td", { class: "wide" }, progress(j.datums)),
    h("td", {}, when(j.created)),
    h("td", {}, took(j.started, j.finished)),
    h("td", { class: "reason" }, j.reason),
  );
}

/** The live list: one group per global id (a user's change and every job it caused). */
export async function jobs({ main, query, signal }) {
  const all = new Map();
  const list = h("div", { testid: "job-groups" }, h("p", { class: "loading" }, "waiting for the job feed…"));
  main.replaceChildren(
    h("h1", {}, "Jobs", query.pipeline ? ` of ${query.pipeline}` : ""),
    h("p", { class: "hint" }, "Live: one group per global id (a change and every job downstream of it). ", query.pipeline ? link(route("/jobs"), "all pipelines") : ""),
    list,
  );
  let pending = false;
  const render = () => {
    pending = false;
    const groups = new Map();
    for (const j of [...all.values()].sort((a, b) => (a.created < b.created ? 1 : -1))) {
      if (query.pipeline && j.pipeline !== query.pipeline) continue;
      if (!groups.has(j.id)) groups.set(j.id, []);
      groups.get(j.id).push(j);
    }
    if (!groups.size) {
      list.replaceChildren(h("p", { class: "empty" }, "No jobs yet: a pipeline runs a job when data lands in its inputs."));
      return;
    }
    list.replaceChildren(
      ...[...groups].map(([id, members]) => {
        const states = members.map((j) => j.state);
        const overall = states.find((s) => !ENDED.has(s)) ?? states.find((s) => s !== "success") ?? "success";
        // In the order they ran: one global id's jobs are created together, started in turn.
        const order = (j) => [j.started ?? "~", j.created, j.pipeline].join(" ");
        members.sort((a, b) => (order(a) < order(b) ? -1 : 1));
        return h(
          "section",
          { class: "job-group", testid: `job-group-${id}`, "data-state": overall },
          h("h2", {}, badge(overall), " ", h("code", { title: id }, short(id)), h("span", { class: "muted" }, ` · ${members.length} job${members.length > 1 ? "s" : ""} · ${when(members[0].created)}`)),
          h("table", {}, h("thead", {}, h("tr", {}, ["pipeline", "state", "datums", "created", "took", "reason"].map((t) => h("th", {}, t)))), h("tbody", {}, members.map(jobRow))),
        );
      }),
    );
  };
  const schedule = () => {
    if (!pending) {
      pending = true;
      requestAnimationFrame(render);
    }
  };
  api.follow(
    "/v1/events/jobs",
    {},
    {
      snapshot: (d) => {
        all.clear();
        d.jobs.forEach((j) => all.set(key(j), j));
        schedule();
      },
      job: (j) => {
        all.set(key(j), j);
        schedule();
      },
    },
    signal,
  );
}

/** One job: its progress (live), its datums, a datum's log, restart a datum, stop the job. */
export async function job({ main, params: [pipeline, id], query, signal }) {
  const first = await api.get(`/v1/jobs/${enc(pipeline)}/${enc(id)}/progress`, null, signal);
  const header = h("div", {});
  const datums = h("div", { testid: "datums" });
  const logs = h("div", { class: "log-panel", testid: "datum-log-panel" });
  const notice = h("div", {});
  let open = null; // the datum whose log is showing
  let current = first;

  const showLog = async (d) => {
    open = d.id;
    for (const row of datums.querySelectorAll("tr[data-state]")) row.classList.toggle("selected", row.dataset.testid === `datum-row-${d.id}`);
    logs.replaceChildren(h("h3", {}, "Log of datum ", h("code", {}, short(d.id))), h("p", { class: "loading" }, "loading…"));
    try {
      const out = await api.get("/v1/logs/datum", { pipeline, job: id, datum: d.id }, signal);
      if (open !== d.id) return;
      fill(
        logs,
        h("h3", {}, "Log of datum ", h("code", {}, d.id)),
        d.error ? h("p", { class: "error" }, d.error) : null,
        out.found ? h("pre", { class: "log", testid: "datum-log" }, out.log || "(empty)") : h("p", { class: "empty", testid: "datum-log" }, "This datum wrote nothing to its log."),
      );
    } catch (e) {
      if (e.name !== "AbortError") logs.replaceChildren(errorBox(e));
    }
  };

  const restart = async (d) => {
    try {
      const next = await api.post(`/v1/jobs/${enc(pipeline)}/${enc(id)}/datums/${enc(d.id)}/restart`);
      location.hash = route(`/jobs/${enc(pipeline)}/${next.id}`);
    } catch (e) {
      notice.replaceChildren(errorBox(e));
    }
  };

  const stop = async () => {
    try {
      await api.post(`/v1/jobs/${enc(pipeline)}/${enc(id)}/stop`);
      await reload();
    } catch (e) {
      notice.replaceChildren(errorBox(e));
    }
  };

  const paint = (p) => {
    const j = p.job;
    header.replaceChildren(
      h("h1", {}, "Job ", link(route(`/pipelines/${enc(j.pipeline)}`), j.pipeline), h("code", {}, `@${j.id}`), " ", badge(j.state, "job-state")),
      progress(j.datums),
      facts([
        ["created", when(j.created)],
        ["started", when(j.started)],
        ["finished", when(j.finished)],
        ["took", took(j.started, j.finished)],
        ["version", j.version],
        ["reason", j.reason],
        ["inputs", j.inputs.map((c) => [link(route(`/repos/${enc(c.repo)}/commit/${c.id}`), `${c.repo}@${short(c.id)}`), " "])],
        ["output", j.output_commit ? link(route(`/repos/${enc(j.output_commit.repo)}/commit/${j.output_commit.id}`), `${j.output_commit.repo}@${short(j.output_commit.id)}`) : ""],
      ]),
      h(
        "p",
        { class: "actions" },
        ENDED.has(j.state) ? null : h("button", { testid: "stop-job", onclick: stop }, "Stop job"),
        link(route("/jobs"), "all jobs"),
        j.output_commit && ENDED.has(j.state) ? [" · ", link(route(`/lineage/${enc(`${j.output_commit.repo}@${j.output_commit.id}`)}`), "lineage of the output")] : null,
        " · ",
        link(route(`/repos/${enc(j.pipeline)}/diff/${j.id}`), "what it changed"),
      ),
    );
    datums.replaceChildren(
      h("h2", {}, "Datums", p.final ? "" : " finished so far", p.datums.length < p.job.datums.total && p.datums.length >= DATUMS ? ` (the first ${DATUMS} of ${p.job.datums.total})` : ""),
      table(
        [
          ["datum", (d) => h("code", {}, short(d.id))],
          ["state", (d) => badge(d.state)],
          ["inputs", (d) => d.inputs.map((i) => h("div", {}, `${i.name}: `, link(route(`/repos/${enc(i.repo)}/commit/${i.commit}`, { path: i.path }), i.path)))],
          ["attempts", (d) => d.attempts],
          ["time", (d) => seconds(d.duration_s)],
          ["error", (d) => h("span", { class: "reason" }, d.error)],
          ["", (d) => [h("button", { onclick: () => showLog(d), testid: `datum-log-${d.id}` }, "log"), " ", p.final ? h("button", { onclick: () => restart(d), testid: `restart-${d.id}`, title: "run this job's inputs again: failed datums run, done ones are skipped" }, "restart") : null]],
        ],
        p.datums,
        (d) => ({ testid: `datum-row-${d.id}`, "data-state": d.state, class: `state-${d.state}${open === d.id ? " selected" : ""}` }),
        p.final ? "This job had no datums." : "No datum has finished yet.",
      ),
    );
  };

  const reload = async () => {
    current = await api.get(`/v1/jobs/${enc(pipeline)}/${enc(id)}/progress`, null, signal);
    paint(current);
    if (open) showLog(current.datums.find((d) => d.id === open) ?? { id: open });
  };

  paint(first);
  main.replaceChildren(header, notice, h("div", { class: "split" }, datums, logs));
  if (query.datum) showLog(first.datums.find((d) => d.id === query.datum) ?? { id: query.datum });

  // Follow a running job: its counts come with the feed; its datums and logs after each batch.
  let timer = null;
  const onJob = (j) => {
    if (j.pipeline !== pipeline || j.id !== id) return;
    const was = current.job;
    if (was.state === j.state && JSON.stringify(was.datums) === JSON.stringify(j.datums)) return;
    current = { ...current, job: j };
    paint(current);
    if (timer) return; // a reload is due already: it will show this too
    const wait = ENDED.has(j.state) ? 100 : 1000; // a busy job: its datums at most once a second
    timer = setTimeout(() => {
      timer = null;
      reload().catch((e) => e.name !== "AbortError" && notice.replaceChildren(errorBox(e)));
    }, wait);
  };
  api.follow("/v1/events/jobs", {}, { snapshot: (d) => d.jobs.forEach(onJob), job: onJob }, signal);
}
