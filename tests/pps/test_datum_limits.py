"""Datum sets are counted before they are made, streamed, and refused over the limit."""

from __future__ import annotations

import itertools
import time

import blake3
import pytest

from raypachy.errors import InvalidArgumentError, TooManyDatumsError
from raypachy.pps import queries
from raypachy.pps.datums import iter_leaves, plan
from raypachy.pps.datumsets import Cross, Items
from raypachy.pps.model import JobState
from raypachy.pps.spec import Input
from raypachy.storage.entries import FileData
from tests.pps.conftest import Local

FILES = {
    "wide": [f"/f{i:02}" for i in range(30)],
    "a": ["/1.txt", "/2.txt", "/d/x", "/d/y"],
    "stores": ["/STOREID1.txt", "/STOREID2.txt"],
    "purchases": ["/A_STOREID1.txt", "/B_STOREID1.txt", "/C_STOREID3.txt"],
    "empty": [],
}


def _lister(repo: str, commit: str) -> list[tuple[str, FileData]]:
    return [(p, FileData(1, blake3.blake3(p.encode()).digest(), ())) for p in FILES[repo]]


def _plan(inp: dict, limit: int | None = None):  # type: ignore[no-untyped-def, type-arg]
    root = Input.model_validate(inp)
    commits = {leaf.input_name: "c" for leaf in iter_leaves(root, "p")}
    return plan(root, commits, _lister, "", limit=limit)


def _wide_cross(n: int) -> dict:  # type: ignore[type-arg]
    return {"cross": [{"pfs": {"repo": "wide", "glob": "/*", "name": f"i{k}"}} for k in range(n)]}


def test_a_huge_cross_is_refused_at_once_with_its_count() -> None:
    started = time.monotonic()
    with pytest.raises(TooManyDatumsError) as e:
        _plan(_wide_cross(5))  # 30**5 datums, over the default of 1,000,000
    assert "24,300,000 datums" in str(e.value) and "RAYPACHY_MAX_DATUMS" in str(e.value)
    assert time.monotonic() - started < 10  # counted, not listed (listing takes minutes)


def test_datums_stream_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYPACHY_MAX_DATUMS", "1_000_000_000")
    datums = _plan(_wide_cross(6))  # 729 million datums: only the first three are made
    first = list(itertools.islice(datums, 3))
    assert [[i.path for i in d.inputs] for d in first] == [
        ["/f00"] * 6, ["/f00"] * 5 + ["/f01"], ["/f00"] * 5 + ["/f02"],
    ]  # fmt: skip


JOIN = [
    {"pfs": {"repo": "stores", "glob": "/STOREID(*).txt", "join_on": "$1"}},
    {"pfs": {"repo": "purchases", "glob": "/*_STOREID(*).txt", "join_on": "$1"}},
]
TREES = [
    _wide_cross(2),
    {"cross": [{"pfs": {"repo": "a", "glob": "/*"}}, {"pfs": {"repo": "empty", "glob": "/*"}}]},
    {"union": [{"pfs": {"repo": "a", "glob": "/*"}}, {"pfs": {"repo": "wide", "glob": "/*"}}]},
    {"join": JOIN},
    {"join": [JOIN[0], {"pfs": {**JOIN[1]["pfs"], "outer_join": True}}]},
    {"join": [{"pfs": {**j["pfs"], "outer_join": True}} for j in JOIN]},
    {"group": [{"pfs": {**j["pfs"], "join_on": "", "group_by": "$1"}} for j in JOIN]},
    {"join": [{"cross": [JOIN[0], {"pfs": {"repo": "a", "glob": "/*.txt"}}]}, JOIN[1]]},
    {"cross": [{"union": [{"pfs": {"repo": "a", "glob": "/*"}},
                          {"pfs": {"repo": "a", "glob": "/d/*"}}]}, {"join": JOIN}]},
]  # fmt: skip


@pytest.mark.parametrize("tree", TREES)
def test_the_count_is_the_number_of_datums(tree: dict) -> None:  # type: ignore[type-arg]
    made = list(_plan(tree))
    # Exactly at the limit is fine; one under it is refused, naming the count.
    assert [d.id for d in _plan(tree, limit=max(len(made), 1))] == [d.id for d in made]
    if made:
        with pytest.raises(TooManyDatumsError, match=f"make {len(made):,} datums"):
            _plan(tree, limit=len(made) - 1 or None)  # type: ignore[arg-type]


def test_a_cross_with_an_empty_side_makes_nothing_without_listing_the_other() -> None:
    class Untouchable(Items):
        def __iter__(self):  # type: ignore[no-untyped-def]
            raise AssertionError("listed")

    node = Cross([Untouchable(list(range(10**6))), Items([])])  # type: ignore[arg-type]
    assert node.count() == 0 and list(node) == []
    assert list(_plan(TREES[1])) == []


def test_a_group_holds_no_more_than_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYPACHY_MAX_DATUMS", "100")
    group = {
        "group": [
            {
                "cross": [
                    {"pfs": {"repo": "wide", "glob": "/(*)", "name": f"i{k}", "group_by": "$1"}}
                    for k in range(2)
                ]
            }
        ]
    }
    with pytest.raises(TooManyDatumsError, match="a group input would gather 900 parts"):
        _plan(group)


def test_a_bad_limit_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYPACHY_MAX_DATUMS", "lots")
    with pytest.raises(InvalidArgumentError, match="RAYPACHY_MAX_DATUMS must be a positive"):
        _plan(_wide_cross(1))


def _spec(n_inputs: int) -> dict:  # type: ignore[type-arg]
    inputs = [{"pfs": {"repo": "r", "glob": "/*", "name": f"i{k}"}} for k in range(n_inputs)]
    return {"pipeline": {"name": "p"}, "input": {"cross": inputs},
            "transform": {"cmd": ["true"]}}  # fmt: skip


def test_a_job_over_the_limit_fails_with_one_line_and_runs_nothing(
    local: Local, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAYPACHY_MAX_DATUMS", "10")
    local.pfs.create_repo("r")
    local.put("r", {f"/f{i}": b"x" for i in range(4)})
    local.create(_spec(2))  # 16 datums: over 10
    [job] = local.run()
    assert job.state == JobState.FAILURE
    assert job.reason == (
        "the input would make 16 datums, more than RAYPACHY_MAX_DATUMS of 10: "
        "narrow the globs or split the input"
    )
    assert job.datums.total == 0 and queries.list_datums(local.pps, "p", job.id) == []
    out = local.pfs.inspect_commit(f"p@{job.id}")
    assert out.finished is not None and out.error == job.reason  # closed with the reason


def test_preview_is_refused_over_its_per_call_limit(local: Local) -> None:
    local.pfs.create_repo("r")
    local.put("r", {f"/f{i}": b"x" for i in range(4)})
    assert len(queries.preview_datums(local.pps, _spec(2), limit=16)) == 16
    with pytest.raises(TooManyDatumsError, match="16 datums, more than the preview limit"):
        queries.preview_datums(local.pps, _spec(2), limit=15)
    local.put("r", {f"/g{i}": b"x" for i in range(96)})  # 100 files: 10,000 datums at 2 inputs
    assert len(queries.preview_datums(local.pps, _spec(2))) == 10_000  # the default
    with pytest.raises(TooManyDatumsError, match="1,000,000 datums, more than the preview"):
        queries.preview_datums(local.pps, _spec(3))
