"""PFS's statements on SQLite: repos, branches, commits, provenance, leases and locks."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

from raypachy.pfs.metadata.records import (
    BranchRecord,
    CommitId,
    CommitPosition,
    CommitRecord,
    LeaseRecord,
    LockRecord,
    RepoRecord,
    layers_from_json,
    layers_to_json,
)
from raypachy.pfs.metadata.rows import (
    COMMIT_COLS,
    LEASE_COLS,
    commit_row,
)
from raypachy.pfs.model import CommitRef
from raypachy.storage.manifest import ManifestInfo


class PfsTables:
    """The PFS half of a SQLite transaction (see ``raypachy.pfs.metadata.interface``)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    # --- repos -------------------------------------------------------------------------

    def repo(self, name: str) -> RepoRecord | None:
        row = self.conn.execute(
            "SELECT name, created, description FROM repos WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else RepoRecord(*row)

    def repos(self) -> list[RepoRecord]:
        rows = self.conn.execute("SELECT name, created, description FROM repos ORDER BY name")
        return [RepoRecord(*r) for r in rows]

    def insert_repo(self, repo: RepoRecord) -> None:
        self.conn.execute(
            "INSERT INTO repos (name, created, description) VALUES (?, ?, ?)",
            (repo.name, repo.created, repo.description),
        )

    def update_repo(self, name: str, description: str) -> None:
        self.conn.execute("UPDATE repos SET description = ? WHERE name = ?", (description, name))

    def delete_repo(self, name: str) -> None:
        for table in ("branches", "commits", "provenance", "repo_writers"):
            self.conn.execute(f"DELETE FROM {table} WHERE repo = ?", (name,))
        self.conn.execute("DELETE FROM repos WHERE name = ?", (name,))
        self.conn.execute("DELETE FROM object_metadata WHERE repo = ?", (name,))

    def repo_writer(self, name: str) -> str | None:
        row = self.conn.execute(
            "SELECT writer FROM repo_writers WHERE repo = ?", (name,)
        ).fetchone()
        return None if row is None else str(row[0])

    def set_repo_writer(self, name: str, writer: str | None) -> None:
        self.conn.execute("DELETE FROM repo_writers WHERE repo = ?", (name,))
        if writer is not None:
            self.conn.execute(
                "INSERT INTO repo_writers (repo, writer) VALUES (?, ?)", (name, writer)
            )

    # --- branches ------------------------------------------------------------------------

    def branch(self, repo: str, name: str) -> BranchRecord | None:
        row = self.conn.execute(
            "SELECT repo, name, head, created FROM branches WHERE repo = ? AND name = ?",
            (repo, name),
        ).fetchone()
        return None if row is None else BranchRecord(*row)

    def branches(self, repo: str) -> list[BranchRecord]:
        rows = self.conn.execute(
            "SELECT repo, name, head, created FROM branches WHERE repo = ? ORDER BY name", (repo,)
        )
        return [BranchRecord(*r) for r in rows]

    def branches_at(self, repo: str, head: CommitId) -> list[str]:
        rows = self.conn.execute(
            "SELECT name FROM branches WHERE repo = ? AND head = ? ORDER BY name", (repo, head)
        )
        return [r[0] for r in rows]

    def insert_branch(self, branch: BranchRecord) -> None:
        self.conn.execute(
            "INSERT INTO branches (repo, name, head, created) VALUES (?, ?, ?, ?)",
            (branch.repo, branch.name, branch.head, branch.created),
        )

    def move_branch(
        self, repo: str, name: str, head: CommitId | None, expected: CommitId | None
    ) -> bool:
        cur = self.conn.execute(
            "UPDATE branches SET head = ? WHERE repo = ? AND name = ? AND "
            "(head = ? OR (head IS NULL AND ? IS NULL))",
            (head, repo, name, expected, expected),
        )
        return cur.rowcount == 1

    def delete_branch(self, repo: str, name: str) -> None:
        self.conn.execute("DELETE FROM branches WHERE repo = ? AND name = ?", (repo, name))
        self.conn.execute(
            "DELETE FROM object_metadata WHERE kind IN ('branch', 'trigger') AND repo = ? "
            "AND name = ?",
            (repo, name),
        )

    # --- users' metadata; branch triggers -------------------------------------------------

    def object_metadata(self, kind: str, repo: str, name: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT data FROM object_metadata WHERE kind = ? AND repo = ? AND name = ?",
            (kind, repo, name),
        ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def objects_metadata(self, kind: str, repo: str) -> dict[str, dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT name, data FROM object_metadata WHERE kind = ? AND repo = ?", (kind, repo)
        )
        return {r[0]: dict(json.loads(r[1])) for r in rows}

    def set_object_metadata(
        self, kind: str, repo: str, name: str, data: dict[str, Any] | None
    ) -> None:
        self.conn.execute(
            "DELETE FROM object_metadata WHERE kind = ? AND repo = ? AND name = ?",
            (kind, repo, name),
        )
        if data is not None:
            self.conn.execute(
                "INSERT INTO object_metadata (kind, repo, name, data) VALUES (?, ?, ?, ?)",
                (kind, repo, name, json.dumps(data, sort_keys=True)),
            )

    # --- commits -------------------------------------------------------------------------

    def commit(self, repo: str, commit_id: CommitId) -> CommitRecord | None:
        row = self.conn.execute(
            f"SELECT {COMMIT_COLS} FROM commits WHERE repo = ? AND id = ?", (repo, commit_id)
        ).fetchone()
        return None if row is None else self._with_provenance(commit_row(row))

    def commits(
        self,
        repo: str | None = None,
        commit_id: CommitId | None = None,
        after: CommitPosition | None = None,
        limit: int | None = None,
    ) -> list[CommitRecord]:
        sql = f"SELECT {COMMIT_COLS} FROM commits"
        where: list[str] = []
        args: list[Any] = []
        if repo is not None:
            where.append("repo = ?")
            args.append(repo)
        if commit_id is not None:
            where.append("id = ?")
            args.append(commit_id)
        if after is not None:
            where.append("(started < ? OR (started = ? AND rowid < ?))")
            args += [after[0], after[0], after[1]]
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started DESC, rowid DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [self._with_provenance(commit_row(r)) for r in self.conn.execute(sql, args)]

    def commit_position(self, repo: str | None, commit_id: CommitId) -> CommitPosition | None:
        sql = "SELECT started, rowid FROM commits WHERE id = ?"
        args: list[str] = [commit_id]
        if repo:
            sql += " AND repo = ?"
            args.append(repo)
        row = self.conn.execute(sql + " LIMIT 1", args).fetchone()
        return None if row is None else (row[0], row[1])

    def children(self, repo: str, commit_id: CommitId) -> list[CommitId]:
        rows = self.conn.execute(
            "SELECT id FROM commits WHERE repo = ? AND parent = ? ORDER BY started",
            (repo, commit_id),
        )
        return [r[0] for r in rows]

    def insert_commit(self, commit: CommitRecord) -> None:
        rec = commit
        self.conn.execute(
            f"INSERT INTO commits ({COMMIT_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                rec.repo, rec.id, rec.branch, rec.parent, rec.origin, rec.description,
                rec.started, rec.finished, rec.error, rec.size_bytes, rec.file_count,
                layers_to_json(rec.layers), layers_to_json(rec.staged),
            ),
        )  # fmt: skip
        self.conn.executemany(
            "INSERT INTO provenance (repo, id, in_repo, in_id) VALUES (?,?,?,?) "
            "ON CONFLICT DO NOTHING",
            [(rec.repo, rec.id, p.repo, p.id) for p in rec.provenance],
        )

    def update_open_commit(self, before: CommitRecord, after: CommitRecord) -> bool:
        cur = self.conn.execute(
            "UPDATE commits SET finished = ?, error = ?, size_bytes = ?, file_count = ?, "
            "layers = ?, staged = ?, description = ? "
            "WHERE repo = ? AND id = ? AND finished IS NULL AND staged = ?",
            (
                after.finished, after.error, after.size_bytes, after.file_count,
                layers_to_json(after.layers), layers_to_json(after.staged), after.description,
                before.repo, before.id, layers_to_json(before.staged),
            ),
        )  # fmt: skip
        return cur.rowcount == 1

    def set_parent(self, repo: str, commit_id: CommitId, parent: CommitId | None) -> None:
        self.conn.execute(
            "UPDATE commits SET parent = ? WHERE repo = ? AND id = ?", (parent, repo, commit_id)
        )

    def drop_provenance(self, repo: str, commit_id: CommitId, input_ref: CommitRef) -> None:
        self.conn.execute(
            "DELETE FROM provenance WHERE repo = ? AND id = ? AND in_repo = ? AND in_id = ?",
            (repo, commit_id, input_ref.repo, input_ref.id),
        )

    def delete_commit(self, repo: str, commit_id: CommitId) -> None:
        self.conn.execute("DELETE FROM commits WHERE repo = ? AND id = ?", (repo, commit_id))
        self.conn.execute("DELETE FROM provenance WHERE repo = ? AND id = ?", (repo, commit_id))
        self.conn.execute(
            "DELETE FROM object_metadata WHERE kind = 'commit' AND repo = ? AND name = ?",
            (repo, commit_id),
        )

    def subvenance(self, repo: str, commit_id: CommitId) -> list[CommitRef]:
        rows = self.conn.execute(
            "SELECT repo, id FROM provenance WHERE in_repo = ? AND in_id = ? ORDER BY repo",
            (repo, commit_id),
        )
        return [CommitRef(r[0], r[1]) for r in rows]

    def all_layers(self) -> Iterator[ManifestInfo]:
        for layers, staged in self.conn.execute("SELECT layers, staged FROM commits"):
            yield from layers_from_json(layers)
            yield from layers_from_json(staged)

    def _with_provenance(self, rec: CommitRecord) -> CommitRecord:
        rows = self.conn.execute(
            "SELECT in_repo, in_id FROM provenance WHERE repo = ? AND id = ? ORDER BY in_repo",
            (rec.repo, rec.id),
        )
        prov = tuple(CommitRef(r[0], r[1]) for r in rows)
        return rec.with_provenance(prov) if prov else rec

    # --- leases and locks -------------------------------------------------------------------

    def leases(self) -> list[LeaseRecord]:
        rows = self.conn.execute(f"SELECT {LEASE_COLS} FROM leases ORDER BY started, id")
        return [LeaseRecord(*r) for r in rows]

    def lease(self, lease_id: str) -> LeaseRecord | None:
        row = self.conn.execute(
            f"SELECT {LEASE_COLS} FROM leases WHERE id = ?", (lease_id,)
        ).fetchone()
        return None if row is None else LeaseRecord(*row)

    def insert_lease(self, lease: LeaseRecord) -> None:
        x = lease
        self.conn.execute(
            f"INSERT INTO leases ({LEASE_COLS}) VALUES (?,?,?,?,?,?)",
            (x.id, x.host, x.pid, x.started, x.heartbeat, x.expires),
        )

    def heartbeat_lease(self, lease_id: str, now: float) -> bool:
        cur = self.conn.execute("UPDATE leases SET heartbeat = ? WHERE id = ?", (now, lease_id))
        return cur.rowcount == 1

    def delete_lease(self, lease_id: str) -> None:
        self.conn.execute("DELETE FROM leases WHERE id = ?", (lease_id,))

    def lock(self, name: str) -> LockRecord | None:
        row = self.conn.execute(
            "SELECT name, host, pid, acquired, heartbeat FROM locks WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else LockRecord(*row)

    def take_lock(self, lock: LockRecord) -> None:
        self.conn.execute("DELETE FROM locks WHERE name = ?", (lock.name,))
        self.conn.execute(
            "INSERT INTO locks (name, host, pid, acquired, heartbeat) VALUES (?,?,?,?,?)",
            (lock.name, lock.host, lock.pid, lock.acquired, lock.heartbeat),
        )

    def renew_lock(self, name: str, host: str, pid: int, acquired: float, now: float) -> bool:
        cur = self.conn.execute(
            "UPDATE locks SET heartbeat = ? WHERE name = ? AND host = ? AND pid = ? "
            "AND acquired = ?",
            (now, name, host, pid, acquired),
        )
        return cur.rowcount == 1

    def break_lock(self, name: str) -> None:
        self.conn.execute("DELETE FROM locks WHERE name = ?", (name,))

    def release_lock(self, name: str, host: str, pid: int, acquired: float) -> None:
        self.conn.execute(
            "DELETE FROM locks WHERE name = ? AND host = ? AND pid = ? AND acquired = ?",
            (name, host, pid, acquired),
        )
