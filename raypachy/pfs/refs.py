"""Resolving ``repo@ref^N`` to a commit record inside a metadata transaction."""

from __future__ import annotations

from raypachy.errors import BranchNotFoundError, CommitNotFoundError, RepoNotFoundError
from raypachy.pfs.metadata import CommitId, CommitRecord, Tx
from raypachy.pfs.names import is_commit_id

DEFAULT_BRANCH = "master"


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
