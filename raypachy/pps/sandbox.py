"""Running a command transform so that it sees ``/pfs/<input>`` and writes ``/pfs/out``.

As in Pachyderm, the command reads its datum at ``/pfs``. Each datum gets a private mount
namespace in which its scratch directory is bind-mounted at ``/pfs``, so datums running side
by side on one node never see each other's files. As root this uses ``unshare`` (util-linux);
otherwise ``bwrap`` (bubblewrap) when installed. With neither, command transforms are refused
with a message saying what to install; Python transforms never need this.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass

from raypachy.errors import UnavailableError

PFS_ROOT = "/pfs"


@dataclass(frozen=True, slots=True)
class CommandResult:
    exit_code: int
    output: bytes
    timed_out: bool


def _argv(cmd: list[str], pfs_dir: str, workdir: str) -> list[str]:
    if os.geteuid() == 0 and shutil.which("unshare"):
        os.makedirs(PFS_ROOT, exist_ok=True)  # an empty mount point; data is only bound privately
        script = 'mount --bind "$0" /pfs && cd "$RAYPACHY_WORKDIR" && exec "$@"'
        return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script,
                pfs_dir, *cmd]  # fmt: skip
    if shutil.which("bwrap") and os.path.isdir(PFS_ROOT):
        return ["bwrap", "--dev-bind", "/", "/", "--bind", pfs_dir, PFS_ROOT, "--chdir", workdir,
                *cmd]  # fmt: skip
    raise UnavailableError(
        "command transforms need a private mount namespace for /pfs: run the worker as root "
        "(unshare), or install bubblewrap and create an empty /pfs; Python transforms work as is"
    )


def run_command(
    cmd: list[str],
    stdin: bytes,
    env: dict[str, str],
    pfs_dir: str,
    workdir: str,
    timeout: float | None,
) -> CommandResult:
    """Run ``cmd`` with ``pfs_dir`` seen at ``/pfs``; output is stdout and stderr together."""
    argv = _argv(cmd, pfs_dir, workdir)
    full_env = {**os.environ, **env, "RAYPACHY_WORKDIR": workdir}
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=full_env,
        start_new_session=True,  # so a timeout can kill everything the command started
    )
    try:
        output, _ = proc.communicate(stdin, timeout=timeout)
        return CommandResult(proc.returncode, output, False)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        return CommandResult(-signal.SIGKILL, output, True)
    except BaseException:  # interrupted (a restarted datum, a stopped job): the command goes too
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
