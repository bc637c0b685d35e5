"""A job's writer lease is granted while the job plans; no batch starts before it is."""

from __future__ import annotations

import pytest

from raypachy.errors import LeaseExpiredError
from raypachy.pps.datums import Datum
from raypachy.pps.spec import parse_spec
from raypachy.pps.worker import BatchSpec
from raypachy.runtime.controller import RayExecutor


def test_no_batch_is_submitted_until_the_jobs_lease_is_granted() -> None:
    spec = parse_spec({
        "pipeline": {"name": "p"},
        "transform": {"cmd": ["true"]},
        "input": {"pfs": {"repo": "r", "glob": "/*"}},
    })  # fmt: skip
    asked: list[str] = []

    def lease() -> str:
        asked.append("lease")
        raise LeaseExpiredError("write lease x expired or is unknown")

    executor = RayExecutor("p", "0" * 32, before_writes=lease)
    datum = Datum("d", "h", ())
    batch = BatchSpec("p", "0" * 32, "0" * 32, "file:///nowhere", {}, (datum,))
    with pytest.raises(LeaseExpiredError):
        next(executor.run(spec, [batch], 1))
    assert asked == ["lease"] and executor.pending == {}  # nothing was submitted
    assert list(executor.run(spec, [], 1)) == []  # no batches: no lease awaited
    assert asked == ["lease"]
