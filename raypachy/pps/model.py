"""The domain objects of pipelines: frozen, slotted, printable as JSON."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from raypachy.pfs.metadata.records import DatumCounts as DatumCounts  # a job's, shown as is
from raypachy.pfs.metadata.records import JobInput
from raypachy.pfs.model import CommitRef, project_of_key


class JobState(enum.StrEnum):
    CREATED = "created"
    STARTING = "starting"
    RUNNING = "running"
    FINISHING = "finishing"
    SUCCESS = "success"
    FAILURE = "failure"
    KILLED = "killed"
    UNRUNNABLE = "unrunnable"

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCESS, JobState.FAILURE, JobState.KILLED, JobState.UNRUNNABLE)


class DatumState(enum.StrEnum):
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"
    RECOVERED = "recovered"


@dataclass(frozen=True, slots=True)
class PipelineInfo:
    name: str
    version: str
    state: str  # running | stopped
    description: str
    spec: dict[str, Any]
    inputs: tuple[str, ...]  # input repos
    output_repo: str
    created: datetime
    updated: datetime
    transform: str  # the command or the Python function it runs
    last_job: str | None
    last_job_state: str | None
    resources: dict[str, Any]
    ray_options: dict[str, Any] = field(default_factory=dict)  # the datum tasks' Ray options
    can_run_on: tuple[str, ...] = ()  # nodes and node types that fit (known on a cluster)
    placement: str = ""  # why nothing fits, when nothing does
    service_url: str = ""  # where a service pipeline's process is reached (known on a cluster)

    #: Shown in JSON beside the fields (read-only: derived from the key).
    JSON_EXTRA: ClassVar[tuple[str, ...]] = ("project",)

    @property
    def project(self) -> str:
        return project_of_key(self.name)


@dataclass(frozen=True, slots=True)
class JobInfo:
    id: str
    pipeline: str
    version: str
    state: str
    datums: DatumCounts
    output_commit: CommitRef | None
    inputs: tuple[CommitRef, ...]
    created: datetime
    started: datetime | None
    finished: datetime | None
    reason: str
    # How the egress after this job went (url, state, written, deleted, error), if any.
    egress: dict[str, Any] | None = None

    #: Shown in JSON beside the fields (read-only: derived from the key).
    JSON_EXTRA: ClassVar[tuple[str, ...]] = ("project",)

    @property
    def project(self) -> str:
        return project_of_key(self.pipeline)


@dataclass(frozen=True, slots=True)
class DatumInput:
    name: str
    repo: str
    commit: str
    path: str


@dataclass(frozen=True, slots=True)
class DatumInfo:
    id: str
    pipeline: str
    job: str
    state: str
    hash: str
    inputs: tuple[DatumInput, ...]
    outputs: tuple[str, ...]
    attempts: int
    error: str
    duration_s: float


@dataclass(frozen=True, slots=True)
class PipelineVersion:
    """One version of a pipeline: the spec it ran with, when it appeared, how many jobs."""

    pipeline: str
    version: str
    spec: dict[str, Any]
    created: datetime
    jobs: int
    current: bool


@dataclass(frozen=True, slots=True)
class PipelineCreated:
    """What creating or updating a pipeline answers: the pipeline, a note for the user (what
    runs next, what the update keeps), and one warning per spec field run differently from
    Pachyderm or ignored."""

    pipeline: PipelineInfo
    note: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class JobClaim:
    """A job its pipeline's controller was given to run: the spec of its version, the input
    commits it reads and the output commit opened for it."""

    pipeline: str
    job: str
    version: str
    spec: dict[str, Any]
    salt: str
    inputs: tuple[JobInput, ...]
    output_repo: str
    output_commit: str
    # What transform.secrets names, resolved by the control plane for this job's datums.
    secrets: SecretValues = field(default_factory=lambda: SecretValues())
    # The pipeline's own token for this job (auth active): its datums' RAYPACHY_TOKEN.
    token: JobToken = field(default_factory=lambda: JobToken())
    # Claimed before (its controller was interrupted): only then can it have checkpoints.
    resumed: bool = True


@dataclass(frozen=True, slots=True)
class DiffBase:
    """The job before a job, when the new one may plan from the change since it: the commit
    each input read, as (name, repo, branch, commit id), and how many datums it had."""

    inputs: tuple[tuple[str, str, str, str], ...]
    total: int


@dataclass(frozen=True, slots=True)
class SecretInfo:
    """A stored secret as the API shows it: its name and key names, never its values."""

    name: str
    keys: tuple[str, ...]
    created: datetime


class JobToken:
    """A job's token (``raypachy.pachd.pipeline_auth``), shown as a placeholder only."""

    __slots__ = ("value",)

    def __init__(self, value: str = "") -> None:
        self.value = value

    def __bool__(self) -> bool:
        return bool(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JobToken) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)

    def __repr__(self) -> str:
        return "JobToken(***)" if self.value else "JobToken()"

    __str__ = __repr__


class SecretValues:
    """The values of the secrets one job reads, by secret name then key; shown (repr, str)
    as names only, so no log or error that prints a claim or a batch shows a value."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, dict[str, bytes]] | None = None) -> None:
        self._values = dict(values or {})

    def get(self, name: str) -> dict[str, bytes]:
        return self._values.get(name, {})

    def __bool__(self) -> bool:
        return bool(self._values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretValues) and other._values == self._values

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._values)))

    def __repr__(self) -> str:
        return f"SecretValues({sorted(self._values)})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        return (SecretValues, (self._values,))
