"""ISO weeks as exact UTC intervals: the unit every report covers.

A report week is Monday 00:00 UTC up to (not including) the next Monday 00:00 UTC, so two
adjacent reports never count a post twice and never miss one at midnight.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

__all__ = ["Week", "last_complete_week", "parse_week"]

_WEEK_RE = re.compile(r"^\s*(\d{4})-?W(\d{1,2})\s*$", re.IGNORECASE)


@dataclass(frozen=True, order=True)
class Week:
    year: int
    number: int

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @property
    def start(self) -> datetime:
        monday = date.fromisocalendar(self.year, self.number, 1)
        return datetime(monday.year, monday.month, monday.day, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=7)

    def shifted(self, weeks: int) -> Week:
        return week_of(self.start + timedelta(weeks=weeks))

    def days(self) -> list[date]:
        return [(self.start + timedelta(days=i)).date() for i in range(7)]

    def __str__(self) -> str:
        return self.label


def week_of(moment: datetime) -> Week:
    year, number, _ = moment.astimezone(UTC).isocalendar()
    return Week(year, number)


def parse_week(text: str) -> Week:
    """`2026-W47` (or `2026W47`) to a Week.

    Raises:
        ValueError: not an ISO week, or a week number the year does not have.
    """
    match = _WEEK_RE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not an ISO week (expected YYYY-Www, e.g. 2026-W47)")
    year, number = int(match.group(1)), int(match.group(2))
    try:
        date.fromisocalendar(year, number, 1)
    except ValueError:
        raise ValueError(f"{year} has no ISO week {number}") from None
    return Week(year, number)


def last_complete_week(now: datetime | None = None) -> Week:
    """The most recent week that has fully ended in UTC (the default report week)."""
    now = now or datetime.now(UTC)
    return week_of(now).shifted(-1)
