"""Eight concurrent writers, a pipeline consuming their shared branch, gc running: nothing
lost. The full figures (200 commits per writer) come from bench/reliability.py."""

from __future__ import annotations

import pytest

from tests.conftest import LocalCluster
from tests.faults.consistency import assert_consistent
from tests.faults.load import run_load

pytestmark = [pytest.mark.ray, pytest.mark.faults]


def test_concurrent_writers_pipeline_and_gc_lose_nothing(local_cluster: LocalCluster) -> None:
    report = run_load(local_cluster.api_url, writers=8, commits=12, home=str(local_cluster.home))
    assert report.made == 8 * 12
    assert report.lost == [] and report.broken_chains == [] and report.bad_provenance == []
    assert report.fsck_problems == []
    assert report.jobs >= 2  # the pipeline kept consuming the shared branch
    assert report.gc_runs + report.gc_refused > 0
    assert_consistent(local_cluster.client())
