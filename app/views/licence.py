"""Power-facility licensing, enterprise and authority pages (seed 002 §3-§4, SPEC P3-P11, P13,
P16).

- `/power/`: the module's home: the licence in force, the matters open to the enterprise,
  drafts and cases.
- `/power/requests/new/<matter>`: step 1 of a licence matter (new licence, registration-item
  change, licence-item change, renewal, replacement, cancellation): the credit service is
  asked and the routes it opens (容缺, 自贸区) are offered; categories and levels, nature,
  submitter and the submitter's documents.
- `/power/requests/<id>/tab/<tab>`: the sections, each saved on its own; sub-table rows
  (equity, work and training history, projects) are added, edited and deleted one by one.
- `/power/requests/<id>/tab/check`: the completeness check by section; `submit` (进入资料提交排队),
  `abandon`, `supply` (容缺 materials after acceptance).
- `/power/licences/`: licences and their versions, the certificate of each version (PDF with
  a QR code to its verification page); `/api/v1/licence/`.
- Licence conditions and the credit register, maintained by the authority.

Review is the engine's: the case page `/applications/show/<id>` (accept, examine, decide;
terminate by the enterprise), linked to the request page. The enterprise is always the
signed-in user's; every row is loaded through the scoped session (a foreign id is a 404)."""

from __future__ import annotations

import datetime

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import InputRequired, NumberRange

from app.errors import DomainError
from app.extensions import db
from app.models.licence import (
    CANCELLATION,
    CATEGORIES,
    CREDIT_RATINGS,
    DRAFT,
    FULL_MATTERS,
    ITEM_CHANGE,
    LEVELS,
    LICENCE_MATTERS,
    LICENCE_STATES,
    MATTERS,
    NEW,
    REGISTRATION_CHANGE,
    RENEWAL,
    REPLACEMENT,
    ROUTE_NORMAL,
    ROUTE_TOLERANCE,
    ROUTES,
    SUBMITTED,
    CreditRecord,
    EquityHolder,
    KeyPerson,
    KeyPersonRecord,
    Licence,
    LicenceCondition,
    LicenceRequest,
    ProjectRecord,
    RequestMaterial,
)
from app.models.org import Enterprise
from app.security import PV_LICENCE, PV_LICENCE_REQUEST, PV_POWER_ADMIN
from app.services import credit, licence_check, licences, power_accounts
from app.services.attachments import AttachmentRejectedError, save_upload
from app.services.pdf import pdf_response
from app.views.base import AppModelRestApi, AppModelView, FilterInTenantScope
from app.views.licence_forms import (
    CancellationForm,
    ChangesForm,
    EquityForm,
    LeadForm,
    ProjectForm,
    ReplacementForm,
    StartForm,
    ToleranceForm,
    TrainingForm,
    WorkForm,
    categories_from,
)
from app.views.org import validate_uscc
from app.workflows import engine
from app.workflows import licence as wf

# Sections (tabs) of each matter, in order.
FULL_TABS = ("start", "basic", "technical", "safety", "staff", "electricians", "projects",
             "materials", "check")
TABS = {
    NEW: FULL_TABS, ITEM_CHANGE: FULL_TABS, RENEWAL: FULL_TABS,
    REGISTRATION_CHANGE: ("start", "changes", "materials", "check"),
    REPLACEMENT: ("start", "matter", "materials", "check"),
    CANCELLATION: ("start", "matter", "materials", "check"),
}
TAB_LABELS = {
    "start": _l("Category and submitter"), "basic": _l("Basic information"),
    "technical": _l("Technical lead"), "safety": _l("Safety lead"),
    "staff": _l("Technical staff"), "electricians": _l("Electricians"),
    "projects": _l("Project records"), "changes": _l("Changes"),
    "matter": _l("Matter details"), "materials": _l("Materials"),
    "check": _l("Check and submit"),
}
# Finding sections -> the tab where they are fixed.
SECTION_TAB = {"category": "start", "basic": "basic", "technical": "technical",
               "safety": "safety", "staff": "staff", "electricians": "electricians",
               "projects": "projects", "changes": "changes", "matter": "matter",
               "materials": "materials"}
PRIVATE_STATES = (DRAFT, "abandoned")
SUBMITTER_SLOTS = ("legal_statement", "delegation", "delegate_id", "merger_docs", "split_docs")


def _enterprise_id() -> int:
    enterprise_id = getattr(g.user, "enterprise_id", None)
    if not enterprise_id:
        abort(403)
    return enterprise_id


def _request_or_404(pk: int) -> LicenceRequest:
    found = db.session.get(LicenceRequest, pk)  # scoped: a foreign id is None
    if found is None:
        abort(404)
    # A draft is the enterprise's own business until it is submitted.
    if found.state in PRIVATE_STATES and \
            getattr(g.user, "enterprise_id", None) != found.enterprise_id:
        abort(404)
    return found


class FilterSubmittedForAuthorities(BaseFilter):
    """Authorities list submitted and closed requests, never an enterprise's drafts."""

    name = "Submitted"
    arg_name = "submitted_only"

    def apply(self, query, value):
        if getattr(g.user, "enterprise_id", None):
            return query
        return query.filter(LicenceRequest.state.notin_(PRIVATE_STATES))


