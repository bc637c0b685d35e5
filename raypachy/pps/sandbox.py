"""Running a command transform so that it sees ``/pfs/<input>`` and writes ``/pfs/out``.

As in Pachyderm, the command reads its datum at ``/pfs``. Each datum gets a private mount
namespace in which its scratch directory is bind-mounted at ``/pfs``, so datums running side
by side on one node never see each other's files. As root this uses ``unshare`` (util-linux);
otherwise ``bwrap`` (bubblewrap) when installed. With neither, command transforms are refused
with a message saying what to install; Python transforms never need this. Directories the
command must not see (``hide``: raypachy's home, which holds the cluster's token and the
metadata, once the datum acts as its pipeline) are covered by an empty tmpfs in that
namespace.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from raypachy.errors import UnavailableError

PFS_ROOT = "/pfs"


@dataclass(frozen=True, slots=True)
class CommandResult:
    exit_code: int
    output: bytes
    timed_out: bool


@dataclass(frozen=True, slots=True)
class HiddenHome:
    """raypachy's home on a node (it holds the cluster's token and the metadata), which a
    command datum acting as its pipeline does not see, and the API's address, which the
    command's client would otherwise have read there."""

    path: str
    api_address: str

    def hides(self, *inside: str) -> tuple[str, ...]:
        """What to cover: the home, unless it does not exist here (a KubeRay worker) or holds
        one of the datum's own directories (``RAYPACHY_SCRATCH`` set inside it)."""
        home = os.path.realpath(self.path)
        if not os.path.isdir(home):
            return ()
        for path in inside:
            if os.path.commonpath([home, os.path.realpath(path)]) == home:
                return ()
        return (home,)


def sandbox_argv(
    cmd: list[str], pfs_dir: str, workdir: str, binds: tuple[tuple[str, str], ...] = (),
    hide: tuple[str, ...] = (),
) -> list[str]:  # fmt: skip
    """The argv running ``cmd`` with ``pfs_dir`` seen at ``/pfs``; ``binds``: more (source,
    mount point) pairs seen read-only by the command only (a pipeline's secret files at their
    ``mount_path``); ``hide``: directories it sees empty (none may hold ``pfs_dir``)."""
    if os.geteuid() == 0 and shutil.which("unshare"):
        os.makedirs(PFS_ROOT, exist_ok=True)  # an empty mount point; data is only bound privately
        covered = "".join(f"mount -t tmpfs -o size=1m,mode=0700 tmpfs {shlex.quote(d)} && "
                          for d in hide)  # fmt: skip
        extra = "".join(
            f"mkdir -p {shlex.quote(dst)} && mount --bind {shlex.quote(src)} {shlex.quote(dst)} "
            f"&& mount -o remount,bind,ro {shlex.quote(dst)} && "
            for src, dst in binds
        )
        script = f'{covered}mount --bind "$0" /pfs && {extra}cd "$RAYPACHY_WORKDIR" && exec "$@"'
        return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script,
                pfs_dir, *cmd]  # fmt: skip
    if shutil.which("bwrap") and os.path.isdir(PFS_ROOT):
        more = [arg for src, dst in binds for arg in ("--ro-bind", src, dst)]
        empty = [arg for d in hide for arg in ("--tmpfs", d)]
        return ["bwrap", "--dev-bind", "/", "/", *empty, "--bind", pfs_dir, PFS_ROOT, *more,
                "--chdir", workdir, *cmd]  # fmt: skip
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
    on_output: Callable[[bytes], None] | None = None,
    binds: tuple[tuple[str, str], ...] = (),
    hide: tuple[str, ...] = (),
) -> CommandResult:
    """Run ``cmd`` with ``pfs_dir`` seen at ``/pfs``; output is stdout and stderr together,
    also handed to ``on_output`` piece by piece as the command writes it."""
    argv = sandbox_argv(cmd, pfs_dir, workdir, binds, hide)
    full_env = {**os.environ, **env, "RAYPACHY_WORKDIR": workdir}
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=full_env,
        start_new_session=True,  # so a timeout can kill everything the command started
    )
    assert proc.stdin is not None and proc.stdout is not None
    feeder = None
    output = bytearray()
    try:
        if len(stdin) <= _PIPE_BYTES:  # fits in the pipe: written at once, never blocks
            _feed(proc.stdin, stdin)
        else:
            feeder = threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True)
            feeder.start()
        timed_out = not _read_until_eof(proc.stdout.fileno(), output, timeout, on_output)
        if timed_out:
            os.killpg(proc.pid, signal.SIGKILL)
            output += proc.stdout.read()
    except BaseException:  # interrupted (a restarted datum, a stopped job): the command goes too
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.stdout.close()
        proc.wait()
        raise
    proc.stdout.close()
    proc.wait()
    if feeder is not None:
        feeder.join()
    code = -signal.SIGKILL if timed_out else proc.returncode
    return CommandResult(code, bytes(output), timed_out)


_PIPE_BYTES = 65536


def _feed(pipe: IO[bytes], data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError):  # the command need not read its stdin
        if data:
            pipe.write(data)
    with contextlib.suppress(BrokenPipeError):
        pipe.close()


def _read_until_eof(
    fd: int, output: bytearray, timeout: float | None, on_output: Callable[[bytes], None] | None
) -> bool:
    """Read ``fd`` into ``output`` until its end (True) or until ``timeout`` (False)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            if not selector.select(left):
                continue
            piece = os.read(fd, 65536)
            if not piece:
                return True
            output += piece
            if on_output is not None:
                on_output(piece)
