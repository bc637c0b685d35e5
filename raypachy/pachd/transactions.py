"""The transaction verbs of ``Pachd`` (see ``raypachy.pfs.transactions``): record the
operations a client sends under a transaction, and apply them all in one metadata write.

Applying calls the same verbs as without a transaction, inside one outer write of the
metadata store: each verb's own writes (and the jobs and branch moves they cause) join it,
so the store commits everything at the end, or nothing when one operation fails.
"""

from __future__ import annotations

import time
import types
import typing
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from raypachy.errors import (
    InvalidArgumentError,
    RaypachyError,
    RepoNotFoundError,
    TransactionNotFoundError,
)
from raypachy.pachd import wire
from raypachy.pachd.api import Unset, verb_hints
from raypachy.pfs.address import parse_address
from raypachy.pfs.metadata import CommitId, TransactionRecord, Tx
from raypachy.pfs.model import Branch, Commit, Trigger
from raypachy.pfs.transactions import (
    RECORDED,
    Transaction,
    TransactionOp,
    check_transaction_id,
    new_transaction_id,
)

if TYPE_CHECKING:
    from raypachy.pfs.service import PFS


def _public(rec: TransactionRecord) -> Transaction:
    ops = tuple(TransactionOp(op["verb"], op["args"]) for op in rec.ops)
    return Transaction(rec.id, datetime.fromtimestamp(rec.created, UTC), ops)


def _require(tx: Tx, txn_id: str) -> TransactionRecord:
    rec = tx.transaction(check_transaction_id(txn_id))
    if rec is None:
        raise TransactionNotFoundError(
            f"transaction {txn_id} not found: it was finished or deleted (or never started); "
            "`raypachy stop transaction` stops using it"
        )
    return rec


def _same_kind(e: RaypachyError, message: str) -> RaypachyError:
    """An error of ``e``'s class with another message (its family, if the class takes more)."""
    for cls in type(e).__mro__:
        if issubclass(cls, RaypachyError):
            try:
                return cls(message)
            except TypeError:
                continue
    return RaypachyError(message)


def _decode(tp: Any, data: Any) -> Any:
    """A recorded argument back in its API type: as ``wire.decode`` does, and also through
    ``X | Unset | None`` (a recorded argument was given) and ``Iterable[X]``."""
    origin = typing.get_origin(tp)
    if data is not None and origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a not in (type(None), Unset)]
        if len(options) == 1:
            return _decode(options[0], data)
    if origin is Iterable:
        (item,) = typing.get_args(tp)
        return [wire.decode(item, x) for x in data]
    return wire.decode(tp, data)


def _starts(op: dict[str, Any], repo: str) -> bool:
    return op["verb"] == "start_commit" and parse_address(op["args"]["target"]).repo == repo


def _commit(repo: str, commit_id: str, branch: str, args: dict[str, Any]) -> Commit:
    """An open commit as ``start_commit`` answers it."""
    return Commit(repo, CommitId(commit_id), branch, None, "user", args.get("description") or "",
                  datetime.now(UTC), None, None, None, None,
                  tuple(args.get("provenance") or ()))  # fmt: skip


def _started_here(rec: TransactionRecord, target: str) -> Commit | None:
    """The commit ``target`` names if this transaction starts it (by id or branch)."""
    addr = parse_address(target)
    for op in rec.ops:
        if _starts(op, addr.repo):
            branch = parse_address(op["args"]["target"]).ref or "master"
            if addr.ref in (op["args"]["commit_id"], branch):
                return _commit(addr.repo, op["args"]["commit_id"], branch, op["args"])
    return None


