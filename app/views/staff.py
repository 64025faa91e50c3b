"""The staff roster of a power enterprise and its personnel changes (seed 002 §4.1 电力相关
技术人员 / 电力相关专业技能人员, §4.7 人员变更申请, SPEC P4 electricians, P12).

- `TechnicalStaffView` (/power/staff/technical/) and `ElectricianView`
  (/power/staff/electricians/): the roster lists, scoped (an enterprise its own, a power
  regulator its jurisdiction, auditors read-only), with totals by title and by certificate
  kind, filters (status, name beginning, ID number exact, enterprise for authorities),
  export; ID numbers masked in lists, full on the detail page of one's own enterprise.
- `PersonnelView` (/power/personnel/): 人员变更申请. 离职: search a current staff member,
  confirm -> a case under review (the row shows "leaving"). 入职: the tips, the staff type,
  the form with the certificate attachment -> a case under review (the row shows "awaiting
  approval"). The roster changes only when the regulator approves the case on the generic
  case page; a refusal or withdrawal releases the row.
- `PowerStaffApi` (/api/v1/power_staff/): read-only twin (list, show, export).

Writes go through app/services/staff.py and app/workflows/licence.py only."""

from __future__ import annotations

import os
import re

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView
from flask_appbuilder.baseviews import expose
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.filters import FilterEqual
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import and_, not_, select
from wtforms import SelectField, StringField

from app.errors import DomainError
from app.extensions import db
from app.models.licence import SECTOR, TITLES
from app.models.org import Enterprise
from app.models.staff import (
    ACTIVE,
    ELECTRICIAN,
    ELECTRICIAN_KINDS,
    LEFT,
    PROPOSED,
    STAFF_STATES,
    STAFF_TYPES,
    TECHNICAL,
    PowerStaff,
)
from app.models.workflow import Application
from app.security import PV_POWER_STAFF
from app.services import attachments
from app.services import staff as service
from app.views.base import AppModelRestApi, AppModelView, FilterInTenantScope
from app.workflows import engine
from app.workflows import licence as wf

STAFF_LABELS = {
    **service.FIELD_LABELS,
    "id_number": _l("ID number"),
    "gender_label": _l("Gender"),
    "staff_type_label": _l("Staff type"),
    "status": _l("Status"),
    "status_label": _l("Status"),
    "title_label": _l("Title"),
    "certificate_kind_label": _l("Certificate kind"),
    "joined_on": _l("Joined on"),
    "left_on": _l("Left on"),
    "enterprise_id": _l("Enterprise"),
    "enterprise.name": _l("Enterprise"),
    "created_on": _l("Entered on"),
}
STATUS_STYLES = {PROPOSED: "info", ACTIVE: "success", "leaving": "warning", LEFT: "default"}
SEARCH_MAX = 64
_STATUS_ARG = re.compile(r"^_flt_\d+_status$")


def _own(enterprise_id) -> bool:
    return enterprise_id is not None and getattr(g.user, "enterprise_id", None) == enterprise_id


def shown_id(staff) -> str:
    """The full ID number for the row's own enterprise, masked for everyone else."""
    return staff.id_number if _own(staff.enterprise_id) else service.mask_id(staff.id_number)


def shown_certificate(staff) -> str:
    """The operation certificate's number holds the ID number: the same rule."""
    return staff.certificate_no or "" if _own(staff.enterprise_id) \
        else service.mask_certificate(staff.certificate_no)


# ----- list filters (the list's own arguments: the export and its job apply them too) -------
def _search_args() -> dict:
    return {"name": (request.args.get("name") or "").strip()[:SEARCH_MAX],
            "id_number": (request.args.get("id_number") or "").strip()[:SEARCH_MAX],
            "enterprise": (request.args.get("enterprise") or "").strip()[:100]}


def _status_filtered() -> bool:
    return any(_STATUS_ARG.match(k) and v for k, v in request.args.items())


def _prefix(column, value: str):
    return and_(column >= value, column < value + "\U0010ffff")


class FilterRosterRows(BaseFilter):
    """What a roster page lists: never the rows a licence draft proposes (the draft's own
    tab shows them); people who left only when the status filter asks for them."""

    name = "Roster"
    arg_name = "roster_rows"

    def apply(self, query, value):
        query = query.filter(not_(service.draft_proposal_condition()))
        if not _status_filtered():
            query = query.filter(PowerStaff.status != LEFT)
        return query


