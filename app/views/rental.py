"""Rental filing (seed 000), enterprise and authority side: the filed-vehicle list with
export, certificate and the change / suspend / terminate shortcuts (R8), vehicle detail with
its cases (R9), the vehicle forms (R12, R13), the enterprise's rental home and filing details
(R6, R7) and the regulators' counter entry (R15). States change only through the engine."""

from __future__ import annotations

from urllib.parse import quote as url_quote

from flask import abort, flash, g, jsonify, make_response, redirect, request, url_for
from flask_appbuilder import BaseView
from flask_appbuilder.actions import action
from flask_appbuilder.baseviews import expose
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.errors import DomainError
from app.extensions import db
from app.models.org import Enterprise
from app.models.rental import (
    OPERATING,
    STATE_LABELS,
    STATE_STYLES,
    SUSPENDED,
    VEHICLE_TYPES,
    RentalFiling,
    Vehicle,
)
from app.models.workflow import Application
from app.security import (
    PV_APPLICATION,
    PV_RENTAL,
    PV_RENTAL_FILING,
    PV_VEHICLE,
)
from app.services import certificates
from app.services.attachments import AttachmentRejectedError
from app.views.base import AppModelRestApi, AppModelView, FilterInTenantScope
from app.views.vehicle_forms import VehicleChangeForm, VehicleForm, VehicleStateForm
from app.views.workflow import uploaded_attachments
from app.workflows import engine
from app.workflows import rental as wf

VEHICLE_LABELS = {
    "plate": _l("Plate number"), "vin": _l("VIN"), "brand": _l("Brand"), "model": _l("Model"),
    "type_label": _l("Vehicle type"), "vehicle_type": _l("Vehicle type"),
    "seats": _l("Seats"), "colour": _l("Colour"), "usage_label": _l("Usage"),
    "usage": _l("Usage"), "owner_name": _l("Registered owner"),
    "registered_on": _l("Registration date"), "state_label": _l("State"), "state": _l("State"),
    "state_since": _l("State since"), "certificate_no": _l("Certificate number"),
    "filed_on": _l("Filing date"), "enterprise": _l("Enterprise"),
    "enterprise.name": _l("Enterprise"),
}

# Form operation -> (workflow kind, vehicle states it applies to, page title)
VEHICLE_OPERATIONS = {
    "change": (wf.VEHICLE_CHANGE, (OPERATING, SUSPENDED), _l("Vehicle filing change")),
    "suspend": (wf.VEHICLE_SUSPEND, (OPERATING,), _l("Vehicle suspension")),
    "resume": (wf.VEHICLE_RESUME, (SUSPENDED,), _l("Vehicle resumption")),
    "terminate": (wf.VEHICLE_TERMINATE, (OPERATING, SUSPENDED), _l("Vehicle termination")),
    "scrap": (wf.VEHICLE_SCRAP, (OPERATING, SUSPENDED), _l("Vehicle scrapping")),
}


class FilterEnterpriseArg(BaseFilter):
    """`?enterprise=` on the vehicle list: the enterprise's name prefix or its USCC (the
    list's own arguments, so the export and its background job apply it too)."""

    name = "Enterprise"
    arg_name = "enterprise_arg"

    def apply(self, query, value):
        term = (request.args.get("enterprise") or "").strip()[:100]
        if not term:
            return query
        ent = Enterprise.__table__
        matching = select(ent.c.id).where(
            (ent.c.uscc == term.upper())
            | ((ent.c.name >= term) & (ent.c.name < term + "\U0010ffff")))
        return query.filter(Vehicle.enterprise_id.in_(matching))


def _equal_filter_index() -> int:
    """Index of FAB's "equal to" filter for a string column (the state quick links)."""
    from flask_appbuilder.models.sqla.filters import FilterEqual

    filters = VehicleView.datamodel.get_filters(["state"]).get_search_filters()["state"]
    return next(i for i, f in enumerate(filters) if isinstance(f, FilterEqual))


def _one_selected(items):
    if len(items) != 1:
        flash(gettext("Select exactly one vehicle."), "warning")
        return None
    return items[0]


