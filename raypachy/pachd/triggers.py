"""Branch triggers (Pachyderm's deferred processing): a branch that follows another one's
head only when enough arrived there.

``images@master`` with the trigger ``{branch: staging, size: 100MB}`` moves to staging's head
when a commit lands on staging and the head grew by 100 MB since master last moved. The
conditions, as Pachyderm has them: ``size`` (the new head's size minus the branch's head's),
``commits`` (that many commits since the branch's head), ``cron_spec`` (a slot of the
schedule passed between the branch's head finishing and the new head finishing); any of them
fires, or only all of them with ``all``. A moved branch is new data: the pipelines reading it
run, and the triggers that follow it are checked in turn.

The rules live here, where versioning meets pipelines (sizes and schedules parse as specs
parse them); the trigger itself is kept with the branch (``PFS.create_branch``).
"""

from __future__ import annotations

from typing import Any

from raypachy.errors import InvalidArgumentError
from raypachy.pfs.metadata import CommitRecord, Tx
from raypachy.pfs.model import Trigger
from raypachy.pfs.names import check_branch_name
from raypachy.pps.cron import parse_schedule
from raypachy.pps.units import parse_bytes


def check_trigger(trigger: Trigger) -> Trigger:
    """The trigger, or ``InvalidArgumentError`` naming what is wrong with it."""
    try:
        check_branch_name(trigger.branch)
    except ValueError as e:
        raise InvalidArgumentError(f"trigger branch: {e}") from None
    if trigger.size:
        parse_bytes(trigger.size, "trigger size")
    if trigger.cron_spec:
        parse_schedule(trigger.cron_spec)
    if trigger.commits < 0:
        raise InvalidArgumentError(f"trigger commits must be 0 or more, not {trigger.commits}")
    return trigger


def trigger_from_json(data: dict[str, Any]) -> Trigger:
    """A trigger from its JSON form (``inspect branch -o json``, ``input.pfs.trigger``)."""
    known = {"branch", "size", "commits", "cron_spec", "all"}
    unknown = sorted(set(data) - known)
    if unknown or not isinstance(data.get("branch"), str):
        raise InvalidArgumentError(
            f"a trigger is {{branch, size, commits, cron_spec, all}} with a branch; "
            f"got {sorted(data)}"
        )
    return check_trigger(Trigger(**data))


def fires(tx: Tx, trigger: Trigger, old: CommitRecord | None, new: CommitRecord) -> bool:
    """Whether a branch at ``old`` follows its trigger branch to ``new`` (finished)."""
    conditions: list[bool] = []
    if trigger.size:
        grown = (new.size_bytes or 0) - ((old.size_bytes or 0) if old else 0)
        conditions.append(grown >= parse_bytes(trigger.size, "trigger size"))
    if trigger.cron_spec:
        since = (old.finished or 0.0) if old else 0.0
        slot = parse_schedule(trigger.cron_spec).next_after(since)
        conditions.append(new.finished is not None and slot < new.finished)
    if trigger.commits:
        conditions.append(_commits_since(tx, new, old, trigger.commits) >= trigger.commits)
    if not conditions:
        return True  # a trigger without conditions follows every commit, as Pachyderm's
    return all(conditions) if trigger.all else any(conditions)


def _commits_since(tx: Tx, new: CommitRecord, old: CommitRecord | None, enough: int) -> int:
    """How many commits from ``new`` back to ``old`` (exclusive), counting at most ``enough``."""
    count, rec = 0, new
    while count < enough:
        count += 1
        if rec.parent is None or (old is not None and rec.parent == old.id):
            break
        parent = tx.commit(rec.repo, rec.parent)
        if parent is None:
            break
        rec = parent
    return count


def move_followers(tx: Tx, repo: str, branch: str) -> list[str]:
    """Inside a write transaction: move the branches of ``repo`` whose trigger follows
    ``branch`` and fires on its (finished) head; returns the moved branches' names."""
    row = tx.branch(repo, branch)
    new = tx.commit(repo, row.head) if row and row.head else None
    if new is None or new.is_open:
        return []
    moved = []
    for name, data in sorted(tx.objects_metadata("trigger", repo).items()):
        trigger = Trigger(**data)
        follower = tx.branch(repo, name)
        if trigger.branch != branch or follower is None or follower.head == new.id:
            continue
        old = tx.commit(repo, follower.head) if follower.head else None
        if fires(tx, trigger, old, new) and tx.move_branch(repo, name, new.id, follower.head):
            moved.append(name)
    return moved
