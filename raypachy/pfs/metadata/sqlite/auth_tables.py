"""Auth's statements on SQLite: tokens (hashed), role bindings and the audit log."""

from __future__ import annotations

import sqlite3

from raypachy.pfs.metadata.records import AuditRecord, RoleBindingRecord, TokenRecord
from raypachy.secrets import token_ref

TABLES = (
    """CREATE TABLE IF NOT EXISTS auth_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        activated REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS auth_tokens (
        hash TEXT PRIMARY KEY,
        ref TEXT NOT NULL UNIQUE,
        user TEXT NOT NULL,
        created REAL NOT NULL,
        expires REAL
    )""",
    "CREATE INDEX IF NOT EXISTS auth_tokens_by_user ON auth_tokens (user)",
    """CREATE TABLE IF NOT EXISTS role_bindings (
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        principal TEXT NOT NULL,
        role TEXT NOT NULL,
        PRIMARY KEY (kind, name, principal, role)
    )""",
    "CREATE INDEX IF NOT EXISTS role_bindings_by_principal ON role_bindings (principal)",
    """CREATE TABLE IF NOT EXISTS audit_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        principal TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS audit_log_by_time ON audit_log (at)",
)

_BINDING = "SELECT kind, name, principal, role FROM role_bindings"


class AuthTables:
    """The auth part of a SQLite transaction (see ``raypachy.pfs.metadata.interface``)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def auth_activated(self) -> float | None:
        row = self.conn.execute("SELECT activated FROM auth_state WHERE id = 1").fetchone()
        return None if row is None else float(row[0])

    def activate_auth(self, now: float) -> None:
        self.conn.execute("INSERT INTO auth_state (id, activated) VALUES (1, ?)", (now,))

    def token(self, token_hash: str) -> TokenRecord | None:
        row = self.conn.execute(
            "SELECT hash, user, created, expires FROM auth_tokens WHERE hash = ?", (token_hash,)
        ).fetchone()
        return None if row is None else TokenRecord(*row)

    def token_by_ref(self, ref: str) -> TokenRecord | None:
        row = self.conn.execute(
            "SELECT hash, user, created, expires FROM auth_tokens WHERE ref = ?", (ref,)
        ).fetchone()
        return None if row is None else TokenRecord(*row)

    def insert_token(self, token: TokenRecord) -> None:
        self.conn.execute(
            "INSERT INTO auth_tokens (hash, ref, user, created, expires) VALUES (?, ?, ?, ?, ?)",
            (token.hash, token_ref(token.hash), token.user, token.created, token.expires),
        )

    def delete_token(self, token_hash: str) -> int:
        return self.conn.execute("DELETE FROM auth_tokens WHERE hash = ?", (token_hash,)).rowcount

    def delete_user_tokens(self, user: str) -> int:
        return self.conn.execute("DELETE FROM auth_tokens WHERE user = ?", (user,)).rowcount

    def role_bindings(self, kind: str, name: str) -> list[RoleBindingRecord]:
        rows = self.conn.execute(
            f"{_BINDING} WHERE kind = ? AND name = ? ORDER BY principal, role", (kind, name)
        )
        return [RoleBindingRecord(*r) for r in rows]

    def principal_bindings(self, principal: str) -> list[RoleBindingRecord]:
        rows = self.conn.execute(
            f"{_BINDING} WHERE principal = ? ORDER BY kind, name, role", (principal,)
        )
        return [RoleBindingRecord(*r) for r in rows]

    def add_role_binding(self, binding: RoleBindingRecord) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO role_bindings (kind, name, principal, role) VALUES (?, ?, ?, ?)",
            (binding.kind, binding.name, binding.principal, binding.role),
        )

    def remove_role_binding(self, binding: RoleBindingRecord) -> int:
        return self.conn.execute(
            "DELETE FROM role_bindings WHERE kind = ? AND name = ? AND principal = ? AND role = ?",
            (binding.kind, binding.name, binding.principal, binding.role),
        ).rowcount

    def delete_role_bindings(self, kind: str, name: str) -> None:
        self.conn.execute("DELETE FROM role_bindings WHERE kind = ? AND name = ?", (kind, name))

    def add_audit(self, entry: AuditRecord) -> None:
        self.conn.execute(
            "INSERT INTO audit_log (at, principal, action, detail, outcome) VALUES (?, ?, ?, ?, ?)",
            (entry.at, entry.principal, entry.action, entry.detail, entry.outcome),
        )

    def audit(self, since: float, limit: int) -> list[AuditRecord]:
        rows = self.conn.execute(
            "SELECT at, principal, action, detail, outcome FROM audit_log WHERE at >= ? "
            "ORDER BY seq LIMIT ?",
            (since, limit),
        )
        return [AuditRecord(*r) for r in rows]
