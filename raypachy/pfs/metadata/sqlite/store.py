"""The SQLite metadata store: one database file in WAL mode, one connection per thread.

Every write runs in one ``BEGIN IMMEDIATE`` transaction, so writers take turns and a
compare-and-swap (moving a branch) holds even between processes. Writes from this process
wake waiters at once; writes from other processes are seen through ``PRAGMA data_version``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

from raypachy._private import private_file
from raypachy.errors import BackendError
from raypachy.pfs.metadata.changes import Changes
from raypachy.pfs.metadata.sqlite.auth_tables import AuthTables
from raypachy.pfs.metadata.sqlite.pfs_tables import PfsTables
from raypachy.pfs.metadata.sqlite.pps_tables import PpsTables
from raypachy.pfs.metadata.sqlite.schema import migrate
from raypachy.pfs.metadata.sqlite.txn_tables import TxnTables

if TYPE_CHECKING:
    from raypachy.pfs.metadata.interface import MetadataStore


class SqliteTx(PfsTables, PpsTables, AuthTables, TxnTables):
    """The statements of one SQLite transaction (``raypachy.pfs.metadata.interface.Tx``)."""


class SqliteStore:
    """SQLite metadata (``raypachy.pfs.metadata.interface.MetadataStore``); safe to share
    between threads and processes."""

    def __init__(self, path: str, before_write: Callable[[], None] | None = None) -> None:
        """``before_write`` runs before each write transaction and may refuse it."""
        self.path = path
        self.before_write = before_write
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        private_file(path)  # SQLite gives its -wal and -shm files the database's mode
        self._local = threading.local()
        self.changes = Changes()
        conn = self._conn()
        try:
            migrate(conn, path)
        except sqlite3.OperationalError as e:
            self._fail(conn, e)

    @property
    def location(self) -> str:
        return self.path

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=60000")
            self._local.conn = conn
        return conn

    def _fail(self, conn: sqlite3.Connection, e: sqlite3.OperationalError) -> NoReturn:
        """Roll back; a full or failing disk becomes a one-line ``BackendError``."""
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        if "full" in str(e) or "I/O" in str(e):
            hint = "free some space" if "full" in str(e) else "check the disk"
            raise BackendError(
                f"cannot write the metadata database {self.path}: {e}; {hint} and retry "
                "(nothing was changed)"
            ) from e
        raise e

    @contextmanager
    def write(self) -> Iterator[SqliteTx]:
        joined: SqliteTx | None = getattr(self._local, "tx", None)
        if joined is not None:  # inside a write of this thread: part of it
            yield joined
            return
        if self.before_write is not None:
            self.before_write()
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            self._local.tx = tx = SqliteTx(conn)
            try:
                yield tx
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            finally:
                self._local.tx = None
            conn.execute("COMMIT")
            self.changes.bump()  # wakes the waiters (commits, jobs, subscriptions)
        except sqlite3.OperationalError as e:
            self._fail(conn, e)

    @contextmanager
    def read(self) -> Iterator[SqliteTx]:
        joined: SqliteTx | None = getattr(self._local, "tx", None)
        if joined is not None:  # a read inside a write sees what the write did so far
            yield joined
            return
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield SqliteTx(conn)
        finally:
            conn.execute("COMMIT")

    def change_version(self) -> int:
        return self.changes.version

    def wait_change(self, since: int | None, timeout: float) -> int:
        return self.changes.wait(since, timeout, self._others_wrote)

    def _others_wrote(self) -> bool:
        """Whether another connection (another process) committed since this thread looked."""
        current = self._conn().execute("PRAGMA data_version").fetchone()[0]
        last = getattr(self._local, "data_version", current)
        self._local.data_version = current
        return bool(current != last)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


if TYPE_CHECKING:  # mypy checks here that this is the interface, statement by statement

    def _is_a_store(store: SqliteStore) -> MetadataStore:
        return store
