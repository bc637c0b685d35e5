"""Spouts and services on Ray: one restartable actor per pipeline runs its process for good.

The actor, named ``raypachy:<pipeline>:spout`` (or ``:service``) in the dashboard, starts the
process in its ``__init__``. When the process exits or crashes the actor starts it again,
after a pause that doubles while it keeps crashing (1 s up to 30 s; back to 1 s once it ran
a minute), as Kubernetes restarts a pod's container; when the actor itself dies (its node,
its worker), Ray starts it again (``max_restarts=-1``). A command runs
as a datum's does (``/pfs`` bound privately), with ``RAYPACHY_ADDRESS`` and the means to
authenticate in its environment, so ``raypachy put file`` inside it commits as the pipeline;
a ``@raypachy.spout`` function runs in a process of its own too (``raypachy.client.spout``),
called with a connected ``Client`` and its output repo.

A service's actor materialises its inputs' heads under ``/pfs/<input>``, watches them, and
starts its command again on each new input commit; ``external_port`` is forwarded to the
``internal_port`` the command listens on.

What the process prints goes to the pipeline's process log (its last MiB, rewritten about
once a second), which ``raypachy logs -p`` shows. The controller host's
``ProcessSupervisor`` keeps the actor in step with the pipeline: made when it runs, killed
(process and all) when it is stopped, deleted or changed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import ray

from raypachy.errors import NotFoundError
from raypachy.pps.datums import iter_leaves
from raypachy.pps.longrunning import Kind, kind_of
from raypachy.pps.sandbox import sandbox_argv
from raypachy.pps.spec import PipelineSpec
from raypachy.runtime.names import API_ACTOR, METADATA_ACTOR, NAMESPACE, long_running_name, unwrap
from raypachy.runtime.portforward import PortForward
from raypachy.runtime.processlog import ProcessLog
from raypachy.runtime.resources import task_options
from raypachy.storage import ChunkStore, ManifestStore, open_backend
from raypachy.storage.reader import iter_bytes
from raypachy.storage.tree import tree_of

RESTART_PAUSE_S = 1.0  # a crashed process is started again after this, doubled while it
MAX_PAUSE_S = 30.0  # keeps crashing (up to this), and back to the first once it ran
HEALTHY_S = 60.0  # this long
WATCH_S = 1.0  # how often a service looks at its inputs' heads
STOP_GRACE_S = 5.0  # SIGTERM, then SIGKILL after this
NAME_FREE_S = 30.0  # how long a new actor waits for a killed one's name to be released


def _die_with_parent() -> None:
    """In the child before exec: killed when the actor's process dies (PR_SET_PDEATHSIG)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


def _api_env() -> dict[str, str]:
    """What lets a process reach the API: the address, and the home (its token comes from
    the control plane, ``pipeline_token``, never from the node's environment)."""
    env: dict[str, str] = {}
    address = os.environ.get("RAYPACHY_ADDRESS")
    if not address:
        with contextlib.suppress(Exception):
            address = api_url()
    if address:
        env["RAYPACHY_ADDRESS"] = address
    with contextlib.suppress(Exception):
        meta = ray.get_actor(METADATA_ACTOR, namespace=NAMESPACE)
        home = ray.get(meta.home.remote(), timeout=30)
        if home:
            env["RAYPACHY_HOME"] = home
    return env


def api_url() -> str:
    """The API's URL as seen from this node: an API serving on every address of the head is
    reached at the head's address (the GCS's), one on loopback only on the head itself."""
    api = ray.get_actor(API_ACTOR, namespace=NAMESPACE)
    info = ray.get(api.info.remote(), timeout=30)
    host = info["host"]
    if host in ("0.0.0.0", "::"):
        host = ray.get_runtime_context().gcs_address.rsplit(":", 1)[0]
    host = f"[{host}]" if ":" in host else host
    return f"{'https' if info.get('tls') else 'http'}://{host}:{info['port']}"


