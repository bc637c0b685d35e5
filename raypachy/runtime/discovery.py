"""Finding the raypachy API from inside a Ray cluster (a Ray job, a notebook on the head)."""

from __future__ import annotations

import logging


def api_url_on_ray(address: str = "auto") -> str | None:
    """The API URL of the control plane on the Ray cluster at ``address``, if it runs there."""
    import ray

    from raypachy.runtime.names import API_ACTOR, NAMESPACE

    if not ray.is_initialized():
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False,
                 logging_level=logging.WARNING)  # fmt: skip
    try:
        api = ray.get_actor(API_ACTOR, namespace=NAMESPACE)
    except ValueError:
        return None
    info = ray.get(api.info.remote(), timeout=30)
    host = "127.0.0.1" if info["host"] in ("0.0.0.0", "::", "127.0.0.1") else info["host"]
    return f"{'https' if info.get('tls') else 'http'}://{host}:{info['port']}"
