"""Resolving ``repo@ref^N`` and ``repo@branch.N`` to a commit record inside a metadata
transaction."""

from __future__ import annotations

import re

from raypachy.errors import BranchNotFoundError, CommitNotFoundError, RepoNotFoundError
from raypachy.pfs.metadata import CommitId, CommitRecord, Tx
from raypachy.pfs.names import is_commit_id

DEFAULT_BRANCH = "master"

#: ``branch.N``: the Nth commit of the branch, counted from its first (Pachyderm's forward
#: reference; ``^N`` counts back from the head).
_FORWARD_RE = re.compile(r"^(?P<branch>[^.]+)\.(?P<n>\d+)$")


def split_forward(ref: str) -> tuple[str, int]:
    """``("master", 2)`` for ``master.2``; ``(ref, 0)`` for a ref without a forward count."""
    match = _FORWARD_RE.match(ref)
    return (ref, 0) if match is None else (match["branch"], int(match["n"]))


def require_repo(tx: Tx, repo: str) -> None:
    if tx.repo(repo) is None:
        raise RepoNotFoundError(
            f"repo {repo} not found: create it with `raypachy create repo {repo}`"
        )


def resolve_commit(tx: Tx, repo: str, ref: str | None, ancestry: int = 0) -> CommitRecord | None:
    """The commit ``ref`` names, walked back ``ancestry`` parents.

    ``ref`` is a branch name or a commit id (None means ``master``). Returns None for a
    branch that has no commit yet; raises ``*NotFound`` for anything that does not exist.
    """
    require_repo(tx, repo)
    ref = ref or DEFAULT_BRANCH
    label = f"{repo}@{ref}"
    ref, forward = split_forward(ref)
    if is_commit_id(ref):
        rec = tx.commit(repo, CommitId(ref))
        if rec is None:
            raise CommitNotFoundError(f"commit {label} not found")
    else:
        branch = tx.branch(repo, ref)
        if branch is None:
            raise BranchNotFoundError(
                f"branch {label} not found: `raypachy list branch {repo}` shows its branches"
            )
        head = branch.head
        if head is None:
            if ancestry:
                raise CommitNotFoundError(
                    f"{label}^{ancestry} does not exist: {label} has no commits"
                )
            return None
        rec = tx.commit(repo, head)
        if rec is None:
            raise CommitNotFoundError(f"commit {repo}@{head} (head of {label}) not found")
        if forward:
            rec = _nth_from_first(tx, rec, forward, label)
    for step in range(ancestry):
        if rec.parent is None:
            raise CommitNotFoundError(
                f"{label}^{ancestry} does not exist: {label} has only {step} ancestor(s)"
            )
        parent = tx.commit(repo, rec.parent)
        if parent is None:
            raise CommitNotFoundError(
                f"commit {repo}@{rec.parent} (an ancestor of {label}) not found"
            )
        rec = parent
    return rec


def branch_history(tx: Tx, head: CommitRecord) -> list[CommitRecord]:
    """``head`` and its ancestors, newest first."""
    out = [head]
    while out[-1].parent is not None:
        parent = tx.commit(head.repo, out[-1].parent)
        if parent is None:
            break
        out.append(parent)
    return out


def _nth_from_first(tx: Tx, head: CommitRecord, n: int, label: str) -> CommitRecord:
    chain = branch_history(tx, head)
    if not 1 <= n <= len(chain):
        raise CommitNotFoundError(
            f"{label} does not exist: the branch has {len(chain)} commit(s), "
            f"counted from .1 (its first)"
        )
    return chain[len(chain) - n]
