"""``Client``: the API (``raypachy.pachd.API``) over HTTP, plus the direct data plane.

Every verb is one line: ``_call`` makes its request from the verb table and decodes the
answer by the verb's return type. Written by hand: what streams bytes, what waits longer
than one request may, and what writes straight to storage.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import httpx

from raypachy import errors
from raypachy.client.auth import AuthClient
from raypachy.client.requests import build
from raypachy.client.transactions import TransactionClient
from raypachy.client.transport import RAW, Transport
from raypachy.client.writes import ClientWrites, Leases
from raypachy.pachd.api import API, UNSET, Unset
from raypachy.pachd.verbs import VERBS
from raypachy.pachd.wire import decode_result
from raypachy.pfs.address import parse_address
from raypachy.pfs.localtree import local_tree, warn_skipped
from raypachy.pfs.model import (
    Branch,
    Commit,
    CommitRef,
    FileChange,
    FileInfo,
    FsckReport,
    GCReport,
    Project,
    Repo,
    Trigger,
)
from raypachy.pfs.names import normalize_path
from raypachy.pfs.watch import follow_branch

if TYPE_CHECKING:
    from raypachy.pfs.modification import Modification
    from raypachy.pps.model import (
        DatumInfo,
        JobInfo,
        PipelineCreated,
        PipelineInfo,
        PipelineVersion,
        SecretInfo,
    )
    from raypachy.storage import ChunkStore, FileData, ManifestStore


class Client(TransactionClient, API, AuthClient):
    """The API of a running control plane (``raypachy.connect()``): HTTP for metadata, and
    for bytes the storage itself when this client can reach it."""

    threads = 2

    def __init__(
        self,
        address: str | None = None,
        timeout: float = 120.0,
        on_unreachable: Callable[[], str] | None = None,
        token: str | None = None,
        home: str | os.PathLike[str] | None = None,
    ) -> None:
        """``token``: the API token, default ``RAYPACHY_TOKEN``, else, for the local cluster
        (no address given, the address ``raypachy up`` recorded in the home, or ``home``
        given), the token ``raypachy up`` keeps in ``home`` (default ``$RAYPACHY_HOME``)."""
        self._transport = Transport(address, timeout, token, home, on_unreachable)
        self._leases = Leases(self._transport)

    @property
    def address(self) -> str:
        """Where the API is (after a local start, the address it answers on)."""
        return self._transport.address

    def close(self) -> None:
        """Close the connection to the API."""
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, name: str, /, **args: Any) -> Any:
        """Ask verb ``name`` with ``args`` over HTTP; its result, decoded."""
        verb = VERBS[name]
        request = build(verb, args)
        if verb.cursor:
            found = self._transport.get_all(request.path, args.get("limit"), request.params)
            return decode_result(name, found)
        response = self._transport.send(
            request.method, request.path, params=request.params or None, json=request.json
        )
        data = response.json()
        return decode_result(name, data[verb.key] if verb.key else data)

    # --- cluster ------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """Is the API up (no token needed): ``{"ok": true, "version": ...}``."""
        result: dict[str, Any] = self._transport.send("GET", "/healthz").json()
        return result

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self._transport.send("GET", "/v1/status").json()
        return result

    @functools.cached_property
    def storage_uri(self) -> str:
        """The storage the cluster keeps chunks in."""
        uri: str = self._transport.send("GET", "/v1/config").json()["storage"]
        return uri

    # --- repos and branches ---------------------------------------------------------------

    def create_repo(self, name: str, description: str = "", update: bool = False) -> Repo:
        return self._call("create_repo", name=name, description=description, update=update)  # type: ignore[no-any-return]

    def inspect_repo(self, name: str) -> Repo:
        return self._call("inspect_repo", name=name)  # type: ignore[no-any-return]

    def list_repos(self) -> list[Repo]:
        return self._call("list_repos")  # type: ignore[no-any-return]

    def delete_repo(self, name: str, force: bool = False) -> list[str]:
        return self._call("delete_repo", name=name, force=force)  # type: ignore[no-any-return]

    def create_project(self, name: str, description: str = "", update: bool = False) -> Project:
        return self._call("create_project", name=name, description=description, update=update)  # type: ignore[no-any-return]

    def inspect_project(self, name: str) -> Project:
        return self._call("inspect_project", name=name)  # type: ignore[no-any-return]

    def list_projects(self) -> list[Project]:
        return self._call("list_projects")  # type: ignore[no-any-return]

    def delete_project(self, name: str, force: bool = False) -> list[str]:
        return self._call("delete_project", name=name, force=force)  # type: ignore[no-any-return]

    def create_branch(
        self, repo: str, name: str, head: str | None = None, expected_head: object = UNSET,
        trigger: Trigger | Unset | None = UNSET,
    ) -> Branch:  # fmt: skip
        return self._call(  # type: ignore[no-any-return]
            "create_branch", repo=repo, name=name, head=head, expected_head=expected_head,
            trigger=trigger,
        )  # fmt: skip

    def inspect_branch(self, repo: str, name: str) -> Branch:
        return self._call("inspect_branch", repo=repo, name=name)  # type: ignore[no-any-return]

    def list_branches(self, repo: str) -> list[Branch]:
        return self._call("list_branches", repo=repo)  # type: ignore[no-any-return]

    def delete_branch(self, repo: str, name: str) -> None:
        self._call("delete_branch", repo=repo, name=name)

    # --- commits ----------------------------------------------------------------------------

    def start_commit(
        self,
        target: str,
        parent: str | None = None,
        description: str = "",
        commit_id: str | None = None,
        provenance: Iterable[CommitRef] = (),
        origin: str = "user",
    ) -> Commit:
        return self._call(  # type: ignore[no-any-return]
            "start_commit", target=target, parent=parent, description=description,
            commit_id=commit_id, provenance=list(provenance), origin=origin,
        )  # fmt: skip

    def finish_commit(
        self, target: str, error: str | None = None, description: str | None = None
    ) -> Commit:
        return self._call(  # type: ignore[no-any-return]
            "finish_commit", target=target, error=error, description=description
        )

    def find_commits(self, target: str, path: str) -> list[Commit]:
        return self._call("find_commits", target=target, path=path)  # type: ignore[no-any-return]

    def file_history(self, target: str, path: str = "/", history_n: int = -1) -> list[FileInfo]:
        return self._call(  # type: ignore[no-any-return]
            "file_history", target=target, path=path, history_n=history_n
        )

    def edit_metadata(
        self,
        kind: str,
        target: str,
        add: dict[str, str] | None = None,
        remove: list[str] | None = None,
        replace: dict[str, str] | None = None,
    ) -> dict[str, str]:
        return self._call(  # type: ignore[no-any-return]
            "edit_metadata", kind=kind, target=target, add=add, remove=remove, replace=replace
        )

    def inspect_commit(self, target: str) -> Commit:
        return self._call("inspect_commit", target=target)  # type: ignore[no-any-return]

    def list_commits(
        self,
        repo: str | None = None,
        branch: str | None = None,
        limit: int | None = None,
        start_after: str | None = None,
    ) -> list[Commit]:
        return self._call(  # type: ignore[no-any-return]
            "list_commits", repo=repo, branch=branch, limit=limit, start_after=start_after
        )

    def commit_set(self, commit_id: str) -> list[Commit]:
        return self._call("commit_set", commit_id=commit_id)  # type: ignore[no-any-return]

    def _wait(self, name: str, path: str, body: dict[str, Any], timeout: float | None) -> Any:
        """A wait longer than the server holds one request (30 s): asked again until done."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:
                data = self._transport.send("POST", path, json={**body, "timeout": left}).json()
                return decode_result(name, data)
            except errors.WaitTimeoutError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    def wait_commit(self, target: str, timeout: float | None = None) -> Commit:
        return self._wait("wait_commit", "/v1/commits/wait", {"target": target}, timeout)  # type: ignore[no-any-return]

    def wait_commit_set(self, commit_id: str, timeout: float | None = None) -> list[Commit]:
        path = f"/v1/commitsets/{commit_id}/wait"
        return self._wait("wait_commit_set", path, {}, timeout)  # type: ignore[no-any-return]

    def subscribe_commits(
        self,
        repo: str,
        branch: str = "master",
        timeout: float | None = None,
        from_start: bool = False,
    ) -> Iterator[Commit]:
        return follow_branch(
            lambda n: self.list_commits(repo, branch, n), timeout, from_start, self.wait_change
        )

    def wait_change(self, since: int | None, timeout: float) -> int:
        """Block (on the server, holding no thread there) until the metadata changes."""
        body = {"since": since, "timeout": timeout}
        version: int = self._transport.send("POST", "/v1/changes/wait", json=body).json()["version"]
        return version

    def delete_commit(self, target: str) -> list[str]:
        return self._call("delete_commit", target=target)  # type: ignore[no-any-return]

    def squash_commit(self, target: str) -> list[str]:
        return self._call("squash_commit", target=target)  # type: ignore[no-any-return]

    # --- files: reading ---------------------------------------------------------------------

    def list_files(
        self, target: str, path: str = "/", limit: int | None = None, start_after: str | None = None
    ) -> list[FileInfo]:
        return self._call(  # type: ignore[no-any-return]
            "list_files", target=target, path=path, limit=limit, start_after=start_after
        )

    def glob_files(
        self, target: str, pattern: str, limit: int | None = None, start_after: str | None = None
    ) -> list[FileInfo]:
        return self._call(  # type: ignore[no-any-return]
            "glob_files", target=target, pattern=pattern, limit=limit, start_after=start_after
        )

    def inspect_file(self, target: str, path: str = "/") -> FileInfo:
        return self._call("inspect_file", target=target, path=path)  # type: ignore[no-any-return]

    def diff_files(self, new: str, old: str | None = None, path: str = "/") -> list[FileChange]:
        return self._call("diff_files", new=new, old=old, path=path)  # type: ignore[no-any-return]

    def walk_data(
        self, target: str, path: str = "/", limit: int | None = None, start_after: str | None = None
    ) -> list[tuple[str, FileData]]:
        return self._call(  # type: ignore[no-any-return]
            "walk_data", target=target, path=path, limit=limit, start_after=start_after
        )

    def _file_data(self, target: str, path: str) -> FileData:
        found = self.walk_data(target, path, limit=1)
        if not found or found[0][0] != normalize_path(path):
            info = self.inspect_file(target, path)  # PathNotFoundError if nothing is there
            raise errors.PathNotFoundError(
                f"{info.path} is a directory in {target}: use -o LOCAL_DIR"
            )
        return found[0][1]

    def open_file(self, target: str, path: str) -> Iterator[bytes]:
        if not self.direct_storage:
            return self._download(target, path)
        from raypachy.storage.reader import iter_bytes

        return iter_bytes(self.chunks, self._file_data(target, path))

    def _download(self, target: str, path: str) -> Iterator[bytes]:
        params = {"target": target, "path": path}
        with self._transport.stream("GET", "/v1/files/content", params=params) as r:
            yield from r.iter_bytes()

    def get_file(self, target: str, path: str) -> bytes:
        return b"".join(self.open_file(target, path))

    def read_range(self, target: str, path: str, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        if self.direct_storage:
            from raypachy.storage.reader import iter_range

            data = self._file_data(target, path)
            return b"".join(iter_range(self.chunks, data, max(0, start), min(end, data.size)))
        headers = {"Range": f"bytes={start}-{end - 1}"}
        params = {"target": target, "path": path}
        try:
            response = self._transport.send(
                "GET", "/v1/files/content", params=params, headers=headers
            )
        except errors.RangeNotSatisfiableError:
            return b""  # the range starts at or past the end of the file
        if response.status_code == 206:
            return response.content
        return response.content[start:end]  # a server that ignores ranges sends everything

    def get_to(
        self,
        target: str,
        path: str,
        dest: str | os.PathLike[str],
        on_progress: Callable[[int], None] | None = None,
    ) -> int:
        from raypachy.pfs import localfs

        path = normalize_path(path)
        if not self.direct_storage:
            raise errors.UnavailableError(
                f"this client cannot reach storage {self.storage_uri}: get files one by one"
            )
        return localfs.export(self.chunks, self.walk_data(target, path), path, dest, on_progress)

    # --- files: writing -----------------------------------------------------------------------

    @functools.cached_property
    def direct_storage(self) -> bool:
        """Can this client read and write the storage itself (else bytes go via the API)?"""
        mode = os.environ.get("RAYPACHY_DATA_PLANE", "auto")
        if mode in ("direct", "api"):
            return mode == "direct"
        parsed = urlparse(self.storage_uri)
        if parsed.scheme == "file":
            return os.path.isdir(parsed.netloc + parsed.path)
        return parsed.scheme == "s3"

    @functools.cached_property
    def _stores(self) -> tuple[ChunkStore, ManifestStore]:
        from raypachy.storage import ChunkStore, ManifestStore, open_backend

        backend = open_backend(self.storage_uri)
        return ChunkStore(backend), ManifestStore(backend)

    @property
    def chunks(self) -> ChunkStore:
        """The chunk store of the cluster's storage (direct data plane)."""
        return self._stores[0]

    @property
    def manifests(self) -> ManifestStore:
        """The manifest store of the cluster's storage (direct data plane)."""
        return self._stores[1]

    def modify(self, target: str, on_progress: Callable[[int], None] | None = None) -> Modification:
        if not self.direct_storage:
            raise errors.UnavailableError(
                f"this client cannot reach storage {self.storage_uri}: put files one at a "
                "time (they go through the API), or give it access to the storage"
            )
        from raypachy.pfs.modification import Modification

        return Modification(ClientWrites(self), parse_address(target), on_progress)

    def put_file(self, target: str, path: str, source: Any, append: bool = False) -> Commit:
        if not self.direct_storage:
            return self._upload(target, path, source, append)
        with self.modify(target) as m:
            m.put(path, source, append=append)
        return m.result()

    def upload_file(self, target: str, path: str, source: Any, append: bool = False) -> Commit:
        """Put ``source`` (bytes, a binary stream or a local path) through the API, whatever
        the data plane: for a small file one request costs less than opening the storage."""
        return self._upload(target, path, source, append)

    def _upload(self, target: str, path: str, source: Any, append: bool) -> Commit:
        if isinstance(source, os.PathLike):
            with open(source, "rb") as f:
                return self._upload(target, path, f, append)
        params = {"target": target, "path": path, "append": str(append).lower()}
        response = self._transport.send(
            "POST", "/v1/files/upload", params=params, content=source, headers=RAW
        )
        return decode_result("put_file", response.json())  # type: ignore[no-any-return]

    def put_dir(self, target: str, path: str, local_dir: str | os.PathLike[str]) -> Commit:
        if not self.direct_storage:
            commit, skipped = self._upload_tree(target, path, Path(local_dir))
        else:
            with self.modify(target) as m:
                skipped = m.put_tree(path, local_dir)
            commit = m.result()
        warn_skipped(skipped, local_dir)  # links leaving the directory are never followed
        return commit

    def _upload_tree(self, target: str, path: str, root: Path) -> tuple[Commit, list[str]]:
        """Each file through the API, all into one commit: the open commit ``target`` names,
        or one opened here, finished after the last file and deleted if any file fails.
        Returns the commit and the links it skipped (they leave the directory)."""
        if not root.is_dir():
            raise errors.PathNotFoundError(f"local directory {root} not found")
        base = normalize_path(path).rstrip("/")
        tree = local_tree(root)  # never what a symlink outside the directory points to
        addr = parse_address(target)
        try:
            head: Commit | None = self.inspect_commit(target)
        except errors.NotFoundError:
            head = None
        opened = head is None or head.finished is not None
        if opened:
            head = self.start_commit(target)
        assert head is not None
        into = f"{addr.repo}@{head.id}"
        try:
            for rel, file in tree.files:
                self._upload(into, f"{base}/{rel}", file, False)
            commit = self.finish_commit(into) if opened else self.inspect_commit(into)
            return commit, list(tree.skipped)
        except BaseException:
            if opened:  # nothing half-written becomes visible
                with contextlib.suppress(errors.RaypachyError, httpx.HTTPError):
                    self.delete_commit(into)
            raise

    def delete_file(self, target: str, path: str) -> Commit:
        return self._call("delete_file", target=target, path=path)  # type: ignore[no-any-return]

    def copy_file(
        self, src: str, src_path: str, dst: str, dst_path: str, append: bool = False
    ) -> Commit:
        return self._call(  # type: ignore[no-any-return]
            "copy_file", src=src, src_path=src_path, dst=dst, dst_path=dst_path, append=append
        )

    # --- the data plane -------------------------------------------------------------------

    def path_kind(self, target: str, path: str) -> str | None:
        return self._call("path_kind", target=target, path=path)  # type: ignore[no-any-return]

    def check_writable(self, target: str) -> None:
        self._call("check_writable", target=target)

    def acquire_lease(self) -> str:
        reply = self._transport.send("POST", "/v1/leases", json={"pid": os.getpid()}).json()
        return str(reply["id"])

    def heartbeat_lease(self, lease_id: str) -> None:
        self._call("heartbeat_lease", lease_id=lease_id)

    def release_lease(self, lease_id: str) -> None:
        self._call("release_lease", lease_id=lease_id)

    def write_lease(self) -> AbstractContextManager[str]:
        return self._leases.held()

    def register_layer(self, target: str, manifest_id: str, lease_id: str = "") -> Commit:
        self._leases.check(lease_id)
        commit: Commit = self._call(
            "register_layer", target=target, manifest_id=manifest_id, lease_id=lease_id
        )
        self._leases.released.add(lease_id)
        return commit

    # --- maintenance ----------------------------------------------------------------------

    def gc(self) -> GCReport:
        return self._call("gc")  # type: ignore[no-any-return]

    def fsck(self, fix: bool = False, deep: bool = False) -> FsckReport:
        return self._call("fsck", fix=fix, deep=deep)  # type: ignore[no-any-return]

    # --- pipelines --------------------------------------------------------------------------

    def register_code(self, code: str, lease_id: str) -> None:
        self._call("register_code", code=code, lease_id=lease_id)
        self._leases.released.add(lease_id)

    def store_code(self, code: bytes) -> str:
        """Store a pickled Python transform; returns its key (kept until a pipeline uses it)."""
        if self.direct_storage:
            with self.write_lease() as lease:  # gc spares it until the pipeline exists
                chunk_id, _ = self.chunks.put(code)
                self.register_code(chunk_id.hex(), lease)
            return chunk_id.hex()
        reply = self._transport.send("POST", "/v1/code", content=code, headers=RAW).json()
        return str(reply["code"])

    def put_pipeline(
        self, pipeline: Any, update: bool = False, reprocess: bool = False
    ) -> PipelineCreated:
        from raypachy.pps.decorator import spec_of

        spec = spec_of(pipeline, self.store_code)
        return self._call(  # type: ignore[no-any-return]
            "put_pipeline", pipeline=spec, update=update, reprocess=reprocess
        )

    def inspect_pipeline(self, name: str) -> PipelineInfo:
        return self._call("inspect_pipeline", name=name)  # type: ignore[no-any-return]

    def list_pipelines(self) -> list[PipelineInfo]:
        return self._call("list_pipelines")  # type: ignore[no-any-return]

    def list_pipeline_versions(self, name: str) -> list[PipelineVersion]:
        return self._call("list_pipeline_versions", name=name)  # type: ignore[no-any-return]

    def delete_pipeline(self, name: str, keep_repo: bool = False) -> None:
        self._call("delete_pipeline", name=name, keep_repo=keep_repo)

    def stop_pipeline(self, name: str) -> PipelineInfo:
        return self._call("stop_pipeline", name=name)  # type: ignore[no-any-return]

    def start_pipeline(self, name: str) -> PipelineInfo:
        return self._call("start_pipeline", name=name)  # type: ignore[no-any-return]

    def run_cron(self, name: str) -> list[Commit]:
        return self._call("run_cron", name=name)  # type: ignore[no-any-return]

    def update_defaults(
        self, defaults_doc: dict[str, Any], project: str | None = None
    ) -> dict[str, Any]:
        return self._call("update_defaults", defaults_doc=defaults_doc, project=project)  # type: ignore[no-any-return]

    def inspect_defaults(self, project: str | None = None) -> dict[str, Any]:
        return self._call("inspect_defaults", project=project)  # type: ignore[no-any-return]

    def rerun_pipeline(self, name: str, reprocess: bool = False) -> JobInfo:
        return self._call("rerun_pipeline", name=name, reprocess=reprocess)  # type: ignore[no-any-return]

    # --- secrets ----------------------------------------------------------------------------

    def create_secret(self, secret: dict[str, Any]) -> SecretInfo:
        return self._call("create_secret", secret=secret)  # type: ignore[no-any-return]

    def inspect_secret(self, name: str) -> SecretInfo:
        return self._call("inspect_secret", name=name)  # type: ignore[no-any-return]

    def list_secrets(self) -> list[SecretInfo]:
        return self._call("list_secrets")  # type: ignore[no-any-return]

    def delete_secret(self, name: str) -> None:
        self._call("delete_secret", name=name)

    # --- jobs, datums, logs, lineage --------------------------------------------------------

    def list_jobs(
        self,
        pipeline: str | None = None,
        job_id: str | None = None,
        limit: int | None = None,
        start_after: str | None = None,
    ) -> list[JobInfo]:
        return self._call(  # type: ignore[no-any-return]
            "list_jobs", pipeline=pipeline, job_id=job_id, limit=limit, start_after=start_after
        )

    def list_recent_jobs(self, limit: int = 200) -> list[JobInfo]:
        return self.list_jobs(limit=limit)  # over HTTP the console's feed serves the live view

    def inspect_job(self, pipeline: str, job_id: str) -> JobInfo:
        return self._call("inspect_job", pipeline=pipeline, job_id=job_id)  # type: ignore[no-any-return]

    def wait_job(self, pipeline: str, job_id: str, timeout: float | None = None) -> JobInfo:
        project, _, plain = pipeline.rpartition("/")  # another project's: ?project=
        path = f"/v1/jobs/{plain}/{job_id}/wait" + (f"?project={project}" if project else "")
        return self._wait("wait_job", path, {}, timeout)  # type: ignore[no-any-return]

    def stop_job(self, pipeline: str, job_id: str) -> JobInfo:
        return self._call("stop_job", pipeline=pipeline, job_id=job_id)  # type: ignore[no-any-return]

    def list_datums(
        self,
        pipeline: str,
        job_id: str | None = None,
        limit: int | None = None,
        start_after: str | None = None,
    ) -> list[DatumInfo]:
        return self._call(  # type: ignore[no-any-return]
            "list_datums", pipeline=pipeline, job_id=job_id, limit=limit, start_after=start_after
        )

    def inspect_datum(self, pipeline: str, job_id: str, datum: str) -> DatumInfo:
        return self._call(  # type: ignore[no-any-return]
            "inspect_datum", pipeline=pipeline, job_id=job_id, datum=datum
        )

    def restart_datum(self, pipeline: str, job_id: str, datum: str) -> JobInfo:
        return self._call(  # type: ignore[no-any-return]
            "restart_datum", pipeline=pipeline, job_id=job_id, datum=datum
        )

    def preview_datums(self, pipeline: Any, limit: int | None = None) -> list[dict[str, Any]]:
        from raypachy.pps.decorator import preview_spec

        return self._call("preview_datums", pipeline=preview_spec(pipeline), limit=limit)  # type: ignore[no-any-return]

    def logs(
        self, pipeline: str, job_id: str | None = None, datum: str | None = None
    ) -> list[dict[str, Any]]:
        return self._call("logs", pipeline=pipeline, job_id=job_id, datum=datum)  # type: ignore[no-any-return]

    def lineage(self, target: str) -> dict[str, Any]:
        return self._call("lineage", target=target)  # type: ignore[no-any-return]


def connect(address: str | None = None) -> Client:
    """A client for ``address``, ``RAYPACHY_ADDRESS``, the cluster this Ray job runs on, or
    the local installation (started if it is not running).

    Inside a Ray job (``ray job submit``, a KubeRay RayJob) ``RAY_ADDRESS`` is set, and the API
    is found through the control plane's named actor.
    """
    from raypachy.runtime.cluster import start_local
    from raypachy.runtime.state import home_dir, local_api_url

    if address or os.environ.get("RAYPACHY_ADDRESS"):
        return Client(address)
    if os.environ.get("RAY_ADDRESS") or os.environ.get("RAY_JOB_ID"):
        from raypachy.runtime.discovery import api_url_on_ray

        url = api_url_on_ray(os.environ.get("RAY_ADDRESS") or "auto")
        if url is not None:  # datums get RAYPACHY_TOKEN from the control plane; else the home
            return Client(url, home=home_dir())
    return Client(local_api_url(), on_unreachable=start_local, home=home_dir())
