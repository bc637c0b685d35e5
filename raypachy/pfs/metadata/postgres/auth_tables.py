"""Auth's statements on PostgreSQL: tokens (hashed), role bindings and the audit log."""

from __future__ import annotations

from raypachy.pfs.metadata.postgres.pfs_tables import text
from raypachy.pfs.metadata.postgres.schema import Conn
from raypachy.pfs.metadata.records import AuditRecord, RoleBindingRecord, TokenRecord
from raypachy.secrets import token_ref

_BINDING = "SELECT kind, name, principal, role FROM role_bindings"


class AuthTables:
    """The auth part of a PostgreSQL transaction (see ``raypachy.pfs.metadata.interface``)."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    def auth_activated(self) -> float | None:
        row = self.conn.execute("SELECT activated FROM auth_state WHERE id = 1").fetchone()
        return None if row is None else float(row[0])

    def activate_auth(self, now: float) -> None:
        self.conn.execute("INSERT INTO auth_state (id, activated) VALUES (1, %s)", (now,))

    def token(self, token_hash: str) -> TokenRecord | None:
        row = self.conn.execute(
            'SELECT hash, "user", created, expires FROM auth_tokens WHERE hash = %s',
            (token_hash,),
        ).fetchone()
        return None if row is None else TokenRecord(*row)

    def token_by_ref(self, ref: str) -> TokenRecord | None:
        row = self.conn.execute(
            'SELECT hash, "user", created, expires FROM auth_tokens WHERE ref = %s', (ref,)
        ).fetchone()
        return None if row is None else TokenRecord(*row)

    def insert_token(self, token: TokenRecord) -> None:
        self.conn.execute(
            'INSERT INTO auth_tokens (hash, ref, "user", created, expires) '
            "VALUES (%s, %s, %s, %s, %s)",
            (token.hash, token_ref(token.hash), token.user, token.created, token.expires),
        )

    def delete_token(self, token_hash: str) -> int:
        return self.conn.execute("DELETE FROM auth_tokens WHERE hash = %s", (token_hash,)).rowcount

    def delete_user_tokens(self, user: str) -> int:
        return self.conn.execute('DELETE FROM auth_tokens WHERE "user" = %s', (user,)).rowcount

    def role_bindings(self, kind: str, name: str) -> list[RoleBindingRecord]:
        rows = self.conn.execute(
            f"{_BINDING} WHERE kind = %s AND name = %s ORDER BY principal, role", (kind, name)
        )
        return [RoleBindingRecord(*r) for r in rows]

    def principal_bindings(self, principal: str) -> list[RoleBindingRecord]:
        rows = self.conn.execute(
            f"{_BINDING} WHERE principal = %s ORDER BY kind, name, role", (principal,)
        )
        return [RoleBindingRecord(*r) for r in rows]

    def add_role_binding(self, binding: RoleBindingRecord) -> None:
        self.conn.execute(
            "INSERT INTO role_bindings (kind, name, principal, role) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            (binding.kind, binding.name, binding.principal, binding.role),
        )

    def remove_role_binding(self, binding: RoleBindingRecord) -> int:
        return self.conn.execute(
            "DELETE FROM role_bindings WHERE kind = %s AND name = %s AND principal = %s "
            "AND role = %s",
            (binding.kind, binding.name, binding.principal, binding.role),
        ).rowcount

    def delete_role_bindings(self, kind: str, name: str) -> None:
        self.conn.execute("DELETE FROM role_bindings WHERE kind = %s AND name = %s", (kind, name))

    def add_audit(self, entry: AuditRecord) -> None:
        self.conn.execute(
            "INSERT INTO audit_log (at, principal, action, detail, outcome) "
            "VALUES (%s, %s, %s, %s, %s)",
            (
                entry.at,
                text(entry.principal),
                text(entry.action),
                text(entry.detail),
                text(entry.outcome),
            ),
        )

    def audit(self, since: float, limit: int) -> list[AuditRecord]:
        rows = self.conn.execute(
            "SELECT at, principal, action, detail, outcome FROM audit_log WHERE at >= %s "
            "ORDER BY seq LIMIT %s",
            (since, limit),
        )
        return [AuditRecord(*r) for r in rows]
