"""A real PostgreSQL for tests and benchmarks: Debian's server (``initdb`` + ``pg_ctl``) in a
temporary directory, listening on 127.0.0.1 only, its unix socket in that directory.

The binaries live under ``/usr/lib/postgresql/<version>/bin``; when they are missing the
package is installed with apt (as root). ``initdb`` refuses to run as root: a root test run
starts the server as an unprivileged user (``postgres`` when the package made it, else one
created here). Connections use a password (SCRAM), as a real deployment would.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raypachy._procs import pid_alive

SUPERUSER = "raypachy"
RUNNER = "raypachy-pg"  # the user created to run the server when none fits


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bin_dirs() -> list[Path]:
    base = Path("/usr/lib/postgresql")
    found = (
        [d / "bin" for d in base.iterdir() if (d / "bin" / "initdb").exists()]
        if base.exists()
        else []
    )
    return sorted(found, key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0)


def pg_bin_dir() -> Path:
    """The newest installed server's bin directory, installing Debian's package if needed."""
    if not _bin_dirs():
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql (as root)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], env=env, check=True, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], env=env, check=True,
                       capture_output=True)  # fmt: skip
    dirs = _bin_dirs()
    if not dirs:
        raise RuntimeError("apt-get installed postgresql but no /usr/lib/postgresql/*/bin/initdb")
    return dirs[-1]


def _runner() -> pwd.struct_passwd | None:
    """Who runs the server: this user, or (as root) an unprivileged one."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", RUNNER):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", RUNNER],
        check=True, capture_output=True,
    )  # fmt: skip
    return pwd.getpwnam(RUNNER)


@dataclass
class PgServer:
    base: Path  # everything of this server: data, socket, log
    bin_dir: Path
    port: int
    password: str
    runner: pwd.struct_passwd | None
    durable: bool
    pid: int = 0
    extra: tuple[str, ...] = ()  # more server options (``-c name=value``)

    @property
    def data(self) -> Path:
        return self.base / "data"

    def url(self, database: str = "postgres", password: str | None = None) -> str:
        secret = self.password if password is None else password
        return f"postgresql://{SUPERUSER}:{secret}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        user: dict[str, Any] = {}
        if self.runner is not None:
            user = {"user": self.runner.pw_uid, "group": self.runner.pw_gid, "extra_groups": []}
        env = {**os.environ, "HOME": str(self.base), "LC_ALL": "C.UTF-8"}
        return subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]], cwd=self.base, env=env, text=True,
            capture_output=True, check=check, **user,
        )  # fmt: skip

    def start(self) -> None:
        """Start (or start again, on the same port and data) and wait until it accepts."""
        options = [
            "-c listen_addresses=127.0.0.1", f"-c port={self.port}",
            f"-c unix_socket_directories={self.base}", "-c max_connections=200",
        ]  # fmt: skip
        if not self.durable:  # tests: a lost test database is no loss
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        options += self.extra
        done = self._run("pg_ctl", "start", "-w", "-t", "120", "-D", str(self.data),
                         "-l", str(self.base / "server.log"), "-o", " ".join(options),
                         check=False)  # fmt: skip
        if done.returncode != 0:
            log = (self.base / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"PostgreSQL did not start: {done.stderr.strip()}\n{log}")
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])

    def stop(self, kill: bool = False) -> None:
        """Stop the server by its pid (SIGINT: fast shutdown; ``kill``: SIGKILL, a crash)."""
        if not self.pid:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL if kill else signal.SIGINT)
        deadline = time.monotonic() + 60
        while pid_alive(self.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        self.pid = 0

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def admin(self):  # type: ignore[no-untyped-def]
        import psycopg

        return psycopg.connect(self.url(), autocommit=True)

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its URL."""
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" STRATEGY file_copy')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_pg_server(durable: bool = False, extra: list[str] | tuple[str, ...] = ()) -> PgServer:
    """A fresh server in its own temporary directory; ``durable`` keeps fsync on (benchmarks)."""
    bin_dir = pg_bin_dir()
    runner = _runner()
    base = Path(tempfile.mkdtemp(prefix="raypachy-pg-"))
    password = uuid.uuid4().hex
    if runner is not None:
        os.chown(base, runner.pw_uid, runner.pw_gid)
    (base / "pwfile").write_text(password + "\n")
    if runner is not None:
        os.chown(base / "pwfile", runner.pw_uid, runner.pw_gid)
    server = PgServer(base, bin_dir, 0, password, runner, durable, extra=tuple(extra))
    server._run("initdb", "-D", str(server.data), "-U", SUPERUSER, f"--pwfile={base / 'pwfile'}",
                "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")  # fmt: skip
    for attempt in range(3):  # a port picked as free may be taken before the server binds it
        server.port = _free_port()
        try:
            server.start()
            return server
        except RuntimeError:
            if attempt == 2:
                shutil.rmtree(base, ignore_errors=True)
                raise
    raise AssertionError("unreachable")
