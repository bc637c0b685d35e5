"""``raypachy up`` as users meet it: interrupted, on a busy machine, beside another cluster."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import select
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from raypachy.runtime.cluster import ray_temp_dir
from tests.conftest import RAYPACHY, LocalCluster, free_port, start_cluster
from tests.procs import describe, wait_gone, with_env

pytestmark = pytest.mark.ray


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "RAYPACHY_HOME": str(home), "RAYPACHY_API_PORT": str(free_port())}
    env.pop("RAYPACHY_ADDRESS", None)
    return env


def _cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RAYPACHY, *args], env=env, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _wait_for(home: Path, marker: str, seconds: float = 120) -> int:
    """The pid of the first process of this home whose command line has ``marker``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for pid in with_env("RAYPACHY_HOME", str(home)):
            if marker in _cmdline(pid):
                return pid
        time.sleep(0.05)
    raise AssertionError(f"no {marker!r} process appeared for {home}")


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A home of this test's own; whatever the test leaves running there is stopped."""
    home = tmp_path / "home"
    yield home
    _cli(_env(home), "down", timeout=120)
    left = wait_gone("RAYPACHY_HOME", str(home), seconds=30)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, "left behind:\n" + describe(left)


def _in_a_terminal(
    argv: list[str], env: dict[str, str], when: Callable[[], None]
) -> tuple[int, str]:
    """Run ``argv`` on a pseudo-terminal, call ``when()``, type Ctrl-C; (exit code, output)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the terminal's foreground process
        # As a shell starts a foreground command: Ctrl-C delivered and default, whatever
        # this test process inherited or left blocked (ignored and blocked signals survive exec).
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.execve(argv[0], argv, env)
    output = b""

    def drain(seconds: float) -> bool:
        nonlocal output
        ready, _, _ = select.select([fd], [], [], seconds)
        if not ready:
            return True
        try:
            data = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            return False
        output += data
        return bool(data)

    when()
    os.write(fd, b"\x03")  # Ctrl-C as typed: the terminal sends SIGINT
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and drain(1.0):
        pass
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


@pytest.mark.parametrize("stage", ["ray start --head", "raypachy serve"])
def test_ctrl_c_during_up_stops_what_it_started_in_one_line(home: Path, stage: str) -> None:
    env = _env(home)
    code, output = _in_a_terminal([RAYPACHY, "up"], env, lambda: _wait_for(home, stage) and None)
    assert code == 1, output
    assert "Traceback" not in output and output.strip().splitlines()[-1] == "aborted", output
    left = wait_gone("RAYPACHY_HOME", str(home), seconds=30)
    assert not left, "left running:\n" + describe(left)
    assert not (home / "cluster.json").exists() and not Path(ray_temp_dir(home)).exists()


def test_up_on_a_busy_machine_survives_a_paused_dashboard(home: Path) -> None:
    """Paused 35 s, Ray's dashboard makes the node register late: Ray's client server gives
    up after 30 s and ``ray start --block`` takes the whole head down with it."""
    env = _env(home)
    up = subprocess.Popen([RAYPACHY, "up", "--num-cpus", "1"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)  # fmt: skip
    dashboard = _wait_for(home, "dashboard/dashboard.py")
    os.kill(dashboard, signal.SIGSTOP)
    try:
        time.sleep(35)
    finally:
        with contextlib.suppress(ProcessLookupError):  # its head may be gone
            os.kill(dashboard, signal.SIGCONT)
    out, err = up.communicate(timeout=600)
    if up.returncode == 0:
        assert "raypachy API:" in out
        status = _cli(env, "status", "-o", "json")
        assert status.returncode == 0 and json.loads(status.stdout)["running"] is True
    else:  # allowed to fail, but only saying where the cause is
        assert err.startswith("error: ") and "ray-head.log" in err, err
        assert "control-plane.log" not in err.splitlines()[-1], err


def test_up_starts_the_head_again_when_it_dies_while_starting(home: Path) -> None:
    env = _env(home)
    up = subprocess.Popen([RAYPACHY, "up", "--num-cpus", "1"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)  # fmt: skip
    first_head = _wait_for(home, "ray start --head")
    _wait_for(home, "raypachy serve")  # the control plane is starting on it
    raylet = _wait_for(home, "/raylet ")
    os.kill(raylet, signal.SIGKILL)  # `ray start --block` then stops the whole head
    out, err = up.communicate(timeout=600)
    assert up.returncode == 0, err
    assert (
        "the Ray head exited while raypachy started (attempt 1/3; see "
        f"{home / 'logs' / 'ray-head.log'}): starting it again"
    ) in err
    state = json.loads((home / "cluster.json").read_text())
    assert state["ray_pid"] != first_head and "raypachy API:" in out
    status = _cli(env, "status", "-o", "json")
    assert status.returncode == 0 and json.loads(status.stdout)["running"] is True


def _jobs_address(up_output: str) -> str:
    match = re.search(r"^Ray jobs: +ray job submit --address (http://127\.0\.0\.1:\d+) ", up_output,
                      re.M)  # fmt: skip
    assert match, up_output
    return match.group(1)


def _submit(address: str) -> str:
    """The GCS address of the cluster a Ray job submitted to ``address`` ran on."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    job = "import ray; ray.init(); print('GCS=' + ray.get_runtime_context().gcs_address)"
    deadline = time.monotonic() + 120
    while True:
        done = subprocess.run(
            [str(Path(RAYPACHY).with_name("ray")), "job", "submit", "--address", address, "--",
             "python", "-c", job],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        # A cluster that just started may not have its job agent yet: Ray says to try again.
        if "No available agent" not in done.stderr or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    match = re.search(r"GCS=(127\.0\.0\.1:\d+)", done.stdout)
    assert match, done.stdout
    return match.group(1)


def test_two_clusters_each_runs_the_ray_jobs_sent_to_its_address(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    first = local_cluster
    second = start_cluster(tmp_path / "second")
    try:
        states = []
        for cluster in (first, second):
            up = cluster.cli("up").stdout.decode()  # already running: it says where
            state = json.loads(cluster.cli("status", "-o", "json").stdout)
            assert _jobs_address(up) == state["dashboard_url"]
            states.append(state)
        # Each home's Ray lives in a temp dir of its own, not in the /tmp/ray every Ray
        # command falls back to: a bare `ray job submit` never finds another home's cluster.
        default = Path("/tmp/ray/ray_current_cluster")
        current = default.read_text().strip() if default.exists() else ""
        assert current not in {s["ray_address"] for s in states}
        for cluster in (first, second):
            assert (Path(ray_temp_dir(cluster.home)) / "session_latest").exists()
        assert states[0]["dashboard_url"] != states[1]["dashboard_url"]
        for state in states:
            assert _submit(state["dashboard_url"]) == state["ray_address"]
    finally:
        second.close_clients()
        second.cli("down", timeout=120)


def test_up_with_another_images_mode_while_running_says_so(local_cluster: LocalCluster) -> None:
    before = json.loads(local_cluster.cli("status", "-o", "json").stdout)
    assert before["images"] == "off"
    done = local_cluster.cli("up", "--images", "runtime_env", code=1)
    assert done.stderr.decode() == (
        "error: raypachy already runs here with --images off; to change the mode: "
        "raypachy down && raypachy up --images runtime_env\n"
    )
    assert local_cluster.cli("up", "--images", "off").stdout.startswith(b"raypachy API:")
    after = json.loads(local_cluster.cli("status", "-o", "json").stdout)
    assert after["ray_pid"] == before["ray_pid"] and after["metadata"] == before["metadata"]


def _blocks(text: str) -> list[set[int]]:
    """For each block of ``key: value`` lines (consecutive, at one indentation), the columns
    where their values start; lines without a value (headers, empty values) are left out."""
    blocks: list[set[int]] = []
    indent = -1
    for line in text.splitlines():
        match = re.match(r"( *)([^ :]+:)( +)\S", line)
        depth = len(line) - len(line.lstrip(" "))
        if depth != indent:
            indent = depth
            blocks.append(set())
        if match:
            blocks[-1].add(match.end(3))
    return [b for b in blocks if b]


def test_status_aligns_its_fields_and_exits_1_when_nothing_runs(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    running = local_cluster.cli("status").stdout.decode()
    assert all(len(columns) == 1 for columns in _blocks(running)), running
    assert "metadata:" in running and "images:" in running
    stopped = _cli(_env(tmp_path / "nothing"), "status")
    assert stopped.returncode == 1, stopped
    assert re.search(r"^running: +False$", stopped.stdout, re.M), stopped.stdout
    assert all(len(columns) == 1 for columns in _blocks(stopped.stdout)), stopped.stdout
    as_json = _cli(_env(tmp_path / "nothing"), "status", "-o", "json")
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["running"] is False
