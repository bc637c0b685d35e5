"""Cron inputs: the tick rule without a clock, and ticks as commits and jobs in-process."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import raypachy
from raypachy.errors import BranchNotFoundError, InvalidSpecError
from raypachy.pps import ticks
from raypachy.pps.cron import parse_schedule, tick_due, tick_name
from raypachy.pps.spec import parse_spec
from tests.pps.conftest import Local


def _t(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_every_ticks_on_schedule_and_catches_up_with_one_tick() -> None:
    assert tick_due("@every 2s", 100.0, 101.9) is None
    assert tick_due("@every 2s", 100.0, 102.0) == 102.0
    assert tick_due("@every 2s", 100.0, 109.5) == 108.0  # four slots missed: one tick, the latest
    assert tick_due("@every 1h30m", 0.0, 5399.0) is None


@pytest.mark.parametrize(
    ("spec", "last", "now", "due"),
    [
        ("@hourly", "2024-01-01T13:30:00", "2024-01-01T13:59:59", None),
        ("@hourly", "2024-01-01T13:30:00", "2024-01-01T14:00:00", "2024-01-01T14:00:00"),
        ("@hourly", "2024-01-01T13:30:00", "2024-01-01T17:20:00", "2024-01-01T17:00:00"),
        ("@daily", "2024-01-01T13:30:00", "2024-01-05T01:00:00", "2024-01-05T00:00:00"),
        ("*/10 * * * *", "2024-01-01T13:30:00", "2024-01-01T13:45:00", "2024-01-01T13:40:00"),
        ("0 9 * * 1", "2024-01-01T10:00:00", "2024-01-08T09:00:00", "2024-01-08T09:00:00"),
    ],
)
def test_cron_expressions_and_descriptors(spec: str, last: str, now: str, due: str | None) -> None:
    got = tick_due(spec, _t(last), _t(now))
    assert got == (None if due is None else _t(due))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("@every", "names no interval"),
        ("@every 0.5s", "at most once a second"),
        ("@every soon", "invalid cron @every interval"),
        ("* * *", "five fields"),
        ("@sometimes", "invalid cron spec"),
        ("61 * * * *", "invalid cron spec"),
    ],
)
def test_bad_schedules_are_refused_in_one_line(spec: str, message: str) -> None:
    with pytest.raises(InvalidSpecError, match=message):
        parse_schedule(spec)
    with pytest.raises(InvalidSpecError, match=message):
        parse_spec({"pipeline": {"name": "p"}, "transform": {"cmd": ["x"]},
                    "input": {"cron": {"name": "tick", "spec": spec}}})  # fmt: skip


@raypachy.pipeline(input=raypachy.cron("tick", "@every 10s"), name="clock")
def clock(datum):  # type: ignore[no-untyped-def]
    for f in datum.input().rglob("*"):
        if f.is_file():
            (datum.out / f.name).write_text("seen")


def _created(local: Local, pipeline: str) -> float:
    with local.pfs.meta.read() as tx:  # the exact float the ticks count from
        row = tx.pipeline(pipeline)
    assert row is not None
    return row.created


def test_ticks_are_commits_to_the_tick_repo_and_so_jobs(local: Local) -> None:
    local.create(clock)
    created = _created(local, "clock")
    assert local.pps.list_jobs("clock") == []
    assert ticks.tick_cron(local.pps, "clock", now=created + 5) == created + 10  # not yet
    assert ticks.tick_cron(local.pps, "clock", now=created + 10) == created + 20
    [job] = local.run()
    first = tick_name(created + 10)
    assert job.state == "success" and local.files("clock") == {f"/{first}": b"seen"}
    assert local.files("clock_tick") == {f"/{first}": b""}
    # the cluster was down for a while: one tick, for the latest slot it missed
    ticks.tick_cron(local.pps, "clock", now=created + 75)
    [job] = local.run()
    assert (job.datums.processed, job.datums.skipped) == (1, 1)
    assert sorted(local.files("clock_tick")) == [f"/{first}", f"/{tick_name(created + 70)}"]
    assert len(local.pfs.list_commits("clock_tick", "master")) == 2
    # a stopped pipeline does not tick; started again, it catches up with one tick
    local.pachd.stop_pipeline("clock")
    ticks.tick_cron(local.pps, "clock", now=created + 200)
    assert len(local.pfs.list_commits("clock_tick", "master")) == 2
    local.pachd.start_pipeline("clock")
    ticks.tick_cron(local.pps, "clock", now=created + 201)
    assert len(local.pfs.list_commits("clock_tick", "master")) == 3
    assert local.run()[-1].state == "success"


def test_overwrite_keeps_only_the_latest_tick(local: Local) -> None:
    local.create(clock.options(input=raypachy.cron("tick", "@every 10s", overwrite=True)))
    created = _created(local, "clock")
    ticks.tick_cron(local.pps, "clock", now=created + 10)
    ticks.tick_cron(local.pps, "clock", now=created + 20)
    assert list(local.files("clock_tick")) == [f"/{tick_name(created + 20)}"]
    local.run()
    assert list(local.files("clock")) == [f"/{tick_name(created + 20)}"]


def test_start_is_where_the_schedule_counts_from(local: Local) -> None:
    start = "2020-01-01T00:00:30Z"  # long ago: one tick at once, on the latest slot since
    local.create(clock.options(input=raypachy.cron("tick", "@every 1h", start=start)))
    created = _created(local, "clock")
    ticks.tick_cron(local.pps, "clock", now=created)
    [name] = local.files("clock_tick")
    assert name.endswith(":00:30Z") and created - 3600 < _t(name[1:-1]) <= created

    future = tick_name(created + 86400)  # tomorrow: nothing before then
    local.create(clock.options(name="later", input=raypachy.cron("tick", "@every 1h",
                                                                   start=future)))  # fmt: skip
    following = ticks.tick_cron(local.pps, "later", now=created + 7200)
    assert following == pytest.approx(created + 86400 + 3600, abs=1e-3)  # name precision: 1 us
    with pytest.raises(BranchNotFoundError):  # no tick yet: not even a branch
        local.files("later_tick")
    assert following is not None
    ticks.tick_cron(local.pps, "later", now=following)
    assert list(local.files("later_tick")) == [f"/{tick_name(following)}"]
