"""Used-car trade reports (seed 001 §2.5, SPEC U7-U9).

Enterprise side: the monthly trade report (`/usedcar/reports/monthly/`) and the appraisal
institution's quarterly report (`/usedcar/reports/quarterly/`): list filtered by year and
month/quarter, "add" (pick a period whose window is open, then the table, prefilled from the
month's sales records), show, edit while the window is open, .xlsx of one report and of the
list. Authority side (`/usedcar/oversight/`): missing reports, regional aggregates with a
chart, and report-window extensions. REST twin: `/api/v1/usedcar_report/`.

Views parse input and call app/services/usedcar_reports.py and report_windows.py; every
refusal (gating, window, figures) comes from there with its message."""

from __future__ import annotations

import datetime

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.models.sqla.filters import FilterEqual, FilterInFunction
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from app.errors import (
    DomainError,
    ReportExtensionInvalidError,
    UsedCarReportExistsError,
    UsedCarReportInvalidError,
)
from app.extensions import db
from app.models.org import Enterprise
from app.models.report import ReportExtension
from app.models.usedcar import CATEGORIES, MONTHLY, QUARTERLY, UsedCarProfile, UsedCarReport
from app.security import PV_USEDCAR_OVERSIGHT, PV_USEDCAR_REPORT
from app.services import audit, report_windows, xlsx
from app.services import usedcar_reports as svc
from app.services.charts import bar_chart
from app.services.export import XLSX_MIME
from app.views.base import (
    AppModelRestApi,
    AppModelView,
    FilterInTenantScope,
    send_and_remove,
)
from app.workflows import windows
from app.workflows.windows import ReportWindowClosedError

REPORT_LABELS = {
    "year": _l("Year"),
    "period": _l("Period"),
    "enterprise.name": _l("Enterprise"),
    "enterprise.uscc": _l("USCC"),
    "filer_name": _l("Filer"),
    "submitted_on": _l("Submitted on"),
    "changed_on": _l("Last changed"),
    "late": _l("Late"),
    "total_amount": _l("Total amount (10k CNY)"),
    "total_count": _l("Total count"),
}
TOTAL_COLUMNS = {"total_amount": "amount", "total_count": "total_count"}
# The aggregates page shows the last DEFAULT_MONTHS months up to the one due now, unless
# asked otherwise (at 5,000 enterprises a month costs ~0.1 s on SQLite).
DEFAULT_MONTHS = 6
# How many periods the "add" page offers (newest first), besides extended ones.
PERIODS_OFFERED = {MONTHLY: 12, QUARTERLY: 8}


def _enterprise_id() -> int | None:
    return getattr(g.user, "enterprise_id", None)


def _today() -> datetime.date:
    return report_windows.moment().date()


def _equal_index(view, column: str) -> int:
    filters = view.datamodel.get_filters([column]).get_search_filters()[column]
    return next(i for i, f in enumerate(filters) if type(f) is FilterEqual)


