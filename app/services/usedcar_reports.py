"""Used-car trade reports (seed 001 §2.5, SPEC U7-U9): the enterprise's monthly trade report,
the appraisal institution's quarterly report, and what the authority reads from them (missing
reports, regional aggregates).

Every operation loads through the scoped session (an enterprise reaches its own reports, an
authority those of its used-car jurisdiction) and checks, in this order: the enterprise may
report at all (filing confirmed, U4; appraisal institutions only for the quarterly report),
the report window is open for it (app/services/report_windows.py: window, grace, extension),
then the figures (every error collected). Views and the API only parse input and call
`submit` / `update`.

The quarterly report (U8) has no table in the seed. Its table keeps the monthly report's rows
(one per vehicle category, the seed's order) with two columns: the number of vehicles
appraised (`total_count`) and their appraised value in 10k CNY (`amount`); the other count
columns stay 0. Appraisals are not sales, so the quarterly form is not prefilled from the
sales records.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import lazyload

from app.errors import (
    UsedCarNotConfirmedError,
    UsedCarReportExistsError,
    UsedCarReportInvalidError,
    UsedCarReportNotAllowedError,
)
from app.extensions import db
from app.models.base import AUTHORITY, current_scope
from app.models.org import Authority, Enterprise, Region, region_prefix
from app.models.usedcar import (
    APPRAISAL,
    CATEGORIES,
    MONTHLY,
    QUARTERLY,
    UsedCarFiling,
    UsedCarProfile,
    UsedCarReport,
    UsedCarReportRow,
    UsedCarSale,
)
from app.services import report_windows, xlsx
from app.workflows import windows
from app.workflows.usedcar import ensure_confirmed

MONTH_TYPE, QUARTER_TYPE = windows.MONTH, windows.QUARTER

COUNT_FIELDS = ("total_count", "direct_count", "consignment_count", "local_transfer_count",
                "transfer_out_count", "operating_count", "non_operating_count")
VALUE_FIELDS = ("amount", *COUNT_FIELDS)
MAX_AMOUNT = Decimal("999999999999.99")  # Numeric(14, 2)
MAX_COUNT = 10_000_000
CENT = Decimal("0.01")

FIELD_LABELS = {
    "amount": _l("Trade amount (10k CNY)"),
    "total_count": _l("Total count"),
    "direct_count": _l("Direct trades"),
    "consignment_count": _l("Consignment trades"),
    "local_transfer_count": _l("Local transfers"),
    "transfer_out_count": _l("Transfers out"),
    "operating_count": _l("Operating use"),
    "non_operating_count": _l("Non-operating use"),
}
# Short names for chart axes (the tables show CATEGORIES' full names).
SHORT_CATEGORY_LABELS = {
    "basic": _l("Basic"),
    "mpv": _l("MPV"),
    "suv": _l("SUV"),
    "cross": _l("Cross-type"),
    "truck": _l("Truck"),
    "three_wheel": _l("Three-wheel"),
    "low_speed": _l("Low-speed"),
    "trailer": _l("Trailer"),
    "motorcycle": _l("Motorcycle"),
    "other": _l("Other"),
}
QUARTERLY_LABELS = {
    "total_count": _l("Vehicles appraised"),
    "amount": _l("Appraised value (10k CNY)"),
}


@dataclass(frozen=True)
class CrossCheck:
    """parts must add up to the row's total count."""

    parts: tuple[str, str]
    label: object


@dataclass(frozen=True)
class ReportSpec:
    kind: str
    label: object
    columns: tuple[str, ...]
    labels: Mapping[str, object]
    # Column groups of the table header (seed 2.5.1): (label, number of columns).
    groups: tuple[tuple[object, int], ...]
    checks: tuple[CrossCheck, ...] = ()
    periods_per_year: int = 12
    business_type: str | None = None  # only enterprises of this business type file it
    prefill: bool = False
    period_name: object = ""

    def label_of(self, column: str) -> str:
        return str(self.labels[column])


