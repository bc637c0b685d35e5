"""PFS's statements on PostgreSQL: repos, branches, commits, provenance, leases and locks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from raypachy.pfs.metadata.postgres.schema import Conn
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
from raypachy.pfs.metadata.rows import COMMIT_COLS, LEASE_COLS, commit_row
from raypachy.pfs.model import CommitRef
from raypachy.storage.manifest import ManifestInfo

#: Rows a server-side cursor hands over at a time (all_layers walks every commit).
_BATCH = 2000


def text(value: str) -> str:
    """Free text as PostgreSQL can hold it: its text type has no NUL character, so one
    (in an error a user's code raised, say) becomes U+FFFD instead of failing the write."""
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def maybe_text(value: str | None) -> str | None:
    return None if value is None else text(value)


#: A commit's columns and, in the same round trip, its provenance as [repo, id] pairs.
_WITH_PROVENANCE = (
    f"{COMMIT_COLS}, ARRAY(SELECT ARRAY[p.in_repo, p.in_id] FROM provenance p "
    "WHERE p.repo = c.repo AND p.id = c.id ORDER BY p.in_repo, p.in_id)"
)


def _with_provenance(row: Any) -> CommitRecord:
    rec = commit_row(row)
    prov = tuple(CommitRef(r, i) for r, i in row[13])
    return rec.with_provenance(prov) if prov else rec


class PfsTables:
    """The PFS half of a PostgreSQL transaction (see ``raypachy.pfs.metadata.interface``)."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    # --- repos -------------------------------------------------------------------------

    def repo(self, name: str) -> RepoRecord | None:
        row = self.conn.execute(
            "SELECT name, created, description FROM repos WHERE name = %s", (name,)
        ).fetchone()
        return None if row is None else RepoRecord(*row)

    def repos(self) -> list[RepoRecord]:
        rows = self.conn.execute("SELECT name, created, description FROM repos ORDER BY name")
        return [RepoRecord(*r) for r in rows]

    def insert_repo(self, repo: RepoRecord) -> None:
        self.conn.execute(
            "INSERT INTO repos (name, created, description) VALUES (%s, %s, %s)",
            (repo.name, repo.created, text(repo.description)),
        )

    def update_repo(self, name: str, description: str) -> None:
        self.conn.execute(
            "UPDATE repos SET description = %s WHERE name = %s", (text(description), name)
        )

    def delete_repo(self, name: str) -> None:
        for table in ("branches", "commits", "provenance", "repo_writers"):
            self.conn.execute(f"DELETE FROM {table} WHERE repo = %s", (name,))
        self.conn.execute("DELETE FROM repos WHERE name = %s", (name,))
        self.conn.execute("DELETE FROM object_metadata WHERE repo = %s", (name,))

    def repo_writer(self, name: str) -> str | None:
        row = self.conn.execute(
            "SELECT writer FROM repo_writers WHERE repo = %s", (name,)
        ).fetchone()
        return None if row is None else str(row[0])

    def set_repo_writer(self, name: str, writer: str | None) -> None:
        self.conn.execute("DELETE FROM repo_writers WHERE repo = %s", (name,))
        if writer is not None:
            self.conn.execute(
                "INSERT INTO repo_writers (repo, writer) VALUES (%s, %s)", (name, text(writer))
            )

    # --- branches ------------------------------------------------------------------------

    def branch(self, repo: str, name: str) -> BranchRecord | None:
        row = self.conn.execute(
            "SELECT repo, name, head, created FROM branches WHERE repo = %s AND name = %s",
            (repo, name),
        ).fetchone()
        return None if row is None else BranchRecord(*row)

    def branches(self, repo: str) -> list[BranchRecord]:
        rows = self.conn.execute(
            "SELECT repo, name, head, created FROM branches WHERE repo = %s ORDER BY name",
            (repo,),
        )
        return [BranchRecord(*r) for r in rows]

    def branches_at(self, repo: str, head: CommitId) -> list[str]:
        rows = self.conn.execute(
            "SELECT name FROM branches WHERE repo = %s AND head = %s ORDER BY name", (repo, head)
        )
        return [r[0] for r in rows]

    def insert_branch(self, branch: BranchRecord) -> None:
        self.conn.execute(
            "INSERT INTO branches (repo, name, head, created) VALUES (%s, %s, %s, %s)",
            (branch.repo, branch.name, branch.head, branch.created),
        )

    def move_branch(
        self, repo: str, name: str, head: CommitId | None, expected: CommitId | None
    ) -> bool:
        # The compare-and-swap is this one statement: a concurrent mover waits for the row
        # lock, then finds the head changed and updates nothing.
        cur = self.conn.execute(
            "UPDATE branches SET head = %s WHERE repo = %s AND name = %s "
            "AND head IS NOT DISTINCT FROM %s",
            (head, repo, name, expected),
        )
        return cur.rowcount == 1

    def delete_branch(self, repo: str, name: str) -> None:
        self.conn.execute("DELETE FROM branches WHERE repo = %s AND name = %s", (repo, name))
        self.conn.execute(
            "DELETE FROM object_metadata WHERE kind IN ('branch', 'trigger') AND repo = %s "
            "AND name = %s",
            (repo, name),
        )

    # --- users' metadata; branch triggers -------------------------------------------------

    def object_metadata(self, kind: str, repo: str, name: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT data FROM object_metadata WHERE kind = %s AND repo = %s AND name = %s",
            (kind, repo, name),
        ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def objects_metadata(self, kind: str, repo: str) -> dict[str, dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT name, data FROM object_metadata WHERE kind = %s AND repo = %s", (kind, repo)
        )
        return {r[0]: dict(json.loads(r[1])) for r in rows}

    def set_object_metadata(
        self, kind: str, repo: str, name: str, data: dict[str, Any] | None
    ) -> None:
        self.conn.execute(
            "DELETE FROM object_metadata WHERE kind = %s AND repo = %s AND name = %s",
            (kind, repo, name),
        )
        if data is not None:
            self.conn.execute(
                "INSERT INTO object_metadata (kind, repo, name, data) VALUES (%s, %s, %s, %s)",
                (kind, repo, name, json.dumps(data, sort_keys=True)),
            )

    # --- commits -------------------------------------------------------------------------

    def commit(self, repo: str, commit_id: CommitId) -> CommitRecord | None:
        row = self.conn.execute(
            f"SELECT {_WITH_PROVENANCE} FROM commits c WHERE repo = %s AND id = %s",
            (repo, commit_id),
        ).fetchone()
        return None if row is None else _with_provenance(row)

    def commits(
        self,
        repo: str | None = None,
        commit_id: CommitId | None = None,
        after: CommitPosition | None = None,
        limit: int | None = None,
    ) -> list[CommitRecord]:
        sql = f"SELECT {_WITH_PROVENANCE} FROM commits c"
        where: list[str] = []
        args: list[Any] = []
        if repo is not None:
            where.append("repo = %s")
            args.append(repo)
        if commit_id is not None:
            where.append("id = %s")
            args.append(commit_id)
        if after is not None:
            where.append("(started, pos) < (%s, %s)")
            args += [after[0], after[1]]
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started DESC, pos DESC"
        if limit is not None:
            sql += " LIMIT %s"
            args.append(limit)
        return [_with_provenance(r) for r in self.conn.execute(sql, args)]

    def commit_position(self, repo: str | None, commit_id: CommitId) -> CommitPosition | None:
        sql = "SELECT started, pos FROM commits WHERE id = %s"
        args: list[str] = [commit_id]
        if repo:
            sql += " AND repo = %s"
            args.append(repo)
        row = self.conn.execute(sql + " LIMIT 1", args).fetchone()
        return None if row is None else (row[0], row[1])

    def children(self, repo: str, commit_id: CommitId) -> list[CommitId]:
        rows = self.conn.execute(
            "SELECT id FROM commits WHERE repo = %s AND parent = %s ORDER BY started, pos",
            (repo, commit_id),
        )
        return [r[0] for r in rows]

    def insert_commit(self, commit: CommitRecord) -> None:
        rec = commit
        self.conn.execute(
            f"INSERT INTO commits ({COMMIT_COLS}) "
            "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            (
                rec.repo, rec.id, rec.branch, rec.parent, rec.origin, text(rec.description),
                rec.started, rec.finished, maybe_text(rec.error), rec.size_bytes,
                rec.file_count, layers_to_json(rec.layers), layers_to_json(rec.staged),
            ),
        )  # fmt: skip
        if rec.provenance:
            with self.conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO provenance (repo, id, in_repo, in_id) VALUES (%s,%s,%s,%s) "
                    "ON CONFLICT DO NOTHING",
                    [(rec.repo, rec.id, p.repo, p.id) for p in rec.provenance],
                )

    def update_open_commit(self, before: CommitRecord, after: CommitRecord) -> bool:
        cur = self.conn.execute(
            "UPDATE commits SET finished = %s, error = %s, size_bytes = %s, file_count = %s, "
            "layers = %s, staged = %s, description = %s "
            "WHERE repo = %s AND id = %s AND finished IS NULL AND staged = %s",
            (
                after.finished, maybe_text(after.error), after.size_bytes, after.file_count,
                layers_to_json(after.layers), layers_to_json(after.staged),
                text(after.description), before.repo, before.id, layers_to_json(before.staged),
            ),
        )  # fmt: skip
        return cur.rowcount == 1

    def set_parent(self, repo: str, commit_id: CommitId, parent: CommitId | None) -> None:
        self.conn.execute(
            "UPDATE commits SET parent = %s WHERE repo = %s AND id = %s", (parent, repo, commit_id)
        )

    def drop_provenance(self, repo: str, commit_id: CommitId, input_ref: CommitRef) -> None:
        self.conn.execute(
            "DELETE FROM provenance WHERE repo = %s AND id = %s AND in_repo = %s AND in_id = %s",
            (repo, commit_id, input_ref.repo, input_ref.id),
        )

    def delete_commit(self, repo: str, commit_id: CommitId) -> None:
        self.conn.execute("DELETE FROM commits WHERE repo = %s AND id = %s", (repo, commit_id))
        self.conn.execute("DELETE FROM provenance WHERE repo = %s AND id = %s", (repo, commit_id))
        self.conn.execute(
            "DELETE FROM object_metadata WHERE kind = 'commit' AND repo = %s AND name = %s",
            (repo, commit_id),
        )

    def subvenance(self, repo: str, commit_id: CommitId) -> list[CommitRef]:
        rows = self.conn.execute(
            "SELECT repo, id FROM provenance WHERE in_repo = %s AND in_id = %s ORDER BY repo, id",
            (repo, commit_id),
        )
        return [CommitRef(r[0], r[1]) for r in rows]

    def all_layers(self) -> Iterator[ManifestInfo]:
        # a server-side cursor: every commit of every repo, without holding them all at once
        with self.conn.cursor(name="all_layers") as cur:
            cur.itersize = _BATCH
            cur.execute("SELECT layers, staged FROM commits")
            for layers, staged in cur:
                yield from layers_from_json(layers)
                yield from layers_from_json(staged)

    # --- leases and locks -------------------------------------------------------------------

    def leases(self) -> list[LeaseRecord]:
        rows = self.conn.execute(f"SELECT {LEASE_COLS} FROM leases ORDER BY started, id")
        return [LeaseRecord(*r) for r in rows]

    def lease(self, lease_id: str) -> LeaseRecord | None:
        row = self.conn.execute(
            f"SELECT {LEASE_COLS} FROM leases WHERE id = %s", (lease_id,)
        ).fetchone()
        return None if row is None else LeaseRecord(*row)

    def insert_lease(self, lease: LeaseRecord) -> None:
        x = lease
        self.conn.execute(
            f"INSERT INTO leases ({LEASE_COLS}) VALUES (%s,%s,%s,%s,%s,%s)",
            (x.id, x.host, x.pid, x.started, x.heartbeat, x.expires),
        )

    def heartbeat_lease(self, lease_id: str, now: float) -> bool:
        cur = self.conn.execute("UPDATE leases SET heartbeat = %s WHERE id = %s", (now, lease_id))
        return cur.rowcount == 1

    def delete_lease(self, lease_id: str) -> None:
        self.conn.execute("DELETE FROM leases WHERE id = %s", (lease_id,))

    def lock(self, name: str) -> LockRecord | None:
        row = self.conn.execute(
            "SELECT name, host, pid, acquired, heartbeat FROM locks WHERE name = %s", (name,)
        ).fetchone()
        return None if row is None else LockRecord(*row)

    def take_lock(self, lock: LockRecord) -> None:
        self.conn.execute(
            "INSERT INTO locks (name, host, pid, acquired, heartbeat) VALUES (%s,%s,%s,%s,%s) "
            "ON CONFLICT (name) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid, "
            "acquired = EXCLUDED.acquired, heartbeat = EXCLUDED.heartbeat",
            (lock.name, lock.host, lock.pid, lock.acquired, lock.heartbeat),
        )

    def renew_lock(self, name: str, host: str, pid: int, acquired: float, now: float) -> bool:
        cur = self.conn.execute(
            "UPDATE locks SET heartbeat = %s WHERE name = %s AND host = %s AND pid = %s "
            "AND acquired = %s",
            (now, name, host, pid, acquired),
        )
        return cur.rowcount == 1

    def break_lock(self, name: str) -> None:
        self.conn.execute("DELETE FROM locks WHERE name = %s", (name,))

    def release_lock(self, name: str, host: str, pid: int, acquired: float) -> None:
        self.conn.execute(
            "DELETE FROM locks WHERE name = %s AND host = %s AND pid = %s AND acquired = %s",
            (name, host, pid, acquired),
        )
