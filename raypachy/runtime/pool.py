"""Worker pools: a class pipeline's batches run on warm Ray actors (DESIGN section 2).

Each actor, named ``raypachy:<pipeline>:worker:<n>`` and holding the pipeline's resources,
makes one instance of the class (``__init__`` once: load the model there) and runs batch after
batch on it. The pipeline's controller owns the pool: it keeps the actors between jobs for
``keep_warm_s`` seconds, so the next job starts without loading anything, then kills them so
the autoscaler can take their node. Actors are owned by the controller, so they die with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from typing import Any

import ray

from raypachy.pps.spec import PipelineSpec
from raypachy.pps.stateful import ClassWorker
from raypachy.pps.worker import BatchResult, BatchSpec, DatumResult
from raypachy.runtime.chunkcache import chunk_reader
from raypachy.runtime.names import NAMESPACE, pool_worker_name

PARTIAL_EVERY_S = 0.5  # how often a batch tells its controller which datums have ended
NAME_FREE_S = 30.0  # how long a replacement waits for a dead actor's name to be released
FINISH_S = 60.0  # how long the end of a job waits for the actors' finish_job hooks


def progress(batch: BatchSpec, controller: Any) -> Callable[[DatumResult], None] | None:
    """What a running batch calls as each datum ends: a small fire-and-forget call to the
    controller host at most every half second, so progress per datum costs next to nothing."""
    if controller is None:
        return None
    states: dict[str, int] = {}
    last = time.monotonic()

    def ended(result: DatumResult) -> None:
        nonlocal last
        states[result.state] = states.get(result.state, 0) + 1
        if time.monotonic() - last >= PARTIAL_EVERY_S:
            last = time.monotonic()
            controller.datum_progress.remote(
                batch.pipeline, batch.job, batch.datums[0].id, dict(states)
            )

    return ended


@ray.remote(max_restarts=0, max_task_retries=0)
class PoolWorker:
    """One worker of a class pipeline: the instance is made by the first batch it runs, so a
    failing ``__init__`` reaches the job as that batch's ``TransformInitError``."""

    def __init__(self, storage: str, code_key: str) -> None:
        self.storage, self.code_key = storage, code_key
        self.worker: ClassWorker | None = None

    def pid(self) -> int:
        return os.getpid()

    def run(self, batch: BatchSpec, sidecar: Any, controller: Any) -> BatchResult:
        if self.worker is None:
            self.worker = ClassWorker.load(self.storage, self.code_key)
        reader = chunk_reader(batch.storage)  # the node's chunk cache, as for a batch task
        return self.worker.run(batch, sidecar, progress(batch, controller), reader)

    def finish(self, job: str) -> str:
        """The job ended: its ``finish_job`` hook (a traceback if it raised, else "")."""
        return self.worker.finish(job) if self.worker is not None else ""


class WorkerPool:
    """The actors of one class pipeline, by slot; made on demand, kept between jobs."""

    def __init__(self, pipeline: str, storage: str) -> None:
        self.pipeline, self.storage = pipeline, storage
        self.actors: dict[int, Any] = {}
        self.key = ""  # the code and options the actors were made with
        self.code_key = ""
        self.options: dict[str, Any] = {}
        self.keep_warm_s = 0.0
        self.idle_since: float | None = None  # set when a job ends, cleared when one starts
        self.jobs: set[str] = set()  # jobs whose batches ran here, for finish()

    def prepare(self, spec: PipelineSpec, options: dict[str, Any]) -> None:
        """Make ready for a job of ``spec``: the warm actors stay if code and resources are
        the same; a new version (code or resources) replaces them."""
        assert spec.transform.python is not None
        actor_options = {k: v for k, v in options.items() if k != "max_retries"}
        key = json.dumps([spec.transform.python.code, actor_options], sort_keys=True)
        if key != self.key:
            self.release()
            self.key, self.code_key, self.options = key, spec.transform.python.code, actor_options
        self.keep_warm_s = spec.ray.keep_warm_s if spec.ray is not None else 60.0
        self.idle_since = None

    def shrink(self, size: int) -> None:
        """Release the actors of slots this job will not use (a smaller ``concurrency``)."""
        for slot in [n for n in self.actors if n >= size]:
            self.replace(slot)

    def held_cpus(self) -> float:
        """CPUs the warm actors hold (free for this pipeline's next job)."""
        return len(self.actors) * float(self.options.get("num_cpus", 1.0))

    def actor(self, slot: int) -> Any:
        """The actor of ``slot``, made if there is none."""
        actor = self.actors.get(slot)
        if actor is None:
            actor = self.actors[slot] = self._create(pool_worker_name(self.pipeline, slot))
        return actor

    def _create(self, name: str) -> Any:
        deadline = time.monotonic() + NAME_FREE_S
        while True:
            try:
                return PoolWorker.options(  # type: ignore[attr-defined]
                    name=name, namespace=NAMESPACE, **self.options
                ).remote(self.storage, self.code_key)
            except ValueError:  # the name of a replaced actor is not released yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def run(self, slot: int, batch: BatchSpec, sidecar: Any, controller: Any) -> Any:
        self.jobs.add(batch.job)
        return self.actor(slot).run.remote(batch, sidecar, controller)

    def replace(self, slot: int) -> None:
        """Kill the actor of ``slot`` (crashed, or running a batch to be stopped); the next
        batch of the slot makes a new one."""
        actor = self.actors.pop(slot, None)
        if actor is not None:
            with contextlib.suppress(Exception):
                ray.kill(actor, no_restart=True)

    def finish(self, job: str) -> list[str]:
        """The job ended: call ``finish_job`` on every actor that ran it; start the warm
        period (or release now when ``keep_warm_s`` is 0). Returns the hooks' failures."""
        failures: list[str] = []
        if job in self.jobs:
            self.jobs.discard(job)
            refs = [a.finish.remote(job) for a in self.actors.values()]
            for ref in refs:
                try:
                    failures += [t for t in [ray.get(ref, timeout=FINISH_S)] if t]
                except Exception as e:  # a dead actor has no hook to call
                    failures.append(f"{type(e).__name__}: {e}")
        self.idle_since = time.monotonic()
        if self.keep_warm_s <= 0:
            self.release()
        return failures

    def expire(self) -> None:
        """Release the actors if the pool has been idle longer than ``keep_warm_s``."""
        idle = self.idle_since
        if self.actors and idle is not None and time.monotonic() - idle >= self.keep_warm_s:
            self.release()

    def release(self) -> None:
        for slot in list(self.actors):
            self.replace(slot)
        self.jobs.clear()