MONTHLY_SPEC = ReportSpec(
    MONTHLY, _l("Monthly trade report"),
    columns=VALUE_FIELDS,
    labels=FIELD_LABELS,
    groups=((_l("Trade amount"), 1), (_l("Trade count"), 3), (_l("Transfer"), 2),
            (_l("Nature of use"), 2)),
    checks=(CrossCheck(("direct_count", "consignment_count"),
                       _l("direct + consignment trades")),
            CrossCheck(("local_transfer_count", "transfer_out_count"),
                       _l("local transfers + transfers out")),
            CrossCheck(("operating_count", "non_operating_count"),
                       _l("operating + non-operating use"))),
    periods_per_year=12, prefill=True, period_name=_l("Month"))
QUARTERLY_SPEC = ReportSpec(
    QUARTERLY, _l("Appraisal quarterly report"),
    columns=("total_count", "amount"),
    labels=QUARTERLY_LABELS,
    groups=((_l("Appraisals"), 2),),
    periods_per_year=4, business_type=APPRAISAL, period_name=_l("Quarter"))
SPECS = {MONTHLY: MONTHLY_SPEC, QUARTERLY: QUARTERLY_SPEC}


def spec(kind: str) -> ReportSpec:
    return SPECS[kind]


# ----- periods (windows.Period does the arithmetic) -------------------------------------------
def period_of(kind: str, year: int, period: int) -> windows.Period:
    return windows.Period(QUARTER_TYPE if kind == QUARTERLY else MONTH_TYPE, year, period)


def period_key(kind: str, year: int, period: int) -> str:
    """The report_windows / ReportExtension key: "2026-09" or "2026Q3"."""
    return str(period_of(kind, year, period))


def parse_period_key(kind: str, key: str) -> tuple[int, int]:
    """"2026-09" / "2026Q3" -> (2026, 9) / (2026, 3); ValueError otherwise."""
    found = windows.Period.parse(key, QUARTER_TYPE if kind == QUARTERLY else MONTH_TYPE)
    if not 2000 <= found.year <= 2999:
        raise ValueError(key)
    return found.year, found.number


def period_label(kind: str, year: int, period: int) -> str:
    """"2026年9月" / "2026年第3季度" in the UI language."""
    return period_of(kind, year, period).label


def period_dates(kind: str, year: int, period: int) -> tuple[datetime.date, datetime.date]:
    """First day of the period and first day after it."""
    found = period_of(kind, year, period)
    return found.start, found.next.start


def recent_periods(kind: str, today: datetime.date, count: int) -> list[tuple[int, int]]:
    """The `count` periods up to and including the one `today` is in, newest first."""
    found = windows.Period.containing(QUARTER_TYPE if kind == QUARTERLY else MONTH_TYPE, today)
    out = []
    for _ in range(count):
        out.append((found.year, found.number))
        found = found.previous
    return out


# ----- who may report -----------------------------------------------------------------------
def ensure_may_report(kind: str, enterprise_id: int | None) -> UsedCarProfile:
    """U4 gating (filing confirmed) and, for the quarterly report, the appraisal business
    type (U8). Raises UsedCarNotConfirmedError / UsedCarReportNotAllowedError."""
    profile = ensure_confirmed(enterprise_id)
    wanted = spec(kind).business_type
    if wanted and wanted not in profile.business_type_codes:
        raise UsedCarReportNotAllowedError(gettext(
            "The quarterly report is filed by appraisal institutions only: your enterprise "
            "is not registered for the appraisal business type."))
    if wanted and db.session.query(UsedCarFiling.id).filter_by(
            enterprise_id=enterprise_id, business_type=wanted).first() is None:
        raise UsedCarReportNotAllowedError(gettext(
            "The quarterly report opens once your appraisal institution filing is confirmed "
            "by the local commerce authority."))
    return profile


def may_report(kind: str, enterprise_id: int | None) -> tuple[bool, str]:
    try:
        ensure_may_report(kind, enterprise_id)
    except (UsedCarNotConfirmedError, UsedCarReportNotAllowedError) as exc:
        return False, str(exc)
    return True, ""


def find(kind: str, year: int, period: int, enterprise_id: int) -> UsedCarReport | None:
    return db.session.query(UsedCarReport).filter_by(
        enterprise_id=enterprise_id, kind=kind, year=year, period=period).first()


