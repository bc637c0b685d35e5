"""What each verb needs of its caller, read from its arguments (the roles: ``pachd.roles``).

``needs(verb, args)`` is the one place that says it, for every verb of the table with a
route; the API server asks it before each request (``raypachy.server.access``). A verb that
names a repo needs read or write on it by its access in the verb table, a pipeline's verbs
act on its output repo (of the same name), listings across repos need nothing and answer
with what the caller may read (``pachd.visibility``), creating a repo or a pipeline
``projectWriter`` on its project (and read on every input), creating a project nothing (its
creator owns it), deleting one ``projectOwner``, and what spans the cluster (gc, fsck,
secrets, the audit log) ``clusterAdmin``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from raypachy.pachd.roles import DEFAULT_PROJECT, KINDS, Need, Permission
from raypachy.pachd.verbs import VERBS, Access
from raypachy.pachd.visibility import Sight

P = Permission
_LIST = Need(P.PROJECT_LIST, DEFAULT_PROJECT)
_CREATE = Need(P.PROJECT_CREATE, DEFAULT_PROJECT)
_ADMIN = Need(P.CLUSTER_ADMIN)
#: Verbs any known caller may ask (they name nothing of anyone else's). As in Pachyderm, any
#: user may use transactions: each operation is checked as it is recorded, and the listing
#: shows the transactions whose operations name only what the caller may see.
ANYONE = ("wait_change", "heartbeat_lease", "release_lease", "acquire_lease", "status",
          "auth_whoami", "auth_check", "auth_revoke", "config",
          *(v.name for v in VERBS.values()
            if v.name.endswith("_transaction") and v.access is not Access.INTERNAL))  # fmt: skip

#: Verbs any known caller may ask with the arguments that need nothing (Pachyderm lets every
#: user create projects and see which exist).
OPEN = ("create_project", "list_projects", "inspect_project")


def _repo(address: object) -> str:
    """The repo of a pachctl address (``repo@ref^N:/path``)."""
    return str(address or "").split("@", 1)[0].split(":", 1)[0]


def _on(perm: Permission, *repos: object) -> list[Need]:
    return [Need(perm, _repo(r)) for r in repos if r]


def _target(access: Permission) -> Callable[[Mapping[str, Any]], list[Need]]:
    return lambda a: _on(access, a.get("target"))


def _commit_target(a: Mapping[str, Any]) -> list[Need]:
    """A commit (``repo@id``) needs write on its repo; a commit set (a bare id) spans repos."""
    target = str(a.get("target") or "")
    return _on(P.REPO_WRITE, target) if "@" in target else [_ADMIN]


def _project(value: object) -> str:
    """A project as a spec writes it: ``"p"`` or ``{"name": "p"}``; "" when none."""
    if isinstance(value, dict):
        value = value.get("name")
    return value if isinstance(value, str) else ""


def _key(project: str, name: str) -> str:
    if "/" in name or project in ("", DEFAULT_PROJECT):
        return name
    return f"{project}/{name}"


def project_of(key: object) -> str:
    """The project of a repo or pipeline key (``staging/images``), or of an address."""
    return _repo(key).rpartition("/")[0] or DEFAULT_PROJECT


def _input_repos(spec: object) -> list[str]:
    """The repos a pipeline spec reads (its pfs inputs, by key), from the spec as sent; an
    input that names no project reads the pipeline's."""
    found: list[str] = []
    home = project_of(pipeline_name(spec))

    def walk(node: object) -> None:
        if isinstance(node, dict):
            pfs = node.get("pfs")
            if isinstance(pfs, dict) and isinstance(pfs.get("repo"), str):
                found.append(_key(_project(pfs.get("project")) or home, pfs["repo"]))
            for key in ("cross", "union", "join", "group"):
                for child in node.get(key) or ():
                    walk(child)

    if isinstance(spec, dict):
        walk(spec.get("input"))
    return found


