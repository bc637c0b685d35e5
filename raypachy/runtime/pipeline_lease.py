"""A controller's hold on its pipeline's lease (``raypachy.pfs.controller_leases``).

A controller takes the lease before it claims a job and renews it while the job runs, so
that of several control planes on one database only one drives the pipeline. When a renewal
finds the lease taken (it lapsed, and another control plane took it over), the controller
stops driving the job at once: ``on_lost`` cancels its batches, and its later calls about
the job are refused (the other side also deleted its writer leases, so the database refuses
its checkpoints and results too).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from raypachy.pfs.controller_leases import Holder, lease_ttl


class PipelineLease:
    """``call(name, *args)`` asks the metadata side (riding out its restarts)."""

    def __init__(self, pipeline: str, call: Callable[..., Any]) -> None:
        self.pipeline = pipeline
        self.call = call
        self.ttl_s = lease_ttl()
        self.holder: Holder | None = None
        self.lost = ""  # why the lease was lost during the job being run ("" while held)
        self.confirmed = 0.0  # when the lease was last taken or renewed (monotonic)

    @property
    def retry_s(self) -> float:
        """How often a controller without the lease asks again whether it lapsed."""
        return max(self.ttl_s / 3, 0.2)

    def hold(self) -> bool:
        """Take (or keep) the lease; False while another controller holds it.

        Taken or renewed less than ``retry_s`` ago (a third of its life), it is kept without
        asking: at least two thirds of its life are left, and a job renews it while it runs.
        """
        if self.holder is not None and time.monotonic() - self.confirmed < self.retry_s:
            return True
        asked = time.monotonic()
        holder = self.call("take_controller_lease", self.pipeline, socket.gethostname(),
                           os.getpid())  # fmt: skip
        self.holder = holder
        if holder is not None:
            self.lost = ""
            self.confirmed = asked
        return holder is not None

    def release(self) -> None:
        holder, self.holder = self.holder, None
        if holder is not None:
            self.call("release_controller_lease", self.pipeline, holder)

    @contextmanager
    def kept(self, on_lost: Callable[[str], None]) -> Iterator[None]:
        """Renew the lease every third of its life during the block; ``on_lost(why)`` once
        a renewal finds it taken, or none got through for a whole life."""
        stop = threading.Event()
        thread = threading.Thread(target=self._renew, args=(stop, on_lost), daemon=True,
                                  name=f"lease:{self.pipeline}")  # fmt: skip
        thread.start()
        try:
            yield
        finally:
            stop.set()

    def _renew(self, stop: threading.Event, on_lost: Callable[[str], None]) -> None:
        last_ok = time.monotonic()
        while not stop.wait(self.retry_s):
            holder = self.holder
            if holder is None:
                return
            asked = time.monotonic()
            try:
                kept = bool(self.call("renew_controller_lease", self.pipeline, holder))
            except Exception as e:  # the metadata side restarting: the lease may still hold
                if time.monotonic() - last_ok <= self.ttl_s:
                    continue
                why = f"no renewal got through for {self.ttl_s:g}s ({type(e).__name__})"
            else:
                if kept:
                    last_ok = self.confirmed = asked
                    continue
                why = "its lease lapsed and another control plane took the pipeline over"
            self.lost = why
            self.holder = None
            on_lost(why)
            return