class FilterStaffSearch(BaseFilter):
    """`?name=` (beginning), `?id_number=` (exact), `?enterprise=` (name beginning or USCC):
    index-served conditions, never '%x%'."""

    name = "Search"
    arg_name = "staff_search"

    def apply(self, query, value):
        args = _search_args()
        if args["name"]:
            query = query.filter(_prefix(PowerStaff.name, args["name"]))
        if args["id_number"]:
            from app.services.cn_codes import compact

            query = query.filter(PowerStaff.id_number == compact(args["id_number"]))
        if args["enterprise"]:
            term = args["enterprise"]
            ent = Enterprise.__table__
            matching = select(ent.c.id).where((ent.c.uscc == term.upper())
                                              | _prefix(ent.c.name, term))
            query = query.filter(PowerStaff.enterprise_id.in_(matching))
        return query


def _list_conditions():
    """The totals' twin of the list's base filters (scope by the ORM hook)."""
    conditions = []
    args = _search_args()
    if args["enterprise"]:
        term = args["enterprise"]
        ent = Enterprise.__table__
        conditions.append(PowerStaff.enterprise_id.in_(
            select(ent.c.id).where((ent.c.uscc == term.upper()) | _prefix(ent.c.name, term))))
    return conditions


def _equal_index(view, column: str) -> int:
    filters = view.datamodel.get_filters([column]).get_search_filters()[column]
    return next(i for i, f in enumerate(filters) if isinstance(f, FilterEqual))


class _StaffListView(AppModelView):
    """One roster list per staff type (the seed's two sections)."""

    datamodel = SQLAInterface(PowerStaff)
    class_permission_name = PV_POWER_STAFF
    base_permissions = ["can_list", "can_show", "can_export"]
    method_permission_name = {"list": "list", "show": "show", "export": "export"}
    # Reading only: rows are written by the licence application tabs and the personnel
    # changes (services), never by FAB's generic forms.
    include_route_methods = {"list", "show", "export"}
    label_columns = STAFF_LABELS
    order_columns = ["name", "joined_on"]
    base_order = ("id", "desc")
    list_template = "power/staff/list.html"
    show_template = "power/staff/show.html"
    formatters_columns = {"id_number": service.mask_id,
                          "certificate_no": service.mask_certificate}
    staff_type: str = TECHNICAL

    def export_value(self, item, column):
        if column == "id_number":
            return shown_id(item)
        if column == "certificate_no":
            return shown_certificate(item)
        return super().export_value(item, column)

    def render_template(self, template, **kwargs):
        if template == self.list_template:
            kwargs.update(self._list_context())
        return super().render_template(template, **kwargs)

    def _list_context(self) -> dict:
        enterprise_id = getattr(g.user, "enterprise_id", None)
        conditions = _list_conditions()
        totals = service.roster_totals(enterprise_id, *conditions)
        may_apply = bool(enterprise_id) and self.appbuilder.sm.has_access(
            "can_apply", PV_POWER_STAFF)
        status_arg = f"_flt_{_equal_index(self, 'status')}_status"
        return {
            "staff_type": self.staff_type, "staff_types": STAFF_TYPES, "totals": totals,
            "title_rows": service.title_rows(totals), "kind_rows": service.kind_rows(totals),
            "pending": service.pending_joins(enterprise_id, *conditions),
            "search": _search_args(), "show_enterprise_box": enterprise_id is None,
            "status_links": [(k, v) for k, v in STAFF_STATES.items()],
            "status_arg": status_arg, "current_status": request.args.get(status_arg, ""),
            "may_apply": may_apply,
            "open_cases": _open_cases(enterprise_id) if may_apply else [],
        }

    @expose("/show/<int:pk>")
    @has_access
    def show(self, pk):
        staff = db.session.get(PowerStaff, pk)  # the ORM scope: another tenant's is None
        if staff is None or staff.staff_type != self.staff_type:
            abort(404)
        cases = list(db.session.execute(
            select(Application).where(Application.kind == wf.PERSONNEL,
                                      Application.subject_id == staff.id,
                                      Application.enterprise_id == staff.enterprise_id)
            .order_by(Application.id.desc())).scalars())
        if staff.case_id and all(c.id != staff.case_id for c in cases):
            case = db.session.get(Application, staff.case_id)
            if case is not None:
                cases.append(case)
        may_leave = (_own(staff.enterprise_id) and staff.status == ACTIVE
                     and staff.request_id is None
                     and self.appbuilder.sm.has_access("can_apply", PV_POWER_STAFF))
        return self.render_template(
            self.show_template, staff=staff, shown_id=shown_id(staff),
            shown_certificate=shown_certificate(staff), cases=cases,
            labels=STAFF_LABELS, may_leave=may_leave,
            status_styles=STATUS_STYLES, states=engine.CASE_STATE_LABELS,
            title=self.show_title)


