"""What a job costs besides its datums, on the local cluster (2 CPUs).

In one run:
- ``job_overhead_ms``: one-file commits into a repo read by a one-datum Python pipeline,
  50 in a row (``--quick``: 20), each waited for: input commit finished -> output commit
  finished (server clocks), p50. Target <= 60 ms.
- ``drain_800_jobs_s``: 800 one-file commits (``--quick``: 100) put as fast as the client
  can, one job each, until the last output commit is finished (Pachyderm's semantics: one
  job per input commit, output commits in order). Target <= 60 s; ``puts_800_s`` beside it
  is the time the puts alone took.
- ``incremental_1_of_<N>_s``: one new file into N (10,000 and 100,000; ``--quick``: 2,000
  and 10,000), until its output commit is finished; ``skip_us_per_datum`` is the cost per
  unchanged datum it implies (the difference of the two over the difference of N), target
  <= 5, and ``implied_1_of_1m_s`` what that means for one new file into a million.

Last line: one JSON object. Run: ``python bench/jobs.py [--quick]``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import raypachy
from bench._common import bench_dir, local_cluster, report
from raypachy.client import Client


def copy_datum(datum):  # type: ignore[no-untyped-def]
    """The transform: copy the datum's files to the output."""
    for path in datum.input().iterdir():
        (datum.out / path.name).write_bytes(path.read_bytes())


def _pipeline(c: Client, repo: str, name: str) -> None:
    c.create_repo(repo)
    c.create_pipeline(raypachy.pipeline(copy_datum, input=raypachy.pfs(repo, glob="/*"), name=name))


def _finished_after(c: Client, commit_id: str) -> float:
    """Seconds from the input commit's finish to the last commit of its set finishing."""
    commits = c.wait_commit_set(commit_id, timeout=600)
    ends = [x.finished for x in commits if x.finished is not None]
    source = min(ends)  # the input commit finished first: the output came after it
    return (max(ends) - source).total_seconds()


def job_overhead_ms(c: Client, runs: int) -> float:
    _pipeline(c, "one", "one_out")
    c.wait_commit_set(c.put_file("one@master", "/warmup", b"x").id, timeout=600)
    times = []
    for i in range(runs):
        commit = c.put_file("one@master", f"/f{i}", b"x")
        times.append(_finished_after(c, commit.id) * 1000)
    return statistics.median(times)


def drain(c: Client, jobs: int) -> tuple[float, float]:
    """(seconds until every job is done, seconds the puts took)."""
    _pipeline(c, "queue", "queue_out")
    start = time.perf_counter()
    last = ""
    for i in range(jobs):
        last = c.put_file("queue@master", f"/f{i:04d}", b"x").id
    puts = time.perf_counter() - start
    c.wait_commit_set(last, timeout=3600)
    done = time.perf_counter() - start
    job = c.inspect_job("queue_out", last)  # one job per commit: the last one saw them all
    assert job.state == "success" and job.datums.skipped == jobs - 1, job
    return done, puts


def incremental_s(c: Client, n: int, work: Path) -> float:
    """One new file into ``n``: until its output commit is finished."""
    repo, name = f"many{n}", f"many{n}_out"
    local = Path(tempfile.mkdtemp(dir=work))
    for i in range(n):
        (local / f"f{i:06d}").write_bytes(i.to_bytes(4, "big"))
    c.create_repo(repo)
    c.put_dir(f"{repo}@master", "/", local)
    shutil.rmtree(local)
    c.create_pipeline(raypachy.pipeline(copy_datum, input=raypachy.pfs(repo, glob="/*"), name=name))
    first = c.inspect_pipeline(name).last_job
    deadline = time.monotonic() + 60
    while first is None and time.monotonic() < deadline:
        time.sleep(0.2)
        first = c.inspect_pipeline(name).last_job
    assert first is not None
    c.wait_job(name, first, timeout=3600)
    start = time.perf_counter()
    commit = c.put_file(f"{repo}@master", "/new", b"new")
    c.wait_commit_set(commit.id, timeout=600)
    took = time.perf_counter() - start
    job = c.inspect_job(name, commit.id)
    assert job.datums.processed == 1 and job.datums.skipped == n, job
    c.delete_pipeline(name)
    c.delete_repo(repo)
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    runs, jobs = (20, 100) if args.quick else (50, 800)
    small, big = (2_000, 10_000) if args.quick else (10_000, 100_000)
    work = bench_dir() / "jobs"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    with local_cluster(work / "home") as (env, url):
        c = Client(url, home=env["RAYPACHY_HOME"])
        overhead = job_overhead_ms(c, runs)
        drained, puts = drain(c, jobs)
        inc_small = incremental_s(c, small, work)
        inc_big = incremental_s(c, big, work)
        c.close()
    skip_us = max(inc_big - inc_small, 0.0) / (big - small) * 1e6
    one_in_million = inc_big + skip_us * (1_000_000 - big) / 1e6
    result = {
        "job_overhead_ms": round(overhead, 1),
        f"drain_{jobs}_jobs_s": round(drained, 1),
        f"puts_{jobs}_s": round(puts, 1),
        f"incremental_1_of_{small // 1000}k_s": round(inc_small, 2),
        f"incremental_1_of_{big // 1000}k_s": round(inc_big, 2),
        "skip_us_per_datum": round(skip_us, 2),
        "implied_1_of_1m_s": round(one_in_million, 1),
    }
    rows = [
        (f"one-datum job, commit -> output commit (p50 of {runs}, ms)", f"{overhead:.0f}",
         "target <= 60"),
        (f"drain {jobs} one-file commits (s)", f"{drained:.1f}",
         f"target <= 60 (for 800); the puts alone: {puts:.1f}"),
        (f"one new file into {small:,} (s)", f"{inc_small:.2f}", "-"),
        (f"one new file into {big:,} (s)", f"{inc_big:.2f}", "target <= 1.0 (for 100k)"),
        ("skip cost per unchanged datum (us)", f"{skip_us:.2f}", "target <= 5"),
        ("implied: one new file into 1,000,000 (s)", f"{one_in_million:.1f}", "-"),
    ]  # fmt: skip
    report("raypachy per-job costs (local cluster, 2 CPUs)", rows, result)


if __name__ == "__main__":
    main()
