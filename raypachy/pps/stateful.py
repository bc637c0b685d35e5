"""Class pipelines: one instance per worker, given batch after batch (no Ray here).

``__init__`` runs once when the worker makes its instance (load the model there);
``__call__(self, datum)`` runs per datum; the optional ``setup_job(self, job)`` runs before a
job's first datum on this instance and ``finish_job(self, job)`` after its last. The runtime
keeps a ``ClassWorker`` inside each pool actor; in process, ``SerialExecutor`` keeps one for
the job it runs.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from raypachy.errors import TransformInitError
from raypachy.pps.worker import (
    BatchResult,
    BatchSpec,
    DatumResult,
    _environ,
    load_transform,
    run_batch,
)
from raypachy.secrets import redact


@dataclass(frozen=True, slots=True)
class JobContext:
    """What ``setup_job`` and ``finish_job`` receive: the job whose datums come next."""

    pipeline: str
    job_id: str
    output_commit_id: str


def is_class_pipeline(spec: dict[str, Any]) -> bool:
    """Whether a stored spec's transform is a pipeline class (its datums run on a pool)."""
    python = spec.get("transform", {}).get("python") or {}
    return bool(python.get("kind") == "class")


def _failure(what: str, e: BaseException, hidden: tuple[str, ...] = ()) -> TransformInitError:
    return TransformInitError(
        f"{what} failed: {type(e).__name__}: {redact(str(e), also=hidden)}",
        redact(traceback.format_exc(), also=hidden),
    )


class ClassWorker:
    """A pipeline class's instance and the job it is in."""

    def __init__(self, cls: Callable[..., Any]) -> None:
        self.label = getattr(cls, "__name__", repr(cls))
        try:
            self.instance = cls()
        except Exception as e:
            raise _failure(f"{self.label}.__init__", e) from None
        self.job: JobContext | None = None
        # The job's token (from the control plane, as its datums get it) while its hooks run:
        # a worker node holds none of its own.
        self.job_env: dict[str, str] = {}

    @classmethod
    def load(cls, storage: str, code_key: str) -> ClassWorker:
        """The stored class, instantiated (``TransformInitError`` if ``__init__`` raises)."""
        return cls(load_transform(storage, code_key))

    def run(
        self,
        batch: BatchSpec,
        sidecar: Any = None,
        on_datum: Callable[[DatumResult], None] | None = None,
        reader: Any = None,
    ) -> BatchResult:
        """Run a batch on this instance, calling ``setup_job`` first when its job is new
        (``reader``: where input chunks are read, as for ``run_batch``)."""
        if self.job is None or self.job.job_id != batch.job:
            self.finish()  # a job that ended without saying so here (cancelled)
            job = JobContext(batch.pipeline, batch.job, batch.output_commit)
            self.job_env = {"RAYPACHY_TOKEN": batch.token.value} if batch.token else {}
            hook = getattr(self.instance, "setup_job", None)
            if hook is not None:
                try:
                    with _environ(self.job_env):
                        hook(job)
                except Exception as e:
                    hidden = tuple(self.job_env.values())
                    raise _failure(f"{self.label}.setup_job", e, hidden) from None
            self.job = job
        return run_batch(batch, sidecar, on_datum, reader, transform=self.instance)

    def finish(self, job_id: str | None = None) -> str:
        """Call ``finish_job`` for the current job (only if it is ``job_id``, when given);
        returns its traceback if it raised, else ``""``."""
        job = self.job
        if job is None or (job_id is not None and job.job_id != job_id):
            return ""
        self.job = None
        hook = getattr(self.instance, "finish_job", None)
        if hook is None:
            return ""
        try:
            with _environ(self.job_env):
                hook(job)
        except Exception:
            return redact(traceback.format_exc(), also=tuple(self.job_env.values()))
        return ""
