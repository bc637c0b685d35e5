"""Datum batching (``transform.datum_batching: true``): one command serves a batch's datums.

The command starts once (in the same private ``/pfs`` as any command) and calls
``raypachy next datum`` (or ``raypachy.next_datum()``) for each datum: the call blocks while
the worker records the previous datum and mounts the next one, so a model the command loads
is loaded once per batch instead of once per datum. The worker hears the calls on a unix
socket (see ``raypachy.pps.nextdatum``). A datum fails when the command reports an error for
it, exits non-zero while holding it, or outlives ``datum_timeout``; a retry restarts the
command if it is gone. When no datum is left, the waiting call is told so and the command is
ended, as in Pachyderm.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from raypachy.pps.nextdatum import ENV_FILE, SOCKET_ENV
from raypachy.pps.sandbox import sandbox_argv

_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes
_EXIT_GRACE_S = 1.0  # how long a command told "no datum left" may take to exit


@dataclass(frozen=True, slots=True)
class _Call:
    conn: socket.socket
    error: str
    env_file: bool  # a shell's call: it reads the datum's variables from /pfs/.env


class BatchedCommand:
    """The command of one batch, started on the first datum (again after it exits)."""

    def __init__(
        self, cmd: list[str], stdin: bytes, env: dict[str, str], pfs_dir: str, workdir: str,
        binds: tuple[tuple[str, str], ...], on_output: Callable[[bytes], None], scratch: str,
        accepted: set[int], hide: tuple[str, ...] = (),
    ) -> None:  # fmt: skip
        self.cmd, self.stdin, self.env, self.hide = cmd, stdin, env, hide
        self.pfs_dir, self.workdir, self.binds = pfs_dir, workdir, binds
        self.on_output, self.accepted = on_output, accepted
        self.own_dir = None
        if len(os.path.join(scratch, "next.sock")) > _MAX_SOCKET_PATH:
            scratch = self.own_dir = tempfile.mkdtemp(prefix="raypachy-next-")
        self.path = os.path.join(scratch, "next.sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(8)
        self.proc: subprocess.Popen[bytes] | None = None
        self.pidfd = -1
        self.sel: selectors.BaseSelector | None = None  # the running command's fds
        self.pending: _Call | None = None  # a call waiting for its datum
        self.output = bytearray()  # what the command printed since the last datum ended
        self.timeout: float | None = None

    # --- the process -----------------------------------------------------------------------

    def _start(self) -> None:
        argv = sandbox_argv(self.cmd, self.pfs_dir, self.workdir, self.binds, self.hide)
        env = {**os.environ, **self.env, "RAYPACHY_WORKDIR": self.workdir, SOCKET_ENV: self.path}
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=env, start_new_session=True,
        )  # fmt: skip
        assert self.proc.stdin is not None and self.proc.stdout is not None
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.pidfd = os.pidfd_open(self.proc.pid)
        self.sel = selectors.DefaultSelector()  # kept for the command's life: a call per datum
        self.sel.register(self.listener, selectors.EVENT_READ, "call")
        self.sel.register(self.proc.stdout.fileno(), selectors.EVENT_READ, "output")
        self.sel.register(self.pidfd, selectors.EVENT_READ, "exit")
        threading.Thread(target=_feed, args=(self.proc.stdin, self.stdin), daemon=True).start()

    def _drain(self, fd: int) -> bool:
        """Read what the command printed so far; False at the end of its output."""
        while True:
            try:
                piece = os.read(fd, 65536)
            except (BlockingIOError, OSError):
                return True
            if not piece:
                return False
            self.output += piece
            self.on_output(piece)

    def _kill(self) -> int:
        """End the command (and all it started); its exit code."""
        proc, self.proc = self.proc, None
        if self.pending is not None:
            self.pending.conn.close()
            self.pending = None
        if proc is None:
            return 0
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        code = proc.wait()
        self._finish(proc)
        return code

    def _finish(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self._drain(proc.stdout.fileno())
        if self.sel is not None:
            self.sel.close()
            self.sel = None
        proc.stdout.close()
        os.close(self.pidfd)
        self.pidfd = -1

    def _wait_call(self, deadline: float | None) -> _Call | None:
        """The command's next ``next datum`` call; None once it exited or time ran out."""
        assert self.proc is not None and self.proc.stdout is not None and self.sel is not None
        out = self.proc.stdout.fileno()
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            for key, _ in self.sel.select(left):
                if key.data == "output" and not self._drain(out):
                    self.sel.unregister(key.fileobj)  # its output closed; it may still run
                elif key.data == "call":
                    conn, _ = self.listener.accept()
                    self._drain(out)  # what it printed before asking belongs to this datum
                    return _Call(conn, *_read_request(conn))
                elif key.data == "exit":
                    return None

    # --- one datum -------------------------------------------------------------------------

    def run_datum(self, env: dict[str, str], timeout: float | None) -> tuple[bool, str, bytes]:
        """Hand the datum now at ``/pfs`` to the command and wait until it is done with it:
        (succeeded, error, what the command printed meanwhile)."""
        self.timeout = timeout
        if self.proc is None:
            self._start()
        if self.pending is None:
            # The command starts (loads its model) before its first call: that is not the
            # datum's time, so the start gets a datum_timeout of its own.
            started = None if timeout is None else time.monotonic() + timeout
            call = self._wait_call(started)
            if call is None:
                return self._ended(started, "before asking for a datum (call `raypachy next "
                                   "datum` first, then read /pfs)")  # fmt: skip
            self.pending = call  # the first call of a command: no datum of its own to report
        deadline = None if timeout is None else time.monotonic() + timeout
        if self.pending.env_file:
            _write_env(os.path.join(self.pfs_dir, ENV_FILE), env)
        _reply(self.pending.conn, {"datum": env.get("PACH_DATUM_ID", ""), "env": env})
        self.pending = None
        call = self._wait_call(deadline)
        if call is None:
            return self._ended(deadline, "")
        self.pending = call
        log = self._take_output()
        if call.error:
            return False, f"the command failed the datum: {call.error}", log
        return True, "", log

    def _ended(self, deadline: float | None, when: str) -> tuple[bool, str, bytes]:
        """The command exited, or ran out of time, while holding a datum."""
        assert self.proc is not None
        timed_out = deadline is not None and time.monotonic() >= deadline
        code = self._kill() if timed_out else self._reaped()
        log = self._take_output()
        if timed_out:
            late = " (the command did not ask for it in that time)" if when else ""
            return False, f"datum timed out after {self.timeout or 0:g}s{late}", log
        if code in self.accepted and not when:
            return True, "", log  # it finished this datum and stopped: the next restarts it
        return False, f"command exited with code {code}" + (f" {when}" if when else ""), log

    def _reaped(self) -> int:
        proc, self.proc = self.proc, None
        assert proc is not None
        code = proc.wait()
        self._finish(proc)
        return code

    def _take_output(self) -> bytes:
        out = bytes(self.output)
        self.output.clear()
        return out

    def close(self) -> None:
        """No datum left: tell the waiting call, give the command a moment, then end it."""
        try:
            if self.pending is not None and self.proc is not None:
                with contextlib.suppress(OSError):
                    _reply(self.pending.conn, {"done": True})
                self.pending.conn.close()
                self.pending = None
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(_EXIT_GRACE_S)
            self._kill()
        finally:
            self.listener.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            if self.own_dir is not None:
                with contextlib.suppress(OSError):
                    os.rmdir(self.own_dir)


def _read_request(conn: socket.socket) -> tuple[str, bool]:
    """The error a call reports for its datum ("" when it succeeded), and whether it wants
    the next datum's variables in ``/pfs/.env``."""
    conn.settimeout(5.0)  # the client writes its one line right after connecting
    data = bytearray()
    with contextlib.suppress(OSError):
        while not data.endswith(b"\n"):
            piece = conn.recv(65536)
            if not piece:
                break
            data += piece
    conn.settimeout(None)
    try:
        request: dict[str, Any] = json.loads(data or b"{}")
    except ValueError:
        return "a malformed next datum call", False
    return str(request.get("error") or ""), bool(request.get("env_file"))


def _reply(conn: socket.socket, message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):  # a caller gone (killed) just misses its answer
        conn.sendall(json.dumps(message).encode() + b"\n")
    conn.close()


def _write_env(path: str, env: dict[str, str]) -> None:
    with open(path, "w") as f:
        f.writelines(f"{k}={v}\n" for k, v in env.items() if k != "PATH")


def _feed(pipe: Any, data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, ValueError):
        if data:
            pipe.write(data)
    with contextlib.suppress(BrokenPipeError, ValueError):
        pipe.close()
