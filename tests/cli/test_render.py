"""Tables written without rich keep rich's layout, and fall back to rich when they must."""

from __future__ import annotations

import io
import subprocess
import sys

from rich.console import Console
from rich.table import Table
from rich.text import Text

from raypachy.cli.render import PIPED_WIDTH, plain_table

COLUMNS = ["PROJECT", "NAME", "CREATED", "SIZE", "DESCRIPTION"]


def _rich(columns: list[str], body: list[list[str]], width: int) -> list[str]:
    """What rich prints for the table, laid out as ``print_table`` asks it to."""
    table = Table(box=None, show_edge=False, pad_edge=False, header_style="bold")
    for i, column in enumerate(columns):
        last = i == len(columns) - 1
        table.add_column(column, no_wrap=not last, overflow="fold" if last else "ignore")
    for row in body:
        table.add_row(*(Text(c) for c in row))
    out = io.StringIO()
    Console(file=out, highlight=False, width=width, color_system=None).print(table)
    return out.getvalue().splitlines()


def test_plain_tables_are_laid_out_as_rich_lays_them_out() -> None:
    bodies = [
        [],
        [["default", "images", "1 minute ago", "4.00KiB", ""]],
        [["default", "a", "2 days ago", "-", "raw [draft] data"],
         ["staging", "a-much-longer-name", "3 seconds ago", "1.50GiB", "x"]],
        [["p", "n", "c", "s", "d" * 40]],
    ]  # fmt: skip
    for body in bodies:
        assert plain_table(COLUMNS, body, PIPED_WIDTH) == _rich(COLUMNS, body, PIPED_WIDTH)


def test_tables_that_must_wrap_or_hold_wide_characters_are_left_to_rich() -> None:
    assert plain_table(COLUMNS, [["p", "n", "c", "s", "d" * 300]], PIPED_WIDTH) is None
    assert plain_table(["PATH"], [["/données/画像.png"]], PIPED_WIDTH) is None
    assert plain_table(["PATH"], [["/a\nb"]], PIPED_WIDTH) is None


def test_a_wide_table_printed_through_rich_keeps_brackets_as_text() -> None:
    code = (
        "from raypachy.cli.render import print_table; "
        "print_table(['NAME', 'DESCRIPTION'], [['画像', '[bold]x[/bold] ' + 'y' * 300]], "
        "lambda r: r)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "[bold]x[/bold]" in out.stdout and "画像" in out.stdout
