"""Live jobs as server-sent events: one poller per app, shared by every open page.

While someone listens, the poller long-polls the metadata's change counter and, each time it
moves (at most twice a second), asks for the jobs that can still move (``list_recent_jobs``:
the newest ones, the running ones, the ones that just ended); it pushes each job whose state
or counts changed to every subscriber. An idle cluster costs one long poll per ten seconds.
A new subscriber first gets a snapshot, so nothing that happened before it connected is
missed. Each subscriber sees only the jobs of the pipelines it may read (its ``sight``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from raypachy.pachd.access import sift
from raypachy.pachd.visibility import Sight
from raypachy.pfs.model import to_json
from raypachy.server.service import Service

log = logging.getLogger("raypachy.server.console")

POLL_S = 0.5  # at most two job queries a second, however busy the metadata
WATCH_S = 10.0  # the long poll of the change counter
KEEPALIVE_S = 15.0
STREAM_S = 600.0  # a stream ends after this; the page reconnects (bounds a lost stream)
WINDOW = 200  # the newest jobs the poller watches (running ones are always watched)
QUEUE = 1000  # events a subscriber may lag behind before it is dropped


def sse(event: str, data: Any) -> str:
    """One server-sent event."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _key(job: dict[str, Any]) -> tuple[str, str]:
    return job["pipeline"], job["id"]


class JobFeed:
    def __init__(self, service: Service, poll_s: float = POLL_S) -> None:
        self.service = service
        self.poll_s = poll_s
        self.subscribers: set[asyncio.Queue[tuple[str, Any]]] = set()
        self._task: asyncio.Task[None] | None = None

    async def jobs(self, limit: int = WINDOW) -> list[dict[str, Any]]:
        jobs: list[dict[str, Any]] = to_json(await self.service.call("list_recent_jobs", limit))
        return jobs

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[tuple[str, Any]]]:
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(QUEUE)
        self.subscribers.add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._poll())
        try:
            yield queue
        finally:
            self.subscribers.discard(queue)

    async def _poll(self) -> None:
        last: dict[tuple[str, str], dict[str, Any]] | None = None
        version: int | None = None
        while self.subscribers:
            try:
                seen = version
                version = await self.service.wait_change(version, WATCH_S)
                if version == seen and last is not None:
                    continue  # nothing changed in the metadata: nothing to ask
                jobs = await self.jobs()
            except Exception as e:  # the metadata side restarting: pages keep their stream
                log.warning("job feed: %s", e)
                await asyncio.sleep(self.poll_s)
                continue
            now = {_key(j): j for j in jobs}
            if last is not None:
                for key, job in now.items():
                    if last.get(key) != job:
                        self._publish(("job", job))
            last = now
            await asyncio.sleep(self.poll_s)

    def _publish(self, event: tuple[str, Any]) -> None:
        for queue in list(self.subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:  # a reader that stopped reading: let it go
                self.subscribers.discard(queue)

    async def stream(
        self, limit: int, alive: Any, stream_s: float = STREAM_S, sight: Sight | None = None
    ) -> AsyncIterator[str]:
        """The events of one page: a snapshot, then each change (``alive()``: still there?),
        of the jobs ``sight`` sees (None: all)."""
        loop = asyncio.get_running_loop()
        async with self.subscribe() as queue:
            jobs = sift("list_recent_jobs", await self.jobs(limit), sight)
            yield sse("snapshot", {"jobs": jobs})
            deadline = loop.time() + stream_s
            while loop.time() < deadline and queue in self.subscribers:
                try:
                    event, data = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    if not await alive():
                        return
                    yield ": keep-alive\n\n"
                    continue
                if event == "job" and not sift("list_recent_jobs", [data], sight):
                    continue  # a job of a pipeline this page's user may not read
                yield sse(event, data)
