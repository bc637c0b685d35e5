"""Users, tokens and roles over the metadata store (the model: ``raypachy.pachd.roles``).

Before ``activate`` the cluster is as it always was: whoever holds its API token (or, with
none, reaches it on loopback) may do everything. ``activate`` creates the root user
``pach:root`` with ``clusterAdmin`` and returns its token, once; from then on every request
names a user by its token, and each needs the roles its verb asks for
(``raypachy.pachd.access``). The cluster's API token stays root's: whoever holds it holds
the database too. Tokens are kept as their SHA-256 only; every mutation a user asks is
written to the audit log with its outcome: a denied one as it is refused, an allowed one once
its handler ended (``ok``, or ``failed: <why>``).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass

from raypachy.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from raypachy.pachd.roles import (
    LEAST_ROLE,
    PERMISSION_KIND,
    ROLES,
    ROOT,
    Need,
    Permission,
    check_object,
    check_principal,
    check_role,
    check_user,
)
from raypachy.pachd.visibility import Sight, sight_of
from raypachy.pfs import projects
from raypachy.pfs.metadata import (
    AuditRecord,
    MetadataStore,
    RoleBindingRecord,
    TokenRecord,
    Tx,
)
from raypachy.pfs.model import project_of_key
from raypachy.pfs.service import PFS
from raypachy.secrets import token_hash

AUDIT_PAGE = 10_000


@dataclass(frozen=True, slots=True)
class Identity:
    """Who asks: ``principal`` (empty before activation: the cluster's token holder)."""

    principal: str
    active: bool
    expires: float | None = None


def _grants(bindings: Iterable[RoleBindingRecord], need: Need) -> bool:
    for b in bindings:
        role = ROLES.get(b.role)
        if role is None or need.permission not in role.permissions:
            continue
        if b.kind == "cluster" or (b.kind == need.kind and b.name == need.name):
            return True
        if b.kind == "project" and need.kind == "repo" and project_of_key(need.name) == b.name:
            return True  # a project's roles hold on every repo in it
    return False


def _reaches(b: RoleBindingRecord, kind: str, name: str) -> bool:
    """Does a binding say anything about the object (kind, name)?"""
    if b.kind == "cluster" or (b.kind == kind and b.name == name):
        return True
    return b.kind == "project" and kind == "repo" and project_of_key(name) == b.name


class Auth:
    """Authentication, authorization and the audit log of one metadata store."""

    def __init__(self, meta: MetadataStore) -> None:
        self.meta = meta

    # --- who asks --------------------------------------------------------------------

    def _identify(self, tx: Tx, hashed: str | None, presented: str) -> Identity:
        """``presented``: ``cluster`` (the cluster's own API token), ``token`` (another) or
        ``none`` (no token, to a server that has none)."""
        if tx.auth_activated() is None:
            if presented == "token":
                raise UnauthenticatedError(
                    "wrong API token: set RAYPACHY_TOKEN to the cluster's token (on the "
                    "machine that runs `raypachy up`, clients read $RAYPACHY_HOME/token)"
                )
            return Identity("", active=False)
        if presented == "cluster":
            return Identity(ROOT, active=True)
        found = tx.token(hashed) if hashed and presented == "token" else None
        if found is None:
            raise UnauthenticatedError(
                "missing, unknown or revoked token: auth is active, set RAYPACHY_TOKEN to a "
                "token from `raypachy auth create-token`"
            )
        if found.expires is not None and found.expires <= time.time():
            raise UnauthenticatedError(
                f"the token of {found.user} expired: ask a clusterAdmin for a new one "
                "(`raypachy auth create-token`)"
            )
        return Identity(found.user, active=True, expires=found.expires)

    def identify(self, hashed: str | None, presented: str) -> Identity:
        with self.meta.read() as tx:
            return self._identify(tx, hashed, presented)

    def authorize(
        self,
        hashed: str | None,
        presented: str,
        needs: Iterable[Need],
        action: str = "",
        detail: str = "",
    ) -> Identity:
        """Who asks, once they hold every need; with ``action`` (a mutation) it is written
        to the audit log if it is denied (an allowed one is, once it ended: ``record``).
        ``PermissionDeniedError`` names the least role missing."""
        needs = list(needs)
        with self.meta.read() as tx:
            who = self._identify(tx, hashed, presented)
            if not who.active:
                return who
            try:
                self._check(tx, who.principal, needs, action)
            except PermissionDeniedError as e:
                denied = e
            else:
                return who
        if action:
            self.record(who.principal, action, detail, f"denied: {denied.message}")
        raise denied

    def record(self, principal: str, action: str, detail: str, outcome: str) -> None:
        """Write a mutation to the audit log with how it ended (ok, failed: why)."""
        entry = AuditRecord(time.time(), principal, action, detail, outcome[:1000])
        with self.meta.write() as tx:
            tx.add_audit(entry)

    def _check(self, tx: Tx, principal: str, needs: list[Need], action: str) -> None:
        if not needs:
            return
        bindings = tx.principal_bindings(principal)
        for need in needs:
            if not _grants(bindings, need):
                doing = f" (needed to {action})" if action else ""
                raise PermissionDeniedError(
                    f"{principal} lacks {LEAST_ROLE[need.permission]} on {need.describe()}{doing}"
                )

    def sight(self, principal: str) -> Sight | None:
        """What ``principal``'s listings show (None before activation: everything)."""
        with self.meta.read() as tx:
            if tx.auth_activated() is None:
                return None
            return sight_of(tx.principal_bindings(principal))

    def require(self, principal: str, needs: Iterable[Need]) -> None:
        with self.meta.read() as tx:
            if tx.auth_activated() is not None:
                self._check(tx, principal, list(needs), "")

    # --- the verbs ---------------------------------------------------------------------

    def activate(self) -> str:
        """Turn auth on: the root user's token, shown this once."""
        token = secrets.token_urlsafe(32)
        now = time.time()
        with self.meta.write() as tx:
            if tx.auth_activated() is not None:
                raise AlreadyExistsError("auth is already active (its root token was shown then)")
            tx.activate_auth(now)
            tx.insert_token(TokenRecord(token_hash(token), ROOT, now, None))
            tx.add_role_binding(RoleBindingRecord("cluster", "", ROOT, "clusterAdmin"))
            tx.add_audit(AuditRecord(now, ROOT, "auth_activate", "", "ok"))
        return token

    def create_token(self, caller: str, user: str, ttl_s: float | None) -> dict[str, object]:
        """A new token for ``user`` (expiring after ``ttl_s`` seconds); shown this once."""
        principal = f"user:{check_user(user)}"
        if ttl_s is not None and ttl_s <= 0:
            raise InvalidArgumentError("ttl must be positive (seconds)")
        token = secrets.token_urlsafe(32)
        now = time.time()
        expires = None if ttl_s is None else now + ttl_s
        with self.meta.write() as tx:
            self._active(tx)
            tx.insert_token(TokenRecord(token_hash(token), principal, now, expires))
            tx.add_audit(AuditRecord(now, caller, "auth_create_token", principal, "ok"))
        return {"user": principal, "token": token, "expires": expires}

    def revoke(self, caller: str, token: str | None, user: str | None) -> int:
        """Revoke one token (its holder or a clusterAdmin may) or every token of a user (the
        user or a clusterAdmin); how many were revoked."""
        if (token is None) == (user is None):
            raise InvalidArgumentError("give --token or --user (one of them)")
        with self.meta.write() as tx:
            self._active(tx)
            if token is not None:
                found = tx.token(token_hash(token))
                if found is None:
                    raise NotFoundError("no such token (revoked already, or never made)")
                count = tx.delete_token(token_hash(token))
                what = found.user
            else:
                principal = f"user:{check_user(user or '')}"
                if principal != caller:
                    self._check(tx, caller, [Need(Permission.CLUSTER_ADMIN)], "revoke")
                count = tx.delete_user_tokens(principal)
                what = principal
            tx.add_audit(AuditRecord(time.time(), caller, "auth_revoke", what, "ok"))
        return count

    def set_role(
        self, caller: str, kind: str, name: str, principal: str, role: str, remove: bool
    ) -> list[RoleBindingRecord]:
        """Grant (or with ``remove`` take back) ``role`` on an object; its bindings after."""
        kind, name = check_object(kind, name)
        check_role(kind, role)
        binding = RoleBindingRecord(kind, name, check_principal(principal), role)
        with self.meta.write() as tx:
            self._active(tx)
            if kind == "project" and not remove and not projects.exists(tx, name):
                raise InvalidArgumentError(
                    f"project {name!r} does not exist: create it first "
                    f"(`raypachy create project {name}`)"
                )
            if remove:
                if not tx.remove_role_binding(binding):
                    raise NotFoundError(f"{binding.principal} holds no {role} on {kind} {name}")
            else:
                tx.add_role_binding(binding)
            action = "auth_remove_role" if remove else "auth_set_role"
            detail = f"{kind} {name} {role} {binding.principal}".replace("  ", " ")
            tx.add_audit(AuditRecord(time.time(), caller, action, detail, "ok"))
            return tx.role_bindings(kind, name)

    def get_roles(self, kind: str, name: str) -> list[RoleBindingRecord]:
        kind, name = check_object(kind, name)
        with self.meta.read() as tx:
            return tx.role_bindings(kind, name)

    def check(self, principal: str, kind: str, name: str) -> dict[str, object]:
        """The roles ``principal`` holds that reach an object, and what they permit there."""
        kind, name = check_object(kind, name)
        with self.meta.read() as tx:
            active = tx.auth_activated() is not None
            bindings = tx.principal_bindings(principal) if active else []
        reaching = [b for b in bindings if _reaches(b, kind, name)]
        allowed = sorted(
            p.value for p in Permission
            if PERMISSION_KIND[p] == kind and _grants(reaching, Need(p, name))
        )  # fmt: skip
        return {
            "principal": principal, "active": active, "kind": kind, "name": name,
            "roles": sorted({f"{b.role} on {b.kind} {b.name}".strip() for b in reaching}),
            "permissions": allowed,
        }  # fmt: skip

    def audit(self, since: float, limit: int) -> list[AuditRecord]:
        with self.meta.read() as tx:
            return tx.audit(since, min(limit, AUDIT_PAGE))

    def created(self, principal: str, repo: str, kind: str = "repo") -> None:
        """The creator of a repo (or a pipeline's output repo) becomes its repoOwner; of a
        project, its projectOwner."""
        if not principal or principal == ROOT:
            return
        role = "projectOwner" if kind == "project" else "repoOwner"
        with self.meta.write() as tx:
            tx.add_role_binding(RoleBindingRecord(kind, repo, principal, role))

    def deleted(self, repo: str, kind: str = "repo") -> None:
        """A deleted repo's (or project's) roles go with it (a new one of that name starts
        bare)."""
        with self.meta.write() as tx:
            tx.delete_role_bindings(kind, repo)

    def proof_key(self, ref: str) -> str | None:
        """The token hash whose ``token_ref`` is ``ref``, for the server's proof."""
        with self.meta.read() as tx:
            found = tx.token_by_ref(ref)
            return None if found is None else found.hash

    @staticmethod
    def _active(tx: Tx) -> None:
        if tx.auth_activated() is None:
            raise InvalidArgumentError("auth is not active: run `raypachy auth activate` first")


class AuthVerbs:
    """The auth verbs of ``Pachd`` (the verb table's ``auth`` rows): the API server hands
    each the caller it identified; ``authorize`` is what it asks before every request."""

    pfs: PFS

    @property
    def _auth(self) -> Auth:
        return Auth(self.pfs.meta)

    def authorize(
        self, hashed: str | None, presented: str, needs: list[Need], action: str, detail: str
    ) -> Identity:
        """Who asks (by the token's hash), once they hold every need; audits ``action``."""
        return self._auth.authorize(hashed, presented, needs, action, detail)

    def audit_mutation(self, principal: str, action: str, detail: str, outcome: str) -> None:
        """Write an allowed mutation to the audit log once it ended, with its outcome."""
        self._auth.record(principal, action, detail, outcome)

    def auth_created(self, principal: str, repo: str, kind: str = "repo") -> None:
        """The creator of a repo becomes its repoOwner (of a project, its projectOwner)."""
        self._auth.created(principal, repo, kind)

    def auth_deleted(self, repo: str, kind: str = "repo") -> None:
        """A deleted repo's (or project's) roles go with it."""
        self._auth.deleted(repo, kind)

    def auth_sight(self, principal: str) -> Sight | None:
        """What a principal's listings show (``raypachy.pachd.visibility``)."""
        return self._auth.sight(principal)

    def auth_proof_key(self, ref: str) -> str | None:
        """The token hash a client's ``token_ref`` names (for the server's proof)."""
        return self._auth.proof_key(ref)

    def auth_activate(self) -> str:
        """Turn auth on; the root user's token, shown once."""
        return self._auth.activate()

    def auth_whoami(self, hashed: str | None, presented: str) -> Identity:
        """Who a token is."""
        return self._auth.identify(hashed, presented)

    def auth_create_token(self, caller: str, user: str, ttl_s: float | None) -> dict[str, object]:
        """A new token for a user (shown once)."""
        return self._auth.create_token(caller, user, ttl_s)

    def auth_revoke(self, caller: str, token: str | None, user: str | None) -> int:
        """Revoke a token, or every token of a user."""
        return self._auth.revoke(caller, token, user)

    def auth_set_role(
        self, caller: str, kind: str, name: str, principal: str, role: str, remove: bool
    ) -> list[RoleBindingRecord]:
        """Grant or take back a role on an object; its bindings after."""
        return self._auth.set_role(caller, kind, name, principal, role, remove)

    def auth_get_roles(self, kind: str, name: str) -> list[RoleBindingRecord]:
        """Who holds which role on an object."""
        return self._auth.get_roles(kind, name)

    def auth_check(self, caller: str, kind: str, name: str) -> dict[str, object]:
        """A principal's roles that reach an object, and what they permit."""
        return self._auth.check(caller, kind, name)

    def auth_audit(self, since: float, limit: int) -> list[AuditRecord]:
        """The mutations since ``since``, oldest first."""
        return self._auth.audit(since, limit)
