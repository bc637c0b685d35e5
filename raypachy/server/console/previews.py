"""What a file looks like in a page: a table (CSV, TSV, Parquet), text, an image, or bytes.

Pure functions over the first bytes of a file, so that a preview of a large file reads only
its head (Parquet needs the whole file: its index is at the end).
"""

from __future__ import annotations

import csv
import difflib
import io
from pathlib import PurePosixPath
from typing import Any

TEXT_BYTES = 256 << 10  # read at most this much of a file for a text or CSV preview
PARQUET_BYTES = 64 << 20  # larger Parquet files are not previewed
DIFF_BYTES = 512 << 10  # text diffs of larger files are not shown inline
DIFF_LINES = 2000

IMAGES = {
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
    ".webp": "image/webp", ".bmp": "image/bmp", ".svg": "image/svg+xml",
}  # fmt: skip
TABLES = {".csv": ",", ".tsv": "\t"}


def kind_of(path: str) -> str:
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in TABLES:
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in IMAGES:
        return "image"
    return "text"


def bytes_wanted(path: str) -> int:
    return PARQUET_BYTES if kind_of(path) == "parquet" else TEXT_BYTES


def as_text(data: bytes) -> str | None:
    """``data`` as text, or None when it looks binary (a NUL, or not UTF-8)."""
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start >= len(data) - 3:  # a character cut by the read limit
            return data[: e.start].decode("utf-8")
        return None


def preview(path: str, head: bytes, size: int, rows: int = 100) -> dict[str, Any]:
    """The preview of a file of ``size`` bytes whose first bytes are ``head``."""
    kind = kind_of(path)
    base: dict[str, Any] = {"path": path, "size": size, "truncated": len(head) < size}
    if kind == "image":
        return base | {"kind": "image", "media_type": IMAGES[PurePosixPath(path).suffix.lower()]}
    if kind == "parquet":
        if len(head) < size:
            reason = f"Parquet files over {PARQUET_BYTES >> 20} MiB are not previewed: download it"
            return base | {"kind": "none", "reason": reason}
        return base | _parquet(head, rows)
    text = as_text(head)
    if text is None:
        return base | {"kind": "none", "reason": "binary file: download it"}
    if kind == "csv":
        return base | _csv(text, TABLES[PurePosixPath(path).suffix.lower()], rows, len(head) < size)
    return base | {"kind": "text", "text": text}


def _csv(text: str, delimiter: str, rows: int, cut: bool) -> dict[str, Any]:
    lines = text.splitlines()
    if cut and lines:
        lines = lines[:-1]  # the last line may be cut by the read limit
    records = list(csv.reader(lines[: rows + 1], delimiter=delimiter))
    header, body = (records[0], records[1:]) if records else ([], [])
    more = cut or len(lines) > rows + 1
    return {"kind": "table", "columns": header, "rows": body, "more_rows": more}


def _parquet(data: bytes, rows: int) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(io.BytesIO(data))
        table = pf.read_row_groups(range(min(pf.num_row_groups, 1))) if pf.num_row_groups else None
    except (pa.ArrowException, OSError) as e:
        return {"kind": "none", "reason": f"not a readable Parquet file: {e}"}
    total = pf.metadata.num_rows
    if table is None:
        return {"kind": "table", "columns": pf.schema_arrow.names, "rows": [], "more_rows": False}
    table = table.slice(0, rows)
    columns = table.column_names
    body = [[_cell(row[c]) for c in columns] for row in table.to_pylist()]
    return {"kind": "table", "columns": columns, "rows": body, "more_rows": total > len(body),
            "total_rows": total}  # fmt: skip


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def text_diff(
    old: bytes | None, new: bytes | None, old_size: int = 0, new_size: int = 0
) -> dict[str, Any]:
    """Line by line: ``[op, text]`` with op ``" "``, ``"-"``, ``"+"`` or ``"@"`` (a hunk)."""
    if old_size > DIFF_BYTES or new_size > DIFF_BYTES:
        return {
            "kind": "none",
            "reason": f"files over {DIFF_BYTES >> 10} KiB are not diffed inline",
        }
    texts = [as_text(b) if b is not None else "" for b in (old, new)]
    if texts[0] is None or texts[1] is None:
        return {"kind": "none", "reason": "binary file"}
    a, b = (t.splitlines() for t in texts)  # type: ignore[union-attr]
    lines: list[list[str]] = []
    # The first two lines name the files (``---``/``+++``): not content.
    for line in list(difflib.unified_diff(a, b, lineterm="", n=3))[2:]:
        op = "@" if line.startswith("@@") else line[:1]
        lines.append([op, line if op == "@" else line[1:]])
    more = len(lines) > DIFF_LINES
    return {"kind": "diff", "lines": lines[:DIFF_LINES], "more_lines": more}
