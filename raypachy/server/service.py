"""How a front door reaches pachd: one async ``call`` by verb name (``raypachy.pachd.verbs``)."""

from __future__ import annotations

from typing import Any, Protocol

import anyio.to_thread

from raypachy.errors import InvalidArgumentError
from raypachy.pachd import Pachd
from raypachy.pachd.verbs import NAMES


class Service(Protocol):
    async def call(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Run verb ``name`` of pachd with these arguments."""
        ...

    async def wait_change(self, since: int | None, timeout: float) -> int:
        """The metadata's change counter once it differs from ``since`` (or after timeout);
        the API's one watcher calls it, so it may hold a thread of its own."""
        ...


class LocalService:
    """A ``Pachd`` in this process, its verbs run on worker threads (tests, one process)."""

    def __init__(self, pachd: Pachd) -> None:
        self.pachd = pachd

    async def call(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        if name not in NAMES:
            raise InvalidArgumentError(f"unknown operation {name!r}")
        fn = getattr(self.pachd, name)
        return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))

    async def wait_change(self, since: int | None, timeout: float) -> int:
        # Abandoned on cancel: a server shutting down does not wait for the long poll.
        return await anyio.to_thread.run_sync(
            self.pachd.wait_change, since, timeout, abandon_on_cancel=True
        )
