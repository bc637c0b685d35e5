"""The load test: concurrent writers, a pipeline consuming their shared branch, gc running.

Shared by the test suite (a few commits per writer) and bench/reliability.py (200 each).
Writers are separate processes with their own client, as users would be.
"""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import raypachy
from raypachy.client import Client
from raypachy.errors import GCBusyError

SHARED = "master"


def count_files(datum):  # type: ignore[no-untyped-def]
    """The consuming pipeline: one small output per input file."""
    for f in datum.input().rglob("*"):
        if f.is_file():
            (datum.out / f"{f.name}.len").write_text(str(f.stat().st_size))


def _branch(writer: int) -> str:
    """Even writers share the branch; odd writers have their own."""
    return SHARED if writer % 2 == 0 else f"w{writer}"


def _write(
    url: str, home: str | None, repo: str, writer: int, commits: int
) -> list[tuple[str, str, str, str]]:
    """One writer process: ``commits`` one-file commits; returns (branch, id, path, sha256)."""
    done = []
    branch = _branch(writer)
    with Client(url, home=home) as client:
        for k in range(commits):
            data = os.urandom(512 + (writer * 131 + k * 17) % 3500)
            path = f"/w{writer}/c{k:04d}"
            commit = client.put_file(f"{repo}@{branch}", path, data)
            done.append((branch, commit.id, path, hashlib.sha256(data).hexdigest()))
    return done


@dataclass
class LoadReport:
    writers: int
    commits_per_writer: int
    seconds: float = 0.0
    made: int = 0
    lost: list[str] = field(default_factory=list)  # commits missing, unreadable or off-chain
    broken_chains: list[str] = field(default_factory=list)
    bad_provenance: list[str] = field(default_factory=list)
    fsck_problems: list[str] = field(default_factory=list)
    catch_up_s: float = 0.0  # writers done -> the pipeline's job of the last shared commit done
    gc_runs: int = 0
    gc_refused: int = 0
    jobs: int = 0

    @property
    def commits_per_s(self) -> float:
        return self.made / self.seconds if self.seconds else 0.0


def run_load(
    url: str,
    writers: int = 8,
    commits: int = 200,
    home: str | None = None,
    others: tuple[tuple[str, str | None], ...] = (),
) -> LoadReport:
    """Run the load against the API at ``url`` (its token in ``home``) and check everything
    it wrote. With ``others`` (more control planes of the same database, as (url, home)),
    writers take turns by pairs: each branch is written through every control plane."""
    targets = [(url, home), *others]
    client = Client(url, home=home)
    repo = "load" + uuid.uuid4().hex[:8]
    client.create_repo(repo)
    client.put_file(f"{repo}@{SHARED}", "/seed", b"seed")  # the shared branch exists
    for w in range(writers):
        if _branch(w) != SHARED:
            client.create_branch(repo, _branch(w), head=None)
    pipeline = f"{repo}-count"
    client.create_pipeline(
        raypachy.pipeline(count_files, input=raypachy.pfs(repo, glob="/w*/*"), name=pipeline)
    )
    report = LoadReport(writers, commits)
    stop = threading.Event()

    def collect() -> None:  # gc keeps trying while the writers write
        while not stop.is_set():
            try:
                client.gc()
                report.gc_runs += 1
            except GCBusyError:
                report.gc_refused += 1
            stop.wait(0.2)

    gc_thread = threading.Thread(target=collect, daemon=True)
    started = time.monotonic()
    gc_thread.start()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(writers) as pool:
        results = pool.starmap(
            _write, [(*targets[(w // 2) % len(targets)], repo, w, commits) for w in range(writers)]
        )
    report.seconds = time.monotonic() - started
    stop.set()
    gc_thread.join()
    written = [r for rs in results for r in rs]
    report.made = len(written)
    report.catch_up_s = _catch_up(client, repo, pipeline)
    report.jobs = len(client.list_jobs(pipeline))
    _check(client, repo, pipeline, written, report)
    client.close()
    return report


def _catch_up(client: Client, repo: str, pipeline: str, seconds: float = 900) -> float:
    """Wait until the job of the shared branch's last commit has ended; returns the wait."""
    head = client.inspect_branch(repo, SHARED).head
    start = time.monotonic()
    while time.monotonic() < start + seconds:
        jobs = client.list_jobs(pipeline)
        ended = all(j.state in ("success", "failure", "killed") for j in jobs)
        if ended and any(j.id == head for j in jobs):
            break
        time.sleep(0.2)
    return time.monotonic() - start


def _check(client: Client, repo: str, pipeline: str, written: list[Any], report: LoadReport
           ) -> None:  # fmt: skip
    by_branch: dict[str, set[str]] = {}
    for branch, commit_id, path, digest in written:
        by_branch.setdefault(branch, set()).add(commit_id)
        try:
            data = client.get_file(f"{repo}@{commit_id}", path)
            if hashlib.sha256(data).hexdigest() != digest:
                report.lost.append(f"{commit_id}: wrong bytes at {path}")
        except Exception as e:
            report.lost.append(f"{commit_id}: {e}")
    for branch, ids in by_branch.items():
        history = client.list_commits(repo, branch)  # newest first
        for newer, older in itertools.pairwise(history):
            if newer.parent != older.id:
                report.broken_chains.append(f"{branch}: {newer.id} -> {newer.parent}")
        missing = ids - {c.id for c in history}
        report.lost += [f"{c}: not in the history of {branch}" for c in sorted(missing)]
    # Once the pipeline has caught up, every output commit's provenance must name a commit
    # of the input repo's shared branch.
    report.fsck_problems = [f"{p.kind} {p.subject}: {p.message}" for p in
                            client.fsck(deep=True).problems]  # fmt: skip
    shared = {c.id for c in client.list_commits(repo, SHARED)}
    for out in client.list_commits(pipeline, SHARED):
        inputs = [p for p in out.provenance if p.repo == repo]
        if not inputs or any(p.id not in shared for p in inputs):
            report.bad_provenance.append(f"{pipeline}@{out.id}: {out.provenance}")