def editable(req: LicenceRequest) -> bool:
    """A draft, or a case returned for correction; only by the enterprise itself."""
    if getattr(g.user, "enterprise_id", None) != req.enterprise_id:
        return False
    if req.state == DRAFT:
        return True
    return req.state == SUBMITTED and req.case is not None and \
        req.case.state == engine.RETURNED


def _require_editable(req: LicenceRequest) -> None:
    if getattr(g.user, "enterprise_id", None) != req.enterprise_id:
        abort(404)
    if not editable(req):
        raise wf.LicenceRequestError(gettext(
            "This application is with the authority and cannot be changed now."))


def _save_upload(file, req) -> object | None:
    if not file or not file.filename:
        return None
    return save_upload(file, req.enterprise_id, g.user.id)


def _replace_material(req: LicenceRequest, slot: str, attachment) -> None:
    for old in list(req.materials):
        if old.slot == slot and old.supplied_on is None:
            req.materials.remove(old)
    req.materials.append(RequestMaterial(enterprise_id=req.enterprise_id, slot=slot,
                                         attachment=attachment))


# ----- row kinds (sub-table rows edited one by one) -----------------------------------------
class RowKind:
    def __init__(self, model, form, fields, role=None, kind=None):
        self.model, self.form, self.fields, self.role, self.kind = model, form, fields, role, kind


ROW_KINDS = {
    "equity": RowKind(EquityHolder, EquityForm, ("name", "kind", "amount", "share")),
    "project": RowKind(ProjectRecord, ProjectForm,
                       ("name", "category", "voltage_kv", "client", "amount", "started_on",
                        "completed_on")),
    "technical-work": RowKind(KeyPersonRecord, WorkForm,
                              ("start_on", "end_on", "organisation", "detail", "certifier",
                               "certifier_mobile"), role="technical", kind="work"),
    "technical-training": RowKind(KeyPersonRecord, TrainingForm,
                                  ("start_on", "end_on", "organisation", "detail"),
                                  role="technical", kind="training"),
    "safety-work": RowKind(KeyPersonRecord, WorkForm,
                           ("start_on", "end_on", "organisation", "detail", "certifier",
                            "certifier_mobile"), role="safety", kind="work"),
    "safety-training": RowKind(KeyPersonRecord, TrainingForm,
                               ("start_on", "end_on", "organisation", "detail"),
                               role="safety", kind="training"),
}
ROW_TAB = {"equity": "basic", "project": "projects", "technical-work": "technical",
           "technical-training": "technical", "safety-work": "safety",
           "safety-training": "safety"}


def _row_owner_ok(req, kind: RowKind, row) -> bool:
    if kind.role is None:
        return getattr(row, "request_id", None) == req.id
    person = req.key_person(kind.role)
    return person is not None and row.person_id == person.id and row.kind == kind.kind


class PowerHomeView(BaseView):
    """The module's home for the enterprise: its licence, what it may apply for, drafts,
    cases; for the authority: where its queues are."""

    route_base = "/power"
    default_view = "index"
    class_permission_name = PV_LICENCE_REQUEST
    method_permission_name = {"index": "list"}

    @expose("/")
    @has_access
    def index(self):
        enterprise_id = getattr(g.user, "enterprise_id", None)
        if not enterprise_id:
            return redirect(url_for("ReviewQueueView.list"))
        enterprise = db.session.get(Enterprise, enterprise_id)
        current = licences.current_licence(enterprise_id)
        requests = list(db.session.execute(
            select(LicenceRequest).where(LicenceRequest.enterprise_id == enterprise_id)
            .order_by(LicenceRequest.id.desc()).limit(20)).scalars())
        matters = [NEW] if current is None else list(LICENCE_MATTERS)
        return self.render_template(
            "power/home.html", enterprise=enterprise, licence=current, requests=requests,
            matters=matters, matter_labels=MATTERS)


