"""Users and roles over a real served API: activation, tokens, the role table, the audit log,
and every route of the OpenAPI spec checking its caller."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from raypachy.client import Client
from raypachy.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    PermissionDeniedError,
    RepoNotFoundError,
    UnauthenticatedError,
    UnavailableError,
)
from raypachy.pachd import Pachd
from raypachy.pachd.access import ANYONE, OPEN, SIFTED
from raypachy.pfs import PFS
from raypachy.secrets import token_hash
from raypachy.server.access import route_verb
from raypachy.server.app import create_app
from raypachy.server.service import LocalService
from tests.serving import serve

CLUSTER_TOKEN = "tok-cluster-3f9a1b7c"


@dataclass
class Served:
    url: str
    clients: list[Client]

    def client(self, token: str) -> Client:
        made = Client(self.url, token=token, timeout=30)
        self.clients.append(made)
        return made


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    pfs = PFS.open(str(tmp_path / "home"))
    app = create_app(LocalService(Pachd(pfs)), pfs.backend.uri, token_hash(CLUSTER_TOKEN))
    with serve(app) as url:
        served = Served(url, [])
        try:
            yield served
        finally:
            for client in served.clients:
                client.close()


@pytest.fixture
def active(served: Served) -> tuple[Served, Client]:
    """Auth activated; the root user's client."""
    root = served.client(served.client(CLUSTER_TOKEN).auth_activate())
    return served, root


def test_before_activation_the_cluster_token_is_all_there_is(served: Served) -> None:
    owner = served.client(CLUSTER_TOKEN)
    owner.create_repo("raw")
    assert owner.whoami() == {"principal": "", "active": False, "expires": None}
    with pytest.raises(UnauthenticatedError, match="wrong API token"):
        httpx_get(served.url, "/v1/repos", "not-a-token")
    with pytest.raises(UnavailableError, match="could not prove it"):  # never sent to it
        served.client("not-a-token").list_repos()
    with pytest.raises(InvalidArgumentError, match="auth is not active"):
        owner.create_token("alice")


def test_activation_tokens_expiry_and_revocation(active: tuple[Served, Client]) -> None:
    served, root = active
    assert root.whoami()["principal"] == "pach:root"
    with pytest.raises(AlreadyExistsError, match="already active"):
        root.auth_activate()
    # The cluster's own token acts as root: its holder holds the database too.
    assert served.client(CLUSTER_TOKEN).whoami()["principal"] == "pach:root"
    made = root.create_token("alice")
    alice = served.client(made["token"])  # on loopback: the server proves it knows her token
    assert alice.whoami() == {"principal": "user:alice", "active": True, "expires": None}
    brief = served.client(root.create_token("bob", ttl="1s")["token"])
    assert brief.whoami()["expires"] is not None
    time.sleep(1.2)
    with pytest.raises(UnauthenticatedError, match="expired"):
        brief.list_repos()
    with pytest.raises(InvalidArgumentError, match="bad --ttl") as bad:
        root.create_token("carol", ttl="soon")
    assert "\n" not in str(bad.value)
    with pytest.raises(PermissionDeniedError, match="user:alice lacks clusterAdmin on the cluster"):
        alice.create_token("mallory")
    second = served.client(root.create_token("alice")["token"])
    assert alice.revoke(token=made["token"]) == 1  # a holder may revoke its own token
    with pytest.raises(UnauthenticatedError):
        alice.whoami()
    assert second.whoami()["principal"] == "user:alice"
    assert root.revoke(user="alice") == 1
    with pytest.raises(UnauthenticatedError):
        second.whoami()
    with pytest.raises(UnauthenticatedError, match="missing, unknown or revoked"):
        httpx_get(served.url, "/v1/repos", "made-up-token")


def httpx_get(url: str, path: str, token: str) -> None:
    """A raw request (no client-side proof), its error raised as the client would."""
    from raypachy.client.transport import raise_for

    response = httpx.get(url + path, headers={"Authorization": f"Bearer {token}"})
    if response.status_code >= 400:
        raise_for(response)


