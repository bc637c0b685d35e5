"""Printing results: rich tables for people, plain JSON for programs."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from raypachy.pfs.model import to_json

# Piped output keeps whole lines (ids must not wrap); a terminal gets its own width.
_out = Console(highlight=False, width=None if sys.stdout.isatty() else 250)


def human_size(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.2f}{unit}"
        size /= 1024
    return f"{n}B"


def ago(when: datetime | None) -> str:
    if when is None:
        return "-"
    seconds = (datetime.now(UTC) - when).total_seconds()
    for unit, span in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= span:
            n = int(seconds // span)
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return f"{max(int(seconds), 0)} seconds ago"


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(to_json(obj), indent=2) + "\n")


def print_table(
    columns: Sequence[str], rows: Sequence[Any], cells: Callable[[Any], Sequence[str]]
) -> None:
    table = Table(box=None, show_edge=False, pad_edge=False, header_style="bold")
    for i, column in enumerate(columns):
        last = i == len(columns) - 1
        table.add_column(column, no_wrap=not last, overflow="fold" if last else "ignore")
    for row in rows:
        table.add_row(*cells(row))
    _out.print(table)


def emit(
    output: str | None,
    obj: Any,
    columns: Sequence[str],
    cells: Callable[[Any], Sequence[str]],
) -> None:
    """``-o json`` prints only JSON; otherwise a table (one row for inspect verbs)."""
    if output == "json":
        print_json(obj)
        return
    rows = obj if isinstance(obj, list) else [obj]
    print_table(columns, rows, cells)


def say(message: str) -> None:
    """A status line for people; goes to stderr so stdout stays clean for pipes."""
    Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 250).print(message)
