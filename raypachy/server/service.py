"""How the app reaches the operations: one async ``call`` by operation name."""

from __future__ import annotations

from typing import Any, Protocol

import anyio.to_thread

from raypachy.errors import InvalidArgumentError
from raypachy.server.operations import NAMES, Operations


class Service(Protocol):
    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any: ...

    async def wait_change(self, since: int | None, timeout: float) -> int:
        """The metadata's change counter once it differs from ``since`` (or after timeout);
        the API's one watcher calls it, so it may hold a thread of its own."""
        ...


class LocalService:
    """Operations in this process, run on worker threads (tests, single-process use)."""

    def __init__(self, ops: Operations) -> None:
        self.ops = ops

    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if name not in NAMES:
            raise InvalidArgumentError(f"unknown operation {name!r}")
        fn = getattr(self.ops, name)
        return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))

    async def wait_change(self, since: int | None, timeout: float) -> int:
        # Abandoned on cancel: a server shutting down does not wait for the long poll.
        return await anyio.to_thread.run_sync(
            self.ops.wait_change, since, timeout, abandon_on_cancel=True
        )