# ----- enterprise side: the reports -----------------------------------------------------------
class _ReportView(AppModelView):
    """One report kind (MONTHLY or QUARTERLY); the twin subclasses only set the kind."""

    kind = MONTHLY
    datamodel = SQLAInterface(UsedCarReport)
    class_permission_name = PV_USEDCAR_REPORT
    base_permissions = ["can_list", "can_show", "can_add", "can_edit", "can_export"]
    method_permission_name = {"list": "list", "show": "show", "add": "add", "edit": "edit",
                              "export": "export", "export_report": "export"}
    exclude_route_methods = {"download", "delete", "action", "action_post"}
    label_columns = REPORT_LABELS
    list_columns = ["year", "period", "enterprise.name", "filer_name", "submitted_on",
                    "changed_on", "late"]
    search_columns = ["year", "period", "late"]
    order_columns = ["year", "period", "submitted_on"]
    base_order = ("id", "desc")
    export_columns = ["year", "period", "enterprise.name", "enterprise.uscc", "filer_name",
                      "submitted_on", "changed_on", "late", "total_amount", "total_count"]
    list_template = "usedcar/report_list.html"

    def __init__(self, **kwargs):
        self.label_columns = {**REPORT_LABELS, "period": svc.spec(self.kind).period_name}
        super().__init__(**kwargs)

    @property
    def spec(self) -> svc.ReportSpec:
        return svc.spec(self.kind)

    # ---- list -------------------------------------------------------------------------------
    def render_template(self, template, **kwargs):
        if template == self.list_template:
            today = _today()
            kwargs.update(
                spec=self.spec, kind=self.kind,
                year_arg=f"_flt_{_equal_index(self, 'year')}_year",
                period_arg=f"_flt_{_equal_index(self, 'period')}_period",
                years=list(range(today.year, today.year - 6, -1)))
        return super().render_template(template, **kwargs)

    def export_value(self, item, column: str):
        if column in TOTAL_COLUMNS:
            return svc.Figures.of(item).totals()[TOTAL_COLUMNS[column]]
        return super().export_value(item, column)

    def export_label(self, column: str) -> str:
        if column == "total_amount" and self.kind == QUARTERLY:
            return gettext("Total appraised value (10k CNY)")
        if column == "total_count" and self.kind == QUARTERLY:
            return gettext("Vehicles appraised")
        return super().export_label(column)

    def export_title_text(self) -> str:
        return str(self.spec.label)

    # ---- helpers ----------------------------------------------------------------------------
    def _page(self, template, status=200, **kwargs):
        return self.render_template(f"usedcar/{template}", spec=self.spec, kind=self.kind,
                                    view=self, categories=CATEGORIES,
                                    is_late=report_windows.is_late,
                                    appbuilder=self.appbuilder, **kwargs), status

    def _refused(self, exc: DomainError):
        return self._page("report_refused.html", status=exc.code, message=str(exc),
                          title=self.spec.label)

    def _report(self, pk) -> UsedCarReport:
        report = self.datamodel.get(pk, self._base_filters)
        if report is None or report.kind != self.kind:
            abort(404)
        return report

    def _periods(self, enterprise_id: int):
        """The periods the add page offers, newest first, with their window status for this
        enterprise and the report already filed: [(year, period, key, status, report)]."""
        now = report_windows.moment()
        periods = svc.recent_periods(self.kind, now.date(), PERIODS_OFFERED[self.kind])
        extended = db.session.query(ReportExtension.period_key).filter_by(
            enterprise_id=enterprise_id, kind=self.kind).all()
        for (key,) in extended:
            try:
                found = svc.parse_period_key(self.kind, key)
            except ValueError:
                continue
            if found not in periods:
                periods.append(found)
        periods.sort(reverse=True)
        reports = {(r.year, r.period): r for r in db.session.query(UsedCarReport).filter_by(
            enterprise_id=enterprise_id, kind=self.kind)}
        statuses = report_windows.check_many(
            self.kind, [svc.period_key(self.kind, y, p) for y, p in periods], enterprise_id,
            now=now)
        return [(y, p, svc.period_key(self.kind, y, p),
                 statuses[svc.period_key(self.kind, y, p)], reports.get((y, p)))
                for y, p in periods]

    def _form(self, status=200, *, year, period, figures, raw=None, errors=(), filer_name="",
              report=None, prefilled=None, window=None):
        return self._page(
            "report_form.html", status=status, year=year, period=period,
            period_text=svc.period_label(self.kind, year, period),
            key=svc.period_key(self.kind, year, period), figures=figures,
            totals=figures.totals(), raw=raw, errors=errors, filer_name=filer_name,
            report=report, prefilled=prefilled, window=window)

    # ---- add --------------------------------------------------------------------------------
    @expose("/add", methods=["GET", "POST"])
    @has_access
    def add(self):
        enterprise_id = _enterprise_id()
        try:
            svc.ensure_may_report(self.kind, enterprise_id)
        except DomainError as exc:
            return self._refused(exc)
        key = (request.form.get("period") if request.method == "POST"
               else request.args.get("period"))
        if not key:
            return self._page("report_periods.html", periods=self._periods(enterprise_id),
                              title=self.spec.label)
        try:
            year, period = svc.parse_period_key(self.kind, key)
        except ValueError:
            flash(gettext("Choose a reporting period from the list."), "danger")
            return self._page("report_periods.html", status=422,
                              periods=self._periods(enterprise_id), title=self.spec.label)
        existing = svc.find(self.kind, year, period, enterprise_id)
        if existing is not None:
            flash(gettext("The %(report)s for %(period)s has already been submitted: open it "
                          "to make changes.", report=self.spec.label,
                          period=svc.period_label(self.kind, year, period)), "warning")
            return redirect(url_for(f"{self.endpoint}.edit", pk=existing.id))
        window = report_windows.check(self.kind, key, enterprise_id)
        if not window.may_submit:
            flash(str(window.message), "danger")
            return self._page("report_periods.html", status=ReportWindowClosedError.code,
                              periods=self._periods(enterprise_id), title=self.spec.label)
        if request.method == "GET":
            prefilled = svc.prefill(self.kind, year, period, enterprise_id)
            return self._form(year=year, period=period,
                              figures=prefilled or svc.Figures.blank(self.kind),
                              prefilled=prefilled is not None, window=window,
                              filer_name=_default_filer())
        figures, errors = svc.parse(self.kind, svc.cells_from_form(self.kind, request.form))
        filer_name = request.form.get("filer_name", "")
        try:
            report = svc.submit(self.kind, year, period, figures, filer_name,
                                enterprise_id=enterprise_id, user_id=g.user.id, errors=errors)
        except UsedCarReportExistsError as exc:
            flash(str(exc), "warning")
            if exc.report_id is None:  # lost a race and cannot see the winner yet
                return redirect(url_for(f"{self.endpoint}.list"))
            return redirect(url_for(f"{self.endpoint}.edit", pk=exc.report_id))
        except UsedCarReportInvalidError as exc:
            db.session.rollback()
            return self._form(422, year=year, period=period, figures=figures,
                              raw=request.form, errors=exc.errors, filer_name=filer_name,
                              window=window)
        except ReportWindowClosedError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
            return self._page("report_periods.html", status=exc.code,
                              periods=self._periods(enterprise_id), title=self.spec.label)
        except DomainError as exc:
            db.session.rollback()
            return self._refused(exc)
        _flash_saved(report, gettext("The report has been submitted."))
        return redirect(url_for(f"{self.endpoint}.show", pk=report.id))

    # ---- edit -------------------------------------------------------------------------------
    @expose("/edit/<int:pk>", methods=["GET", "POST"])
    @has_access
    def edit(self, pk):
        report = self._report(pk)
        try:
            svc.ensure_may_report(self.kind, _enterprise_id())
            if report.enterprise_id != _enterprise_id():
                abort(404)
        except DomainError as exc:
            return self._refused(exc)
        key = svc.period_key(self.kind, report.year, report.period)
        window = report_windows.check(self.kind, key, report.enterprise_id)
        if not window.may_submit:
            message = gettext("This report can no longer be changed: %(reason)s",
                              reason=window.message)
            if request.method == "GET":
                flash(message, "warning")
                return redirect(url_for(f"{self.endpoint}.show", pk=report.id))
            return self._show(report, status=ReportWindowClosedError.code, message=message)
        if request.method == "GET":
            return self._form(year=report.year, period=report.period,
                              figures=svc.Figures.of(report), filer_name=report.filer_name,
                              report=report, window=window)
        figures, errors = svc.parse(self.kind, svc.cells_from_form(self.kind, request.form))
        filer_name = request.form.get("filer_name", "")
        try:
            svc.update(report, figures, filer_name, errors=errors)
        except UsedCarReportInvalidError as exc:
            db.session.rollback()
            return self._form(422, year=report.year, period=report.period, figures=figures,
                              raw=request.form, errors=exc.errors, filer_name=filer_name,
                              report=report, window=window)
        except ReportWindowClosedError as exc:
            db.session.rollback()
            return self._show(self._report(pk), status=exc.code, message=gettext(
                "This report can no longer be changed: %(reason)s", reason=str(exc)))
        except DomainError as exc:
            db.session.rollback()
            return self._refused(exc)
        _flash_saved(report, gettext("The report has been saved."))
        return redirect(url_for(f"{self.endpoint}.show", pk=report.id))

    # ---- show and export --------------------------------------------------------------------
    def _show(self, report: UsedCarReport, status=200, message=None):
        figures = svc.Figures.of(report)
        window = None
        may_edit = False
        if _enterprise_id() == report.enterprise_id and self.appbuilder.sm.has_access(
                "can_edit", self.class_permission_name):
            window = report_windows.check(
                self.kind, svc.period_key(self.kind, report.year, report.period),
                report.enterprise_id)
            may_edit = bool(window.may_submit)
        return self._page(
            "report_show.html", status=status, report=report, figures=figures,
            totals=figures.totals(),
            period_text=svc.period_label(self.kind, report.year, report.period),
            window=window, may_edit=may_edit, message=message,
            may_export=self.appbuilder.sm.has_access("can_export",
                                                     self.class_permission_name))

    @expose("/show/<int:pk>")
    @has_access
    def show(self, pk):
        return self._show(self._report(pk))

    @expose("/export_report/<int:pk>")
    @has_access
    def export_report(self, pk):
        report = self._report(pk)
        path = xlsx.written(lambda path: svc.write_report_xlsx(report, path))
        audit.record(db.session, "export", target=report, detail=gettext(
            "%(report)s %(period)s of %(enterprise)s", report=self.spec.label,
            period=svc.period_key(self.kind, report.year, report.period),
            enterprise=report.enterprise.name))
        db.session.commit()
        name = f"{self.kind}_{svc.period_key(self.kind, report.year, report.period)}.xlsx"
        return send_and_remove(path, name, XLSX_MIME)


