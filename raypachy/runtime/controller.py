"""A pipeline's controller: claims its jobs and runs their datums as Ray tasks.

Controllers are threads of one process, the controller host (``raypachy.runtime.hosting``):
an idle controller sleeps until the host says its pipeline has a job to run, so idle
pipelines cost neither CPU nor a process each. A restarted host resumes the jobs its
controllers were running (the job rows in the database say which).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import ray
from ray.exceptions import ActorUnavailableError, RayActorError, RuntimeEnvSetupError

from raypachy.errors import LeaseExpiredError, RaypachyError, TransformInitError
from raypachy.pfs.leases import beat_until
from raypachy.pps.datasets import is_dataset_pipeline
from raypachy.pps.jobrun import run_job
from raypachy.pps.model import JobClaim
from raypachy.pps.queries import datum_matches
from raypachy.pps.spec import PipelineSpec
from raypachy.pps.stateful import is_class_pipeline
from raypachy.pps.worker import BatchResult, BatchSpec, DatumResult
from raypachy.runtime import metrics
from raypachy.runtime.datasets import DatasetExecutor
from raypachy.runtime.longrunning import ProcessSupervisor
from raypachy.runtime.names import unwrap
from raypachy.runtime.pipeline_lease import PipelineLease
from raypachy.runtime.placement import check
from raypachy.runtime.pool import PARTIAL_EVERY_S, WorkerPool, progress
from raypachy.runtime.resources import default_parallelism, task_options
from raypachy.secrets import redact
from raypachy.storage import ManifestStore

IDLE_RECHECK_S = 30.0  # an idle controller asks for a job this often even without a wake-up
CRON_IDLE_S = 300.0  # a pipeline without cron inputs looks again this often (or when poked)
META_RESTART_S = 60.0  # how long a job waits for a restarting metadata actor
RESTART_GRACE_S = 10.0  # a restarted datum's old task is killed if it has not stopped by then


@ray.remote(max_retries=3)
def run_batch_task(batch: BatchSpec, sidecar: Any, controller: Any = None) -> BatchResult:
    """Run one batch of datums; ``sidecar`` starts the S3 sidecar the batch may need."""
    from raypachy.pps.worker import run_batch
    from raypachy.runtime.chunkcache import chunk_reader

    # The node's chunk cache reads the inputs, for remote storage.
    home = _hidden_home() if batch.token else None
    return run_batch(
        batch, sidecar, progress(batch, controller), chunk_reader(batch.storage), home=home
    )


@functools.cache
def _hidden_home() -> Any:
    """This node's raypachy home, which command datums acting as their pipeline do not see,
    and the API's address they reach instead (None when it cannot be told: nothing hidden)."""
    from raypachy.pps.sandbox import HiddenHome
    from raypachy.runtime.longrunning import api_url
    from raypachy.runtime.state import home_dir

    try:
        address = os.environ.get("RAYPACHY_ADDRESS") or api_url()
    except Exception:  # the API actor is restarting: hide nothing for this batch
        _hidden_home.cache_clear()
        return None
    return HiddenHome(str(home_dir()), address)


