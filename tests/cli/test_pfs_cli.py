"""The CLI as a user runs it: a real subprocess per command, against the shared cluster."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import RAYPACHY, LocalCluster

pytestmark = pytest.mark.ray


@pytest.fixture
def run(local_cluster: LocalCluster):  # type: ignore[no-untyped-def]
    return local_cluster.cli


@pytest.fixture
def name() -> str:
    """A repo name of this test's own: the cluster is shared by the whole session."""
    return "t" + uuid.uuid4().hex[:10]


def _json(done: subprocess.CompletedProcess[bytes]) -> object:
    return json.loads(done.stdout)


def test_repo_commit_branch_file_roundtrip(run, name: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("create", "repo", name, "-d", "raw data")
    repos = [r for r in _json(run("list", "repo", "-o", "json")) if r["name"] == name]  # type: ignore[attr-defined]
    assert len(repos) == 1 and repos[0]["description"] == "raw data"
    assert {"name", "created", "size_bytes"} <= set(repos[0])
    run("put", "file", f"{name}@master:/in/a.txt", "-f", "-", stdin=b"alpha")
    local = tmp_path / "tree"
    (local / "sub").mkdir(parents=True)
    (local / "sub" / "b.txt").write_bytes(b"beta")
    run("put", "file", f"{name}@master:/in", "-r", "-f", str(local))
    run("put", "file", f"{name}@master:/in/a.txt", "-a", "-f", "-", stdin=b"+more")
    assert run("get", "file", f"{name}@master:/in/a.txt").stdout == b"alpha+more"
    files = _json(run("list", "file", f"{name}@master:/in", "-o", "json"))
    assert [(f["path"], f["type"]) for f in files] == [("/in/a.txt", "file"), ("/in/sub/", "dir")]
    assert {"path", "type", "size_bytes", "hash"} <= set(files[0])
    commits = _json(run("list", "commit", f"{name}@master", "-o", "json"))
    assert len(commits) == 3
    assert {"id", "repo", "branch", "parent", "started", "finished", "size_bytes", "error",
            "provenance"} <= set(commits[0])  # fmt: skip
    first = commits[-1]["id"]
    run("create", "branch", f"{name}@v1", "--head", first)
    branches = _json(run("list", "branch", name, "-o", "json"))
    assert {b["name"]: b["head"] for b in branches}["v1"] == first
    out = tmp_path / "out"
    run("get", "file", f"{name}@master:/in", "-o", str(out))
    assert (out / "sub" / "b.txt").read_bytes() == b"beta"
    diff = _json(run("diff", "file", f"{name}@master", "-o", "json"))
    assert [(d["path"], d["change"]) for d in diff] == [("/in/a.txt", "modified")]
    glob = _json(run("glob", "file", f"{name}@master:/in/*", "-o", "json"))
    assert [g["path"] for g in glob] == ["/in/a.txt", "/in/sub/"]
    inspect = _json(run("inspect", "commit", f"{name}@master^2", "-o", "json"))
    assert isinstance(inspect, dict) and inspect["id"] == first


def test_open_commit_from_the_cli(run, name: str) -> None:  # type: ignore[no-untyped-def]
    run("create", "repo", name)
    commit_id = run("start", "commit", f"{name}@master").stdout.decode().strip()
    run("put", "file", f"{name}@master:/x", "-f", "-", stdin=b"x")
    assert _json(run("inspect", "commit", f"{name}@master", "-o", "json"))["finished"] is None  # type: ignore[index]
    run("finish", "commit", f"{name}@{commit_id}")
    done = _json(run("wait", "commit", f"{name}@{commit_id}", "-o", "json"))
    assert done["finished"] is not None and done["file_count"] == 1  # type: ignore[index]
    err = run("finish", "commit", f"{name}@{commit_id}", code=1).stderr.decode()
    assert err.startswith("error: ") and "already finished" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (("create", "repo", "bad name"), "invalid repo name", 1),
        (("list", "file", "nope@master"), "repo nope not found", 1),
        (("get", "file", "r@master:/missing"), "not found", 1),
        (("put", "file", "r@master:relative", "-f", "-"), "relative", 1),
        (("put", "file", "r@master:/a/../b", "-f", "-"), "'..'", 1),
        (("inspect", "commit", "r@master^5"), "does not exist", 1),
        (("list", "repo", "--bogus"), "No such option", 2),
        (("put", "file", "r@master:/x"), "give one of -f SOURCE or -i FILE", 2),
        (("inspect", "commit", "r@master.2"), "has 1 commit(s)", 1),
        (("inspect", "commit", "r@master.0"), "forward reference is branch.N", 1),
        (("list", "file", "r@master:/a", "--history", "0"), "number of versions >= 1", 2),
        (("edit", "metadata", "commit", "r@master", "--add", "novalue"), "is not key=value", 2),
        (("edit", "metadata", "branch", "r@master", "--remove", "k"), "no metadata key 'k'", 1),
        (("put", "file", "r@master:/a/b", "-m", "why", "-f", "-"), "/a", 1),
        (
            ("put", "file", "r@0123456789abcdef0123456789abcdef:/x", "-m", "why", "-f", "-"),
            "to describe an open commit",
            2,
        ),
    ],
)
def test_bad_input_one_line_error(
    run, name: str, args: tuple[str, ...], message: str, code: int
) -> None:  # type: ignore[no-untyped-def]
    run("create", "repo", name)
    run("put", "file", f"{name}@master:/a", "-f", "-", stdin=b"a")
    done = run(*[a.replace("r@", f"{name}@") for a in args], stdin=b"", code=code)
    err = done.stderr.decode()
    assert message in err, err
    if code == 1:
        assert err.count("\n") == 1 and err.startswith("error: ")
    assert len(_json(run("list", "commit", name, "-o", "json"))) == 1  # type: ignore[arg-type]


