"""Transactions' statements on PostgreSQL: recorded operations waiting for ``finish``."""

from __future__ import annotations

import json

from raypachy.pfs.metadata.postgres.schema import Conn
from raypachy.pfs.metadata.records import TransactionRecord


class TxnTables:
    """The transactions part of a PostgreSQL transaction (see ``interface``)."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    def transaction(self, txn_id: str) -> TransactionRecord | None:
        row = self.conn.execute(
            "SELECT id, created, ops FROM transactions WHERE id = %s", (txn_id,)
        ).fetchone()
        return None if row is None else TransactionRecord(row[0], row[1], tuple(json.loads(row[2])))

    def transactions(self) -> list[TransactionRecord]:
        rows = self.conn.execute("SELECT id, created, ops FROM transactions ORDER BY created, id")
        return [TransactionRecord(i, c, tuple(json.loads(o))) for i, c, o in rows]

    def put_transaction(self, txn: TransactionRecord) -> None:
        self.conn.execute(
            "INSERT INTO transactions (id, created, ops) VALUES (%s, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET ops = EXCLUDED.ops",
            (txn.id, txn.created, json.dumps(list(txn.ops))),
        )

    def delete_transaction(self, txn_id: str) -> int:
        return self.conn.execute("DELETE FROM transactions WHERE id = %s", (txn_id,)).rowcount