class TransactionVerbs:
    """``start|finish|delete|inspect|list transaction`` and the recording of operations."""

    pfs: PFS

    def start_transaction(self) -> Transaction:
        """A new, empty transaction (its id is also the global id of the commits it starts)."""
        rec = TransactionRecord(new_transaction_id(), time.time(), ())
        with self.pfs.meta.write() as tx:
            tx.put_transaction(rec)
        return _public(rec)

    def inspect_transaction(self, txn_id: str) -> Transaction:
        """A transaction with its recorded operations."""
        with self.pfs.meta.read() as tx:
            return _public(_require(tx, txn_id))

    def list_transactions(self) -> list[Transaction]:
        """Every transaction not yet finished or deleted, oldest first."""
        with self.pfs.meta.read() as tx:
            return [_public(r) for r in tx.transactions()]

    def delete_transaction(self, txn_id: str) -> None:
        """Drop a transaction and what it recorded."""
        with self.pfs.meta.write() as tx:
            _require(tx, txn_id)
            tx.delete_transaction(txn_id)

    def finish_transaction(self, txn_id: str) -> Transaction:
        """Apply every recorded operation, in order, in one metadata write; if one fails,
        nothing is applied and the transaction stays (to delete, or fix and finish)."""
        # A writer lease, taken (and visible) before the write: finishing a commit may store
        # manifests that only the write will reference, and gc waits for live writers.
        with self.pfs.write_lease(), self.pfs.meta.write() as tx:
            rec = _require(tx, txn_id)
            tx.delete_transaction(txn_id)
            for n, op in enumerate(rec.ops, 1):
                try:
                    self._apply(op["verb"], op["args"])
                except RaypachyError as e:
                    what = TransactionOp(op["verb"], op["args"])
                    raise _same_kind(
                        e,
                        f"transaction {txn_id}: operation {n} ({what}) failed: {e.message}; "
                        "nothing of the transaction was applied (`raypachy delete transaction` "
                        "drops it)",
                    ) from None
        return _public(rec)

    def _apply(self, verb: str, args: dict[str, Any]) -> Any:
        hints = verb_hints(verb)
        decoded = {k: _decode(hints[k], v) for k, v in args.items()}
        return getattr(self, verb)(**decoded)

    def record_in_transaction(self, txn_id: str, verb: str, args: dict[str, Any]) -> Any:
        """Record ``verb`` with ``args`` (the API's names and types) in the transaction;
        answers what the verb will answer, as far as it is known before it runs (a started
        commit's id is: the transaction's id, or the one asked for)."""
        if verb not in RECORDED:
            raise InvalidArgumentError(f"{verb} cannot be part of a transaction")
        args = dict(args)
        with self.pfs.meta.write() as tx:
            rec = _require(tx, txn_id)
            answer = self._preview(tx, rec, verb, args)
            op = {"verb": verb, "args": wire.encode(args)}
            tx.put_transaction(TransactionRecord(rec.id, rec.created, (*rec.ops, op)))
        return answer

    def _preview(self, tx: Tx, rec: TransactionRecord, verb: str, args: dict[str, Any]) -> Any:
        """Check what can be checked now; the answer the verb will give (``args`` gains the
        id of a commit to start)."""
        if verb == "start_commit":
            return self._start_preview(tx, rec, args)
        if verb == "finish_commit":
            started = _started_here(rec, args["target"])
            if started is not None:
                return replace(started, finished=None)
            return self.pfs.inspect_commit(args["target"])  # checked again when applied
        if verb == "create_branch":
            trigger = args.get("trigger")
            return Branch(args["repo"], args["name"], args.get("head"), {},
                          trigger if isinstance(trigger, Trigger) else None)  # fmt: skip
        if verb == "delete_branch":
            return None
        return self._pipeline_preview(args)

    @staticmethod
    def _start_preview(tx: Tx, rec: TransactionRecord, args: dict[str, Any]) -> Commit:
        """The commit ``start_commit`` will open: it gets the transaction's id (``args`` gains
        it), one per repo, as Pachyderm's commit set."""
        addr = parse_address(args["target"])
        if tx.repo(addr.repo) is None:
            raise RepoNotFoundError(f"repo {addr.repo} not found")
        if any(_starts(op, addr.repo) for op in rec.ops):
            raise InvalidArgumentError(
                f"transaction {rec.id} starts a commit in {addr.repo} already: one commit per "
                "repo in a transaction (they share its id)"
            )
        args["commit_id"] = CommitId(args.get("commit_id") or rec.id)
        return _commit(addr.repo, args["commit_id"], addr.ref or "master", args)

    def _pipeline_preview(self, args: dict[str, Any]) -> Any:
        from raypachy.pps.model import PipelineCreated, PipelineInfo
        from raypachy.pps.service import version_of
        from raypachy.pps.spec import parse_spec

        spec = parse_spec(args["pipeline"])  # a bad spec is refused now, in one line
        now = datetime.now(UTC)
        leaves = [leaf.repo for leaf in spec.input.leaves() if hasattr(leaf, "repo")]
        info = PipelineInfo(spec.name, version_of(spec), "pending", spec.description or "",
                            spec.to_json(), tuple(leaves), spec.name, now, now, "", None, None,
                            {})  # fmt: skip
        return PipelineCreated(info, "recorded: it is created when the transaction finishes")
