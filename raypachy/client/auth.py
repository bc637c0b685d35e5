"""The auth verbs of ``Client`` (users, tokens, roles, the audit log) over HTTP.

Answers are plain JSON (dicts): who asks is the token this client sends, never an argument.
"""

from __future__ import annotations

from typing import Any

from raypachy.client.transport import Transport
from raypachy.pachd.verbs import VERBS


class AuthClient:
    _transport: Transport

    def _auth(self, verb: str, json: dict[str, Any] | None = None, **params: Any) -> Any:
        row = VERBS[verb]
        query = {k: v for k, v in params.items() if v is not None} or None
        return self._transport.send(row.method, row.path, params=query, json=json).json()

    def auth_activate(self) -> str:
        """Turn on users and roles; the root user's token (shown this once: keep it)."""
        return str(self._auth("auth_activate")["token"])

    def whoami(self) -> dict[str, Any]:
        """``principal`` (empty before activation), ``active`` and ``expires``."""
        result: dict[str, Any] = self._auth("auth_whoami")
        return result

    def create_token(self, user: str, ttl: str | None = None) -> dict[str, Any]:
        """A new token for ``user`` (``ttl`` like ``30d``; none: until revoked)."""
        result: dict[str, Any] = self._auth("auth_create_token", {"user": user, "ttl": ttl})
        return result

    def revoke(self, token: str | None = None, user: str | None = None) -> int:
        """Revoke one token, or every token of ``user``; how many were."""
        return int(self._auth("auth_revoke", {"token": token, "user": user})["revoked"])

    def set_role(
        self, kind: str, name: str, principal: str, role: str, remove: bool = False
    ) -> list[dict[str, Any]]:
        """Grant ``role`` on a repo, the project or the cluster (or take it back)."""
        body = {"kind": kind, "name": name, "principal": principal, "role": role,
                "remove": remove}  # fmt: skip
        result: list[dict[str, Any]] = self._auth("auth_set_role", body)
        return result

    def get_roles(self, kind: str, name: str = "") -> list[dict[str, Any]]:
        """Who holds which role on an object."""
        result: list[dict[str, Any]] = self._auth("auth_get_roles", kind=kind, name=name)
        return result

    def check(self, kind: str, name: str = "") -> dict[str, Any]:
        """The caller's roles that reach an object, and the permissions they give there."""
        result: dict[str, Any] = self._auth("auth_check", kind=kind, name=name)
        return result

    def audit(self, since: float = 0.0, limit: int = 1000) -> list[dict[str, Any]]:
        """The mutations since ``since`` (seconds since the epoch), oldest first."""
        result: list[dict[str, Any]] = self._auth("auth_audit", since=since, limit=limit)
        return result
