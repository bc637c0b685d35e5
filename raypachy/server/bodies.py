"""Request bodies of the HTTP API: strict pydantic models (unknown fields are refused)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateRepo(Body):
    name: str
    description: str = ""
    update: bool = False


class PutBranch(Body):
    head: str | None = None
    expected_head: str | None = None
    check_expected: bool = Field(False, description="Compare-and-swap on expected_head.")


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


class FinishCommit(Body):
    target: str
    error: str | None = None
    description: str | None = None


class Target(Body):
    target: str


class WaitCommit(Body):
    target: str
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
    host: str
    pid: int = Field(ge=0)


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


class Spec(Body):
    spec: dict[str, object]


class Timeout(Body):
    timeout: float | None = Field(None, ge=0, le=3600)
