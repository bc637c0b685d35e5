"""How the app reaches the operations: one async ``call`` by operation name."""

from __future__ import annotations

from typing import Any, Protocol

import anyio.to_thread

from raypachy.errors import InvalidArgumentError
from raypachy.server.operations import NAMES, Operations


class Service(Protocol):
    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any: ...


class LocalService:
    """Operations in this process, run on worker threads (tests, single-process use)."""

    def __init__(self, ops: Operations) -> None:
        self.ops = ops

    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if name not in NAMES:
            raise InvalidArgumentError(f"unknown operation {name!r}")
        fn = getattr(self.ops, name)
        return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))
