"""Glob rules, table-driven (DESIGN section 5)."""

from __future__ import annotations

import pytest

from raypachy.errors import InvalidGlobError
from raypachy.pfs import glob_match
from raypachy.pfs.glob import clean_pattern

PATHS = ["/", "/a", "/a/b", "/a/b/c.txt", "/a/x.csv", "/d.csv", "/e"]


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ("/", ["/"]),
        ("", ["/"]),
        ("/*", ["/a", "/d.csv", "/e"]),
        ("*", ["/a", "/d.csv", "/e"]),
        ("/*/", ["/a", "/d.csv", "/e"]),
        ("/*/*", ["/a/b", "/a/x.csv"]),
        ("/**", ["/a", "/a/b", "/a/b/c.txt", "/a/x.csv", "/d.csv", "/e"]),
        ("/**.csv", ["/a/x.csv", "/d.csv"]),
        ("/*.csv", ["/d.csv"]),
        ("/a/?", ["/a/b"]),
        ("/[ad]*", ["/a", "/d.csv"]),
        ("/[!ad]*", ["/e"]),
        ("/{a,e}", ["/a", "/e"]),
        ("/a/b/c.txt", ["/a/b/c.txt"]),
    ],
)
def test_glob_table(pattern: str, matches: list[str]) -> None:
    assert [p for p in PATHS if glob_match(pattern, p)] == matches


def test_capture_groups() -> None:
    m = glob_match("/STOREID(*).txt", "/STOREID42.txt")
    assert m is not None and m.group(1) == "42"
    m2 = glob_match("/(*)_(*)/*", "/2024_01/data")
    assert m2 is not None and m2.groups() == ("2024", "01")


@pytest.mark.parametrize(
    ("raw", "clean"), [("", "/"), ("abc/", "/abc"), ("urls/*", "/urls/*"), ("/", "/")]
)
def test_clean_pattern(raw: str, clean: str) -> None:
    assert clean_pattern(raw) == clean


@pytest.mark.parametrize("pattern", ["/[abc", "/(*", "/a)", "/{a,b", "/a}"])
def test_invalid_globs(pattern: str) -> None:
    with pytest.raises(InvalidGlobError, match="invalid glob"):
        glob_match(pattern, "/a")
