"""Used-car filings (seed 001 §2.3, SPEC U3-U4).

Enterprise side, `/usedcar/filing/`: one form per business type the enterprise registered
(market / appraisal / dealer / broker / auction). Saving opens a case, or corrects the case
the authority returned; the authority confirms or returns it in the review queue. Print (PDF)
and export (.xlsx) show what was last saved.

Confirmed filings, `/usedcar/filings/`: list, detail, PDF and .xlsx for the enterprise and
the authorities supervising it (scoped by the ORM hook: a foreign id is a 404).

The enterprise is always the signed-in user's, never a form value."""

from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from app.errors import DomainError, GuardFailedError
from app.extensions import db
from app.models.org import Enterprise
from app.models.usedcar import BUSINESS_TYPES, UsedCarFiling
from app.models.workflow import Application
from app.security import PV_USEDCAR_FILING
from app.services import usedcar_documents as documents
from app.services import xlsx
from app.services.export import XLSX_MIME
from app.services.pdf import pdf_response
from app.views.base import AppModelView, FilterInTenantScope, send_and_remove
from app.views.usedcar_forms import FilingForm, form_data
from app.workflows import engine
from app.workflows import usedcar as wf


class _Context:
    """The signed-in user's enterprise, its used-car profile and, per business type, the
    confirmed filing and the open case."""

    def __init__(self):
        self.enterprise_id = getattr(g.user, "enterprise_id", None)
        self.enterprise = db.session.get(Enterprise, self.enterprise_id) \
            if self.enterprise_id else None
        self.profile = wf.profile(self.enterprise_id) if self.enterprise else None
        self.filings = {}
        if self.profile is not None:
            self.filings = {f.business_type: f for f in db.session.query(UsedCarFiling)
                            .filter_by(enterprise_id=self.enterprise_id)}

    def require(self, business_type: str) -> None:
        if self.profile is None or business_type not in self.profile.business_type_codes:
            abort(404)

    def open_case(self, business_type: str) -> Application | None:
        return wf.open_filing_case(self.enterprise_id, business_type)

    def saved_data(self, business_type: str) -> tuple[dict | None, Application | None]:
        """What was last saved: the open case's payload, else the confirmed filing's data."""
        case = self.open_case(business_type)
        if case is not None:
            return dict(case.payload), case
        filing = self.filings.get(business_type)
        return (dict(filing.data), None) if filing else (None, None)

    def defaults(self, business_type: str) -> dict:
        """A first form starts from the registration data."""
        ent = self.enterprise
        return {"business_type": business_type,
                "legal_representative": ent.legal_representative,
                "domicile_region": ent.region_code, "domicile_street": ent.address,
                "business_region": ent.region_code, "business_street": ent.address,
                "filer_name": ent.contact_name, "filer_mobile": ent.contact_mobile}


