"""The HTTP transport's own costs."""

from __future__ import annotations

import ssl

import pytest

from raypachy.client.transport import Transport


def test_clients_share_one_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading the CA bundle costs ~0.1 s: a process pays it once, not once per client."""
    loads = []
    real = ssl.SSLContext.load_verify_locations

    def counted(self: ssl.SSLContext, *args: object, **kwargs: object) -> None:
        loads.append(args)
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counted)
    first = Transport("https://example.invalid:8650", 5.0, "t", None, None)
    seen = len(loads)
    others = [Transport(f"http://127.0.0.1:{p}", 5.0, None, None, None) for p in (1, 2, 3)]
    assert len(loads) == seen  # the later clients loaded nothing
    for t in [first, *others]:
        t.close()


def test_a_plain_http_client_loads_no_ca_bundle_and_trusts_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The CLI talks plain HTTP to the local cluster: loading CAs would cost every call
    ~20 ms; its context, never used, would refuse any certificate."""
    from raypachy.client.transport import plain_http_context

    loads = []
    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", lambda *a, **k: loads.append(a))
    monkeypatch.setattr(ssl.SSLContext, "load_default_certs", lambda *a, **k: loads.append(a))
    Transport("http://127.0.0.1:1", 5.0, None, None, None).close()
    assert loads == []
    context = plain_http_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.get_ca_certs() == []
