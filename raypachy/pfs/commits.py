"""The commit lifecycle: start, stage layers, finish, one-shot commits, delete and squash.

Expensive work (reading manifests, folding and compacting layers) happens outside any
transaction; the result is then installed with a compare-and-swap on the rows it was
computed from, and recomputed if another writer got there first. So no write is lost
and the metadata lock is held only for a few row updates.

Whatever writes manifests here (folding, compaction) does it under a writer lease that the
installing transaction checks, after syncing them: gc never deletes them in between, and a
commit never points at a manifest that a power loss could take away.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace

from raypachy.errors import (
    CommitConflictError,
    CommitFinishedError,
    CommitNotFoundError,
    CommitOpenError,
    ConflictError,
    InvalidArgumentError,
)
from raypachy.pfs.finish import check_collisions, finish_tree
from raypachy.pfs.leases import Leases
from raypachy.pfs.metadata import BranchRecord, CommitId, CommitRecord, MetadataStore, Tx
from raypachy.pfs.model import CommitRef
from raypachy.pfs.names import check_branch_name, is_commit_id
from raypachy.pfs.refs import require_repo, resolve_commit
from raypachy.storage.manifest import ManifestInfo, ManifestStore
from raypachy.storage.tree import Tree, tree_of

MAX_ATTEMPTS = 100

#: Runs in the transaction that removes a commit set, with its records (see ``remove_set``).
Removal = Callable[[Tx, list[CommitRecord]], None]


def new_commit_id() -> CommitId:
    return CommitId(uuid.uuid4().hex)


def _finished(tx: Tx, repo: str, commit_id: CommitId) -> CommitRecord:
    rec = tx.commit(repo, commit_id)
    if rec is None:
        raise CommitNotFoundError(f"commit {repo}@{commit_id} not found")
    return rec


class Commits:
    def __init__(self, meta: MetadataStore, manifests: ManifestStore, leases: Leases) -> None:
        self.meta = meta
        self.manifests = manifests
        self.leases = leases

    @contextmanager
    def _writing(self, lease_id: str) -> Iterator[str]:
        """The lease that covers manifests written now: the caller's (which it keeps alive),
        or one of our own for the duration of the block."""
        if lease_id:
            yield lease_id
        else:
            with self.leases.writer() as own:
                yield own

    def tree(self, layers: tuple[ManifestInfo, ...]) -> Tree:
        return tree_of(self.manifests, layers)

    # --- start and finish ------------------------------------------------------------

    def start(
        self,
        repo: str,
        branch: str | None,
        parent: str | None = None,
        description: str = "",
        commit_id: str | None = None,
        provenance: tuple[CommitRef, ...] = (),
        origin: str = "user",
    ) -> CommitRecord:
        """Open a new commit on ``branch`` (whose head becomes it) or on ``parent``."""
        if branch is not None:
            check_branch_name(branch)
        if commit_id and not is_commit_id(commit_id):
            raise InvalidArgumentError(f"invalid commit id {commit_id!r}: 32 hex characters")
        new_id = CommitId(commit_id) if commit_id else new_commit_id()
        with self.meta.write() as tx:
            require_repo(tx, repo)
            head_row = tx.branch(repo, branch) if branch else None
            head = head_row.head if head_row else None
            if parent is not None:
                base = resolve_commit(tx, repo, parent)
            elif head is not None:
                base = _finished(tx, repo, head)
            else:
                base = None
            if base is not None and base.is_open:
                raise CommitOpenError(
                    f"{repo}@{branch or base.id} has open commit {base.id}: finish it "
                    f"(raypachy finish commit {repo}@{base.id}) before starting another"
                )
            if branch is None and base is None:
                raise InvalidArgumentError("a new commit needs a branch or a parent commit")
            if tx.commit(repo, new_id) is not None:
                raise ConflictError(f"commit {repo}@{new_id} already exists")
            missing = next(
                (p for p in provenance if tx.commit(p.repo, CommitId(p.id)) is None), None
            )
            if missing is not None:
                raise CommitNotFoundError(
                    f"provenance commit {missing.repo}@{missing.id} not found: a commit can only "
                    "be computed from commits that exist"
                )
            rec = CommitRecord(
                repo=repo,
                id=new_id,
                branch=branch,
                parent=base.id if base else None,
                origin=origin,
                description=description,
                started=time.time(),
                finished=None,
                error=None,
                size_bytes=None,
                file_count=None,
                layers=base.layers if base else (),
                staged=(),
                provenance=tuple(provenance),
            )
            tx.insert_commit(rec)
            if branch is not None:
                if head_row is None:
                    tx.insert_branch(BranchRecord(repo, branch, new_id, rec.started))
                elif not tx.move_branch(repo, branch, new_id, head):
                    raise CommitConflictError(f"branch {repo}@{branch} moved; try again")
        return rec

    def finish(
        self,
        repo: str,
        commit_id: CommitId,
        error: str | None = None,
        description: str | None = None,
        also: Callable[[Tx], None] | None = None,
        layer: ManifestInfo | None = None,
        lease_id: str = "",
    ) -> CommitRecord:
        """Finish an open commit: fold its staged layers into its tree; it never changes again.

        ``also`` runs inside the transaction that finishes the commit, for callers whose own
        records must change together with it (a job and its output commit). ``layer`` is
        staged and folded in the same transaction (checked for collisions as ``stage`` does).
        ``lease_id``: the caller's live lease, which it keeps alive, covering ``layer`` and
        the folding writes (else the fold takes a lease of its own); the finishing
        transaction checks it.
        """
        if lease_id:
            self.leases.check(lease_id)  # else the layer's manifest may be gone: say why, first
        extra = (layer,) if layer is not None and layer.rows else ()
        entries = list(self.manifests.open(extra[0].id)) if extra else []
        with ExitStack() as held:
            writer = lease_id
            for _ in range(MAX_ATTEMPTS):
                with self.meta.read() as tx:
                    rec = _finished(tx, repo, commit_id)
                    if not rec.is_open:
                        raise CommitFinishedError(f"commit {repo}@{commit_id} is already finished")
                    parent = tx.commit(repo, rec.parent) if rec.parent else None
                staged = (*rec.staged, *extra)
                if extra:
                    check_collisions(self.tree(rec.layers + rec.staged), entries)
                if not writer and any(m.rows for m in staged):
                    writer = held.enter_context(self.leases.writer())  # folding writes
                base_size = parent.size_bytes or 0 if parent else 0
                base_count = parent.file_count or 0 if parent else 0
                tree = finish_tree(self.manifests, rec.layers, base_size, base_count, staged)
                self.manifests.sync()
                done = replace(
                    rec,
                    finished=time.time(),
                    error=error,
                    layers=tree.layers,
                    staged=(),
                    size_bytes=tree.size_bytes,
                    file_count=tree.file_count,
                    description=rec.description if description is None else description,
                )
                with self.meta.write() as tx:
                    if tx.update_open_commit(rec, done):
                        if writer:
                            self.leases.require(tx, writer)
                        if also is not None:
                            also(tx)
                        return done
        raise CommitConflictError(f"commit {repo}@{commit_id} kept changing while finishing")

    def insert_empty(self, tx: Tx, repo: str, branch: str) -> CommitRecord:
        """Inside a transaction: a finished commit without files (a new branch's head)."""
        now = time.time()
        rec = CommitRecord(
            repo, new_commit_id(), branch, None, "auto", "the empty head of a new branch",
            now, now, None, 0, 0, (), (),
        )  # fmt: skip
        tx.insert_commit(rec)
        return rec

    # --- writing layers ----------------------------------------------------------------

    def stage(
        self, repo: str, commit_id: CommitId, layer: ManifestInfo, lease_id: str = ""
    ) -> CommitRecord:
        """Add a written layer to an open commit (checked for file/directory collisions).

        With ``lease_id``, the lease the layer was written under must still be live.
        """
        if lease_id:
            self.leases.check(lease_id)  # else its manifest may be gone: say why, first
        entries = list(self.manifests.open(layer.id)) if layer.rows else []
        for _ in range(MAX_ATTEMPTS):
            with self.meta.read() as tx:
                rec = _finished(tx, repo, commit_id)
            if not rec.is_open:
                raise CommitFinishedError(
                    f"commit {repo}@{commit_id} is finished and never changes: write to a "
                    f"branch or start a new commit"
                )
            check_collisions(self.tree(rec.layers + rec.staged), entries)
            after = replace(rec, staged=(*rec.staged, layer))
            with self.meta.write() as tx:
                if tx.update_open_commit(rec, after):
                    if lease_id:
                        self.leases.require(tx, lease_id)
                    return after
        raise CommitConflictError(f"commit {repo}@{commit_id} kept changing; try again")

    def commit_layer(
        self, repo: str, branch: str, layer: ManifestInfo, lease_id: str = ""
    ) -> CommitRecord:
        """Apply a layer to a branch: into its open head, or as a new finished commit.

        With ``lease_id``, the lease the layer was written under must still be live; its
        holder keeps it alive meanwhile (compaction writes under it too).
        """
        check_branch_name(branch)
        if lease_id:
            self.leases.check(lease_id)  # else its manifest may be gone: say why, first
        entries = list(self.manifests.open(layer.id)) if layer.rows else []
        with self._writing(lease_id) as lease:
            for _ in range(MAX_ATTEMPTS):
                with self.meta.read() as tx:
                    require_repo(tx, repo)
                    row = tx.branch(repo, branch)
                    head = _finished(tx, repo, row.head) if row and row.head else None
                if head is not None and head.is_open:
                    return self.stage(repo, head.id, layer, lease)
                base = head.layers if head else ()
                check_collisions(self.tree(base), entries)
                tree = finish_tree(
                    self.manifests,
                    base,
                    head.size_bytes or 0 if head else 0,
                    head.file_count or 0 if head else 0,
                    (layer,),
                )
                self.manifests.sync()
                now = time.time()
                rec = CommitRecord(
                    repo, new_commit_id(), branch, head.id if head else None, "user", "",
                    now, now, None, tree.size_bytes, tree.file_count, tree.layers, (),
                )  # fmt: skip
                with self.meta.write() as tx:
                    require_repo(tx, repo)
                    current = tx.branch(repo, branch)
                    if current is None and head is None:
                        tx.insert_branch(BranchRecord(repo, branch, rec.id, now))
                    elif current is None or not tx.move_branch(
                        repo, branch, rec.id, head.id if head else None
                    ):
                        continue  # another writer moved the branch: rebase on its commit
                    self.leases.require(tx, lease)
                    tx.insert_commit(rec)
                    return rec
        raise CommitConflictError(f"branch {repo}@{branch} kept moving; try again")

    # --- delete and squash ---------------------------------------------------------------

    def remove_set(
        self,
        commit_id: CommitId,
        squash: bool,
        repo: str | None = None,
        also: Removal | None = None,
    ) -> list[str]:
        """Delete (or squash into its children) every commit carrying ``commit_id``.

        Pachyderm's rules: commits computed from these ones must go with them; squashing
        needs children (they keep the squashed changes) that are finished; deleting a
        commit with children is refused (squash it instead). Branches pointing at a
        deleted commit move back to its parent. Commits of an owned repo (a pipeline's output)
        go only with their whole set and an ``also`` that keeps the owner's records in step.
        """
        verb, done = ("squash", "squashed") if squash else ("delete", "deleted")
        with self.meta.write() as tx:
            recs = tx.commits(repo=repo, commit_id=commit_id)
            if not recs:
                raise CommitNotFoundError(f"commit {commit_id} not found")
            removing = {r.ref for r in recs}
            for rec in recs:
                writer = tx.repo_writer(rec.repo)
                if writer is not None and (repo is not None or also is None):
                    raise ConflictError(
                        f"cannot {verb} {rec.ref}: it is an output commit of {writer}; "
                        f"{verb} the whole commit set ({commit_id}) through the cluster"
                    )
                outside = [s for s in tx.subvenance(rec.repo, rec.id) if s not in removing]
                if outside:
                    names = ", ".join(str(s) for s in outside)
                    raise ConflictError(
                        f"cannot {verb} {rec.ref}: commits computed from it ({names}) "
                        f"must be {done} with it"
                    )
                children = tx.children(rec.repo, rec.id)
                if squash and not children:
                    raise ConflictError(
                        f"cannot squash {rec.ref}: it has no children to keep its changes; "
                        f"use `raypachy delete commit` to drop it"
                    )
                if not squash and children:
                    raise ConflictError(
                        f"cannot delete {rec.ref}: it has children; squash it instead "
                        f"(its changes stay in them) or delete the children first"
                    )
                for child in children:
                    if tx.commit(rec.repo, child) is None or _finished(tx, rec.repo, child).is_open:
                        raise CommitOpenError(
                            f"cannot {verb} {rec.ref}: its child {rec.repo}@{child} is still open"
                        )
            for rec in recs:
                for child in tx.children(rec.repo, rec.id):
                    tx.set_parent(rec.repo, child, rec.parent)
                for name in tx.branches_at(rec.repo, rec.id):
                    tx.move_branch(rec.repo, name, rec.parent, rec.id)
                tx.delete_commit(rec.repo, rec.id)
            if also is not None:
                also(tx, recs)
        return [str(r.ref) for r in recs]
