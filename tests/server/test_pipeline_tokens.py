"""A pipeline runs as itself once auth is active: its datums hold a token of
``pipeline:<name>`` that reads the inputs and writes the output, and nothing else; never
its creator's token. Over a real served API, jobs run in this process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import raypachy
from raypachy.client import Client
from raypachy.pachd import Pachd
from raypachy.pfs import PFS
from raypachy.secrets import token_hash
from raypachy.server.app import create_app
from raypachy.server.service import LocalService
from tests.serving import serve

CLUSTER_TOKEN = "tok-cluster-5d1e0c2a"


def sneaky(datum):  # type: ignore[no-untyped-def]
    """Copies its input, and tries to write a repo it does not read nor write."""
    import os

    from raypachy.client import Client

    with Client(os.environ["PIPELINE_TEST_API"], token=os.environ["RAYPACHY_TOKEN"]) as api:
        (datum.out / "whoami").write_text(api.whoami()["principal"])
        try:
            api.put_file("secrets@master", "/planted", b"gotcha")
            outcome = "wrote it"
        except Exception as e:
            outcome = f"{type(e).__name__}: {e}"
    (datum.out / "outcome").write_text(outcome)
    for f in datum.input().rglob("*"):
        if f.is_file():
            (datum.out / f.name).write_bytes(f.read_bytes())


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Pachd, str]]:
    pfs = PFS.open(str(tmp_path / "home"))
    pachd = Pachd(pfs)
    app = create_app(LocalService(pachd), pfs.backend.uri, token_hash(CLUSTER_TOKEN))
    with serve(app) as url:
        monkeypatch.setenv("PIPELINE_TEST_API", url)
        yield pachd, url


def test_a_pipeline_reads_its_inputs_writes_its_output_and_nothing_else(
    cluster: tuple[Pachd, str],
) -> None:
    pachd, url = cluster
    clients: list[Client] = []

    def client(token: str) -> Client:
        clients.append(Client(url, token=token, timeout=30))
        return clients[-1]

    try:
        root = client(client(CLUSTER_TOKEN).auth_activate())
        root.create_repo("raw")
        root.create_repo("secrets")
        root.put_file("raw@master", "/a.txt", b"hello")
        alice = client(root.create_token("alice")["token"])
        root.set_role("project", "default", "user:alice", "projectWriter")
        root.set_role("repo", "raw", "user:alice", "repoReader")
        # Alice may write `secrets`; her pipeline must not inherit that.
        root.set_role("repo", "secrets", "user:alice", "repoWriter")
        alice.create_pipeline(
            raypachy.pipeline(sneaky, input=raypachy.pfs("raw", glob="/*"), name="sneak")
        )
        assert {"principal": "pipeline:sneak", "role": "repoReader", "kind": "repo",
                "name": "raw"} in root.get_roles("repo", "raw")  # fmt: skip
        assert {"principal": "pipeline:sneak", "role": "repoWriter", "kind": "repo",
                "name": "sneak"} in root.get_roles("repo", "sneak")  # fmt: skip
        assert not [b for b in root.get_roles("repo", "secrets") if "pipeline" in b["principal"]]

        [job] = pachd.run_jobs()
        assert job.state == "success", job
        assert alice.get_file("sneak@master", "/a.txt") == b"hello"  # its output works
        assert alice.get_file("sneak@master", "/whoami") == b"pipeline:sneak"
        outcome = alice.get_file("sneak@master", "/outcome").decode()
        # Refused with one line naming the role missing (a 403 over HTTP).
        assert outcome == "PermissionDeniedError: pipeline:sneak lacks repoWriter on repo secrets"
        assert root.list_commits("secrets") == []  # nothing was written there

        # Deleting the pipeline takes its identity away.
        alice.delete_pipeline("sneak")
        assert not [b for b in root.get_roles("repo", "raw") if "pipeline" in b["principal"]]
    finally:
        for c in clients:
            c.close()


def test_before_auth_is_active_a_job_gets_no_token(cluster: tuple[Pachd, str]) -> None:
    pachd, _ = cluster
    pachd.create_repo("raw")
    pachd.put_pipeline(
        raypachy.pipeline(lambda d: None, input=raypachy.pfs("raw", glob="/*"), name="p")
    )
    pachd.put_file("raw@master", "/a", b"a")
    claim = pachd.claim_job("p")
    assert claim is not None and not claim.token
    assert "JobToken()" in repr(claim)


def whose(datum):  # type: ignore[no-untyped-def]
    """Reads its input through the API with the token its job was given, and says whose."""
    import os

    from raypachy.client import Client

    with Client(os.environ["PIPELINE_TEST_API"], token=os.environ["RAYPACHY_TOKEN"]) as api:
        for f in datum.input().rglob("*"):
            (datum.out / f.name).write_bytes(api.get_file("raw@master", f"/{f.name}"))
            if f.name == "b":  # after auth was activated
                (datum.out / "who").write_text(api.whoami()["principal"])


def test_before_auth_a_job_gets_the_control_planes_cluster_token(
    cluster: tuple[Pachd, str],
) -> None:
    """A control plane holding the cluster's token (the metadata actor on a cluster) hands it
    to jobs and to spouts and services while auth is not active, so that worker nodes need
    no token of their own; once active, each gets its pipeline's token instead."""
    from raypachy.pps.model import JobToken

    pachd, url = cluster
    pachd.cluster_token = JobToken(CLUSTER_TOKEN)
    pachd.create_repo("raw")
    pachd.put_pipeline(raypachy.pipeline(whose, input=raypachy.pfs("raw", glob="/*"), name="w"))
    assert pachd.pipeline_token("w") == CLUSTER_TOKEN
    pachd.put_file("raw@master", "/a", b"alpha")
    [job] = pachd.run_jobs()
    assert job.state == "success", job.reason
    assert pachd.get_file("w@master", "/a") == b"alpha"

    with Client(url, token=CLUSTER_TOKEN, timeout=30) as api:
        api.auth_activate()
    token = pachd.pipeline_token("w")
    assert token is not None and token != CLUSTER_TOKEN
    pachd.put_file("raw@master", "/b", b"beta")
    [job] = pachd.run_jobs()
    assert job.state == "success", job.reason
    assert pachd.get_file("w@master", "/who") == b"pipeline:w"
