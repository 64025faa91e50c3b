"""Report windows (DESIGN.md): when a periodic report may be submitted or edited.

Pure functions of (kind, period, now, configuration): no database, no request. A module
(used-car monthly and quarterly reports, finance monthly / quarterly / annual reports) calls
`status()` (or `check()`) inside the operation that saves a report, before saving, and refuses
with the status's message; the UI, the API and a forged form all go through that operation.

Configuration, per report kind (defaults in config.py `REPORT_WINDOWS`, overridable by the
app config; `configured()` reads it)::

    {"usedcar_monthly": {"period": "month", "opens_day": 1, "closes_day": 15,
                         "grace_days": 5},
     "finance_annual":  {"period": "year", "opens_month": 1, "opens_day": 1,
                         "closes_month": 4, "closes_day": 30}}

- `period`: "month", "quarter" or "year".
- `opens_month` / `closes_month` (default 1): the n-th month after the period ends
  (1 = the first month after it: for month M the month M+1, for Q3 October, for a year
  January of the next year, so for annual reports it is the calendar month).
- `opens_day` (default 1) / `closes_day` (required): day of that month, clamped to the
  month's length (31 means the last day). The window opens at 00:00 of the opening day and
  closes at the END of the closing day (23:59:59.999999, inclusive).
- `grace_days` (default 0): calendar days after the close during which a submission is still
  accepted but flagged late.
- A per-enterprise extension (granted by the authority) is an argument, not configuration:
  a date (the end of that day) or a datetime until which that enterprise may still submit.

Time: the application uses naive local datetimes (the Asia/Shanghai wall clock,
`datetime.datetime.now()`); every datetime here is naive and compared as such. An aware
datetime is refused (TypeError from Python's comparison) rather than silently converted.
"""

from __future__ import annotations

import calendar
import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext

from app.errors import DomainError

MONTH = "month"
QUARTER = "quarter"
YEAR = "year"
PERIOD_TYPES = (MONTH, QUARTER, YEAR)
_MONTHS_IN = {MONTH: 1, QUARTER: 3, YEAR: 12}
_NUMBERS_IN = {MONTH: 12, QUARTER: 4, YEAR: 1}

NOT_OPEN = "not_open"
OPEN = "open"
GRACE = "grace"
EXTENDED = "extended"
CLOSED = "closed"
STATES = (NOT_OPEN, OPEN, GRACE, EXTENDED, CLOSED)

END_OF_DAY = datetime.time(23, 59, 59, 999999)

_PERIOD_RE = re.compile(
    r"^\s*(?P<year>\d{4})(?:(?:-(?P<month>\d{1,2}))|(?:-?[Qq](?P<quarter>[1-4])))?\s*$")


class WindowConfigError(ValueError):
    """A report kind missing from the configuration, or a configuration that makes no sense."""


