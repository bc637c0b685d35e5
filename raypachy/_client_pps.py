"""The pipeline half of ``raypachy.Client`` (pipelines, jobs, datums, logs, lineage)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from raypachy import errors
from raypachy.pfs import wire as pfs_wire
from raypachy.pfs.model import Commit
from raypachy.pps import wire
from raypachy.pps.model import DatumInfo, JobInfo, PipelineInfo

log = logging.getLogger("raypachy")


class PipelinesMixin:
    """Needs ``_get``, ``_post``, ``_request``, ``direct_storage`` and ``chunks``."""

    _get: Any
    _get_all: Any
    _post: Any
    _request: Any
    _released: set[str]
    write_lease: Any

    @property
    def direct_storage(self) -> bool:
        raise NotImplementedError

    @property
    def chunks(self) -> Any:
        raise NotImplementedError

    def _spec(self, pipeline: Any) -> dict[str, Any]:
        """A dict spec from a spec dict, a ``PipelineSpec``, or a decorated function."""
        from raypachy.pps.decorator import Pipeline
        from raypachy.pps.spec import PipelineSpec

        if isinstance(pipeline, Pipeline):
            code = pipeline.code()
            if self.direct_storage:
                with self.write_lease() as lease:  # gc spares it until the pipeline exists
                    chunk_id, _ = self.chunks.put(code)
                    key = chunk_id.hex()
                    self._post("/v1/code/pins", {"code": key, "lease_id": lease})
                    self._released.add(lease)
            else:
                key = self._request(
                    "POST",
                    "/v1/code",
                    content=code,
                    headers={"Content-Type": "application/octet-stream"},
                )["code"]
            spec = pipeline.build(key)
            return spec.to_json()
        if isinstance(pipeline, PipelineSpec):
            return pipeline.to_json()
        if isinstance(pipeline, dict):
            return pipeline
        raise errors.InvalidSpecError(
            f"create_pipeline takes a spec dict, a PipelineSpec or a @raypachy.pipeline "
            f"function, not {type(pipeline).__name__}"
        )

    def create_pipeline_with_warnings(
        self, pipeline: Any, update: bool = False, reprocess: bool = False
    ) -> tuple[PipelineInfo, str, list[str]]:
        """Create or update; returns the pipeline, a note, and one warning per spec field
        that the cluster runs differently from Pachyderm (or ignores)."""
        body = {"spec": self._spec(pipeline), "update": update, "reprocess": reprocess}
        reply = self._post("/v1/pipelines", body)
        return wire.pipeline_info(reply["pipeline"]), reply["note"], reply.get("warnings", [])

    def create_pipeline_with_note(
        self, pipeline: Any, update: bool = False, reprocess: bool = False
    ) -> tuple[PipelineInfo, str]:
        info, note, warnings = self.create_pipeline_with_warnings(pipeline, update, reprocess)
        for warning in warnings:
            log.warning(warning)
        return info, note

    def create_pipeline(self, pipeline: Any) -> PipelineInfo:
        """Register a pipeline: a decorated function, a ``PipelineSpec`` or a spec dict.

        Notes and warnings (fields run differently from Pachyderm) go to the ``raypachy``
        logger."""
        info, note = self.create_pipeline_with_note(pipeline)
        if note:
            log.warning(note)
        return info

    def update_pipeline(self, pipeline: Any, reprocess: bool = False) -> PipelineInfo:
        """A new version; without ``reprocess`` unchanged datums keep their outputs."""
        info, note = self.create_pipeline_with_note(pipeline, update=True, reprocess=reprocess)
        if note:
            log.warning(note)
        return info

    def list_pipelines(self) -> list[PipelineInfo]:
        return [wire.pipeline_info(p) for p in self._get("/v1/pipelines")]

    def inspect_pipeline(self, name: str) -> PipelineInfo:
        return wire.pipeline_info(self._get(f"/v1/pipelines/{name}"))

    def delete_pipeline(self, name: str, keep_repo: bool = False) -> None:
        self._request(
            "DELETE", f"/v1/pipelines/{name}", params={"keep_repo": str(keep_repo).lower()}
        )

    def stop_pipeline(self, name: str) -> PipelineInfo:
        return wire.pipeline_info(self._post(f"/v1/pipelines/{name}/stop", {}))

    def start_pipeline(self, name: str) -> PipelineInfo:
        return wire.pipeline_info(self._post(f"/v1/pipelines/{name}/start", {}))

    def list_jobs(
        self, pipeline: str | None = None, job_id: str | None = None, limit: int | None = None,
        start_after: str | None = None,
    ) -> list[JobInfo]:  # fmt: skip
        """Newest first (at most ``limit``, after the job ``start_after``: ``pipeline@id``)."""
        found = self._get_all(
            "/v1/jobs", limit, pipeline=pipeline, id=job_id, start_after=start_after
        )
        return [wire.job_info(j) for j in found]

    def inspect_job(self, pipeline: str, job_id: str) -> JobInfo:
        return wire.job_info(self._get(f"/v1/jobs/{pipeline}/{job_id}"))

    def wait_job(self, pipeline: str, job_id: str, timeout: float | None = None) -> JobInfo:
        """Block until the job ends (success, failure, killed or unrunnable)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:
                body = {"timeout": left}
                return wire.job_info(self._post(f"/v1/jobs/{pipeline}/{job_id}/wait", body))
            except errors.WaitTimeout:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    def stop_job(self, pipeline: str, job_id: str) -> JobInfo:
        return wire.job_info(self._post(f"/v1/jobs/{pipeline}/{job_id}/stop", {}))

    def list_datums(
        self, pipeline: str, job_id: str | None = None, limit: int | None = None,
        start_after: str | None = None,
    ) -> list[DatumInfo]:  # fmt: skip
        """A job's datums by id (at most ``limit``, after the datum ``start_after``)."""
        url = f"/v1/jobs/{pipeline}/{job_id or 'latest'}/datums"
        found = self._get_all(url, limit, start_after=start_after)
        return [wire.datum_info(d) for d in found]

    def inspect_datum(self, pipeline: str, job_id: str, datum: str) -> DatumInfo:
        return wire.datum_info(self._get(f"/v1/jobs/{pipeline}/{job_id}/datums/{datum}"))

    def restart_datum(self, pipeline: str, job_id: str, datum: str) -> JobInfo:
        url = f"/v1/jobs/{pipeline}/{job_id}/datums/{quote(datum, safe='/,')}/restart"
        return wire.job_info(self._post(url, {}))

    def preview_datums(self, pipeline: Any, limit: int | None = None) -> list[dict[str, Any]]:
        """The datums a spec would make on the current data, without running anything;
        refused (with the count) if it makes more than ``limit`` (default 10,000)."""
        from raypachy.pps.decorator import Pipeline

        spec = (
            pipeline.spec_dict("0" * 64) if isinstance(pipeline, Pipeline) else self._spec(pipeline)
        )
        body = {"spec": spec} if limit is None else {"spec": spec, "limit": limit}
        result: list[dict[str, Any]] = self._post("/v1/datums/preview", body)
        return result

    def logs(
        self, pipeline: str, job_id: str | None = None, datum: str | None = None
    ) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get(
            "/v1/logs", pipeline=pipeline, job=job_id, datum=datum
        )
        return result

    def lineage(self, target: str) -> dict[str, Any]:
        """Where a commit (or ``repo@ref:/path``) came from, and what was computed from it."""
        result: dict[str, Any] = self._get("/v1/lineage", target=target)
        return result

    def wait_commit_set(self, commit_id: str, timeout: float | None = None) -> list[Commit]:
        """Wait until the commit set and every job it triggered, the whole DAG, are done."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:
                found = self._post(f"/v1/commitsets/{commit_id}/wait", {"timeout": left})
                return [pfs_wire.commit(c) for c in found]
            except errors.WaitTimeout:
                if deadline is not None and time.monotonic() >= deadline:
                    raise


def load_pipelines(path: str) -> list[Any]:
    """The ``@raypachy.pipeline`` functions of a Python file (``FILE.py[:NAME]``)."""
    import importlib.util
    import sys

    from raypachy.pps.decorator import Pipeline

    file, _, name = path.partition(":")
    source = Path(file)
    if not source.is_file():
        raise errors.InvalidArgumentError(f"python file {file} not found")
    module_name = f"raypachy_user_{source.stem}"
    spec = importlib.util.spec_from_file_location(module_name, source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    sys.path.insert(0, str(source.parent.resolve()))
    spec.loader.exec_module(module)
    found = [v for v in vars(module).values() if isinstance(v, Pipeline)]
    if name:
        found = [p for p in found if p.name == name or p.fn.__name__ == name]
    if not found:
        what = f" named {name}" if name else ""
        raise errors.InvalidArgumentError(f"{file} defines no @raypachy.pipeline{what}")
    return found
