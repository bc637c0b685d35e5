"""The verb table: every verb pachd serves, and how it travels over HTTP.

One row per verb. The REST routers (``raypachy.server.rest``), the client's requests
(``raypachy.Client``), the operations a front door may call, the read-only set (retried
while the metadata actor restarts) and the set after which pipeline controllers are
reconciled are all derived from this table; nothing else lists verbs.

Import cost matters: the CLI loads this module, so it holds plain data only.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from raypachy.pfs.names import check_project_name


class Access(enum.Enum):
    READ = "read"  # changes nothing: safe to retry
    WRITE = "write"
    INTERNAL = "internal"  # asked by pipeline controllers and the server itself, never routed


@dataclass(frozen=True, slots=True)
class Verb:
    """How one verb is served.

    ``route`` is ``"METHOD /path/{param}"`` (``None``: not an HTTP route). Arguments named in
    the path travel there; with ``body`` (a request model of ``raypachy.server.rest.bodies``)
    the others travel as its JSON fields, else as query parameters. ``wire`` renames
    arguments whose HTTP name differs (``{"job_id": "job"}``). A result travels bare, or as
    ``{key: result}``; ``echo`` adds fields made from the arguments (``"{repo}@{name}"``).
    ``cursor`` marks a paged listing and names what continues it after an entry. A
    ``manual`` verb has a route the client calls, served by a router written by hand.
    """

    name: str
    route: str | None
    access: Access
    body: str | None = None
    wire: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    key: str = ""
    echo: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    cursor: str = ""  # "path", "commit", "job" or "id": the entry field(s) a page continues after
    pipelines: bool = False  # the set of pipeline controllers may change after it
    manual: bool = False  # served by a route written by hand (raw bodies, streams, waits)
    tag: str = ""

    @property
    def method(self) -> str:
        assert self.route is not None
        return self.route.split(" ", 1)[0]

    @property
    def path(self) -> str:
        assert self.route is not None
        return self.route.split(" ", 1)[1]

    def http_name(self, arg: str) -> str:
        return self.wire.get(arg, arg)


def _v(name: str, route: str | None, access: Access, tag: str, **kw: Any) -> Verb:
    for mapping in ("wire", "echo"):
        if mapping in kw:
            kw[mapping] = MappingProxyType(dict(kw[mapping]))
    return Verb(name, route, access, tag=tag, **kw)


R, W, INTERNAL = Access.READ, Access.WRITE, Access.INTERNAL

_TABLE = (
    # --- repos and branches ---------------------------------------------------------------
    _v("create_repo", "POST /v1/repos", W, "repos", body="CreateRepo"),
    _v("list_repos", "GET /v1/repos", R, "repos"),
    _v("inspect_repo", "GET /v1/repos/{name}", R, "repos"),
    _v("delete_repo", "DELETE /v1/repos/{name}", W, "repos", key="warnings",
       echo={"deleted": "{name}"}),
    # --- projects (a repo or pipeline of another project: ?project=P beside its name) --------
    _v("create_project", "POST /v1/projects", W, "projects", body="CreateProject"),
    _v("list_projects", "GET /v1/projects", R, "projects"),
    _v("inspect_project", "GET /v1/projects/{name}", R, "projects"),
    _v("delete_project", "DELETE /v1/projects/{name}", W, "projects", key="deleted",
       echo={"project": "{name}"}, pipelines=True),
    _v("list_branches", "GET /v1/repos/{repo}/branches", R, "branches"),
    _v("inspect_branch", "GET /v1/repos/{repo}/branches/{name}", R, "branches"),
    _v("create_branch", "PUT /v1/repos/{repo}/branches/{name}", W, "branches", body="PutBranch"),
    _v("delete_branch", "DELETE /v1/repos/{repo}/branches/{name}", W, "branches",
       echo={"deleted": "{repo}@{name}"}),
    # --- commits ----------------------------------------------------------------------------
    _v("start_commit", "POST /v1/commits/start", W, "commits", body="StartCommit",
       wire={"commit_id": "id"}),
    _v("finish_commit", "POST /v1/commits/finish", W, "commits", body="FinishCommit"),
    _v("list_commits", "GET /v1/commits", R, "commits", cursor="commit"),
    _v("inspect_commit", "GET /v1/commit", R, "commits"),
    _v("commit_set", "GET /v1/commitsets/{commit_id}", R, "commits"),
    _v("wait_commit", "POST /v1/commits/wait", R, "commits", body="WaitCommit", manual=True),
    _v("wait_commit_set", "POST /v1/commitsets/{commit_id}/wait", R, "commits",
       body="Timeout", manual=True),
    _v("wait_change", "POST /v1/changes/wait", R, "commits", body="WaitChange", key="version",
       manual=True),
    _v("delete_commit", "POST /v1/commits/delete", W, "commits", body="Target"),
    _v("squash_commit", "POST /v1/commits/squash", W, "commits", body="Target"),
    _v("find_commits", "GET /v1/commits/find", R, "commits"),
    _v("edit_metadata", "POST /v1/metadata", W, "commits", body="EditMetadata"),
    # --- files ------------------------------------------------------------------------------
    _v("list_files", "GET /v1/files", R, "files", cursor="path"),
    _v("glob_files", "GET /v1/files/glob", R, "files", cursor="path"),
    _v("inspect_file", "GET /v1/files/inspect", R, "files"),
    _v("diff_files", "GET /v1/files/diff", R, "files"),
    _v("file_history", "GET /v1/files/history", R, "files", wire={"history_n": "history"}),
    _v("open_file", "GET /v1/files/content", R, "files", manual=True),
    _v("put_file", "POST /v1/files/upload", W, "files", manual=True),
    _v("delete_file", "POST /v1/files/delete", W, "files", body="FilePath"),
    _v("copy_file", "POST /v1/files/copy", W, "files", body="CopyFile"),
    # --- the data plane -------------------------------------------------------------------
    _v("walk_data", "GET /v1/files/refs", R, "data plane", cursor="path"),
    _v("path_kind", "GET /v1/files/kind", R, "data plane", key="kind"),
    _v("check_writable", "POST /v1/writable", R, "data plane", body="Target",
       echo={"ok": True}),
    _v("register_layer", "POST /v1/layers", W, "data plane", body="RegisterLayer"),
    _v("acquire_lease", "POST /v1/leases", W, "data plane", body="Lease", key="id",
       manual=True),
    _v("grant_lease", None, INTERNAL, "data plane"),
    _v("heartbeat_lease", "PUT /v1/leases/{lease_id}", W, "data plane",
       echo={"id": "{lease_id}"}),
    _v("release_lease", "DELETE /v1/leases/{lease_id}", W, "data plane",
       echo={"id": "{lease_id}"}),
    # --- cluster ----------------------------------------------------------------------------
    _v("gc", "POST /v1/gc", W, "cluster"),
    _v("fsck", "POST /v1/fsck", W, "cluster", body="Fsck"),
    _v("status", "GET /v1/status", R, "cluster", manual=True),
    # --- pipelines --------------------------------------------------------------------------
    _v("put_pipeline", "POST /v1/pipelines", W, "pipelines", body="CreatePipeline",
       wire={"pipeline": "spec"}, pipelines=True),
    _v("list_pipelines", "GET /v1/pipelines", R, "pipelines"),
    _v("inspect_pipeline", "GET /v1/pipelines/{name}", R, "pipelines"),
    _v("list_pipeline_versions", "GET /v1/pipelines/{name}/versions", R, "pipelines",
       manual=True),  # served by the console's router: it adds each spec's YAML
    _v("delete_pipeline", "DELETE /v1/pipelines/{name}", W, "pipelines",
       echo={"deleted": "{name}"}, pipelines=True),
    _v("stop_pipeline", "POST /v1/pipelines/{name}/stop", W, "pipelines", pipelines=True),
    _v("start_pipeline", "POST /v1/pipelines/{name}/start", W, "pipelines", pipelines=True),
    _v("run_cron", "POST /v1/pipelines/{name}/cron", W, "pipelines"),
    _v("rerun_pipeline", "POST /v1/pipelines/{name}/rerun", W, "pipelines"),
    _v("update_defaults", "PUT /v1/defaults", W, "pipelines", body="Defaults",
       wire={"defaults_doc": "defaults"}),
    _v("inspect_defaults", "GET /v1/defaults", R, "pipelines"),
    _v("store_code", "POST /v1/code", W, "pipelines", key="code", manual=True),
    _v("register_code", "POST /v1/code/pins", W, "pipelines", body="CodePin",
       echo={"code": "{code}"}),
    # --- secrets (values travel in create_secret's body only; nothing answers them) -------
    _v("create_secret", "POST /v1/secrets", W, "secrets", body="CreateSecret"),
    _v("list_secrets", "GET /v1/secrets", R, "secrets"),
    _v("inspect_secret", "GET /v1/secrets/{name}", R, "secrets"),
    _v("delete_secret", "DELETE /v1/secrets/{name}", W, "secrets",
       echo={"deleted": "{name}"}),
    # --- jobs and datums --------------------------------------------------------------------
    _v("list_jobs", "GET /v1/jobs", R, "jobs", wire={"job_id": "id"}, cursor="job"),
    _v("list_recent_jobs", None, INTERNAL, "jobs"),  # the console's live view asks it
    _v("wait_job", "POST /v1/jobs/{pipeline}/{job}/wait", R, "jobs", body="Timeout",
       wire={"job_id": "job"}, manual=True),
    _v("inspect_job", "GET /v1/jobs/{pipeline}/{job}", R, "jobs", wire={"job_id": "job"}),
    _v("stop_job", "POST /v1/jobs/{pipeline}/{job}/stop", W, "jobs", wire={"job_id": "job"}),
    _v("list_datums", "GET /v1/jobs/{pipeline}/{job}/datums", R, "datums",
       wire={"job_id": "job"}, cursor="id"),
    _v("inspect_datum", "GET /v1/jobs/{pipeline}/{job}/datums/{datum}", R, "datums",
       wire={"job_id": "job"}),
    _v("restart_datum", "POST /v1/jobs/{pipeline}/{job}/datums/{datum:path}/restart", W,
       "datums", wire={"job_id": "job"}),
    _v("preview_datums", "POST /v1/datums/preview", R, "datums", body="Preview",
       wire={"pipeline": "spec"}),
    _v("logs", "GET /v1/logs", R, "jobs", wire={"job_id": "job"}),
    _v("lineage", "GET /v1/lineage", R, "pipelines"),
    # --- transactions (raypachy.pfs.transactions) --------------------------------------------
    _v("start_transaction", "POST /v1/transactions", W, "transactions"),
    _v("list_transactions", "GET /v1/transactions", R, "transactions"),
    _v("inspect_transaction", "GET /v1/transactions/{txn_id}", R, "transactions"),
    _v("finish_transaction", "POST /v1/transactions/{txn_id}/finish", W, "transactions",
       pipelines=True),
    _v("delete_transaction", "DELETE /v1/transactions/{txn_id}", W, "transactions",
       echo={"deleted": "{txn_id}"}),
    _v("record_in_transaction", None, INTERNAL, "transactions"),
    # --- users, tokens and roles (raypachy.server.rest.auth: each is given its caller) ------
    _v("auth_activate", "POST /v1/auth/activate", W, "auth", manual=True),
    _v("auth_whoami", "GET /v1/auth/whoami", R, "auth", manual=True),
    _v("auth_create_token", "POST /v1/auth/tokens", W, "auth", body="CreateToken",
       manual=True),
    _v("auth_revoke", "POST /v1/auth/revoke", W, "auth", body="Revoke", manual=True),
    _v("auth_set_role", "POST /v1/auth/roles", W, "auth", body="SetRole", manual=True),
    _v("auth_get_roles", "GET /v1/auth/roles", R, "auth", manual=True),
    _v("auth_check", "GET /v1/auth/check", R, "auth", manual=True),
    _v("auth_audit", "GET /v1/auth/audit", R, "auth", manual=True),
    *(
        _v(name, None, INTERNAL, "auth")
        for name in (
            "authorize", "audit_mutation", "auth_created", "auth_deleted", "auth_proof_key",
            "auth_sight",
        )
    ),
    # --- what the API server's waits ask (raypachy.server.rest.waits) ------------------------
    _v("commit_set_state", None, INTERNAL, "commits"),
    # --- what pipeline controllers ask ------------------------------------------------------
    *(
        _v(name, None, INTERNAL, "controllers")
        for name in (
            "pipelines_with_jobs", "claim_job", "update_job", "job_is_live", "datum_states",
            "datum_states_of", "diff_base",
            "commit_layers", "tick_cron", "take_datum_restarts", "checkpoint_batch", "checkpoints",
            "finish_job", "fail_job", "take_controller_lease", "renew_controller_lease",
            "release_controller_lease", "pipeline_token",
        )
    ),
)  # fmt: skip

VERBS: Mapping[str, Verb] = MappingProxyType({v.name: v for v in _TABLE})


def qualified_params(verb: Verb) -> tuple[str, ...]:
    """The path parameters of ``verb``'s route that name a repo or a pipeline. A name of
    another project than ``default`` (``staging/images``) travels as its plain name in the
    path and ``?project=staging`` beside it, so a path segment never holds a ``/``."""
    if verb.route is None:
        return ()
    found = re.findall(r"{(\w+)(?::\w+)?}", verb.path)
    return tuple(
        p for p in found
        if p in ("repo", "pipeline") or (p == "name" and verb.tag in ("repos", "pipelines"))
    )  # fmt: skip


def split_project(verb: Verb, http: dict[str, Any]) -> dict[str, Any]:
    """``http`` (a request's arguments by HTTP name) with its repo or pipeline path
    parameters as plain names and their project as ``project``."""
    out = dict(http)
    for p in qualified_params(verb):
        value = out.get(p)
        if isinstance(value, str) and "/" in value:
            out["project"], _, out[p] = value.rpartition("/")
    return out


def join_project(verb: Verb, http: dict[str, Any]) -> dict[str, Any]:
    """The inverse of ``split_project``: ``?project=`` goes back into the names."""
    params = qualified_params(verb)
    if not params or not http.get("project"):
        return http
    out = dict(http)
    project = check_project_name(str(out.pop("project")))
    for p in params:
        value = out.get(p)
        if isinstance(value, str) and value and "/" not in value and project != "default":
            out[p] = f"{project}/{value}"
    return out


#: The operations a front door, or a controller, may ask the metadata side by name.
NAMES = frozenset(VERBS)

#: Operations that change nothing (a restarting metadata actor is waited for, then retried).
READ_ONLY = frozenset(v.name for v in _TABLE if v.access is Access.READ)

#: Operations after which the set of pipeline controllers may have to change.
PIPELINE_CHANGES = frozenset(v.name for v in _TABLE if v.pipelines)

#: The verbs served as generated HTTP routes.
ROUTED = tuple(v for v in _TABLE if v.route is not None and not v.manual)