def test_history_descriptions_and_metadata(run, name: str) -> None:  # type: ignore[no-untyped-def]
    run("create", "repo", name)
    run("put", "file", f"{name}@master:/a", "-f", "-", "-m", "first a", stdin=b"1")
    run("put", "file", f"{name}@master:/b", "-f", "-", stdin=b"2")
    run("put", "file", f"{name}@master:/a", "-f", "-", "-m", "second a", stdin=b"22")
    commits = _json(run("list", "commit", f"{name}@master", "-o", "json"))
    assert [c["description"] for c in commits] == ["second a", "", "first a"]  # type: ignore[index]
    first = _json(run("inspect", "commit", f"{name}@master.1", "-o", "json"))
    assert first["id"] == commits[-1]["id"]  # type: ignore[index]
    versions = _json(run("list", "file", f"{name}@master:/a", "--history", "all", "-o", "json"))
    assert [(v["size_bytes"], v["commit"]["id"]) for v in versions] == [  # type: ignore[index]
        (2, commits[0]["id"]), (1, commits[2]["id"])  # type: ignore[index]
    ]  # fmt: skip
    table = run("list", "file", f"{name}@master:/a", "--history", "1").stdout.decode()
    assert commits[0]["id"] in table and commits[2]["id"] not in table  # type: ignore[index]
    found = _json(run("find", "commit", f"{name}@master:/b", "-o", "json"))
    assert [c["id"] for c in found] == [commits[1]["id"]]  # type: ignore[index]
    opened = run("start", "commit", f"{name}@master", "-m", "by hand").stdout.decode().strip()
    run("finish", "commit", f"{name}@{opened}", "--message", "done by hand")
    done = _json(run("inspect", "commit", f"{name}@{opened}", "-o", "json"))
    assert done["description"] == "done by hand"  # type: ignore[index]

    run("edit", "metadata", "commit", f"{name}@{opened}", "--add", "run=1", "--add", "by=me")
    now = run("edit", "metadata", "commit", f"{name}@{opened}", "--replace", "run=2",
              "--remove", "by", "-o", "json")  # fmt: skip
    assert _json(now) == {"run": "2"}
    assert _json(run("inspect", "commit", f"{name}@{opened}", "-o", "json"))["metadata"] == {  # type: ignore[index]
        "run": "2"
    }
    run("edit", "metadata", "repo", name, "--add", "team=vision")
    assert _json(run("inspect", "repo", name, "-o", "json"))["metadata"] == {"team": "vision"}  # type: ignore[index]
    run("edit", "metadata", "branch", f"{name}@master", "--add", "env=prod")
    branch = _json(run("inspect", "branch", f"{name}@master", "-o", "json"))
    assert branch["metadata"] == {"env": "prod"} and branch["head"] == opened  # type: ignore[index]
    err = run("edit", "metadata", "commit", f"{name}@{opened}", "--add", "run=3", code=1).stderr
    assert b"already has metadata key 'run'" in err and err.count(b"\n") == 1


