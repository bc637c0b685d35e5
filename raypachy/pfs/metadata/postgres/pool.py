"""Connections to the metadata database: opened with a one-line error, and pooled.

The pool is small on purpose: it opens a connection in the thread that asks for one, so an
unreachable server fails that call at once with libpq's reason (a pool that connects in the
background leaves its callers waiting out a timeout instead). A connection that broke is
dropped; one that sat idle is checked before it is handed out, since a restarted server
ends every connection.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.pq import TransactionStatus

from raypachy.errors import InvalidArgumentError, UnavailableError
from raypachy.pfs.metadata.locations import hide_secret
from raypachy.pfs.metadata.postgres.schema import SCHEMA, Conn
from raypachy.pfs.metadata.postgres.url import conninfo, one_line

#: How long a writer waits for the write lock, or a thread for a free connection.
WAIT_S = 60
#: A connection idle longer than this is checked (one round trip) before it is used again.
CHECK_AFTER_S = 5.0


def connect(url: str, shown: str) -> Conn:
    """One connection to the database at ``url`` (``shown``: the URL, password masked), in
    autocommit mode, our schema first on its search path."""
    info = conninfo(url)
    try:
        conn = psycopg.connect(info, autocommit=True)
    except psycopg.OperationalError as e:
        raise UnavailableError(
            f"cannot open the metadata database {shown}: {hide_secret(one_line(str(e)), url)}; "
            "check that PostgreSQL runs there and that the URL's host, port, user, password "
            "and database are right (RAYPACHY_METADATA or --metadata)"
        ) from None
    encoding = conn.info.encoding
    if encoding.lower() not in ("utf-8", "utf8"):
        conn.close()
        raise InvalidArgumentError(
            f"the metadata database {shown} stores text as {encoding}: raypachy needs a UTF8 "
            "database (createdb --encoding=UTF8)"
        )
    conn.execute(f"SET search_path TO {SCHEMA}")
    conn.execute(f"SET lock_timeout = '{WAIT_S}s'")  # a writer waits this long at most
    return conn


def close_quietly(conn: Conn) -> None:
    with contextlib.suppress(psycopg.Error):
        conn.close()


class Pool:
    """At most ``size`` connections to ``url``, each used by one thread at a time."""

    def __init__(self, url: str, shown: str, size: int) -> None:
        self.url = url
        self.shown = shown
        self.size = size
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._idle: list[tuple[Conn, float]] = []  # newest last: the warmest is reused first
        self._closed = False

    @contextmanager
    def connection(self) -> Iterator[Conn]:
        if not self._slots.acquire(timeout=WAIT_S):
            raise UnavailableError(
                f"all {self.size} connections to the metadata database {self.shown} stayed "
                f"busy for {WAIT_S} s; retry"
            )
        try:
            conn = self._take()
            try:
                yield conn
            finally:
                self._give(conn)
        finally:
            self._slots.release()

    def _take(self) -> Conn:
        while True:
            with self._lock:
                conn, since = self._idle.pop() if self._idle else (None, 0.0)
            if conn is None:
                return connect(self.url, self.shown)
            if conn.closed or conn.broken:
                continue
            if time.monotonic() - since > CHECK_AFTER_S:
                try:
                    conn.execute("SELECT 1")
                except psycopg.Error:
                    close_quietly(conn)
                    continue
            return conn

    def _give(self, conn: Conn) -> None:
        usable = not (conn.closed or conn.broken)
        if usable and conn.info.transaction_status == TransactionStatus.IDLE:
            with self._lock:
                if not self._closed:
                    self._idle.append((conn, time.monotonic()))
                    return
        close_quietly(conn)

    def close(self) -> None:
        """Close the idle connections; those in use are closed when given back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            close_quietly(conn)
