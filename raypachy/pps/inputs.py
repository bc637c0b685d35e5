"""Input constructors for Python pipelines, named as in a Pachyderm spec.

raypachy.pfs("images", glob="/*")
raypachy.cross(raypachy.pfs("images", glob="/*"), raypachy.pfs("models", glob="/"))
"""

from __future__ import annotations

from raypachy.pps.spec import CronInput, Input, PfsInput


def pfs(
    repo: str,
    glob: str = "/",
    *,
    name: str = "",
    branch: str = "master",
    join_on: str = "",
    outer_join: bool = False,
    group_by: str = "",
    lazy: bool = False,
    empty_files: bool = False,
    project: str | None = None,
) -> Input:
    """Read ``repo@branch``; each glob match is one datum (``/pfs/<name>`` in commands).
    ``project`` (or ``repo="project/repo"``): a repo of another project than the
    pipeline's."""
    return Input(
        pfs=PfsInput(
            repo=repo, glob=glob, name=name, branch=branch, join_on=join_on,
            outer_join=outer_join, group_by=group_by, lazy=lazy, empty_files=empty_files,
            project=project,
        )
    )  # fmt: skip


def cross(*inputs: Input) -> Input:
    """Every combination of one datum from each input."""
    return Input(cross=list(inputs))


def union(*inputs: Input) -> Input:
    """The datums of each input, one after the other."""
    return Input(union=list(inputs))


def join(*inputs: Input) -> Input:
    """Datums whose ``join_on`` keys match, crossed per key."""
    return Input(join=list(inputs))


def group(*inputs: Input) -> Input:
    """One datum per ``group_by`` key, holding every matching file."""
    return Input(group=list(inputs))


def cron(name: str, spec: str, *, overwrite: bool = False, start: str | None = None) -> Input:
    """A tick every ``spec`` (``@every 1m``), as a datum named ``name``; the schedule counts
    from ``start`` (RFC 3339, default: when the pipeline is created)."""
    return Input(cron=CronInput(name=name, spec=spec, overwrite=overwrite, start=start))