class LicenceRequestView(AppModelView):
    """Licence applications: the list (drafts, submitted, closed) and the request pages."""

    datamodel = SQLAInterface(LicenceRequest)
    class_permission_name = PV_LICENCE_REQUEST
    route_base = "/power/requests"
    base_permissions = ["can_list", "can_show", "can_add", "can_edit", "can_delete",
                        "can_export"]
    method_permission_name = {
        "list": "list", "show": "show", "export": "export", "start": "add",
        "tab": "show", "save_tab": "edit", "row_add": "edit", "row_edit": "edit",
        "row_delete": "edit", "materials": "edit", "submit": "edit",
        "staff_add": "edit", "staff_edit": "edit", "staff_delete": "edit",
        "abandon": "delete", "supply": "edit"}
    list_title = _l("Licence applications")
    label_columns = {"id": _l("Number"), "matter_label": _l("Matter"),
                     "route_label": _l("Route"), "state_label": _l("State"),
                     "categories_text": _l("Categories and levels"),
                     "enterprise.name": _l("Enterprise"), "created_on": _l("Created on"),
                     "submitted_on": _l("Submitted on"), "case.reference": _l("Case number"),
                     "matter": _l("Matter"), "state": _l("State"), "route": _l("Route")}
    list_columns = ["id", "matter_label", "categories_text", "route_label", "state_label",
                    "enterprise.name", "case.reference", "created_on", "submitted_on"]
    search_columns = ["matter", "state", "route", "created_on", "submitted_on"]
    order_columns = ["id", "created_on", "submitted_on"]
    base_order = ("id", "desc")
    base_filters = [["enterprise_id", FilterInTenantScope, lambda: None],
                    ["state", FilterSubmittedForAuthorities, lambda: None]]
    export_title = "licence-applications"
    export_formatters = {"matter_label": str, "state_label": str, "route_label": str}

    # ----- step 1 ----------------------------------------------------------------------------
    @expose("/new/<matter>", methods=["GET", "POST"])
    @has_access
    def start(self, matter):
        if matter not in MATTERS:
            abort(404)
        enterprise_id = _enterprise_id()
        enterprise = db.session.get(Enterprise, enterprise_id)
        if enterprise is None or "power" not in [s.code for s in enterprise.sectors]:
            abort(404)
        current = licences.current_licence(enterprise_id)
        if matter == NEW and current is not None:
            flash(gettext("The enterprise already holds licence %(number)s: apply for a change "
                          "or a renewal instead.", number=current.number), "warning")
            return redirect(url_for("PowerHomeView.index"))
        if matter != NEW and current is None:
            flash(gettext("This matter needs a licence in force."), "warning")
            return redirect(url_for("PowerHomeView.index"))
        existing = db.session.execute(
            select(LicenceRequest).where(LicenceRequest.enterprise_id == enterprise_id,
                                         LicenceRequest.matter == matter,
                                         LicenceRequest.state == DRAFT)).scalars().first()
        if existing is not None:
            flash(gettext("Your draft of this matter is open below."), "info")
            return redirect(url_for(".tab", pk=existing.id, tab="start"))
        offer = credit.routes_for(enterprise, matter)
        form = StartForm()
        form.route.choices = [(r, ROUTES[r]) for r in offer.routes]
        if request.method == "GET":
            form.route.data = ROUTE_NORMAL
            form.submitter_name.data = enterprise.legal_representative
            _prefill_categories(form, current)
        if form.validate_on_submit():
            try:
                req = _create_request(form, matter, enterprise_id, current)
            except (DomainError, AttachmentRejectedError) as exc:
                db.session.rollback()
                flash(str(exc), "danger")
            else:
                flash(gettext("Draft saved: fill in the sections, then check and submit."),
                      "success")
                return redirect(url_for(".tab", pk=req.id, tab=_next_tab(req, "start")))
        return self.render_template(
            "power/request_start.html", form=form, matter=matter, matter_label=MATTERS[matter],
            offer=offer, licence=current, categories=CATEGORIES, req=None,
            ftz_waived=[m for m in licence_check.MATERIALS if m.ftz_waived
                        and matter in m.matters])

    # ----- tabs ------------------------------------------------------------------------------
    @expose("/<int:pk>/tab/<tab>", methods=["GET"])
    @has_access
    def tab(self, pk, tab):
        req = _request_or_404(pk)
        if tab not in TABS[req.matter]:
            abort(404)
        return self._render_tab(req, tab)

    @expose("/show/<int:pk>")
    @has_access
    def show(self, pk):
        req = _request_or_404(pk)
        return redirect(url_for(".tab", pk=req.id, tab="check" if not editable(req)
                                else "start"))

    def _render_tab(self, req, tab, forms=None, row_form=None, row_kind=None, row_id=None,
                    findings=None):
        forms = forms or {}
        context = {"req": req, "tab": tab, "tabs": TABS[req.matter], "tab_labels": TAB_LABELS,
                   "editable": editable(req), "matter_label": MATTERS[req.matter],
                   "row_form": row_form, "row_kind": row_kind, "row_id": row_id,
                   "categories": CATEGORIES}
        if tab == "start":
            form = forms.get("start") or _start_form_for(req)
            context.update(form=form, offer=None, licence=req.licence)
        elif tab == "basic":
            context.update(enterprise=req.enterprise,
                           profile=power_accounts.own_profile(req.enterprise_id),
                           rows=req.equity,
                           add_form=forms.get("equity") or EquityForm(formdata=None))
        elif tab in ("technical", "safety"):
            person = req.key_person(tab)
            form = forms.get("lead") or LeadForm(formdata=None, obj=person)
            context.update(person=person, form=form,
                           work=[r for r in person.records if r.kind == "work"] if person else [],
                           training=[r for r in person.records if r.kind == "training"]
                           if person else [],
                           work_form=forms.get(f"{tab}-work") or WorkForm(formdata=None),
                           training_form=forms.get(f"{tab}-training")
                           or TrainingForm(formdata=None))
        elif tab in ("staff", "electricians"):
            context.update(staff_context(req, tab, forms.get("staff"), forms.get("staff_row")))
        elif tab == "projects":
            context.update(rows=req.projects, add_form=forms.get("project")
                           or ProjectForm(formdata=None),
                           by_voltage=licence_check.projects_by_voltage(req))
        elif tab == "changes":
            before = (req.details or {}).get("before") or _registration_values(req.enterprise)
            after = {**before, **((req.details or {}).get("changes") or {})}
            form = forms.get("changes") or ChangesForm(formdata=None, data={
                **after, "legal_representative_id": (req.details or {}).get(
                    "legal_representative_id")})
            context.update(form=form, before=before, items=licences.REGISTRATION_ITEMS)
        elif tab == "matter":
            details = req.details or {}
            if req.matter == REPLACEMENT:
                form = forms.get("matter") or ReplacementForm(formdata=None, data=details)
            else:
                form = forms.get("matter") or CancellationForm(formdata=None, data=details)
            context.update(form=form, enterprise=req.enterprise)
        elif tab == "materials":
            low, high = wf.tolerance_deadline_bounds()
            deadline = (req.details or {}).get("deadline")
            context.update(
                required=licence_check.required_materials(req),
                tolerable={m.slot for m in licence_check.tolerable_materials(req)},
                missing=set((req.details or {}).get("missing") or ()),
                outstanding=set(wf.outstanding_materials(req)) if req.case else set(),
                tolerance=req.route == ROUTE_TOLERANCE,
                tolerance_form=forms.get("tolerance") or ToleranceForm(
                    formdata=None, deadline=datetime.date.fromisoformat(deadline)
                    if deadline else high),
                deadline_bounds=(low, high), labels=licence_check.MATERIAL_LABELS)
        elif tab == "check":
            found = findings if findings is not None else licence_check.findings(req)
            grouped = [(section, [f for f in found if f.section == section])
                       for section in licence_check.SECTIONS]
            context.update(findings=found, grouped=[g for g in grouped if g[1]],
                           section_tab=SECTION_TAB,
                           sections=licence_check.SECTIONS,
                           totals=licence_check.staff_totals(req)
                           if req.matter in FULL_MATTERS else None)
        return self.render_template("power/request_tab.html", **context)

    @expose("/<int:pk>/tab/<tab>", methods=["POST"])
    @has_access
    def save_tab(self, pk, tab):
        req = _request_or_404(pk)
        if tab not in TABS[req.matter]:
            abort(404)
        try:
            _require_editable(req)
            saver = getattr(self, f"_save_{tab}", None)
            if saver is None:
                abort(405)
            result = saver(req)
        except (DomainError, AttachmentRejectedError) as exc:
            db.session.rollback()
            flash(str(exc), "danger")
            return redirect(url_for(".tab", pk=pk, tab=tab))
        if result is not None:  # a form with errors: show it again
            return result
        flash(gettext("Saved."), "success")
        return redirect(url_for(".tab", pk=pk, tab=tab))

    def _save_start(self, req):
        form = _start_form_for(req, formdata=request.form)
        if not form.validate_on_submit():
            return self._render_tab(req, "start", forms={"start": form})
        _apply_start(form, req)
        db.session.commit()
        return None

    def _save_technical(self, req):
        return self._save_lead(req, "technical")

    def _save_safety(self, req):
        return self._save_lead(req, "safety")

    def _save_lead(self, req, role):
        form = LeadForm()
        if not form.validate_on_submit():
            return self._render_tab(req, role, forms={"lead": form})
        person = req.key_person(role)
        if person is None:
            person = KeyPerson(enterprise_id=req.enterprise_id, request_id=req.id, role=role)
            req.key_persons.append(person)
        form.populate_obj(person)
        db.session.commit()
        return None

    def _save_changes(self, req):
        form = ChangesForm()
        if not form.validate_on_submit():
            return self._render_tab(req, "changes", forms={"changes": form})
        before = (req.details or {}).get("before") or _registration_values(req.enterprise)
        changes = {k: form[k].data for k in licences.REGISTRATION_ITEMS
                   if (form[k].data or "") != (before.get(k) or "")}
        if "legal_representative" in changes and not form.legal_representative_id.data:
            form.legal_representative_id.errors.append(gettext(
                "Give the ID number of the new legal representative."))
            return self._render_tab(req, "changes", forms={"changes": form})
        req.details = {**(req.details or {}), "before": before, "changes": changes,
                       "legal_representative_id": form.legal_representative_id.data or None}
        db.session.commit()
        if not changes:
            flash(gettext("Nothing differs from the record yet: change at least one item."),
                  "warning")
        return None

    def _save_matter(self, req):
        form = ReplacementForm() if req.matter == REPLACEMENT else CancellationForm()
        if not form.validate_on_submit():
            return self._render_tab(req, "matter", forms={"matter": form})
        details = dict(req.details or {})
        for name in ("reason", "explanation", "matters"):
            if name in form:
                details[name] = form[name].data
        req.details = details
        db.session.commit()
        return None

    def _save_materials(self, req):
        """Uploads per slot (file inputs named after the slots); 容缺: the materials named
        missing and the date they will be supplied by."""
        slots = {m.slot for m in licence_check.required_materials(req)}
        for slot in slots:
            attachment = _save_upload(request.files.get(slot), req)
            if attachment is not None:
                _replace_material(req, slot, attachment)
        if req.route == ROUTE_TOLERANCE:
            tolerable = {m.slot for m in licence_check.tolerable_materials(req)}
            missing = [s for s in request.form.getlist("missing") if s in tolerable]
            present = {m.slot for m in req.materials}
            missing = [s for s in missing if s not in present]
            form = ToleranceForm()
            details = dict(req.details or {})
            if missing:
                if not form.validate_on_submit():
                    db.session.rollback()
                    return self._render_tab(req, "materials", forms={"tolerance": form})
                low, high = wf.tolerance_deadline_bounds()
                if not low <= form.deadline.data <= high:
                    db.session.rollback()
                    form.deadline.errors.append(gettext(
                        "Choose a date from %(low)s to %(high)s.", low=low.isoformat(),
                        high=high.isoformat()))
                    return self._render_tab(req, "materials", forms={"tolerance": form})
                details["deadline"] = form.deadline.data.isoformat()
            else:
                details.pop("deadline", None)
            details["missing"] = missing
            req.details = details
        db.session.commit()
        return None

    # ----- rows ------------------------------------------------------------------------------
    def _row_parent(self, req, kind: RowKind):
        if kind.role is None:
            return req
        person = req.key_person(kind.role)
        if person is None:
            raise wf.LicenceRequestError(gettext(
                "Save the lead's details first, then add the history rows."))
        return person

    @expose("/<int:pk>/rows/<kind>/add", methods=["POST"])
    @has_access
    def row_add(self, pk, kind):
        req = _request_or_404(pk)
        row_kind = ROW_KINDS.get(kind) or abort(404)
        try:
            _require_editable(req)
            parent = self._row_parent(req, row_kind)
        except DomainError as exc:
            flash(str(exc), "danger")
            return redirect(url_for(".tab", pk=pk, tab=ROW_TAB[kind]))
        form = row_kind.form()
        if not form.validate_on_submit():
            return self._render_tab(req, ROW_TAB[kind], forms={kind: form})
        values = {name: form[name].data for name in row_kind.fields}
        if row_kind.role is None:
            row = row_kind.model(enterprise_id=req.enterprise_id, request_id=req.id, **values)
        else:
            row = row_kind.model(enterprise_id=req.enterprise_id, person_id=parent.id,
                                 kind=row_kind.kind, **values)
        db.session.add(row)
        db.session.commit()
        flash(gettext("Row added."), "success")
        return redirect(url_for(".tab", pk=pk, tab=ROW_TAB[kind]) + f"#{kind}")

    def _editable_row(self, pk, kind, row_id):
        """(request, row kind, row) of an editable request, or a response refusing it: a
        row of another request, kind or enterprise is a 404."""
        req = _request_or_404(pk)
        row_kind = ROW_KINDS.get(kind) or abort(404)
        row = db.session.get(row_kind.model, row_id)
        if row is None or not _row_owner_ok(req, row_kind, row):
            abort(404)
        try:
            _require_editable(req)
        except DomainError as exc:
            flash(str(exc), "danger")
            return req, row_kind, redirect(url_for(".tab", pk=pk, tab=ROW_TAB[kind]))
        return req, row_kind, row

    @expose("/<int:pk>/rows/<kind>/<int:row_id>", methods=["GET", "POST"])
    @has_access
    def row_edit(self, pk, kind, row_id):
        req, row_kind, row = self._editable_row(pk, kind, row_id)
        if not isinstance(row, row_kind.model):
            return row
        form = row_kind.form(obj=row) if request.method == "GET" else row_kind.form()
        if request.method == "POST" and form.validate_on_submit():
            for name in row_kind.fields:
                setattr(row, name, form[name].data)
            db.session.commit()
            flash(gettext("Row saved."), "success")
            return redirect(url_for(".tab", pk=pk, tab=ROW_TAB[kind]) + f"#{kind}")
        return self._render_tab(req, ROW_TAB[kind], row_form=form, row_kind=kind,
                                row_id=row_id)

    @expose("/<int:pk>/rows/<kind>/<int:row_id>/delete", methods=["POST"])
    @has_access
    def row_delete(self, pk, kind, row_id):
        _req, row_kind, row = self._editable_row(pk, kind, row_id)
        if not isinstance(row, row_kind.model):
            return row
        db.session.delete(row)
        db.session.commit()
        flash(gettext("Row deleted."), "success")
        return redirect(url_for(".tab", pk=pk, tab=ROW_TAB[kind]) + f"#{kind}")

    # ----- staff rows (the staff service: one set of rules with the roster pages) ----------
    def _staff_values(self, staff_type: str) -> dict:
        from app.services import staff as staff_service

        values = {key: request.form.get(key, "") for key in staff_service.ALL_FIELDS}
        values["staff_type"] = staff_type
        return values

    def _staff_failed(self, req, tab, exc, row=None):
        from app.services import staff as staff_service
        from app.views.staff import StaffForm

        form = StaffForm()
        for key, message in getattr(exc, "errors", {}).items():
            if key in form:
                form[key].errors = [message]
        if not getattr(exc, "errors", None) or isinstance(exc, staff_service.StaffConflictError):
            flash(str(exc), "danger")
        return self._render_tab(req, tab, forms={"staff": form, "staff_row": row})

    @expose("/<int:pk>/staff/<tab>/add", methods=["POST"])
    @has_access
    def staff_add(self, pk, tab):
        from app.models.staff import ELECTRICIAN, PROPOSED, TECHNICAL
        from app.services import staff as staff_service

        req = _request_or_404(pk)
        if tab not in ("staff", "electricians") or tab not in TABS[req.matter]:
            abort(404)
        if getattr(g.user, "enterprise_id", None) != req.enterprise_id:
            abort(404)
        staff_type = TECHNICAL if tab == "staff" else ELECTRICIAN
        try:
            staff_service.add_staff(req.enterprise_id, self._staff_values(staff_type),
                                    PROPOSED, request_id=req.id)
        except DomainError as exc:
            return self._staff_failed(req, tab, exc)
        flash(gettext("Row added."), "success")
        return redirect(url_for(".tab", pk=pk, tab=tab) + "#staff-table")

    def _own_proposal(self, req, row_id):
        from app.models.staff import PowerStaff

        row = db.session.get(PowerStaff, row_id)
        if row is None or row.request_id != req.id or \
                getattr(g.user, "enterprise_id", None) != req.enterprise_id:
            abort(404)
        return row

    @expose("/<int:pk>/staff/row/<int:row_id>", methods=["GET", "POST"])
    @has_access
    def staff_edit(self, pk, row_id):
        from app.services import staff as staff_service

        req = _request_or_404(pk)
        row = self._own_proposal(req, row_id)
        tab = "staff" if row.staff_type == "technical" else "electricians"
        if request.method == "GET":
            return self._render_tab(req, tab, forms={"staff_row": row})
        try:
            staff_service.update_staff(row, self._staff_values(row.staff_type))
        except DomainError as exc:
            return self._staff_failed(req, tab, exc, row)
        flash(gettext("Row saved."), "success")
        return redirect(url_for(".tab", pk=pk, tab=tab) + "#staff-table")

    @expose("/<int:pk>/staff/row/<int:row_id>/delete", methods=["POST"])
    @has_access
    def staff_delete(self, pk, row_id):
        from app.services import staff as staff_service

        req = _request_or_404(pk)
        row = self._own_proposal(req, row_id)
        tab = "staff" if row.staff_type == "technical" else "electricians"
        try:
            staff_service.remove_proposed(row)
        except DomainError as exc:
            flash(str(exc), "danger")
        else:
            flash(gettext("Row deleted."), "success")
        return redirect(url_for(".tab", pk=pk, tab=tab) + "#staff-table")

    # ----- check, submit, abandon, supply ----------------------------------------------------
    @expose("/<int:pk>/submit", methods=["POST"])
    @has_access
    def submit(self, pk):
        req = _request_or_404(pk)
        try:
            _require_editable(req)
            case = wf.submit_request(req, engine.actor_for(g.user))
        except DomainError as exc:
            db.session.rollback()
            reasons = getattr(exc, "reasons", None)
            flash("；".join(str(r) for r in reasons) if reasons else str(exc), "danger")
            return redirect(url_for(".tab", pk=pk, tab="check"))
        days = engine.workflow_for(case.kind).stage_limit_for(case.variant,
                                                              engine.SUBMITTED).days
        if days:
            flash(gettext("Submitted: case %(ref)s is in the authority's queue (accepted "
                          "within %(days)s working days).", ref=case.reference, days=days),
                  "success")
        else:
            flash(gettext("Submitted: case %(ref)s is in the authority's queue and is "
                          "handled today.", ref=case.reference), "success")
        return redirect(url_for("ApplicationView.show", pk=case.id))

    @expose("/<int:pk>/abandon", methods=["POST"])
    @has_access
    def abandon(self, pk):
        """申请废弃: a draft is dropped with its rows, materials and proposed staff."""
        req = _request_or_404(pk)
        if getattr(g.user, "enterprise_id", None) != req.enterprise_id:
            abort(404)
        if req.state != DRAFT:
            flash(gettext("Only a draft can be abandoned; a submitted application can be "
                          "terminated on its case page."), "danger")
            return redirect(url_for(".tab", pk=pk, tab="check"))
        licences.abandon_request(req)
        db.session.commit()
        flash(gettext("The draft was abandoned."), "success")
        return redirect(url_for("PowerHomeView.index"))

    @expose("/<int:pk>/supply", methods=["POST"])
    @has_access
    def supply(self, pk):
        """容缺: upload the outstanding materials after acceptance."""
        req = _request_or_404(pk)
        if getattr(g.user, "enterprise_id", None) != req.enterprise_id:
            abort(404)
        try:
            files = {}
            for slot in wf.outstanding_materials(req):
                attachment = _save_upload(request.files.get(slot), req)
                if attachment is not None:
                    files[slot] = attachment
            wf.supply_materials(req, files, engine.actor_for(g.user))
        except (DomainError, AttachmentRejectedError) as exc:
            db.session.rollback()
            reasons = getattr(exc, "reasons", None)
            flash("；".join(str(r) for r in reasons) if reasons else str(exc), "danger")
        else:
            flash(gettext("The materials were supplied and recorded on the case."), "success")
        return redirect(url_for(".tab", pk=pk, tab="materials"))


