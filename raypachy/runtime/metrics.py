"""Metrics in the Ray dashboard and on Ray's Prometheus endpoint (``ray.util.metrics``).

``raypachy_datums_total{pipeline,state}``, ``raypachy_bytes_read_total{pipeline}``,
``raypachy_bytes_written_total{pipeline}`` and ``raypachy_job_seconds{pipeline,state}``.
"""

from __future__ import annotations

import functools
from typing import Any

from ray.util.metrics import Counter, Histogram


@functools.cache
def _metrics() -> dict[str, Any]:
    return {
        "datums": Counter(
            "raypachy_datums_total", "Datums by final state", tag_keys=("pipeline", "state")
        ),
        "read": Counter("raypachy_bytes_read_total", "Input bytes read", tag_keys=("pipeline",)),
        "written": Counter(
            "raypachy_bytes_written_total", "Output bytes written", tag_keys=("pipeline",)
        ),
        "job": Histogram(
            "raypachy_job_seconds",
            "Job duration, from start to finish",
            boundaries=[0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600],
            tag_keys=("pipeline", "state"),
        ),
    }


def record_batch(pipeline: str, states: dict[str, int], read: int, written: int) -> None:
    m = _metrics()
    for state, count in states.items():
        if count:
            m["datums"].inc(count, tags={"pipeline": pipeline, "state": state})
    if read:
        m["read"].inc(read, tags={"pipeline": pipeline})
    if written:
        m["written"].inc(written, tags={"pipeline": pipeline})


def record_job(pipeline: str, state: str, seconds: float, skipped: int) -> None:
    m = _metrics()
    if skipped:
        m["datums"].inc(skipped, tags={"pipeline": pipeline, "state": "skipped"})
    m["job"].observe(seconds, tags={"pipeline": pipeline, "state": state})