def _default_filer() -> str:
    user = g.user
    return f"{user.last_name or ''}{user.first_name or ''}".strip() or user.username


def _flash_saved(report: UsedCarReport, text: str) -> None:
    if report.late:
        text += " " + gettext("It is marked as late: it arrived after the reporting window "
                              "closed (grace period or extension).")
    flash(text, "success" if not report.late else "warning")


class MonthlyReportView(_ReportView):
    kind = MONTHLY
    route_base = "/usedcar/reports/monthly"
    list_title = _l("Monthly trade reports")
    show_title = _l("Monthly trade report")
    export_title = "usedcar_monthly_reports"
    base_filters = [["enterprise_id", FilterInTenantScope, lambda: None],
                    ["kind", FilterEqual, MONTHLY]]


class QuarterlyReportView(_ReportView):
    kind = QUARTERLY
    route_base = "/usedcar/reports/quarterly"
    list_title = _l("Appraisal quarterly reports")
    show_title = _l("Appraisal quarterly report")
    export_title = "usedcar_quarterly_reports"
    base_filters = [["enterprise_id", FilterInTenantScope, lambda: None],
                    ["kind", FilterEqual, QUARTERLY]]


# ----- REST twin ------------------------------------------------------------------------------
def report_json(report: UsedCarReport) -> dict:
    figures = svc.Figures.of(report)

    def plain(values):
        return {c: (str(v) if c == "amount" else v) for c, v in values.items()}

    return {
        "period_key": svc.period_key(report.kind, report.year, report.period),
        "rows": [{"category": cat, "label": label, **plain(values)}
                 for cat, label, values in figures.table()],
        "totals": plain(figures.totals()),
    }