class VehicleView(AppModelView):
    datamodel = SQLAInterface(Vehicle)
    class_permission_name = PV_VEHICLE
    route_base = "/vehicles"
    base_permissions = ["can_list", "can_show", "can_export", "can_certificate"]
    # The change / suspend / terminate shortcuts only open the forms (which need can_forms).
    method_permission_name = {"list": "list", "show": "show", "export": "export",
                              "certificate": "certificate",
                              "action_certificate": "certificate", "action_change": "list",
                              "action_suspend": "list", "action_terminate": "list"}
    list_title = _l("Filed vehicles")
    show_title = _l("Vehicle")
    export_title = "vehicles"
    label_columns = VEHICLE_LABELS
    list_columns = ["plate", "vin", "brand", "model", "type_label", "seats", "usage_label",
                    "state_label", "filed_on", "certificate_no", "enterprise.name"]
    show_columns = ["plate", "vin", "brand", "model", "type_label", "seats", "colour",
                    "usage_label", "owner_name", "registered_on", "state_label", "state_since",
                    "certificate_no", "filed_on", "enterprise.name"]
    # No "enterprise" search column: FAB renders it as a <select> of every enterprise in
    # scope (2,000 for a provincial regulator, most of the page's time). The enterprise box
    # above the list (?enterprise=name prefix or USCC) serves regulators instead.
    search_columns = ["plate", "vin", "brand", "model", "state", "usage", "filed_on"]
    order_columns = ["plate", "filed_on", "certificate_no"]
    base_order = ("id", "desc")
    base_filters = [["enterprise_id", FilterInTenantScope, lambda: None],
                    ["enterprise_id", FilterEnterpriseArg, lambda: None]]
    show_template = "rental/vehicle_show.html"
    list_template = "rental/vehicle_list.html"

    def render_template(self, template, **kwargs):
        if template == self.list_template:
            kwargs["state_filters"] = [(k, v) for k, v in STATE_LABELS.items()
                                       if k != "applying"]
            kwargs["state_filter_arg"] = f"_flt_{_equal_filter_index()}_state"
            kwargs["may_file"] = self.appbuilder.sm.has_access("can_forms", PV_RENTAL)
            kwargs["enterprise_term"] = request.args.get("enterprise", "")
            kwargs["show_enterprise_box"] = getattr(g.user, "enterprise_id", None) is None
        return super().render_template(template, **kwargs)

    @expose("/show/<int:pk>")
    @has_access
    def show(self, pk):
        vehicle = self.datamodel.get(pk, self._base_filters)
        if vehicle is None:
            abort(404)
        cases = (db.session.query(Application)
                 .filter(Application.kind.in_(wf.VEHICLE_KINDS),
                         Application.subject_id == vehicle.id)
                 .order_by(Application.id.desc()).all())
        may_apply = engine.ENTERPRISE in engine.actor_for(g.user).roles
        operations = [(op, title) for op, (_, states, title) in VEHICLE_OPERATIONS.items()
                      if vehicle.state in states] if may_apply else []
        return self.render_template(self.show_template, vehicle=vehicle, cases=cases,
                                    state_styles=STATE_STYLES,
                                    operations=operations, labels=VEHICLE_LABELS,
                                    columns=self.show_columns, title=self.show_title)

    @expose("/certificate/<int:pk>")
    @has_access
    def certificate(self, pk):
        """The vehicle filing certificate as a PDF, opened in a new tab (seed §4.2.2 3)."""
        vehicle = self.datamodel.get(pk, self._base_filters)
        if vehicle is None or not vehicle.certificate_no:
            abort(404)
        return pdf_response(certificates.vehicle_certificate_pdf(vehicle),
                            certificates.certificate_filename(vehicle))

    # List shortcuts (seed §4.2.2): select a vehicle, then change / suspend / terminate or
    # print its certificate.
    @action("certificate", _l("Print filing certificate"), icon="fa-print", single=False)
    def action_certificate(self, items):
        item = _one_selected(items)
        if item is None:
            return redirect(self.get_redirect())
        return redirect(url_for(".certificate", pk=item.id))

    def _start(self, items, op):
        item = _one_selected(items)
        if item is None:
            return redirect(self.get_redirect())
        return redirect(url_for("VehicleFormsView.operation", op=op, vehicle=item.id))

    @action("change", _l("Change filing"), icon="fa-edit", single=False)
    def action_change(self, items):
        return self._start(items, "change")

    @action("suspend", _l("Suspend operation"), icon="fa-pause", single=False)
    def action_suspend(self, items):
        return self._start(items, "suspend")

    @action("terminate", _l("Terminate operation"), icon="fa-stop", single=False)
    def action_terminate(self, items):
        return self._start(items, "terminate")

    def is_action_allowed(self, name):
        if name in ("change", "suspend", "terminate"):
            return self.appbuilder.sm.has_access("can_forms", PV_RENTAL)
        if name == "certificate":
            return self.appbuilder.sm.has_access("can_certificate", PV_VEHICLE)
        return super().is_action_allowed(name)


