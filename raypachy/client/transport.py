"""HTTP to a raypachy API: the token (and the local server's proof), errors, paging.

A token a home keeps goes only to that home's cluster; on this machine, where another user
may hold the port, the server first proves it holds the token (an HMAC of a challenge, see
``raypachy.secrets``). Remote servers get ``RAYPACHY_TOKEN`` right away. An ``https://``
address is verified with the system's CAs or ``RAYPACHY_CA_FILE`` (``raypachy.tls``).
"""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from urllib.parse import urlparse

import httpx

from raypachy import errors
from raypachy.secrets import (
    TOKEN_FILE,
    dataset_token,
    is_loopback,
    new_challenge,
    proof_matches,
    read_local_token,
    token_hash,
    token_ref,
)
from raypachy.tls import client_context, untrusted, untrusted_message

DEFAULT_ADDRESS = "http://127.0.0.1:8650"
RAW = {"Content-Type": "application/octet-stream"}  # raw bodies: never a simple request type

_BY_CODE: dict[str, type[errors.RaypachyError]] = {
    "not_found": errors.NotFoundError,
    "already_exists": errors.AlreadyExistsError,
    "conflict": errors.ConflictError,
    "invalid_argument": errors.InvalidArgumentError,
    "unavailable": errors.UnavailableError,
    "unauthenticated": errors.UnauthenticatedError,
    "forbidden": errors.PermissionDeniedError,
}


def raise_for(response: httpx.Response) -> None:
    """Raise the ``raypachy.errors`` class the server named (else its family's)."""
    try:
        body = response.json()
        message, kind, code = body["message"], body.get("type", ""), body.get("code", "")
    except (ValueError, KeyError, TypeError):
        message, kind, code = response.text or response.reason_phrase, "", ""
    cls = getattr(errors, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, errors.RaypachyError)):
        cls = _BY_CODE.get(code, errors.RaypachyError)
    raise cls(message)


def plain_http_context() -> ssl.SSLContext:
    """The TLS context of a client of an ``http://`` address: it never makes a TLS
    connection, so it trusts no CA (loading the bundle costs a CLI call ~20 ms) and would
    refuse any certificate if one were ever asked for."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _refuse_untrusted(address: str, e: httpx.TransportError) -> None:
    """Raise one line when ``e`` is the server's certificate being refused."""
    reason = untrusted(e)
    if reason is not None:
        raise errors.UnavailableError(untrusted_message(address, reason)) from None


