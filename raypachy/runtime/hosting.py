"""The controller host: every pipeline's controller as threads of one actor.

One process for all pipelines instead of one each, and no polling: the host holds a single
long poll on the metadata's change counter; when it moves, the host asks which pipelines
have jobs to run and wakes only their controllers. Fifty idle pipelines therefore cost one
blocked call, not a thousand claims a second.

Named ``raypachy:controllers`` in namespace ``raypachy``, detached, no CPU, restarted by Ray
if it dies; a restarted host asks the metadata actor which pipelines exist, and each
controller resumes the job it was running.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import ray

from raypachy.runtime.controller import PipelineController
from raypachy.runtime.names import HEAD_NODE, METADATA_ACTOR, NAMESPACE, unwrap
from raypachy.storage import ManifestStore, open_backend

WATCH_S = 30.0  # one long poll on the change counter lasts at most this
RETRY_S = 1.0  # after the metadata actor failed to answer (restarting)


@ray.remote(num_cpus=0, max_restarts=-1, max_concurrency=16, resources=HEAD_NODE)
class ControllerHost:
    """Starts, wakes and stops pipeline controllers; routes datum progress to them."""

    def __init__(self, storage: str, sidecar: Any, images: str = "off") -> None:
        self.storage, self.sidecar, self.images = storage, sidecar, images
        self.meta = ray.get_actor(METADATA_ACTOR, namespace=NAMESPACE)
        self.manifests = ManifestStore(open_backend(storage))  # shared: it is thread-safe
        self.me = ray.get_runtime_context().current_actor
        self.controllers: dict[str, PipelineController] = {}
        self.lock = threading.Lock()
        self.last_error = ""
        self.synced = False  # told by the metadata actor which pipelines exist
        # Both ask the metadata actor, which may be the one creating this host right now:
        # they run on threads, so this constructor returns without waiting for it.
        threading.Thread(target=self._adopt, name="adopt", daemon=True).start()
        threading.Thread(target=self._watch, name="watch", daemon=True).start()

    def pid(self) -> int:
        return os.getpid()

    def sync(self, pipelines: list[str]) -> None:
        """Run a controller for each of ``pipelines`` and none other; every controller
        re-reads its spec (the call follows a change to the set of pipelines or a spec)."""
        with self.lock:
            self.synced = True
            for name in pipelines:
                if name not in self.controllers:
                    self.controllers[name] = PipelineController(
                        name, self.storage, self.sidecar, self.images,
                        self.meta, self.manifests, self.me,
                    )  # fmt: skip
            for name in set(self.controllers) - set(pipelines):
                self.controllers.pop(name).stop()
            for controller in self.controllers.values():
                controller.poke_cron()
                controller.wake()

    def datum_progress(self, pipeline: str, job: str, batch: str, states: dict[str, int]) -> None:
        controller = self.controllers.get(pipeline)
        if controller is not None:
            controller.datum_progress(job, batch, states)

    def status(self) -> dict[str, dict[str, Any]]:
        """Each controller's pid, running job, warm pool and last error."""
        with self.lock:
            return {name: c.status() for name, c in self.controllers.items()}

    def _call(self, name: str, *args: Any) -> Any:
        return unwrap(ray.get(self.meta.call.remote(name, args, {})))

    def _adopt(self, again: bool = False) -> None:
        """After a restart nobody tells the host which pipelines exist: ask (``again``: a
        pipeline appeared that this host does not know)."""
        while True:
            try:
                names = [p.name for p in self._call("list_pipelines")]
            except Exception as e:  # the metadata actor restarting
                self.last_error = f"{type(e).__name__}: {e}"
                threading.Event().wait(RETRY_S)
                continue
            if again or not self.synced:  # else the metadata actor's own word came first
                self.sync(names)
            return

    def _watch(self) -> None:
        """Wake the controllers of pipelines with jobs to run, each time the metadata moves."""
        version: int | None = None
        while True:
            try:
                version = ray.get(self.meta.wait_change.remote(version, WATCH_S))
                busy = self._call("pipelines_with_jobs")
            except Exception as e:  # restarting: wake everyone once it answers again
                self.last_error = f"{type(e).__name__}: {e}"
                version = None
                threading.Event().wait(RETRY_S)
                continue
            if any(name not in self.controllers for name in busy):
                # Created through another control plane on the same database: adopt it.
                threading.Thread(target=self._adopt, args=(True,), daemon=True).start()
            for name in busy:
                controller = self.controllers.get(name)
                if controller is not None:
                    controller.wake()