class UsedCarFilingFormsView(BaseView):
    route_base = "/usedcar/filing"
    default_view = "index"
    class_permission_name = PV_USEDCAR_FILING
    base_permissions = ["can_list", "can_edit", "can_print", "can_export"]
    method_permission_name = {"index": "list", "form": "edit", "withdraw": "edit",
                              "pdf": "print", "xlsx": "export"}

    def _render(self, template, status=200, **kwargs):
        return self.render_template(f"usedcar/{template}", appbuilder=self.appbuilder,
                                    **kwargs), status

    @expose("/")
    @has_access
    def index(self):
        ctx = _Context()
        if ctx.profile is None:
            if getattr(g.user, "authority_id", None):
                return redirect(url_for("UsedCarFilingView.list"))
            return self._render("not_usedcar.html", 404)
        rows = []
        for code in ctx.profile.business_type_codes:
            case = ctx.open_case(code)
            rows.append({"code": code, "label": BUSINESS_TYPES.get(code, code),
                         "filing": ctx.filings.get(code), "case": case})
        cases = (db.session.query(Application)
                 .filter(Application.enterprise_id == ctx.enterprise_id,
                         Application.kind == wf.FILING)
                 .order_by(Application.id.desc()).limit(20).all())
        return self._render("filing_index.html", ctx=ctx, rows=rows, cases=cases,
                            states=engine.CASE_STATE_LABELS)

    @expose("/<business_type>", methods=["GET", "POST"])
    @has_access
    def form(self, business_type):
        ctx = _Context()
        ctx.require(business_type)
        saved, case = ctx.saved_data(business_type)
        awaiting = case is not None and case.state == engine.SUBMITTED
        if request.method == "POST":
            form = FilingForm(business_type=business_type)
        else:
            form = FilingForm(business_type=business_type,
                              data=form_data(saved or ctx.defaults(business_type)))
        error, reasons, status = None, [], 200
        if request.method == "POST" and awaiting:
            error, status = gettext(
                "Case %(ref)s is awaiting confirmation: withdraw it first to change the "
                "form.", ref=case.reference), 409
        elif form.validate_on_submit():
            try:
                actor = engine.actor_for(g.user)
                if case is not None:  # returned for correction: the same case again
                    case = engine.fire(case, "resubmit", actor, payload=form.payload())
                else:
                    filing = ctx.filings.get(business_type)
                    case = engine.create(wf.FILING, enterprise_id=ctx.enterprise_id,
                                         actor=actor, payload=form.payload(),
                                         subject_id=filing.id if filing else None)
            except GuardFailedError as exc:
                reasons = exc.reasons
            except DomainError as exc:
                db.session.rollback()
                error = str(exc)
            else:
                flash(gettext("Saved and submitted for confirmation as case %(ref)s. The local "
                              "commerce authority will confirm or return it.",
                              ref=case.reference), "success")
                return redirect(url_for(".index"))
            status = 422
        elif request.method == "POST":
            status = 422
        return self._render(
            "filing_form.html", status, ctx=ctx, form=form, business_type=business_type,
            type_label=BUSINESS_TYPES[business_type], case=case, awaiting=awaiting,
            filing=ctx.filings.get(business_type), error=error, reasons=reasons,
            states=engine.CASE_STATE_LABELS)

    @expose("/<business_type>/withdraw", methods=["POST"])
    @has_access
    def withdraw(self, business_type):
        ctx = _Context()
        ctx.require(business_type)
        case = ctx.open_case(business_type)
        if case is None:
            abort(404)
        try:
            engine.fire(case, "withdraw", engine.actor_for(g.user),
                        expected_version=request.form.get("version", type=int))
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
        else:
            flash(gettext("Case %(ref)s has been withdrawn; you can change the form now.",
                          ref=case.reference), "info")
        return redirect(url_for(".form", business_type=business_type))

    def _document(self, business_type):
        ctx = _Context()
        ctx.require(business_type)
        data, case = ctx.saved_data(business_type)
        if data is None:
            flash(gettext("Fill in and save the form first."), "warning")
            return ctx, None, None, None
        filing = ctx.filings.get(business_type) if case is None else None
        return ctx, data, filing, case

    @expose("/<business_type>/pdf")
    @has_access
    def pdf(self, business_type):
        ctx, data, filing, case = self._document(business_type)
        if data is None:
            return redirect(url_for(".form", business_type=business_type))
        return pdf_response(
            documents.filing_pdf(ctx.enterprise, ctx.profile, data, filing, case),
            documents.filename(ctx.enterprise, business_type, "pdf"))

    @expose("/<business_type>/xlsx")
    @has_access
    def xlsx(self, business_type):
        ctx, data, _filing, _case = self._document(business_type)
        if data is None:
            return redirect(url_for(".form", business_type=business_type))
        path = xlsx.written(lambda path: documents.filing_xlsx(ctx.enterprise, ctx.profile,
                                                               data, path))
        return send_and_remove(path, documents.filename(ctx.enterprise, business_type,
                                                        "xlsx"), XLSX_MIME)


FILING_LABELS = {
    "enterprise.name": _l("Enterprise"),
    "enterprise.uscc": _l("USCC"),
    "business_type_label": _l("Business type"),
    "business_type": _l("Business type"),
    "confirmed_on": _l("Confirmed on"),
    "changed_on": _l("Last changed"),
}


class UsedCarFilingView(AppModelView):
    """Confirmed filings: the enterprise's own; for authorities, those in their jurisdiction."""

    datamodel = SQLAInterface(UsedCarFiling)
    route_base = "/usedcar/filings"
    class_permission_name = PV_USEDCAR_FILING
    base_permissions = ["can_list", "can_show", "can_export", "can_print"]
    method_permission_name = {"list": "list", "show": "show", "export": "export",
                              "pdf": "print", "xlsx": "export"}
    list_title = _l("Confirmed used-car filings")
    show_title = _l("Used-car filing")
    export_title = "usedcar-filings"
    label_columns = FILING_LABELS
    list_columns = ["enterprise.name", "enterprise.uscc", "business_type_label", "confirmed_on"]
    export_columns = list_columns
    search_columns = ["business_type", "confirmed_on"]
    order_columns = ["confirmed_on"]
    base_order = ("id", "desc")
    base_filters = [["enterprise_id", FilterInTenantScope, lambda: None]]

    def _get(self, pk):
        filing = self.datamodel.get(pk, self._base_filters)
        if filing is None:
            abort(404)
        return filing

    @expose("/show/<int:pk>")
    @has_access
    def show(self, pk):
        filing = self._get(pk)
        profile = wf.profile(filing.enterprise_id)
        return self.render_template(
            "usedcar/filing_show.html", filing=filing, title=self.show_title,
            rows=documents.form_rows(filing.enterprise, profile, filing.data),
            branches=filing.data.get("branches") or [])

    @expose("/pdf/<int:pk>")
    @has_access
    def pdf(self, pk):
        filing = self._get(pk)
        data = documents.filing_pdf(filing.enterprise, wf.profile(filing.enterprise_id),
                                    filing.data, filing)
        return pdf_response(data, documents.filename(filing.enterprise,
                                                     filing.business_type, "pdf"))

    @expose("/xlsx/<int:pk>")
    @has_access
    def xlsx(self, pk):
        filing = self._get(pk)
        path = xlsx.written(lambda path: documents.filing_xlsx(
            filing.enterprise, wf.profile(filing.enterprise_id), filing.data, path))
        return send_and_remove(path, documents.filename(filing.enterprise,
                                                        filing.business_type, "xlsx"),
                               XLSX_MIME)