# ----- figures ------------------------------------------------------------------------------
@dataclass
class Figures:
    """The table of one report: {category: {column: value}} in CATEGORIES order."""

    kind: str
    rows: dict[str, dict[str, object]] = field(default_factory=dict)

    @classmethod
    def blank(cls, kind: str) -> Figures:
        return cls(kind, {cat: {c: (Decimal("0.00") if c == "amount" else 0)
                                for c in VALUE_FIELDS} for cat in CATEGORIES})

    @classmethod
    def of(cls, report: UsedCarReport) -> Figures:
        figures = cls.blank(report.kind)
        for row in report.rows:
            if row.category in figures.rows:
                figures.rows[row.category] = {c: getattr(row, c) for c in VALUE_FIELDS}
        return figures

    def totals(self) -> dict[str, object]:
        return {c: sum((r[c] for r in self.rows.values() if isinstance(r[c], (int, Decimal))),
                       Decimal("0.00") if c == "amount" else 0) for c in VALUE_FIELDS}

    def table(self) -> list[tuple[str, str, dict]]:
        """[(category, label, values)] for templates and exports."""
        return [(cat, str(CATEGORIES[cat]), self.rows[cat]) for cat in CATEGORIES]


def _parse_amount(raw) -> Decimal:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return Decimal("0.00")
    if isinstance(raw, bool):
        raise ValueError
    text = str(raw).strip().replace(",", "")
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError from exc
    if not value.is_finite() or value < 0 or value > MAX_AMOUNT or \
            value != value.quantize(CENT, rounding=ROUND_HALF_UP):
        raise ValueError
    return value.quantize(CENT)


def _parse_count(raw) -> int:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return 0
    if isinstance(raw, bool):
        raise ValueError
    if isinstance(raw, int):
        value = raw
    else:
        text = str(raw).strip()
        if not text.isdigit():
            raise ValueError
        value = int(text)
    if value < 0 or value > MAX_COUNT:
        raise ValueError
    return value


def parse(kind: str, cells: Mapping[tuple[str, str], object]) -> tuple[Figures, list[str]]:
    """Figures from raw cells {(category, column): text or number}; columns the kind does
    not have stay 0. Returns the figures and every error (parse errors and cross-checks)."""
    sp = spec(kind)
    figures = Figures.blank(kind)
    errors: list[str] = []
    for cat, cat_label in CATEGORIES.items():
        for column in sp.columns:
            raw = cells.get((cat, column))
            try:
                value = _parse_amount(raw) if column == "amount" else _parse_count(raw)
            except ValueError:
                if column == "amount":
                    errors.append(gettext(
                        "%(category)s, %(column)s: enter an amount of at least 0 with at most "
                        "two decimals (10k CNY).", category=cat_label,
                        column=sp.label_of(column)))
                else:
                    errors.append(gettext(
                        "%(category)s, %(column)s: enter a whole number of at least 0.",
                        category=cat_label, column=sp.label_of(column)))
                continue
            figures.rows[cat][column] = value
    if not errors:
        errors = cross_check(figures)
    return figures, errors


def cross_check(figures: Figures) -> list[str]:
    errors = []
    sp = spec(figures.kind)
    for cat, values in figures.rows.items():
        total = values["total_count"]
        for check in sp.checks:
            a, b = (values[p] for p in check.parts)
            if a + b != total:
                errors.append(gettext(
                    "%(category)s: %(parts)s (%(sum)d) must equal the total count (%(total)d).",
                    category=CATEGORIES[cat], parts=check.label, sum=a + b, total=total))
    return errors


def cells_from_form(kind: str, form: Mapping[str, str]) -> dict[tuple[str, str], object]:
    """Form fields are named "<category>-<column>" (see usedcar/report_form.html)."""
    return {(cat, c): form.get(f"{cat}-{c}") for cat in CATEGORIES for c in spec(kind).columns}


