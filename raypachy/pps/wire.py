"""JSON forms of pipelines, jobs and datums, shared by the HTTP server and the client."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from raypachy.pfs.wire import commit_ref
from raypachy.pps.model import DatumCounts, DatumInfo, DatumInput, JobInfo, PipelineInfo


def _dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def pipeline_info(d: dict[str, Any]) -> PipelineInfo:
    return PipelineInfo(
        name=d["name"], version=d["version"], state=d["state"], description=d["description"],
        spec=d["spec"], inputs=tuple(d["inputs"]), output_repo=d["output_repo"],
        created=_dt(d["created"]), updated=_dt(d["updated"]),  # type: ignore[arg-type]
        transform=d["transform"], last_job=d["last_job"], last_job_state=d["last_job_state"],
        resources=d["resources"], ray_options=d.get("ray_options", {}),
        can_run_on=tuple(d.get("can_run_on", ())), placement=d.get("placement", ""),
    )  # fmt: skip


def job_info(d: dict[str, Any]) -> JobInfo:
    return JobInfo(
        id=d["id"], pipeline=d["pipeline"], version=d["version"], state=d["state"],
        datums=DatumCounts(**d["datums"]),
        output_commit=commit_ref(d["output_commit"]) if d["output_commit"] else None,
        inputs=tuple(commit_ref(i) for i in d["inputs"]),
        created=_dt(d["created"]), started=_dt(d["started"]),  # type: ignore[arg-type]
        finished=_dt(d["finished"]), reason=d["reason"],
    )  # fmt: skip


def datum_info(d: dict[str, Any]) -> DatumInfo:
    return DatumInfo(
        id=d["id"], pipeline=d["pipeline"], job=d["job"], state=d["state"], hash=d["hash"],
        inputs=tuple(DatumInput(**i) for i in d["inputs"]), outputs=tuple(d["outputs"]),
        attempts=d["attempts"], error=d["error"], duration_s=d["duration_s"],
    )  # fmt: skip
