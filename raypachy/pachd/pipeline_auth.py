"""A pipeline's own identity once auth is active: ``pipeline:<name>``, which may read the
pipeline's inputs and write its output repo, and nothing else.

Its roles are granted when the pipeline is created or updated (and again when a job is
claimed, so a pipeline made before auth was activated gets them too); each claimed job gets
a fresh token of that principal (kept hashed, as users' tokens; the job's previous token is
revoked then), which the job's datums see as ``RAYPACHY_TOKEN``. The creator's token never
reaches the workers. Deleting the pipeline takes its roles and tokens away.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from typing import Any

from raypachy.pfs.metadata import MetadataStore, RoleBindingRecord, TokenRecord
from raypachy.pps.datums import iter_leaves
from raypachy.pps.spec import parse_spec
from raypachy.secrets import token_hash


def principal_of(pipeline: str) -> str:
    return f"pipeline:{pipeline}"


def input_repos(spec: dict[str, Any], pipeline: str) -> list[str]:
    """The repos a pipeline's spec reads (cron tick repos included)."""
    return sorted({leaf.repo for leaf in iter_leaves(parse_spec(spec).input, pipeline)})


class PipelineAuth:
    def __init__(self, meta: MetadataStore) -> None:
        self.meta = meta

    def active(self) -> bool:
        """Whether auth is activated (a read: the job path asks it before any write)."""
        with self.meta.read() as tx:
            return tx.auth_activated() is not None

    def grant(self, pipeline: str, inputs: Iterable[str]) -> None:
        """repoReader on each input, repoWriter on the output, and no other role (a no-op
        before auth is activated)."""
        principal = principal_of(pipeline)
        wanted = {RoleBindingRecord("repo", repo, principal, "repoReader") for repo in inputs}
        wanted.add(RoleBindingRecord("repo", pipeline, principal, "repoWriter"))
        with self.meta.read() as tx:
            if tx.auth_activated() is None:
                return
            held = set(tx.principal_bindings(principal))
        if held == wanted:
            return  # the common case, at every claim: no write
        with self.meta.write() as tx:
            for binding in held - wanted:
                tx.remove_role_binding(binding)
            for binding in wanted - held:
                tx.add_role_binding(binding)

    def mint(self, pipeline: str) -> str | None:
        """A new token for the pipeline's next job, revoking its previous one; None before
        auth is activated."""
        principal = principal_of(pipeline)
        token = secrets.token_urlsafe(32)
        with self.meta.write() as tx:
            if tx.auth_activated() is None:
                return None
            tx.delete_user_tokens(principal)
            tx.insert_token(TokenRecord(token_hash(token), principal, time.time(), None))
        return token

    def forget(self, pipeline: str) -> None:
        """The pipeline was deleted: its roles and tokens go."""
        principal = principal_of(pipeline)
        with self.meta.write() as tx:
            for binding in tx.principal_bindings(principal):
                tx.remove_role_binding(binding)
            tx.delete_user_tokens(principal)