# --- the role table --------------------------------------------------------------------------

_NAMES = itertools.count()


@dataclass(frozen=True)
class Case:
    role: str | None  # None: no role at all
    on: str  # "repo" (the case's repo), "project" or "cluster"
    verb: str
    allowed: bool


Op = Callable[[Client, str], Any]
OPS: dict[str, Op] = {
    "inspect_repo": lambda c, r: c.inspect_repo(r),
    "get_file": lambda c, r: c.get_file(f"{r}@master", "/a.txt"),
    "list_commits": lambda c, r: c.list_commits(r),
    "put_file": lambda c, r: c.put_file(f"{r}@master", "/b.txt", b"b"),
    "create_branch": lambda c, r: c.create_branch(r, "dev", "master"),
    "delete_repo": lambda c, r: c.delete_repo(r),
    "create_repo": lambda c, r: c.create_repo(f"{r}-new"),
    "set_role": lambda c, r: c.set_role("repo", r, "user:bob", "repoReader"),
    "get_roles": lambda c, r: c.get_roles("repo", r),
    "create_pipeline": lambda c, r: c.create_pipeline(_spec(f"{r}-p", r)),
    "gc": lambda c, r: c.gc(),
    "list_secrets": lambda c, r: c.list_secrets(),
    "audit": lambda c, r: c.audit(),
}


def _spec(name: str, input_repo: str) -> dict[str, Any]:
    return {
        "pipeline": {"name": name},
        "transform": {"cmd": ["sh", "-c", "cp -r /pfs/in/* /pfs/out/"]},
        "input": {"pfs": {"repo": input_repo, "glob": "/*", "name": "in"}},
    }


def _cases(role: str | None, on: str, allowed: set[str]) -> list[Case]:
    return [Case(role, on, verb, verb in allowed) for verb in OPS]


#: Listings across repos: allowed to anyone, they answer with what the caller may read.
LISTINGS: dict[str, Callable[[Client], set[str]]] = {
    "list_repos": lambda c: {r.name for r in c.list_repos()},
    "list_all_commits": lambda c: {x.repo for x in c.list_commits()},
    "list_pipelines": lambda c: {p.name for p in c.list_pipelines()},
}

_READS = {"inspect_repo", "get_file", "list_commits", "get_roles"}
_WRITES = _READS | {"put_file", "create_branch"}
_OWNS = _WRITES | {"delete_repo", "set_role"}
CASES = [
    *_cases(None, "repo", set()),
    *_cases("repoReader", "repo", _READS),
    *_cases("repoWriter", "repo", _WRITES),
    *_cases("repoOwner", "repo", _OWNS),
    *_cases("repoReader", "project", _READS),  # a repo role on the project: every repo
    *_cases("projectViewer", "project", set()),
    *_cases("projectWriter", "project", {"create_repo"}),
    *_cases("projectOwner", "project", _OWNS | {"create_repo", "create_pipeline"}),
    *_cases("clusterAdmin", "cluster", set(OPS)),
]

#: What each (role, on) sees of a listing: nothing, the case's repo only, or every repo
#: (the table's repos are all in the default project).
SIGHT = {
    (None, "repo"): "nothing",
    ("repoReader", "repo"): "its repo", ("repoWriter", "repo"): "its repo",
    ("repoOwner", "repo"): "its repo",
    ("repoReader", "project"): "all", ("projectViewer", "project"): "all",
    ("projectWriter", "project"): "all", ("projectOwner", "project"): "all",
    ("clusterAdmin", "cluster"): "all",
}  # fmt: skip


ROLES_ON = sorted({(c.role, c.on) for c in CASES}, key=str)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Client]]:
    """One served API with auth active for the role table (each case: its own repo, user)."""
    home = tmp_path_factory.mktemp("roles")
    pfs = PFS.open(str(home / "home"))
    app = create_app(LocalService(Pachd(pfs)), pfs.backend.uri, token_hash(CLUSTER_TOKEN))
    with serve(app) as url:
        served = Served(url, [])
        try:
            yield served, served.client(served.client(CLUSTER_TOKEN).auth_activate())
        finally:
            for client in served.clients:
                client.close()


