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