class UsedCarReportApi(AppModelRestApi):
    """Reports as JSON. POST files a report and PUT changes one, through the same service as
    the pages (gating, window, one per period, figures): body
    `{"kind": "usedcar_monthly", "year": 2026, "period": 9, "filer_name": "...",
    "rows": [{"category": "basic", "amount": "12.50", "total_count": 3, "direct_count": 2,
    ...}]}`; a category left out of a POST is a row of zeros, of a PUT keeps its figures.
    GET of one report adds `rows`, `totals` and `period_key` to the result."""

    resource_name = "usedcar_report"
    datamodel = SQLAInterface(UsedCarReport)
    class_permission_name = PV_USEDCAR_REPORT
    include_route_methods = {"get", "get_list", "post", "put", "info"}
    list_columns = ["id", "kind", "year", "period", "enterprise_id", "enterprise.name",
                    "filer_name", "submitted_on", "changed_on", "late"]
    show_columns = list_columns
    add_columns = ["kind", "year", "period", "filer_name"]
    edit_columns = ["filer_name"]
    search_columns = ["kind", "year", "period", "late", "enterprise_id"]
    order_columns = ["id", "year", "period", "submitted_on"]
    base_order = ("id", "desc")
    base_filters = [["enterprise_id", FilterInTenantScope, lambda: None]]
    openapi_spec_tag = "Used-car trade reports"

    def pre_get(self, data):
        report = db.session.get(UsedCarReport, int(data["id"]))
        if report is not None:
            data["result"].update(report_json(report))

    def _error(self, exc: DomainError):
        db.session.rollback()
        body = {"message": str(exc)}
        if isinstance(exc, UsedCarReportInvalidError):
            body["errors"] = exc.errors
        if isinstance(exc, UsedCarReportExistsError):
            body["id"] = exc.report_id
        return self.response(exc.code, **body)

    def post_headless(self):
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.response_400(message=gettext("Send the report as a JSON object."))
        kind = body.get("kind")
        if kind not in svc.SPECS:
            return self.response_422(message=gettext("Unknown report kind."))
        try:
            year, period = svc.parse_period_key(
                kind, svc.period_key(kind, int(body.get("year")), int(body.get("period"))))
        except (TypeError, ValueError):
            return self.response_422(message=gettext("Give a valid year and period."))
        cells, errors = svc.cells_from_json(kind, body.get("rows"))
        figures, more = svc.parse(kind, cells)
        try:
            report = svc.submit(kind, year, period, figures, body.get("filer_name"),
                                enterprise_id=_enterprise_id(), user_id=g.user.id,
                                errors=errors + more)
        except DomainError as exc:
            return self._error(exc)
        return self.response(201, id=report.id, result={
            **{c: getattr(report, c) for c in ("kind", "year", "period", "filer_name",
                                               "late")},
            "submitted_on": report.submitted_on.isoformat(), **report_json(report)})

    def put_headless(self, pk):
        report = self.datamodel.get(pk, self._base_filters)
        if report is None:
            return self.response_404()
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.response_400(message=gettext("Send the report as a JSON object."))
        try:
            svc.ensure_may_report(report.kind, _enterprise_id())
        except DomainError as exc:
            return self._error(exc)
        if report.enterprise_id != _enterprise_id():
            return self.response_404()
        current = svc.Figures.of(report)
        cells = {(cat, c): current.rows[cat][c] for cat in CATEGORIES
                 for c in svc.spec(report.kind).columns}
        given, errors = svc.cells_from_json(report.kind, body.get("rows"))
        cells.update(given)
        figures, more = svc.parse(report.kind, cells)
        try:
            svc.update(report, figures, body.get("filer_name", report.filer_name),
                       errors=errors + more)
        except DomainError as exc:
            return self._error(exc)
        return self.response(200, id=report.id, result={
            "filer_name": report.filer_name, "late": report.late, **report_json(report)})