def pipeline_name(spec: object) -> str:
    """The key a pipeline spec gives (``pipeline.name``, after ``project/`` when it names
    a project other than the default), or ``pipeline`` as a string."""
    if not isinstance(spec, dict):
        return ""
    named = spec.get("pipeline")
    project = ""
    if isinstance(named, dict):
        project = _project(named.get("project"))
        named = named.get("name")
    return _key(project, named) if isinstance(named, str) else ""


def _put_pipeline(a: Mapping[str, Any]) -> list[Need]:
    spec = a.get("pipeline")
    reads = _on(P.REPO_READ, *_input_repos(spec))
    if a.get("update"):
        return [*reads, *_on(P.REPO_WRITE, pipeline_name(spec))]
    return [*reads, Need(P.PROJECT_CREATE, project_of(pipeline_name(spec)))]


def _in_project(perm: Permission, arg: str) -> Callable[[Mapping[str, Any]], list[Need]]:
    """A need on the project an argument (a repo or pipeline key) lives in."""
    return lambda a: [Need(perm, project_of(a.get(arg)))] if a.get(arg) else [_LIST]


def _named_object(a: Mapping[str, Any], perms: Mapping[str, Permission]) -> list[Need]:
    kind = str(a.get("kind") or "")
    if kind not in KINDS:
        return [_ADMIN]  # the verb refuses the kind in one line, to whoever gets that far
    return [Need(perms[kind], str(a.get("name") or ""))]


_OWN_OBJECT = {"repo": P.REPO_OWN, "project": P.PROJECT_OWN, "cluster": P.CLUSTER_ADMIN}
_READ_OBJECT = {"repo": P.REPO_READ, "project": P.PROJECT_LIST, "cluster": P.CLUSTER_ADMIN}

_RULES: dict[str, Callable[[Mapping[str, Any]], list[Need]]] = {
    "create_repo": lambda a: (
        _on(P.REPO_WRITE, a.get("name"))
        if a.get("update")
        else [Need(P.PROJECT_CREATE, project_of(a.get("name")))]
    ),
    "create_project": lambda a: (
        [Need(P.PROJECT_OWN, str(a.get("name") or ""))] if a.get("update") else []
    ),  # as in Pachyderm, every user may create a project (and owns what it creates)
    "list_projects": lambda a: [],
    "inspect_project": lambda a: [],
    "delete_project": lambda a: [Need(P.PROJECT_OWN, str(a.get("name") or ""))],
    "list_repos": lambda a: [],  # answered with what the caller sees (pachd.visibility)
    "inspect_repo": lambda a: _on(P.REPO_READ, a.get("name")),
    "delete_repo": lambda a: _on(P.REPO_OWN, a.get("name")),
    "list_commits": lambda a: _on(P.REPO_READ, a.get("repo")),
    "commit_set": lambda a: [],
    "wait_commit_set": lambda a: [],
    "delete_commit": _commit_target,
    "squash_commit": _commit_target,
    "diff_files": lambda a: _on(P.REPO_READ, a.get("new"), a.get("old")),
    "copy_file": lambda a: [*_on(P.REPO_READ, a.get("src")), *_on(P.REPO_WRITE, a.get("dst"))],
    "check_writable": _target(P.REPO_WRITE),
    "gc": lambda a: [_ADMIN],
    "fsck": lambda a: [_ADMIN],
    "put_pipeline": _put_pipeline,
    "preview_datums": lambda a: _on(P.REPO_READ, *_input_repos(a.get("pipeline"))),
    "list_pipelines": lambda a: [],
    "inspect_defaults": lambda a: [Need(P.PROJECT_LIST, str(a.get("project") or "default"))],
    "update_defaults": lambda a: (
        [Need(P.PROJECT_OWN, str(a["project"]))] if a.get("project") else [_ADMIN]
    ),
    "delete_pipeline": lambda a: _on(P.REPO_OWN, a.get("name")),
    "store_code": lambda a: [_CREATE],
    "register_code": lambda a: [_CREATE],
    "list_jobs": lambda a: _on(P.REPO_READ, a.get("pipeline")),
    "logs": lambda a: _on(P.REPO_READ, a.get("pipeline")) or [_LIST],
    "lineage": lambda a: _on(P.REPO_READ, a.get("target")) or [_LIST],
    "auth_activate": lambda a: [_ADMIN],  # before activation: whoever holds the cluster token
    "auth_create_token": lambda a: [_ADMIN],
    "auth_set_role": lambda a: _named_object(a, _OWN_OBJECT),
    "auth_get_roles": lambda a: _named_object(a, _READ_OBJECT),
    "auth_audit": lambda a: [_ADMIN],
    "list_transactions": lambda a: [],
    **{name: (lambda a: []) for name in ANYONE},
    **{name: (lambda a: [_ADMIN]) for name in VERBS if name.endswith("_secret")},
    **{name: (lambda a: [_ADMIN]) for name in ("list_secrets",)},
}