class TechnicalStaffView(_StaffListView):
    route_base = "/power/staff/technical"
    staff_type = TECHNICAL
    list_title = _l("Technical staff")
    show_title = _l("Technical staff member")
    export_title = "technical_staff"
    list_columns = ["name", "id_number", "gender_label", "title_label", "specialty",
                    "status_label", "joined_on", "enterprise.name"]
    export_columns = ["name", "id_number", "gender_label", "title_label", "specialty",
                      "status_label", "joined_on", "left_on", "enterprise.name"]
    search_columns = ["status", "title", "specialty", "joined_on"]
    base_filters = [["enterprise_id", FilterInTenantScope, lambda: None],
                    ["staff_type", FilterEqual, TECHNICAL],
                    ["id", FilterRosterRows, lambda: None],
                    ["id", FilterStaffSearch, lambda: None]]


class ElectricianView(_StaffListView):
    route_base = "/power/staff/electricians"
    staff_type = ELECTRICIAN
    list_title = _l("Electricians")
    show_title = _l("Electrician")
    export_title = "electricians"
    list_columns = ["name", "id_number", "gender_label", "certificate_kind_label",
                    "certificate_no", "certificate_issuer", "status_label", "joined_on",
                    "enterprise.name"]
    export_columns = ["name", "id_number", "gender_label", "certificate_kind_label",
                      "certificate_no", "certificate_issuer", "status_label", "joined_on",
                      "left_on", "enterprise.name"]
    search_columns = ["status", "certificate_kind", "certificate_issuer", "joined_on"]
    base_filters = [["enterprise_id", FilterInTenantScope, lambda: None],
                    ["staff_type", FilterEqual, ELECTRICIAN],
                    ["id", FilterRosterRows, lambda: None],
                    ["id", FilterStaffSearch, lambda: None]]


LIST_ENDPOINTS = {TECHNICAL: "TechnicalStaffView", ELECTRICIAN: "ElectricianView"}


def _open_cases(enterprise_id) -> list:
    if not enterprise_id:
        return []
    return list(db.session.execute(
        select(Application).where(Application.kind == wf.PERSONNEL,
                                  Application.enterprise_id == enterprise_id,
                                  Application.state.in_(engine.OPEN_STATES))
        .order_by(Application.id.desc())).scalars())


# ----- personnel changes (P12) --------------------------------------------------------------
def _gender_choices():
    return [("", _l("From the ID number")), *service.GENDERS.items()]


class StaffForm(FlaskForm):
    """Rendering and CSRF only: every rule is service.clean_staff's, shown per field."""

    name = StringField(service.FIELD_LABELS["name"])
    id_number = StringField(service.FIELD_LABELS["id_number"], description=_l(
        "18 characters, as on the resident identity card."))
    gender = SelectField(service.FIELD_LABELS["gender"], choices=_gender_choices(),
                         validate_choice=False)
    title = SelectField(service.FIELD_LABELS["title"], validate_choice=False,
                        choices=[("", "—"), *TITLES.items()])
    specialty = StringField(service.FIELD_LABELS["specialty"])
    certificate_issuer = SelectField(
        service.FIELD_LABELS["certificate_issuer"], validate_choice=False,
        choices=[(x, x) for x in service.ISSUERS],
        description=_l("Choose the authority that issued the certificate first."))
    certificate_kind = SelectField(service.FIELD_LABELS["certificate_kind"],
                                   validate_choice=False,
                                   choices=[("", "—"), *ELECTRICIAN_KINDS.items()])
    certificate_no = StringField(service.FIELD_LABELS["certificate_no"])
    attachment = FileField(service.FIELD_LABELS["attachment"], description=_l(
        "PDF, PNG or JPEG, checked by its content."))


def _show_errors(form, errors: dict) -> None:
    for key, message in errors.items():
        if key in form:
            form[key].errors = [message]


def _remove_file(attachment) -> None:
    """An upload whose row was rolled back: its file goes too."""
    if attachment is None:
        return
    try:
        os.remove(attachments.file_path(attachment))
    except OSError:
        pass


