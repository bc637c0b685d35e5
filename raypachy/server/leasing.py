"""Write leases as the API issues them: to its callers, as it sees them, for a bounded time.

A caller cannot say whose lease it takes. A process of the server's own host that names its
pid gets a lease that ends when that process dies, but only once the server has checked
(through ``/proc``) that this process holds the caller's end of the connection; any other
caller's lease lives by its heartbeats alone. Every API lease also ends ``LEASE_MAX_S``
after it was issued, so no caller keeps gc out for longer.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Request

from raypachy.errors import InvalidArgumentError
from raypachy.pfs import leases
from raypachy.server.service import Service

_T = TypeVar("_T")


def _proc_address(ip: str, port: int) -> str:
    """``ip:port`` as ``/proc/net/tcp*`` writes it (hex, each 32-bit word in host order)."""
    addr = ipaddress.ip_address(ip)
    raw = addr.packed
    words = [raw[i : i + 4] for i in range(0, len(raw), 4)]
    hexed = "".join(w[::-1].hex().upper() for w in words)
    return f"{hexed}:{port:04X}"


def _socket_inode(local: tuple[str, int], remote: tuple[str, int]) -> str | None:
    """The inode of the TCP socket with this local and remote address, if it is here."""
    wanted = []
    for ip, port in (local, remote):
        text = [_proc_address(ip, port)]
        addr = ipaddress.ip_address(ip)
        if isinstance(addr, ipaddress.IPv4Address):  # also as an IPv4-mapped IPv6 address
            text.append(_proc_address(f"::ffff:{ip}", port))
        wanted.append(text)
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[1] in wanted[0] and fields[2] in wanted[1]:
                return fields[9]
    return None


def holds_connection(pid: int, peer: tuple[str, int], server: tuple[str, int]) -> bool:
    """True when process ``pid`` of this host has the caller's end of this TCP connection."""
    inode = _socket_inode(peer, server)
    if inode is None:
        return False
    target = f"socket:[{inode}]"
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                return True
    return False


def lease_holder(request: Request, pid: int | None, host: str | None = None) -> tuple[str, int]:
    """(host, pid) to record for a caller's lease: this host and ``pid`` when the check above
    passes, else the caller's address with no process (heartbeats alone keep it).

    A caller that says it is a process of this host (``host`` is this host's name) and
    cannot be checked is refused: only the server says who holds a lease.
    """
    here = socket.gethostname()
    peer = request.client.host if request.client else ""
    server = request.scope.get("server")
    try:
        loopback = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        loopback = False
    if pid and host in (None, here):
        if loopback and server and request.client is not None:
            peer_end = (peer, request.client.port)
            if holds_connection(pid, peer_end, (str(server[0]), int(server[1]))):
                return here, pid
        if host == here:
            raise InvalidArgumentError(
                f"cannot check that process {pid} of {here} is the caller: leave out host and "
                "pid (the lease then lives by its heartbeats)"
            )
    return f"api-caller:{peer or 'unknown'}", 0


async def caller_lease(
    service: Service, request: Request, pid: int | None, host: str | None = None
) -> dict[str, Any]:
    """A lease for an API caller, with what it needs to keep it: how often to heartbeat, and
    how long a silence the server forgives."""
    host, holder = lease_holder(request, pid, host)
    lease_id = await service.call("grant_lease", host, holder, leases.LEASE_MAX_S)
    return {"id": lease_id, "heartbeat_s": leases.beat_interval(), "ttl_s": leases.LEASE_TTL_S}


async def own_lease(service: Service) -> str:
    """A lease for work this server process does itself (an upload it chunks and writes)."""
    lease_id: str = await service.call(
        "grant_lease", socket.gethostname(), os.getpid(), leases.LEASE_MAX_S
    )
    return lease_id


async def heartbeating(service: Service, lease_id: str, fn: Callable[[], _T]) -> _T:
    """Run ``fn`` on a worker thread while heartbeating ``lease_id`` (a long write keeps its
    lease; a lapsed one makes the registration that follows fail)."""

    async def beat() -> None:
        while True:
            await anyio.sleep(leases.beat_interval())
            with contextlib.suppress(Exception):
                await service.call("heartbeat_lease", lease_id)

    done: list[_T] = []
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(beat)
        try:
            done.append(await anyio.to_thread.run_sync(fn))
        finally:
            tasks.cancel_scope.cancel()
    return done[0]
