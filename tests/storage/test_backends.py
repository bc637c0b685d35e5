"""One conformance suite, run against every backend: memory, file and S3 (SeaweedFS)."""

from __future__ import annotations

import pytest

from raypachy.errors import InvalidArgumentError, ObjectMissingError
from raypachy.storage import open_backend


def test_put_get_roundtrip(storage_uri: str) -> None:
    b = open_backend(storage_uri)
    b.put("a/b/c", b"hello")
    assert b.get("a/b/c") == b"hello"
    assert b.exists("a/b/c")
    assert not b.exists("a/b/d")


def test_put_replaces_whole_value(storage_uri: str) -> None:
    b = open_backend(storage_uri)
    b.put("k", b"x" * 1000)
    b.put("k", b"short")
    assert b.get("k") == b"short"


def test_empty_and_binary_values(storage_uri: str) -> None:
    b = open_backend(storage_uri)
    blob = bytes(range(256)) * 64
    b.put("empty", b"")
    b.put("bin", blob)
    assert b.get("empty") == b""
    assert b.get("bin") == blob


def test_get_missing_is_object_missing(storage_uri: str) -> None:
    b = open_backend(storage_uri)
    with pytest.raises(ObjectMissingError, match="missing"):
        b.get("nope/nothing")


def test_list_by_prefix(storage_uri: str) -> None:
    b = open_backend(storage_uri)
    for key in ("chunks/aa/1", "chunks/ab/2", "manifests/aa/3", "other"):
        b.put(key, b"v")
    assert sorted(b.list("chunks/")) == ["chunks/aa/1", "chunks/ab/2"]
    assert sorted(b.list("manifests/")) == ["manifests/aa/3"]
    assert sorted(b.list()) == ["chunks/aa/1", "chunks/ab/2", "manifests/aa/3", "other"]


def test_delete_is_idempotent(storage_uri: str) -> None:
    b = open_backend(storage_uri)
    b.put("d", b"v")
    b.delete("d")
    b.delete("d")
    assert not b.exists("d")
    assert list(b.list()) == []


@pytest.mark.parametrize("key", ["../escape", "a/../../b", "/abs", "a//b", "", "a\x00b", "a/./b"])
def test_keys_cannot_escape(storage_uri: str, key: str) -> None:
    b = open_backend(storage_uri)
    with pytest.raises(InvalidArgumentError, match="invalid storage key"):
        b.put(key, b"v")


def test_sync_and_large_value(storage_uri: str) -> None:
    b = open_backend(storage_uri)
    blob = bytes(5 << 20)
    b.put("big", blob)
    b.sync()
    assert b.get("big") == blob


def test_read_prefix_reads_the_head_and_tells_the_size(storage_uri: str) -> None:
    b = open_backend(storage_uri)
    b.put("blob", bytes(range(100)))
    b.put("tiny", b"ab")
    b.put("empty", b"")
    assert b.read_prefix("blob", 10) == (bytes(range(10)), 100)
    assert b.read_prefix("tiny", 10) == (b"ab", 2)
    assert b.read_prefix("empty", 4) == (b"", 0)
    with pytest.raises(ObjectMissingError, match="missing"):
        b.read_prefix("nope", 4)


def test_unknown_scheme_is_clear() -> None:
    with pytest.raises(InvalidArgumentError, match="unknown storage URI scheme"):
        open_backend("ftp://host/x")