class PersonnelView(BaseView):
    """人员变更申请 (P12): the enterprise's join and leave applications."""

    route_base = "/power/personnel"
    class_permission_name = PV_POWER_STAFF
    base_permissions = ["can_apply", "can_show"]
    method_permission_name = {"index": "apply", "leave": "apply", "leave_confirm": "apply",
                              "join": "apply", "join_form": "apply", "staff": "show"}
    default_view = "index"

    def _enterprise(self):
        """The signed-in user's power enterprise; aborts 403 for anyone else."""
        enterprise_id = getattr(g.user, "enterprise_id", None)
        enterprise = db.session.get(Enterprise, enterprise_id) if enterprise_id else None
        if enterprise is None or SECTOR not in {s.code for s in enterprise.sectors}:
            abort(403, description=gettext("Personnel changes are for power-facility "
                                           "enterprises."))
        return enterprise

    def _own_staff(self, pk, enterprise):
        staff = db.session.get(PowerStaff, pk)
        if staff is None or staff.enterprise_id != enterprise.id:
            abort(404)
        return staff

    @expose("/")
    @has_access
    def index(self):
        enterprise = self._enterprise()
        recent = list(db.session.execute(
            select(Application).where(Application.kind == wf.PERSONNEL,
                                      Application.enterprise_id == enterprise.id,
                                      Application.state.not_in(engine.OPEN_STATES))
            .order_by(Application.id.desc()).limit(10)).scalars())
        return self.render_template(
            "power/staff/personnel.html", title=_l("Personnel changes"),
            enterprise=enterprise, open_cases=_open_cases(enterprise.id), recent=recent,
            states=engine.CASE_STATE_LABELS, pending=service.pending_joins(enterprise.id),
            list_endpoints=LIST_ENDPOINTS)

    @expose("/staff/<int:pk>")
    @has_access
    def staff(self, pk):
        """A row's page by id alone (the case page's link): its list's detail page."""
        staff = db.session.get(PowerStaff, pk)
        if staff is None or staff.staff_type not in LIST_ENDPOINTS:
            abort(404)
        return redirect(url_for(f"{LIST_ENDPOINTS[staff.staff_type]}.show", pk=staff.id))

    # ----- 离职 ---------------------------------------------------------------------------
    @expose("/leave")
    @has_access
    def leave(self):
        """Search the current staff by name (beginning) or ID number (exact)."""
        enterprise = self._enterprise()
        name = (request.args.get("name") or "").strip()[:SEARCH_MAX]
        id_number = (request.args.get("id_number") or "").strip()[:SEARCH_MAX]
        searched = bool(name or id_number)
        rows = service.current_staff(enterprise.id, name=name, id_number=id_number) \
            if searched else []
        return self.render_template(
            "power/staff/leave.html", title=_l("Leave application"), rows=rows,
            name=name, id_number=id_number, searched=searched, labels=STAFF_LABELS,
            status_styles=STATUS_STYLES)

    @expose("/leave/<int:pk>", methods=["GET", "POST"])
    @has_access
    def leave_confirm(self, pk):
        enterprise = self._enterprise()
        staff = self._own_staff(pk, enterprise)
        if request.method == "POST":
            form = FlaskForm()
            if form.validate_on_submit():
                try:
                    case = wf.propose_leave(staff, engine.actor_for(g.user))
                except DomainError as exc:
                    db.session.rollback()
                    flash(str(exc), "danger")
                    return redirect(url_for(".leave_confirm", pk=pk))
                flash(gettext("The leave of %(name)s is under review (case %(ref)s); the "
                              "roster changes when it is approved.", name=staff.name,
                              ref=case.reference), "success")
                return redirect(url_for("ApplicationView.show", pk=case.id))
            flash(gettext("The form has expired; please try again."), "danger")
        return self.render_template(
            "power/staff/leave_confirm.html", title=_l("Confirm the leave"), staff=staff,
            labels=STAFF_LABELS, status_styles=STATUS_STYLES,
            may_leave=staff.status == ACTIVE and staff.request_id is None,
            form=FlaskForm())

    # ----- 入职 ---------------------------------------------------------------------------
    @expose("/join")
    @has_access
    def join(self):
        """The tips (温馨提示) and the choice of the staff type."""
        self._enterprise()
        return self.render_template("power/staff/join.html", title=_l("Join application"),
                                    staff_types=STAFF_TYPES)

    @expose("/join/<staff_type>", methods=["GET", "POST"])
    @has_access
    def join_form(self, staff_type):
        enterprise = self._enterprise()
        if staff_type not in STAFF_TYPES:
            abort(404)
        if request.method == "GET":
            form = StaffForm(data={"certificate_issuer":
                                   service.default_issuer(enterprise.region_code)})
            return self._render_join(form, staff_type)
        form = StaffForm()
        if not form.validate_on_submit():
            flash(gettext("The form has expired; please try again."), "danger")
            return self._render_join(form, staff_type), 400
        values = {key: request.form.get(key, "") for key in service.ALL_FIELDS}
        values["staff_type"] = staff_type
        clean, errors = service.clean_staff(values, staff_type)
        upload = request.files.get("attachment")
        has_file = upload is not None and bool(upload.filename)
        if staff_type == ELECTRICIAN and not has_file:
            errors["attachment"] = gettext("Upload the certificate (特种作业操作证).")
        if "id_number" not in errors and clean.get("id_number"):
            try:
                service.check_available(clean["id_number"], staff_type, enterprise.id)
            except service.StaffConflictError as exc:
                errors["id_number"] = str(exc)
        if errors:
            _show_errors(form, errors)
            return self._render_join(form, staff_type), 422
        attachment = None
        try:
            if has_file:
                attachment = attachments.save_upload(upload, enterprise.id, g.user.id)
            staff = service.add_staff(enterprise.id, clean, PROPOSED, attachment=attachment,
                                      commit=False)
            case = wf.propose_join(staff, engine.actor_for(g.user),
                                   attachments=[attachment] if attachment else [])
        except attachments.AttachmentRejectedError as exc:
            db.session.rollback()
            _show_errors(form, {"attachment": str(exc)})
            return self._render_join(form, staff_type), 422
        except service.StaffInvalidError as exc:
            _remove_file(attachment)
            _show_errors(form, exc.errors)
            return self._render_join(form, staff_type), 422
        except service.StaffConflictError as exc:
            _remove_file(attachment)
            _show_errors(form, {"id_number": str(exc)})
            return self._render_join(form, staff_type), 409
        except DomainError as exc:
            db.session.rollback()
            _remove_file(attachment)
            flash(str(exc), "danger")
            return self._render_join(form, staff_type), 422
        flash(gettext("%(name)s is awaiting approval (case %(ref)s); the roster changes when "
                      "the change is approved.", name=clean["name"], ref=case.reference),
              "success")
        return redirect(url_for("ApplicationView.show", pk=case.id))

    def _render_join(self, form, staff_type):
        return self.render_template(
            "power/staff/join_form.html", title=_l("Join application"), form=form,
            staff_type=staff_type, staff_type_label=STAFF_TYPES[staff_type])


