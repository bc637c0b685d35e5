"""What the HTTP API may ask of the metadata side, as plain synchronous methods.

One ``Operations`` lives next to the metadata store (inside the metadata actor on Ray, or
in-process in tests). Every result is a picklable value; iterators become lists.
"""

from __future__ import annotations

import os
from typing import Any

from raypachy.errors import InvalidArgumentError
from raypachy.pfs.address import parse_address
from raypachy.pfs.model import Branch, Commit, CommitRef, FileChange, FileInfo, GCReport, Repo
from raypachy.pfs.names import normalize_path
from raypachy.pfs.service import PFS
from raypachy.pfs.wire import file_data_to_json
from raypachy.storage.manifest import ManifestInfo

#: The operations the API server may call by name (nothing else is reachable).
NAMES = frozenset(
    {
        "create_repo", "inspect_repo", "list_repos", "delete_repo",
        "create_branch", "inspect_branch", "list_branches", "delete_branch",
        "start_commit", "finish_commit", "inspect_commit", "list_commits", "commit_set",
        "wait_commit", "delete_commit", "squash_commit",
        "list_files", "glob_files", "inspect_file", "diff_files", "walk_refs", "path_kind",
        "delete_file", "copy_file", "check_writable", "register_layer",
        "acquire_lease", "heartbeat_lease", "release_lease", "gc", "status",
    }
)  # fmt: skip


class Operations:
    def __init__(self, pfs: PFS) -> None:
        self.pfs = pfs

    # Repos, branches, commits: the library does the work.
    def create_repo(self, name: str, description: str = "", update: bool = False) -> Repo:
        return self.pfs.create_repo(name, description, update)

    def inspect_repo(self, name: str) -> Repo:
        return self.pfs.inspect_repo(name)

    def list_repos(self) -> list[Repo]:
        return self.pfs.list_repos()

    def delete_repo(self, name: str) -> None:
        self.pfs.delete_repo(name)

    def create_branch(self, repo: str, name: str, head: str | None, **kw: Any) -> Branch:
        return self.pfs.create_branch(repo, name, head, **kw)

    def inspect_branch(self, repo: str, name: str) -> Branch:
        return self.pfs.inspect_branch(repo, name)

    def list_branches(self, repo: str) -> list[Branch]:
        return self.pfs.list_branches(repo)

    def delete_branch(self, repo: str, name: str) -> None:
        self.pfs.delete_branch(repo, name)

    def start_commit(self, target: str, **kw: Any) -> Commit:
        if "provenance" in kw:
            kw["provenance"] = [CommitRef(p["repo"], p["id"]) for p in kw["provenance"]]
        return self.pfs.start_commit(target, **kw)

    def finish_commit(self, target: str, **kw: Any) -> Commit:
        return self.pfs.finish_commit(target, **kw)

    def inspect_commit(self, target: str) -> Commit:
        return self.pfs.inspect_commit(target)

    def list_commits(self, repo: str | None, branch: str | None, limit: int | None) -> list[Commit]:
        return self.pfs.list_commits(repo, branch, limit)

    def commit_set(self, commit_id: str) -> list[Commit]:
        return self.pfs.commit_set(commit_id)

    def wait_commit(self, target: str, timeout: float | None) -> Commit:
        return self.pfs.wait_commit(target, timeout)

    def delete_commit(self, target: str) -> list[str]:
        return self.pfs.delete_commit(target)

    def squash_commit(self, target: str) -> list[str]:
        return self.pfs.squash_commit(target)

    # Files.
    def list_files(self, target: str, path: str) -> list[FileInfo]:
        return self.pfs.list_files(target, path)

    def glob_files(self, target: str, pattern: str) -> list[FileInfo]:
        return self.pfs.glob_files(target, pattern)

    def inspect_file(self, target: str, path: str) -> FileInfo:
        return self.pfs.inspect_file(target, path)

    def diff_files(self, new: str, old: str | None, path: str) -> list[FileChange]:
        return self.pfs.diff_files(new, old, path)

    def walk_refs(self, target: str, path: str) -> list[dict[str, Any]]:
        """Where the bytes of every file at or under ``path`` are (for direct reads)."""
        path = normalize_path(path)
        return [file_data_to_json(p, d) for p, d in self.pfs.walk_data(target, path)]

    def path_kind(self, target: str, path: str) -> str | None:
        return self.pfs.path_kind(parse_address(target), normalize_path(path))

    def delete_file(self, target: str, path: str) -> Commit:
        return self.pfs.delete_file(target, path)

    def copy_file(self, src: str, src_path: str, dst: str, dst_path: str, append: bool) -> Commit:
        return self.pfs.copy_file(src, src_path, dst, dst_path, append)

    # The data plane: clients write chunks and a manifest, then register it here.
    def check_writable(self, target: str) -> None:
        self.pfs.check_writable(parse_address(target))

    def register_layer(self, target: str, manifest_id: str, lease_id: str) -> Commit:
        if len(manifest_id) != 64 or any(c not in "0123456789abcdef" for c in manifest_id):
            raise InvalidArgumentError(f"invalid manifest id {manifest_id!r}")
        if not self.pfs.manifests.exists(manifest_id):
            raise InvalidArgumentError(
                f"manifest {manifest_id} is not in {self.pfs.backend.uri}: write it first"
            )
        try:
            # Count the rows here: a client's word on them decides nothing.
            rows = self.pfs.manifests.open(manifest_id).rows
            return self.pfs.register_layer(
                parse_address(target), ManifestInfo(manifest_id, rows), lease_id
            )
        finally:
            if lease_id:
                self.pfs.leases.release(lease_id)

    def acquire_lease(self, host: str, pid: int) -> str:
        return self.pfs.leases.acquire(host, pid)

    def heartbeat_lease(self, lease_id: str) -> None:
        self.pfs.leases.heartbeat(lease_id)

    def release_lease(self, lease_id: str) -> None:
        self.pfs.leases.release(lease_id)

    def gc(self) -> GCReport:
        return self.pfs.gc()

    def status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "storage": self.pfs.backend.uri,
            "repos": len(self.pfs.list_repos()),
        }
