"""SQL egress: ``/pfs/out/<table>/*`` files loaded into ``<table>`` after each successful job.

As in Pachyderm, each table named by a directory of the output commit is truncated and
refilled from the files under it, all tables in one transaction: a reader sees the previous
contents or the new ones, never a mix. Files are CSV (``file_format.columns`` names the
columns in file order; without it the first row is the header) or JSON (one object per line,
or one array of objects; ``columns`` picks the keys, else the first object's keys). An empty
CSV field and a missing JSON key are NULL. Only PostgreSQL runs here (psycopg); the password
comes from the raypachy secret ``secret.name``, key ``secret.key``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from raypachy.errors import InvalidArgumentError, SecretNotFoundError, UnavailableError
from raypachy.pps.model import SecretValues
from raypachy.pps.spec import SqlDatabaseEgress
from raypachy.storage import ChunkStore
from raypachy.storage.reader import read_bytes
from raypachy.storage.tree import Tree

_SCHEMES = ("postgresql", "postgres")
_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def load_tables(
    sql: SqlDatabaseEgress, tree: Tree, chunks: ChunkStore, values: SecretValues
) -> int:
    """Load the commit's table directories into the database; the number of rows loaded."""
    scheme = sql.url.split("://", 1)[0].lower()
    if scheme not in _SCHEMES:
        raise UnavailableError(
            f"egress to {scheme}:// databases does not run here: only postgresql:// does "
            "(point sql_database.url at a PostgreSQL server)"
        )
    password = _password(sql, values)
    tables: dict[str, list[tuple[str, Any]]] = {}
    for path, data in tree.scan():
        table, sep, _rest = path[1:].partition("/")
        if not sep:
            raise InvalidArgumentError(
                f"{path} is not in a table directory: write /pfs/out/<table>/<file>"
            )
        if not _TABLE.fullmatch(table):
            raise InvalidArgumentError(f"/{table}/ is not a table name: use letters, digits, '_'")
        tables.setdefault(table, []).append((path, data))

    import psycopg
    from psycopg import sql as q

    rows = 0
    extra: dict[str, Any] = {"password": password} if password is not None else {}
    with psycopg.connect(sql.url, connect_timeout=10, **extra) as conn, conn.transaction():
        cur = conn.cursor()
        for table, files in sorted(tables.items()):
            name = q.Identifier(table)
            cur.execute(q.SQL("TRUNCATE {}").format(name))
            for path, data in files:
                columns, records = _parse(sql, path, read_bytes(chunks, data))
                if not records:
                    continue
                statement = q.SQL("COPY {} ({}) FROM STDIN").format(
                    name, q.SQL(", ").join(q.Identifier(c) for c in columns)
                )
                with cur.copy(statement) as copy:
                    for record in records:
                        copy.write_row(record)
                rows += len(records)
    return rows


def _password(sql: SqlDatabaseEgress, values: SecretValues) -> str | None:
    if sql.secret is None:
        return None
    value = values.get(sql.secret.name).get(sql.secret.key)
    if value is None:
        raise SecretNotFoundError(
            f"secret {sql.secret.name} (key {sql.secret.key}) for the database password is "
            "missing: `raypachy create secret -f secret.json`"
        )
    return value.decode()


def _parse(sql: SqlDatabaseEgress, path: str, data: bytes) -> tuple[list[str], list[list[Any]]]:
    """The columns and rows of one file."""
    wanted = list(sql.file_format.columns)
    text = data.decode("utf-8-sig")
    if sql.file_format.type == "CSV":
        lines = [row for row in csv.reader(io.StringIO(text)) if row]
        columns = wanted or (lines.pop(0) if lines else [])
        for i, row in enumerate(lines):
            if len(row) != len(columns):
                raise InvalidArgumentError(
                    f"{path} row {i + 1} has {len(row)} fields, not {len(columns)} "
                    f"({', '.join(columns)})"
                )
        return columns, [[v if v != "" else None for v in row] for row in lines]
    stripped = text.strip()
    try:
        if stripped.startswith("["):
            objects = json.loads(stripped)
        else:
            objects = [json.loads(line) for line in stripped.splitlines() if line.strip()]
    except ValueError as e:
        raise InvalidArgumentError(f"{path} is not JSON lines or a JSON array: {e}") from None
    if not all(isinstance(o, dict) for o in objects):
        raise InvalidArgumentError(f"{path}: each JSON row must be an object")
    columns = wanted or (list(objects[0]) if objects else [])
    return columns, [[_value(o.get(c)) for c in columns] for o in objects]


def _value(v: Any) -> Any:
    return json.dumps(v) if isinstance(v, dict | list) else v
