"""Controller leases: of several control planes on one database, one drives each pipeline.

Run against SQLite and a real PostgreSQL; two store clients stand for two control planes.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from raypachy.errors import InvalidArgumentError, LeaseExpiredError
from raypachy.pfs.controller_leases import ControllerLeases, Holder, lease_ttl
from raypachy.pfs.leases import HOST, Leases
from raypachy.pfs.metadata import MetadataStore, open_store


@pytest.fixture(params=["sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], MetadataStore]:
    """Opens one more client of one (empty at first) database."""
    if request.param == "sqlite":
        path = str(tmp_path / "metadata.db")
        return lambda: open_store(path)
    url = request.getfixturevalue("pg_url")
    request.getfixturevalue("pg_stores")
    return lambda: open_store(url)


def test_one_holder_at_a_time_until_it_lets_go(opener: Callable[[], MetadataStore]) -> None:
    a, b = ControllerLeases(opener(), 60), ControllerLeases(opener(), 60)
    held = a.take("edges", "cluster-a", 11)
    assert held is not None
    assert b.take("edges", "cluster-b", 22) is None  # a live holder keeps it
    assert a.take("edges", "cluster-a", 11) == held  # the holder asking again keeps its term
    assert b.take("other", "cluster-b", 22) is not None  # one lease per pipeline
    assert b.holder("edges") == held
    a.release("edges", held)
    taken = b.take("edges", "cluster-b", 22)
    assert taken is not None and b.holder("edges") == taken
    assert not a.renew("edges", held)  # the old term is over


def test_a_lapsed_lease_is_taken_over_and_its_holder_fenced(
    opener: Callable[[], MetadataStore],
) -> None:
    meta_a, meta_b = opener(), opener()
    a, b = ControllerLeases(meta_a, 0.5), ControllerLeases(meta_b, 0.5)
    # The holder runs elsewhere (not this host): only its silence says it is gone.
    old = a.take("edges", "node-a", 11)
    assert old is not None
    writer = Leases(meta_a).acquire(host="node-a", pid=11)  # the job it was running writes
    other = Leases(meta_a).acquire(host="node-c", pid=11)  # another process's writes
    assert b.take("edges", "node-b", 22) is None
    assert a.renew("edges", old)
    time.sleep(0.7)  # no renewal for longer than the lease's life
    new = b.take("edges", "node-b", 22)
    assert new is not None and new.host == "node-b"
    assert not a.renew("edges", old)  # the old holder learns it lost the pipeline
    with pytest.raises(LeaseExpiredError):  # and can no longer checkpoint or finish its job
        Leases(meta_b).check(writer)
    Leases(meta_b).check(other)  # nobody else's writes are touched


def test_a_holder_on_this_host_whose_process_died_is_taken_over_at_once(
    opener: Callable[[], MetadataStore],
) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    a, b = ControllerLeases(opener(), 600), ControllerLeases(opener(), 600)
    assert a.take("edges", HOST, int(gone.stdout)) is not None
    taken = b.take("edges", HOST, 22)
    assert taken == Holder(HOST, 22, taken.acquired if taken else 0.0)


def test_racing_control_planes_get_one_holder(opener: Callable[[], MetadataStore]) -> None:
    clients = [ControllerLeases(opener(), 60) for _ in range(2)]
    won: list[Holder] = []
    start = threading.Barrier(8)

    def race(n: int) -> None:
        start.wait()
        held = clients[n % 2].take("edges", f"cluster-{n}", n)
        if held is not None:
            won.append(held)

    threads = [threading.Thread(target=race, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    assert clients[0].holder("edges") == won[0]


def test_the_lease_life_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYPACHY_CONTROLLER_LEASE_S", "7.5")
    assert lease_ttl() == 7.5
    monkeypatch.setenv("RAYPACHY_CONTROLLER_LEASE_S", "soon")
    with pytest.raises(InvalidArgumentError, match="RAYPACHY_CONTROLLER_LEASE_S='soon'"):
        lease_ttl()


def test_a_controller_keeps_a_fresh_lease_without_asking_and_asks_once_it_ages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Back-to-back jobs cost no lease round trip each; an aged lease is asked for again,
    and then one taken over by another control plane is seen as lost."""
    from raypachy.runtime.pipeline_lease import PipelineLease

    monkeypatch.setenv("RAYPACHY_CONTROLLER_LEASE_S", "1.5")  # asked again after 0.5 s
    store = open_store(str(tmp_path / "metadata.db"))
    leases = ControllerLeases(store, lease_ttl())
    asked: list[str] = []

    def call(name: str, *args: object) -> object:
        asked.append(name)
        if name == "take_controller_lease":
            return leases.take(*args)  # type: ignore[arg-type]
        return leases.renew(*args)  # type: ignore[arg-type]

    lease = PipelineLease("edges", call)
    assert lease.hold() and lease.hold() and lease.hold()
    assert asked == ["take_controller_lease"]  # the first hold asked; the lease was fresh
    time.sleep(0.6)
    assert lease.hold()
    assert asked == ["take_controller_lease"] * 2
    time.sleep(1.6)  # it lapsed: another control plane takes the pipeline over
    assert ControllerLeases(open_store(str(tmp_path / "metadata.db")), 1.5).take(
        "edges", "cluster-b", 22
    )
    assert not lease.hold()
