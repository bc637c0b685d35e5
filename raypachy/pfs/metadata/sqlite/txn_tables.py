"""Transactions' statements on SQLite: recorded operations waiting for ``finish``."""

from __future__ import annotations

import json
import sqlite3

from raypachy.pfs.metadata.records import TransactionRecord

TABLE = """CREATE TABLE IF NOT EXISTS transactions (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    ops TEXT NOT NULL
)"""


class TxnTables:
    """The transactions part of a SQLite transaction (``raypachy.pfs.metadata.interface``)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def transaction(self, txn_id: str) -> TransactionRecord | None:
        row = self.conn.execute(
            "SELECT id, created, ops FROM transactions WHERE id = ?", (txn_id,)
        ).fetchone()
        return None if row is None else TransactionRecord(row[0], row[1], tuple(json.loads(row[2])))

    def transactions(self) -> list[TransactionRecord]:
        rows = self.conn.execute("SELECT id, created, ops FROM transactions ORDER BY created, id")
        return [TransactionRecord(i, c, tuple(json.loads(o))) for i, c, o in rows]

    def put_transaction(self, txn: TransactionRecord) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO transactions (id, created, ops) VALUES (?, ?, ?)",
            (txn.id, txn.created, json.dumps(list(txn.ops))),
        )

    def delete_transaction(self, txn_id: str) -> int:
        return self.conn.execute("DELETE FROM transactions WHERE id = ?", (txn_id,)).rowcount