@pytest.mark.parametrize("role_on", ROLES_ON, ids=lambda r: f"{r[0]}-on-{r[1]}")
def test_role_table_over_http(shared: tuple[Served, Client], role_on: tuple[str, str]) -> None:
    served, root = shared
    for case in (c for c in CASES if (c.role, c.on) == role_on):
        n = next(_NAMES)
        repo, user = f"r{n}", f"user{n}"
        root.create_repo(repo)
        root.put_file(f"{repo}@master", "/a.txt", b"a")
        client = served.client(root.create_token(user)["token"])
        if case.role is not None:
            name = {"repo": repo, "project": "default", "cluster": ""}[case.on]
            root.set_role(case.on, name, f"user:{user}", case.role)
        if case.allowed:
            OPS[case.verb](client, repo)
            continue
        with pytest.raises(PermissionDeniedError) as denied:
            OPS[case.verb](client, repo)
        message = str(denied.value)
        assert "\n" not in message
        pattern = rf"user:{user} lacks (repo|project|cluster)\w+ on "
        assert re.match(pattern, message), (case, message)
        assert root.inspect_repo(repo).name == repo  # a refused request changed nothing
    # Listings are never refused: they answer with the objects the caller may read.
    n = next(_NAMES)
    repo, user = f"r{n}", f"user{n}"
    root.create_repo(repo)
    root.put_file(f"{repo}@master", "/a.txt", b"a")
    client = served.client(root.create_token(user)["token"])
    if role_on[0] is not None:
        name = {"repo": repo, "project": "default", "cluster": ""}[role_on[1]]
        root.set_role(role_on[1], name, f"user:{user}", role_on[0])
    for listing, names in LISTINGS.items():
        everything = names(root)
        assert len(everything) > 1 or listing == "list_pipelines", listing  # others' too
        expected = {
            "nothing": set(),
            "its repo": {repo} & everything,  # (no pipeline writes a case's repo)
            "all": everything,
        }[SIGHT[role_on]]
        assert names(client) == expected, (role_on, listing)


def test_creating_a_pipeline_needs_read_on_its_inputs(active: tuple[Served, Client]) -> None:
    served, root = active
    root.create_repo("images")
    root.create_repo("labels")
    alice = served.client(root.create_token("alice")["token"])
    root.set_role("project", "default", "user:alice", "projectWriter")
    root.set_role("repo", "images", "user:alice", "repoReader")
    with pytest.raises(PermissionDeniedError, match="user:alice lacks repoReader on repo labels"):
        alice.create_pipeline(_spec("from-labels", "labels"))
    alice.create_pipeline(_spec("edges", "images"))
    # Updating it to read a repo she cannot read is refused just the same.
    with pytest.raises(PermissionDeniedError, match="user:alice lacks repoReader on repo labels"):
        alice.update_pipeline(_spec("edges", "labels"))
    assert alice.inspect_pipeline("edges").spec["input"]["pfs"]["repo"] == "images"
    # Its creator owns the pipeline's output repo: it may update and delete it.
    assert {"principal": "user:alice", "role": "repoOwner", "kind": "repo", "name": "edges"} in (
        root.get_roles("repo", "edges")
    )
    alice.stop_pipeline("edges")
    alice.delete_pipeline("edges")
    assert root.get_roles("repo", "edges") == []  # its roles went with it


