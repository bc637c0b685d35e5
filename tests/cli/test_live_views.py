"""Live views as a user sees them: ``list job --watch`` in a real terminal (tmux), and
``logs -f`` printing a running datum's lines as they come."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RAYPACHY, LocalCluster

pytestmark = pytest.mark.ray


class Terminal:
    """A tmux session of its own (own server, own socket): what a user's terminal shows."""

    def __init__(self, env: dict[str, str]) -> None:
        self.dir = tempfile.mkdtemp(prefix="rp-tmux-")  # unix socket paths must stay short
        self.socket = f"{self.dir}/s"
        self.env = env

    def _tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-S", self.socket, *args], env=self.env,
                              capture_output=True, text=True, timeout=30)  # fmt: skip

    def run(self, command: str) -> None:
        done = self._tmux("new-session", "-d", "-x", "200", "-y", "40", command)
        assert done.returncode == 0, done.stderr

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p").stdout

    def close(self) -> None:
        self._tmux("kill-server")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def terminal(local_cluster: LocalCluster) -> Iterator[Terminal]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    term = Terminal(local_cluster.env)
    try:
        yield term
    finally:
        term.close()


def _slow_pipeline(c: LocalCluster, datums: int, command: str) -> tuple[str, str]:
    """A repo of ``datums`` files and a pipeline running them all in one batch; returns
    (pipeline, job id)."""
    name = "slow" + uuid.uuid4().hex[:8]
    c.cli("create", "repo", name)
    with c.client().modify(f"{name}@master") as m:
        for i in range(datums):
            m.put(f"/f{i}", f"{i}".encode())
    spec = {
        "pipeline": {"name": f"{name}p"},
        "input": {"pfs": {"repo": name, "glob": "/*"}},
        "parallelism_spec": {"constant": 1},
        "datum_set_spec": {"number": datums},  # one batch: progress per batch would jump
        "transform": {"cmd": ["sh", "-c", command]},
    }
    c.cli("create", "pipeline", "-f", "-", stdin=json.dumps(spec).encode())
    [job] = json.loads(c.cli("list", "job", "-p", f"{name}p", "-o", "json").stdout)
    return f"{name}p", job["id"]


def test_list_job_watch_counts_each_datum_as_it_ends(
    local_cluster: LocalCluster, terminal: Terminal
) -> None:
    pipeline, job = _slow_pipeline(local_cluster, 6, "sleep 1.5")
    terminal.run(f"{RAYPACHY} list job -p {pipeline} --watch; sleep 600")
    seen: list[int] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        screen = terminal.screen()
        row = next((line for line in screen.splitlines() if job in line), "")
        match = re.search(r"\b(\d)/6\b", row)
        if match and (not seen or seen[-1] != int(match.group(1))):
            seen.append(int(match.group(1)))
        if "success" in row or "failure" in row:
            break
        time.sleep(0.2)
    assert "PROGRESS" in screen and "success" in row and "6/6" in row, screen
    assert seen == sorted(seen), seen  # never backwards
    between = [n for n in seen if 0 < n < 6]
    assert len(between) >= 2, f"the view jumped {seen}: progress must move per datum"


@pytest.mark.parametrize("kind", ["python", "cmd"])
def test_logs_follow_shows_a_line_while_its_datum_still_runs(
    local_cluster: LocalCluster, tmp_path: Path, kind: str
) -> None:
    c = local_cluster
    name = "follow" + uuid.uuid4().hex[:8]
    c.cli("create", "repo", name)
    c.cli("put", "file", f"{name}@master:/a", "-f", "-", stdin=b"a")
    if kind == "cmd":
        spec = {
            "pipeline": {"name": f"{name}p"},
            "input": {"pfs": {"repo": name, "glob": "/*"}},
            "transform": {"cmd": ["sh", "-c", "echo first line; sleep 8; echo second line"]},
        }
        c.cli("create", "pipeline", "-f", "-", stdin=json.dumps(spec).encode())
    else:
        (tmp_path / "p.py").write_text(
            "import time\nimport raypachy\n\n"
            f"@raypachy.pipeline(input=raypachy.pfs({name!r}, glob='/*'), name={name + 'p'!r})\n"
            "def talk(datum):\n"
            "    print('first line')\n"
            "    time.sleep(8)\n"
            "    print('second line')\n"
        )
        c.cli("create", "pipeline", "--python", str(tmp_path / "p.py"))
    follow = subprocess.Popen([RAYPACHY, "logs", "-p", f"{name}p", "-f"], env=c.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert follow.stdout is not None
    lines = []
    try:
        while (line := follow.stdout.readline()) and "first line" not in line:
            lines.append(line)
        assert "first line" in line, (lines, follow.stderr.read() if follow.stderr else "")
        [job] = json.loads(c.cli("list", "job", "-p", f"{name}p", "-o", "json").stdout)
        assert job["state"] == "running", job  # the datum has not ended: the line streamed
        assert any("(running)" in head for head in lines), lines
        rest, err = follow.communicate(timeout=120)
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.communicate()
    assert follow.returncode == 0, err
    assert "second line" in rest and rest.count("first line") == 0, rest
    [job] = json.loads(c.cli("list", "job", "-p", f"{name}p", "-o", "json").stdout)
    assert job["state"] == "success"
    after = c.cli("logs", "-p", f"{name}p").stdout.decode()
    assert after.count("first line") == 1 and "second line" in after and "(success)" in after
