"""Printing results: aligned tables for people, plain JSON for programs.

A table that fits its output is written here, in the layout rich would give it; rich is
imported (it costs a CLI call ~20 ms) only for one that must wrap or has cells rich measures
differently (non-ASCII, control characters).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from raypachy.pfs.model import to_json

PIPED_WIDTH = 250  # piped output keeps whole lines (ids must not wrap)
_GAP = "  "  # rich's padding of one on each side of a column, none at the edges


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
    """Columns left-aligned, two spaces apart, the header bold on a terminal; the last
    column folds when the table is wider than the terminal (250 characters when piped)."""
    body = [[str(c) for c in cells(row)] for row in rows]
    tty = sys.stdout.isatty()
    width = _terminal_width() if tty else PIPED_WIDTH
    lines = plain_table(list(columns), body, width)
    if lines is None:
        _rich_table(columns, body, tty)
        return
    if tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb":
        lines[0] = f"\x1b[1m{lines[0]}\x1b[0m"
    sys.stdout.write("".join(line + "\n" for line in lines))


def _terminal_width() -> int:
    """``COLUMNS``, else the terminal's width (as rich and shutil read it, without shutil)."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns
    except OSError:
        return 80


def plain_table(columns: list[str], body: list[list[str]], width: int) -> list[str] | None:
    """The table's lines as rich lays them out, or None when rich must (it wraps, or has
    characters whose width only rich measures)."""
    if any(len(row) != len(columns) for row in body):
        return None
    for text in (*columns, *(cell for row in body for cell in row)):
        if not (text.isascii() and text.isprintable()):
            return None
    widths = [max([len(columns[i])] + [len(row[i]) for row in body]) for i in range(len(columns))]
    if sum(widths) + len(_GAP) * (len(widths) - 1) > width:
        return None
    return [
        _GAP.join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in [columns, *body]
    ]


def _rich_table(columns: Sequence[str], body: list[list[str]], tty: bool) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, show_edge=False, pad_edge=False, header_style="bold")
    for i, column in enumerate(columns):
        last = i == len(columns) - 1
        table.add_column(column, no_wrap=not last, overflow="fold" if last else "ignore")
    for row in body:
        table.add_row(*(Text(cell) for cell in row))  # a cell's brackets are text, not markup
    Console(highlight=False, width=None if tty else PIPED_WIDTH).print(table)


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
    sys.stderr.write(message + "\n")
