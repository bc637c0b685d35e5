"""The client's small config file, as pachctl's ``~/.pachyderm/config.json``: what this
user's commands remember between runs (the active transaction). It lives in
``$RAYPACHY_HOME/config.json`` (``RAYPACHY_CONFIG`` names another file); mode 0600."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from raypachy._private import private_dir, private_file
from raypachy.errors import InvalidArgumentError
from raypachy.runtime.state import home_dir


def config_path() -> Path:
    given = os.environ.get("RAYPACHY_CONFIG")
    if given:
        return Path(given).expanduser()
    return home_dir() / "config.json"


def read_config() -> dict[str, Any]:
    path = config_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError as e:
        raise InvalidArgumentError(
            f"client config {path} is not JSON ({e}): fix or remove it"
        ) from None
    if not isinstance(data, dict):
        raise InvalidArgumentError(f"client config {path} holds no JSON object: fix or remove it")
    return data


def set_config(key: str, value: Any) -> None:
    """Remember ``value`` under ``key`` (None: forget it); written atomically."""
    data = read_config()
    if value is None:
        data.pop(key, None)
    else:
        data[key] = value
    path = config_path()
    private_dir(path.parent)
    tmp = path.with_name(path.name + ".tmp")
    private_file(tmp)  # 0600 before anything is in it
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
