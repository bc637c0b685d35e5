"""``raypachy.Client``: the HTTP client, with the same verbs as the ``PFS`` library.

    import raypachy
    c = raypachy.connect()   # RAYPACHY_ADDRESS, or the local cluster (started if needed)
    c.create_repo("images")
    c.put_file("images@master", "/cat.png", Path("cat.png"))

Bytes never go through the API server when the client can reach the storage itself (a
local ``file://`` store, or ``s3://`` with credentials): the client chunks, hashes and
writes chunks directly, then registers the small manifest through the API.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import httpx

from raypachy import errors
from raypachy._client_pps import PipelinesMixin
from raypachy.pfs import wire
from raypachy.pfs.address import Address, parse_address
from raypachy.pfs.localtree import local_tree, warn_skipped
from raypachy.pfs.model import (
    Branch,
    Commit,
    CommitRef,
    FileChange,
    FileInfo,
    FsckReport,
    GCReport,
    Repo,
)
from raypachy.pfs.names import normalize_path
from raypachy.pfs.watch import follow_branch
from raypachy.secrets import (
    TOKEN_FILE,
    is_loopback,
    new_challenge,
    proof_matches,
    read_local_token,
)

if TYPE_CHECKING:
    from raypachy.pfs.modification import Modification

DEFAULT_ADDRESS = "http://127.0.0.1:8650"
RAW = {"Content-Type": "application/octet-stream"}  # raw bodies: never a simple request type
_UNSET: Any = object()


def _raise_for(response: httpx.Response) -> None:
    try:
        body = response.json()
        message, kind, code = body["message"], body.get("type", ""), body.get("code", "")
    except (ValueError, KeyError, TypeError):
        message, kind, code = response.text or response.reason_phrase, "", ""
    cls = getattr(errors, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, errors.RaypachyError)):
        cls = {
            "not_found": errors.NotFoundError,
            "already_exists": errors.AlreadyExistsError,
            "conflict": errors.ConflictError,
            "invalid_argument": errors.InvalidArgumentError,
            "unavailable": errors.UnavailableError,
        }.get(code, errors.RaypachyError)
    raise cls(message)


class Client(PipelinesMixin):
    """Talks to a raypachy API server; every method mirrors ``raypachy.pfs.PFS``."""

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
        self.address = (address or os.environ.get("RAYPACHY_ADDRESS") or DEFAULT_ADDRESS).rstrip(
            "/"
        )
        self._token, self._home = token, home
        # The token a home keeps goes only to that home's cluster, never to another address.
        self._any_local = home is not None or not (address or os.environ.get("RAYPACHY_ADDRESS"))
        # On this machine another user may hold the port: the server proves who it is before
        # the token goes out (see raypachy.secrets). Remote servers get it right away.
        self._local = is_loopback(urlparse(self.address).hostname or "")
        token = None if self._local else token or os.environ.get("RAYPACHY_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._authorized = not self._local
        # TCP_NODELAY: a POST's headers and body leave as two small segments, and Nagle's
        # algorithm would hold the body for the server's delayed ACK (~40 ms a request).
        transport = httpx.HTTPTransport(
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)], retries=2
        )
        self._http = httpx.Client(
            base_url=self.address, timeout=timeout, headers=headers, transport=transport
        )
        self._on_unreachable = on_unreachable
        self._released: set[str] = set()
        self._lost: dict[str, str] = {}  # lease id -> why its heartbeats stopped

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport ------------------------------------------------------------------------

    def _start_local(self) -> None:
        assert self._on_unreachable is not None
        self.address = self._on_unreachable().rstrip("/")
        self._on_unreachable = None
        self._http.base_url = httpx.URL(self.address)
        self._http.headers.pop("Authorization", None)
        self._authorized = False  # a new server, maybe a new token: it proves itself again

    def _local_token(self) -> tuple[str | None, str]:
        """The token for the API on this machine, and where it came from."""
        if self._token:
            return self._token, "the token argument"
        if os.environ.get("RAYPACHY_TOKEN"):
            return os.environ["RAYPACHY_TOKEN"], "RAYPACHY_TOKEN"
        from raypachy.runtime.state import home_dir, read_state

        home = home_dir(os.fspath(self._home) if self._home is not None else None)
        if not self._any_local:
            state = read_state(str(home))
            if state is None or state.api_url.rstrip("/") != self.address:
                return None, ""
        return read_local_token(home), str(home / TOKEN_FILE)

    def _authorize(self) -> None:
        """Send the local token only to a server that proves it holds it."""
        token, source = self._local_token()
        if not token and self._on_unreachable is not None:
            # `up` writes the token: with none, raypachy is not running from this home, and
            # whatever answers on the port is not it. Start it (or learn who holds the port).
            self._start_local()
            token, source = self._local_token()
        if token:
            challenge = new_challenge()
            reply = self._http.get("/healthz", params={"challenge": challenge})
            try:
                proof = reply.json().get("proof") if reply.status_code == 200 else None
            except (ValueError, AttributeError):
                proof = None
            if not proof_matches(token, challenge, proof):
                raise errors.UnavailableError(
                    f"the process answering at {self.address} is not the raypachy API that "
                    f"holds the token from {source} (it could not prove it): the token was not "
                    "sent; stop that process, or restart raypachy (`raypachy down; raypachy up`)"
                )
            self._http.headers["Authorization"] = f"Bearer {token}"
        self._authorized = True

    def _request(self, method: str, path: str, **kw: Any) -> Any:
        return self._send(method, path, **kw).json()

    def _send(self, method: str, path: str | httpx.URL, **kw: Any) -> httpx.Response:
        try:
            if not self._authorized:
                self._authorize()
            response = self._http.request(method, path, **kw)
        except httpx.TransportError as e:
            if self._on_unreachable is None:
                raise errors.UnavailableError(
                    f"the raypachy API at {self.address} is not reachable ({type(e).__name__}): "
                    "start it with `raypachy up`, or set RAYPACHY_ADDRESS"
                ) from None
            self._start_local()
            return self._send(method, path, **kw)
        if response.status_code >= 400:
            _raise_for(response)
        return response

    def _get(self, url: str, **params: Any) -> Any:
        return self._request("GET", url, params={k: v for k, v in params.items() if v is not None})

    def _get_all(self, url: str, limit: int | None = None, **params: Any) -> list[Any]:
        """Every entry of a paged listing (at most ``limit``), following its next links."""
        out: list[Any] = []
        query: dict[str, Any] | None = {k: v for k, v in params.items() if v is not None}
        if limit is not None:
            query = {**(query or {}), "limit": limit}
        target: str | httpx.URL = url
        while True:
            response = self._send("GET", target, params=query)
            out.extend(response.json())
            link = response.links.get("next")
            if link is None or (limit is not None and len(out) >= limit):
                return out[:limit]
            target, query = httpx.URL(link["url"]), None  # the link holds the whole query
            if limit is not None:
                target = target.copy_set_param("limit", limit - len(out))

    def _post(self, url: str, body: dict[str, Any]) -> Any:
        return self._request("POST", url, json=body)

    # --- cluster --------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._get("/healthz")
        return result

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self._get("/v1/status")
        return result

    @functools.cached_property
    def storage_uri(self) -> str:
        uri: str = self._get("/v1/config")["storage"]
        return uri

    # --- repos and branches ---------------------------------------------------------------

    def create_repo(self, name: str, description: str = "", update: bool = False) -> Repo:
        body = {"name": name, "description": description, "update": update}
        return wire.repo(self._post("/v1/repos", body))

    def inspect_repo(self, name: str) -> Repo:
        return wire.repo(self._get(f"/v1/repos/{name}"))

    def list_repos(self) -> list[Repo]:
        return [wire.repo(r) for r in self._get("/v1/repos")]

    def delete_repo(self, name: str, force: bool = False) -> list[str]:
        """Delete a repo; one that pipelines read or write only with ``force``, which returns
        what breaks (one line per pipeline)."""
        params = {"force": "true"} if force else None
        reply = self._request("DELETE", f"/v1/repos/{name}", params=params)
        warnings: list[str] = reply.get("warnings", []) if isinstance(reply, dict) else []
        return warnings

    def create_branch(
        self, repo: str, name: str, head: str | None = None, expected_head: Any = _UNSET
    ) -> Branch:
        body: dict[str, Any] = {"head": head}
        if expected_head is not _UNSET:
            body |= {"expected_head": expected_head, "check_expected": True}
        return wire.branch(self._request("PUT", f"/v1/repos/{repo}/branches/{name}", json=body))

    def inspect_branch(self, repo: str, name: str) -> Branch:
        return wire.branch(self._get(f"/v1/repos/{repo}/branches/{name}"))

    def list_branches(self, repo: str) -> list[Branch]:
        return [wire.branch(b) for b in self._get(f"/v1/repos/{repo}/branches")]

    def delete_branch(self, repo: str, name: str) -> None:
        self._request("DELETE", f"/v1/repos/{repo}/branches/{name}")

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
        body = {
            "target": target, "parent": parent, "description": description, "id": commit_id,
            "provenance": [{"repo": p.repo, "id": p.id} for p in provenance], "origin": origin,
        }  # fmt: skip
        return wire.commit(self._post("/v1/commits/start", body))

    def finish_commit(
        self, target: str, error: str | None = None, description: str | None = None
    ) -> Commit:
        body = {"target": target, "error": error, "description": description}
        return wire.commit(self._post("/v1/commits/finish", body))

    def inspect_commit(self, target: str) -> Commit:
        return wire.commit(self._get("/v1/commit", target=target))

    def list_commits(
        self,
        repo: str | None = None,
        branch: str | None = None,
        limit: int | None = None,
        start_after: str | None = None,
    ) -> list[Commit]:
        """Newest first (at most ``limit``, after the commit ``start_after``: ``repo@id``)."""
        found = self._get_all(
            "/v1/commits", limit, repo=repo, branch=branch, start_after=start_after
        )
        return [wire.commit(c) for c in found]

    def commit_set(self, commit_id: str) -> list[Commit]:
        return [wire.commit(c) for c in self._get(f"/v1/commitsets/{commit_id}")]

    def wait_commit(self, target: str, timeout: float | None = None) -> Commit:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:
                return wire.commit(
                    self._post("/v1/commits/wait", {"target": target, "timeout": left})
                )
            except errors.WaitTimeout:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    def subscribe_commits(
        self, repo: str, branch: str = "master", timeout: float | None = None,
        from_start: bool = False,
    ) -> Iterator[Commit]:  # fmt: skip
        return follow_branch(
            lambda n: self.list_commits(repo, branch, n), timeout, from_start, self._next_change
        )

    def _next_change(self, since: int | None, timeout: float) -> int | None:
        """Block (on the server, holding no thread there) until the metadata changes."""
        version: int | None = self._post("/v1/changes/wait", {"since": since, "timeout": timeout})[
            "version"
        ]
        return version

    def delete_commit(self, target: str) -> list[str]:
        result: list[str] = self._post("/v1/commits/delete", {"target": target})
        return result

    def squash_commit(self, target: str) -> list[str]:
        result: list[str] = self._post("/v1/commits/squash", {"target": target})
        return result

    # --- files: reading ------------------------------------------------------------------------

    def list_files(
        self, target: str, path: str = "/", limit: int | None = None,
        start_after: str | None = None,
    ) -> list[FileInfo]:  # fmt: skip
        """A directory's children in path order (at most ``limit``, after ``start_after``)."""
        found = self._get_all("/v1/files", limit, target=target, path=path, start_after=start_after)
        return [wire.file_info(f) for f in found]

    def glob_files(
        self, target: str, pattern: str, limit: int | None = None,
        start_after: str | None = None,
    ) -> list[FileInfo]:  # fmt: skip
        """What a glob matches in path order (at most ``limit``, after ``start_after``)."""
        found = self._get_all(
            "/v1/files/glob", limit, target=target, pattern=pattern, start_after=start_after
        )
        return [wire.file_info(f) for f in found]

    def inspect_file(self, target: str, path: str = "/") -> FileInfo:
        return wire.file_info(self._get("/v1/files/inspect", target=target, path=path))

    def diff_files(self, new: str, old: str | None = None, path: str = "/") -> list[FileChange]:
        return [
            wire.file_change(c) for c in self._get("/v1/files/diff", new=new, old=old, path=path)
        ]

    def walk_data(self, source: str, path: str) -> list[tuple[str, Any]]:
        """Every file at or under ``path`` with where its bytes are."""
        return [
            wire.file_data_from_json(d)
            for d in self._get_all("/v1/files/refs", target=source, path=path)
        ]

    def open_file(self, target: str, path: str) -> Iterator[bytes]:
        """Stream a file's bytes (read straight from storage when the client can)."""
        if not self.direct_storage:
            return self._download(target, path)
        from raypachy.storage.reader import iter_bytes

        if self.path_kind(parse_address(target), normalize_path(path)) != "file":
            info = self.inspect_file(target, path)  # raises FileNotFound if nothing is there
            raise errors.FileNotFound(f"{info.path} is a directory in {target}: use -o LOCAL_DIR")
        [found] = self._get("/v1/files/refs", target=target, path=path, limit=1)
        _, data = wire.file_data_from_json(found)
        return iter_bytes(self.chunks, data)

    def _download(self, target: str, path: str) -> Iterator[bytes]:
        if not self._authorized:  # a stream bypasses _send: the server proves itself here too
            self._authorize()
        with self._http.stream(
            "GET", "/v1/files/content", params={"target": target, "path": path}
        ) as r:
            if r.status_code >= 400:
                r.read()
                _raise_for(r)
            yield from r.iter_bytes()

    def get_file(self, target: str, path: str) -> bytes:
        return b"".join(self.open_file(target, path))

    def read_range(self, target: str, path: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of a file: only the chunks, or the HTTP range, holding them."""
        if end <= start:
            return b""
        if self.direct_storage:
            from raypachy.storage.reader import iter_range

            found = self._get("/v1/files/refs", target=target, path=path, limit=1)
            if not found or found[0]["path"] != normalize_path(path):
                raise errors.FileNotFound(f"{path} is not a file in {target}")
            _, data = wire.file_data_from_json(found[0])
            return b"".join(iter_range(self.chunks, data, start, end))
        headers = {"Range": f"bytes={start}-{end - 1}"}
        params = {"target": target, "path": path}
        try:
            response = self._send("GET", "/v1/files/content", params=params, headers=headers)
        except errors.RangeNotSatisfiable:
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
        """Write a file, or a directory tree, to the local path ``dest``; returns bytes."""
        from raypachy.pfs import localfs

        path = normalize_path(path)
        if not self.direct_storage:
            raise errors.UnavailableError(
                f"this client cannot reach storage {self.storage_uri}: get files one by one"
            )
        return localfs.export(self.chunks, self.walk_data(target, path), path, dest, on_progress)

    # --- files: writing --------------------------------------------------------------------------

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
    def _stores(self) -> tuple[Any, Any]:
        from raypachy.storage import ChunkStore, ManifestStore, open_backend

        backend = open_backend(self.storage_uri)
        return ChunkStore(backend), ManifestStore(backend)

    @property
    def chunks(self) -> Any:
        return self._stores[0]

    @property
    def manifests(self) -> Any:
        return self._stores[1]

    def modify(self, target: str, on_progress: Callable[[int], None] | None = None) -> Modification:
        """A batch of changes that becomes one commit (bytes go straight to storage)."""
        if not self.direct_storage:
            raise errors.UnavailableError(
                f"this client cannot reach storage {self.storage_uri}: put files one at a "
                "time (they go through the API), or give it access to the storage"
            )
        from raypachy.pfs.modification import Modification

        return Modification(self, parse_address(target), on_progress)

    def put_file(self, target: str, path: str, source: Any, append: bool = False) -> Commit:
        if not self.direct_storage:
            return self._upload(target, path, source, append)
        with self.modify(target) as m:
            m.put(path, source, append=append)
        return m.result()

    def _upload(self, target: str, path: str, source: Any, append: bool) -> Commit:
        if isinstance(source, os.PathLike):
            with open(source, "rb") as f:
                return self._upload(target, path, f, append)
        params = {"target": target, "path": path, "append": str(append).lower()}
        return wire.commit(
            self._request("POST", "/v1/files/upload", params=params, content=source, headers=RAW)
        )

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
            raise errors.FileNotFound(f"local directory {root} not found")
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
        return wire.commit(self._post("/v1/files/delete", {"target": target, "path": path}))

    def copy_file(
        self, src: str, src_path: str, dst: str, dst_path: str, append: bool = False
    ) -> Commit:
        body = {
            "src": src,
            "src_path": src_path,
            "dst": dst,
            "dst_path": dst_path,
            "append": append,
        }
        return wire.commit(self._post("/v1/files/copy", body))

    def gc(self) -> GCReport:
        return wire.gc_report(self._post("/v1/gc", {}))

    def fsck(self, fix: bool = False, deep: bool = False) -> FsckReport:
        """Check every commit, chunk and link of the installation; ``fix`` repairs links."""
        return wire.fsck_report(self._post("/v1/fsck", {"fix": fix, "deep": deep}))

    # --- the write side a Modification needs -------------------------------------------------

    def check_writable(self, addr: Address) -> None:
        self._post("/v1/writable", {"target": str(addr)})

    def write_lease(self) -> AbstractContextManager[str]:
        return self._lease()

    @contextmanager
    def _lease(self) -> Iterator[str]:
        terms = self._post("/v1/leases", {"pid": os.getpid()})
        lease_id: str = terms["id"]
        stop = threading.Event()
        threading.Thread(
            target=self._beat, args=(lease_id, terms, stop), name="raypachy-lease", daemon=True
        ).start()
        try:
            yield lease_id
        finally:
            stop.set()
            if lease_id not in self._released:  # registering a layer releases its lease
                with contextlib.suppress(errors.RaypachyError):  # it expires by itself
                    self._request("DELETE", f"/v1/leases/{lease_id}")
            self._released.discard(lease_id)
            self._lost.pop(lease_id, None)

    def _beat(self, lease_id: str, terms: dict[str, Any], stop: threading.Event) -> None:
        """Heartbeat a lease until stopped. A failed beat is retried within the server's TTL;
        a lease the server no longer knows, or no contact for the whole TTL, is recorded as
        lost and the write then fails saying why."""
        every, ttl = float(terms.get("heartbeat_s", 20.0)), float(terms.get("ttl_s", 120.0))
        last_ok = time.monotonic()
        wait = every
        while not stop.wait(wait):
            try:
                response = self._http.request("PUT", f"/v1/leases/{lease_id}")
                if response.status_code >= 400:
                    _raise_for(response)
                last_ok, wait = time.monotonic(), every
            except errors.LeaseExpiredError as e:
                self._lost[lease_id] = e.message
                return
            except (errors.RaypachyError, httpx.HTTPError) as e:
                if time.monotonic() - last_ok > ttl:
                    self._lost[lease_id] = (
                        f"write lease {lease_id} lapsed: no contact with the API at "
                        f"{self.address} for {ttl:g}s ({type(e).__name__}): write the data again"
                    )
                    return
                wait = min(every, 2.0)

    def path_kind(self, addr: Address, path: str) -> str | None:
        kind: str | None = self._get("/v1/files/kind", target=str(addr), path=path)["kind"]
        return kind

    def register_layer(self, addr: Address, layer: Any, lease_id: str) -> Commit:
        if lease_id in self._lost:
            raise errors.LeaseExpiredError(self._lost[lease_id])
        body = {"target": str(addr), "manifest_id": layer.id, "lease_id": lease_id}
        commit = wire.commit(self._post("/v1/layers", body))
        self._released.add(lease_id)
        return commit


def connect(address: str | None = None) -> Client:
    """A client for ``address``, ``RAYPACHY_ADDRESS``, the cluster this Ray job runs on, or
    the local installation (started if it is not running).

    Inside a Ray job (``ray job submit``, a KubeRay RayJob) ``RAY_ADDRESS`` is set, and the API
    is found through the control plane's named actor.
    """
    from raypachy.runtime.state import home_dir, local_api_url, start_local

    if address or os.environ.get("RAYPACHY_ADDRESS"):
        return Client(address)
    if os.environ.get("RAY_ADDRESS") or os.environ.get("RAY_JOB_ID"):
        from raypachy.runtime.discovery import api_url_on_ray

        url = api_url_on_ray(os.environ.get("RAY_ADDRESS") or "auto")
        if url is not None:  # a remote cluster's jobs have RAYPACHY_TOKEN; a local one's, the home
            return Client(url, home=home_dir())
    return Client(local_api_url(), on_unreachable=start_local, home=home_dir())


__all__ = ["Client", "connect"]