def cells_from_json(kind: str, rows) -> tuple[dict[tuple[str, str], object], list[str]]:
    """API rows: [{"category": "basic", "amount": "12.5", "total_count": 3, ...}]. A
    category left out counts as a row of zeros; an unknown one or a repeated one is an
    error."""
    cells: dict[tuple[str, str], object] = {}
    errors: list[str] = []
    if rows is None:
        rows = []
    if not isinstance(rows, list):
        return cells, [gettext("rows must be a list of one object per vehicle category.")]
    seen = set()
    allowed = set(spec(kind).columns)
    for row in rows:
        cat = row.get("category") if isinstance(row, dict) else None
        if cat not in CATEGORIES:
            errors.append(gettext("Unknown vehicle category: %(category)s.",
                                  category=str(cat)))
            continue
        if cat in seen:
            errors.append(gettext("Vehicle category given twice: %(category)s.",
                                  category=CATEGORIES[cat]))
            continue
        seen.add(cat)
        for key, value in row.items():
            if key == "category":
                continue
            if key not in allowed:
                errors.append(gettext("%(category)s: unknown column %(column)s.",
                                      category=CATEGORIES[cat], column=str(key)))
                continue
            cells[(cat, key)] = value
    return cells, errors


# ----- prefill from the sales records (U7) --------------------------------------------------
def prefill(kind: str, year: int, period: int, enterprise_id: int) -> Figures | None:
    """The monthly figures the sales records of that month give: amount = sum of prices /
    10,000 (2 decimals), total count, direct = sales without an agent, consignment = with
    one. None when the month has no sales (or the kind is not prefilled). One GROUP BY."""
    if not spec(kind).prefill:
        return None
    start, end = period_dates(kind, year, period)
    agent = case((UsedCarSale.has_agent.is_(True), 1), else_=0)
    query = (select(UsedCarSale.category, func.coalesce(func.sum(UsedCarSale.price), 0),
                    func.count(UsedCarSale.id), func.coalesce(func.sum(agent), 0))
             .where(UsedCarSale.enterprise_id == enterprise_id,
                    UsedCarSale.report_date >= start, UsedCarSale.report_date < end)
             .group_by(UsedCarSale.category))
    found = db.session.execute(query).all()
    if not found:
        return None
    figures = Figures.blank(kind)
    for category, price_sum, count, with_agent in found:
        cat = category if category in CATEGORIES else "other"
        row = figures.rows[cat]
        amount = (Decimal(str(price_sum)) / Decimal(10000)).quantize(CENT,
                                                                     rounding=ROUND_HALF_UP)
        row["amount"] += amount
        row["total_count"] += int(count)
        row["consignment_count"] += int(with_agent)
        row["direct_count"] += int(count) - int(with_agent)
    return figures


# ----- submit and change --------------------------------------------------------------------
def _apply(report: UsedCarReport, figures: Figures) -> None:
    by_category = {row.category: row for row in report.rows}
    for position, cat in enumerate(CATEGORIES):
        row = by_category.get(cat)
        if row is None:
            row = UsedCarReportRow(category=cat, enterprise_id=report.enterprise_id)
            report.rows.append(row)
        row.position = position
        for column in VALUE_FIELDS:
            setattr(row, column, figures.rows[cat][column])


def _filer(filer_name) -> str:
    name = (filer_name or "").strip()
    if not name:
        raise UsedCarReportInvalidError([gettext("Enter the filer's name.")])
    if len(name) > 64:
        raise UsedCarReportInvalidError([gettext("The filer's name is at most 64 characters.")])
    return name