def staff_context(req, tab, staff_form=None, staff_row=None) -> dict:
    """Staff tabs: the roster the request counts (the enterprise's roster, read-only here,
    and the rows this request proposes, editable while the request is), with the totals."""
    from app.models.staff import ELECTRICIAN, TECHNICAL
    from app.services import staff as staff_service
    from app.views.staff import StaffForm

    staff_type = TECHNICAL if tab == "staff" else ELECTRICIAN
    totals = staff_service.request_totals(req)
    form = staff_form
    if form is None:
        form = StaffForm(formdata=None, data=staff_service.staff_values(staff_row)
                         if staff_row is not None else {
                             "certificate_issuer": staff_service.default_issuer(
                                 req.enterprise.region_code if req.enterprise else None)})
    return {"staff_rows": staff_service.request_rows(req, staff_type), "totals": totals,
            "title_rows": staff_service.title_rows(totals),
            "kind_rows": staff_service.kind_rows(totals), "staff_type": staff_type,
            "staff_form": form, "staff_row": staff_row, "mask_id": staff_service.mask_id}


def _registration_values(enterprise) -> dict:
    return {k: getattr(enterprise, k) or "" for k in licences.REGISTRATION_ITEMS}


def _prefill_categories(form, licence) -> None:
    if licence is None:
        return
    for code, level in (licence.categories or {}).items():
        form[f"cat_{code}"].data = True
        form[f"level_{code}"].data = str(level)


