"""Cron inputs: when ticks are due, and what a tick is called.

A schedule is ``@every <duration>`` (``@every 2s``, ``@every 1h30m``), a descriptor
(``@hourly``, ``@daily``, ``@midnight``, ``@weekly``, ``@monthly``, ``@yearly``,
``@annually``) or a five-field cron expression (``*/10 * * * *``), evaluated in UTC.
Each tick is a commit to the pipeline's tick repo holding one file named after the tick's
time (RFC 3339), so each tick is a job. A cluster that was down, or a pipeline that was
stopped, catches up with one tick (the latest slot it missed), not one per missed slot.

``tick_due`` is the whole rule, without any clock or cluster: the pipeline's controller
asks PPS to write what is due (``PPS.tick_cron``) and sleeps until the next slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from raypachy.errors import InvalidSpecError
from raypachy.pps.units import parse_duration

_DESCRIPTORS = ("@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually")
MIN_EVERY_S = 1.0
#: Tick times travel as RFC 3339 names (microseconds): slots this close count as reached.
SLACK_S = 1e-3


@dataclass(frozen=True, slots=True)
class Schedule:
    """A parsed schedule: a fixed interval (``every``) or a cron expression."""

    text: str
    every: float = 0.0
    expression: str = ""

    def next_after(self, t: float) -> float:
        """The first slot strictly after ``t``."""
        if self.every:
            return t + self.every
        from croniter import croniter

        return float(croniter(self.expression, _utc(t)).get_next(float))

    def latest_at_or_before(self, t: float, after: float) -> float:
        """The latest slot in ``(after, t]`` (callers know there is one)."""
        if self.every:
            return after + self.every * ((t + SLACK_S - after) // self.every)
        from croniter import croniter

        prev = float(croniter(self.expression, _utc(t)).get_prev(float))
        on_time = self.next_after(prev)  # get_prev is strict: ``t`` itself may be a slot
        return on_time if on_time <= t else prev


def _utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def parse_schedule(text: str) -> Schedule:
    """``InvalidSpecError`` names what is wrong with a schedule."""
    spec = " ".join(str(text).split())
    if spec.startswith("@every"):
        interval = spec.removeprefix("@every").strip()
        if not interval:
            raise InvalidSpecError(f"cron spec {text!r} names no interval: e.g. @every 30s")
        every = parse_duration(interval, "cron @every interval")
        if every < MIN_EVERY_S:
            raise InvalidSpecError(f"cron spec {text!r}: ticks at most once a second")
        return Schedule(spec, every=every)
    from croniter import croniter

    if spec in _DESCRIPTORS or (len(spec.split()) == 5 and croniter.is_valid(spec)):
        return Schedule(spec, expression=spec)
    raise InvalidSpecError(
        f"invalid cron spec {text!r}: use @every 30s, @hourly/@daily/@weekly/@monthly/@yearly, "
        "or five fields (minute hour day-of-month month day-of-week), e.g. */10 * * * *"
    )


def tick_due(schedule: str | Schedule, last: float, now: float) -> float | None:
    """The tick to write at ``now`` given the ``last`` tick (or the start), or None.

    However many slots passed since ``last``, one tick is due: the latest of them.
    """
    sched = schedule if isinstance(schedule, Schedule) else parse_schedule(schedule)
    if sched.next_after(last) > now + SLACK_S:
        return None
    return sched.latest_at_or_before(now, last)


def tick_name(t: float) -> str:
    """The tick file's name: its time in RFC 3339 (UTC)."""
    moment = _utc(t)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_tick_name(name: str) -> float | None:
    try:
        return datetime.fromisoformat(name.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
