"""Bucket names and object keys, as Pachyderm's S3 gateway spells them.

A bucket is ``<branch>.<repo>`` (read and write the branch head), ``<commit id>.<repo>``
(read-only: one finished commit) or either followed by ``.<project>`` (Pachyderm 2.5+;
without it, the ``default`` project). Project, repo and branch names hold no dots, so the
split is unambiguous. An object key is a file path without its leading ``/``.
"""

from __future__ import annotations

from dataclasses import dataclass

from raypachy.errors import InvalidArgumentError, S3Error
from raypachy.pfs.names import (
    DEFAULT_PROJECT,
    check_branch_name,
    check_project_name,
    check_repo_name,
    is_commit_id,
    normalize_path,
)

MAX_KEY_BYTES = 1024


@dataclass(frozen=True, slots=True)
class BucketName:
    """Where a bucket points: ``repo@ref``, a branch (writable) or a commit (read-only)."""

    repo: str
    ref: str
    is_commit: bool

    @property
    def target(self) -> str:
        return f"{self.repo}@{self.ref}"

    def __str__(self) -> str:
        return bucket_name(self.repo, self.ref)


def no_such_bucket(name: str, why: str = "") -> S3Error:
    return S3Error(
        "NoSuchBucket", f"bucket {name!r} does not exist{': ' + why if why else ''}", 404
    )


def parse_bucket(name: str) -> BucketName:
    """``master.images`` -> images@master; ``NoSuchBucket`` for a name that cannot be one."""
    parts = name.split(".")
    project = parts.pop() if len(parts) == 3 else DEFAULT_PROJECT
    if len(parts) != 2:
        raise no_such_bucket(
            name, "bucket names are <branch>.<repo>[.<project>] or <commit id>.<repo>[.<project>]"
        )
    ref, repo = parts
    try:
        check_repo_name(repo)
        check_project_name(project)
        if project != DEFAULT_PROJECT:
            repo = f"{project}/{repo}"
        if not is_commit_id(ref):
            check_branch_name(ref)
    except InvalidArgumentError as e:
        raise no_such_bucket(name, e.message) from None
    return BucketName(repo, ref, is_commit_id(ref))


def bucket_name(repo: str, branch: str) -> str:
    """The bucket of a branch (or commit) of a repo (by key): ``branch.repo[.project]``."""
    project, _, plain = repo.rpartition("/")
    return f"{branch}.{plain}.{project}" if project else f"{branch}.{plain}"


def key_path(key: str) -> str:
    """The file path of an object key; ``InvalidArgument`` for a key that is no clean path."""
    if len(key.encode()) > MAX_KEY_BYTES:
        raise S3Error("KeyTooLongError", f"object keys are at most {MAX_KEY_BYTES} bytes", 400)
    try:
        path = normalize_path("/" + key, allow_root=False)
    except InvalidArgumentError as e:
        raise S3Error("InvalidArgument", f"object key {key!r}: {e.message}") from None
    if path != "/" + key:
        raise S3Error(
            "InvalidArgument",
            f"object key {key!r} is not a clean path: use {path[1:]!r} "
            "(no empty, '.' or '..' segments)",
        )
    return path


def path_key(path: str) -> str:
    return path[1:]
