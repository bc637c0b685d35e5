"""Transactions, as pachctl has them: operations recorded now and applied together later.

``start transaction`` makes one; while a client names it (``HEADER`` on each request),
``start commit``, ``finish commit``, ``create branch``, ``delete branch`` and
``create|update pipeline`` are recorded in the metadata store instead of being applied, and
``finish transaction`` applies them all in one metadata write: no controller, no reader,
ever sees half of them. Every commit a transaction starts gets the transaction's id (its
global id, as Pachyderm's commit set), so commits started on two inputs of one pipeline
make one job, which runs once both are finished.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: The request header naming the transaction a client records into.
HEADER = "Raypachy-Transaction"

#: The verbs a transaction records (the others run at once, transaction or not).
RECORDED = frozenset(
    {"start_commit", "finish_commit", "create_branch", "delete_branch", "put_pipeline"}
)


@dataclass(frozen=True, slots=True)
class TransactionOp:
    """One recorded operation: the verb and its arguments as JSON values."""

    verb: str
    args: dict[str, Any]

    def __str__(self) -> str:
        a = self.args
        if self.verb == "start_commit":
            return f"start commit {a['target']} (id {a.get('commit_id')})"
        if self.verb == "finish_commit":
            return f"finish commit {a['target']}"
        if self.verb in ("create_branch", "delete_branch"):
            return f"{self.verb.replace('_', ' ')} {a['repo']}@{a['name']}"
        spec = a.get("pipeline") or {}
        name = spec.get("pipeline", {}).get("name", "?") if isinstance(spec, dict) else "?"
        return f"{'update' if a.get('update') else 'create'} pipeline {name}"


@dataclass(frozen=True, slots=True)
class Transaction:
    id: str
    started: datetime
    ops: tuple[TransactionOp, ...]


def new_transaction_id() -> str:
    """32 hex characters: also the global id of the commits the transaction starts."""
    return secrets.token_hex(16)


def check_transaction_id(txn_id: str) -> str:
    """The id, or ``InvalidArgumentError`` naming what a transaction id looks like."""
    from raypachy.errors import InvalidArgumentError

    if len(txn_id) != 32 or any(c not in "0123456789abcdef" for c in txn_id):
        raise InvalidArgumentError(
            f"invalid transaction id {txn_id!r}: 32 hex characters, as `raypachy start "
            "transaction` prints"
        )
    return txn_id
