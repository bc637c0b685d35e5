"""What a datum leaves in /pfs/out: links resolved inside the datum's view, bad outputs fail
only their own datum, and input names cannot lead the worker out of its scratch tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import raypachy
from raypachy.errors import InvalidSpecError
from raypachy.pps.spec import parse_spec
from tests.pps.conftest import Local, needs_sandbox

ONE_BATCH = {"datum_tries": 1, "datum_set_number": 10}  # both datums share one batch


@pytest.fixture
def inst(tmp_path: Path) -> Local:
    """A whole installation in this process, jobs run batch by batch (no Ray)."""
    return Local(tmp_path / "home")


def _datum_errors(inst: Local, pipeline: str) -> list[str]:
    from raypachy.pps import queries

    return [d.error for d in queries.list_datums(inst.pps, pipeline, None) if d.error]


@raypachy.pipeline(input=raypachy.pfs("in", glob="/*"), name="names", **ONE_BATCH)
def non_utf8_name(datum):  # type: ignore[no-untyped-def]
    for f in datum.input().rglob("*"):
        if f.is_file():
            name = (b"\xff" if f.name == "a.txt" else b"") + os.fsencode(f.name)
            with open(os.path.join(os.fsencode(datum.out), name), "wb") as out:
                out.write(b"x")


def test_a_non_utf8_output_name_fails_only_its_datum(inst: Local) -> None:
    inst.pfs.create_repo("in")
    inst.put("in", {"/a.txt": b"hello\n", "/b.txt": b"world\n"})
    inst.create(non_utf8_name)
    [job] = inst.run()
    assert (job.datums.processed, job.datums.failed) == (1, 1), job
    assert inst.files("names") == {"/b.txt": b"x"}
    [error] = _datum_errors(inst, "names")
    assert "bad output" in error and "not UTF-8" in error and "\\xffa.txt" in error


@raypachy.pipeline(input=raypachy.pfs("in", glob="/*"), name="passthrough", **ONE_BATCH)
def passthrough(datum):  # type: ignore[no-untyped-def]
    for f in datum.input().rglob("*"):
        if f.is_file():
            os.symlink(f, datum.out / f.name)  # the input file's real path in the scratch tree
            os.symlink(f.name, datum.out / f"{f.name}.again")  # relative, inside /pfs/out


def test_links_to_the_datums_own_files_store_their_content(inst: Local) -> None:
    inst.pfs.create_repo("in")
    inst.put("in", {"/a.txt": b"hello\n", "/b.txt": b"world\n"})
    inst.create(passthrough)
    [job] = inst.run()
    assert job.state == "success", job.reason
    assert inst.files("passthrough") == {
        "/a.txt": b"hello\n", "/a.txt.again": b"hello\n",
        "/b.txt": b"world\n", "/b.txt.again": b"world\n",
    }  # fmt: skip


def test_a_link_leaving_the_datum_fails_only_that_datum(inst: Local, tmp_path: Path) -> None:
    host_file = tmp_path / "hostname"
    host_file.write_text("worker-host-only\n")

    @raypachy.pipeline(input=raypachy.pfs("in", glob="/*"), name="links", **ONE_BATCH)
    def link(datum):  # type: ignore[no-untyped-def]
        for f in datum.input().rglob("*"):
            if f.name == "a.txt":
                os.symlink(host_file, datum.out / "host.txt")
            elif f.is_file():
                (datum.out / f.name).write_bytes(f.read_bytes())

    inst.pfs.create_repo("in")
    inst.put("in", {"/a.txt": b"hello\n", "/b.txt": b"world\n"})
    inst.create(link)
    [job] = inst.run()
    assert (job.datums.processed, job.datums.failed) == (1, 1), job
    assert inst.files("links") == {"/b.txt": b"world\n"}  # the host file was never stored
    [error] = _datum_errors(inst, "links")
    assert "/pfs/out/host.txt is a symlink to" in error and "outside the datum's /pfs" in error


@needs_sandbox
def test_the_pachyderm_passthrough_idiom_works_in_a_command(inst: Local) -> None:
    spec = {"pipeline": {"name": "copy"}, "datum_tries": 1, "datum_set_spec": {"number": 10},
            "input": {"pfs": {"repo": "in", "glob": "/*"}},
            "transform": {"cmd": ["sh", "-c", 'ln -s "$in" /pfs/out/ && mkdir /pfs/out/d && '
                                              'ln -s /pfs/in /pfs/out/d/tree && '
                                              'ln -s /etc/hostname /pfs/out/x 2>/dev/null; '
                                              'case "$in" in *b.txt) rm /pfs/out/x ;; esac']}}  # fmt: skip
    inst.pfs.create_repo("in")
    inst.put("in", {"/a.txt": b"hello\n", "/b.txt": b"world\n"})
    inst.create(spec)
    [job] = inst.run()
    # a.txt's datum linked a host file: it alone fails; b.txt's links stay inside /pfs.
    assert (job.datums.processed, job.datums.failed) == (1, 1), job
    assert inst.files("copy") == {"/b.txt": b"world\n", "/d/tree/b.txt": b"world\n"}
    [error] = _datum_errors(inst, "copy")
    assert "/pfs/out/x is a symlink to /etc/hostname, outside the datum's /pfs" in error


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("/tmp/escaped", "invalid input name '/tmp/escaped'"),
        ("../up", "invalid input name '../up'"),
        ("out", "/pfs/out is the output directory"),
        ("a b", "invalid input name 'a b'"),
    ],
)
def test_input_names_are_checked_when_the_spec_is_parsed(name: str, message: str) -> None:
    spec = {"pipeline": {"name": "p"}, "transform": {"cmd": ["true"]},
            "input": {"pfs": {"repo": "r", "glob": "/*", "name": name}}}  # fmt: skip
    with pytest.raises(InvalidSpecError, match="pipeline p: ") as e:
        parse_spec(spec)
    assert message in str(e.value)
    out_repo = {**spec, "input": {"pfs": {"repo": "out", "glob": "/*"}}}  # named after its repo
    with pytest.raises(InvalidSpecError, match="/pfs/out is the output directory"):
        parse_spec(out_repo)


def test_a_decorated_pipeline_with_an_escaping_input_name_is_refused(
    inst: Local, tmp_path: Path
) -> None:
    escaped = tmp_path / "escaped"

    @raypachy.pipeline(input=raypachy.pfs("in", glob="/*", name=str(escaped)), name="escape")
    def peek(datum):  # type: ignore[no-untyped-def]
        (datum.out / "seen").write_text("ran")

    inst.pfs.create_repo("in")
    inst.put("in", {"/a.txt": b"hello\n"})
    with pytest.raises(InvalidSpecError, match="invalid input name"):
        inst.create(peek)
    assert inst.run() == [] and not escaped.exists()
