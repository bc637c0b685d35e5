"""The client config file (the active transaction, as pachctl's config.json keeps it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from raypachy.client.config import config_path, read_config, set_config
from raypachy.errors import InvalidArgumentError


def test_values_are_kept_in_a_private_file_and_forgotten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAYPACHY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RAYPACHY_CONFIG", raising=False)
    assert read_config() == {} and config_path() == tmp_path / "home" / "config.json"
    set_config("active_transaction", "a" * 32)
    set_config("other", 1)
    assert read_config() == {"active_transaction": "a" * 32, "other": 1}
    assert config_path().stat().st_mode & 0o777 == 0o600
    set_config("active_transaction", None)
    assert read_config() == {"other": 1}
    monkeypatch.setenv("RAYPACHY_CONFIG", str(tmp_path / "elsewhere.json"))
    assert read_config() == {}


def test_a_broken_file_is_named_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "c.json"
    monkeypatch.setenv("RAYPACHY_CONFIG", str(broken))
    broken.write_text("{not json")
    with pytest.raises(InvalidArgumentError, match=f"client config {broken} is not JSON"):
        read_config()
    broken.write_text("[1]")
    with pytest.raises(InvalidArgumentError, match="holds no JSON object"):
        set_config("k", "v")
    assert broken.read_text() == "[1]"  # nothing written over it
