"""The client's direct data plane: bytes straight to storage, metadata through the API.

A writer holds a lease (heartbeated on a thread) from its first chunk until the API has
registered the layer those chunks make; gc keeps everything a live lease covers.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

import httpx

from raypachy import errors
from raypachy.client.transport import Transport, raise_for

if TYPE_CHECKING:
    from raypachy.client.client import Client
    from raypachy.pfs.address import Address
    from raypachy.pfs.model import Commit
    from raypachy.storage import ChunkStore, FileData, ManifestStore
    from raypachy.storage.manifest import ManifestInfo


class Leases:
    """Write leases held by this client, heartbeated until released or registered."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.released: set[str] = set()  # registering a layer releases its lease
        self.lost: dict[str, str] = {}  # lease id -> why its heartbeats stopped

    @contextmanager
    def held(self) -> Iterator[str]:
        terms = self.transport.send("POST", "/v1/leases", json={"pid": os.getpid()}).json()
        lease_id: str = terms["id"]
        stop = threading.Event()
        threading.Thread(
            target=self._beat, args=(lease_id, terms, stop), name="raypachy-lease", daemon=True
        ).start()
        try:
            yield lease_id
        finally:
            stop.set()
            if lease_id not in self.released:
                with contextlib.suppress(errors.RaypachyError):  # it expires by itself
                    self.transport.send("DELETE", f"/v1/leases/{lease_id}")
            self.released.discard(lease_id)
            self.lost.pop(lease_id, None)

    def check(self, lease_id: str) -> None:
        """Raise if the lease's heartbeats stopped: what it covers may be gone."""
        if lease_id in self.lost:
            raise errors.LeaseExpiredError(self.lost[lease_id])

    def _beat(self, lease_id: str, terms: dict[str, Any], stop: threading.Event) -> None:
        """Heartbeat a lease until stopped. A failed beat is retried within the server's TTL;
        a lease the server no longer knows, or no contact for the whole TTL, is recorded as
        lost and the write then fails saying why."""
        every, ttl = float(terms.get("heartbeat_s", 20.0)), float(terms.get("ttl_s", 120.0))
        last_ok = time.monotonic()
        wait = every
        while not stop.wait(wait):
            try:
                response = self.transport.http.request("PUT", f"/v1/leases/{lease_id}")
                if response.status_code >= 400:
                    raise_for(response)
                last_ok, wait = time.monotonic(), every
            except errors.LeaseExpiredError as e:
                self.lost[lease_id] = e.message
                return
            except (errors.RaypachyError, httpx.HTTPError) as e:
                if time.monotonic() - last_ok > ttl:
                    self.lost[lease_id] = (
                        f"write lease {lease_id} lapsed: no contact with the API at "
                        f"{self.transport.address} for {ttl:g}s ({type(e).__name__}): write "
                        "the data again"
                    )
                    return
                wait = min(every, 2.0)


class ClientWrites:
    """What a ``Modification`` writes through: this client's storage and its API."""

    def __init__(self, client: Client) -> None:
        self.client, self.threads = client, client.threads

    @property
    def chunks(self) -> ChunkStore:
        return self.client.chunks

    @property
    def manifests(self) -> ManifestStore:
        return self.client.manifests

    def check_writable(self, addr: Address) -> None:
        self.client.check_writable(str(addr))

    def write_lease(self) -> AbstractContextManager[str]:
        return self.client.write_lease()

    def path_kind(self, addr: Address, path: str) -> str | None:
        return self.client.path_kind(str(addr), path)

    def walk_data(self, source: str, path: str) -> Iterable[tuple[str, FileData]]:
        return self.client.walk_data(source, path)

    def register_layer(self, addr: Address, layer: ManifestInfo, lease_id: str) -> Commit:
        return self.client.register_layer(str(addr), layer.id, lease_id)