class ActorHost:
    """``JobHost`` over the metadata actor."""

    def __init__(self, meta: Any) -> None:
        self.meta = meta
        self.lease_id = ""  # the write lease of the job being run: results are checked under it
        self.fenced = ""  # why this controller may no longer drive its job (lost its lease)
        self._granting: Any = None  # the job's lease while it is being granted (a Ray ref)
        self._grant_error: Exception | None = None
        self._lease_lock = threading.Lock()

    def grant_job_lease(self) -> None:
        """Ask for the job's writer lease without waiting for it: the job plans meanwhile.
        ``lease()`` waits for it, and is called before any batch writes."""
        with self._lease_lock:
            self.lease_id, self._grant_error = "", None
            host = (socket.gethostname(), os.getpid())
            self._granting = self.meta.call.remote("grant_lease", host, {})

    def lease(self) -> str:
        """The job's writer lease, once granted (raises why it could not be)."""
        with self._lease_lock:
            ref, self._granting = self._granting, None
            if ref is not None:
                try:
                    try:
                        self.lease_id = unwrap(ray.get(ref))
                    except (RayActorError, ActorUnavailableError):  # restarting: ride it out
                        self.lease_id = self.call("grant_lease", socket.gethostname(), os.getpid())
                except Exception as e:
                    self._grant_error = e
            if self._grant_error is not None:
                raise self._grant_error
            return self.lease_id

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call the metadata actor, riding out its restart. Repeating a call whose reply was
        lost is harmless: job calls are idempotent, and a second lease expires unused."""
        if self.fenced:  # another control plane drives the job now: touch nothing of it
            raise LeaseExpiredError(f"this controller no longer drives the job: {self.fenced}")
        deadline = time.monotonic() + META_RESTART_S
        while True:
            try:
                return unwrap(ray.get(self.meta.call.remote(name, args, kwargs)))
            except (RayActorError, ActorUnavailableError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.25)

    def datum_states(self, pipeline: str) -> dict[str, tuple[str, list[str]]]:
        result: dict[str, tuple[str, list[str]]] = self.call("datum_states", pipeline)
        return result

    def datum_states_of(self, pipeline: str, ids: list[str]) -> dict[str, tuple[str, list[str]]]:
        result: dict[str, tuple[str, list[str]]] = self.call("datum_states_of", pipeline, ids)
        return result

    def diff_base(self, pipeline: str, job_id: str, salt: str) -> Any:
        return self.call("diff_base", pipeline, job_id, salt)

    def commit_layers(self, repo: str, commit_id: str) -> Any:
        return self.call("commit_layers", repo, commit_id)

    def update_job(self, pipeline: str, job_id: str, **fields: Any) -> None:
        self.call("update_job", pipeline, job_id, **fields)

    def checkpoint_batch(self, *args: Any) -> None:
        self.call("checkpoint_batch", *args, lease_id=self.lease())

    def checkpoints(self, pipeline: str, job_id: str) -> Any:
        return self.call("checkpoints", pipeline, job_id)

    def job_is_live(self, pipeline: str, job_id: str) -> bool:
        return bool(self.call("job_is_live", pipeline, job_id))

    def finish_job(self, *args: Any) -> Any:
        return self.call("finish_job", *args, lease_id=self.lease())


class RayExecutor:
    """Batches as Ray tasks named ``raypachy:<pipeline>:<job>:<batch>``, at most
    ``parallelism`` in flight, with the pipeline's resources; or, given a ``pool`` (a class
    pipeline), on its actors: each batch goes to a free actor, and a batch whose actor died
    runs again on a new one (up to ``datum_tries`` times)."""

    def __init__(
        self,
        pipeline: str,
        job: str,
        on_waiting: Callable[[str], None] | None = None,
        images: str = "off",
        restarts: Callable[[], list[str]] | None = None,
        controller: Any = None,
        sidecar: Any = None,
        pool: WorkerPool | None = None,
        before_writes: Callable[[], Any] | None = None,
    ) -> None:
        self.pipeline, self.job, self.images = pipeline, job, images
        self.before_writes = before_writes  # called once before the first batch is submitted
        self.pending: dict[Any, tuple[int, BatchSpec]] = {}
        self.pool = pool
        self.slots: dict[Any, int] = {}  # a pool's running batches: the slot of each
        self.tries: dict[int, int] = {}  # a pool's batches: how many times each has run
        self.cancelled = False
        self.on_waiting = on_waiting
        self.waiting = ""
        self.restarts = restarts  # datums asked to restart (`raypachy restart datum`)
        # Restarts are asked for of running datums: the first look waits a round (it would
        # otherwise cost a metadata round trip before the first batch's result counts).
        self.polled = time.monotonic()
        self.stopping: list[tuple[Any, float]] = []  # restarted batches' old tasks
        self.controller = controller  # running batches report ended datums to it
        self.sidecar = sidecar
        self.on_partial: Callable[[str, dict[str, int]], None] | None = None
        self._reported: dict[str, dict[str, int]] = {}  # by batch (its first datum id)
        self._lock = threading.Lock()
        self._explained = 0.0  # when the last wait was explained (at most once a second)

    def record(self, batch: str, states: dict[str, int]) -> None:
        """A running batch's ended datums (called on another thread of the controller)."""
        with self._lock:
            self._reported[batch] = states

    def _pass_on_partials(self) -> None:
        with self._lock:
            reported, self._reported = self._reported, {}
        running = {b.datums[0].id for _, b in self.pending.values()}
        for batch, states in reported.items():
            if batch in running and self.on_partial is not None:
                self.on_partial(batch, states)

    def run(
        self, spec: PipelineSpec, batches: list[BatchSpec], parallelism: int
    ) -> Iterator[BatchResult]:
        options = task_options(spec, self.images)
        queue = list(enumerate(batches))
        if queue and self.before_writes is not None:
            self.before_writes()  # the lease that covers the batches' writes is granted
        while (queue or self.pending) and not self.cancelled:
            while queue and len(self.pending) < parallelism:
                index, batch = queue.pop(0)
                self.pending[self._submit(index, batch, options, parallelism)] = (index, batch)
            ready, _ = ray.wait(list(self.pending), num_returns=1, timeout=PARTIAL_EVERY_S)
            self._pass_on_partials()
            if not ready:  # nothing ended: say why, at most once a second
                if time.monotonic() - self._explained >= 1.0:
                    self._explained = time.monotonic()
                    self._explain_wait(options)
            elif self.waiting:  # a batch ended: the wait is over
                self._report("")
            self._restart(queue)
            for ref in ready:
                if ref not in self.pending:
                    continue  # restarted meanwhile: its new task reports
                index, batch = self.pending.pop(ref)
                slot = self.slots.pop(ref, None)
                try:
                    result = ray.get(ref)
                    states: dict[str, int] = {}
                    for r in result.results:
                        states[r.state] = states.get(r.state, 0) + 1
                    metrics.record_batch(self.pipeline, states, result.bytes_read,
                                         result.bytes_written)  # fmt: skip
                    yield result
                except TransformInitError as e:  # the class cannot start: the job fails
                    cause = getattr(e, "cause", e)  # Ray's wrapper holds what the actor raised
                    raise TransformInitError(cause.message, cause.traceback) from None
                except Exception as e:  # the task itself died: every datum of it failed
                    if slot is not None and self._rerun(slot, index, batch, spec, queue, e):
                        continue
                    error = _task_error(e)
                    yield BatchResult(None, tuple(
                        DatumResult(d.id, d.hash, "failed", (), 0, error, 0.0) for d in batch.datums
                    ))  # fmt: skip

    def _submit(
        self, index: int, batch: BatchSpec, options: dict[str, Any], parallelism: int
    ) -> Any:
        if self.pool is None:
            name = f"raypachy:{self.pipeline}:{self.job[:8]}:{index}"
            return run_batch_task.options(name=name, **options).remote(
                batch, self.sidecar, self.controller
            )
        busy = set(self.slots.values())
        slot = next(n for n in range(parallelism) if n not in busy)
        self.tries[index] = self.tries.get(index, 0) + 1
        ref = self.pool.run(slot, batch, self.sidecar, self.controller)
        self.slots[ref] = slot
        return ref

    def _rerun(
        self,
        slot: int,
        index: int,
        batch: BatchSpec,
        spec: PipelineSpec,
        queue: list[tuple[int, BatchSpec]],
        error: Exception,
    ) -> bool:
        """A pool actor died under a batch: replace it and queue the batch again, unless the
        batch has run ``datum_tries`` times already."""
        if not isinstance(error, RayActorError | ActorUnavailableError):
            return False
        assert self.pool is not None
        self.pool.replace(slot)
        if self.tries.get(index, 0) >= spec.datum_tries:
            return False
        queue.insert(0, (index, batch))
        return True

    def _stop(self, ref: Any, force: bool) -> None:
        """Stop a running batch: a task is cancelled; a pool actor is killed (Ray cannot
        interrupt a running actor method), and its slot gets a new one."""
        slot = self.slots.pop(ref, None)
        if slot is not None and self.pool is not None:
            self.pool.replace(slot)
        else:
            ray.cancel(ref, force=force)

    def _restart(self, queue: list[tuple[int, BatchSpec]]) -> None:
        """Restart the batches of datums asked to restart, within this job (Pachyderm's
        `restart datum`): the old task is interrupted (its command killed), the batch runs
        again first; a task that does not stop within RESTART_GRACE_S is killed."""
        now = time.monotonic()
        for ref, since in list(self.stopping):
            done, _ = ray.wait([ref], timeout=0)
            if done or now - since > RESTART_GRACE_S:
                if not done:
                    ray.cancel(ref, force=True)
                self.stopping.remove((ref, since))
        if self.restarts is None or now - self.polled < 1.0:
            return
        self.polled = now
        try:
            wanted = self.restarts()
        except Exception:  # the metadata actor restarting: ask again on the next round
            return
        for target in wanted:
            for ref, (index, batch) in list(self.pending.items()):
                if any(datum_matches(d, target) for d in batch.datums):
                    if ref in self.slots:
                        self._stop(ref, force=True)
                    else:
                        ray.cancel(ref)
                        self.stopping.append((ref, now))
                    del self.pending[ref]
                    queue.insert(0, (index, batch))

    def _explain_wait(self, options: dict[str, Any]) -> None:
        """Nothing finished for a while: say so if no node can ever run these tasks."""
        _, reason = check(options)
        self._report(f"waiting: {reason}" if reason else "")

    def _report(self, reason: str) -> None:
        if reason != self.waiting and self.on_waiting is not None:
            self.waiting = reason
            self.on_waiting(reason)

    def cancel(self) -> None:
        self.cancelled = True
        for ref in [*self.pending, *(r for r, _ in self.stopping)]:
            self._stop(ref, force=True)
        self.pending.clear()
        self.stopping.clear()


