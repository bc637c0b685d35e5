"""Writers racing garbage collection, deterministically.

Each round prepares three writes that store new objects only when they run: an open commit
with two staged layers (finishing it folds them into a new manifest), a running job whose
output commit has two staged layers (stopping the job finishes that commit the same way),
and pipeline code to upload. Then gc starts and is held between its snapshot and its first
delete; the three writes start on their own threads; once each has either finished or is
waiting for gc, gc goes on. After one more gc, every file and the code must read back
intact, and ``fsck`` must be clean. Before writers held leases, every round lost data.

Shared by ``tests/faults/test_gc_races.py`` and ``bench/reliability.py``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from raypachy.pachd import Pachd
from raypachy.pfs import PFS
from raypachy.pfs.metadata import open_store
from raypachy.server.app import create_app
from raypachy.server.service import LocalService
from raypachy.storage import FileSetWriter

WAIT_S = 60.0  # a bound on every wait, so that a stuck round fails instead of hanging


@dataclass
class RaceReport:
    rounds: int = 0
    lost_rounds: int = 0  # rounds after which something did not read back
    lost: list[str] = field(default_factory=list)  # what, and why
    fsck: list[str] = field(default_factory=list)  # problems fsck finds after the last round
    seconds: float = 0.0

    @property
    def survived(self) -> int:
        return self.rounds - self.lost_rounds


class _Settled:
    """Counts writers that finished or wait for gc (a writer waiting for gc is settled)."""

    def __init__(self) -> None:
        self.count = 0
        self.cond = threading.Condition()

    def add(self) -> None:
        with self.cond:
            self.count += 1
            self.cond.notify_all()

    def wait(self, n: int) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.count >= n, WAIT_S)


class Races:
    """One installation in this process, served by the real app, raced round after round."""

    def __init__(self, home: Path) -> None:
        self.pfs = PFS.open(str(home))
        self.pachd = Pachd(self.pfs)
        self.app = create_app(LocalService(self.pachd), self.pfs.backend.uri)
        self.pfs.create_repo("data")
        self.pfs.create_repo("in")
        self.pachd.create_pipeline(
            {
                "pipeline": {"name": "out"},
                "input": {"pfs": {"repo": "in", "glob": "/*"}},
                "transform": {"cmd": ["true"]},
            }
        )
        self.pfs.put_file("data@master", "/base", b"base" * 1000)

    def _stage(self, repo: str, commit_id: str, path: str, data: bytes) -> None:
        """Write one layer under a lease and stage it into an open commit (as a job's
        batches and finish do)."""
        with self.pfs.leases.writer() as lease:
            writer = FileSetWriter(self.pfs.chunks, self.pfs.manifests)
            writer.put(path, data)
            self.pfs.commits.stage(repo, commit_id, writer.close(), lease)

    def _prepare(self, n: int) -> dict[str, Any]:
        data = self.pfs.start_commit("data@master")
        files = {f"/a{n}": os.urandom(3000), f"/b{n}": os.urandom(3000)}
        for path, content in files.items():
            self._stage("data", data.id, path, content)
        api = TestClient(self.app, base_url="http://127.0.0.1")
        upload = api.post("/v1/files/upload", params={"target": "in@master", "path": f"/i{n}"},
                          content=b"input %d" % n)  # fmt: skip
        assert upload.status_code == 200, upload.text
        claim = self.pachd.claim_job("out")
        assert claim is not None, "the input commit started no job"
        outputs = {f"/o{n}": os.urandom(3000), f"/p{n}": os.urandom(3000)}
        for path, content in outputs.items():
            self._stage("out", claim.job, path, content)
        return {"commit": data.id, "files": files, "job": claim.job, "outputs": outputs,
                "code": b"pickled function %d " % n + os.urandom(64)}  # fmt: skip

    def round(self, n: int) -> list[str]:
        """One race; returns what was lost (empty when nothing was)."""
        job = self._prepare(n)
        settled = _Settled()
        self.pfs.leases.on_wait = settled.add
        at_snapshot, resume = threading.Event(), threading.Event()
        failures: list[str] = []
        code_key: list[str] = []

        def hold(_phase: str) -> None:
            at_snapshot.set()
            resume.wait(WAIT_S)

        def run(what: str, fn: Callable[[], Any]) -> threading.Thread:
            def body() -> None:
                try:
                    fn()
                except Exception as e:
                    failures.append(f"{what} failed: {type(e).__name__}: {e}")
                finally:
                    settled.add()

            thread = threading.Thread(target=body, name=what)
            thread.start()
            return thread

        def upload_code() -> None:
            reply = TestClient(self.app, base_url="http://127.0.0.1").post(
                "/v1/code", content=job["code"]
            )
            assert reply.status_code == 200, reply.text
            code_key.append(reply.json()["code"])

        def collect() -> None:
            try:
                self.pachd.gc(on_phase=hold)
            finally:
                at_snapshot.set()

        gc = threading.Thread(target=collect, name="gc")
        gc.start()
        try:
            if not at_snapshot.wait(WAIT_S):
                return [f"round {n}: gc never reached its snapshot"]
            writers = [
                run("finish commit", lambda: self.pachd.finish_commit(f"data@{job['commit']}")),
                run("stop job", lambda: self.pachd.stop_job("out", job["job"])),
                run("upload code", upload_code),
            ]
            if not settled.wait(len(writers)):
                failures.append("a writer neither finished nor waited for gc")
        finally:
            resume.set()
            gc.join(WAIT_S)
            self.pfs.leases.on_wait = None
        for thread in writers:
            thread.join(WAIT_S)
        self.pachd.gc()  # and what the writes made must survive the next gc too
        return [f"round {n}: {f}" for f in failures + self._check(job, code_key)]

    def _check(self, job: dict[str, Any], code_key: list[str]) -> list[str]:
        """What does not read back, through a fresh view (no cached manifests or chunks)."""
        view = PFS(open_store(self.pfs.meta.location), self.pfs.backend.uri)
        lost = []
        wanted = [("data", job["commit"], job["files"]), ("out", job["job"], job["outputs"])]
        for repo, commit_id, files in wanted:
            for path, content in files.items():
                try:
                    if view.get_file(f"{repo}@{commit_id}", path) != content:
                        lost.append(f"{repo}@{commit_id}:{path} has other bytes")
                except Exception as e:
                    lost.append(f"{repo}@{commit_id}:{path}: {type(e).__name__}: {e}")
        try:
            if view.chunks.get(bytes.fromhex(code_key[0])) != job["code"]:
                lost.append("the uploaded code has other bytes")
        except Exception as e:
            lost.append(f"the uploaded code: {type(e).__name__}: {e}")
        return lost

    def fsck_problems(self) -> list[str]:
        view = PFS(open_store(self.pfs.meta.location), self.pfs.backend.uri)
        return [f"fsck: {p.kind} {p.subject}: {p.message}" for p in view.fsck().problems]


def run_races(home: Path, rounds: int) -> RaceReport:
    """``rounds`` races on a fresh installation at ``home``, then one fsck."""
    started = time.monotonic()
    races = Races(home)
    report = RaceReport()
    for n in range(rounds):
        try:
            lost = races.round(n)
        except Exception as e:  # an installation broken by an earlier loss
            lost = [f"round {n}: {type(e).__name__}: {e}"]
        report.rounds += 1
        report.lost_rounds += bool(lost)
        report.lost += lost
    report.fsck = races.fsck_problems()
    report.seconds = time.monotonic() - started
    return report
