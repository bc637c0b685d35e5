"""Listings answer with what the caller may read, as Pachyderm's do, over a real served API
(HTTP, the client, the CLI); naming an object the caller may not read stays a 403."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from raypachy.client import Client
from raypachy.errors import PermissionDeniedError, WaitTimeoutError
from raypachy.pachd import Pachd
from raypachy.pfs import PFS
from raypachy.secrets import token_hash
from raypachy.server.app import create_app
from raypachy.server.service import LocalService
from tests.serving import serve

CLUSTER_TOKEN = "tok-sight-5c1e9a2b"
RAYPACHY = str(Path(sys.executable).with_name("raypachy"))


def _spec(name: str, project: str, repo: str) -> dict[str, Any]:
    return {
        "pipeline": {"name": name, "project": project},
        "transform": {"cmd": ["sh", "-c", "cp -r /pfs/in/* /pfs/out/"]},
        "input": {"pfs": {"repo": repo, "glob": "/*", "name": "in"}},
    }


@dataclass
class World:
    url: str
    root: Client
    tokens: dict[str, str]
    clients: dict[str, Client]
    put_id: str  # the global id of a put into team/a, and of commits in team/b and images
    quiet_id: str  # a put into team/b, which no pipeline reads


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Project ``team`` (repos a, b; pipeline edges reading a) beside the default project
    (repo images; pipeline thumbs reading it): alice reads team/a only, bob is projectViewer
    of team, carol has no role, dave is clusterAdmin."""
    pfs = PFS.open(str(tmp_path_factory.mktemp("sight") / "home"))
    app = create_app(LocalService(Pachd(pfs)), pfs.backend.uri, token_hash(CLUSTER_TOKEN))
    made: list[Client] = []
    with serve(app) as url:
        try:
            owner = Client(url, token=CLUSTER_TOKEN, timeout=30)
            made.append(owner)
            root = Client(url, token=owner.auth_activate(), timeout=30)
            made.append(root)
            root.create_project("team")
            for repo in ("team/a", "team/b", "images"):
                root.create_repo(repo)
            root.create_pipeline(_spec("edges", "team", "a"))
            root.create_pipeline(_spec("thumbs", "default", "images"))
            for n in range(3):  # commits (and jobs) in every repo, the default's last
                root.put_file("team/b@master", f"/{n}", b"b")
                root.put_file("images@master", f"/{n}", b"i")
            put = root.put_file("team/a@master", "/x", b"a")
            for repo in ("team/b", "images"):  # one global id across projects
                root.start_commit(f"{repo}@master", commit_id=put.id)
                root.finish_commit(f"{repo}@master")
            for n in range(3):
                root.put_file("images@master", f"/later{n}", b"i")
            quiet = root.put_file("team/b@master", "/quiet", b"q")  # no pipeline reads team/b
            tokens = {u: root.create_token(u)["token"] for u in ("alice", "bob", "carol", "dave")}
            root.set_role("repo", "team/a", "user:alice", "repoReader")
            root.set_role("project", "team", "user:bob", "projectViewer")
            root.set_role("cluster", "", "user:dave", "clusterAdmin")
            clients = {u: Client(url, token=t, timeout=30) for u, t in tokens.items()}
            made += clients.values()
            yield World(url, root, tokens, clients, put.id, quiet.id)
        finally:
            for client in made:
                client.close()


def _repos(c: Client) -> set[str]:
    return {r.name for r in c.list_repos()}


def _commit_repos(c: Client) -> set[str]:
    return {x.repo for x in c.list_commits()}


def test_a_repo_reader_lists_just_that_repo(world: World) -> None:
    alice = world.clients["alice"]
    assert _repos(alice) == {"team/a"}
    assert _commit_repos(alice) == {"team/a"}
    assert {x.repo for x in alice.commit_set(world.put_id)} == {"team/a"}
    assert {x.repo for x in world.root.commit_set(world.put_id)} == {"team/a", "team/b", "images"}
    assert alice.list_pipelines() == []  # it reads edges' input, not edges
    assert alice.list_jobs() == []
    # Naming what she may not read is refused, in one line naming the role she lacks.
    with pytest.raises(PermissionDeniedError, match=r"^user:alice lacks repoReader on repo team/b"):
        alice.inspect_repo("team/b")
    with pytest.raises(PermissionDeniedError, match="lacks repoReader on repo team/edges"):
        alice.inspect_pipeline("team/edges")
    with pytest.raises(PermissionDeniedError, match="lacks repoReader on repo images"):
        alice.list_commits("images")


def test_a_project_viewer_lists_that_project_only(world: World) -> None:
    bob = world.clients["bob"]
    assert _repos(bob) == {"team/a", "team/b", "team/edges"}
    assert {p.name for p in bob.list_pipelines()} == {"team/edges"}
    jobs = bob.list_jobs()
    assert jobs and {j.pipeline for j in jobs} == {"team/edges"}
    assert {j.pipeline for j in world.root.list_jobs()} == {"team/edges", "thumbs"}
    assert _commit_repos(bob) == {"team/a", "team/b"}
    assert {x.repo for x in bob.commit_set(world.put_id)} == {"team/a", "team/b"}
    with pytest.raises(PermissionDeniedError, match="lacks repoReader on repo images"):
        bob.inspect_repo("images")