def _field(name: str) -> Callable[[Any], list[str]]:
    """The repo (or pipeline) an entry names in ``name`` (a domain object, or its JSON)."""

    def repos(entry: Any) -> list[str]:
        value = entry.get(name) if isinstance(entry, Mapping) else getattr(entry, name, "")
        return [str(value or "")]

    return repos


def _transaction_repos(entry: Any) -> list[str]:
    """Every repo the operations of a transaction name (each needed a role on it)."""
    ops = entry.get("ops") if isinstance(entry, Mapping) else getattr(entry, "ops", ())
    found = []
    for op in ops or ():
        if isinstance(op, Mapping):
            verb, args = op.get("verb"), op.get("args")
        else:
            verb, args = getattr(op, "verb", ""), getattr(op, "args", {})
        found += [n.name for n in needs(str(verb), args or {}) or [] if n.kind == "repo"]
    return found


#: The listings answered with what the caller sees (``raypachy.pachd.visibility``), and the
#: repos (or pipelines) an entry names: the caller sees it if it sees all of them.
SIFTED: Mapping[str, Callable[[Any], list[str]]] = MappingProxyType(
    {
        "list_repos": _field("name"),
        "list_pipelines": _field("name"),
        "list_jobs": _field("pipeline"),
        "list_recent_jobs": _field("pipeline"),
        "list_commits": _field("repo"),
        "commit_set": _field("repo"),
        "wait_commit_set": _field("repo"),
        "list_transactions": _transaction_repos,
    }
)


def sift(verb: str, result: Any, sight: Sight | None) -> Any:
    """``result`` of ``verb`` with only the entries ``sight`` sees (None: auth is not
    active, everything is seen)."""
    names = SIFTED.get(verb)
    if sight is None or names is None or sight.everything or not isinstance(result, list):
        return result
    return [entry for entry in result if all(sight.sees(n) for n in names(entry))]


def needs(verb: str, args: Mapping[str, Any]) -> list[Need] | None:
    """What asking ``verb`` with ``args`` (the API's argument names) needs; None for a verb
    no rule covers, or without the arguments its rule reads (the server then lets only a
    clusterAdmin through: nothing is left open by omission)."""
    rule = _RULES.get(verb)
    if rule is not None:
        found = rule(args)
        open_ = verb in ANYONE or verb in OPEN or verb in SIFTED
        return found if found or open_ else None  # an argument it reads is missing
    row = VERBS.get(verb)
    if row is None or row.access is Access.INTERNAL:
        return None
    perm = P.REPO_READ if row.access is Access.READ else P.REPO_WRITE
    for arg in ("target", "repo", "pipeline", "name"):
        if args.get(arg):
            return _on(perm, args[arg])
    return None


def described(verb: str, args: Mapping[str, Any]) -> str:
    """What a mutation acted on, for the audit log (one line, without values of secrets)."""
    shown = []
    for key in ("name", "repo", "target", "src", "dst", "path", "pipeline", "job_id", "datum",
                "commit_id", "user", "kind", "role", "principal"):  # fmt: skip
        value = args.get(key)
        if key == "pipeline" and isinstance(value, dict):
            value = pipeline_name(value)
        if isinstance(value, (str, int)) and value != "":
            shown.append(f"{key}={value}")
    return " ".join(shown)[:500]