def test_branch_trigger_from_the_cli(run, name: str) -> None:  # type: ignore[no-untyped-def]
    run("create", "repo", name)
    run("put", "file", f"{name}@staging:/a", "-f", "-", stdin=b"a")
    run("create", "branch", f"{name}@master", "--head", "staging", "--trigger", "staging",
        "--trigger-size", "1K", "--trigger-commits", "3", "--trigger-all")  # fmt: skip
    branch = _json(run("inspect", "branch", f"{name}@master", "-o", "json"))
    assert branch["trigger"] == {  # type: ignore[index]
        "branch": "staging", "size": "1K", "commits": 3, "cron_spec": "", "all": True
    }  # fmt: skip
    start = branch["head"]  # type: ignore[index]
    for path in ("/b", "/c"):
        run("put", "file", f"{name}@staging:{path}", "-f", "-", stdin=b"x" * 600)
    assert _json(run("inspect", "branch", f"{name}@master", "-o", "json"))["head"] == start  # type: ignore[index]
    run("put", "file", f"{name}@staging:/d", "-f", "-", stdin=b"d")
    staging = _json(run("inspect", "branch", f"{name}@staging", "-o", "json"))["head"]  # type: ignore[index]
    assert _json(run("inspect", "branch", f"{name}@master", "-o", "json"))["head"] == staging  # type: ignore[index]
    assert "staging (size>=1K and commits>=3)" in run("list", "branch", name).stdout.decode()
    err = run("create", "branch", f"{name}@staging", "--trigger", "master", code=1).stderr
    assert b"loop" in err and err.count(b"\n") == 1
    err = run("create", "branch", f"{name}@x", "--trigger-size", "1K", code=2).stderr
    assert b"need --trigger BRANCH" in err
    assert "x" not in [b["name"] for b in _json(run("list", "branch", name, "-o", "json"))]  # type: ignore[attr-defined]


def test_a_branch_trigger_stays_until_no_trigger_drops_it(run, name: str) -> None:  # type: ignore[no-untyped-def]
    run("create", "repo", name)
    run("put", "file", f"{name}@staging:/a", "-f", "-", stdin=b"a")
    run("create", "branch", f"{name}@master", "--head", "staging", "--trigger", "staging",
        "--trigger-commits", "1")  # fmt: skip
    first = _json(run("inspect", "branch", f"{name}@master", "-o", "json"))["head"]  # type: ignore[index]
    run("put", "file", f"{name}@staging:/b", "-f", "-", stdin=b"b")
    second = _json(run("inspect", "branch", f"{name}@staging", "-o", "json"))["head"]  # type: ignore[index]
    # as pachctl: create branch without --trigger moves the branch and keeps its trigger
    run("create", "branch", f"{name}@master", "--head", first)
    kept = _json(run("inspect", "branch", f"{name}@master", "-o", "json"))
    assert kept["head"] == first and kept["trigger"]["branch"] == "staging"  # type: ignore[index]
    err = run("create", "branch", f"{name}@master", "--no-trigger", "--trigger", "x", code=2)
    assert b"--no-trigger" in err.stderr
    run("create", "branch", f"{name}@master", "--no-trigger")
    dropped = _json(run("inspect", "branch", f"{name}@master", "-o", "json"))
    assert dropped["trigger"] is None and dropped["head"] == first  # type: ignore[index]
    assert second != first
    run("put", "file", f"{name}@staging:/c", "-f", "-", stdin=b"c")
    assert _json(run("inspect", "branch", f"{name}@master", "-o", "json"))["head"] == first  # type: ignore[index]