def test_project_roles_hold_on_the_repos_of_that_project_only(
    active: tuple[Served, Client],
) -> None:
    served, root = active
    root.create_project("team")
    for repo in ("team/images", "images"):
        root.create_repo(repo)
        root.put_file(f"{repo}@master", "/a.txt", b"a")
    alice = served.client(root.create_token("alice")["token"])
    root.set_role("project", "team", "user:alice", "repoReader")
    assert alice.get_file("team/images@master", "/a.txt") == b"a"
    with pytest.raises(PermissionDeniedError, match="lacks repoReader on repo images"):
        alice.get_file("images@master", "/a.txt")  # the default project's repo of that name
    with pytest.raises(PermissionDeniedError, match="lacks projectWriter on project team"):
        alice.create_repo("team/more")
    root.set_role("project", "team", "user:alice", "projectWriter")
    alice.create_repo("team/more")  # its creator owns it
    alice.delete_repo("team/more")
    with pytest.raises(PermissionDeniedError, match="lacks projectWriter on project default"):
        alice.create_repo("more")
    with pytest.raises(PermissionDeniedError, match="lacks repoWriter on repo team/images"):
        alice.put_file("team/images@master", "/b.txt", b"b")
    # A pipeline of team that reads team's images: projectWriter there, read on its input.
    spec = {**_spec("edges", "images"), "pipeline": {"name": "edges", "project": "team"}}
    alice.create_pipeline(spec)
    assert alice.inspect_pipeline("team/edges").project == "team"
    # Any user may create a project and owns it; deleting one needs projectOwner.
    bob = served.client(root.create_token("bob")["token"])
    bob.create_project("bobs")
    assert {"principal": "user:bob", "role": "projectOwner", "kind": "project",
            "name": "bobs"} in root.get_roles("project", "bobs")  # fmt: skip
    with pytest.raises(PermissionDeniedError, match="lacks projectOwner on project team"):
        bob.delete_project("team", force=True)
    bob.create_repo("bobs/data")
    assert root.get_roles("repo", "bobs/data") != []  # bob owns what he created
    assert bob.delete_project("bobs", force=True) == ["repo bobs/data"]
    assert root.get_roles("project", "bobs") == []  # its roles went with it
    assert root.get_roles("repo", "bobs/data") == []  # and its repos' roles


def test_roles_bad_input_is_one_line(active: tuple[Served, Client]) -> None:
    _, root = active
    root.create_repo("raw")
    for args, expected in (
        (("project", "other", "user:a", "projectViewer"), "project 'other' does not exist"),
        (("repo", "raw", "user:a", "superUser"), "unknown role 'superUser'"),
        (("cluster", "", "user:a", "repoReader"), "repoReader is granted on a repo or a project"),
        (("repo", "raw", "user:bad name", "repoReader"), "bad principal"),
    ):
        with pytest.raises(InvalidArgumentError, match=re.escape(expected)) as caught:
            root.set_role(*args)
        assert "\n" not in str(caught.value)
    check = root.check("repo", "raw")
    assert check["principal"] == "pach:root" and "repo own" in check["permissions"]


def test_audit_log_records_who_did_what_when(active: tuple[Served, Client]) -> None:
    served, root = active
    started = time.time()
    alice = served.client(root.create_token("alice")["token"])
    root.set_role("project", "default", "user:alice", "projectWriter")
    alice.create_repo("mine")
    alice.put_file("mine@master", "/x", b"x")
    alice.list_repos()  # a read: not audited
    entries = [(a["principal"], a["action"]) for a in root.audit(since=started)]
    assert entries == [
        ("pach:root", "auth_create_token"),
        ("pach:root", "auth_set_role"),
        ("user:alice", "create_repo"),
        ("user:alice", "acquire_lease"),  # a put goes to storage, then registers its layer
        ("user:alice", "register_layer"),
    ]
    details = [a["detail"] for a in root.audit(since=started)]
    assert details[:3] == ["user:alice", "project default projectWriter user:alice", "name=mine"]
    assert all(a["at"] >= started for a in root.audit(since=started))
    assert root.audit(since=time.time() + 60) == []
    with pytest.raises(PermissionDeniedError, match="lacks clusterAdmin"):
        alice.audit()
    assert {a["outcome"] for a in root.audit(since=started)} == {"ok"}


