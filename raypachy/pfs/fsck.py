"""Checking an installation: every commit readable, every referenced chunk present.

Checks: each commit's manifests exist, match their ids and hold their entries sorted and
unique, as their footer says; each chunk they reference exists
(``deep``: and its bytes match its id); parents, branch heads and provenance point at commits
that exist. With ``fix``, what is safe is repaired: a branch whose head is gone moves to the
newest finished commit of that branch; provenance and parent links to missing commits are
dropped. Missing or corrupted data is reported, never "repaired" by deleting anything.
"""

from __future__ import annotations

from raypachy.errors import RaypachyError
from raypachy.pfs.metadata import BranchRecord, CommitRecord, MetadataStore
from raypachy.pfs.model import FsckReport, Problem
from raypachy.storage.chunkstore import ChunkStore
from raypachy.storage.manifest import ManifestStore
from raypachy.storage.verify import manifest_problem


def check(
    meta: MetadataStore,
    chunks: ChunkStore,
    manifests: ManifestStore,
    fix: bool = False,
    deep: bool = False,
) -> FsckReport:
    """Check a whole installation; ``deep`` also re-hashes every chunk, ``fix`` repairs links."""
    with meta.read() as tx:
        commits = tx.commits()
        branches = [b for r in tx.repos() for b in tx.branches(r.name)]
    ids: set[tuple[str, str]] = {(c.repo, c.id) for c in commits}
    problems, manifest_count, chunk_ids = _data(commits, chunks, manifests, deep)
    problems += _links(meta, commits, ids, fix)
    problems += _heads(meta, commits, branches, ids, fix)
    return FsckReport(len(commits), manifest_count, len(chunk_ids), tuple(problems))


def _data(
    commits: list[CommitRecord], chunks: ChunkStore, manifests: ManifestStore, deep: bool
) -> tuple[list[Problem], int, set[bytes]]:
    problems: list[Problem] = []
    manifest_ids = {m.id for c in commits for m in c.layers + c.staged}
    chunk_ids: set[bytes] = set()
    broken: set[str] = set()
    for manifest_id in sorted(manifest_ids):
        try:
            manifest = manifests.open(manifest_id)
            chunk_ids |= manifest.chunk_ids()
        except RaypachyError as e:
            broken.add(manifest_id)
            problems.append(Problem("manifest", manifest_id, e.message))
            continue
        wrong = manifest_problem(manifest)
        if wrong is not None:  # lookups and merges would go wrong: the commit needs fixing
            problems.append(Problem("manifest", manifest_id, wrong))
    for c in commits:
        bad = [m.id for m in c.layers + c.staged if m.id in broken]
        if bad:
            message = f"cannot be read: manifest {bad[0]} is missing or corrupted"
            problems.append(Problem("commit", f"{c.repo}@{c.id}", message))
    for chunk_id in sorted(chunk_ids):
        try:
            if deep:
                chunks.get(chunk_id)  # verifies the bytes against the id
            elif not chunks.exists(chunk_id):
                problems.append(Problem("chunk", chunk_id.hex(), "missing from storage"))
        except RaypachyError as e:
            problems.append(Problem("chunk", chunk_id.hex(), e.message))
    return problems, len(manifest_ids), chunk_ids


def _links(
    meta: MetadataStore, commits: list[CommitRecord], ids: set[tuple[str, str]], fix: bool
) -> list[Problem]:
    problems = []
    for c in commits:
        subject = f"{c.repo}@{c.id}"
        if c.parent is not None and (c.repo, c.parent) not in ids:
            if fix:
                with meta.write() as tx:
                    tx.set_parent(c.repo, c.id, None)
            message = f"parent {c.parent} does not exist"
            problems.append(Problem("parent", subject, message, fixed=fix))
        for p in c.provenance:
            if (p.repo, p.id) not in ids:
                if fix:
                    with meta.write() as tx:
                        tx.drop_provenance(c.repo, c.id, p)
                message = f"input commit {p} does not exist"
                problems.append(Problem("provenance", subject, message, fixed=fix))
    return problems


def _heads(
    meta: MetadataStore,
    commits: list[CommitRecord],
    branches: list[BranchRecord],
    ids: set[tuple[str, str]],
    fix: bool,
) -> list[Problem]:
    problems = []
    for branch in branches:
        repo, name, head = branch.repo, branch.name, branch.head
        if head is None or (repo, head) in ids:
            continue
        # commits come newest first; a branch may only rest on a finished, healthy commit
        newest = next(
            (
                c
                for c in commits
                if c.repo == repo and c.branch == name and not c.is_open and c.error is None
            ),
            None,
        )
        if fix:
            with meta.write() as tx:
                tx.move_branch(repo, name, newest.id if newest else None, head)
        target = newest.id if newest else "no commit"
        message = f"head {head} does not exist (moves to {target})"
        problems.append(Problem("branch", f"{repo}@{name}", message, fixed=fix))
    return problems
