"""The PostgreSQL metadata store: a pool of connections to one database, for teams.

Every write transaction starts by bumping the one row of ``changes``: its row lock makes
writers take turns, whichever process or cluster they run in (as SQLite's write lock does),
and its counter tells waiters in other processes that something changed. A branch move is
also a compare-and-swap in its own ``UPDATE`` (see ``pfs_tables``). Reads run in
``REPEATABLE READ`` read-only transactions: one consistent snapshot, never blocked by a
writer. A connection lost to a server restart is replaced; a transaction it interrupts
raises ``UnavailableError`` and is rolled back by the server (unless it was lost during its
very commit, when the server alone knows).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import psycopg
from psycopg import errors

from raypachy.errors import BackendError, UnavailableError
from raypachy.pfs.metadata.changes import Changes
from raypachy.pfs.metadata.locations import hide_secret, mask
from raypachy.pfs.metadata.postgres.auth_tables import AuthTables
from raypachy.pfs.metadata.postgres.pfs_tables import PfsTables
from raypachy.pfs.metadata.postgres.pool import WAIT_S, Pool, close_quietly, connect
from raypachy.pfs.metadata.postgres.pps_tables import PpsTables
from raypachy.pfs.metadata.postgres.schema import Conn, migrate
from raypachy.pfs.metadata.postgres.txn_tables import TxnTables
from raypachy.pfs.metadata.postgres.url import one_line

if TYPE_CHECKING:
    from raypachy.pfs.metadata.interface import MetadataStore

#: Connections one store keeps at most; threads beyond it wait their turn.
POOL_SIZE = 16


#: Opens every write transaction: its row lock makes writers take turns until the commit.
_BUMP = "UPDATE changes SET version = version + 1 WHERE id = 1 RETURNING version"


def _rollback(conn: Conn) -> None:
    """End a failed transaction (a broken connection ended it already; the pool drops it)."""
    if not (conn.closed or conn.broken):
        with contextlib.suppress(psycopg.Error):
            conn.execute("ROLLBACK")


class PostgresTx(PfsTables, PpsTables, AuthTables, TxnTables):
    """The statements of one PostgreSQL transaction (``raypachy.pfs.metadata.interface.Tx``)."""


class PostgresStore:
    """PostgreSQL metadata (``raypachy.pfs.metadata.interface.MetadataStore``); safe to
    share between threads, processes and hosts."""

    def __init__(self, url: str, before_write: Callable[[], None] | None = None) -> None:
        """Open the database at ``url`` and bring its schema up to date. ``before_write``
        runs before each write transaction and may refuse it."""
        self.url = url
        self.shown = mask(url)
        self.before_write = before_write
        self.changes = Changes()
        self._lock = threading.Lock()
        self._pool: Pool | None = None
        self._probe: Conn | None = None  # the connection change waits look through
        self._probe_lock = threading.Lock()
        self._seen = 0  # the newest change counter this process knows of
        self._local = threading.local()  # the write this thread is inside, if any
        with connect(url, self.shown) as conn, self._errors():
            migrate(conn, self.shown)
            self._seen = self._counter(conn)

    @property
    def location(self) -> str:
        return self.url

    # --- connections ---------------------------------------------------------------------

    def _pool_now(self) -> Pool:
        with self._lock:
            if self._pool is None:
                self._pool = Pool(self.url, self.shown, POOL_SIZE)
            return self._pool

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """The database's failures as raypachy's errors, each one line naming the URL."""
        try:
            yield
        except errors.DiskFull as e:
            self._fail(BackendError, e, "free some space on the database server and retry")
        except errors.LockNotAvailable as e:
            self._fail(UnavailableError, e, f"another writer held the write lock over {WAIT_S} s")
        except psycopg.OperationalError as e:
            self._fail(UnavailableError, e, "check that PostgreSQL runs there, then retry")

    def _fail(self, kind: type[Exception], e: Exception, hint: str) -> NoReturn:
        detail = hide_secret(one_line(str(e)), self.url)
        raise kind(f"the metadata database {self.shown} failed: {detail}; {hint}") from None

    # --- transactions ----------------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[PostgresTx]:
        joined: PostgresTx | None = getattr(self._local, "tx", None)
        if joined is not None:  # inside a write of this thread: part of it
            yield joined
            return
        if self.before_write is not None:
            self.before_write()
        with self._errors(), self._pool_now().connection() as conn:
            try:
                # one round trip: the transaction and the write lock, held to its end
                # (READ COMMITTED: each statement after the lock sees every earlier write)
                cur = conn.execute(f"BEGIN ISOLATION LEVEL READ COMMITTED; {_BUMP}")
                cur.nextset()
                row = cur.fetchone()
                assert row is not None, "the changes row is missing"
                version = int(row[0])
                self._local.tx = tx = PostgresTx(conn)
                try:
                    yield tx
                finally:
                    self._local.tx = None
            except BaseException:
                _rollback(conn)
                raise
            conn.execute("COMMIT")
        # the connection is back in the pool before waiters are woken (they may need one)
        self._saw(version)
        self.changes.bump()

    @contextmanager
    def read(self) -> Iterator[PostgresTx]:
        joined: PostgresTx | None = getattr(self._local, "tx", None)
        if joined is not None:  # a read inside a write sees what the write did so far
            yield joined
            return
        with self._errors(), self._pool_now().connection() as conn:
            try:
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")  # one snapshot
                yield PostgresTx(conn)
            except BaseException:
                _rollback(conn)
                raise
            conn.execute("COMMIT")

    @staticmethod
    def _counter(conn: Conn) -> int:
        row = conn.execute("SELECT version FROM changes WHERE id = 1").fetchone()
        assert row is not None, "the changes row is missing"
        return int(row[0])

    # --- change waits ----------------------------------------------------------------------

    def change_version(self) -> int:
        return self.changes.version

    def wait_change(self, since: int | None, timeout: float) -> int:
        return self.changes.wait(since, timeout, self._others_wrote)

    def _saw(self, version: int) -> None:
        with self._lock:
            self._seen = max(self._seen, version)

    def _others_wrote(self) -> bool:
        """Whether someone else (another process) committed a write this process has not
        seen."""
        with self._probe_lock:
            try:
                if self._probe is None or self._probe.closed:
                    self._probe = connect(self.url, self.shown)
                version = self._counter(self._probe)
            except (psycopg.Error, UnavailableError):
                self._drop_probe()  # unreachable for now: the waiter waits on, and retries
                return False
        with self._lock:
            if version > self._seen:
                self._seen = version
                return True
        return False

    def _drop_probe(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None:
            close_quietly(probe)

    def close(self) -> None:
        """Close the connections (a later use opens new ones)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
        with self._probe_lock:
            self._drop_probe()


if TYPE_CHECKING:  # mypy checks here that this is the interface, statement by statement

    def _is_a_store(store: PostgresStore) -> MetadataStore:
        return store