def _start_form_for(req: LicenceRequest, formdata=None) -> StartForm:
    form = StartForm(formdata=formdata) if formdata is not None else StartForm(formdata=None)
    form.route.choices = [(req.route, ROUTES[req.route])]
    if formdata is None:
        form.route.data = req.route
        form.nature.data = req.nature
        form.downgrade.data = bool((req.details or {}).get("downgrade"))
        form.submitter_kind.data = req.submitter_kind
        form.submitter_name.data = req.submitter_name
        form.submitter_id_number.data = req.submitter_id_number
        for code, level in (req.categories or {}).items():
            form[f"cat_{code}"].data = True
            form[f"level_{code}"].data = str(level)
    return form


def _validate_categories(matter: str, categories: dict, licence, downgrade: bool) -> None:
    if matter in (REGISTRATION_CHANGE, REPLACEMENT, CANCELLATION):
        return
    if not categories:
        raise wf.LicenceRequestError(gettext("Choose at least one category and its level."))
    if any(level not in range(1, 6) for level in categories.values()):
        raise wf.LicenceRequestError(gettext("Choose a level from Class 1 to Class 5."))
    held = {k: int(v) for k, v in ((licence.categories if licence else {}) or {}).items()}
    if matter == ITEM_CHANGE and categories == held:
        raise wf.LicenceRequestError(gettext(
            "A licence-item change must add a category or change a level."))
    if matter == RENEWAL:
        if set(categories) - set(held):
            raise wf.LicenceRequestError(gettext(
                "A renewal cannot add a category: apply for a licence-item change."))
        if not downgrade and categories != held:
            raise wf.LicenceRequestError(gettext(
                "A renewal keeps the licensed levels unless you choose to downgrade."))
        if downgrade and (categories == held or any(
                categories[c] < held[c] for c in categories)):
            raise wf.LicenceRequestError(gettext(
                "A downgrade lowers at least one level (a higher number) and raises none."))


