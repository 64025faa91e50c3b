"""Report windows (app/workflows/windows.py): pure functions, no database, no app fixture."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from flask_babel import Babel, force_locale

from app.errors import DomainError
from app.workflows import windows as w
from app.workflows.windows import Period

CONFIG = {
    "monthly": {"period": "month", "opens_day": 1, "closes_day": 15, "grace_days": 5},
    "monthly_strict": {"period": "month", "opens_day": 1, "closes_day": 15},
    "monthly_eom": {"period": "month", "opens_day": 1, "closes_day": 31},
    "quarterly": {"period": "quarter", "opens_day": 1, "closes_day": 15, "grace_days": 3},
    "quarterly_late": {"period": "quarter", "opens_day": 10, "closes_month": 2,
                       "closes_day": 5},
    "annual": {"period": "year", "opens_month": 1, "opens_day": 1, "closes_month": 4,
               "closes_day": 30},
}

US = dt.timedelta(microseconds=1)


def D(*args) -> dt.datetime:  # noqa: N802
    return dt.datetime(*args)


# ----- periods -----------------------------------------------------------------------------
@pytest.mark.parametrize("text, kind, year, number", [
    ("2026-10", "month", 2026, 10),
    ("2026-1", "month", 2026, 1),
    ("2026Q3", "quarter", 2026, 3),
    ("2026-q4", "quarter", 2026, 4),
    ("2026", "year", 2026, 1),
])
def test_period_parse(text, kind, year, number):
    p = Period.parse(text)
    assert (p.kind_period, p.year, p.number) == (kind, year, number)
    assert Period.parse(str(p)) == p


@pytest.mark.parametrize("period, text", [
    (Period("month", 2026, 3), "2026-03"),
    (Period("quarter", 2026, 3), "2026Q3"),
    (Period("year", 2026), "2026"),
])
def test_period_format(period, text):
    assert str(period) == text
    # outside an app context the label is the text form
    assert period.label == text


@pytest.mark.parametrize("bad", ["", "2026-13", "2026-00", "2026Q5", "26-10", "2026/10",
                                 "abcd", None])
def test_period_parse_refuses(bad):
    with pytest.raises(ValueError):
        Period.parse(bad)


def test_period_parse_of_a_given_type():
    assert Period.parse("2026-10", "month") == Period("month", 2026, 10)
    with pytest.raises(ValueError):
        Period.parse("2026-10", "quarter")


@pytest.mark.parametrize("kind, year, number", [
    ("month", 2026, 0), ("month", 2026, 13), ("quarter", 2026, 5), ("year", 2026, 2),
    ("week", 2026, 1)])
def test_period_refuses_bad_numbers(kind, year, number):
    with pytest.raises(ValueError):
        Period(kind, year, number)


@pytest.mark.parametrize("period, previous, following", [
    (Period("month", 2026, 1), Period("month", 2025, 12), Period("month", 2026, 2)),
    (Period("month", 2026, 12), Period("month", 2026, 11), Period("month", 2027, 1)),
    (Period("quarter", 2026, 1), Period("quarter", 2025, 4), Period("quarter", 2026, 2)),
    (Period("quarter", 2026, 4), Period("quarter", 2026, 3), Period("quarter", 2027, 1)),
    (Period("year", 2026), Period("year", 2025), Period("year", 2027)),
])
def test_period_previous_next(period, previous, following):
    assert period.previous == previous
    assert period.next == following
    assert previous < period < following


@pytest.mark.parametrize("period, start, end", [
    (Period("month", 2028, 2), dt.date(2028, 2, 1), dt.date(2028, 2, 29)),  # leap year
    (Period("month", 2027, 2), dt.date(2027, 2, 1), dt.date(2027, 2, 28)),
    (Period("quarter", 2026, 4), dt.date(2026, 10, 1), dt.date(2026, 12, 31)),
    (Period("year", 2026), dt.date(2026, 1, 1), dt.date(2026, 12, 31)),
])
def test_period_bounds_and_contains(period, start, end):
    assert (period.start, period.end) == (start, end)
    assert period.contains(start) and period.contains(end)
    assert period.contains(D(end.year, end.month, end.day, 23, 59, 59, 999999))
    assert not period.contains(start - dt.timedelta(days=1))
    assert not period.contains(end + dt.timedelta(days=1))


@pytest.mark.parametrize("kind, day, expected", [
    ("month", dt.date(2026, 10, 31), "2026-10"),
    ("quarter", dt.date(2026, 9, 30), "2026Q3"),
    ("quarter", D(2026, 10, 1, 0, 0), "2026Q4"),
    ("year", dt.date(2026, 6, 1), "2026"),
])
def test_period_containing(kind, day, expected):
    assert str(Period.containing(kind, day)) == expected


# ----- windows -----------------------------------------------------------------------------
@pytest.mark.parametrize("kind, period, opens, closes, grace", [
    # month M -> the 1st to the 15th of M+1, across December / January
    ("monthly", "2026-10", D(2026, 11, 1), D(2026, 11, 15), D(2026, 11, 20)),
    ("monthly", "2026-12", D(2027, 1, 1), D(2027, 1, 15), D(2027, 1, 20)),
    ("monthly_strict", "2026-12", D(2027, 1, 1), D(2027, 1, 15), None),
    # closing day clamped to the month's length, leap year February
    ("monthly_eom", "2028-01", D(2028, 2, 1), D(2028, 2, 29), None),
    ("monthly_eom", "2027-01", D(2027, 2, 1), D(2027, 2, 28), None),
    ("monthly_eom", "2026-03", D(2026, 4, 1), D(2026, 4, 30), None),
    # quarter: the first month after it; Q4 -> January
    ("quarterly", "2026Q3", D(2026, 10, 1), D(2026, 10, 15), D(2026, 10, 18)),
    ("quarterly", "2026Q4", D(2027, 1, 1), D(2027, 1, 15), D(2027, 1, 18)),
    ("quarterly_late", "2026Q4", D(2027, 1, 10), D(2027, 2, 5), None),
    # annual: 1 January to 30 April of the next year
    ("annual", "2026", D(2027, 1, 1), D(2027, 4, 30), None),
])
def test_window_bounds(kind, period, opens, closes, grace):
    win = w.window(kind, Period.parse(period), CONFIG)
    assert win.opens_at == opens
    assert win.closes_at == closes.replace(hour=23, minute=59, second=59, microsecond=999999)
    if grace is None:
        assert win.grace_until is None
        assert win.accepts_until == win.closes_at
    else:
        assert win.grace_until == grace.replace(hour=23, minute=59, second=59,
                                                microsecond=999999)


def test_grace_across_a_month_end():
    conf = {"k": {"period": "month", "closes_day": 30, "grace_days": 3}}
    win = w.window("k", Period.parse("2028-01"), conf)  # closes 29 Feb 2028 (clamped)
    assert win.closes_at.date() == dt.date(2028, 2, 29)
    assert win.grace_until.date() == dt.date(2028, 3, 3)


OPEN_M = D(2026, 11, 1)
CLOSE_M = D(2026, 11, 15, 23, 59, 59, 999999)
GRACE_M = D(2026, 11, 20, 23, 59, 59, 999999)


@pytest.mark.parametrize("now, state, may_submit, late", [
    (OPEN_M - US, "not_open", False, False),                  # a microsecond before opening
    (D(2026, 10, 31, 12, 0), "not_open", False, False),       # inside the period itself
    (OPEN_M, "open", True, False),                            # the first instant
    (OPEN_M + dt.timedelta(seconds=1), "open", True, False),  # the first second
    (D(2026, 11, 15, 23, 59, 59), "open", True, False),       # the last second of closing day
    (CLOSE_M, "open", True, False),                           # the last microsecond
    (CLOSE_M + US, "grace", True, True),                      # first instant after closing
    (D(2026, 11, 16, 0, 0, 1), "grace", True, True),          # first second after closing
    (D(2026, 11, 20, 23, 59, 59), "grace", True, True),       # the last second of grace
    (GRACE_M + US, "closed", False, False),                   # after the grace days
    (D(2027, 3, 1), "closed", False, False),
])
def test_status_monthly_with_grace(now, state, may_submit, late):
    st = w.status("monthly", Period.parse("2026-10"), now, CONFIG)
    assert (st.state, st.may_submit, st.late) == (state, may_submit, late)
    assert "2026-10" in st.message  # names the period
    assert "2026-11-01" in st.message and "2026-11-15" in st.message  # and the window


@pytest.mark.parametrize("now, state", [
    (CLOSE_M, "open"),
    (CLOSE_M + US, "closed"),               # without grace: refused right after the close
    (D(2026, 11, 16, 0, 0, 1), "closed"),
])
def test_status_without_grace(now, state):
    st = w.status("monthly_strict", Period.parse("2026-10"), now, CONFIG)
    assert st.state == state
    assert st.may_submit is (state == "open")
    assert st.late is False


def test_refusal_messages_name_the_window():
    p = Period.parse("2026-10")
    early = w.status("monthly", p, OPEN_M - US, CONFIG)
    assert early.message == ("The report for 2026-10 cannot be submitted yet: it can be "
                             "submitted from 2026-11-01 to 2026-11-15.")
    late = w.status("monthly", p, GRACE_M + US, CONFIG)
    assert late.message == ("The report for 2026-10 can no longer be submitted: its window "
                            "was 2026-11-01 to 2026-11-15, late submissions were accepted "
                            "until 2026-11-20.")
    grace = w.status("monthly", p, CLOSE_M + US, CONFIG)
    assert "2026-11-20" in grace.message and "late" in grace.message
    closed = w.status("monthly_strict", p, CLOSE_M + US, CONFIG)
    assert closed.message == ("The report for 2026-10 can no longer be submitted: its window "
                              "was 2026-11-01 to 2026-11-15.")


@pytest.mark.parametrize("extension, now, state, may_submit, late", [
    # an extension beyond the grace days: accepted, not flagged late
    (dt.date(2026, 11, 30), GRACE_M + US, "extended", True, False),
    (dt.date(2026, 11, 30), D(2026, 11, 30, 23, 59, 59), "extended", True, False),
    (dt.date(2026, 11, 30), D(2026, 12, 1, 0, 0), "closed", False, False),
    # a datetime extension ends at that instant
    (D(2026, 11, 25, 18, 0), D(2026, 11, 25, 18, 0), "extended", True, False),
    (D(2026, 11, 25, 18, 0), D(2026, 11, 25, 18, 0) + US, "closed", False, False),
    # an extension covering the grace days takes precedence: not late
    (dt.date(2026, 11, 30), CLOSE_M + US, "extended", True, False),
    # an extension ending inside the grace days: extended, then grace until its end
    (dt.date(2026, 11, 17), D(2026, 11, 17, 12, 0), "extended", True, False),
    (dt.date(2026, 11, 17), D(2026, 11, 18, 0, 0), "grace", True, True),
    # an extension earlier than the close changes nothing
    (dt.date(2026, 11, 10), D(2026, 11, 12), "open", True, False),
    (dt.date(2026, 11, 10), CLOSE_M + US, "grace", True, True),
    (dt.date(2026, 11, 15), GRACE_M + US, "closed", False, False),
    # an extension never opens a window early
    (dt.date(2026, 12, 31), OPEN_M - US, "not_open", False, False),
])
def test_status_with_extension(extension, now, state, may_submit, late):
    st = w.status("monthly", Period.parse("2026-10"), now, CONFIG, extension_until=extension)
    assert (st.state, st.may_submit, st.late) == (state, may_submit, late)


def test_extension_message_and_type():
    st = w.status("monthly_strict", Period.parse("2026-10"), D(2026, 11, 20), CONFIG,
                  extension_until=D(2026, 11, 25, 18, 0))
    assert st.state == "extended"
    assert "2026-11-25 18:00" in st.message
    st = w.status("monthly_strict", Period.parse("2026-10"), D(2026, 11, 20), CONFIG,
                  extension_until=dt.date(2026, 11, 25))
    assert st.extension_until == D(2026, 11, 25, 23, 59, 59, 999999)
    assert "2026-11-25." in st.message
    with pytest.raises(TypeError):
        w.status("monthly", Period.parse("2026-10"), D(2026, 11, 20), CONFIG,
                 extension_until="2026-11-25")


@pytest.mark.parametrize("now, state", [
    (D(2026, 12, 31, 23, 59, 59, 999999), "not_open"),  # Q4 -> January
    (D(2027, 1, 1), "open"),
    (D(2027, 1, 15, 23, 59, 59), "open"),
    (D(2027, 1, 16), "grace"),
    (D(2027, 1, 18, 23, 59, 59), "grace"),
    (D(2027, 1, 19), "closed"),
])
def test_status_quarterly_q4(now, state):
    assert w.status("quarterly", Period.parse("2026Q4"), now, CONFIG).state == state


@pytest.mark.parametrize("now, state", [
    (D(2026, 12, 31, 23, 59, 59, 999999), "not_open"),
    (D(2027, 1, 1), "open"),
    (D(2027, 4, 30, 23, 59, 59), "open"),
    (D(2027, 5, 1), "closed"),
])
def test_status_annual(now, state):
    assert w.status("annual", Period.parse("2026"), now, CONFIG).state == state


def test_status_accepts_a_date_as_now():
    assert w.status("monthly", Period.parse("2026-10"), dt.date(2026, 11, 1), CONFIG).state \
        == "open"


def test_check_raises_a_domain_error_when_refused():
    p = Period.parse("2026-10")
    assert w.check("monthly", p, D(2026, 11, 16), CONFIG).late is True
    with pytest.raises(w.ReportWindowClosedError) as exc:
        w.check("monthly", p, D(2026, 12, 1), CONFIG)
    assert isinstance(exc.value, DomainError)
    assert exc.value.code == 422
    assert str(exc.value).startswith("The report for 2026-10 can no longer be submitted")
    assert exc.value.status.state == "closed"


# ----- current period and periods due ------------------------------------------------------
@pytest.mark.parametrize("kind, now, expected", [
    ("monthly", D(2026, 11, 1), "2026-10"),
    ("monthly", D(2026, 10, 31, 23, 59, 59), "2026-09"),   # October's window not open yet
    ("monthly", D(2026, 11, 28), "2026-10"),               # most recently closed
    ("monthly", D(2027, 1, 1), "2026-12"),                 # across the year
    ("quarterly", D(2027, 1, 5), "2026Q4"),
    ("quarterly", D(2026, 12, 31), "2026Q3"),
    ("quarterly_late", D(2027, 1, 9), "2026Q3"),           # Q4 opens on 10 January
    ("quarterly_late", D(2027, 1, 10), "2026Q4"),
    ("annual", D(2027, 3, 1), "2026"),
    ("annual", D(2026, 12, 31), "2025"),
])
def test_current_period(kind, now, expected):
    assert str(w.current_period(kind, now, CONFIG)) == expected


def test_periods_due():
    due = w.periods_due("monthly", D(2027, 1, 1), CONFIG, since=dt.date(2026, 10, 20))
    assert [str(p) for p in due] == ["2026-10", "2026-11", "2026-12"]
    due = w.periods_due("monthly", D(2026, 12, 31), CONFIG, since=Period.parse("2026-10"))
    assert [str(p) for p in due] == ["2026-10", "2026-11"]
    assert w.periods_due("monthly", D(2026, 10, 31), CONFIG, since=dt.date(2026, 10, 1)) == []
    due = w.periods_due("quarterly", D(2027, 1, 1), CONFIG, since=dt.date(2026, 1, 1))
    assert [str(p) for p in due] == ["2026Q1", "2026Q2", "2026Q3", "2026Q4"]
    due = w.periods_due("annual", D(2027, 1, 1), CONFIG, since=dt.date(2025, 6, 1))
    assert [str(p) for p in due] == ["2025", "2026"]
    with pytest.raises(ValueError):
        w.periods_due("monthly", D(2027, 1, 1), CONFIG, since=Period.parse("2026Q1"))


# ----- configuration -----------------------------------------------------------------------
@pytest.mark.parametrize("conf", [
    {},                                                          # unknown kind
    {"k": {"period": "week", "closes_day": 15}},
    {"k": {"period": "month"}},                                  # no closing day
    {"k": {"period": "month", "opens_day": 20, "closes_day": 10}},  # closes before it opens
    {"k": {"period": "month", "closes_day": 15, "grace_days": -1}},
    {"k": {"period": "month", "closes_month": 0, "closes_day": 15}},
])
def test_bad_configuration(conf):
    with pytest.raises(w.WindowConfigError):
        w.window("k", Period.parse("2026-10"), conf)


def test_period_of_the_wrong_type():
    with pytest.raises(ValueError):
        w.window("monthly", Period.parse("2026Q3"), CONFIG)


def test_default_configuration_is_valid():
    from config import REPORT_WINDOWS

    assert {"usedcar_monthly", "usedcar_quarterly", "finance_monthly", "finance_quarterly",
            "finance_annual"} <= set(REPORT_WINDOWS)
    for kind, conf in REPORT_WINDOWS.items():
        period = Period.containing(conf["period"], dt.date(2026, 6, 1))
        win = w.window(kind, period, REPORT_WINDOWS)
        assert win.opens_at.date() > period.end
    win = w.window("usedcar_monthly", Period.parse("2026-10"), REPORT_WINDOWS)
    assert (win.opens_at.date(), win.closes_at.date()) == (dt.date(2026, 11, 1),
                                                          dt.date(2026, 11, 15))


def test_configured_merges_the_app_config_over_the_defaults():
    app = Flask(__name__)
    app.config["REPORT_WINDOWS"] = {"usedcar_monthly": {"closes_day": 10},
                                    "power_selfcheck": {"period": "year", "closes_day": 31}}
    with app.app_context():
        conf = w.configured()
    assert conf["usedcar_monthly"] == {"period": "month", "opens_day": 1, "closes_day": 10,
                                       "grace_days": 5}
    assert conf["power_selfcheck"]["period"] == "year"
    assert "finance_annual" in conf


# ----- translated labels and dates inside an app -------------------------------------------
@pytest.fixture()
def babel_app():
    app = Flask(__name__)
    Babel(app, default_locale="zh")
    with app.app_context():
        yield app


@pytest.mark.parametrize("text, zh, en", [
    ("2026-10", "2026年10月", "October 2026"),
    ("2026Q3", "2026年第3季度", "3rd quarter 2026"),
    ("2026", "2026年", "2026"),
])
def test_labels_in_the_ui_language(babel_app, text, zh, en):
    assert Period.parse(text).label == zh
    with force_locale("en"):
        assert Period.parse(text).label == en


def test_message_dates_in_the_ui_language(babel_app):
    st = w.status("monthly", Period.parse("2026-10"), OPEN_M - US, CONFIG)
    assert "2026年10月" in st.message
    assert "2026年11月1日" in st.message and "2026年11月15日" in st.message
    with force_locale("en"):
        st = w.status("monthly", Period.parse("2026-10"), OPEN_M - US, CONFIG)
        assert "October 2026" in st.message
        assert "November 1, 2026" in st.message and "November 15, 2026" in st.message
