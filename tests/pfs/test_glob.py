"""Glob rules, table-driven (DESIGN section 5)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raypachy.errors import InvalidGlobError
from raypachy.pfs import glob_match
from raypachy.pfs.glob import _Matcher, _parse, _regex, clean_pattern

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


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "pattern",
    ["/**a**a**a**a**a**a**a**b", "/*a*a*a*a*a*a*a*a*a*a*a*b", "/(**a)**(a*a)*a*a**b",
     "/{**a,*a}**a*a*a**b"],
)  # fmt: skip
def test_patterns_that_backtrack_forever_as_regexes_end(pattern: str) -> None:
    # With a backtracking regex each of these takes hours or more on this path.
    assert glob_match(pattern, "/" + "a" * 250) is None
    assert glob_match(pattern, "/" + "a" * 250 + "b") is not None


def test_capture_groups_of_the_linear_matcher() -> None:
    m = glob_match("/(*)_(*)/(**).csv", "/2024_01/x/y.csv")  # wildcards compete: no regex
    assert m is not None and m.groups() == ("2024", "01", "x/y")
    m2 = glob_match("/{(a*),(b*)}/**", "/bc/d")
    assert m2 is not None and m2.groups() == (None, "bc") and m2.group(0) == "/bc/d"
    with pytest.raises(IndexError):
        m2.group(3)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [("/" + "a" * 600, "longer than 512"), ("/" + "**x" * 9, "more than 8 '[*][*]'")],
)
def test_glob_limits(pattern: str, message: str) -> None:
    with pytest.raises(InvalidGlobError, match=message):
        glob_match(pattern, "/a")


_PIECES = ["a", "b", "/", "*", "**", "?", "[ab]", "[!a]", ","]


@st.composite
def _patterns(draw: st.DrawFn, depth: int = 0) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["piece"] * 4 + (["group", "brace"] if depth < 2 else [])))
        if kind == "piece":
            parts.append(draw(st.sampled_from(_PIECES)))
        elif kind == "group":
            parts.append("(" + draw(_patterns(depth + 1)) + ")")
        else:
            options = draw(st.lists(_patterns(depth + 1), min_size=1, max_size=3))
            parts.append("{" + ",".join(options) + "}")
    return "/" + "".join(parts)


@settings(max_examples=400, deadline=None)
@given(_patterns(), st.text(alphabet="ab/", max_size=10))
def test_the_linear_matcher_agrees_with_the_regex(pattern: str, tail: str) -> None:
    path = "/" + tail
    nodes, groups, _ = _parse(clean_pattern(pattern), pattern)
    expected = re.compile(_regex(nodes) + r"\Z", re.DOTALL).match(path)
    got = _Matcher(nodes, groups).match(path)
    assert (got is None) == (expected is None), (pattern, path)
    if got is not None and expected is not None:
        assert got.groups() == expected.groups(), (pattern, path)