def test_list_verbs_take_a_limit_and_a_cursor(run, name: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    local = tmp_path / "d"
    local.mkdir()
    for i in range(5):
        (local / f"f{i}").write_bytes(b"x")
    run("create", "repo", name)
    run("put", "file", f"{name}@master:/d", "-r", "-f", str(local))
    run("put", "file", f"{name}@master:/e", "-f", "-", stdin=b"e")

    def paths(*args: str) -> list[str]:
        return [f["path"] for f in _json(run(*args, "-o", "json"))]  # type: ignore[attr-defined]

    assert paths("list", "file", f"{name}@master:/d", "--limit", "2") == ["/d/f0", "/d/f1"]
    assert paths("list", "file", f"{name}@master:/d", "--start-after", "/d/f3") == ["/d/f4"]
    assert paths("glob", "file", f"{name}@master:/**", "-n", "2", "--start-after", "/d/") == [
        "/d/f0", "/d/f1"
    ]  # fmt: skip
    commits = _json(run("list", "commit", f"{name}@master", "-o", "json"))
    assert len(commits) == 2  # type: ignore[arg-type]
    after = f"{name}@{commits[0]['id']}"  # type: ignore[index]
    older = _json(run("list", "commit", name, "--start-after", after, "-o", "json"))
    assert [c["id"] for c in older] == [commits[1]["id"]]  # type: ignore[index, union-attr]
    done = run("list", "file", f"{name}@master:/d", "--limit", "0", code=2)
    assert b"--limit" in done.stderr


def test_version(run) -> None:  # type: ignore[no-untyped-def]
    from raypachy import __version__

    assert run("version").stdout.decode().strip() == __version__


def test_fsck_reports_a_healthy_cluster(run, name: str) -> None:  # type: ignore[no-untyped-def]
    run("create", "repo", name)
    run("put", "file", f"{name}@master:/a", "-f", "-", stdin=b"a")
    report = _json(run("fsck", "--deep", "-o", "json"))
    assert report["ok"] is True and report["commits"] >= 1 and report["chunks"] >= 1  # type: ignore[index]
    human = run("fsck")
    assert "commits" in human.stderr.decode() and human.stdout == b""


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ('{"pipeline": {"name": "P"}, "inptu": {}}', "unknown field 'inptu'"),
        (
            '{"pipeline": {"name": "P"}, "input": {"pfs": {"repo": "R", "glob": "/[a"}}, '
            '"transform": {"cmd": ["true"]}}',
            "invalid glob",
        ),
        (
            '{"pipeline": {"name": "P"}, "input": {"pfs": {"repo": "nope", "glob": "/*"}}, '
            '"transform": {"cmd": ["true"]}}',
            "input repo nope not found",
        ),
        (
            '{"pipeline": {"name": "P"}, "input": {"pfs": {"repo": "P", "glob": "/*"}}, '
            '"transform": {"cmd": ["true"]}}',
            "its own output",
        ),
        ("{not json", "spec"),
    ],
)
def test_bad_spec_one_line_error_creates_nothing(run, name: str, spec: str, message: str) -> None:  # type: ignore[no-untyped-def]
    run("create", "repo", name)
    pipeline = f"p{name}"
    text = spec.replace('"P"', f'"{pipeline}"').replace('"R"', f'"{name}"')
    done = run("create", "pipeline", "-f", "-", stdin=text.encode(), code=1)
    err = done.stderr.decode()
    assert message in err and err.count("\n") == 1 and err.startswith("error: "), err
    assert pipeline not in [p["name"] for p in _json(run("list", "pipeline", "-o", "json"))]  # type: ignore[index]
    assert pipeline not in [r["name"] for r in _json(run("list", "repo", "-o", "json"))]  # type: ignore[index]