def submit(kind: str, year: int, period: int, figures: Figures | None, filer_name: str, *,
           enterprise_id: int, user_id: int | None = None, errors: list[str] | None = None,
           now: datetime.datetime | None = None) -> UsedCarReport:
    """File the report of one period: gating, one report per period, window (late flag in
    grace or under an extension), figures. Commits once."""
    ensure_may_report(kind, enterprise_id)
    existing = find(kind, year, period, enterprise_id)
    if existing is not None:
        raise UsedCarReportExistsError(gettext(
            "The %(report)s for %(period)s has already been submitted: open it to make "
            "changes.", report=spec(kind).label, period=period_label(kind, year, period)),
            report_id=existing.id)
    status = report_windows.require_open(kind, period_key(kind, year, period), enterprise_id,
                                         now=now)
    if errors:
        raise UsedCarReportInvalidError(errors)
    name = _filer(filer_name)
    moment = report_windows.moment(now)
    report = UsedCarReport(enterprise_id=enterprise_id, kind=kind, year=year, period=period,
                           filer_name=name, submitted_on=moment, submitted_by_id=user_id,
                           changed_on=moment, late=report_windows.is_late(status))
    _apply(report, figures)
    db.session.add(report)
    try:
        db.session.commit()
    except IntegrityError:
        # Another submission of the same period committed first (two tabs, a double click).
        db.session.rollback()
        existing = find(kind, year, period, enterprise_id)
        raise UsedCarReportExistsError(gettext(
            "The %(report)s for %(period)s has already been submitted: open it to make "
            "changes.", report=spec(kind).label, period=period_label(kind, year, period)),
            report_id=existing.id if existing else None) from None
    return report


def update(report: UsedCarReport, figures: Figures | None, filer_name: str, *,
           errors: list[str] | None = None,
           now: datetime.datetime | None = None) -> UsedCarReport:
    """Change a report while its window is open (or extended). A change made in grace or
    under an extension marks the report late (and it stays so). Commits once."""
    ensure_may_report(report.kind, report.enterprise_id)
    status = report_windows.require_open(
        report.kind, period_key(report.kind, report.year, report.period), report.enterprise_id,
        now=now)
    if errors:
        raise UsedCarReportInvalidError(errors)
    report.filer_name = _filer(filer_name)
    report.late = bool(report.late or report_windows.is_late(status))
    report.changed_on = report_windows.moment(now)
    _apply(report, figures)
    db.session.commit()
    return report


# ----- authority side (U9) ------------------------------------------------------------------
def _in_region(region: str | None):
    """Condition on UsedCarReport.enterprise_id: the enterprise's district is under `region`
    (a region code: 440100 -> every district of Guangzhou). It only narrows the reports,
    which the ORM hook scopes already, so the enterprise table is read as a plain table (no
    second copy of the jurisdiction's id list)."""
    prefix = region_prefix(region or "")
    if not prefix:
        return None
    ent = Enterprise.__table__
    return UsedCarReport.enterprise_id.in_(
        select(ent.c.id).where(ent.c.region_code.startswith(prefix)))


def missing(kind: str, year: int, period: int, region: str | None = None):
    """Enterprises in the caller's used-car jurisdiction (the ORM scope) whose filing was
    confirmed before the period's window closed, that file this kind (appraisal institutions
    for the quarterly report) and have no report for the period: [(Enterprise,
    UsedCarProfile)], by name."""
    submitted = exists().where(UsedCarReport.enterprise_id == Enterprise.id,
                               UsedCarReport.kind == kind, UsedCarReport.year == year,
                               UsedCarReport.period == period)
    # Only enterprises that could have filed it: confirmed before the window closed.
    closes = windows.window(kind, period_of(kind, year, period), windows.configured()).closes_at
    query = (db.session.query(Enterprise, UsedCarProfile)
             .options(lazyload(UsedCarProfile.enterprise))
             .join(UsedCarProfile, UsedCarProfile.enterprise_id == Enterprise.id)
             .filter(UsedCarProfile.confirmed_on.isnot(None),
                     UsedCarProfile.confirmed_on <= closes, ~submitted))
    wanted = spec(kind).business_type
    if wanted:
        query = query.filter(UsedCarProfile.business_types.contains(wanted, autoescape=True))
    prefix = region_prefix(region or "")
    if prefix:
        query = query.filter(Enterprise.region_code.startswith(prefix))
    return query.order_by(Enterprise.name, Enterprise.id).all()


def _period_condition(start: tuple[int, int], end: tuple[int, int]):
    """(year, period) between start and end inclusive, as conditions the
    ix_usedcar_report_period index (kind, year, period, enterprise_id) serves."""
    (y1, p1), (y2, p2) = start, end
    if y1 == y2:
        return and_(UsedCarReport.year == y1, UsedCarReport.period.between(p1, p2))
    parts = [and_(UsedCarReport.year == y1, UsedCarReport.period >= p1),
             and_(UsedCarReport.year == y2, UsedCarReport.period <= p2)]
    if y2 - y1 > 1:
        parts.append(UsedCarReport.year.between(y1 + 1, y2 - 1))
    return or_(*parts)