# ----- authority side (U9) --------------------------------------------------------------------
def _parse_key(kind: str, key: str | None, default: tuple[int, int]) -> tuple[int, int]:
    try:
        return svc.parse_period_key(kind, key) if key else default
    except ValueError:
        return default


def _due_period(kind: str) -> tuple[int, int]:
    """The period whose window is open now, else the one that closed last."""
    found = windows.current_period(kind, report_windows.moment(), windows.configured())
    return found.year, found.number


class UsedCarOversightView(BaseView):
    """Missing reports and regional aggregates, in the caller's used-car jurisdiction (the
    ORM scope). Regulators and auditors read and export; nothing here changes data."""

    route_base = "/usedcar/oversight"
    default_view = "missing"
    class_permission_name = PV_USEDCAR_OVERSIGHT
    method_permission_name = {"missing": "list", "missing_export": "export",
                              "aggregates": "list", "aggregates_export": "export"}
    MAX_MONTHS = 36

    # ---- missing reports --------------------------------------------------------------------
    def _missing_args(self):
        kind = request.args.get("kind", MONTHLY)
        if kind not in svc.SPECS:
            kind = MONTHLY
        year, period = _parse_key(kind, request.args.get("period"), _due_period(kind))
        region = (request.args.get("region") or "").strip()[:6]
        return kind, year, period, region

    @expose("/missing/")
    @has_access
    def missing(self):
        kind, year, period, region = self._missing_args()
        rows = svc.missing(kind, year, period, region or None)
        key = svc.period_key(kind, year, period)
        extensions = {e.enterprise_id: e for e in db.session.query(ReportExtension).filter_by(
            kind=kind, period_key=key)}
        periods = svc.recent_periods(kind, _today(), PERIODS_OFFERED[kind])
        return self.render_template(
            "usedcar/report_missing.html", kind=kind, year=year, period=period, key=key,
            region=region, regions=svc.regions_in_scope(), rows=rows, extensions=extensions,
            specs=svc.SPECS, period_text=svc.period_label(kind, year, period),
            periods=[(svc.period_key(kind, y, p), svc.period_label(kind, y, p))
                     for y, p in periods],
            may_extend=self.appbuilder.sm.has_access("can_extend", PV_USEDCAR_OVERSIGHT),
            may_export=self.appbuilder.sm.has_access("can_export", PV_USEDCAR_OVERSIGHT),
            appbuilder=self.appbuilder)

    @expose("/missing/export/")
    @has_access
    def missing_export(self):
        kind, year, period, region = self._missing_args()
        rows = svc.missing(kind, year, period, region or None)
        headers = [gettext("Enterprise"), gettext("USCC"), gettext("Region"),
                   gettext("Contact"), gettext("Contact mobile"), gettext("Business types"),
                   gettext("Report"), gettext("Period")]
        label = str(svc.spec(kind).label)
        path = xlsx.written(lambda path: xlsx.write_rows(path, headers, (
            [e.name, e.uscc, e.region.name if e.region else e.region_code, e.contact_name,
             e.contact_mobile, p.business_type_labels, label, svc.period_key(kind, year, period)]
            for e, p in rows), sheet_title=gettext("Missing reports")))
        audit.record(db.session, "export", target_type="usedcar_report",
                     detail=gettext("Missing reports: %(report)s %(period)s, %(n)d enterprises",
                                    report=label, period=svc.period_key(kind, year, period),
                                    n=len(rows)))
        db.session.commit()
        return send_and_remove(path, f"missing_{kind}_{svc.period_key(kind, year, period)}.xlsx",
                               XLSX_MIME)

    # ---- regional aggregates ----------------------------------------------------------------
    def _aggregate_args(self):
        last = _due_period(MONTHLY)
        first = svc.period_range(MONTHLY, (last[0] - 1, last[1]), last)[-DEFAULT_MONTHS]
        start = _parse_key(MONTHLY, request.args.get("start"), first)
        end = _parse_key(MONTHLY, request.args.get("end"), last)
        if start > end:
            start, end = end, start
        months = svc.period_range(MONTHLY, start, end)
        if len(months) > self.MAX_MONTHS:
            start = months[-self.MAX_MONTHS]
        region = (request.args.get("region") or "").strip()[:6]
        return start, end, region

    @expose("/aggregates/")
    @has_access
    def aggregates(self):
        start, end, region = self._aggregate_args()
        by_month, by_category = svc.aggregates(start, end, region or None)
        amount_chart = bar_chart(
            [svc.period_key(MONTHLY, m["year"], m["period"]) for m in by_month],
            [(gettext("Trade amount (10k CNY)"), [float(m["amount"]) for m in by_month])],
            title=gettext("Trade amount by month (10k CNY)"), chart_id="chart-amount")
        count_chart = bar_chart(
            [str(svc.SHORT_CATEGORY_LABELS[c["category"]]) for c in by_category],
            [(gettext("Vehicles traded"), [c["total_count"] for c in by_category])],
            title=gettext("Vehicles traded by category"), chart_id="chart-category")
        return self.render_template(
            "usedcar/report_aggregates.html", start=svc.period_key(MONTHLY, *start),
            end=svc.period_key(MONTHLY, *end), region=region,
            regions=svc.regions_in_scope(), by_month=by_month, by_category=by_category,
            totals=_sum_rows(by_month), amount_chart=amount_chart, count_chart=count_chart,
            labels=svc.FIELD_LABELS, columns=svc.VALUE_FIELDS,
            may_export=self.appbuilder.sm.has_access("can_export", PV_USEDCAR_OVERSIGHT),
            appbuilder=self.appbuilder)

    @expose("/aggregates/export/")
    @has_access
    def aggregates_export(self):
        start, end, region = self._aggregate_args()
        by_month, by_category = svc.aggregates(start, end, region or None)
        span = f"{svc.period_key(MONTHLY, *start)}_{svc.period_key(MONTHLY, *end)}"
        path = xlsx.written(lambda path: svc.write_aggregates_xlsx(path, by_month, by_category,
                                                                   region=region))
        audit.record(db.session, "export", target_type="usedcar_report", detail=gettext(
            "Regional aggregates of monthly trade reports %(span)s %(region)s",
            span=span, region=region))
        db.session.commit()
        return send_and_remove(path, f"usedcar_aggregates_{span}.xlsx", XLSX_MIME)


