"""``raypachy.Client``: the API over HTTP (``raypachy.connect()`` finds the cluster)."""

from __future__ import annotations

from raypachy.client.client import Client, connect
from raypachy.client.transport import DEFAULT_ADDRESS

__all__ = ["DEFAULT_ADDRESS", "Client", "connect"]
