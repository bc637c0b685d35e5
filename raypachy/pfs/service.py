"""``PFS``: Git for data as a Python library (repos, branches, commits, files, gc).

    pfs = PFS.open()                      # $RAYPACHY_HOME, default ~/.raypachy
    pfs.create_repo("images")
    pfs.put_file("images@master", "/cat.png", pathlib.Path("cat.png"))
    pfs.get_file("images@master", "/cat.png")
    with pfs.modify("images@master") as m:   # several changes, one commit
        m.put("/a.txt", b"a")
        m.delete("/old/")

Writes go to the branch's open commit if it has one, else they make a new commit.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime

from raypachy._private import private_dir
from raypachy.errors import (
    BranchNotFoundError,
    CommitConflictError,
    CommitFinishedError,
    CommitNotFoundError,
    ConflictError,
    InvalidArgumentError,
    InvalidPathError,
    PathNotFoundError,
    RepoExistsError,
    RepoNotFoundError,
    WaitTimeoutError,
)
from raypachy.pfs import files, fsck, history, localfs, projects, served, usermeta
from raypachy.pfs.address import Address, parse_address
from raypachy.pfs.commits import Commits, Removal
from raypachy.pfs.gc import collect_garbage
from raypachy.pfs.leases import Leases
from raypachy.pfs.localtree import warn_skipped
from raypachy.pfs.metadata import (
    BranchRecord,
    CommitId,
    CommitRecord,
    MetadataStore,
    RepoRecord,
    Tx,
    open_store,
    store_location,
)
from raypachy.pfs.model import (
    Branch,
    Commit,
    CommitRef,
    FileChange,
    FileInfo,
    FsckReport,
    GCReport,
    Repo,
    Trigger,
)
from raypachy.pfs.modification import Modification
from raypachy.pfs.names import check_branch_name, check_repo_name, is_commit_id, normalize_path
from raypachy.pfs.refs import DEFAULT_BRANCH, branch_history, require_repo, resolve_commit
from raypachy.pfs.watch import follow_branch
from raypachy.storage import ChunkStore, FileData, ManifestStore, open_backend
from raypachy.storage.ingest import Source
from raypachy.storage.manifest import ManifestInfo
from raypachy.storage.reader import iter_bytes, iter_range
from raypachy.storage.tree import Tree

_UNSET = object()


def default_home() -> str:
    return os.path.expanduser(os.environ.get("RAYPACHY_HOME", "~/.raypachy"))


def _addr(target: str | Address) -> Address:
    return target if isinstance(target, Address) else parse_address(target)


class PFS:
    """The versioned file system over one metadata store and one storage backend."""

    def __init__(self, meta: MetadataStore, storage_uri: str, threads: int = 2) -> None:
        self.meta = meta
        self.backend = open_backend(storage_uri)
        self.chunks = ChunkStore(self.backend)
        self.manifests = ManifestStore(self.backend)
        self.leases = Leases(meta)
        self.commits = Commits(meta, self.manifests, self.leases)
        self.threads = threads
        self.home: str | None = None  # the installation's directory, when opened from one

    @classmethod
    def open(
        cls,
        home: str | None = None,
        storage: str | None = None,
        serve: bool = False,
        metadata: str | None = None,
    ) -> PFS:
        """Open (creating if needed) the installation at ``home``; storage defaults to
        ``file://<home>/storage``, metadata to ``$RAYPACHY_METADATA`` (a PostgreSQL URL or a
        SQLite file), else ``<home>/metadata.db``.

        While a cluster serves the home, this library reads it but refuses to write (the
        cluster must see every commit to run the pipelines): use ``raypachy.connect()``.
        ``serve`` is for the control plane itself: it claims the home for its lifetime.
        """
        home = os.path.abspath(home or default_home())
        private_dir(home)  # the metadata and, by default, the data: for its owner only
        storage = storage or os.environ.get("RAYPACHY_STORAGE") or f"file://{home}/storage"
        location = store_location(home, metadata)
        if serve:
            served.hold(home)
            meta = open_store(location)
        else:
            guard = functools.partial(served.refuse_if_served, home)
            meta = open_store(location, before_write=guard)
        pfs = cls(meta, storage)
        pfs.home = home
        return pfs

    # --- repos -------------------------------------------------------------------------

    @staticmethod
    def _only_its_writer(tx: Tx, repo: str, what: str) -> None:
        """Refuse a user's change to a repo that one writer owns (a pipeline's output)."""
        writer = tx.repo_writer(repo)
        if writer is not None:
            raise ConflictError(
                f"cannot {what}: repo {repo} is the output of {writer} and only its jobs change "
                "it; change the pipeline's inputs or spec instead"
            )

    def create_repo(self, name: str, description: str = "", update: bool = False) -> Repo:
        """Create a repo (``update``: change the description of an existing one)."""
        name = check_repo_name(name)
        with self.meta.write() as tx:
            projects.require(tx, name)
            if tx.repo(name) is not None:
                if not update:
                    raise RepoExistsError(f"repo {name} already exists")
                tx.update_repo(name, description)
            else:
                tx.insert_repo(RepoRecord(name, time.time(), description))
        return self.inspect_repo(name)

    def inspect_repo(self, name: str) -> Repo:
        """One repo: creation time, description, size of its master head."""
        with self.meta.read() as tx:
            row = tx.repo(name)
            if row is None:
                raise RepoNotFoundError(f"repo {name} not found")
            return self._repo(tx, row)

    def list_repos(self) -> list[Repo]:
        """Every repo, by name."""
        with self.meta.read() as tx:
            return [self._repo(tx, row) for row in tx.repos()]

    def delete_repo(self, name: str, force: bool = False) -> None:
        """Delete a repo; the output repo of a pipeline only with ``force``."""
        with self.meta.write() as tx:
            require_repo(tx, name)
            writer = tx.repo_writer(name)
            if writer is not None and not force:
                raise ConflictError(
                    f"repo {name} is the output of {writer}: delete that first, or delete the "
                    "repo with --force (its jobs then fail)"
                )
            tx.delete_repo(name)

    def set_repo_writer(self, name: str, writer: str | None) -> None:
        """Let only ``writer`` (say "pipeline p") change the repo, or anyone (None)."""
        with self.meta.write() as tx:
            require_repo(tx, name)
            tx.set_repo_writer(name, writer)

    def _repo(self, tx: Tx, row: RepoRecord) -> Repo:
        master = tx.branch(row.name, DEFAULT_BRANCH)
        head = tx.commit(row.name, master.head) if master and master.head else None
        size = (head.size_bytes or 0) if head else 0
        created = datetime.fromtimestamp(row.created, UTC)
        metadata = tx.object_metadata("repo", row.name, "") or {}
        return Repo(row.name, created, row.description, size, metadata)

    @staticmethod
    def _branch(tx: Tx, row: BranchRecord) -> Branch:
        metadata = tx.object_metadata("branch", row.repo, row.name) or {}
        trigger = tx.object_metadata("trigger", row.repo, row.name)
        return Branch(
            row.repo, row.name, row.head, metadata, None if trigger is None else Trigger(**trigger)
        )

    @staticmethod
    def _commits(tx: Tx, recs: Iterable[CommitRecord]) -> list[Commit]:
        """Commits as users see them, with their metadata (one look-up per repo)."""
        recs = list(recs)
        found: dict[str, dict[str, dict[str, str]]] = {}
        for repo in {r.repo for r in recs}:
            found[repo] = tx.objects_metadata("commit", repo)
        return [dataclasses.replace(r.public(), metadata=found[r.repo].get(r.id, {})) for r in recs]

    # --- branches ------------------------------------------------------------------------

    def create_branch(
        self, repo: str, name: str, head: str | None = None, expected_head: object = _UNSET,
        trigger: object = _UNSET,
    ) -> Branch:  # fmt: skip
        """Create or move ``repo@name`` to ``head`` (a branch, commit id, with ``^N``).

        A new branch without ``head`` gets an empty finished commit as its head, as in
        Pachyderm 2.x, so that it reads as empty rather than as missing; an existing branch
        without ``head`` stays where it is. With ``expected_head`` (a commit id, or None for
        "no head") the move is a compare-and-swap: ``CommitConflictError`` if the branch is
        elsewhere. ``trigger`` (a ``Trigger``, or None to drop one; checked by the caller)
        makes the branch follow another one's head (see ``raypachy.pachd.triggers``).
        """
        check_branch_name(name)
        with self.meta.write() as tx:
            require_repo(tx, repo)
            if isinstance(trigger, Trigger):
                self._check_trigger_chain(tx, repo, name, trigger)
                tx.set_object_metadata("trigger", repo, name, dataclasses.asdict(trigger))
            elif trigger is None:
                tx.set_object_metadata("trigger", repo, name, None)
            target = None
            if head is not None:
                addr = parse_address(f"{repo}@{head}")
                rec = resolve_commit(tx, repo, addr.ref, addr.ancestry)
                target = rec.id if rec else None
            current = tx.branch(repo, name)
            if current is None:
                if expected_head is not _UNSET and expected_head is not None:
                    raise BranchNotFoundError(f"branch {repo}@{name} not found")
                if target is None:
                    target = self.commits.insert_empty(tx, repo, name).id
                tx.insert_branch(BranchRecord(repo, name, target, time.time()))
            elif head is None and expected_head is _UNSET:
                return self._branch(tx, current)  # (its trigger may have changed)
            else:
                expected = current.head if expected_head is _UNSET else expected_head
                if not tx.move_branch(repo, name, target, expected):  # type: ignore[arg-type]
                    raise CommitConflictError(
                        f"branch {repo}@{name} is at {current.head}, not at {expected_head}: "
                        f"another writer moved it; re-read it and retry"
                    )
            row = tx.branch(repo, name)
            assert row is not None
            return self._branch(tx, row)

    def check_trigger(self, repo: str, name: str, trigger: Trigger) -> None:
        """Refuse, changing nothing, a trigger that ``create_branch`` would refuse."""
        with self.meta.read() as tx:
            require_repo(tx, repo)
            self._check_trigger_chain(tx, repo, name, trigger)

    @staticmethod
    def _check_trigger_chain(tx: Tx, repo: str, name: str, trigger: Trigger) -> None:
        """Refuse a trigger that would make branches follow each other in a loop."""
        follows = {n: d["branch"] for n, d in tx.objects_metadata("trigger", repo).items()}
        follows[name] = trigger.branch
        seen, at = {name}, trigger.branch
        while at in follows:
            if at in seen:
                raise InvalidArgumentError(
                    f"trigger of {repo}@{name} on {trigger.branch} would make a loop of "
                    f"triggers ({' -> '.join([*sorted(seen), at])}): triggers cannot loop"
                )
            seen.add(at)
            at = follows[at]

    def inspect_branch(self, repo: str, name: str) -> Branch:
        """A branch and its head commit."""
        with self.meta.read() as tx:
            require_repo(tx, repo)
            row = tx.branch(repo, name)
            if row is None:
                raise BranchNotFoundError(f"branch {repo}@{name} not found")
            return self._branch(tx, row)

    def list_branches(self, repo: str) -> list[Branch]:
        """A repo's branches, by name."""
        with self.meta.read() as tx:
            require_repo(tx, repo)
            return [self._branch(tx, b) for b in tx.branches(repo)]

    def delete_branch(self, repo: str, name: str) -> None:
        """Delete a branch (its commits stay)."""
        with self.meta.write() as tx:
            require_repo(tx, repo)
            if tx.branch(repo, name) is None:
                raise BranchNotFoundError(f"branch {repo}@{name} not found")
            tx.delete_branch(repo, name)

    # --- commits ---------------------------------------------------------------------------

    def start_commit(
        self,
        target: str,
        parent: str | None = None,
        description: str = "",
        commit_id: str | None = None,
        provenance: Iterable[CommitRef] = (),
        origin: str = "user",
    ) -> Commit:
        """Open a commit on ``repo@branch``; the branch head moves to it at once."""
        addr = _addr(target)
        branch = addr.ref or DEFAULT_BRANCH
        with self.meta.read() as tx:
            self._only_its_writer(tx, addr.repo, f"start a commit in {addr.repo}")
        rec = self.commits.start(
            addr.repo, branch, parent, description, commit_id, tuple(provenance), origin
        )
        return rec.public()

    def finish_commit(
        self, target: str, error: str | None = None, description: str | None = None
    ) -> Commit:
        """Finish the open commit ``repo@id`` (or a branch's open head)."""
        rec = self._record(target)
        with self.meta.read() as tx:
            self._only_its_writer(tx, rec.repo, f"finish {rec.ref}")
        return self.commits.finish(rec.repo, rec.id, error, description).public()

    def inspect_commit(self, target: str) -> Commit:
        """One commit: parent, times, size, provenance, metadata."""
        rec = self._record(target)
        with self.meta.read() as tx:
            return self._commits(tx, [rec])[0]

    def list_commits(
        self,
        repo: str | None = None,
        branch: str | None = None,
        limit: int | None = None,
        start_after: str | None = None,
    ) -> list[Commit]:
        """Newest first: a branch's history, a repo's commits, or every commit; at most
        ``limit``, after the commit ``start_after`` (``repo@id`` or an id) when given."""
        with self.meta.read() as tx:
            after = None
            if start_after is not None:
                after_repo, _, after_id = start_after.rpartition("@")
                after = tx.commit_position(after_repo or repo, CommitId(after_id))
                if after is None:
                    raise CommitNotFoundError(f"commit {start_after} to list after not found")
            if branch is not None and repo is not None:
                rec = resolve_commit(tx, repo, branch)
                if start_after is not None:
                    rec = tx.commit(repo, CommitId(after_id))
                    rec = tx.commit(repo, rec.parent) if rec and rec.parent else None
                chain: list[CommitRecord] = []
                while rec is not None and (limit is None or len(chain) < limit):
                    chain.append(rec)
                    rec = tx.commit(repo, rec.parent) if rec.parent else None
                return self._commits(tx, chain)
            if repo is not None:
                require_repo(tx, repo)
            return self._commits(tx, tx.commits(repo=repo, after=after, limit=limit))

    def commit_set(self, commit_id: str) -> list[Commit]:
        """Every commit carrying the global id ``commit_id``, in every repo."""
        with self.meta.read() as tx:
            return self._commits(tx, tx.commits(commit_id=CommitId(commit_id)))

    def wait_commit(self, target: str, timeout: float | None = None) -> Commit:
        """Block until the commit is finished (``WaitTimeoutError`` after ``timeout`` seconds)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            seen = self.meta.change_version()
            rec = self._record(target)
            if not rec.is_open:
                return rec.public()
            left = 1.0 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeoutError(f"commit {rec.ref} is still open after {timeout}s")
            self.meta.wait_change(seen, min(left, 1.0))  # woken by the next write

    def subscribe_commits(
        self,
        repo: str,
        branch: str = DEFAULT_BRANCH,
        timeout: float | None = None,
        from_start: bool = False,
    ) -> Iterator[Commit]:
        """Yield each new finished commit on a branch, oldest first, as it appears."""
        return follow_branch(
            lambda n: self.list_commits(repo, branch, n), timeout, from_start,
            self.meta.wait_change,
        )  # fmt: skip

    def delete_commit(self, target: str, also: Removal | None = None) -> list[str]:
        """Delete a commit set (``id``) or one commit (``repo@id``); branches move back.

        A set holding commits of an owned repo (a pipeline's output) is removed only with
        ``also``, which the owner's layer gives to keep its own records in step, in the same
        transaction.
        """
        repo, commit_id = self._set_target(target)
        return self.commits.remove_set(commit_id, squash=False, repo=repo, also=also)

    def squash_commit(self, target: str, also: Removal | None = None) -> list[str]:
        """Remove a commit set, keeping its changes in its children (``also``: as above)."""
        repo, commit_id = self._set_target(target)
        return self.commits.remove_set(commit_id, squash=True, repo=repo, also=also)

    # --- history and metadata --------------------------------------------------------------

    def _chain(self, target: str | Address) -> list[CommitRecord]:
        """The commit ``target`` names and its ancestors, newest first."""
        addr = _addr(target)
        with self.meta.read() as tx:
            rec = resolve_commit(tx, addr.repo, addr.ref, addr.ancestry)
            return [] if rec is None else branch_history(tx, rec)

    def _tree_of(self, rec: CommitRecord) -> Tree:
        return self.commits.tree(rec.layers + rec.staged)

    def find_commits(self, target: str, path: str) -> list[Commit]:
        """The commits of ``target``'s history that changed ``path`` (wrote or deleted it),
        newest first."""
        path = normalize_path(path)
        found = [rec for rec, _ in history.changes(self._chain(target), self._tree_of, path)]
        with self.meta.read() as tx:
            return self._commits(tx, found)

    def file_history(self, target: str, path: str = "/", history_n: int = -1) -> list[FileInfo]:
        """The versions of a file along ``target``'s history, newest first, each naming the
        commit that wrote it (at most ``history_n`` per file; -1: all); for a directory,
        those of each of its entries, in path order."""
        if history_n == 0 or history_n < -1:
            raise InvalidArgumentError(
                f"history must be a number of versions >= 1, or all (-1), not {history_n}"
            )
        path = normalize_path(path)
        chain = self._chain(target)
        if not chain:
            return []
        head = files.inspect(self._tree_of(chain[0]), path, chain[0].ref)
        if head.type == "file":
            return history.versions(chain, self._tree_of, path, history_n)
        out: list[FileInfo] = []
        for entry in files.list_dir(self._tree_of(chain[0]), path, chain[0].ref):
            entry_path = entry.path.rstrip("/") or "/"
            out += history.versions(chain, self._tree_of, entry_path, history_n)
        return out

    def edit_metadata(
        self,
        kind: str,
        target: str,
        add: dict[str, str] | None = None,
        remove: Iterable[str] = (),
        replace: dict[str, str] | None = None,
    ) -> dict[str, str]:
        """Edit the metadata of a repo (``repo``), a branch (``repo@branch``) or a commit
        (``repo@id``, or a branch for its head); returns it as it is now."""
        usermeta.check_kind(kind)
        addr = _addr(target)
        remove = list(remove)
        with self.meta.write() as tx:
            require_repo(tx, addr.repo)
            if kind == "repo":
                if addr.ref is not None:
                    raise InvalidArgumentError(f"a repo is named without @: {addr.repo}")
                name = ""
            elif kind == "branch":
                name = addr.ref or DEFAULT_BRANCH
                if addr.ancestry or tx.branch(addr.repo, name) is None:
                    raise BranchNotFoundError(f"branch {addr.repo}@{name} not found")
            else:
                rec = resolve_commit(tx, addr.repo, addr.ref, addr.ancestry)
                if rec is None:
                    raise BranchNotFoundError(f"branch {addr.repo}@{addr.ref} has no commits")
                name = rec.id
            what = f"{kind} {addr.repo}" + (f"@{name}" if name else "")
            current = tx.object_metadata(kind, addr.repo, name) or {}
            new = usermeta.edited(current, what, add, remove, replace)
            tx.set_object_metadata(kind, addr.repo, name, new or None)
        return new

    def _set_target(self, target: str) -> tuple[str | None, CommitId]:
        """A bare id names the whole commit set; ``repo@ref`` names one repo's commit."""
        if is_commit_id(target):
            return None, CommitId(target)
        rec = self._record(target)
        return rec.repo, rec.id

    def _record(self, target: str | Address) -> CommitRecord:
        addr = _addr(target)
        with self.meta.read() as tx:
            rec = resolve_commit(tx, addr.repo, addr.ref, addr.ancestry)
        if rec is None:
            raise BranchNotFoundError(
                f"branch {addr.repo}@{addr.ref or DEFAULT_BRANCH} has no commits"
            )
        return rec

    # --- files: writing ----------------------------------------------------------------------

    def modify(self, target: str, on_progress: Callable[[int], None] | None = None) -> Modification:
        """A batch of file changes applied as one layer to ``repo@branch`` or an open commit."""
        return Modification(self, _addr(target), on_progress)

    # --- the write side a Modification needs (see raypachy.pfs.modification) -----------------

    def check_writable(self, addr: Address) -> None:
        """Raise if the commit or branch ``addr`` names cannot take writes now."""
        with self.meta.read() as tx:
            require_repo(tx, addr.repo)
            self._only_its_writer(tx, addr.repo, f"write to {addr.repo}")
            if addr.ref and is_commit_id(addr.ref):
                rec = resolve_commit(tx, addr.repo, addr.ref)
                if rec is not None and not rec.is_open:
                    raise CommitFinishedError(
                        f"commit {rec.ref} is finished and never changes: write to a branch"
                    )
            elif addr.ancestry:
                raise InvalidPathError(f"cannot write to {addr}: write to a branch head")
            else:
                check_branch_name(addr.ref or DEFAULT_BRANCH)

    def write_lease(self) -> AbstractContextManager[str]:
        """A writer lease held, and heartbeated, for the duration of a ``with`` block."""
        return self.leases.writer()

    def path_kind(self, addr: Address, path: str) -> str | None:
        """``"file"``, ``"dir"`` or ``None`` (nothing at ``path``)."""
        try:
            tree, _ = self._view(addr)
        except BranchNotFoundError:
            return None
        if path != "/" and tree.lookup(path) is not None:
            return "file"
        return "dir" if tree.has_dir(path) else None

    def walk_data(
        self, source: str, path: str, start_after: str | None = None
    ) -> Iterator[tuple[str, FileData]]:
        """Every file at or under ``path`` with where its bytes are (chunk references)."""
        tree, ref = self._view(source)
        found = False
        for item in files.walk(tree, path, start_after):
            found = True
            yield item
        if not found and (start_after is None or not tree.has_dir(path)):
            raise PathNotFoundError(f"file {path} not found in {ref}")

    def register_layer(self, addr: Address, layer: ManifestInfo, lease_id: str = "") -> Commit:
        """Apply a written layer to ``repo@branch`` (its open head, or a new commit) or to an
        open commit ``repo@id``; the lease it was written under must still be live."""
        ref = addr.ref or DEFAULT_BRANCH
        with self.meta.read() as tx:
            self._only_its_writer(tx, addr.repo, f"write to {addr.repo}")
        if is_commit_id(ref):
            return self.commits.stage(addr.repo, CommitId(ref), layer, lease_id).public()
        return self.commits.commit_layer(addr.repo, ref, layer, lease_id).public()

    def put_file(self, target: str, path: str, source: Source, append: bool = False) -> Commit:
        """Write ``source`` (bytes, a binary stream or a local ``Path``) at ``path``."""
        with self.modify(target) as m:
            m.put(path, source, append=append)
        return m.result()

    def put_dir(self, target: str, path: str, local_dir: str | os.PathLike[str]) -> Commit:
        """Put every file under ``local_dir`` at ``path`` (sorted, so repeats dedup)."""
        with self.modify(target) as m:
            skipped = m.put_tree(path, local_dir)
        warn_skipped(skipped, local_dir)  # links leaving the directory are never followed
        return m.result()

    def delete_file(self, target: str, path: str) -> Commit:
        """Delete a file or a directory (``/``: everything) in a new or open commit."""
        with self.modify(target) as m:
            m.delete(path)
        return m.result()

    def copy_file(
        self, src: str, src_path: str, dst: str, dst_path: str, append: bool = False
    ) -> Commit:
        """Copy a file or directory between commits without moving any bytes."""
        with self.modify(dst) as m:
            m.copy(src, src_path, dst_path, append=append)
        return m.result()

    # --- files: reading ------------------------------------------------------------------------

    def _view(self, target: str | Address) -> tuple[Tree, CommitRef]:
        rec = self._record(target)
        return self.commits.tree(rec.layers + rec.staged), rec.ref

    def inspect_file(self, target: str, path: str = "/") -> FileInfo:
        """One file or directory: type, size, hash, the commit it is read from."""
        tree, ref = self._view(target)
        return files.inspect(tree, normalize_path(path), ref)

    def list_files(
        self, target: str, path: str = "/", limit: int | None = None,
        start_after: str | None = None,
    ) -> list[FileInfo]:  # fmt: skip
        """A directory's children in path order (at most ``limit``, after ``start_after``)."""
        tree, ref = self._listing(target)
        return files.list_dir(tree, normalize_path(path), ref, start_after, limit)

    def glob_files(
        self, target: str, pattern: str, limit: int | None = None,
        start_after: str | None = None,
    ) -> list[FileInfo]:  # fmt: skip
        """What a glob matches in path order (at most ``limit``, after ``start_after``)."""
        tree, ref = self._listing(target)
        return files.glob(tree, pattern, ref, start_after, limit)

    def _listing(self, target: str | Address) -> tuple[Tree, CommitRef]:
        """What a listing reads: a branch that exists without a commit yet reads as empty
        (branches made before new ones got an empty head commit)."""
        addr = _addr(target)
        with self.meta.read() as tx:
            rec = resolve_commit(tx, addr.repo, addr.ref, addr.ancestry)
        if rec is None:
            return Tree([]), CommitRef(addr.repo, addr.ref or DEFAULT_BRANCH)
        return self.commits.tree(rec.layers + rec.staged), rec.ref

    def walk_files(self, target: str, path: str = "/") -> Iterator[tuple[str, FileData]]:
        """Every file at or under ``path``, in path order, with its content reference."""
        tree, _ = self._view(target)
        return files.walk(tree, normalize_path(path))

    def diff_files(self, new: str, old: str | None = None, path: str = "/") -> list[FileChange]:
        """What changed from ``old`` (default: ``new``'s parent) to ``new`` under ``path``."""
        new_rec = self._record(new)
        if old is None:
            old_rec = self._record(f"{new_rec.repo}@{new_rec.parent}") if new_rec.parent else None
        else:
            old_rec = self._record(old)
        old_tree = self.commits.tree(old_rec.layers + old_rec.staged) if old_rec else Tree([])
        new_tree = self.commits.tree(new_rec.layers + new_rec.staged)
        old_ref = old_rec.ref if old_rec else CommitRef(new_rec.repo, "")
        return files.diff(old_tree, new_tree, normalize_path(path), old_ref, new_rec.ref)

    def open_file(self, target: str, path: str) -> Iterator[bytes]:
        """Stream a file's bytes (memory stays bounded whatever its size)."""
        return iter_bytes(self.chunks, self._file_data(target, path))

    def _file_data(self, target: str, path: str) -> FileData:
        tree, ref = self._view(target)
        path = normalize_path(path, allow_root=False)
        data = tree.lookup(path)
        if data is None:
            if tree.has_dir(path):
                raise PathNotFoundError(f"{path} is a directory in {ref}: get it with -o LOCAL_DIR")
            raise PathNotFoundError(f"file {path} not found in {ref}")
        return data

    def get_file(self, target: str, path: str) -> bytes:
        """A file's bytes."""
        return b"".join(self.open_file(target, path))

    def read_range(self, target: str, path: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of a file (clipped to its size), reading only what holds them."""
        data = self._file_data(target, path)
        start, end = max(0, start), min(end, data.size)
        return b"".join(iter_range(self.chunks, data, start, end)) if start < end else b""

    def get_to(
        self,
        target: str,
        path: str,
        dest: str | os.PathLike[str],
        on_progress: Callable[[int], None] | None = None,
    ) -> int:
        """Write a file, or a directory tree, to the local path ``dest``; returns bytes."""
        path = normalize_path(path)
        return localfs.export(self.chunks, self.walk_data(target, path), path, dest, on_progress)

    def fsck(self, fix: bool = False, deep: bool = False) -> FsckReport:
        """Check every commit's manifests and chunks and the links between commits."""
        return fsck.check(self.meta, self.chunks, self.manifests, fix, deep)

    def gc(
        self,
        extra_chunks: Callable[[], set[bytes]] = set,
        extra_manifests: Callable[[], set[str]] = set,
        on_phase: Callable[[str], None] | None = None,
    ) -> GCReport:
        """Delete chunks and manifests no commit references (refused while writers run)."""
        return collect_garbage(
            self.meta, self.leases, self.chunks, self.manifests, extra_chunks, extra_manifests,
            on_phase,
        )  # fmt: skip