# ----- REST ---------------------------------------------------------------------------------
class FilterNotDraftProposal(BaseFilter):
    name = "Not a draft's proposal"
    arg_name = "not_draft"

    def apply(self, query, value):
        return query.filter(not_(service.draft_proposal_condition()))


API_COLUMNS = ["id", "staff_type", "status", "name", "id_number", "gender", "title",
               "specialty", "certificate_kind", "certificate_no", "certificate_issuer",
               "joined_on", "left_on", "enterprise_id", "request_id", "case_id"]


class PowerStaffApi(AppModelRestApi):
    """`/api/v1/power_staff/`: read-only (list, show, export), scoped like the lists; ID
    numbers masked in the list (and, for another enterprise's row, everywhere). Rows are
    written only through the forms and the licence application (app.services.staff)."""

    resource_name = "power_staff"
    datamodel = SQLAInterface(PowerStaff)
    class_permission_name = PV_POWER_STAFF
    include_route_methods = {"get", "get_list", "info"}
    list_columns = API_COLUMNS
    show_columns = API_COLUMNS
    search_columns = ["staff_type", "status", "name", "id_number", "title",
                      "certificate_kind", "certificate_issuer", "joined_on", "enterprise_id"]
    order_columns = ["id", "name", "joined_on"]
    base_order = ("id", "desc")
    base_filters = [["enterprise_id", FilterInTenantScope, lambda: None],
                    ["id", FilterNotDraftProposal, lambda: None]]
    export_columns = ["staff_type", "status", "name", "id_number", "gender", "title",
                      "specialty", "certificate_kind", "certificate_no",
                      "certificate_issuer", "joined_on", "left_on", "enterprise_id"]

    def pre_get_list(self, data):
        for row in data.get("result") or ():
            row["id_number"] = service.mask_id(row.get("id_number"))
            row["certificate_no"] = service.mask_certificate(row.get("certificate_no"))

    def pre_get(self, data):
        row = data.get("result") or {}
        if "id_number" in row and not _own(row.get("enterprise_id")):
            row["id_number"] = service.mask_id(row["id_number"])
            row["certificate_no"] = service.mask_certificate(row.get("certificate_no"))

    def export_value(self, item, column):
        if column == "id_number":
            return shown_id(item)
        if column == "certificate_no":
            return shown_certificate(item)
        return super().export_value(item, column)


__all__ = ["ElectricianView", "PersonnelView", "PowerStaffApi", "StaffForm",
           "TechnicalStaffView"]
