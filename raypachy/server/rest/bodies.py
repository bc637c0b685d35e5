"""Request bodies of the HTTP API: strict pydantic models (unknown fields are refused)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from raypachy.pfs.model import Trigger

PID_MAX = 2**31 - 1


def _check_text(value: Any) -> None:
    """Refuse text that cannot be stored: lone surrogates are not UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text must be valid UTF-8 (it has a lone surrogate)") from None
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_text(k)
            _check_text(v)
    elif isinstance(value, list):
        for v in value:
            _check_text(v)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _valid_text(cls, data: Any) -> Any:
        _check_text(data)
        return data

    def api_args(self) -> dict[str, Any]:
        """The verb's arguments this body carries (by their HTTP names)."""
        return {name: getattr(self, name) for name in type(self).model_fields}


class CreateRepo(Body):
    name: str
    description: str = ""
    update: bool = False


class CreateProject(Body):
    name: str
    description: str = ""
    update: bool = False


class TriggerBody(Body):
    branch: str
    size: str = ""
    commits: int = 0
    cron_spec: str = ""
    all: bool = False


class PutBranch(Body):
    head: str | None = None
    expected_head: str | None = None
    check_expected: bool = Field(
        False, description="Compare-and-swap on expected_head (implied when it is sent)."
    )
    trigger: TriggerBody | None = Field(
        None, description="Follow another branch's head (null drops it; absent: unchanged)."
    )

    def api_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"head": self.head}
        if self.check_expected or "expected_head" in self.model_fields_set:
            args["expected_head"] = self.expected_head
        if "trigger" in self.model_fields_set:
            args["trigger"] = None if self.trigger is None else Trigger(**self.trigger.api_args())
        return args


class ProvenanceRef(Body):
    repo: str
    id: str


class StartCommit(Body):
    target: str = Field(description="repo@branch")
    parent: str | None = None
    description: str = ""
    id: str | None = None
    provenance: list[ProvenanceRef] = []
    origin: str = "user"

    def api_args(self) -> dict[str, Any]:
        from raypachy.pfs.model import CommitRef

        provenance = [CommitRef(p.repo, p.id) for p in self.provenance]
        return {**super().api_args(), "provenance": provenance}


class Defaults(Body):
    defaults: dict[str, Any] = Field(description='{"create_pipeline_request": {...}}')
    project: str | None = Field(None, description="A project's defaults (none: the cluster's).")


class EditMetadata(Body):
    kind: str = Field(description="repo, branch or commit")
    target: str = Field(description="repo, repo@branch or repo@commit")
    add: dict[str, str] | None = None
    remove: list[str] | None = None
    replace: dict[str, str] | None = None


class FinishCommit(Body):
    target: str
    error: str | None = None
    description: str | None = None


class Target(Body):
    target: str


class WaitCommit(Body):
    target: str
    timeout: float | None = Field(None, ge=0, le=3600)


class WaitChange(Body):
    since: int | None = Field(None, description="The version last seen (none: answer now).")
    timeout: float | None = Field(None, ge=0, le=3600)


class FilePath(Body):
    target: str
    path: str


class CopyFile(Body):
    src: str
    src_path: str
    dst: str
    dst_path: str
    append: bool = False


class Lease(Body):
    pid: int | None = Field(
        None, ge=1, le=PID_MAX, description="The caller's pid, if it runs on the server's host."
    )
    host: str | None = Field(
        None, min_length=1, max_length=255, description="Deprecated: the server decides."
    )


class CodePin(Body):
    code: str = Field(description="Key of the code the caller stored, 64 hex characters.")
    lease_id: str = Field(description="The lease the code was written under.")


class RegisterLayer(Body):
    target: str
    manifest_id: str
    lease_id: str = ""


class Fsck(Body):
    fix: bool = Field(False, description="Repair what is safe to repair (links, heads).")
    deep: bool = Field(False, description="Re-hash every referenced chunk.")


class CreatePipeline(Body):
    spec: dict[str, object]
    update: bool = False
    reprocess: bool = False


class CreateToken(Body):
    user: str = Field(min_length=1, max_length=140, description="alice (or user:alice)")
    ttl: str | None = Field(None, max_length=16, description="30d, 12h, 90m... (none: no end)")


class Revoke(Body):
    token: str | None = Field(None, max_length=512)
    user: str | None = Field(None, max_length=140)


class SetRole(Body):
    kind: str = Field(description="repo, project or cluster")
    name: str = Field("", max_length=256, description="the repo's, the project's (default)")
    principal: str = Field(max_length=140, description="user:alice")
    role: str = Field(max_length=32)
    remove: bool = Field(False, description="Take the role back instead.")


class CreateSecret(Body):
    secret: dict[str, object] = Field(
        description="A Kubernetes Secret: metadata.name, data (base64) and/or stringData."
    )


class Spec(Body):
    spec: dict[str, object]


class Preview(Body):
    spec: dict[str, object]
    limit: int | None = Field(
        None, ge=1, description="Refuse a spec that makes more datums (default 10,000)."
    )


class Timeout(Body):
    timeout: float | None = Field(None, ge=0, le=3600)