class VehicleApi(AppModelRestApi):
    resource_name = "vehicle"
    datamodel = SQLAInterface(Vehicle)
    class_permission_name = PV_VEHICLE
    include_route_methods = {"get", "get_list", "info"}
    list_columns = ["id", "plate", "vin", "brand", "model", "vehicle_type", "seats", "usage",
                    "state", "state_since", "certificate_no", "filed_on", "enterprise_id"]
    show_columns = [*list_columns, "colour", "owner_name", "registered_on"]
    search_columns = ["plate", "vin", "brand", "model", "state", "usage", "filed_on",
                      "enterprise_id"]
    order_columns = ["id", "plate", "filed_on"]
    base_filters = [["enterprise_id", FilterInTenantScope, lambda: None]]


def _own_filing() -> RentalFiling | None:
    enterprise_id = getattr(g.user, "enterprise_id", None)
    if not enterprise_id:
        return None
    return db.session.query(RentalFiling).filter_by(enterprise_id=enterprise_id).first()


def _submit(kind, *, enterprise_id, payload, subject_id=None):
    """Open a case from a form; returns the case or None after flashing why not."""
    try:
        attachments = uploaded_attachments(enterprise_id)
        case = engine.create(kind, enterprise_id=enterprise_id, subject_id=subject_id,
                             actor=engine.actor_for(g.user), payload=payload,
                             attachments=attachments)
    except (DomainError, AttachmentRejectedError) as exc:
        db.session.rollback()
        flash(str(exc), "danger")
        return None
    flash(gettext("Submitted: case %(ref)s. The filing authority decides by %(date)s.",
                  ref=case.reference, date=case.deadline.isoformat()), "success")
    return case


class VehicleFormsView(BaseView):
    """R12 vehicle filing and R13 change / suspend / resume / terminate / scrap."""

    route_base = "/rental/vehicles"
    class_permission_name = PV_RENTAL
    default_view = "new"
    base_permissions = ["can_forms"]
    method_permission_name = {"new": "forms", "operation": "forms", "pick": "forms"}

    @expose("/new", methods=["GET", "POST"])
    @has_access
    def new(self):
        filing = _own_filing()
        if filing is None:
            abort(404)
        form = VehicleForm()
        if request.method == "GET":
            form.owner_name.data = filing.enterprise.name
        if form.validate_on_submit():
            case = _submit(wf.VEHICLE_FILING, enterprise_id=filing.enterprise_id,
                           payload=form.payload())
            if case is not None:
                return redirect(url_for("ApplicationView.show", pk=case.id))
        return self.render_template("rental/vehicle_form.html", form=form, op="new",
                                    title=_l("Vehicle filing registration"), vehicle=None,
                                    filing=filing)

    @expose("/<op>", methods=["GET", "POST"])
    @has_access
    def operation(self, op):
        if op not in VEHICLE_OPERATIONS:
            abort(404)
        kind, states, title = VEHICLE_OPERATIONS[op]
        filing = _own_filing()
        if filing is None:
            abort(404)
        form = (VehicleChangeForm if op == "change" else VehicleStateForm)()
        vehicle = None
        raw_id = request.values.get("vehicle_id") or request.args.get("vehicle")
        if raw_id:
            vehicle = db.session.get(Vehicle, int(raw_id)) if str(raw_id).isdigit() else None
            if vehicle is None:
                abort(404)  # another enterprise's vehicle is not there for this user
            if request.method == "GET":
                form.vehicle_id.data = vehicle.id
                if op == "change":
                    for key in wf.VEHICLE_FIELDS:
                        getattr(form, key).data = getattr(vehicle, key)
        if form.validate_on_submit() and vehicle is not None:
            if op == "change":
                payload = {**form.payload(), "reason": form.reason.data or "",
                           "before": _vehicle_snapshot(vehicle)}
            else:
                payload = {"plate": vehicle.plate, "reason": form.reason.data,
                           "effective_date": form.effective_date.data.isoformat()}
            case = _submit(kind, enterprise_id=vehicle.enterprise_id, payload=payload,
                           subject_id=vehicle.id)
            if case is not None:
                return redirect(url_for("ApplicationView.show", pk=case.id))
        return self.render_template("rental/vehicle_form.html", form=form, op=op, title=title,
                                    vehicle=vehicle, filing=filing, states=states)

    @expose("/pick")
    @has_access
    def pick(self):
        """The searchable vehicle popup: own vehicles by plate prefix, in the states the
        operation applies to."""
        op = request.args.get("op", "change")
        states = VEHICLE_OPERATIONS.get(op, VEHICLE_OPERATIONS["change"])[1]
        term = (request.args.get("q") or "").strip().upper()[:16]
        q = db.session.query(Vehicle).filter(
            Vehicle.enterprise_id == getattr(g.user, "enterprise_id", None),
            Vehicle.state.in_(states))
        if term:
            q = q.filter(Vehicle.plate.startswith(term, autoescape=True)
                         | Vehicle.plate.startswith("粤" + term, autoescape=True))
        rows = q.order_by(Vehicle.plate).limit(20).all()
        return jsonify([{"id": v.id, "plate": v.plate, "brand": v.brand, "model": v.model,
                         "state": v.state_label} for v in rows])