def _sum_rows(rows) -> dict:
    out = {c: sum(r[c] for r in rows) for c in svc.VALUE_FIELDS}
    out["reports"] = sum(r["reports"] for r in rows)
    return out


# ----- report-window extensions ---------------------------------------------------------------
def _usedcar_kinds():
    return list(svc.SPECS)


def _kind_label(kind) -> str:
    found = svc.SPECS.get(kind)
    return str(found.label) if found else kind


class ReportExtensionView(AppModelView):
    """Extensions of used-car report windows granted in the caller's jurisdiction; a
    regulator (can_extend) grants one for an enterprise, a report kind and a period."""

    datamodel = SQLAInterface(ReportExtension)
    class_permission_name = PV_USEDCAR_OVERSIGHT
    route_base = "/usedcar/oversight/extensions"
    base_permissions = ["can_list", "can_extend", "can_export"]
    method_permission_name = {"list": "list", "show": "list", "add": "extend",
                              "export": "export"}
    exclude_route_methods = {"download", "delete", "action", "action_post", "edit"}
    list_title = _l("Report window extensions")
    show_title = _l("Report window extension")
    export_title = "usedcar_report_extensions"
    label_columns = {"enterprise.name": _l("Enterprise"), "kind": _l("Report"),
                     "period_key": _l("Period"), "until": _l("Extended until"),
                     "reason": _l("Reason"), "granted_on": _l("Granted on")}
    list_columns = ["enterprise.name", "kind", "period_key", "until", "reason", "granted_on"]
    show_columns = list_columns
    search_columns = ["period_key", "until"]
    order_columns = ["period_key", "until", "granted_on"]
    base_order = ("id", "desc")
    base_filters = [["enterprise_id", FilterInTenantScope, lambda: None],
                    ["kind", FilterInFunction, _usedcar_kinds]]
    formatters_columns = {"kind": _kind_label}
    export_formatters = {"kind": _kind_label}
    list_template = "usedcar/report_extension_list.html"

    def render_template(self, template, **kwargs):
        if template == self.list_template:
            kwargs["may_extend"] = self.appbuilder.sm.has_access("can_extend",
                                                                 self.class_permission_name)
        return super().render_template(template, **kwargs)

    def _enterprises(self):
        """Confirmed used-car enterprises the caller supervises (the ORM scope)."""
        return (db.session.query(Enterprise)
                .join(UsedCarProfile, UsedCarProfile.enterprise_id == Enterprise.id)
                .filter(UsedCarProfile.confirmed_on.isnot(None))
                .order_by(Enterprise.name).limit(1000).all())

    @expose("/add", methods=["GET", "POST"])
    @has_access
    def add(self):
        source = request.form if request.method == "POST" else request.args
        values = {k: (source.get(k) or "").strip() for k in
                  ("enterprise_id", "kind", "period", "until", "reason")}
        values["kind"] = values["kind"] if values["kind"] in svc.SPECS else MONTHLY
        errors = []
        enterprise = None
        if values["enterprise_id"]:
            if not values["enterprise_id"].isdigit() or len(values["enterprise_id"]) > 9:
                abort(404)
            enterprise = db.session.get(Enterprise, int(values["enterprise_id"]))
            if enterprise is None:
                abort(404)
        if request.method == "POST":
            if enterprise is None:
                errors.append(gettext("Choose the enterprise."))
            try:
                year, period = svc.parse_period_key(values["kind"], values["period"])
            except ValueError:
                errors.append(gettext("Choose the reporting period."))
                year = period = None
            until = _parse_until(values["until"])
            if until is None:
                errors.append(gettext("Give the date the extension runs until."))
            if not errors:
                try:
                    report_windows.grant_extension(
                        values["kind"], svc.period_key(values["kind"], year, period),
                        enterprise.id, until, values["reason"], user_id=g.user.id)
                except ReportExtensionInvalidError as exc:
                    db.session.rollback()
                    errors.append(str(exc))
                else:
                    flash(gettext("%(enterprise)s may submit the %(report)s for %(period)s "
                                  "until %(until)s.", enterprise=enterprise.name,
                                  report=svc.spec(values["kind"]).label,
                                  period=svc.period_label(values["kind"], year, period),
                                  until=f"{until:%Y-%m-%d %H:%M}"), "success")
                    return redirect(url_for(f"{self.endpoint}.list"))
        today = _today()
        periods = {kind: [(svc.period_key(kind, y, p), svc.period_label(kind, y, p))
                          for y, p in svc.recent_periods(kind, today, PERIODS_OFFERED[kind])]
                   for kind in svc.SPECS}
        return self.render_template(
            "usedcar/report_extension_form.html", values=values, errors=errors,
            enterprises=self._enterprises(), enterprise=enterprise, specs=svc.SPECS,
            periods=periods, appbuilder=self.appbuilder), 422 if errors else 200


def _parse_until(text: str) -> datetime.datetime | None:
    """"2026-10-20" (end of that day) or "2026-10-20T18:00" / "2026-10-20 18:00"."""
    text = (text or "").strip().replace(" ", "T")
    if not text:
        return None
    try:
        if "T" in text:
            return datetime.datetime.fromisoformat(text)
        day = datetime.date.fromisoformat(text)
    except ValueError:
        return None
    return datetime.datetime.combine(day, datetime.time(23, 59, 59))