def _apply_start(form: StartForm, req: LicenceRequest) -> None:
    categories = categories_from(form)
    downgrade = bool(form.downgrade.data) and req.matter == RENEWAL
    if req.matter == RENEWAL and not downgrade:
        categories = {k: int(v) for k, v in (req.licence.categories or {}).items()}
    _validate_categories(req.matter, categories, req.licence, downgrade)
    if req.matter in (REGISTRATION_CHANGE, REPLACEMENT, CANCELLATION) and req.licence:
        categories = dict(req.licence.categories)
    req.categories = categories
    req.nature = form.nature.data if req.matter == NEW and form.nature.data else "new"
    req.submitter_kind = form.submitter_kind.data
    req.submitter_name = form.submitter_name.data
    req.submitter_id_number = form.submitter_id_number.data
    req.details = {**(req.details or {}), "downgrade": downgrade}
    applicable = {m.slot for m in licence_check.required_materials(req)}
    for slot in SUBMITTER_SLOTS:
        if slot in applicable:
            attachment = _save_upload(request.files.get(slot), req)
            if attachment is not None:
                _replace_material(req, slot, attachment)


def _create_request(form: StartForm, matter: str, enterprise_id: int, licence) -> LicenceRequest:
    req = LicenceRequest(enterprise_id=enterprise_id, matter=matter, route=form.route.data,
                         licence_id=licence.id if licence else None, details={})
    req.licence = licence
    db.session.add(req)
    _apply_start(form, req)
    if matter in (ITEM_CHANGE, RENEWAL):
        licences.prefill_sections(req)
    db.session.commit()
    return req


