// The console's shell: hash routes to pages, the login form, the header.

import * as api from "./api.js";
import { errorBox, h } from "./dom.js";
import dag from "./pages/dag.js";
import diff from "./pages/diff.js";
import { job, jobs } from "./pages/jobs.js";
import lineage from "./pages/lineage.js";
import { pipeline, pipelines } from "./pages/pipelines.js";
import { commit, repo, repos } from "./pages/data.js";

const ROUTES = [
  [/^\/?$/, dag, "dag"],
  [/^\/jobs$/, jobs, "jobs"],
  [/^\/jobs\/([^/]+)\/([^/]+)$/, job, "jobs"],
  [/^\/repos$/, repos, "repos"],
  [/^\/repos\/([^/]+)$/, repo, "repos"],
  [/^\/repos\/([^/]+)\/commit\/([^/]+)$/, commit, "repos"],
  [/^\/repos\/([^/]+)\/diff\/([^/]+)$/, diff, "repos"],
  [/^\/lineage\/(.+)$/, lineage, "repos"],
  [/^\/pipelines$/, pipelines, "pipelines"],
  [/^\/pipelines\/([^/]+)$/, pipeline, "pipelines"],
];

const main = document.getElementById("main");
let current = null; // the AbortController of the page on screen

function parse(hash) {
  const text = hash.replace(/^#/, "") || "/";
  const at = text.indexOf("?");
  const path = at === -1 ? text : text.slice(0, at);
  const query = Object.fromEntries(new URLSearchParams(at === -1 ? "" : text.slice(at + 1)));
  return { path, query };
}

async function show() {
  current?.abort();
  const controller = new AbortController();
  current = controller;
  const { path, query } = parse(location.hash);
  const found = ROUTES.map(([re, page, nav]) => [path.match(re), page, nav]).find(([m]) => m);
  for (const a of document.querySelectorAll("[data-nav]")) a.classList.toggle("active", a.dataset.nav === found?.[2]);
  if (!found) {
    main.replaceChildren(errorBox(`there is no page at ${path}: pick one in the menu above`));
    return;
  }
  const [match, page] = found;
  let params;
  try {
    params = match.slice(1).map(decodeURIComponent);
  } catch {
    main.replaceChildren(errorBox(`the address ${path} is not valid`));
    return;
  }
  main.replaceChildren(h("p", { class: "loading" }, "loading…"));
  try {
    await page({ main, params, query, signal: controller.signal });
  } catch (e) {
    if (e.name === "AbortError" || controller.signal.aborted) return;
    if (e.status === 401) return; // the login form is showing
    main.replaceChildren(errorBox(e));
  }
}

function showLogin(message = "") {
  current?.abort();
  if (main.querySelector("[data-testid=login-form]")) return;
  const input = h("input", { type: "password", name: "token", autocomplete: "current-password", required: true, testid: "login-token", placeholder: "API token" });
  const problem = h("p", { class: "error", testid: "login-error", hidden: !message }, message);
  const form = h(
    "form",
    { class: "login", testid: "login-form" },
    h("h2", {}, "Sign in"),
    h("p", {}, "This raypachy API needs its token. ", h("code", {}, "raypachy console"), " says where to find it. It is kept in this browser tab only."),
    input,
    h("button", { type: "submit", testid: "login-submit" }, "Sign in"),
    problem,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    api.token.set(input.value.trim());
    try {
      await api.check();
    } catch (e) {
      api.token.clear();
      problem.textContent = e.status === 401 ? "that token is not the API's token" : e.message;
      problem.hidden = false;
      main.replaceChildren(form);
      return;
    }
    document.getElementById("logout").hidden = false;
    main.replaceChildren();
    show();
  });
  main.replaceChildren(form);
  input.focus();
}

api.onUnauthenticated(() => {
  api.token.clear();
  document.getElementById("logout").hidden = true;
  showLogin();
});

document.getElementById("logout").addEventListener("click", () => {
  api.token.clear();
  document.getElementById("logout").hidden = true;
  showLogin();
});
document.getElementById("logout").hidden = !api.token.get();

window.addEventListener("hashchange", show);
show();
