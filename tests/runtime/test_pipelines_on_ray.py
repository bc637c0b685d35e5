"""Pipelines on the real local cluster, driven through the CLI as a user would."""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path

import pytest

from tests.conftest import LocalCluster

pytestmark = pytest.mark.ray


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def _json(done) -> object:  # type: ignore[no-untyped-def]
    return json.loads(done.stdout)


def test_spec_pipeline_incremental_dag(local_cluster: LocalCluster, tmp_path: Path) -> None:
    c = local_cluster
    src, up, count = _name("src"), _name("up"), _name("count")
    c.cli("create", "repo", src)
    c.cli("put", "file", f"{src}@master:/a.txt", "-f", "-", stdin=b"hello")
    c.cli("put", "file", f"{src}@master:/b.txt", "-f", "-", stdin=b"world")
    spec = {
        "pipeline": {"name": up},
        "input": {"pfs": {"repo": src, "glob": "/*"}},
        "transform": {"cmd": ["sh"], "stdin": [
            f"for f in /pfs/{src}/*; do tr a-z A-Z < $f > /pfs/out/$(basename $f); done"]},
        "parallelismSpec": {"constant": 2},
    }  # fmt: skip
    (tmp_path / "up.json").write_text(json.dumps(spec))
    (tmp_path / "count.py").write_text(
        textwrap.dedent(f"""
        import raypachy

        @raypachy.pipeline(input=raypachy.pfs("{up}", glob="/*"), name="{count}")
        def count(datum):
            for f in datum.input().rglob("*"):
                if f.is_file():
                    (datum.out / (f.name + ".n")).write_text(str(len(f.read_text())))
                    print("counted", f.name)
    """)
    )
    c.cli("create", "pipeline", "-f", str(tmp_path / "up.json"))
    c.cli("create", "pipeline", "--python", str(tmp_path / "count.py"))
    c.cli("put", "file", f"{src}@master:/c.txt", "-f", "-", stdin=b"again")
    commit = _json(c.cli("inspect", "commit", f"{src}@master", "-o", "json"))["id"]  # type: ignore[index]
    done = _json(c.cli("wait", "commit", commit, "-o", "json", timeout=300))
    assert {x["repo"] for x in done} == {src, up, count}  # type: ignore[attr-defined]
    jobs = _json(c.cli("list", "job", commit, "-o", "json"))
    assert {j["pipeline"]: j["state"] for j in jobs} == {up: "success", count: "success"}  # type: ignore[attr-defined]
    job = next(j for j in jobs if j["pipeline"] == count)  # type: ignore[attr-defined]
    assert {
        "id",
        "pipeline",
        "state",
        "datums",
        "output_commit",
        "started",
        "finished",
        "reason",
    } <= set(job)
    assert job["datums"] == {"total": 3, "processed": 1, "skipped": 2, "failed": 0, "recovered": 0}
    assert job["output_commit"] == {"repo": count, "id": commit}
    assert c.cli("get", "file", f"{up}@master:/c.txt").stdout == b"AGAIN"
    assert c.cli("get", "file", f"{count}@master:/c.txt.n").stdout == b"5"
    datums = _json(c.cli("list", "datum", f"{count}@{commit}", "-o", "json"))
    assert sorted(d["state"] for d in datums) == ["skipped", "skipped", "success"]  # type: ignore[attr-defined]
    assert "counted c.txt" in c.cli("logs", "-p", count, "--job", commit).stdout.decode()
    lineage = _json(c.cli("lineage", f"{count}@master:/c.txt.n", "-o", "json"))
    upper = lineage["upstream"]["inputs"][0]  # type: ignore[index]
    assert upper["pipeline"]["name"] == up and upper["inputs"][0]["repo"] == src
    pipelines = _json(c.cli("list", "pipeline", "-o", "json"))
    assert {up, count} <= {p["name"] for p in pipelines}  # type: ignore[attr-defined]


def test_update_code_and_reprocess(local_cluster: LocalCluster, tmp_path: Path) -> None:
    c = local_cluster
    src, name = _name("src"), _name("calc")
    c.cli("create", "repo", src)
    c.cli("put", "file", f"{src}@master:/x", "-f", "-", stdin=b"3")

    def write(factor: int) -> Path:
        path = tmp_path / f"calc{factor}.py"
        path.write_text(
            textwrap.dedent(f"""
            import raypachy

            @raypachy.pipeline(input=raypachy.pfs("{src}", glob="/*"), name="{name}")
            def calc(datum):
                for f in datum.input().rglob("*"):
                    if f.is_file():
                        (datum.out / f.name).write_text(str({factor} * int(f.read_text())))
        """)
        )
        return path

    c.cli("create", "pipeline", "--python", str(write(2)))
    job = _json(c.cli("list", "job", "-p", name, "-o", "json"))[0]  # type: ignore[index]
    c.cli("wait", "job", f"{name}@{job['id']}", timeout=300)
    assert c.cli("get", "file", f"{name}@master:/x").stdout == b"6"
    out = c.cli("update", "pipeline", "--python", str(write(10))).stderr.decode()
    assert "keep their outputs" in out and "--reprocess" in out
    job = _json(c.cli("list", "job", "-p", name, "-o", "json"))[0]  # type: ignore[index]
    c.cli("wait", "job", f"{name}@{job['id']}", timeout=300)
    assert c.cli("get", "file", f"{name}@master:/x").stdout == b"6"
    c.cli("update", "pipeline", "--python", str(write(10)), "--reprocess")
    job = _json(c.cli("list", "job", "-p", name, "-o", "json"))[0]  # type: ignore[index]
    done = _json(c.cli("wait", "job", f"{name}@{job['id']}", "-o", "json", timeout=300))
    assert done["datums"]["processed"] == 1  # type: ignore[index]
    assert c.cli("get", "file", f"{name}@master:/x").stdout == b"30"


def test_failing_user_code_surfaces_its_traceback(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    c = local_cluster
    src, name = _name("src"), _name("boom")
    c.cli("create", "repo", src)
    c.cli("put", "file", f"{src}@master:/x", "-f", "-", stdin=b"1")
    (tmp_path / "boom.py").write_text(
        textwrap.dedent(f"""
        import raypachy

        @raypachy.pipeline(input=raypachy.pfs("{src}", glob="/*"), name="{name}", datum_tries=1)
        def boom(datum):
            print("reading", datum.datum_id)
            raise KeyError("no such column: price")
    """)
    )
    c.cli("create", "pipeline", "--python", str(tmp_path / "boom.py"))
    job = _json(c.cli("list", "job", "-p", name, "-o", "json"))[0]  # type: ignore[index]
    waited = c.cli("wait", "job", f"{name}@{job['id']}", "-o", "json", code=1, timeout=300)
    assert _json(waited)["state"] == "failure"  # type: ignore[index]
    logs = c.cli("logs", "-p", name).stdout.decode()
    assert "Traceback" in logs and "KeyError: 'no such column: price'" in logs and "reading" in logs
