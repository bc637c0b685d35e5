"""Once auth is active, what a pipeline runs on the cluster acts as the pipeline: a job's
datums and a spout's process each hold a token of ``pipeline:<name>`` that writes the
pipeline's output and nothing else (never the cluster's token). On a cluster of its own,
since activating auth is for good."""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RAYPACHY, LocalCluster, start_cluster

pytestmark = pytest.mark.ray

DENIED = "lacks repoWriter on repo other"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    cluster = start_cluster(tmp_path_factory.mktemp("secured") / "home")
    try:
        cluster.cli("auth", "activate")  # the cluster's own token stays root: the CLI goes on
        yield cluster
    finally:
        cluster.close_clients()
        cluster.cli("down", timeout=120)


def _try_other_then_own(own: str) -> str:
    """A shell line: write repo ``other`` (to be refused), then the outcome into ``own``."""
    return (
        f"{RAYPACHY} put file other@master:/planted -f /etc/hostname 2> /tmp/err$$; "
        f'echo "exit=$? $(cat /tmp/err$$)" > {own}'
    )


def test_datums_and_spouts_act_as_their_pipeline(secured: LocalCluster, tmp_path: Path) -> None:
    c = secured
    for repo in ("other", "src"):
        c.cli("create", "repo", repo)
    # The home (the cluster's token, the metadata) is out of the command's sight; it still
    # reaches the API (as the pipeline) at the address the home would have told it.
    peek = (
        'ls -A "$RAYPACHY_HOME" > /pfs/out/home; '
        'cat "$RAYPACHY_HOME/token" > /pfs/out/token 2>/dev/null; echo "$?" > /pfs/out/cat'
    )
    copy = f"{_try_other_then_own('/pfs/out/outcome')}; cp /pfs/src/a /pfs/out/a; {peek}"
    copier = {
        "pipeline": {"name": "copier"},
        "input": {"pfs": {"repo": "src", "glob": "/*"}},
        "transform": {"cmd": ["sh", "-c", copy]},
    }
    feed = (
        f"{_try_other_then_own('/tmp/outcome$$')}; "
        f"{RAYPACHY} put file feeder@master:/outcome -f /tmp/outcome$$; sleep 600"
    )
    feeder = {"pipeline": {"name": "feeder"}, "spout": {}, "transform": {"cmd": ["sh", "-c", feed]}}
    for spec in (copier, feeder):
        path = tmp_path / f"{spec['pipeline']['name']}.json"  # type: ignore[index]
        path.write_text(json.dumps(spec))
        c.cli("create", "pipeline", "-f", str(path))
    c.cli("put", "file", "src@master:/a", "-f", "-", stdin=b"alpha")

    commit = json.loads(c.cli("inspect", "commit", "src@master", "-o", "json").stdout)["id"]
    c.cli("wait", "commit", commit, "-o", "json", timeout=300)
    [job] = json.loads(c.cli("list", "job", commit, "-o", "json").stdout)
    assert job["state"] == "success", job["reason"]
    outcome = c.cli("get", "file", "copier@master:/outcome").stdout.decode()
    assert outcome.startswith("exit=1 ") and f"pipeline:copier {DENIED}" in outcome, outcome
    assert c.cli("get", "file", "copier@master:/a").stdout == b"alpha"
    assert (c.home / "token").is_file()  # there, but not for the command to see:
    assert c.cli("get", "file", "copier@master:/home").stdout == b""
    assert c.cli("get", "file", "copier@master:/token").stdout == b""
    assert c.cli("get", "file", "copier@master:/cat").stdout.strip() != b"0"

    deadline = time.monotonic() + 180
    get = [RAYPACHY, "get", "file", "feeder@master:/outcome"]
    while (got := subprocess.run(get, env=c.env, capture_output=True)).returncode:
        assert time.monotonic() < deadline, c.cli("logs", "-p", "feeder").stdout[-2000:]
        time.sleep(1)
    outcome = got.stdout.decode()
    assert outcome.startswith("exit=1 ") and f"pipeline:feeder {DENIED}" in outcome, outcome
    assert json.loads(c.cli("list", "commit", "other", "-o", "json").stdout) == []
    c.cli("delete", "pipeline", "feeder")


def test_a_dataset_pipelines_function_acts_as_its_pipeline(
    secured: LocalCluster, tmp_path: Path
) -> None:
    """The function of a ``dataset=True`` pipeline runs in Ray Data's tasks: there, its
    client holds the job's token of ``pipeline:<name>`` (never the cluster's, which the
    home's token file holds), which reads its input, may write its output, and nothing else.
    The token travels inside the tasks, not in their environment."""
    c = secured
    made = {r["name"] for r in json.loads(c.cli("list", "repo", "-o", "json").stdout)}
    for repo in {"other", "dsrc"} - made:  # (the other test may have made "other")
        c.cli("create", "repo", repo)
    code = tmp_path / "probe.py"
    code.write_text(
        textwrap.dedent("""
        import json
        import os
        import raypachy

        def seen():
            client = raypachy.connect()
            found = {"who": client.whoami()["principal"]}
            found["in_env"] = "RAYPACHY_TOKEN" in os.environ  # no runtime_env carried it
            found["input"] = client.get_file("dsrc@master", "/a").decode()
            for name, write in (
                ("own", lambda: client.check_writable("dsprobe@master")),
                ("other", lambda: client.put_file("other@master", "/planted", b"x")),
            ):
                try:
                    write()
                    found[name] = "allowed"
                except Exception as e:
                    found[name] = f"{type(e).__name__}: {e}"
            return json.dumps(found).encode()

        def probe(batch):  # in Ray Data's tasks
            return {"datum_id": batch["datum_id"], "path": ["/seen"], "bytes": [seen()]}

        class ActorProbe:  # in an actor pool
            def __call__(self, batch):
                return {
                    "datum_id": [*batch["datum_id"], batch["datum_id"][0]],
                    "path": [*batch["path"], "/seen-by-actor"],
                    "bytes": [*batch["bytes"], seen()],
                }

        @raypachy.pipeline(input=raypachy.pfs("dsrc", glob="/"), name="dsprobe", dataset=True)
        def dsprobe(ds):
            ds = ds.map_batches(probe, batch_size=None)
            return ds.map_batches(ActorProbe, concurrency=1, batch_size=None)
    """)
    )
    c.cli("create", "pipeline", "--python", str(code))
    c.cli("put", "file", "dsrc@master:/a", "-f", "-", stdin=b"alpha")
    commit = json.loads(c.cli("inspect", "commit", "dsrc@master", "-o", "json").stdout)["id"]
    c.cli("wait", "commit", commit, "-o", "json", timeout=300)
    [job] = json.loads(c.cli("list", "job", commit, "-o", "json").stdout)
    assert job["state"] == "success", (job["reason"], c.cli("logs", "-p", "dsprobe").stdout)
    for path in ("/seen", "/seen-by-actor"):
        seen = json.loads(c.cli("get", "file", f"dsprobe@master:{path}").stdout)
        assert seen["who"] == "pipeline:dsprobe", (path, seen)
        assert seen["input"] == "alpha"
        assert seen["in_env"] is False, seen
        # Its role lets it write its output repo (only its jobs may, so the write itself is
        # refused after the role check, as a conflict); it wrote it through its output rows.
        assert seen["own"].startswith("ConflictError: cannot write to dsprobe"), seen
        assert seen["other"].startswith("PermissionDeniedError: pipeline:dsprobe " + DENIED)
    assert json.loads(c.cli("list", "commit", "other", "-o", "json").stdout) == []