def _next_tab(req, tab) -> str:
    tabs = TABS[req.matter]
    return tabs[min(tabs.index(tab) + 1, len(tabs) - 1)]


# ----- licences ------------------------------------------------------------------------------
LICENCE_LABELS = {
    "number": _l("Licence number"), "version": _l("Version"), "holder_name": _l("Holder"),
    "categories_text": _l("Categories and levels"), "issued_on": _l("Issued on"),
    "expires_on": _l("Valid until"), "status_label": _l("Status"), "status": _l("Status"),
    "matter_label": _l("Issued for"), "uscc": _l("Unified social credit code"),
    "legal_representative": _l("Legal representative"), "address": _l("Address"),
    "enterprise.name": _l("Enterprise"),
}


class LicenceView(AppModelView):
    datamodel = SQLAInterface(Licence)
    class_permission_name = PV_LICENCE
    route_base = "/power/licences"
    base_permissions = ["can_list", "can_show", "can_export", "can_certificate"]
    method_permission_name = {"list": "list", "show": "show", "export": "export",
                              "certificate": "certificate"}
    list_title = _l("Licences")
    show_title = _l("Licence")
    label_columns = LICENCE_LABELS
    list_columns = ["number", "version", "holder_name", "categories_text", "issued_on",
                    "expires_on", "status_label"]
    search_columns = ["number", "holder_name", "status", "issued_on", "expires_on"]
    order_columns = ["number", "version", "issued_on", "expires_on"]
    base_order = ("id", "desc")
    base_filters = [["enterprise_id", FilterInTenantScope, lambda: None]]
    export_title = "licences"
    export_columns = ["number", "version", "holder_name", "uscc", "legal_representative",
                      "address", "categories_text", "issued_on", "expires_on",
                      "status_label", "matter_label"]
    export_formatters = {"status_label": str, "matter_label": str}

    @expose("/show/<int:pk>")
    @has_access
    def show(self, pk):
        licence = db.session.get(Licence, pk)
        if licence is None:
            abort(404)
        return self.render_template("power/licence_show.html", licence=licence,
                                    versions=licences.versions(licence.number),
                                    states=LICENCE_STATES)

    @expose("/certificate/<int:pk>")
    @has_access
    def certificate(self, pk):
        licence = db.session.get(Licence, pk)
        if licence is None:
            abort(404)
        return pdf_response(licences.certificate_pdf(licence),
                            licences.certificate_filename(licence))