class Transport:
    """One keep-alive HTTP connection to the API, authorised on first use."""

    def __init__(
        self,
        address: str | None,
        timeout: float,
        token: str | None,
        home: str | os.PathLike[str] | None,
        on_unreachable: Callable[[], str] | None,
    ) -> None:
        given = address or os.environ.get("RAYPACHY_ADDRESS")
        self.address = (given or DEFAULT_ADDRESS).rstrip("/")
        self._token, self._home = token, home
        # The token a home keeps goes only to that home's cluster, never to another address.
        self._any_local = home is not None or not given
        self._local = is_loopback(urlparse(self.address).hostname or "")
        remote_token = (
            None if self._local else token or dataset_token() or os.environ.get("RAYPACHY_TOKEN")
        )
        headers = {"Authorization": f"Bearer {remote_token}"} if remote_token else {}
        self._authorized = not self._local
        self._timeout = timeout
        self.http = self._client(headers)
        self._on_unreachable = on_unreachable

    def _client(self, headers: dict[str, str]) -> httpx.Client:
        # TCP_NODELAY: a POST's headers and body leave as two small segments, and Nagle's
        # algorithm would hold the body for the server's delayed ACK (~40 ms a request).
        transport = httpx.HTTPTransport(
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)], retries=2,
            verify=client_context() if self._secure() else plain_http_context(),
        )  # fmt: skip
        return httpx.Client(
            base_url=self.address, timeout=self._timeout, headers=headers, transport=transport
        )

    def _secure(self) -> bool:
        return self.address.lower().startswith("https://")

    def close(self) -> None:
        self.http.close()

    # --- who we talk to ----------------------------------------------------------------

    def _start_local(self) -> None:
        assert self._on_unreachable is not None
        was_secure = self._secure()
        self.address = self._on_unreachable().rstrip("/")
        self._on_unreachable = None
        self.http.headers.pop("Authorization", None)
        if self._secure() != was_secure:  # the TLS context follows the scheme
            self.http.close()
            self.http = self._client(dict(self.http.headers))
        self.http.base_url = httpx.URL(self.address)
        self._authorized = False  # a new server, maybe a new token: it proves itself again

    def _local_token(self) -> tuple[str | None, str]:
        """The token for the API on this machine, and where it came from."""
        if self._token:
            return self._token, "the token argument"
        if found := dataset_token():  # a dataset pipeline's Ray Data task: the pipeline's own
            return found, "the dataset pipeline's job"
        if os.environ.get("RAYPACHY_TOKEN"):
            return os.environ["RAYPACHY_TOKEN"], "RAYPACHY_TOKEN"
        from raypachy.runtime.state import home_dir, read_state

        home = home_dir(os.fspath(self._home) if self._home is not None else None)
        if not self._any_local:
            state = read_state(str(home))
            if state is None or state.api_url.rstrip("/") != self.address:
                return None, ""
        return read_local_token(home), str(home / TOKEN_FILE)

    def _authorize(self) -> None:
        """Send the local token only to a server that proves it holds it."""
        token, source = self._local_token()
        if not token and self._on_unreachable is not None:
            # `up` writes the token: with none, raypachy is not running from this home, and
            # whatever answers on the port is not it. Start it (or learn who holds the port).
            self._start_local()
            token, source = self._local_token()
        if token:
            challenge = new_challenge()
            ref = token_ref(token_hash(token))  # names a user's token without telling it
            reply = self.http.get("/healthz", params={"challenge": challenge, "token_ref": ref})
            try:
                proof = reply.json().get("proof") if reply.status_code == 200 else None
            except (ValueError, AttributeError):
                proof = None
            if not proof_matches(token, challenge, proof):
                raise errors.UnavailableError(
                    f"the process answering at {self.address} is not the raypachy API that "
                    f"holds the token from {source} (it could not prove it): the token was not "
                    "sent; stop that process, or restart raypachy (`raypachy down; raypachy up`)"
                )
            self.http.headers["Authorization"] = f"Bearer {token}"
        self._authorized = True

    def _unreachable(self, e: httpx.TransportError) -> None:
        _refuse_untrusted(self.address, e)  # a server is there: never start another one
        if self._on_unreachable is None:
            raise errors.UnavailableError(
                f"the raypachy API at {self.address} is not reachable ({type(e).__name__}): "
                "start it with `raypachy up`, or set RAYPACHY_ADDRESS"
            ) from None
        self._start_local()

    # --- requests ----------------------------------------------------------------------

    def send(self, method: str, path: str | httpx.URL, **kw: Any) -> httpx.Response:
        """One request; an error answer is raised as its ``raypachy.errors`` class."""
        try:
            if not self._authorized:
                self._authorize()
            response = self.http.request(method, path, **kw)
        except httpx.TransportError as e:
            self._unreachable(e)
            return self.send(method, path, **kw)
        if response.status_code == 401 and self._local and "Authorization" not in self.http.headers:
            self._authorized = False  # the token may have been written since: read it once more
            self._authorize()
            if "Authorization" in self.http.headers:
                response = self.http.request(method, path, **kw)
        if response.status_code >= 400:
            raise_for(response)
        return response

    @contextmanager
    def stream(self, method: str, path: str, **kw: Any) -> Iterator[httpx.Response]:
        """A response read as it arrives (the same checks as ``send``)."""
        with ExitStack() as stack:
            try:
                if not self._authorized:
                    self._authorize()
                response = stack.enter_context(self.http.stream(method, path, **kw))
            except httpx.TransportError as e:
                _refuse_untrusted(self.address, e)
                raise
            if response.status_code >= 400:
                response.read()
                raise_for(response)
            yield response

    def get_all(self, path: str, limit: int | None, params: dict[str, Any]) -> list[Any]:
        """Every entry of a paged listing (at most ``limit``), following its next links."""
        out: list[Any] = []
        query: dict[str, Any] | None = params if limit is None else {**params, "limit": limit}
        target: str | httpx.URL = path
        while True:
            response = self.send("GET", target, params=query)
            out.extend(response.json())
            link = response.links.get("next")
            if link is None or (limit is not None and len(out) >= limit):
                return out[:limit]
            target, query = httpx.URL(link["url"]), None  # the link holds the whole query
            if limit is not None:
                target = target.copy_set_param("limit", limit - len(out))