@ray.remote(max_restarts=-1, max_task_retries=0, max_concurrency=4)
class LongRunningProcess:
    """A spout's or service's process, started again when it exits."""

    def __init__(self, pipeline: str, storage: str, spec: dict[str, Any]) -> None:
        if ray.get_runtime_context().was_current_actor_reconstructed:
            time.sleep(RESTART_PAUSE_S)
        self.pipeline, self.storage = pipeline, storage
        self.spec = PipelineSpec.model_validate(spec)
        self.kind: Kind = kind_of(spec) or "spout"
        self.log = ProcessLog(storage, pipeline)
        self.proc: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()
        self.stopping = False
        self.stopped = threading.Event()  # wakes a restart pause
        self.pause = RESTART_PAUSE_S
        self.started = 0.0  # when the process last started (monotonic)
        self.root = tempfile.mkdtemp(prefix=f"raypachy-{self.kind}-")
        self.meta = ray.get_actor(METADATA_ACTOR, namespace=NAMESPACE)
        self.api_env = _api_env()
        self.heads: dict[str, tuple[str, str]] = {}
        self.url = ""
        self.proxy: PortForward | None = None
        service = self.spec.service
        if service is not None:
            host = ray.util.get_node_ip_address()
            port = service.external_port or service.internal_port
            if service.external_port and service.external_port != service.internal_port:
                self.proxy = PortForward(host, service.external_port, service.internal_port)
                if self.proxy.error:
                    self.log.note(self.proxy.error)
            self.url = f"http://{host}:{port}"
        try:
            token = self._call("pipeline_token", pipeline)
            # Auth active: the process acts as its pipeline, not as the cluster; before, it
            # gets the cluster's token (worker nodes hold none of their own).
            if token:
                self.api_env["RAYPACHY_TOKEN"] = token
                self.log.hidden.append(token)
            if service is not None:
                self.heads = self._first_heads()
                self._materialize(self.heads)
            self._start()
        except Exception as e:  # no sandbox, storage away: say so in the pipeline's logs
            self.log.note(f"cannot start the {self.kind}: {type(e).__name__}: {e}")
            self.log.flush()
            raise
        if service is not None:
            threading.Thread(target=self._watch, name="inputs", daemon=True).start()

    # --- what the supervisor and tests ask ------------------------------------------------

    def info(self) -> dict[str, Any]:
        proc = self.proc
        return {
            "kind": self.kind, "actor_pid": os.getpid(), "url": self.url,
            "pid": proc.pid if proc is not None and proc.poll() is None else None,
            "inputs": {name: commit for name, (_, commit) in self.heads.items()},
        }  # fmt: skip

    def stop(self) -> None:
        """Stop the process (and what it started) before the actor is killed."""
        self.stopping = True
        self.stopped.set()
        self._kill()
        self.log.note(f"{self.kind} stopped")
        self.log.flush()
        shutil.rmtree(self.root, ignore_errors=True)

    # --- a command -----------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = {
            "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
            "PPS_PIPELINE_NAME": self.pipeline,
            **self.api_env,
            **{str(k): str(v) for k, v in self.spec.transform.env.items()},
        }
        for name in self.heads:
            env[name] = f"/pfs/{name}"
        if self.spec.transform.python is not None:
            env["PYTHONUNBUFFERED"] = "1"  # its prints reach the log as they are made
        return {**os.environ, **env, "RAYPACHY_WORKDIR": self._workdir()}

    def _workdir(self) -> str:
        return self.spec.transform.working_dir or self.root

    def _argv(self) -> tuple[list[str], str]:
        """What runs, and how the log names it."""
        t = self.spec.transform
        if t.python is not None:  # the function, given a client, in a process of its own
            code = [sys.executable, "-m", "raypachy.client.spout", self.storage, t.python.code]
            return [*code, self.pipeline], t.python.function
        pfs = os.path.join(self.root, "pfs")
        os.makedirs(os.path.join(pfs, "out"), exist_ok=True)
        return sandbox_argv(list(t.cmd), pfs, self._workdir()), " ".join(t.cmd)[:200]

    def _start(self) -> None:
        """Start the process, and a thread that reads its output and restarts it. (The
        spawning thread must outlive the process: PR_SET_PDEATHSIG fires when the thread
        that started a child ends, not only its process.)"""
        proc = self._spawn()
        threading.Thread(target=self._run, args=(proc,), name="output", daemon=True).start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        t = self.spec.transform
        argv, shown = self._argv()
        with self.lock:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                env=self._env(), start_new_session=True, preexec_fn=_die_with_parent,
            )  # fmt: skip
            proc = self.proc
        self.started = time.monotonic()
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write("\n".join(t.stdin).encode() + (b"\n" if t.stdin else b""))
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
        actor = ray.get_runtime_context().get_actor_name()
        self.log.note(f"{self.kind} started: pid {proc.pid} in actor {actor}: {shown}")
        return proc

    def _run(self, proc: subprocess.Popen[bytes]) -> None:
        """Log what the process prints; when it ends by itself, start it again (from this
        thread, which then reads the new one)."""
        while True:
            assert proc.stdout is not None
            while piece := os.read(proc.stdout.fileno(), 65536):
                self.log.write(piece)
            proc.stdout.close()
            code = proc.wait()
            with self.lock:
                replaced = proc is not self.proc  # a service restarted on new input
            if replaced or self.stopping:
                return
            if time.monotonic() - self.started >= HEALTHY_S:
                self.pause = RESTART_PAUSE_S
            self.log.note(f"process exited with code {code}: restarting in {self.pause:g}s")
            self.stopped.wait(self.pause)
            self.pause = min(self.pause * 2, MAX_PAUSE_S)
            with self.lock:
                if proc is not self.proc or self.stopping:  # replaced or stopped meanwhile
                    return
            try:
                proc = self._spawn()
            except Exception as e:  # cannot start at all: the actor goes, Ray restarts it
                self._exit(f"cannot start the process again ({type(e).__name__}: {e})")

    def _exit(self, why: str) -> None:
        """This actor cannot go on: it ends, and Ray starts it again."""
        self.log.note(f"{why}: restarting")
        self.log.flush()
        self._kill()
        shutil.rmtree(self.root, ignore_errors=True)
        os._exit(1)

    def _kill(self) -> None:
        with self.lock:
            proc = self.proc
        self._kill_one(proc)

    # --- a service's inputs --------------------------------------------------------------

    def _call(self, name: str, *args: Any) -> Any:
        return unwrap(ray.get(self.meta.call.remote(name, args, {}), timeout=60))

    def _first_heads(self) -> dict[str, tuple[str, str]]:
        """The heads to start with, riding out a restarting metadata actor."""
        deadline = time.monotonic() + NAME_FREE_S * 2
        while True:
            try:
                return self._heads()
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(WATCH_S)

    def _heads(self) -> dict[str, tuple[str, str]]:
        """Each input's newest finished commit (inputs without one are left out); raises
        when the metadata actor does not answer, so a service never restarts on a head it
        could not read."""
        heads: dict[str, tuple[str, str]] = {}
        for leaf in iter_leaves(self.spec.input, self.pipeline):
            try:
                commit = self._call("inspect_commit", f"{leaf.repo}@{leaf.branch}")
                while commit.finished is None and commit.parent:
                    commit = self._call("inspect_commit", f"{leaf.repo}@{commit.parent}")
            except NotFoundError:  # no commit yet
                continue
            if commit.finished is not None:
                heads[leaf.input_name] = (leaf.repo, commit.id)
        return heads

    def _materialize(self, heads: dict[str, tuple[str, str]]) -> None:
        """Write each input's head under ``pfs/<input>`` (the old files go)."""
        backend = open_backend(self.storage)
        manifests, chunks = ManifestStore(backend), ChunkStore(backend)
        pfs = os.path.join(self.root, "pfs")
        for leaf in iter_leaves(self.spec.input, self.pipeline):
            base = os.path.join(pfs, leaf.input_name)
            shutil.rmtree(base, ignore_errors=True)
            os.makedirs(base)
            if leaf.input_name not in heads:
                continue
            repo, commit = heads[leaf.input_name]
            layers = self._call("commit_layers", repo, commit)
            for path, data in tree_of(manifests, layers).scan():
                target = base + path
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "wb") as f:
                    for piece in iter_bytes(chunks, data):
                        f.write(piece)

    def _watch(self) -> None:
        """Start the command again on each new input commit (Pachyderm's services do)."""
        while not self.stopping:
            time.sleep(WATCH_S)
            try:
                heads = self._heads()
            except Exception:  # the metadata actor restarting: look again
                continue
            if heads == self.heads or self.stopping:
                continue
            with self.lock:
                old, self.proc = self.proc, None
            self._kill_one(old)
            try:
                self._materialize(heads)
            except Exception as e:
                self._exit(f"cannot read the new input ({type(e).__name__}: {e})")
            self.heads = heads
            shown = ", ".join(f"{r}@{c}" for r, c in heads.values())
            self.log.note(f"new input {shown}: starting the service again")
            self._start()

    @staticmethod
    def _kill_one(proc: subprocess.Popen[bytes] | None) -> None:
        """SIGTERM to the process group, SIGKILL if it lingers."""
        if proc is None or proc.poll() is not None:
            return
        for signum in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signum)
            try:
                proc.wait(STOP_GRACE_S)
                return
            except subprocess.TimeoutExpired:
                continue