_ROWS = UsedCarReportRow.__table__


def aggregate_query(start, end, region=None, kind: str = MONTHLY):
    """SELECT year, period, category, number of reports, sums of every column of the
    reports of `kind` for the periods start..end (and the region) GROUP BY year, period,
    category: one statement for both tables of the page.

    Scope: the reports are the ORM entity, scoped by the tenancy hook like every query of the
    request; their rows are joined as a plain table, reached only through their (scoped)
    report. Scoping the rows as well would repeat the jurisdiction's id lists twice more in
    the statement (for 5,000 enterprises that doubles the time) and select nothing else.
    The periods are an index range on ix_usedcar_report_period (kind, year, period, ...).
    count(*) of a (period, category) group is its number of reports: a report has one row
    per category (uq_usedcar_row_category), so no count(DISTINCT) is needed."""
    query = (select(UsedCarReport.year, UsedCarReport.period, _ROWS.c.category,
                    func.count(),
                    *[func.coalesce(func.sum(_ROWS.c[c]), 0) for c in VALUE_FIELDS])
             .select_from(UsedCarReport)
             .join(_ROWS, _ROWS.c.report_id == UsedCarReport.id)
             .where(UsedCarReport.kind == kind, _period_condition(start, end))
             .group_by(UsedCarReport.year, UsedCarReport.period, _ROWS.c.category))
    condition = _in_region(region)
    if condition is not None:
        query = query.where(condition)
    return query


def _figures(values) -> dict:
    out = {}
    for column, value in zip(VALUE_FIELDS, values, strict=True):
        out[column] = (Decimal(str(value)).quantize(CENT) if column == "amount"
                       else int(value or 0))
    return out


def aggregates(start: tuple[int, int], end: tuple[int, int], region: str | None = None,
               kind: str = MONTHLY) -> tuple[list[dict], list[dict]]:
    """Sums of the reports in the caller's scope (one GROUP BY in SQL; at most
    periods x categories sums reach Python, never a report row):
    - by month, one entry per period from start to end inclusive, zeros included:
      {"year", "period", "reports", amount, counts...};
    - by vehicle category over the whole span, in CATEGORIES order:
      {"category", "label", "reports", amount, counts...}.
    "reports" is the number of reports (each report has one row per category)."""
    cells = {}
    for year, period, category, reports, *values in db.session.execute(
            aggregate_query(start, end, region, kind)):
        cells[(int(year), int(period), category)] = (int(reports), _figures(values))
    zero = _figures([0] * len(VALUE_FIELDS))

    def total(entries):
        out = dict(zero)
        for _n, values in entries:
            for column in VALUE_FIELDS:
                out[column] += values[column]
        return out

    by_month = []
    for year, period in period_range(kind, start, end):
        entries = [v for (y, p, _c), v in cells.items() if (y, p) == (year, period)]
        by_month.append({"year": year, "period": period,
                         "reports": max((n for n, _v in entries), default=0),
                         **total(entries)})
    by_category = []
    for cat, label in CATEGORIES.items():
        entries = [v for (_y, _p, c), v in cells.items() if c == cat]
        by_category.append({"category": cat, "label": str(label),
                            "reports": sum(n for n, _v in entries), **total(entries)})
    return by_month, by_category


def period_range(kind: str, start: tuple[int, int], end: tuple[int, int]):
    """[(year, period)] from start to end inclusive."""
    found, last, out = period_of(kind, *start), period_of(kind, *end), []
    while found <= last:
        out.append((found.year, found.number))
        found = found.next
    return out


