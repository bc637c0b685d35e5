"""gc against the writers that store objects without a client: nothing may be lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.gc_races import run_races

pytestmark = pytest.mark.faults


def test_finish_stop_and_code_upload_racing_gc_lose_nothing(tmp_path: Path) -> None:
    report = run_races(tmp_path / "home", rounds=3)
    assert report.rounds == report.survived == 3
    assert report.lost == [] and report.fsck == []