def actor_options(spec: PipelineSpec, images: str) -> dict[str, Any]:
    """Ray options of the process's actor: the pipeline's resources, except that a process
    that asks for none takes no CPU (it mostly waits, and must not starve the datums)."""
    options = {k: v for k, v in task_options(spec, images).items() if k != "max_retries"}
    if spec.resource_requests is None and spec.resource_limits is None:
        options["num_cpus"] = 0
    return options


class ProcessSupervisor:
    """Keeps one pipeline's spout or service actor in step with the pipeline, on a thread
    of the controller host: woken by ``poke`` whenever a pipeline or its state changes."""

    def __init__(self, pipeline: str, storage: str, images: str, call: Any) -> None:
        self.pipeline, self.storage, self.images, self.call = pipeline, storage, images, call
        self.woken = threading.Event()
        self.stopped = threading.Event()
        self.lock = threading.Lock()  # one of reconcile and stop at a time
        self.actor: Any = None
        self.key = ""  # the version the actor runs
        self.name = ""  # the actor's name, while there is one
        self.last_error = ""
        self.woken.set()
        threading.Thread(target=self._loop, name=f"process:{pipeline}", daemon=True).start()

    def poke(self) -> None:
        self.woken.set()

    def status(self) -> dict[str, str]:
        """The process's actor, for ``raypachy status`` (nothing for other pipelines)."""
        if not self.name and not self.last_error:
            return {}
        return {"process": self.name, "process_error": self.last_error}

    def stop(self) -> None:
        """The pipeline was deleted: its process goes (on a thread: the host's sync that
        calls this does not wait for the process to end)."""
        self.stopped.set()
        self.woken.set()
        threading.Thread(target=self._stop, name=f"stop:{self.pipeline}", daemon=True).start()

    def _stop(self) -> None:
        with self.lock:
            self._kill()

    def _loop(self) -> None:
        while not self.stopped.is_set():
            self.woken.wait()
            self.woken.clear()
            if self.stopped.is_set():
                return
            try:
                with self.lock:
                    if self.stopped.is_set():
                        return
                    self._reconcile()
                self.last_error = ""
            except Exception as e:  # the metadata actor restarting: look again soon
                self.last_error = f"{type(e).__name__}: {e}"
                self.stopped.wait(1.0)
                self.woken.set()

    def _reconcile(self) -> None:
        info = self.call("inspect_pipeline", self.pipeline)
        kind = kind_of(info.spec)
        if kind is None or info.state != "running":
            self._kill()
            return
        if self.actor is not None and self.key == info.version:
            return
        self._kill()
        spec = PipelineSpec.model_validate(info.spec)
        self.actor = self._create(kind, spec)
        self.key, self.name = info.version, long_running_name(self.pipeline, kind)

    def _create(self, kind: Kind, spec: PipelineSpec) -> Any:
        options = actor_options(spec, self.images)
        name = long_running_name(self.pipeline, kind)
        deadline = time.monotonic() + NAME_FREE_S
        while True:
            try:
                return LongRunningProcess.options(  # type: ignore[attr-defined]
                    name=name, namespace=NAMESPACE, **options
                ).remote(self.pipeline, self.storage, spec.to_json())
            except ValueError:  # the name of a killed actor is not released yet
                if time.monotonic() > deadline or self.stopped.is_set():
                    raise
                time.sleep(0.1)

    def _kill(self) -> None:
        actor, self.actor, self.key, self.name = self.actor, None, "", ""
        if actor is None:
            return
        with contextlib.suppress(Exception):  # already gone, or never started
            ray.get(actor.stop.remote(), timeout=STOP_GRACE_S * 2 + 5)
        with contextlib.suppress(Exception):
            ray.kill(actor, no_restart=True)
