"""The control plane's footprint: memory over an idle Ray head, and what idle pipelines cost.

In one run: a bare ``ray start --head`` (the flags ``raypachy up`` uses) is started, left to
settle and measured (PSS of its whole process tree, from ``/proc/<pid>/smaps_rollup``), then
stopped; then ``raypachy up`` and the PSS of the control plane's processes (the metadata and
API server actors, the ``raypachy serve`` driver) beside it (``control_plane_pss_mib``).
Then N idle pipelines (default 50, ``--pipelines N``; ``--quick``: 5) over an empty repo:
the CPU the raypachy processes use over a 20 s window, in percent of one core, from
``/proc/<pid>/stat`` (``idle_pipelines_cpu_pct``, with the same window before any pipeline
beside it), and the PSS they add per pipeline (``pss_per_idle_pipeline_mib``). Last, with
the idle pipelines still there, one more pipeline's trigger latency (input commit finished
-> its job started, server clocks, median of 5: ``trigger_latency_ms``).
Last line: one JSON object. Run: ``python bench/footprint.py [--quick] [--pipelines N]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import bench_dir, local_cluster, report
from raypachy._procs import process_tree
from raypachy.client import Client

MIB = 1 << 20
SETTLE_S = 15.0  # Ray's daemons and a new actor's worker finish importing within this
CONTROL_PLANE = ("ray::MetadataActor", "ray::ApiServerActor")
CONTROLLER = "ray::ControllerHost"  # every pipeline's controller, as threads


def pss(pid: int) -> int:
    """Proportional set size of ``pid`` in bytes (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def cpu_ticks(pid: int) -> int:
    """utime + stime of ``pid`` in clock ticks (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError):
        return 0


def cpu_pct(pids: set[int], window: float) -> float:
    """Percent of one core the processes used over ``window`` seconds."""
    before = {p: cpu_ticks(p) for p in pids}
    start = time.monotonic()
    time.sleep(window)
    elapsed = time.monotonic() - start
    used = sum(max(cpu_ticks(p) - before[p], 0) for p in pids)
    return 100.0 * used / os.sysconf("SC_CLK_TCK") / elapsed


def bare_ray_pss(home: Path) -> int:
    """PSS of an idle bare Ray head's whole process tree, started as ``raypachy up`` does."""
    from raypachy.runtime.cluster import _stop_ray, start_ray_head

    pid, *_ = start_ray_head(home, 2)
    try:
        time.sleep(SETTLE_S)
        return sum(pss(p) for p in process_tree(pid))
    finally:
        _stop_ray(pid)


def raypachy_pids(home: str) -> dict[str, set[int]]:
    """The cluster's processes by role: control plane, controllers, the rest of Ray."""
    from raypachy.runtime.state import read_state

    state = read_state(home)
    assert state is not None and state.ray_pid is not None
    roles: dict[str, set[int]] = {"control": set(), "controllers": set(), "ray": set()}
    if state.control_pid:
        roles["control"].add(state.control_pid)  # the `raypachy serve` driver
    for p in process_tree(state.ray_pid):
        line = cmdline(p)
        if line.startswith(CONTROL_PLANE):
            roles["control"].add(p)
        elif line.startswith(CONTROLLER):
            roles["controllers"].add(p)
        else:
            roles["ray"].add(p)
    return roles


def wait_controllers(c: Client, n: int, seconds: float = 900) -> None:
    """Until ``n`` pipelines have a running controller."""
    deadline = time.monotonic() + seconds
    while True:
        found = c.status()["metadata"]["controllers"]
        if sum(1 for v in found.values() if "pid" in v) >= n:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{n} pipeline controllers did not start within {seconds:.0f}s")
        time.sleep(1.0)


def trigger_latency_ms(c: Client) -> float:
    """Median of 5: an input commit finished -> its job started (server clocks)."""
    c.create_repo("tick")
    c.create_pipeline({
        "pipeline": {"name": "tock"},
        "input": {"pfs": {"repo": "tick", "glob": "/*"}},
        "transform": {"cmd": ["true"]},
    })  # fmt: skip
    latencies = []
    for i in range(5):
        landed = c.put_file("tick@master", f"/t{i}", b"x")
        job = c.wait_job("tock", landed.id, timeout=120)
        assert job.started is not None and landed.finished is not None
        latencies.append((job.started - landed.finished).total_seconds() * 1000)
    return statistics.median(latencies)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pipelines", type=int, default=None)
    parser.add_argument("--window", type=float, default=20.0)
    args = parser.parse_args()
    n = args.pipelines or (5 if args.quick else 50)
    work = bench_dir() / "footprint"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    bare = bare_ray_pss(work / "bare")
    with local_cluster(work / "home") as (env, url):
        result, rows = _measure(env["RAYPACHY_HOME"], url, n, bare, args.window)
    report("raypachy footprint (local cluster, 2 CPUs)", rows, result)


def _measure(home: str, url: str, n: int, bare: int, window: float) -> tuple[dict, list]:  # type: ignore[type-arg]
    c = Client(url, home=home)
    c.create_repo("idlein")
    time.sleep(SETTLE_S)
    roles = raypachy_pids(home)
    control = sum(pss(p) for p in roles["control"])
    parts: dict[str, float] = {}
    for p in roles["control"]:
        name = cmdline(p).split()[0] if cmdline(p).startswith("ray::") else "serve driver"
        parts[name] = round(parts.get(name, 0.0) + pss(p) / MIB, 1)
    cluster0 = sum(pss(p) for ps in roles.values() for p in ps)
    cpu0 = cpu_pct(roles["control"], window)

    for i in range(n):
        c.create_pipeline({
            "pipeline": {"name": f"idle{i:03d}"},
            "input": {"pfs": {"repo": "idlein", "glob": "/*"}},
            "transform": {"cmd": ["true"]},
        })  # fmt: skip
    wait_controllers(c, n)
    time.sleep(SETTLE_S)
    roles = raypachy_pids(home)
    ours = roles["control"] | roles["controllers"]
    cpu_n = cpu_pct(ours, window)
    cluster_cpu_n = cpu_pct(ours | roles["ray"], window)  # Ray's daemons answer the polls too
    control_n = sum(pss(p) for p in roles["control"])
    controllers = sum(pss(p) for p in roles["controllers"])
    cluster_n = sum(pss(p) for ps in roles.values() for p in ps)
    per_pipeline = (controllers + control_n - control) / n
    trigger_ms = trigger_latency_ms(c)
    c.close()

    result = {
        "bare_ray_head_pss_mib": round(bare / MIB, 1),
        "control_plane_pss_mib": round(control / MIB, 1),
        "control_plane_parts_mib": parts,
        "cluster_pss_mib": round(cluster0 / MIB, 1),
        "idle_control_plane_cpu_pct": round(cpu0, 2),
        "pipelines": n,
        "idle_pipelines_cpu_pct": round(cpu_n, 2),
        "idle_cluster_cpu_pct": round(cluster_cpu_n, 2),
        "pss_per_idle_pipeline_mib": round(per_pipeline / MIB, 1),
        "cluster_pss_with_pipelines_mib": round(cluster_n / MIB, 1),
        "trigger_latency_ms": round(trigger_ms, 1),
    }
    rows = [
        ("bare `ray start --head`, idle (PSS MiB)", f"{bare / MIB:.0f}", "reference"),
        (
            "control plane actors + serve driver (PSS MiB)",
            f"{control / MIB:.0f}",
            f"target <= 150 over the bare head's {bare / MIB:.0f}",
        ),
        *((f"  {name}", f"{mib:.0f}", "") for name, mib in sorted(parts.items())),
        (
            "whole raypachy cluster, idle (PSS MiB)",
            f"{cluster0 / MIB:.0f}",
            f"bare head {bare / MIB:.0f}",
        ),
        (f"control plane CPU, no pipeline, {window:.0f} s (% of a core)", f"{cpu0:.2f}", "-"),
        (f"{n} idle pipelines: raypachy CPU (% of a core)", f"{cpu_n:.2f}", "target <= 2"),
        (
            f"{n} idle pipelines: whole cluster CPU (% of a core)",
            f"{cluster_cpu_n:.2f}",
            f"no pipeline: {cpu0:.2f} (raypachy only)",
        ),
        ("PSS per idle pipeline (MiB)", f"{per_pipeline / MIB:.1f}", "target <= 10"),
        (
            f"trigger latency beside {n} idle pipelines (ms)",
            f"{trigger_ms:.0f}",
            "target <= 50",
        ),
    ]
    return result, rows


if __name__ == "__main__":
    main()
