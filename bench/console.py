"""Server time of the console's pages on the demo data: p50 of each page's API calls.

Builds what ``make demo`` builds (the iris DAG: three CSV parts, features -> train ->
predict, train updated to v2 with --reprocess) on a real local cluster, then makes each
page's API calls the way the page makes them (one after the other, on loopback) and reports
the p50 and p95 per page against the 300 ms target. ``--in-process`` serves the same data
from this process instead (no Ray: quicker, and the metadata calls skip the actor hop).
Last line: one JSON object. Run: ``python bench/console.py [--runs N] [--in-process]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "examples" / "iris"))

from bench._common import bench_dir, free_port, local_cluster, report  # noqa: E402

TARGET_MS = 300.0


def pages(api: httpx.Client) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Each page's calls (as the console's pages make them), on the demo's data."""
    repos = [r["name"] for r in api.get("/v1/repos").json()]
    iris = api.get("/v1/commit", params={"target": "iris@master"}).json()
    job = api.get("/v1/pipelines/features").json()["last_job"]
    datums = api.get(f"/v1/jobs/features/{job}/datums").json()
    raw = "/raw/iris-3.csv"
    return {
        "DAG": [("/v1/repos", {}), ("/v1/pipelines", {})]
        + [(f"/v1/repos/{r}/branches", {}) for r in repos],
        "jobs (first event)": [("/v1/events/jobs", {})],
        "job": [(f"/v1/jobs/features/{job}/progress", {}),
                ("/v1/logs/datum", {"pipeline": "features", "job": job, "datum": datums[0]["id"]})],
        "repo history": [("/v1/repos/iris", {}), ("/v1/repos/iris/branches", {}),
                         ("/v1/commits", {"repo": "iris", "branch": "master", "limit": 200})],
        "files (raw)": [("/v1/commit", {"target": "iris@master"}),
                        ("/v1/files/inspect", {"target": f"iris@{iris['id']}", "path": "/raw/"}),
                        ("/v1/files", {"target": f"iris@{iris['id']}", "path": "/raw/"}),
                        ("/v1/files/writers", {"target": f"iris@{iris['id']}", "path": "/raw/"})],
        "files (output)": [("/v1/commit", {"target": "predict@master"}),
                           ("/v1/files/inspect", {"target": "predict@master", "path": "/"}),
                           ("/v1/files", {"target": "predict@master", "path": "/"}),
                           ("/v1/files/writers", {"target": "predict@master", "path": "/"})],
        "CSV preview": [("/v1/commit", {"target": "iris@master"}),
                        ("/v1/files/inspect", {"target": "iris@master", "path": raw}),
                        ("/v1/files/preview", {"target": "iris@master", "path": raw}),
                        ("/v1/files/writers", {"target": "iris@master", "path": raw})],
        "diff": [("/v1/commit", {"target": "iris@master"}),
                 ("/v1/files/diff", {"new": "iris@master"}),
                 ("/v1/files/diff/text", {"new": "iris@master", "path": raw})],
        "lineage": [("/v1/lineage", {"target": "predict@master:/iris-3.csv"})],
        "pipeline": [("/v1/pipelines/train", {}), ("/v1/pipelines/train/versions", {}),
                     ("/v1/jobs", {"pipeline": "train"})],
    }  # fmt: skip


def call(api: httpx.Client, path: str, params: dict[str, Any]) -> float:
    start = time.perf_counter()
    if path == "/v1/events/jobs":  # a stream: the page is drawn at its first event
        with api.stream("GET", path, params=params) as r:
            r.raise_for_status()
            for line in r.iter_lines():
                if line.startswith("data:"):
                    break
    else:
        api.get(path, params=params).raise_for_status()
    return (time.perf_counter() - start) * 1000


def measure(url: str, runs: int) -> dict[str, dict[str, float]]:
    token = os.environ.get("RAYPACHY_TOKEN")
    if not token and os.environ.get("RAYPACHY_HOME"):  # the cluster `up` started: its home's
        from raypachy.secrets import read_local_token

        token = read_local_token(Path(os.environ["RAYPACHY_HOME"]))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as api:
        plan = pages(api)
        for calls in plan.values():  # warm up: the first read of a manifest opens it
            for path, params in calls:
                call(api, path, params)
        out = {}
        for page, calls in plan.items():
            totals, slowest = [], {}
            for _ in range(runs):
                times = [call(api, path, params) for path, params in calls]
                totals.append(sum(times))
                for (path, _), t in zip(calls, times, strict=True):
                    slowest.setdefault(path, []).append(t)
            totals.sort()
            worst = max(slowest, key=lambda p: statistics.median(slowest[p]))
            out[page] = {
                "calls": len(calls),
                "p50_ms": round(statistics.median(totals), 1),
                "p95_ms": round(totals[int(0.95 * (len(totals) - 1))], 1),
                "slowest_call": re.sub(r"[0-9a-f]{32}", "{id}", worst),
                "slowest_call_p50_ms": round(statistics.median(slowest[worst]), 1),
            }
    return out


def demo_on_cluster(home: Path) -> Iterator[str]:
    @contextlib.contextmanager
    def run() -> Iterator[str]:
        with local_cluster(home) as (env, url):
            saved = dict(os.environ)
            os.environ.update(env)
            try:
                import demo  # examples/iris/demo.py: the walkthrough `make demo` runs

                with contextlib.redirect_stdout(io.StringIO()):
                    demo.walkthrough()
                yield url
            finally:
                os.environ.clear()
                os.environ.update(saved)

    return run()


@contextlib.contextmanager
def demo_in_process(home: Path) -> Iterator[str]:
    import uvicorn

    from raypachy.server.app import create_app
    from raypachy.server.service import LocalService
    from tests.console.conftest import build_demo
    from tests.pps.conftest import Local

    local = Local(home)
    parts, _ = build_demo(local, home.parent)
    local.put("iris", {f"/raw/{parts[2].name}": parts[2].read_bytes()})
    local.run()
    app = create_app(LocalService(local.pachd), local.pfs.backend.uri)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--in-process", action="store_true")
    args = parser.parse_args()
    work = bench_dir() / f"console-{os.getpid()}"
    where = demo_in_process(work / "home") if args.in_process else demo_on_cluster(work / "home")
    with where as url:
        results = measure(url, args.runs)
    rows = [
        (f"{page}: {r['calls']} calls, p50 / p95",
         f"{r['p50_ms']:.0f} / {r['p95_ms']:.0f} ms",
         f"< {TARGET_MS:.0f} ms; slowest {r['slowest_call']} {r['slowest_call_p50_ms']:.0f} ms")
        for page, r in results.items()
    ]  # fmt: skip
    mode = "in-process" if args.in_process else "local Ray cluster"
    report(
        f"Console pages: server time of their API calls on the demo data ({mode})",
        rows,
        {
            "bench": "console",
            "mode": mode,
            "runs": args.runs,
            "target_ms": TARGET_MS,
            "pages": results,
            "all_under_target": all(r["p50_ms"] < TARGET_MS for r in results.values()),
        },
    )


if __name__ == "__main__":
    main()
