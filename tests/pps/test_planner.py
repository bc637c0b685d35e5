"""Datum sets, rule by rule: globs, cross, union, join, outer join, group."""

from __future__ import annotations

import blake3
import pytest

from raypachy.errors import InvalidSpecError
from raypachy.pps.datums import plan
from raypachy.pps.spec import Input
from raypachy.storage.entries import FileData


def _fd(text: str) -> FileData:
    return FileData(len(text), blake3.blake3(text.encode()).digest(), ())


TREES = {
    "a": ["/1.txt", "/2.txt", "/d/x", "/d/y", "/d/e/z"],
    "b": ["/k.txt"],
    "stores": ["/STOREID1.txt", "/STOREID2.txt"],
    "purchases": ["/A_STOREID1.txt", "/B_STOREID1.txt", "/C_STOREID3.txt"],
    "empty": [],
}


def _lister(repo: str, commit: str) -> list[tuple[str, FileData]]:
    return [(p, _fd(repo + p)) for p in sorted(TREES[repo])]  # trees are sorted by path


def datums(inp: dict, salt: str = "") -> list[list[tuple[str, str]]]:  # type: ignore[type-arg]
    commits = {r: "c" for r in TREES}
    return [
        [(i.name, i.path) for i in d.inputs]
        for d in plan(Input.model_validate(inp), commits, _lister, salt)
    ]


@pytest.mark.parametrize(
    ("glob", "expected"),
    [
        ("/", [["/"]]),
        ("", [["/"]]),
        ("/*", [["/1.txt"], ["/2.txt"], ["/d/"]]),
        ("*", [["/1.txt"], ["/2.txt"], ["/d/"]]),
        ("/*/*", [["/d/e/"], ["/d/x"], ["/d/y"]]),
        ("/d/*", [["/d/e/"], ["/d/x"], ["/d/y"]]),
        ("/**", [["/1.txt"], ["/2.txt"], ["/d/"], ["/d/e/"], ["/d/e/z"], ["/d/x"], ["/d/y"]]),
        ("/*.txt", [["/1.txt"], ["/2.txt"]]),
        ("/nothing/*", []),
    ],
)
def test_globs(glob: str, expected: list[list[str]]) -> None:
    got = datums({"pfs": {"repo": "a", "glob": glob}})
    assert [[path for _, path in d] for d in got] == expected


def test_directory_match_brings_its_subtree() -> None:
    [d] = [
        d
        for d in plan(
            Input.model_validate({"pfs": {"repo": "a", "glob": "/d"}}), {"a": "c"}, _lister, ""
        )
    ]
    assert [p for p, _ in d.inputs[0].files] == ["/d/e/z", "/d/x", "/d/y"]


def test_cross_is_the_product_and_empty_gives_nothing() -> None:
    got = datums(
        {"cross": [{"pfs": {"repo": "a", "glob": "/*.txt"}}, {"pfs": {"repo": "b", "glob": "/*"}}]}
    )
    assert got == [[("a", "/1.txt"), ("b", "/k.txt")], [("a", "/2.txt"), ("b", "/k.txt")]]
    assert (
        datums(
            {
                "cross": [
                    {"pfs": {"repo": "a", "glob": "/*"}},
                    {"pfs": {"repo": "empty", "glob": "/*"}},
                ]
            }
        )
        == []
    )


def test_cross_orders_sub_inputs_by_name() -> None:
    one = datums(
        {"cross": [{"pfs": {"repo": "b", "glob": "/*"}}, {"pfs": {"repo": "a", "glob": "/1.txt"}}]}
    )
    two = datums(
        {"cross": [{"pfs": {"repo": "a", "glob": "/1.txt"}}, {"pfs": {"repo": "b", "glob": "/*"}}]}
    )
    assert one == two == [[("a", "/1.txt"), ("b", "/k.txt")]]


def test_union_concatenates() -> None:
    got = datums(
        {"union": [{"pfs": {"repo": "b", "glob": "/*"}}, {"pfs": {"repo": "a", "glob": "/*.txt"}}]}
    )
    assert got == [[("a", "/1.txt")], [("a", "/2.txt")], [("b", "/k.txt")]]


JOIN = [
    {"pfs": {"repo": "stores", "glob": "/STOREID(*).txt", "join_on": "$1"}},
    {"pfs": {"repo": "purchases", "glob": "/*_STOREID(*).txt", "join_on": "$1"}},
]


def test_inner_join_crosses_per_key() -> None:
    assert datums({"join": JOIN}) == [
        [("purchases", "/A_STOREID1.txt"), ("stores", "/STOREID1.txt")],
        [("purchases", "/B_STOREID1.txt"), ("stores", "/STOREID1.txt")],
    ]


def test_outer_join_keeps_unmatched_items_of_outer_inputs() -> None:
    outer = [dict(JOIN[0]), {"pfs": {**JOIN[1]["pfs"], "outer_join": True}}]
    got = datums({"join": outer})
    assert [("purchases", "/C_STOREID3.txt")] in got  # unmatched purchase kept
    assert [("stores", "/STOREID2.txt")] not in got  # stores is not outer
    both = [{"pfs": {**j["pfs"], "outer_join": True}} for j in JOIN]
    assert [("stores", "/STOREID2.txt")] in datums({"join": both})


def test_join_without_join_on_matches_everything() -> None:
    got = datums(
        {"join": [{"pfs": {"repo": "b", "glob": "/"}}, {"pfs": {"repo": "stores", "glob": "/"}}]}
    )
    assert got == [[("b", "/"), ("stores", "/")]]


def test_group_makes_one_datum_per_key() -> None:
    group = [
        {"pfs": {"repo": "stores", "glob": "/STOREID(*).txt", "group_by": "$1"}},
        {"pfs": {"repo": "purchases", "glob": "/*_STOREID(*).txt", "group_by": "$1"}},
    ]
    assert datums({"group": group}) == [
        [
            ("purchases", "/A_STOREID1.txt"),
            ("purchases", "/B_STOREID1.txt"),
            ("stores", "/STOREID1.txt"),
        ],
        [("stores", "/STOREID2.txt")],
        [("purchases", "/C_STOREID3.txt")],
    ]


def test_ids_are_stable_and_hashes_follow_content_and_salt() -> None:
    inp = Input.model_validate({"pfs": {"repo": "a", "glob": "/*"}})
    one = list(plan(inp, {"a": "c1"}, _lister, "s"))
    two = list(plan(inp, {"a": "c2"}, _lister, "s"))
    salted = list(plan(inp, {"a": "c1"}, _lister, "other"))
    assert [d.id for d in one] == [d.id for d in two] == [d.id for d in salted]
    assert [d.hash for d in one] == [d.hash for d in two]  # same files: same hash
    assert all(a.hash != b.hash for a, b in zip(one, salted, strict=True))


def test_capture_group_that_does_not_exist() -> None:
    with pytest.raises(InvalidSpecError, match=r"\$2"):
        datums(
            {
                "pfs": {"repo": "stores", "glob": "/STOREID(*).txt", "join_on": "$2"},
            }
        )