# ----- periods -----------------------------------------------------------------------------
@dataclass(frozen=True, order=True)
class Period:
    """A reporting period: `Period("month", 2026, 10)`, `Period("quarter", 2026, 3)`,
    `Period("year", 2026, 1)`. Text form (`str()`, `parse()`): "2026-10", "2026Q3", "2026"."""

    kind_period: str
    year: int
    number: int = 1

    def __post_init__(self):
        if self.kind_period not in PERIOD_TYPES:
            raise ValueError(f"unknown period type {self.kind_period!r}")
        if not 1 <= self.number <= _NUMBERS_IN[self.kind_period]:
            raise ValueError(f"{self.kind_period} number out of range: {self.number}")
        if not 1 <= self.year <= 9998:
            raise ValueError(f"year out of range: {self.year}")

    # construction
    @classmethod
    def parse(cls, text: str, kind_period: str | None = None) -> Period:
        """"2026-10" (month), "2026Q3" / "2026-Q3" (quarter), "2026" (year). With
        `kind_period`, the text must be of that type. ValueError when it is not a period."""
        m = _PERIOD_RE.match(str(text or ""))
        if not m:
            raise ValueError(f"not a period: {text!r}")
        year = int(m["year"])
        if m["month"]:
            period = cls(MONTH, year, int(m["month"]))
        elif m["quarter"]:
            period = cls(QUARTER, year, int(m["quarter"]))
        else:
            period = cls(YEAR, year, 1)
        if kind_period is not None and period.kind_period != kind_period:
            raise ValueError(f"not a {kind_period} period: {text!r}")
        return period

    @classmethod
    def containing(cls, kind_period: str, day: datetime.date) -> Period:
        """The period of this type that contains `day` (a date or datetime)."""
        if kind_period == MONTH:
            return cls(MONTH, day.year, day.month)
        if kind_period == QUARTER:
            return cls(QUARTER, day.year, (day.month - 1) // 3 + 1)
        if kind_period == YEAR:
            return cls(YEAR, day.year, 1)
        raise ValueError(f"unknown period type {kind_period!r}")

    # text
    def __str__(self) -> str:
        if self.kind_period == MONTH:
            return f"{self.year:04d}-{self.number:02d}"
        if self.kind_period == QUARTER:
            return f"{self.year:04d}Q{self.number}"
        return f"{self.year:04d}"

    @property
    def label(self) -> str:
        """In the UI language: "2026年10月" / "October 2026", "2026年第3季度" /
        "3rd quarter 2026", "2026年" / "2026". Outside an app context: `str(self)`."""
        skeleton = {MONTH: "yMMMM", QUARTER: "yQQQQ", YEAR: "y"}[self.kind_period]
        locale = _locale()
        if locale is None:
            return str(self)
        from babel.dates import format_skeleton

        return format_skeleton(skeleton, self.start, locale=locale)

    # arithmetic
    @property
    def _index(self) -> int:
        return self.year * _NUMBERS_IN[self.kind_period] + self.number - 1

    @classmethod
    def _from_index(cls, kind_period: str, index: int) -> Period:
        year, rest = divmod(index, _NUMBERS_IN[kind_period])
        return cls(kind_period, year, rest + 1)

    @property
    def previous(self) -> Period:
        return self._from_index(self.kind_period, self._index - 1)

    @property
    def next(self) -> Period:
        return self._from_index(self.kind_period, self._index + 1)

    @property
    def start(self) -> datetime.date:
        """First day of the period."""
        return datetime.date(self.year, (self.number - 1) * _MONTHS_IN[self.kind_period] + 1, 1)

    @property
    def end(self) -> datetime.date:
        """Last day of the period."""
        month = self.number * _MONTHS_IN[self.kind_period]
        return datetime.date(self.year, month, calendar.monthrange(self.year, month)[1])

    def contains(self, day: datetime.date) -> bool:
        """Whether a date (or datetime: its date) falls inside the period."""
        if isinstance(day, datetime.datetime):
            day = day.date()
        return self.start <= day <= self.end


# ----- windows -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Window:
    """When the report of one period may be submitted. `grace_until` is None without grace;
    otherwise the end of the last grace day. All naive local datetimes, bounds inclusive."""

    opens_at: datetime.datetime
    closes_at: datetime.datetime
    grace_until: datetime.datetime | None = None

    @property
    def accepts_until(self) -> datetime.datetime:
        """The last instant a submission is accepted without an extension."""
        return self.grace_until or self.closes_at


@dataclass(frozen=True)
class WindowStatus:
    """Where `now` stands in a period's window. `state` is one of STATES; `may_submit` says
    whether the report may be submitted or edited now; `late` is True during the grace days;
    `message` (translated) names the window and is what the user is shown when refused."""

    state: str
    may_submit: bool
    late: bool
    message: str
    window: Window
    period: Period
    extension_until: datetime.datetime | None = None


class ReportWindowClosedError(DomainError):
    """A report submitted or edited outside its window (HTTP 422, the window's message)."""

    code = 422

    def __init__(self, message: str, status: WindowStatus | None = None):
        super().__init__(message)
        self.status = status


def kind_config(kind: str, config: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any]:
    try:
        conf = config[kind]
    except (KeyError, TypeError):
        raise WindowConfigError(f"no report window configured for {kind!r}") from None
    if conf.get("period") not in PERIOD_TYPES:
        raise WindowConfigError(f"{kind}: period must be one of {PERIOD_TYPES}")
    if "closes_day" not in conf:
        raise WindowConfigError(f"{kind}: closes_day is required")
    return conf


def period_type(kind: str, config: Mapping[str, Mapping[str, Any]]) -> str:
    """"month", "quarter" or "year" for a configured report kind."""
    return kind_config(kind, config)["period"]


def _month_after(period: Period, n: int) -> tuple[int, int]:
    """(year, month) of the n-th month after the period's end (n=1: the next month)."""
    index = period.end.year * 12 + period.end.month - 1 + n
    return divmod(index, 12)[0], divmod(index, 12)[1] + 1


def _day_in(year: int, month: int, day: int) -> datetime.date:
    return datetime.date(year, month, min(max(int(day), 1), calendar.monthrange(year, month)[1]))


def window(kind: str, period: Period, config: Mapping[str, Mapping[str, Any]]) -> Window:
    """The window of `kind`'s report for `period` under `config` (see the module docstring)."""
    conf = kind_config(kind, config)
    if period.kind_period != conf["period"]:
        raise ValueError(f"{kind} reports are {conf['period']}ly, not for {period}")
    opens_month = int(conf.get("opens_month", 1))
    closes_month = int(conf.get("closes_month", 1))
    if opens_month < 1 or closes_month < 1:
        raise WindowConfigError(f"{kind}: opens_month / closes_month count from 1")
    grace_days = int(conf.get("grace_days", 0) or 0)
    if grace_days < 0:
        raise WindowConfigError(f"{kind}: grace_days cannot be negative")
    opens_on = _day_in(*_month_after(period, opens_month), conf.get("opens_day", 1))
    closes_on = _day_in(*_month_after(period, closes_month), conf["closes_day"])
    if closes_on < opens_on:
        raise WindowConfigError(f"{kind}: the window closes before it opens")
    opens_at = datetime.datetime.combine(opens_on, datetime.time.min)
    closes_at = datetime.datetime.combine(closes_on, END_OF_DAY)
    grace_until = closes_at + datetime.timedelta(days=grace_days) if grace_days else None
    return Window(opens_at, closes_at, grace_until)


def _extension_end(extension_until) -> datetime.datetime | None:
    if extension_until is None:
        return None
    if isinstance(extension_until, datetime.datetime):
        return extension_until
    if isinstance(extension_until, datetime.date):
        return datetime.datetime.combine(extension_until, END_OF_DAY)
    raise TypeError("extension_until must be a date or a datetime")


def status(kind: str, period: Period, now: datetime.datetime,
           config: Mapping[str, Mapping[str, Any]], extension_until=None) -> WindowStatus:
    """Whether `kind`'s report for `period` may be submitted at `now`.

    - before the opening: "not_open", refused;
    - from the opening to the end of the closing day: "open";
    - then, for `grace_days`: "grace", accepted and flagged `late`;
    - after that, until `extension_until` (the enterprise's extension, a date = the end of
      that day, or a datetime): "extended", accepted and not flagged late (the authority
      allowed it). An extension also takes precedence over the grace days; an extension
      ending before the window's own end changes nothing;
    - else "closed", refused.
    """
    if isinstance(now, datetime.date) and not isinstance(now, datetime.datetime):
        now = datetime.datetime.combine(now, datetime.time.min)
    win = window(kind, period, config)
    extension = _extension_end(extension_until)
    if extension is not None and extension <= win.closes_at:
        extension = None  # no effect: the window itself lasts longer
    fmt = _Formatter(period, win, extension)
    if now < win.opens_at:
        return WindowStatus(NOT_OPEN, False, False, fmt.not_open(), win, period, extension)
    if now <= win.closes_at:
        return WindowStatus(OPEN, True, False, fmt.open(), win, period, extension)
    if extension is not None and now <= extension:
        return WindowStatus(EXTENDED, True, False, fmt.extended(), win, period, extension)
    if win.grace_until is not None and now <= win.grace_until:
        return WindowStatus(GRACE, True, True, fmt.grace(), win, period, extension)
    return WindowStatus(CLOSED, False, False, fmt.closed(), win, period, extension)


def check(kind: str, period: Period, now: datetime.datetime,
          config: Mapping[str, Mapping[str, Any]], extension_until=None) -> WindowStatus:
    """`status()`, raising `ReportWindowClosedError` (a DomainError, HTTP 422, the status's
    message) when the report may not be submitted. Call it in the operation before saving."""
    st = status(kind, period, now, config, extension_until)
    if not st.may_submit:
        raise ReportWindowClosedError(st.message, st)
    return st


def current_period(kind: str, now: datetime.datetime,
                   config: Mapping[str, Mapping[str, Any]]) -> Period:
    """The period whose window is open at `now` (the latest one if windows overlap), else the
    one whose window closed most recently (grace days count as part of the window)."""
    ptype = period_type(kind, config)
    candidate = Period.containing(ptype, now)
    # Walk back from the period containing `now`: its window cannot be open yet (windows
    # open after the period ends); the first period whose window has opened is the answer.
    for _ in range(1000):
        if window(kind, candidate, config).opens_at <= now:
            return candidate
        candidate = candidate.previous
    raise WindowConfigError(f"{kind}: no window opens before {now}")  # pragma: no cover


def periods_due(kind: str, now: datetime.datetime, config: Mapping[str, Mapping[str, Any]],
                since) -> list[Period]:
    """Periods, oldest first, whose window has opened by `now`, from the period containing
    `since` (a date, datetime or Period) on: the reports an enterprise should have submitted
    or may still submit (for "who has not submitted")."""
    ptype = period_type(kind, config)
    if isinstance(since, Period):
        if since.kind_period != ptype:
            raise ValueError(f"{kind} reports are {ptype}ly, not for {since}")
        first = since
    else:
        first = Period.containing(ptype, since)
    last = current_period(kind, now, config)
    out = []
    period = first
    while period <= last:
        out.append(period)
        period = period.next
    return out


def configured() -> dict[str, dict[str, Any]]:
    """The windows in force: config.py's REPORT_WINDOWS updated, kind by kind and key by key,
    with the app config's REPORT_WINDOWS (needs an app context)."""
    from flask import current_app

    from config import REPORT_WINDOWS

    merged = {kind: dict(conf) for kind, conf in REPORT_WINDOWS.items()}
    for kind, conf in (current_app.config.get("REPORT_WINDOWS") or {}).items():
        merged[kind] = {**merged.get(kind, {}), **conf}
    return merged


# ----- messages ----------------------------------------------------------------------------
def _locale():
    """The UI locale inside an app context (flask_babel), else None."""
    from flask import has_app_context

    if not has_app_context():
        return None
    try:
        from flask_babel import get_locale

        return get_locale()
    except Exception:  # pragma: no cover - babel not initialised on this app
        return None


def format_day(value: datetime.datetime) -> str:
    """A date in the UI language ("2026年11月15日", "November 15, 2026"); ISO outside an app."""
    if _locale() is None:
        return value.date().isoformat()
    from flask_babel import format_date

    return format_date(value.date(), "long")


def format_moment(value: datetime.datetime) -> str:
    """A day, with the time of day unless it is the end of the day."""
    if value.time() == END_OF_DAY:
        return format_day(value)
    if _locale() is None:
        return value.strftime("%Y-%m-%d %H:%M")
    from flask_babel import format_datetime

    return format_datetime(value, "short", rebase=False)


class _Formatter:
    def __init__(self, period: Period, win: Window, extension):
        self.values = {
            "period": period.label,
            "opens": format_day(win.opens_at),
            "closes": format_day(win.closes_at),
            "grace": format_day(win.grace_until) if win.grace_until else "",
            "until": format_moment(extension) if extension else "",
        }

    def not_open(self) -> str:
        return gettext("The report for %(period)s cannot be submitted yet: it can be "
                       "submitted from %(opens)s to %(closes)s.", **self.values)

    def open(self) -> str:
        return gettext("The report for %(period)s can be submitted from %(opens)s to "
                       "%(closes)s.", **self.values)

    def grace(self) -> str:
        return gettext("The window for the report for %(period)s, %(opens)s to %(closes)s, has "
                       "closed; until %(grace)s the report is still accepted, marked as late.",
                       **self.values)

    def extended(self) -> str:
        return gettext("The window for the report for %(period)s, %(opens)s to %(closes)s, has "
                       "closed; your enterprise has an extension until %(until)s.",
                       **self.values)

    def closed(self) -> str:
        if self.values["grace"]:
            return gettext("The report for %(period)s can no longer be submitted: its window "
                           "was %(opens)s to %(closes)s, late submissions were accepted until "
                           "%(grace)s.", **self.values)
        return gettext("The report for %(period)s can no longer be submitted: its window was "
                       "%(opens)s to %(closes)s.", **self.values)
