"""A service's ``external_port``: connections to it forwarded to the ``internal_port`` its
process listens on, on an event loop of its own thread (Kubernetes' NodePort, on one node).
"""

from __future__ import annotations

import asyncio
import threading
import time

BIND_S = 30.0  # how long to wait for the port of a killed predecessor to be free


class PortForward:
    """Forwards ``host:external`` to ``127.0.0.1:internal`` (a service's external port)."""

    def __init__(self, host: str, external: int, internal: int) -> None:
        self.host, self.external, self.internal = host, external, internal
        self.error = ""
        self.ready = threading.Event()
        threading.Thread(target=self._run, name="service-proxy", daemon=True).start()
        self.ready.wait(BIND_S)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        deadline = time.monotonic() + BIND_S
        while True:
            try:  # the port of a killed predecessor may take a moment to be free
                server = await asyncio.start_server(self._handle, self.host, self.external,
                                                    reuse_address=True)  # fmt: skip
                break
            except OSError as e:
                if time.monotonic() > deadline:
                    self.error = f"cannot listen on {self.host}:{self.external}: {e.strerror}"
                    self.ready.set()
                    return
                await asyncio.sleep(0.2)
        self.ready.set()
        async with server:
            await server.serve_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.internal)
        except OSError:  # the process is not listening (yet)
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        for w in (writer, up_writer):
            w.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while piece := await reader.read(65536):
            writer.write(piece)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()  # half-close: the other way may still be answering
    except (ConnectionError, OSError):
        writer.close()