def test_a_cluster_admin_sees_everything_and_no_role_sees_nothing(world: World) -> None:
    dave, carol = world.clients["dave"], world.clients["carol"]
    everything = {"team/a", "team/b", "team/edges", "images", "thumbs"}
    assert _repos(dave) == _repos(world.root) == everything
    assert {p.name for p in dave.list_pipelines()} == {"team/edges", "thumbs"}
    assert _commit_repos(dave) == _commit_repos(world.root)
    # Pachyderm answers a caller without any role with empty lists, not an error.
    assert carol.list_repos() == []
    assert carol.list_pipelines() == []
    assert carol.list_jobs() == []
    assert carol.list_commits() == []
    assert carol.commit_set(world.put_id) == []
    assert carol.wait_commit_set(world.quiet_id, timeout=30) == []
    assert [c.repo for c in world.clients["bob"].wait_commit_set(world.quiet_id)] == ["team/b"]
    # A wait that times out on a job she may not read does not name it (thumbs never runs
    # here: nothing drives its jobs).
    with pytest.raises(WaitTimeoutError) as late:
        carol.wait_commit_set(world.put_id, timeout=1)
    assert "thumbs" not in str(late.value) and "still running" in str(late.value)
    with pytest.raises(WaitTimeoutError, match="job thumbs@"):
        dave.wait_commit_set(world.put_id, timeout=1)
    assert [p.name for p in carol.list_projects()] == ["default", "team"]  # (open to all)


def test_pages_skip_what_the_caller_may_not_read_and_never_name_it(world: World) -> None:
    """A page of commits or jobs holds only visible entries; its next link continues after
    the last of them (never after a commit of a repo the caller may not read)."""
    headers = {"Authorization": f"Bearer {world.tokens['bob']}"}
    for path, key in (("/v1/commits", "repo"), ("/v1/jobs", "pipeline")):
        seen: list[str] = []
        target: str | httpx.URL = world.url + path
        params: dict[str, Any] | None = {"limit": 1}
        for _ in range(50):
            page = httpx.get(target, params=params, headers=headers, timeout=30)
            assert page.status_code == 200, page.text
            entries = page.json()
            assert len(entries) == 1, (path, entries)  # a full page, however many skipped
            seen += [e[key] for e in entries]
            link = page.links.get("next")
            if link is None:
                break
            assert "images" not in link["url"] and "thumbs" not in link["url"], link
            target, params = httpx.URL(world.url + link["url"]), None
        expected = _commit_repos(world.clients["bob"]) if key == "repo" else {"team/edges"}
        assert set(seen) == expected, path
        assert all(s.startswith("team/") for s in seen)


def test_the_cli_lists_what_the_user_may_read_with_and_without_all_projects(
    world: World, tmp_path: Path
) -> None:
    def run(user: str, *args: str) -> str:
        env = {**os.environ, "RAYPACHY_ADDRESS": world.url, "RAYPACHY_TOKEN": world.tokens[user],
               "RAYPACHY_HOME": str(tmp_path / user)}  # fmt: skip
        env.pop("RAYPACHY_PROJECT", None)
        done = subprocess.run(
            [RAYPACHY, *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    def names(user: str, noun: str, *flags: str) -> set[str]:
        out = run(user, "list", noun, "-o", "json", *flags)
        return {entry["name"] for entry in json.loads(out)}

    assert names("bob", "repo", "--project", "team") == {"team/a", "team/b", "team/edges"}
    assert names("bob", "repo") == set()  # the default project: nothing of his
    assert names("bob", "repo", "-A") == {"team/a", "team/b", "team/edges"}
    assert names("bob", "pipeline", "-A") == {"team/edges"}
    assert names("alice", "repo", "-A") == {"team/a"}
    assert names("carol", "repo", "-A") == set()
    assert names("dave", "repo", "-A") == {"team/a", "team/b", "team/edges", "images", "thumbs"}
    assert names("dave", "pipeline", "-A") == {"team/edges", "thumbs"}


def test_the_consoles_live_jobs_show_only_the_pipelines_the_user_may_read(world: World) -> None:
    def snapshot(user: str) -> set[str]:
        headers = {"Authorization": f"Bearer {world.tokens[user]}"}
        with httpx.stream("GET", world.url + "/v1/events/jobs", headers=headers) as events:
            assert events.status_code == 200
            lines = events.iter_lines()
            assert next(lines) == "event: snapshot"
            data = json.loads(next(lines).removeprefix("data: "))
        return {job["pipeline"] for job in data["jobs"]}

    assert snapshot("dave") == {"team/edges", "thumbs"}
    assert snapshot("bob") == {"team/edges"}
    assert snapshot("carol") == snapshot("alice") == set()


def test_any_user_may_use_transactions_and_lists_only_those_it_may_see(world: World) -> None:
    """As in Pachyderm, transactions need no role (each operation is checked as it is
    recorded); a listing shows those whose operations name only what the caller may see."""
    root = world.root
    erin = Client(world.url, token=root.create_token("erin")["token"], timeout=30)
    try:
        root.set_role("project", "team", "user:erin", "repoWriter")
        roots = root.start_transaction()
        root.use_transaction(roots.id)
        root.start_commit("images@master")  # recorded: names a repo erin may not see
        root.use_transaction(None)
        with erin.transaction() as txn:
            erin.start_commit("team/b@dev")
            erin.finish_commit("team/b@dev")
            with pytest.raises(PermissionDeniedError, match="lacks repoWriter on repo images"):
                erin.start_commit("images@dev")  # checked as it is recorded
            assert [t.id for t in erin.list_transactions()] == [txn.id]
            assert {t.id for t in root.list_transactions()} == {txn.id, roots.id}
            assert world.clients["carol"].list_transactions() == []
        assert erin.inspect_branch("team/b", "dev").head is not None  # applied at the end
        root.delete_transaction(roots.id)
    finally:
        erin.close()
