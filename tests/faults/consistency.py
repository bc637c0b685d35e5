"""The check every fault test ends with: nothing lost, nothing half-written, nothing dangling."""

from __future__ import annotations

from typing import Any


def assert_consistent(
    api: Any,
    expected: dict[tuple[str, str], bytes] | None = None,
    repos: list[str] | None = None,
) -> None:
    """``api`` is a PFS or a Client. Every commit readable with its chunks intact (fsck
    --deep), every branch head of ``repos`` (default: all) on a finished commit with
    finished inputs, every expected file with its bytes."""
    report = api.fsck(deep=True)
    assert report.ok and report.problems == (), report.problems
    for repo in repos if repos is not None else [r.name for r in api.list_repos()]:
        for branch in api.list_branches(repo):
            if branch.head is not None:
                head = api.inspect_commit(f"{repo}@{branch.head}")
                assert head.finished is not None, f"{repo}@{branch.name} is on an open commit"
                for ref in head.provenance:
                    assert api.inspect_commit(f"{ref.repo}@{ref.id}").finished is not None
    for (target, path), data in (expected or {}).items():
        assert api.get_file(target, path) == data, (target, path)