def regions_in_scope() -> list[tuple[str, str]]:
    """(code, name) of the cities and districts the region filter of the authority pages
    offers: those under the authority's region (inside its jurisdiction by construction; no
    tenant table read). Users without an authority (system admins): the cities and districts
    of the used-car enterprises they see."""
    scope = current_scope()
    if scope is not None and scope.kind == AUTHORITY:
        authority = db.session.get(Authority, scope.authority_id)
        prefix = authority.region_prefix if authority is not None else None
        if prefix is None:
            return []
        rows = (db.session.query(Region.code, Region.name)
                .filter(Region.code.startswith(prefix), Region.code != authority.region_code)
                .order_by(Region.code).all())
        return [(code, name) for code, name in rows]
    codes = {c for (c,) in db.session.query(Enterprise.region_code)
             .join(UsedCarProfile, UsedCarProfile.enterprise_id == Enterprise.id).distinct()}
    wanted = set(codes)
    for code in codes:
        if len(code) == 6 and not code.endswith("00"):
            wanted.add(code[:4] + "00")
    if not wanted:
        return []
    rows = db.session.query(Region.code, Region.name).filter(Region.code.in_(wanted)).order_by(
        Region.code).all()
    return [(code, name) for code, name in rows]


# ----- workbooks ----------------------------------------------------------------------------
_SHEET_FORBIDDEN = str.maketrans({c: " " for c in "[]:*?/\\"})


def _sheet(wb, title: str):
    return wb.create_sheet(title=str(title).translate(_SHEET_FORBIDDEN)[:31])


def _bold(ws, values):
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    cells = []
    for value in values:
        cell = WriteOnlyCell(ws, value=xlsx.safe_value(value))
        cell.font = Font(bold=True)
        cells.append(cell)
    ws.append(cells)


def _amount(value):
    return float(value) if isinstance(value, Decimal) else value


def write_report_xlsx(report: UsedCarReport, path: str) -> None:
    """One report as a workbook: who and when, then the seed's table with its totals row."""
    from openpyxl import Workbook

    sp = spec(report.kind)
    figures = Figures.of(report)
    wb = Workbook(write_only=True)
    ws = _sheet(wb, f"{sp.label} {period_key(report.kind, report.year, report.period)}")
    _bold(ws, [f"{sp.label}（{period_label(report.kind, report.year, report.period)}）"])
    for label, value in (
            (gettext("Enterprise"), report.enterprise.name),
            (gettext("USCC"), report.enterprise.uscc),
            (gettext("Filer"), report.filer_name),
            (gettext("Submitted on"), report.submitted_on),
            (gettext("Last changed"), report.changed_on),
            (gettext("Late"), gettext("Yes") if report.late else gettext("No"))):
        ws.append([xlsx.safe_value(label), xlsx.safe_value(value)])
    ws.append([gettext("Amounts in 10k CNY.")])
    _bold(ws, [gettext("Vehicle category"), *(sp.label_of(c) for c in sp.columns)])
    for _cat, label, values in figures.table():
        ws.append([xlsx.safe_value(label), *(_amount(values[c]) for c in sp.columns)])
    totals = figures.totals()
    _bold(ws, [gettext("Total"), *(_amount(totals[c]) for c in sp.columns)])
    wb.save(path)


def write_aggregates_xlsx(path: str, by_month: list[dict], by_category: list[dict],
                          region: str = "") -> None:
    """The regional aggregates: one sheet by month, one by vehicle category."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    labels = [str(FIELD_LABELS[c]) for c in VALUE_FIELDS]
    ws = _sheet(wb, gettext("By month"))
    if region:
        ws.append([gettext("Region"), region])
    _bold(ws, [gettext("Month"), gettext("Reports"), *labels])
    for m in by_month:
        ws.append([period_key(MONTHLY, m["year"], m["period"]), m["reports"],
                   *(_amount(m[c]) for c in VALUE_FIELDS)])
    _bold(ws, [gettext("Total"), sum(m["reports"] for m in by_month),
               *(_amount(sum(m[c] for m in by_month)) for c in VALUE_FIELDS)])
    ws = _sheet(wb, gettext("By vehicle category"))
    if region:
        ws.append([gettext("Region"), region])
    _bold(ws, [gettext("Vehicle category"), *labels])
    for c in by_category:
        ws.append([c["label"], *(_amount(c[col]) for col in VALUE_FIELDS)])
    _bold(ws, [gettext("Total"),
               *(_amount(sum(c[col] for c in by_category)) for col in VALUE_FIELDS)])
    wb.save(path)