class LicenceApi(AppModelRestApi):
    resource_name = "licence"
    datamodel = SQLAInterface(Licence)
    class_permission_name = PV_LICENCE
    include_route_methods = {"get", "get_list", "info", "export"}
    list_columns = ["id", "number", "version", "previous_id", "status", "holder_name", "uscc",
                    "legal_representative", "address", "categories", "issued_on",
                    "expires_on", "matter", "case_id", "enterprise_id"]
    show_columns = list_columns
    search_columns = ["number", "status", "holder_name", "issued_on", "expires_on"]
    order_columns = ["id", "number", "version", "issued_on", "expires_on"]
    base_filters = [["enterprise_id", FilterInTenantScope, lambda: None]]


# ----- authority data --------------------------------------------------------------------
class LicenceConditionView(AppModelView):
    """The licence conditions per category and level (P5), maintained by the authority."""

    datamodel = SQLAInterface(LicenceCondition)
    class_permission_name = PV_POWER_ADMIN
    route_base = "/power/conditions"
    list_title = _l("Licence conditions")
    label_columns = {"category": _l("Category"), "level": _l("Level"), "item": _l("Item"),
                     "minimum": _l("Minimum"), "waived_in_ftz": _l("Waived in the FTZ pilot"),
                     "note": _l("Note")}
    list_columns = ["category", "level", "item", "minimum", "waived_in_ftz", "note"]
    add_columns = edit_columns = list_columns
    search_columns = ["category", "level", "item"]
    order_columns = ["category", "level", "item"]
    base_order = ("id", "asc")
    export_title = "licence-conditions"
    formatters_columns = {
        "category": lambda v: CATEGORIES.get(v, v),
        "level": lambda v: LEVELS.get(v, v),
        "item": lambda v: licence_check.CONDITION_ITEMS.get(v, v),
        "waived_in_ftz": lambda v: gettext("Yes") if v else gettext("No"),
    }
    add_form_extra_fields = edit_form_extra_fields = {
        "category": SelectField(_l("Category"), choices=list(CATEGORIES.items()),
                                validators=[InputRequired()]),
        "level": SelectField(_l("Level"), coerce=int,
                             choices=[(k, v) for k, v in LEVELS.items()],
                             validators=[InputRequired()]),
        "item": SelectField(_l("Item"), choices=list(licence_check.CONDITION_ITEMS.items()),
                            validators=[InputRequired()]),
        "minimum": IntegerField(_l("Minimum"),
                                validators=[InputRequired(), NumberRange(min=0, max=100000)]),
        "waived_in_ftz": SelectField(_l("Waived in the FTZ pilot"), coerce=int,
                                     choices=[(0, _l("No")), (1, _l("Yes"))]),
    }


class CreditRecordView(AppModelView):
    """The credit register the default credit provider reads (P6)."""

    datamodel = SQLAInterface(CreditRecord)
    class_permission_name = PV_POWER_ADMIN
    route_base = "/power/credit"
    list_title = _l("Credit register")
    label_columns = {"uscc": _l("Unified social credit code"),
                     "enterprise_name": _l("Enterprise"), "rating": _l("Credit rating"),
                     "rating_label": _l("Credit rating"), "note": _l("Note"),
                     "recorded_on": _l("Recorded on")}
    list_columns = ["uscc", "enterprise_name", "rating_label", "recorded_on", "note"]
    add_columns = edit_columns = ["uscc", "enterprise_name", "rating", "note", "recorded_on"]
    search_columns = ["uscc", "enterprise_name", "rating", "recorded_on"]
    order_columns = ["uscc", "recorded_on"]
    base_order = ("id", "desc")
    export_title = "credit-register"
    export_formatters = {"rating_label": str}
    add_form_extra_fields = edit_form_extra_fields = {
        "uscc": StringField(_l("Unified social credit code"),
                            validators=[InputRequired(), validate_uscc]),
        "rating": SelectField(_l("Credit rating"), choices=list(CREDIT_RATINGS.items()),
                              validators=[InputRequired()]),
    }


__all__ = ["CreditRecordView", "LicenceApi", "LicenceConditionView", "LicenceRequestView",
           "LicenceView", "PowerHomeView"]
