"""Dashboard figures (SPEC X17): aggregate SQL over the scoped session (one GROUP BY or one
conditional sum per figure, never a loop over rows), so a regulator counts its jurisdiction,
an enterprise itself, a system admin everything."""

from __future__ import annotations

import datetime

from sqlalchemy import and_, case, extract, func, select

from app.extensions import db
from app.models.rental import VEHICLE_STATES, Vehicle
from app.models.workflow import Application
from app.services.inbox import APPROVED, AWAITING_REVIEW, DECIDED_STATES, REJECTED, RETURNED


def month_start(day: datetime.date) -> datetime.datetime:
    return datetime.datetime(day.year, day.month, 1)


def add_months(day: datetime.datetime, months: int) -> datetime.datetime:
    index = day.year * 12 + (day.month - 1) + months
    return day.replace(year=index // 12, month=index % 12 + 1, day=1)


def case_counts(today: datetime.date | None = None) -> dict:
    """pending, overdue, returned, approved / rejected this month: one query."""
    today = today or datetime.date.today()
    start = month_start(today)
    end = add_months(start, 1)
    this_month = and_(Application.decided_on >= start, Application.decided_on < end)

    def count_if(condition):
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = db.session.execute(select(
        count_if(Application.state.in_(AWAITING_REVIEW)),
        count_if(Application.state.in_(AWAITING_REVIEW)
                 & ((Application.deadline < today) | (Application.stage_deadline < today))),
        count_if(Application.state == RETURNED),
        count_if((Application.state == APPROVED) & this_month),
        count_if((Application.state == REJECTED) & this_month),
    ).select_from(Application)).one()
    keys = ("pending", "overdue", "returned", "approved_this_month", "rejected_this_month")
    return dict(zip(keys, (int(v) for v in row), strict=True))


def vehicles_by_state() -> list[tuple[str, int]]:
    """[(state, count)] in the order of VEHICLE_STATES, zeros included."""
    rows = dict(db.session.execute(
        select(Vehicle.state, func.count(Vehicle.id)).group_by(Vehicle.state)).all())
    states = list(VEHICLE_STATES) + sorted(s for s in rows if s not in VEHICLE_STATES)
    return [(s, int(rows.get(s, 0))) for s in states]


def _per_month(column, start, end, *conditions) -> dict[tuple[int, int], int]:
    year, month = extract("year", column), extract("month", column)
    query = (select(year, month, func.count(Application.id))
             .where(column >= start, column < end, *conditions)
             .group_by(year, month))
    return {(int(y), int(m)): int(n) for y, m, n in db.session.execute(query)}


def cases_by_month(months: int = 12, today: datetime.date | None = None) -> dict:
    """Cases received (by submission date) and decided (by decision date) per month over the
    last `months` months, this one included: {"months": ["2026-01", ...], "received": [...],
    "decided": [...]}."""
    today = today or datetime.date.today()
    end = add_months(month_start(today), 1)
    start = add_months(end, -months)
    received = _per_month(Application.submitted_on, start, end)
    decided = _per_month(Application.decided_on, start, end,
                         Application.state.in_(DECIDED_STATES))
    keys = [add_months(start, i) for i in range(months)]
    return {
        "months": [f"{k.year}-{k.month:02d}" for k in keys],
        "received": [received.get((k.year, k.month), 0) for k in keys],
        "decided": [decided.get((k.year, k.month), 0) for k in keys],
    }


__all__ = ["add_months", "case_counts", "cases_by_month", "month_start", "vehicles_by_state"]