def _task_error(e: Exception) -> str:
    """Why a batch task died, in one line a user can act on (Ray's runtime environment
    errors are whole tracebacks of its agent, with the cause on the last line)."""
    if not isinstance(e, RuntimeEnvSetupError):
        return f"batch task failed: {type(e).__name__}: {str(e)[:500]}"
    text = str(e).strip()
    node = re.search(r"\[Node ([^\]]+)\]", text)
    where = f" on node {node.group(1)}" if node else ""
    if "No such file or directory: 'podman'" in text:
        return (
            f"podman not found{where}: --images runtime_env runs each image with podman on the "
            "node that runs the datum; install podman on every node, or serve with --images "
            "off or label"
        )
    return f"the runtime environment could not be set up{where}: {text.splitlines()[-1][:300]}"


class PipelineController:
    """Runs one pipeline's jobs, one at a time, on two threads of the controller host:
    jobs (woken by ``wake``) and cron ticks (woken by ``poke_cron``)."""

    def __init__(
        self, pipeline: str, storage: str, sidecar: Any, images: str,
        meta: Any, manifests: ManifestStore, reporter: Any,
    ) -> None:  # fmt: skip
        self.pipeline = pipeline
        self.sidecar = sidecar  # raypachy.runtime.names.FrontDoors.sidecar
        self.storage = storage
        self.images = images
        self.host = ActorHost(meta)  # one each: it carries the lease of this pipeline's job
        # Of several control planes on one database, the holder of this drives the pipeline.
        self.lease = PipelineLease(pipeline, self.host.call)
        self.manifests = manifests
        self.reporter = reporter  # the host's handle: running batches report datums to it
        self.stop_event = threading.Event()
        self.woken = threading.Event()
        self.cron_poked = threading.Event()
        self.last_error = ""
        self.job = ""  # the job being run now, if any
        self.executor: RayExecutor | DatasetExecutor | None = None
        self.pool = WorkerPool(pipeline, storage)  # a class pipeline's warm actors
        self.process = ProcessSupervisor(pipeline, storage, images, self.host.call)  # spouts
        threading.Thread(target=self._loop, name=f"jobs:{pipeline}", daemon=True).start()
        threading.Thread(target=self._cron_loop, name=f"cron:{pipeline}", daemon=True).start()

    def wake(self) -> None:
        """The pipeline may have a job to run (its inputs changed)."""
        self.woken.set()

    def poke_cron(self) -> None:
        """The pipeline's spec may have changed: read its cron inputs again (and start, stop
        or replace a spout's or service's process)."""
        self.cron_poked.set()
        self.process.poke()

    def datum_progress(self, job: str, batch: str, states: dict[str, int]) -> None:
        """A running batch says which of its datums have ended (progress per datum)."""
        executor = self.executor
        if executor is not None and executor.job == job:
            executor.record(batch, states)

    def status(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "pid": os.getpid(),
            "job": self.job,
            "last_error": redact(self.last_error[-2000:]),
            "pool": sorted(self.pool.actors),
            **self.process.status(),
        }

    def stop(self) -> None:
        """The pipeline was deleted: stop its running job's batches and its warm actors."""
        self.stop_event.set()
        self.woken.set()
        self.cron_poked.set()
        executor = self.executor
        if executor is not None:
            executor.cancel()
        self.pool.release()
        self.process.stop()

    def _idle_wait(self) -> float:
        """How long an idle controller sleeps unless woken: until its warm pool expires."""
        idle = self.pool.idle_since
        if self.pool.actors and idle is not None:
            left = self.pool.keep_warm_s - (time.monotonic() - idle)
            return min(max(left, 0.05), IDLE_RECHECK_S)
        return IDLE_RECHECK_S

    def _loop(self) -> None:
        while not self.stop_event.is_set():
            self.woken.clear()  # before claiming: a wake-up from now on is not lost
            self.host.fenced = ""
            try:
                # Kept while idle (it lapses unless taken again): the next job stays here.
                held = self.lease.hold()
                claim = self.host.call("claim_job", self.pipeline) if held else None
            except Exception as e:  # the metadata actor restarting: try again shortly
                self.last_error = f"{type(e).__name__}: {e}"
                self.stop_event.wait(1.0)
                continue
            if claim is None:
                self.pool.expire()
                if held:
                    self.woken.wait(self._idle_wait())
                else:  # not woken by changes: they come from the holder, renewing its lease
                    self.stop_event.wait(min(self._idle_wait(), self.lease.retry_s))
                continue
            self.job = claim.job
            try:
                with self.lease.kept(self._lease_lost):
                    self._run(claim)
            finally:
                self.job = ""
        with contextlib.suppress(Exception):  # the pipeline is gone: so is its lease
            self.lease.release()

    def _lease_lost(self, why: str) -> None:
        """Another control plane took the pipeline over: stop this job's batches."""
        self.last_error = f"job {self.job}: {why}"
        self.host.fenced = why
        executor = self.executor
        if executor is not None:
            executor.cancel()

    def _cron_loop(self) -> None:
        """Write cron ticks when they are due. PPS decides from the database what is due and
        says when the next tick is; a changed spec pokes this loop, so an updated schedule
        (or a cron input added by an update) is picked up at once."""
        while not self.stop_event.is_set():
            self.cron_poked.clear()
            try:
                if not self.lease.hold():  # another control plane ticks this pipeline
                    self.stop_event.wait(self.lease.retry_s)
                    continue
                due = self.host.call("tick_cron", self.pipeline)
            except Exception as e:  # the metadata actor restarting: try again shortly
                self.last_error = f"cron: {type(e).__name__}: {e}"
                self.stop_event.wait(1.0)
                continue
            wait = CRON_IDLE_S if due is None else min(due - time.time(), CRON_IDLE_S)
            self.cron_poked.wait(max(wait, 0.05))

    def _beat(self, stop: threading.Event) -> None:
        """Heartbeat the job's lease (once granted) until stopped, retrying failures. A
        lapsed lease ends the beats: the job's results are checked under the lease, so they
        are refused and the job fails saying why."""

        def lost(why: str) -> None:
            self.last_error = f"job {self.job}: {why}"

        try:
            lease = self.host.lease()
        except Exception as e:  # the job fails with it, before any batch runs
            lost(f"no lease: {type(e).__name__}: {e}")
            return
        beat_until(stop, lambda: self.host.call("heartbeat_lease", lease), lost)

    def _run(self, claim: JobClaim) -> None:
        job = claim.job
        # Granted while the job plans: its batches, which write under it, wait for it.
        self.host.grant_job_lease()
        beating = threading.Event()
        threading.Thread(target=self._beat, args=(beating,), daemon=True).start()
        pool: WorkerPool | None = None
        try:
            spec = PipelineSpec.model_validate(claim.spec)
            executor: RayExecutor | DatasetExecutor
            if is_dataset_pipeline(claim.spec):
                parallelism = 1  # one task drives the dataset; Ray Data spreads the work
                self.host.lease()  # its task writes at once
                executor = DatasetExecutor(
                    self.pipeline, job, self.images,
                    lambda: bool(self.host.job_is_live(self.pipeline, job)),
                    self.reporter,
                )  # fmt: skip
            else:
                free = ray.available_resources().get("CPU", 1.0)
                if is_class_pipeline(claim.spec):
                    pool = self.pool
                    pool.prepare(spec, task_options(spec, self.images))
                    free += pool.held_cpus()  # the warm actors' CPUs are this job's to use
                parallelism = default_parallelism(spec, free)
                if pool is not None:
                    if spec.ray is not None and spec.ray.concurrency:
                        parallelism = spec.ray.concurrency
                    pool.shrink(parallelism)
                executor = RayExecutor(
                    self.pipeline, job,
                    lambda reason: self.host.update_job(self.pipeline, job, reason=reason),
                    self.images,
                    lambda: list(self.host.call("take_datum_restarts", self.pipeline, job)),
                    self.reporter,
                    self.sidecar,
                    pool,
                    self.host.lease,
                )  # fmt: skip
            self.executor = executor
            started = time.monotonic()
            job_info = run_job(
                claim, self.host, self.manifests, self.storage, executor, parallelism
            )
            if job_info is not None:
                metrics.record_job(self.pipeline, job_info.state, time.monotonic() - started,
                                   job_info.datums.skipped)  # fmt: skip
        except Exception as e:
            reason = e.message if isinstance(e, RaypachyError) else f"{type(e).__name__}: {e}"
            self.last_error = traceback.format_exc()
            if self.host.fenced:  # not ours to fail: the control plane that took over runs it
                return
            try:
                self.host.call("fail_job", self.pipeline, job, f"job could not run: {reason}")
            except Exception:
                time.sleep(1.0)  # the job stays claimed; a restarted controller resumes it
        finally:
            self.executor = None
            if pool is not None:
                failures = pool.finish(job)
                if failures:
                    self.last_error = f"job {job}: finish_job failed: {failures[0]}"
            beating.set()
            # An unreleased lease expires by itself; the job's outcome matters more.
            with contextlib.suppress(Exception):  # (not granted: nothing to release)
                self.host.call("release_lease", self.host.lease())
