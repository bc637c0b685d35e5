"""Fuzzing the HTTP API from its own OpenAPI spec (schemathesis), shared by the test suite
and bench/reliability.py: no 5xx, and a rejected request changes nothing."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode

from tests.faults.bad_inputs import Installation

# Waits are left out: a valid one parks for up to its timeout (an hour) by design; and so are
# event streams, which a valid request keeps open for as long as it listens.
EXCLUDED_PATHS = r"/wait$|^/v1/events/"
LOCAL_HOST = {"Host": "127.0.0.1"}


def max_examples() -> int:
    """Examples per operation and mode: bounded in CI, ``make fuzz`` raises it."""
    return int(os.environ.get("RAYPACHY_FUZZ_EXAMPLES", "10"))


@dataclass
class FuzzTally:
    operations: int = 0
    examples: int = 0
    rejected: int = 0
    server_errors: list[str] = field(default_factory=list)
    changed_by_rejection: list[str] = field(default_factory=list)


def run_fuzz(inst: Installation, examples: int) -> FuzzTally:
    """Send ``examples`` generated requests, valid and invalid, to every operation."""
    # Requests name the API as a local client does (the API refuses other Host names).
    schema = schemathesis.openapi.from_asgi("/openapi.json", inst.api.app, headers=LOCAL_HOST)
    tally = FuzzTally()
    for result in schema.exclude(path_regex=EXCLUDED_PATHS).get_all_operations():
        operation = result.ok()
        tally.operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck),
                      phases=[Phase.explicit, Phase.generate])  # fmt: skip
            @given(operation.as_strategy(generation_mode=mode))
            def send(case) -> None:  # type: ignore[no-untyped-def]
                before = inst.snapshot()
                tally.examples += 1
                try:
                    response = case.call(headers=LOCAL_HOST)
                except Exception as e:  # the app raised instead of answering: a 500
                    tally.server_errors.append(f"{case.method} {case.formatted_path}: {e!r}")
                    return
                label = f"{case.method} {case.formatted_path} -> {response.status_code}"
                if response.status_code >= 500:
                    tally.server_errors.append(f"{label}: {response.text[:300]}")
                elif response.status_code >= 400:
                    tally.rejected += 1
                    if inst.snapshot() != before:
                        tally.changed_by_rejection.append(label)

            with contextlib.suppress(Unsatisfiable):  # nothing to make invalid: no parameters
                send()
    return tally
