"""In-process pipelines: PFS + PPS + the job runner with batches run one by one (no Ray)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from raypachy.pachd import Pachd
from raypachy.pfs import PFS
from raypachy.pps.decorator import Pipeline
from raypachy.pps.jobrun import SerialExecutor, run_job
from raypachy.pps.model import JobInfo
from raypachy.pps.service import PPS

needs_sandbox = pytest.mark.skipif(
    not (os.geteuid() == 0 and shutil.which("unshare")),
    reason="command transforms need root with unshare (or bwrap) for their private /pfs",
)


class Local:
    """A whole installation in this process; ``run()`` drives every pending job to its end."""

    def __init__(self, home: Path) -> None:
        self.pfs = PFS.open(str(home))
        self.pachd = Pachd(self.pfs)  # commit hooks create jobs, as on the cluster
        self.pps: PPS = self.pachd.pps
        self.sidecar: Any = None  # what starts the S3 sidecar (see raypachy.pps.worker)

    def put(self, repo: str, files: dict[str, bytes], delete: list[str] = ()) -> str:  # type: ignore[assignment]
        with self.pfs.modify(f"{repo}@master") as m:
            for path in delete:
                m.delete(path)
            for path, data in files.items():
                m.put(path, data)
        commit = m.result()
        self.pachd._landed(commit)
        return commit.id

    def create(self, pipeline: Pipeline | dict[str, Any], update: bool = False,
               reprocess: bool = False) -> str:  # fmt: skip
        if isinstance(pipeline, Pipeline):
            chunk_id, _ = self.pfs.chunks.put(pipeline.code())
            spec = pipeline.build(chunk_id.hex()).to_json()
        else:
            spec = pipeline
        _, note = self.pps.create_pipeline(spec, update=update, reprocess=reprocess)
        return note

    def run(self, parallelism: int = 2) -> list[JobInfo]:
        done = []
        progress = True
        while progress:
            progress = False
            for p in self.pps.list_pipelines():
                while (claim := self.pps.claim_job(p.name)) is not None:
                    done.append(run_job(claim, self.pps, self.pfs.manifests, self.pfs.backend.uri,
                                        SerialExecutor(self.sidecar), parallelism))  # fmt: skip
                    progress = True
        return done

    def files(self, repo: str) -> dict[str, bytes]:
        return {
            p: self.pfs.get_file(f"{repo}@master", p)
            for p, _ in self.pfs.walk_files(f"{repo}@master")
        }


@pytest.fixture
def local(tmp_path: Path) -> Local:
    return Local(tmp_path / "home")


def by_name(jobs: list[JobInfo]) -> dict[str, JobInfo]:
    return {j.pipeline: j for j in jobs}


Transform = Callable[[Any], None]
