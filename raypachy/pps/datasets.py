"""Dataset pipelines: the rows a job's datums become, and the files its output rows make.

A ``@raypachy.pipeline(dataset=True)`` function gets the job's new and changed datums as one
Ray Dataset, one row per input file (``INPUT_COLUMNS``), and returns a dataset whose rows are
output files (``OUTPUT_COLUMNS``): ``bytes`` is written at ``path`` as an output of datum
``datum_id``. Other output columns are ignored. The datum machinery does the rest as for any
pipeline: an unchanged datum keeps its outputs without running, a vanished datum loses them,
two datums writing one path fail the job. Only the runtime runs them (on Ray Data); this
module is the part without Ray: what the rows hold, and how output rows are checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from raypachy.errors import InvalidPathError
from raypachy.pfs.names import normalize_path
from raypachy.storage import FileSetWriter

INPUT_COLUMNS = ("datum_id", "input", "path", "bytes")
OUTPUT_COLUMNS = ("datum_id", "path", "bytes")


def is_dataset_pipeline(spec: dict[str, Any]) -> bool:
    """Whether a stored spec's transform maps a Ray Dataset of datums (``dataset=True``)."""
    python = spec.get("transform", {}).get("python") or {}
    return bool(python.get("kind") == "dataset")


def not_in_process(pipeline: str) -> str:
    return (
        f"pipeline {pipeline} is a dataset pipeline (dataset=True): it runs on Ray Data, on a "
        "raypachy cluster (raypachy up), not in process"
    )


def missing_columns(pipeline: str, columns: Sequence[str]) -> str:
    """The one line for an output that is not rows of files ("" when it is)."""
    missing = [c for c in OUTPUT_COLUMNS if c not in columns]
    if not missing:
        return ""
    return (
        f"pipeline {pipeline}: the dataset it returns has no column {', '.join(missing)} "
        f"(it has {', '.join(columns) or 'none'}): return one row per output file with "
        "datum_id, path and bytes"
    )


@dataclass
class OutputRows:
    """Output rows written as files, checked row by row; ``problem`` says the first wrong
    row in one line (the job then fails, and nothing of it is installed)."""

    pipeline: str
    datums: frozenset[str]  # the datums this run processes
    outputs: dict[str, list[str]] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)  # path -> the datum writing it
    problem: str = ""

    def add(self, writer: FileSetWriter, datum: Any, path: Any, data: Any) -> None:
        if self.problem:
            return
        if not isinstance(datum, str) or datum not in self.datums:
            shown = repr(datum)[:80]
            self.problem = (
                f"pipeline {self.pipeline}: an output row has datum_id {shown}, which is not a "
                "datum of this run: keep the datum_id of the input rows"
            )
            return
        try:
            clean = normalize_path(path, allow_root=False)
        except InvalidPathError as e:
            self.problem = f"pipeline {self.pipeline}: an output row of datum {datum}: {e}"
            return
        if isinstance(data, str):
            data = data.encode()
        if not isinstance(data, bytes | bytearray | memoryview):
            self.problem = (
                f"pipeline {self.pipeline}: the output row {clean} of datum {datum} has bytes "
                f"of type {type(data).__name__}: give bytes (or str, written as UTF-8)"
            )
            return
        owner = self.owners.get(clean)
        if owner == datum:
            self.problem = (
                f"pipeline {self.pipeline}: datum {datum} has two output rows for {clean}: "
                "give each row its own path"
            )
            return
        if owner is None:  # else another datum's path: the merge fails the job, naming both
            self.owners[clean] = datum
            writer.put(clean, bytes(data))
        self.outputs.setdefault(datum, []).append(clean)


def fold(
    pipeline: str, writer: FileSetWriter, parts: Sequence[tuple[str, dict[str, list[str]], str]]
) -> tuple[dict[str, list[str]], str]:
    """Put the layers the write tasks made (``(manifest id, outputs by datum, problem)``)
    into ``writer``, moving no bytes; returns the outputs by datum and the first problem."""
    outputs: dict[str, list[str]] = {}
    owners: dict[str, str] = {}
    seen: set[str] = set()  # paths put so far
    for layer, written, problem in parts:
        if problem:
            return outputs, problem
        for datum, paths in written.items():
            for path in paths:
                if owners.setdefault(path, datum) == datum and path in seen:
                    return outputs, (
                        f"pipeline {pipeline}: datum {datum} has two output rows for {path}: "
                        "give each row its own path"
                    )
                seen.add(path)
            outputs.setdefault(datum, []).extend(paths)
        if layer:
            for entry in writer.manifests.open(layer):
                writer.put_data(entry.path, entry.data)
    return outputs, ""
