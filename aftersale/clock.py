"""The engine's clock, and calendar arithmetic for deadlines.

Nothing else in aftersale calls ``datetime.now()``: services take a :class:`Clock`, domain
functions take the instant ``at``. Every instant is an aware ``datetime`` in UTC.

Arithmetic that would leave the calendar (before 0001-01-01 or after 9999-12-31) is refused
with :class:`InvalidInput`, never an ``OverflowError``; the instants a host sends are kept far
from those ends (``validation.instant``), so only an instant the engine was never meant to see
gets there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from aftersale.errors import InvalidInput


@contextmanager
def _within_the_calendar(what: str, instant: datetime) -> Iterator[None]:
    """Turn the ``OverflowError`` of arithmetic past 0001-01-01 or 9999-12-31 into ours."""
    try:
        yield
    except OverflowError:
        raise _past_the_calendar(what, instant) from None


def _past_the_calendar(what: str, instant: datetime) -> InvalidInput:
    return InvalidInput(f"{what} from {instant.isoformat()} falls past the end of the calendar")


def hour_of(instant: datetime) -> datetime:
    """The UTC hour an instant falls in: the health rollups' unit of time.

    Taken for every item the rollups write, so without a context manager or ``replace``
    (together three quarters of its cost); the same instant and the same refusal."""
    try:
        utc = instant if instant.tzinfo is UTC else instant.astimezone(UTC)
    except OverflowError:
        raise _past_the_calendar("the UTC hour", instant) from None
    return datetime(utc.year, utc.month, utc.day, utc.hour, tzinfo=UTC)


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class VirtualClock:
    """A clock that only moves when told to: replay, tests and benchmarks."""

    current: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))

    def now(self) -> datetime:
        return self.current

    def move_to(self, instant: datetime) -> None:
        self.current = instant


def utc(instant: datetime) -> datetime:
    """The same instant in UTC; naive datetimes are refused, never guessed."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"instant {instant.isoformat()} has no UTC offset")
    with _within_the_calendar("the UTC time", instant):
        return instant.astimezone(UTC)


def iso(instant: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, as every output of the engine writes instants."""
    if instant is None:
        return None
    text = instant.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def add_business_days(
    start: datetime, days: int, zone: ZoneInfo, is_business_day: Callable[[date], bool]
) -> datetime:
    """``days`` business days after ``start``, at the same local wall-clock time.

    Steps one calendar day at a time in the market's time zone, counting only business days.
    If a DST change removes that wall-clock time on the day reached, the deadline is the next
    valid instant (the moment the clocks jumped); an ambiguous time takes its first occurrence.
    """
    with _within_the_calendar(f"{days} business days", start):
        local = start.astimezone(zone)
        day = local.date()
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            if is_business_day(day):
                counted += 1
        wall = datetime.combine(day, local.time().replace(tzinfo=None))
        return _first_instant_at_or_after(wall, zone)


def _first_instant_at_or_after(wall: datetime, zone: ZoneInfo) -> datetime:
    candidate = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if candidate.astimezone(zone).replace(tzinfo=None) == wall:
        return candidate
    # ``wall`` falls in a DST gap. Local time is non-decreasing in UTC, so bisect for the first
    # instant whose local wall-clock time is at or after ``wall``: the end of the gap.
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = candidate
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0) if high.microsecond else high


def next_local_midnight(after: datetime, zone: ZoneInfo) -> datetime:
    """The first local midnight in ``zone`` strictly after ``after`` (in UTC)."""
    with _within_the_calendar("the next local midnight", after):
        day = after.astimezone(zone).date() + timedelta(days=1)
        return _first_instant_at_or_after(datetime.combine(day, datetime.min.time()), zone)