def test_a_failed_or_denied_mutation_is_audited_with_its_outcome(
    active: tuple[Served, Client],
) -> None:
    served, root = active
    alice = served.client(root.create_token("alice")["token"])
    bob = served.client(root.create_token("bob")["token"])
    root.set_role("project", "default", "user:alice", "projectWriter")
    started = time.time()
    alice.create_repo("mine")
    with pytest.raises(AlreadyExistsError):  # the handler fails: the entry is written all the same
        alice.create_repo("mine")
    with pytest.raises(PermissionDeniedError):  # refused before any handler runs
        bob.delete_repo("mine")
    entries = [(a["principal"], a["action"], a["detail"], a["outcome"])
               for a in root.audit(since=started)]  # fmt: skip
    assert entries[0] == ("user:alice", "create_repo", "name=mine", "ok")
    who, action, detail, outcome = entries[1]
    assert (who, action, detail) == ("user:alice", "create_repo", "name=mine")
    assert outcome == "failed: RepoExistsError: repo mine already exists"
    who, action, detail, outcome = entries[2]
    assert (who, action, detail) == ("user:bob", "delete_repo", "name=mine")
    assert outcome.startswith("denied: user:bob lacks repoOwner on repo mine"), outcome
    assert len(entries) == 3
    assert [r.name for r in root.list_repos()] == ["mine"]  # the denied delete changed nothing


# --- no route is left unchecked ------------------------------------------------------------

_OPEN = {("GET", "/healthz")}


def test_every_route_of_the_openapi_spec_checks_its_caller(active: tuple[Served, Client]) -> None:
    served, root = active
    owner = served.client(CLUSTER_TOKEN)  # the spec is the cluster token's, as before
    spec = owner._transport.send("GET", "/openapi.json").json()
    nobody = served.client(root.create_token("nobody")["token"]).whoami()  # a user, no roles
    assert nobody["principal"] == "user:nobody"
    nobody_token = root.create_token("nobody")["token"]
    routes = [(m.upper(), p) for p, ops in spec["paths"].items() for m in ops]
    assert len(routes) > 60
    for method, path in routes:
        if (method, path) in _OPEN:
            continue
        verb = route_verb(method, path)
        assert verb is not None, f"{method} {path}: no access rule covers it"
        url = served.url + re.sub(r"{(\w+)(:\w+)?}", "x", path)
        kw: dict[str, Any] = {"json": {}} if method in ("POST", "PUT") else {}
        # An unknown token is refused by every route (a route without the check would
        # answer it: the guard leaves tokens under /v1/ to the routes).
        unknown = httpx.request(method, url, headers={"Authorization": "Bearer nope"}, **kw)
        assert unknown.status_code == 401, (method, path, unknown.text)
        # A user without roles is refused whatever needs a role.
        headers = {"Authorization": f"Bearer {nobody_token}"}
        if path == "/v1/events/jobs":  # a stream: its first event is the jobs it shows
            with httpx.stream(method, url, headers=headers, timeout=10) as events:
                assert events.status_code == 200, (method, path)
                first = next(events.iter_lines())
            assert first == "event: snapshot", first
            continue
        as_nobody = httpx.request(method, url, headers=headers, timeout=10, **kw)
        if verb in SIFTED:  # a listing: answered with what the caller may read, never refused
            assert as_nobody.status_code in (200, 404), (method, path, as_nobody.text)
            if as_nobody.status_code == 200:
                assert as_nobody.json() == [], (method, path, as_nobody.text)
            continue
        if verb not in ANYONE and verb not in OPEN:  # (any user may create a project)
            assert as_nobody.status_code == 403, (method, path, as_nobody.text)
            assert as_nobody.json()["message"].startswith("user:nobody lacks "), as_nobody.text


# --- the S3 gateway: the access key is a token ------------------------------------------------


