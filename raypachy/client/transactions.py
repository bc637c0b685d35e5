"""The transaction verbs of ``Client``: the active transaction travels as a request header,
and the server records the operations that name one (``raypachy.pfs.transactions``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from raypachy.client.transport import Transport
from raypachy.errors import RaypachyError
from raypachy.pfs.transactions import HEADER, Transaction, check_transaction_id


class TransactionClient:
    _transport: Transport

    _call: Callable[..., Any]  # Client's

    @property
    def active_transaction(self) -> str | None:
        """The transaction this client records into (None: operations apply at once)."""
        found: str | None = self._transport.http.headers.get(HEADER)
        return found

    def use_transaction(self, txn_id: str | None) -> None:
        """Record the transactional operations of this client in ``txn_id`` from now on
        (None: apply them at once again)."""
        if txn_id is None:
            self._transport.http.headers.pop(HEADER, None)
        else:
            self._transport.http.headers[HEADER] = check_transaction_id(txn_id)

    def start_transaction(self) -> Transaction:
        """A new transaction (see ``raypachy.pfs.transactions``)."""
        return self._call("start_transaction")  # type: ignore[no-any-return]

    def finish_transaction(self, txn_id: str) -> Transaction:
        """Apply the transaction's operations at once: all, or none."""
        return self._call("finish_transaction", txn_id=txn_id)  # type: ignore[no-any-return]

    def delete_transaction(self, txn_id: str) -> None:
        """Drop a transaction and what it recorded."""
        self._call("delete_transaction", txn_id=txn_id)

    def inspect_transaction(self, txn_id: str) -> Transaction:
        """A transaction with its recorded operations."""
        return self._call("inspect_transaction", txn_id=txn_id)  # type: ignore[no-any-return]

    def list_transactions(self) -> list[Transaction]:
        """Every transaction not yet finished or deleted, oldest first."""
        return self._call("list_transactions")  # type: ignore[no-any-return]

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """``with client.transaction(): client.start_commit(...); ...``: the operations of
        the block are recorded, then applied at once when it ends (dropped if it raises)."""
        before = self.active_transaction
        txn = self.start_transaction()
        self.use_transaction(txn.id)
        try:
            yield txn
        except BaseException:
            self.use_transaction(before)
            with contextlib.suppress(RaypachyError):  # the block's own error is the one to see
                self.delete_transaction(txn.id)
            raise
        self.use_transaction(before)
        self.finish_transaction(txn.id)