def test_put_file_through_the_api_data_plane(local_cluster: LocalCluster, name: str,
                                              tmp_path: Path) -> None:  # fmt: skip
    """RAYPACHY_DATA_PLANE=api: a client that cannot reach the storage puts files, stdin and
    directories through the API, as the README says."""
    env = {**local_cluster.env, "RAYPACHY_DATA_PLANE": "api"}

    def run(*args: str, stdin: bytes | None = None, code: int = 0) -> subprocess.CompletedProcess[bytes]:  # fmt: skip
        done = subprocess.run([RAYPACHY, *args], input=stdin, capture_output=True, env=env,
                              timeout=300)  # fmt: skip
        assert done.returncode == code, (args, done.stdout[-2000:], done.stderr[-2000:])
        return done

    run("create", "repo", name)
    one = tmp_path / "one.bin"
    one.write_bytes(b"one file " * 100_000)
    run("put", "file", f"{name}@master:/one.bin", "-f", str(one))
    run("put", "file", f"{name}@master:/s.txt", "-f", "-", stdin=b"from stdin")
    run("put", "file", f"{name}@master:/s.txt", "-a", "-f", "-", stdin=b" and more")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_bytes(b"a")
    (tree / "sub" / "b.txt").write_bytes(b"b")
    run("put", "file", f"{name}@master:/dir", "-r", "-f", str(tree))
    assert run("get", "file", f"{name}@master:/one.bin").stdout == one.read_bytes()
    assert run("get", "file", f"{name}@master:/s.txt").stdout == b"from stdin and more"
    assert run("get", "file", f"{name}@master:/dir/sub/b.txt").stdout == b"b"
    commits = _json(run("list", "commit", f"{name}@master", "-o", "json"))
    assert len(commits) == 4  # type: ignore[arg-type]  # the directory is one commit
    files = _json(run("list", "file", f"{name}@master:/dir", "-o", "json"))
    assert [f["path"] for f in files] == ["/dir/a.txt", "/dir/sub/"]  # type: ignore[index]
    # A directory that cannot land leaves nothing behind: /one.bin is a file, not a directory.
    bad = tmp_path / "bad"
    (bad / "one.bin").mkdir(parents=True)
    (bad / "one.bin" / "x").write_bytes(b"x")
    (bad / "first").write_bytes(b"first")
    err = run("put", "file", f"{name}@master:/", "-r", "-f", str(bad), code=1).stderr.decode()
    assert err.startswith("error: ") and err.count("\n") == 1 and "/one.bin" in err, err
    after = _json(run("list", "commit", f"{name}@master", "-o", "json"))
    assert [c["id"] for c in after] == [c["id"] for c in commits]  # type: ignore[index]
    assert run("get", "file", f"{name}@master:/first", code=1).stderr.startswith(b"error: ")


def test_put_file_from_urls(run, name: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import http.server
    import threading

    served = tmp_path / "web"
    served.mkdir()
    (served / "a.csv").write_bytes(b"1,2\n")
    (served / "b.csv").write_bytes(b"3,4\n")
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(served))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    web = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        run("create", "repo", name)
        run("put", "file", f"{name}@master:/one.csv", "-f", f"{web}/a.csv")
        urls = tmp_path / "urls.txt"
        urls.write_text(f"{web}/a.csv\n{web}/b.csv\n")
        run("put", "file", f"{name}@master:/many", "-i", str(urls))
        assert run("get", "file", f"{name}@master:/many/b.csv").stdout == b"3,4\n"
        assert run("get", "file", f"{name}@master:/one.csv").stdout == b"1,2\n"
        urls.write_text(f"{web}/a.csv\n{web}/gone.csv\n")
        err = run("put", "file", f"{name}@master:/bad", "-i", str(urls), code=1).stderr.decode()
        assert err == f"error: cannot read {web}/gone.csv: HTTP 404 File not found\n"
        assert len(_json(run("list", "commit", f"{name}@master", "-o", "json"))) == 2  # type: ignore[arg-type]
        err = run("put", "file", f"{name}@master:/x", "-f", "-", "--untar", code=2).stderr.decode()
        assert "--untar unpacks archives fetched from URLs" in err
    finally:
        server.shutdown()
        server.server_close()
