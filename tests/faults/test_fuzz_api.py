"""Schemathesis drives every operation of the API with generated requests, valid and not."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.bad_inputs import installation
from tests.faults.fuzz import max_examples, run_fuzz

pytestmark = pytest.mark.faults


def test_no_server_error_and_rejections_change_nothing(tmp_path: Path) -> None:
    with installation(tmp_path / "home") as inst:
        tally = run_fuzz(inst, max_examples())
    assert tally.operations >= 40
    assert tally.examples >= tally.operations * 2  # every operation, both modes, ran
    assert tally.rejected > 0
    assert tally.server_errors == []
    assert tally.changed_by_rejection == []
