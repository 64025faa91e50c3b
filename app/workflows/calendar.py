"""Working days with Chinese public holidays and their make-up working weekends
(chinese-calendar). For a year the library has no data for yet, weekends only, logged once:
a statutory deadline is then at worst a holiday's length early, never late by surprise."""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

import chinese_calendar

log = logging.getLogger(__name__)
_warned_years: set[int] = set()


def is_working_day(day: datetime.date) -> bool:
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        if day.year not in _warned_years:
            _warned_years.add(day.year)
            log.warning("No public-holiday data for %s: counting weekends only", day.year)
        return day.weekday() < 5


def add_working_days(start: datetime.date, days: int) -> datetime.date:
    """The date `days` working days after `start` (the day of submission does not count)."""
    day = start
    remaining = days
    while remaining > 0:
        day += datetime.timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return day


def working_days_between(start: datetime.date, end: datetime.date) -> int:
    """Working days after `start` up to and including `end` (negative if end < start)."""
    if end < start:
        return -working_days_between(end, start)
    count = 0
    day = start
    while day < end:
        day += datetime.timedelta(days=1)
        if is_working_day(day):
            count += 1
    return count


@dataclass(frozen=True)
class WorkingDays:
    """A statutory time limit."""

    days: int

    def deadline(self, start: datetime.date) -> datetime.date:
        return add_working_days(start, self.days)
