"""Incremental jobs, rule by rule, run in-process by the same job runner the cluster uses."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pytest

import raypachy
from raypachy.errors import InvalidSpecError, PipelineExistsError, RepoNotFoundError
from raypachy.pfs.metadata import as_job_id
from raypachy.pfs.model import CommitRef
from raypachy.pps import queries
from raypachy.pps.jobrun import run_job
from tests.pps.conftest import Local, by_name, needs_sandbox


@raypachy.pipeline(input=raypachy.pfs("nums", glob="/*"))
def double(datum):  # type: ignore[no-untyped-def]
    """Double every number."""
    for f in sorted(datum.input().rglob("*")):
        if f.is_file():
            (datum.out / f.name).write_text(str(2 * int(f.read_text())))
            print("doubled", f.name)


@raypachy.pipeline(input=raypachy.pfs("double", glob="/"), name="total")
def total(datum):  # type: ignore[no-untyped-def]
    values = [int(f.read_text()) for f in datum.input().rglob("*") if f.is_file()]
    (datum.out / "sum").write_text(str(sum(values)))


def test_first_job_processes_every_datum(local: Local) -> None:
    local.pfs.create_repo("nums")
    local.put("nums", {f"/n{i}": str(i).encode() for i in range(4)})
    local.create(double)
    [job] = local.run()
    assert job.state == "success" and job.datums.processed == 4 and job.datums.skipped == 0
    assert local.files("double") == {f"/n{i}": str(2 * i).encode() for i in range(4)}


def test_new_data_reruns_only_new_datums_and_carries_the_rest(local: Local) -> None:
    local.pfs.create_repo("nums")
    local.put("nums", {"/a": b"1", "/b": b"2"})
    local.create(double)
    local.run()
    commit_id = local.put("nums", {"/c": b"3"})
    [job] = local.run()
    assert job.id == commit_id  # the job carries the global id of the change
    assert (job.datums.total, job.datums.processed, job.datums.skipped) == (3, 1, 2)
    assert local.files("double") == {"/a": b"2", "/b": b"4", "/c": b"6"}


def test_changed_input_reprocesses_that_datum(local: Local) -> None:
    local.pfs.create_repo("nums")
    local.put("nums", {"/a": b"1", "/b": b"2"})
    local.create(double)
    local.run()
    local.put("nums", {"/a": b"10"})
    [job] = local.run()
    assert (job.datums.processed, job.datums.skipped) == (1, 1)
    assert local.files("double") == {"/a": b"20", "/b": b"4"}


def test_vanished_datum_has_its_outputs_deleted(local: Local) -> None:
    local.pfs.create_repo("nums")
    local.put("nums", {"/a": b"1", "/b": b"2"})
    local.create(double)
    local.run()
    local.put("nums", {}, delete=["/a"])
    [job] = local.run()
    assert job.state == "success" and job.datums.total == 1
    assert local.files("double") == {"/b": b"4"}


def test_two_datums_writing_one_path_fail_the_job_naming_both(local: Local) -> None:
    @raypachy.pipeline(input=raypachy.pfs("nums", glob="/*"), name="clash")
    def clash(datum):  # type: ignore[no-untyped-def]
        (datum.out / "same.txt").write_text(datum.datum_id)

    local.pfs.create_repo("nums")
    local.put("nums", {"/a": b"1", "/b": b"2"})
    local.create(clash)
    [job] = local.run()
    datums = queries.list_datums(local.pps, "clash", job.id)
    assert job.state == "failure"
    assert "/same.txt" in job.reason and all(d.id in job.reason for d in datums)
    assert local.files("clash") == {}  # no silent merge: neither output is kept
    assert local.pfs.inspect_commit(f"clash@{job.id}").error


def test_update_without_reprocess_keeps_outputs_and_says_so(local: Local) -> None:
    local.pfs.create_repo("nums")
    local.put("nums", {"/a": b"1"})
    local.create(double)
    local.run()

    @raypachy.pipeline(input=raypachy.pfs("nums", glob="/*"), name="double")
    def triple(datum):  # type: ignore[no-untyped-def]
        for f in datum.input().rglob("*"):
            if f.is_file():
                (datum.out / f.name).write_text(str(3 * int(f.read_text())))

    note = local.create(triple, update=True)
    assert "keep their outputs" in note and "--reprocess" in note
    [job] = local.run()
    assert (job.datums.processed, job.datums.skipped) == (0, 1)
    assert local.files("double") == {"/a": b"2"}  # as in Pachyderm: old outputs stay
    local.put("nums", {"/b": b"5"})
    local.run()
    assert local.files("double") == {"/a": b"2", "/b": b"15"}  # new data: new code
    note = local.create(triple, update=True, reprocess=True)
    assert "processed again" in note
    [job] = local.run()
    assert (job.datums.processed, job.datums.skipped) == (2, 0)
    assert local.files("double") == {"/a": b"3", "/b": b"15"}


def test_retries_then_failure_with_traceback_in_logs(local: Local) -> None:
    @raypachy.pipeline(input=raypachy.pfs("nums", glob="/*"), name="flaky", datum_tries=2)
    def flaky(datum):  # type: ignore[no-untyped-def]
        print("about to fail")
        raise ValueError("bad number in " + datum.datum_id)

    local.pfs.create_repo("nums")
    local.put("nums", {"/a": b"1"})
    local.create(flaky)
    [job] = local.run()
    [datum] = queries.list_datums(local.pps, "flaky", job.id)
    assert job.state == "failure" and job.datums.failed == 1
    assert datum.attempts == 2 and "ValueError: bad number" in datum.error
    [log] = queries.read_logs(local.pps, "flaky", job.id)
    assert "about to fail" in log["log"] and "Traceback" in log["log"]
    assert "raise ValueError" in log["log"]


def test_a_retry_that_succeeds(local: Local, tmp_path) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "tried"

    @raypachy.pipeline(input=raypachy.pfs("nums", glob="/*"), name="second_time", datum_tries=3)
    def second_time(datum):  # type: ignore[no-untyped-def]
        if not marker.exists():
            marker.write_text("1")
            raise RuntimeError("first try fails")
        (datum.out / "ok").write_text("ok")

    local.pfs.create_repo("nums")
    local.put("nums", {"/a": b"1"})
    local.create(second_time)
    [job] = local.run()
    [datum] = queries.list_datums(local.pps, "second_time", job.id)
    assert (
        job.state == "success"
        and datum.attempts == 2
        and local.files("second_time") == {"/ok": b"ok"}
    )


def test_python_datum_timeout(local: Local) -> None:
    @raypachy.pipeline(input=raypachy.pfs("nums", glob="/*"), name="slow", datum_timeout="1s",
                       datum_tries=1)  # fmt: skip
    def slow(datum):  # type: ignore[no-untyped-def]
        time.sleep(30)

    local.pfs.create_repo("nums")
    local.put("nums", {"/a": b"1"})
    local.create(slow)
    started = time.monotonic()
    [job] = local.run()
    assert time.monotonic() - started < 20
    [datum] = queries.list_datums(local.pps, "slow", job.id)
    assert job.state == "failure" and "timed out after 1s" in datum.error


def test_unrunnable_downstream_and_recovery(local: Local) -> None:
    @raypachy.pipeline(input=raypachy.pfs("nums", glob="/*"), name="double", datum_tries=1)
    def picky(datum):  # type: ignore[no-untyped-def]
        for f in datum.input().rglob("*"):
            if f.is_file():
                if f.read_text() == "bad":
                    raise ValueError("bad input")
                (datum.out / f.name).write_text(f.read_text())

    local.pfs.create_repo("nums")
    local.put("nums", {"/a": b"1"})
    local.create(picky)
    local.create(total)
    assert {j.pipeline: j.state for j in local.run()} == {"double": "success", "total": "success"}
    bad = local.put("nums", {"/b": b"bad"})
    jobs = by_name(local.run())
    downstream = local.pps.inspect_job("total", bad)  # finished at claim: it never ran
    assert jobs["double"].state == "failure" and downstream.state == "unrunnable"
    assert jobs["double"].id == bad
    assert "failed upstream" in downstream.reason
    assert local.pfs.inspect_commit(f"total@{bad}").error
    local.put("nums", {"/b": b"2"})  # fixing the data heals the DAG
    jobs = by_name(local.run())
    assert jobs["double"].state == jobs["total"].state == "success"
    assert local.files("total") == {"/sum": b"3"}


def test_chained_pipelines_share_global_ids_and_record_provenance(local: Local) -> None:
    local.pfs.create_repo("nums")
    local.put("nums", {"/a": b"1"})
    local.create(double)
    local.create(total)
    local.run()
    commit_id = local.put("nums", {"/b": b"2"})
    jobs = by_name(local.run())
    assert jobs["double"].id == jobs["total"].id == commit_id
    out = local.pfs.inspect_commit(f"total@{commit_id}")
    assert out.provenance == (CommitRef("double", commit_id),)
    assert local.pfs.inspect_commit(f"double@{commit_id}").provenance == (
        CommitRef("nums", commit_id),
    )
    assert {c.repo for c in local.pfs.commit_set(commit_id)} == {"nums", "double", "total"}
    assert local.files("total") == {"/sum": b"6"}
    tree = queries.lineage(local.pps, "total@master:/sum")["upstream"]
    assert tree["pipeline"]["name"] == "total"
    assert tree["inputs"][0]["pipeline"]["name"] == "double"
    down = queries.lineage(local.pps, f"nums@{commit_id}")["downstream"]
    assert down[0]["repo"] == "double" and down[0]["downstream"][0]["repo"] == "total"


def test_file_lineage_reaches_the_raw_file_and_code_version(local: Local) -> None:
    local.pfs.create_repo("nums")
    local.put("nums", {"/a": b"1", "/b": b"2"})
    local.create(double)
    [job] = local.run()
    up = queries.lineage(local.pps, "double@master:/b")["upstream"]
    assert up["pipeline"]["version"] == local.pps.inspect_pipeline("double").version
    assert up["pipeline"]["code"].endswith(":double")
    assert up["inputs"] == [{"repo": "nums", "id": job.inputs[0].id, "path": "/b", "origin": "user",
                             "glob_match": "/b"}]  # fmt: skip


@needs_sandbox
def test_command_transform_sees_pfs_and_env(local: Local) -> None:
    spec = {
        "pipeline": {"name": "shell"},
        "input": {"pfs": {"repo": "nums", "glob": "/*"}},
        "transform": {
            "cmd": ["sh"],
            "stdin": ['cat /pfs/nums/* > /pfs/out/$(basename "$nums")',
                      'echo "$PACH_JOB_ID $PACH_DATUM_ID" > /pfs/out/$(basename "$nums").env',
                      "ls /pfs"],
        },
    }  # fmt: skip
    local.pfs.create_repo("nums")
    local.put("nums", {"/a": b"1"})
    local.create(spec)
    [job] = local.run()
    [datum] = queries.list_datums(local.pps, "shell", job.id)
    files = local.files("shell")
    assert files["/a"] == b"1"
    assert files["/a.env"].decode().split() == [job.id, datum.id]
    assert "nums" in queries.read_logs(local.pps, "shell", job.id)[0]["log"]


@needs_sandbox
def test_accept_return_code_and_err_cmd_recovery(local: Local) -> None:
    spec = {
        "pipeline": {"name": "codes"},
        "input": {"pfs": {"repo": "nums", "glob": "/*"}},
        "transform": {
            "cmd": ["sh", "-c",
                    'v=$(cat /pfs/nums/*); [ "$v" = 1 ] && exit 4; [ "$v" = 2 ] && exit 9; exit 0'],
            "accept_return_code": [4],
            "err_cmd": ["true"],
        },
        "datum_tries": 1,
    }  # fmt: skip
    local.pfs.create_repo("nums")
    local.put("nums", {"/a": b"1", "/b": b"2", "/c": b"3"})
    local.create(spec)
    [job] = local.run()
    states = sorted(d.state for d in queries.list_datums(local.pps, "codes", job.id))
    assert job.state == "success"  # a recovered datum does not fail the job
    assert states == ["recovered", "success", "success"]
    assert (job.datums.processed, job.datums.recovered) == (2, 1)


@needs_sandbox
def test_command_timeout(local: Local) -> None:
    spec = {
        "pipeline": {"name": "sleepy"},
        "input": {"pfs": {"repo": "nums", "glob": "/*"}},
        "transform": {"cmd": ["sleep", "30"]},
        "datum_timeout": "1s",
        "datum_tries": 1,
    }
    local.pfs.create_repo("nums")
    local.put("nums", {"/a": b"1"})
    local.create(spec)
    [job] = local.run()
    [datum] = queries.list_datums(local.pps, "sleepy", job.id)
    assert job.state == "failure" and "timed out" in datum.error


def test_job_timeout(local: Local) -> None:
    @raypachy.pipeline(input=raypachy.pfs("nums", glob="/*"), name="long", job_timeout="1s",
                       datum_set_number=1)  # fmt: skip
    def long(datum):  # type: ignore[no-untyped-def]
        time.sleep(0.6)

    local.pfs.create_repo("nums")
    local.put("nums", {f"/{i}": b"1" for i in range(6)})
    local.create(long)
    [job] = local.run(parallelism=1)
    assert job.state == "failure" and "job timed out" in job.reason


def test_every_job_reprocess_spec(local: Local) -> None:
    every = double.options(name="every", reprocess_spec="every_job")
    local.pfs.create_repo("nums")
    local.put("nums", {"/a": b"1"})
    local.create(every)
    local.run()
    local.put("nums", {"/b": b"2"})
    [job] = local.run()
    assert (job.datums.processed, job.datums.skipped) == (2, 0)


def test_bad_pipelines_create_nothing(local: Local) -> None:
    local.pfs.create_repo("nums")
    with pytest.raises(RepoNotFoundError, match="input repo missing"):
        local.create(double.options(input=raypachy.pfs("missing")))
    local.create(double)
    with pytest.raises(PipelineExistsError):
        local.create(double)
    cyc = {"pipeline": {"name": "nums2"}, "input": {"pfs": {"repo": "double"}},
           "transform": {"cmd": ["true"]}}  # fmt: skip
    local.create(cyc)
    loop = {"pipeline": {"name": "double"}, "input": {"pfs": {"repo": "nums2"}},
            "transform": {"cmd": ["true"]}}  # fmt: skip
    with pytest.raises(InvalidSpecError, match="cycle"):
        local.create(loop, update=True)
    assert sorted(p.name for p in local.pps.list_pipelines()) == ["double", "nums2"]
    assert sorted(r.name for r in local.pfs.list_repos()) == ["double", "nums", "nums2"]


def test_preview_datums_runs_nothing(local: Local) -> None:
    local.pfs.create_repo("nums")
    local.put("nums", {"/a": b"1", "/b": b"2"})
    spec = double.build("0" * 64).to_json()
    preview = queries.preview_datums(local.pps, spec)
    assert [d["inputs"][0]["path"] for d in preview] == ["/a", "/b"]
    assert local.pps.list_pipelines() == [] and local.pps.list_jobs() == []
    assert json.dumps(preview)


def test_a_job_reading_two_branches_of_one_dag_waits_for_both(local: Local) -> None:
    """features -> model, and predict reads both: predict must use the new model."""

    @raypachy.pipeline(input=raypachy.pfs("double", glob="/"), name="model")
    def model(datum):  # type: ignore[no-untyped-def]
        values = [int(f.read_text()) for f in datum.input().rglob("*") if f.is_file()]
        (datum.out / "max").write_text(str(max(values)))

    @raypachy.pipeline(
        input=raypachy.cross(raypachy.pfs("double", glob="/*"), raypachy.pfs("model", glob="/")),
        name="scaled",
    )
    def scaled(datum):  # type: ignore[no-untyped-def]
        top = int((datum.inputs["model"] / "max").read_text())
        for f in datum.inputs["double"].rglob("*"):
            if f.is_file():
                (datum.out / f.name).write_text(f"{int(f.read_text())}/{top}")

    local.pfs.create_repo("nums")
    local.put("nums", {"/a": b"1"})
    local.create(double)
    local.create(model)
    local.create(scaled)
    local.run()
    assert local.files("scaled") == {"/a": b"2/2"}
    change = local.put("nums", {"/b": b"5"})
    jobs = by_name(local.run())
    assert jobs["scaled"].id == change
    assert local.files("scaled") == {"/a": b"2/10", "/b": b"10/10"}  # never the stale model
    provenance = local.pfs.inspect_commit(f"scaled@{change}").provenance
    assert set(provenance) == {CommitRef("double", change), CommitRef("model", change)}


class _CrashAfter:
    """An executor whose process "dies" after ``n`` batches (the controller crashing)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def run(self, spec, batches, parallelism):  # type: ignore[no-untyped-def]
        from raypachy.pps.worker import run_batch

        for batch in batches[: self.n]:
            yield run_batch(batch)
        raise SystemExit("controller killed")

    def cancel(self) -> None:
        pass


