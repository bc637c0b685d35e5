"""fsck finds every broken invariant it claims to check, repairs only what is safe."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from fastapi.testclient import TestClient

from raypachy.client import Client
from raypachy.pachd import Pachd
from raypachy.pfs import PFS
from raypachy.pfs.metadata import CommitId, as_job_id
from raypachy.pfs.model import CommitRef
from raypachy.server.app import create_app
from raypachy.server.service import LocalService
from raypachy.storage.chunkstore import CHUNK_PREFIX, chunk_id_from_key
from raypachy.storage.manifest import MANIFEST_PREFIX
from tests.pps.conftest import Local


def _kinds(report) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(p.kind for p in report.problems)


def _store(home: Path, prefix: str) -> list[Path]:
    return sorted(p for p in (home / "storage" / prefix).rglob("*") if p.is_file())


def test_a_healthy_installation_is_ok(pfs: PFS) -> None:
    pfs.create_repo("r")
    pfs.put_file("r@master", "/a", os.urandom(3 << 20))
    pfs.put_file("r@master", "/b", b"small")
    pfs.start_commit("r@master")  # an open commit is legal
    report = pfs.fsck(deep=True)
    assert report.ok and report.problems == ()
    assert report.commits == 3 and report.chunks >= 2 and report.manifests >= 2


def test_missing_and_corrupted_chunks_are_reported_not_deleted(tmp_path: Path) -> None:
    home = tmp_path / "home"
    pfs = PFS.open(str(home))
    pfs.create_repo("r")
    pfs.put_file("r@master", "/big", os.urandom(4 << 20))
    chunk_files = _store(home, CHUNK_PREFIX)
    assert len(chunk_files) >= 2
    missing, corrupted = chunk_files[0], chunk_files[1]
    missing.unlink()
    corrupted.write_bytes(corrupted.read_bytes()[:1] + b"\0" * 64)
    fresh = PFS.open(str(home))  # no cached chunk hides the damage
    shallow = fresh.fsck()
    assert not shallow.ok and _kinds(shallow) == ["chunk"]
    assert (
        shallow.problems[0].subject
        == chunk_id_from_key(str(missing.relative_to(home / "storage"))).hex()
    )  # type: ignore[union-attr]
    deep = fresh.fsck(deep=True, fix=True)
    assert _kinds(deep) == ["chunk", "chunk"] and not deep.ok  # data damage is never "fixed"
    assert corrupted.exists()


def test_a_missing_manifest_names_the_commit_it_breaks(tmp_path: Path) -> None:
    home = tmp_path / "home"
    pfs = PFS.open(str(home))
    pfs.create_repo("r")
    commit = pfs.put_file("r@master", "/a", b"a")
    for path in _store(home, MANIFEST_PREFIX):
        path.unlink()
    report = PFS.open(str(home)).fsck()
    assert "commit" in _kinds(report) and "manifest" in _kinds(report)
    assert any(p.subject == f"r@{commit.id}" for p in report.problems)


def test_dangling_head_parent_and_provenance_are_fixed(pfs: PFS) -> None:
    pfs.create_repo("r")
    pfs.create_repo("s")
    first = pfs.put_file("r@master", "/a", b"1")
    second = pfs.put_file("r@master", "/a", b"2")
    derived = pfs.put_file("s@master", "/x", b"x")
    with pfs.meta.write() as tx:  # what a crash between two writes could leave behind
        tx.move_branch("r", "master", CommitId("gone"), second.id)
        tx.set_parent("r", second.id, CommitId("lost"))
        rec = tx.commit("s", derived.id)
        assert rec is not None
        tx.delete_commit("s", rec.id)  # written again, computed from a commit that is gone
        tx.insert_commit(replace(rec, provenance=(CommitRef("r", "nope"),)))
    report = pfs.fsck()
    assert _kinds(report) == ["branch", "parent", "provenance"] and not report.ok
    fixed = pfs.fsck(fix=True)
    assert fixed.ok and all(p.fixed for p in fixed.problems)
    assert pfs.fsck().problems == ()
    assert pfs.inspect_branch("r", "master").head == second.id  # newest finished commit
    assert pfs.inspect_commit(f"r@{second.id}").parent is None
    assert pfs.inspect_commit(f"s@{derived.id}").provenance == ()
    assert pfs.get_file(f"r@{first.id}", "/a") == b"1"


def test_an_ended_job_with_an_open_output_commit_is_closed(tmp_path: Path) -> None:
    local = Local(tmp_path / "home")
    local.pfs.create_repo("nums")
    local.create(
        {
            "pipeline": {"name": "copy"},
            "input": {"pfs": {"repo": "nums", "glob": "/*"}},
            "transform": {"cmd": ["true"]},
        }
    )
    job_id = local.put("nums", {"/a": b"1"})
    claim = local.pps.claim_job("copy")
    assert claim is not None
    with local.pfs.meta.write() as tx:  # the job row says it ended, its commit never closed
        job = tx.job("copy", as_job_id(job_id))
        assert job is not None
        tx.update_job(replace(job, state="killed"))
    report = local.pachd.fsck()
    assert [p.kind for p in report.problems] == ["job"] and not report.ok
    assert local.pachd.fsck(fix=True).ok
    out = local.pfs.inspect_commit(f"copy@{job_id}")
    assert out.finished is not None and out.error
    assert local.pachd.fsck().problems == ()
    assert CommitRef("nums", job_id) in out.provenance


def test_fsck_over_the_api_and_client(tmp_path: Path) -> None:
    pfs = PFS.open(str(tmp_path / "home"))
    api = TestClient(create_app(LocalService(Pachd(pfs)), pfs.backend.uri),
                     base_url="http://127.0.0.1")  # fmt: skip
    client = Client("http://testserver")
    client._transport.http = api
    client.create_repo("r")
    client.put_file("r@master", "/a", b"a")
    report = client.fsck(deep=True)
    assert report.ok and report.commits == 1
    head = pfs.inspect_branch("r", "master").head
    with pfs.meta.write() as tx:
        tx.move_branch("r", "master", "gone", head)
    assert [p.kind for p in client.fsck().problems] == ["branch"]
    assert client.fsck(fix=True).problems[0].fixed
    assert api.post("/v1/fsck", json={"fix": "maybe"}).status_code == 400  # validation error
