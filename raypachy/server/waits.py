"""Waits that hold no thread: commit, job and commit-set waits and subscriptions.

A waiting request is a coroutine on the API's event loop. It checks its condition with one
short operation, then sleeps until the metadata changes. One watcher per API server
long-polls the metadata side's change counter (``Service.wait_change``: one thread there,
however many waiters) and wakes every waiter when it moves; each waiter then checks again.
A client (by address) may hold at most ``RAYPACHY_MAX_WAITS_PER_CLIENT`` waits at once; one
more is a 429.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import Request

from raypachy.errors import TooManyRequestsError, WaitTimeoutError
from raypachy.limits import max_waits_per_client
from raypachy.server.service import Service

#: The longest one request waits; clients loop for longer waits.
MAX_WAIT_S = 30.0
#: How long the watcher's long poll lasts.
WATCH_S = 10.0
#: Waiters check again at least this often, whatever the watcher says (belt and braces).
RECHECK_S = 5.0

log = logging.getLogger("raypachy.server")

Check = Callable[[], Awaitable[tuple[bool, Any]]]


def wait_seconds(timeout: float | None) -> float:
    return MAX_WAIT_S if timeout is None else min(timeout, MAX_WAIT_S)


def client_of(request: Request) -> str:
    """Who holds a wait: the client's address."""
    return request.client.host if request.client else "unknown"


class Waits:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.version: int | None = None  # the metadata's change counter, as last heard
        self.open: Counter[str] = Counter()  # waits held, per client address
        self._changed: asyncio.Condition | None = None
        self._watcher: asyncio.Task[None] | None = None

    @property
    def count(self) -> int:
        return sum(self.open.values())

    @contextlib.asynccontextmanager
    async def _slot(self, client: str) -> AsyncIterator[None]:
        cap = max_waits_per_client()
        if self.open[client] >= cap:
            raise TooManyRequestsError(
                f"client {client} already holds {cap} waits (RAYPACHY_MAX_WAITS_PER_CLIENT): "
                "let some end first"
            )
        self.open[client] += 1
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch())
        try:
            yield
        finally:
            self.open[client] -= 1
            if not self.open[client]:
                del self.open[client]

    async def until(
        self, client: str, check: Check, timeout: float, timed_out: Callable[[Any], str]
    ) -> Any:
        """``check()`` -> (done, value) until done, checking again on each change;
        ``WaitTimeoutError(timed_out(value))`` after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self._slot(client):
            if self.version is None:  # the watcher's first answer: checking before it is wasted
                await self._after(None, min(timeout, RECHECK_S))
            while True:
                seen = self.version
                done, value = await check()
                if done:
                    return value
                left = deadline - loop.time()
                if left <= 0:
                    raise WaitTimeoutError(timed_out(value))
                await self._after(seen, min(left, RECHECK_S))

    async def next_version(self, client: str, since: int | None, timeout: float) -> int | None:
        """The change counter once it differs from ``since`` (or when ``timeout`` ends)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self._slot(client):
            while self.version is None or self.version == since:
                left = deadline - loop.time()
                if left <= 0:
                    break
                await self._after(self.version, left)
        return self.version

    async def _after(self, seen: int | None, timeout: float) -> None:
        """Sleep until the version moves past ``seen``, at most ``timeout`` seconds."""
        if self._changed is None:
            self._changed = asyncio.Condition()
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self.version != seen), timeout
                )

    async def _watch(self) -> None:
        """Long-poll the metadata's change counter while anyone waits; wake them on a change."""
        while self.open:
            try:
                version = await self.service.wait_change(self.version, WATCH_S)
            except Exception as e:  # the metadata side restarting: waiters re-check anyway
                log.warning("waiting for metadata changes failed: %s", e)
                await asyncio.sleep(0.5)
                continue
            if version != self.version:
                self.version = version
                if self._changed is None:
                    self._changed = asyncio.Condition()
                async with self._changed:
                    self._changed.notify_all()