def _vehicle_snapshot(vehicle: Vehicle) -> dict:
    data = {key: getattr(vehicle, key) for key in wf.VEHICLE_FIELDS}
    if data.get("registered_on"):
        data["registered_on"] = data["registered_on"].isoformat()
    return data


class RentalHomeView(BaseView):
    """R6 the enterprise's rental home; R7 its filing details."""

    route_base = "/rental"
    class_permission_name = PV_RENTAL_FILING
    default_view = "home"
    base_permissions = ["can_list", "can_show", "can_certificate"]
    method_permission_name = {"home": "list", "filing": "show", "certificate": "certificate"}

    @expose("/home")
    @has_access
    def home(self):
        filing = _own_filing()
        enterprise_id = getattr(g.user, "enterprise_id", None)
        if enterprise_id is None:
            return redirect(url_for("ReviewQueueView.list"))
        cases = db.session.query(Application).filter(
            Application.enterprise_id == enterprise_id)
        submitted = cases.filter(Application.state.in_(engine.OPEN_STATES)).order_by(
            Application.id.desc()).limit(10).all()
        processed = cases.filter(Application.state.notin_(engine.OPEN_STATES)).order_by(
            Application.decided_on.desc().nullslast(), Application.id.desc()).limit(10).all()
        counts = dict(db.session.query(Vehicle.state, db.func.count()).filter(
            Vehicle.enterprise_id == enterprise_id).group_by(Vehicle.state).all())
        return self.render_template(
            "rental/home.html", filing=filing,
            enterprise=db.session.get(Enterprise, enterprise_id), submitted=submitted,
            processed=processed, counts=counts, state_labels=STATE_LABELS,
            announcements=_announcements())

    @expose("/filing")
    @has_access
    def filing(self):
        filing = _own_filing()
        if filing is None:
            abort(404)
        cases = (db.session.query(Application)
                 .filter(Application.enterprise_id == filing.enterprise_id,
                         Application.kind.in_(wf.ENTERPRISE_KINDS))
                 .order_by(Application.id.desc()).all())
        return self.render_template("rental/filing.html", filing=filing,
                                    enterprise=filing.enterprise, cases=cases,
                                    state_styles=STATE_STYLES)

    @expose("/filing/certificate")
    @has_access
    def certificate(self):
        filing = _own_filing()
        if filing is None or not filing.certificate_no:
            abort(404)
        return pdf_response(certificates.enterprise_certificate_pdf(filing),
                            certificates.certificate_filename(filing))


def pdf_response(data: bytes, filename: str):
    response = make_response(data)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = (
        f"inline; filename*=UTF-8''{url_quote(filename)}")
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _announcements():
    """Latest announcements for the user's sectors (X18)."""
    from app.services import announcements

    return announcements.latest(5, sectors=announcements.sectors_of(g.user))


class CounterEntryView(BaseView):
    """R15: a regulator files a vehicle on an enterprise's behalf at the counter; the case is
    submitted directly and recorded as a counter entry."""

    route_base = "/review/counter"
    class_permission_name = PV_APPLICATION
    default_view = "vehicle"
    base_permissions = ["can_counter"]
    method_permission_name = {"vehicle": "counter"}

    @expose("/vehicle", methods=["GET", "POST"])
    @has_access
    def vehicle(self):
        filings = (db.session.query(RentalFiling).filter(RentalFiling.state == OPERATING)
                   .join(RentalFiling.enterprise).order_by(Enterprise.name).all())
        form = VehicleForm()
        choice = request.values.get("enterprise_id", "")
        selected = next((f for f in filings if str(f.enterprise_id) == choice), None)
        if form.validate_on_submit():
            if selected is None:
                flash(gettext("Choose an enterprise in your jurisdiction."), "danger")
            else:
                case = _submit(wf.VEHICLE_FILING, enterprise_id=selected.enterprise_id,
                               payload=form.payload())
                if case is not None:
                    return redirect(url_for("ApplicationView.show", pk=case.id))
        return self.render_template("rental/counter.html", form=form, filings=filings,
                                    selected=selected, title=_l("Counter entry"),
                                    types=VEHICLE_TYPES)
