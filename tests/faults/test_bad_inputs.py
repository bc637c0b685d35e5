"""Every bad input in the table is refused with a clear error and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.bad_inputs import CASES, Installation, check_case, installation


@pytest.fixture(scope="module")
def inst(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    with installation(tmp_path_factory.mktemp("bad-inputs") / "home") as inst:
        yield inst


@pytest.mark.parametrize("label", list(CASES))
def test_bad_input_is_rejected_cleanly(inst: Installation, label: str) -> None:
    assert check_case(inst, label) == ""


def test_the_table_covers_every_kind() -> None:
    kinds = {label.split(":")[0] for label in CASES}
    assert kinds == {"spec", "name", "path", "address", "request"}
    assert len(CASES) >= 50