def test_an_interrupted_job_resumes_without_redoing_finished_batches(
    local: Local, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    ran = tmp_path / "ran"
    ran.mkdir()

    @raypachy.pipeline(input=raypachy.pfs("nums", glob="/*"), name="counted")
    def counted(datum):  # type: ignore[no-untyped-def]
        for f in datum.input().iterdir():
            (ran / f"{f.name}.{len(list(ran.iterdir()))}").write_text("")
            (datum.out / f.name).write_text(str(3 * int(f.read_text())))

    local.pfs.create_repo("nums")
    local.put("nums", {f"/n{i}": str(i).encode() for i in range(8)})
    local.create(counted)
    claim = local.pps.claim_job("counted")
    assert claim is not None
    with pytest.raises(SystemExit):
        run_job(claim, local.pps, local.pfs.manifests, local.pfs.backend.uri, _CrashAfter(2), 1)
    first_pass = {p.name.split(".")[0] for p in ran.iterdir()}
    assert 0 < len(first_pass) < 8
    [running] = local.pps.list_jobs("counted")
    assert running.state == "running"
    local.pachd.gc()  # the finished batches survive a gc while the job waits to resume
    assert local.pachd.fsck(deep=True).ok
    again = local.pps.claim_job("counted")
    assert again is not None and again.job == running.id and again.resumed
    [job] = local.run()  # the restarted controller claims the same job
    assert job.id == running.id and job.state == "success"
    assert job.datums.processed == 8
    names = [p.name.split(".")[0] for p in ran.iterdir()]
    assert sorted(names) == sorted(f"n{i}" for i in range(8))  # each datum ran exactly once
    assert local.files("counted") == {f"/n{i}": str(3 * i).encode() for i in range(8)}
    with local.pfs.meta.read() as tx:
        assert tx.checkpoints("counted", as_job_id(job.id)) == []  # dropped with the job's end


def test_worker_credentials_never_reach_logs_or_errors(
    local: Local, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)

    @raypachy.pipeline(input=raypachy.pfs("nums", glob="/*"), name="leaky", datum_tries=1)
    def leaky(datum):  # type: ignore[no-untyped-def]
        import os

        print("my key is", os.environ["AWS_SECRET_ACCESS_KEY"])
        raise RuntimeError("failed with " + os.environ["AWS_SECRET_ACCESS_KEY"])

    local.pfs.create_repo("nums")
    local.put("nums", {"/a": b"1"})
    local.create(leaky)
    [job] = local.run()
    [datum] = queries.list_datums(local.pps, "leaky", job.id)
    [log] = queries.read_logs(local.pps, "leaky", job.id)
    shown = [job.reason, datum.error, log["log"]]
    assert all(secret not in text for text in shown), shown
    assert "my key is ***" in log["log"] and "failed with ***" in datum.error


@needs_sandbox
def test_command_sees_secrets_as_env_and_files(local: Local, tmp_path: Path) -> None:
    value = "s3cret-" + uuid.uuid4().hex[:8]
    assert local.pps.secrets is not None
    local.pps.secrets.create({"metadata": {"name": "creds"},
                              "stringData": {"token": value, "user": "bob"}})  # fmt: skip
    mount = str(tmp_path / "mnt" / "creds")
    spec = {
        "pipeline": {"name": "secretive"},
        "input": {"pfs": {"repo": "nums", "glob": "/*"}},
        "transform": {
            "cmd": ["sh"],
            "stdin": [f'cat {mount}/user > /pfs/out/user; printf %s "$TOKEN" > /pfs/out/env',
                      f"cat {mount}/token | wc -c > /pfs/out/n; ls -l {mount}; echo {value}",
                      f"echo x > {mount}/written || echo read-only"],
            "secrets": [{"name": "creds", "key": "token", "env_var": "TOKEN"},
                        {"name": "creds", "mount_path": mount}],
        },
    }  # fmt: skip
    local.pfs.create_repo("nums")
    local.put("nums", {"/a": b"1"})
    local.create(spec)
    [job] = local.run()
    assert job.state == "success", job.reason
    files = local.files("secretive")
    assert files["/user"] == b"bob" and files["/env"] == value.encode()
    assert files["/n"].strip() == str(len(value)).encode()
    log = queries.read_logs(local.pps, "secretive", job.id)[0]["log"]
    assert value not in log and "***" in log and "read-only" in log
    assert "-rw-------" in log  # the files are their owner's only
    assert not os.listdir(mount)  # the bind was private to the datum: nothing left on the node


class _CountingHost:
    """The PPS a controller talks to, counting the metadata writes of each call, and
    passing its writer lease on as the cluster's controller does."""

    def __init__(self, local: Local, lease: str) -> None:
        self.local, self.lease = local, lease
        self.writes: dict[str, int] = {}
        self.calls: list[str] = []

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        verb = getattr(self.local.pps, name)
        meta = self.local.pfs.meta

        def call(*args, **kwargs):  # type: ignore[no-untyped-def]
            if name in ("checkpoint_batch", "finish_job"):
                kwargs["lease_id"] = self.lease
            self.calls.append(name)
            before = meta.change_version()
            try:
                return verb(*args, **kwargs)
            finally:
                self.writes[name] = self.writes.get(name, 0) + meta.change_version() - before

        return call


def test_a_one_datum_job_writes_the_metadata_four_times(local: Local) -> None:
    """Each metadata write is a synced transaction on the path from input commit to output
    commit: the claim (opening the output commit), running (with its counts), finishing, and
    the output layer staged in the very transaction that finishes the job and its output
    commit (a job's only batch needs no checkpoint: its results go straight there)."""
    from raypachy.pps.jobrun import SerialExecutor

    local.pfs.create_repo("nums")
    local.put("nums", {"/n1": b"1"})
    local.create(double)
    before = local.pfs.meta.change_version()
    claim = local.pps.claim_job("double")
    assert claim is not None and not claim.resumed
    assert local.pfs.meta.change_version() == before + 1  # claimed and output opened at once
    assert local.pfs.inspect_commit(f"double@{claim.output_commit}").finished is None
    host = _CountingHost(local, local.pfs.leases.acquire())  # the controller's job lease
    job = run_job(claim, host, local.pfs.manifests, local.pfs.backend.uri, SerialExecutor(), 1)
    assert job.state == "success" and job.datums.processed == 1
    assert {k: v for k, v in host.writes.items() if v} == {
        "update_job": 2, "finish_job": 1
    }  # fmt: skip
    assert "checkpoints" not in host.calls  # claimed for the first time: it has none
    assert local.files("double") == {"/n1": b"2"}
    [info] = local.pps.list_jobs("double")
    assert info.state == "success" and info.datums.processed == 1