def test_role_table_over_the_s3_gateway(tmp_path: Path) -> None:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    from raypachy.server.access import CheckedService
    from raypachy.server.s3 import create_s3_app

    pfs = PFS.open(str(tmp_path / "home"))
    service = LocalService(Pachd(pfs))
    api = create_app(service, pfs.backend.uri, token_hash(CLUSTER_TOKEN))
    gateway = create_s3_app(service, pfs.backend.uri, token_hash(CLUSTER_TOKEN))
    with serve(api) as url, serve(gateway) as s3_url:
        served = Served(url, [])
        try:
            owner = served.client(CLUSTER_TOKEN)
            root = served.client(owner.auth_activate())
            for repo in ("open", "shut"):
                root.create_repo(repo)
                root.put_file(f"{repo}@master", "/a.txt", repo.encode())
            tokens = {user: root.create_token(user)["token"] for user in ("r", "w", "none", "a")}
            root.set_role("repo", "open", "user:r", "repoReader")
            root.set_role("repo", "open", "user:w", "repoWriter")
            root.set_role("cluster", "", "user:a", "clusterAdmin")
            s3 = {
                user: boto3.client(
                    "s3",
                    endpoint_url=s3_url,
                    aws_access_key_id=token,
                    aws_secret_access_key=token,
                    region_name="us-east-1",
                    config=Config(retries={"max_attempts": 1}),
                )
                for user, token in {**tokens, "unknown": "not-a-token"}.items()
            }

            def get(user: str, bucket: str) -> Any:
                return s3[user].get_object(Bucket=bucket, Key="a.txt")["Body"].read()

            def put(user: str, bucket: str) -> Any:
                return s3[user].put_object(Bucket=bucket, Key=f"{user}.txt", Body=b"x")

            def listing(user: str, bucket: str) -> Any:
                return s3[user].list_buckets()

            table = [
                ("r", get, "master.open", True), ("r", put, "master.open", False),
                ("r", get, "master.shut", False),
                ("w", get, "master.open", True), ("w", put, "master.open", True),
                ("w", put, "master.shut", False),
                ("none", get, "master.open", False), ("none", put, "master.open", False),
                ("a", get, "master.shut", True), ("a", put, "master.shut", True),
                ("a", listing, "", True),
                ("unknown", get, "master.open", False), ("unknown", listing, "", False),
            ]  # fmt: skip
            for user, op, bucket, allowed in table:
                if allowed:
                    op(user, bucket)
                    continue
                with pytest.raises(ClientError) as denied:
                    op(user, bucket)
                error = denied.value.response
                assert error["Error"]["Code"] == "AccessDenied", (user, op, bucket, error)
                assert error["ResponseMetadata"]["HTTPStatusCode"] == 403

            # ListBuckets answers with the buckets the signer may read: never refused.
            def buckets(user: str) -> list[str]:
                return [b["Name"] for b in s3[user].list_buckets()["Buckets"]]

            assert buckets("r") == buckets("w") == ["master.open"]
            assert buckets("none") == []
            assert buckets("a") == ["master.open", "master.shut"]
            assert sorted(f.path for f in root.list_files("open@master")) == ["/a.txt", "/w.txt"]
            assert root.get_file("shut@master", "/a.txt") == b"x"  # the admin's put (a.txt)
            writes = [a for a in root.audit() if a["action"] == "register_layer"]
            assert [(a["principal"], a["detail"]) for a in writes][-2:] == [
                ("user:w", "target=open@master"),
                ("user:a", "target=shut@master"),
            ]
            assert {a["outcome"] for a in writes} == {"ok"}
            # Through the gateway too, a write that fails is audited with its outcome.
            checked = CheckedService(service, token_hash(CLUSTER_TOKEN))
            checked.bind(tokens["a"])
            with pytest.raises(RepoNotFoundError):
                asyncio.run(checked.call("delete_repo", "nosuchrepo"))
            failed = root.audit()[-1]
            assert (failed["principal"], failed["action"], failed["detail"]) == (
                "user:a",
                "delete_repo",
                "name=nosuchrepo",
            )
            assert failed["outcome"] == (
                "failed: RepoNotFoundError: repo nosuchrepo not found: create it with "
                "`raypachy create repo nosuchrepo`"
            )
        finally:
            for client in served.clients:
                client.close()
