"""Rental filing workflows (seed 000, SPEC R3-R5, R10-R13).

Payloads are plain JSON (dates as ISO strings); formats are checked by the forms in
app/views/rental_forms.py, the business rules here, as guards, so the counter entry, the
online forms and the API all meet the same rules."""

from __future__ import annotations

import datetime

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import func

from app.extensions import db
from app.models.base import unscoped
from app.models.identity import AppUser
from app.models.org import Enterprise, Region
from app.models.rental import (
    OPERATING,
    SCRAPPED,
    SUSPENDED,
    TERMINATED,
    VEHICLE_TYPES,
    VEHICLE_USAGES,
    RentalFiling,
    RentalPremises,
    Vehicle,
)
from app.models.workflow import Application
from app.services import numbering
from app.services.enterprise_accounts import open_admin_account
from app.workflows.calendar import WorkingDays
from app.workflows.engine import (
    APPLICANT,
    ENTERPRISE,
    OPEN_STATES,
    REGISTRY,
    REGULATOR,
    Workflow,
    register,
    review_transitions,
)

# Statutory rules of seed 000 §4.3.2: the written report is due within 15 days of the
# suspension / termination date; time-share operators announce 30 days ahead.
REPORT_WITHIN_DAYS = 15
TIME_SHARE_NOTICE_DAYS = 30

SECTOR = "rental"
FILING = "rental_filing"
FILING_CHANGE = "rental_filing_change"
SUSPEND = "rental_suspend"
RESUME = "rental_resume"
TERMINATE = "rental_terminate"
VEHICLE_FILING = "vehicle_filing"
VEHICLE_CHANGE = "vehicle_change"
VEHICLE_SUSPEND = "vehicle_suspend"
VEHICLE_RESUME = "vehicle_resume"
VEHICLE_TERMINATE = "vehicle_terminate"
VEHICLE_SCRAP = "vehicle_scrap"

ENTERPRISE_KINDS = (FILING, FILING_CHANGE, SUSPEND, RESUME, TERMINATE)
VEHICLE_KINDS = (VEHICLE_FILING, VEHICLE_CHANGE, VEHICLE_SUSPEND, VEHICLE_RESUME,
                 VEHICLE_TERMINATE, VEHICLE_SCRAP)

FILING_FIELDS = ("name", "legal_representative", "contact_name", "contact_mobile", "address",
                 "region_code")
VEHICLE_FIELDS = ("plate", "vin", "brand", "model", "vehicle_type", "seats", "colour", "usage",
                  "owner_name", "registered_on")


def _date(value) -> datetime.date | None:
    if not value:
        return None
    if isinstance(value, datetime.date):
        return value
    return datetime.date.fromisoformat(str(value))


def _filing(case: Application) -> RentalFiling | None:
    return db.session.query(RentalFiling).filter_by(enterprise_id=case.enterprise_id).first()


def _vehicle(case: Application) -> Vehicle | None:
    return db.session.get(Vehicle, case.subject_id) if case.subject_id else None


def _other_open_case(case: Application, kinds, subject_id=None) -> Application | None:
    q = db.session.query(Application).filter(
        Application.enterprise_id == case.enterprise_id, Application.kind.in_(kinds),
        Application.state.in_(OPEN_STATES))
    if subject_id is not None:
        q = q.filter(Application.subject_id == subject_id)
    if case.id is not None:
        q = q.filter(Application.id != case.id)
    return q.first()


# ----- guards: (case, actor, context) -> (ok, reason) -------------------------------------
def not_yet_filed(case, actor, ctx):
    filing = _filing(case)
    if filing is not None and filing.certificate_no:
        return False, gettext("This enterprise is already filed (certificate %(no)s).",
                              no=filing.certificate_no)
    return True, None


def one_open_enterprise_case(case, actor, ctx):
    other = _other_open_case(case, ENTERPRISE_KINDS)
    if other is not None:
        return False, gettext("Case %(ref)s of this enterprise is still open: wait for its "
                              "decision or withdraw it first.", ref=other.reference)
    return True, None


def _subject_in(load, *states, message):
    """Guard: the row `load(case)` returns (the filing or the vehicle) is in one of `states`."""
    def guard(case, actor, ctx):
        row = load(case)
        if row is None or row.state not in states:
            return False, str(message)
        return True, None
    guard.__name__ = f"{load.__name__.strip('_')}_in_{'_'.join(states)}"
    return guard


def filing_in(*states, message):
    return _subject_in(_filing, *states, message=message)


def needs_attachment(case, actor, ctx):
    if not ctx["attachments"] and not case.attachments:
        return False, gettext("Attach the written report (原因说明附件).")
    return True, None


def reported_in_time(case, actor, ctx):
    """Seed 000 §4.3.2: report within 15 days of the suspension / termination date."""
    effective = _date(ctx["payload"].get("effective_date"))
    if effective is None:
        return False, gettext("Give the effective date.")
    if effective < datetime.date.today() - datetime.timedelta(days=REPORT_WITHIN_DAYS):
        return False, gettext(
            "The report is due within %(days)d days of the effective date (%(date)s): that "
            "period is over. Contact the filing authority.", days=REPORT_WITHIN_DAYS,
            date=effective.isoformat())
    return True, None


def time_share_notice(case, actor, ctx):
    """Time-share operators announce a suspension / termination 30 days ahead."""
    filing = _filing(case)
    if filing is None or not filing.time_share:
        return True, None
    effective = _date(ctx["payload"].get("effective_date"))
    notice = _date(ctx["payload"].get("notice_date"))
    if notice is None:
        return False, gettext("An enterprise offering time-share rental must give the date "
                              "of its public notice.")
    if effective and (effective - notice).days < TIME_SHARE_NOTICE_DAYS:
        return False, gettext(
            "The public notice (%(notice)s) must be at least %(days)d days before the "
            "effective date (%(date)s).", notice=notice.isoformat(),
            days=TIME_SHARE_NOTICE_DAYS, date=effective.isoformat())
    return True, None


def enterprise_may_file_vehicles(case, actor, ctx):
    filing = _filing(case)
    if filing is None or filing.state != OPERATING:
        return False, gettext("Vehicles can be filed only while the enterprise's rental "
                              "filing is in operation (not applying, suspended or terminated).")
    return True, None


def plate_and_vin_free(case, actor, ctx):
    """A plate or VIN filed by anyone (or in anyone's open case) is refused."""
    payload = ctx["payload"]
    plate, vin = payload.get("plate"), payload.get("vin")
    reasons = []
    with unscoped():
        for column, value, message in (
                (Vehicle.plate, plate, _l("The plate %(v)s is already filed.")),
                (Vehicle.vin, vin, _l("The VIN %(v)s is already filed."))):
            if not value:
                continue
            q = db.session.query(Vehicle.id).filter(column == value)
            if case.subject_id:
                q = q.filter(Vehicle.id != case.subject_id)
            if q.first() is not None:
                reasons.append(str(message) % {"v": value})
        pending = db.session.query(Application).filter(
            Application.kind.in_((VEHICLE_FILING, VEHICLE_CHANGE)),
            Application.state.in_(OPEN_STATES))
        if case.id is not None:
            pending = pending.filter(Application.id != case.id)
        for other in pending.filter(_payload_matches(plate, vin)):
            reasons.append(gettext("The plate or VIN is in another open case (%(ref)s).",
                                   ref=other.reference))
            break
    if reasons:
        return False, "；".join(reasons)
    return True, None


def _payload_matches(plate, vin):
    plate_expr = func.json_extract(Application.payload, "$.plate")
    vin_expr = func.json_extract(Application.payload, "$.vin")
    if db.engine.dialect.name == "postgresql":
        plate_expr = Application.payload["plate"].as_string()
        vin_expr = Application.payload["vin"].as_string()
    return (plate_expr == (plate or "\x00")) | (vin_expr == (vin or "\x00"))


def vehicle_in(*states, message):
    return _subject_in(_vehicle, *states, message=message)


def one_open_vehicle_case(case, actor, ctx):
    if case.subject_id is None:
        return True, None
    other = _other_open_case(case, VEHICLE_KINDS, subject_id=case.subject_id)
    if other is not None:
        return False, gettext("Case %(ref)s of this vehicle is still open.",
                              ref=other.reference)
    return True, None


# ----- effects: apply the approved payload -------------------------------------------------
def _apply_enterprise_fields(filing: RentalFiling, payload: dict) -> None:
    enterprise = filing.enterprise
    for key in FILING_FIELDS:
        if key in payload and payload[key] not in (None, ""):
            setattr(enterprise, key, payload[key])
    if "time_share" in payload:
        filing.time_share = bool(payload["time_share"])
    if "premises" in payload:
        filing.premises = [
            RentalPremises(enterprise_id=filing.enterprise_id, address=p["address"],
                           area=p.get("area"), parking_spaces=p.get("parking_spaces"),
                           phone=p.get("phone"))
            for p in payload["premises"]]


def issue_filing_certificate(case, actor, ctx):
    filing = _filing(case)
    today = datetime.date.today()
    _apply_enterprise_fields(filing, case.payload)
    filing.certificate_no = numbering.next_number(db.session, FILING, today.year)
    filing.state = OPERATING
    filing.filed_on = filing.state_since = today


def open_enterprise_account(case, actor, ctx):
    """Seed 000 §3.1: user name = USCC, password = the contact's mobile, changed at first
    login (the platform's forced-change flag)."""
    enterprise = db.session.get(Enterprise, case.enterprise_id)
    with unscoped():
        # An enterprise already on the platform (another sector) keeps its accounts.
        exists = db.session.query(AppUser.id).filter(
            (func.lower(AppUser.username) == enterprise.uscc.lower())
            | (AppUser.enterprise_id == enterprise.id)).first()
    if exists:
        return
    open_admin_account(enterprise, enterprise.uscc, enterprise.contact_mobile or "",
                       contact_name=enterprise.contact_name, mobile=enterprise.contact_mobile,
                       email=case.payload.get("contact_email"), must_change_password=True)


def apply_filing_change(case, actor, ctx):
    _apply_enterprise_fields(_filing(case), case.payload)


def _set_subject_state(load, state):
    """Effect: the filing or vehicle takes `state` from the case's effective date."""
    def effect(case, actor, ctx):
        row = load(case)
        row.state = state
        row.state_since = _date(case.payload.get("effective_date")) or datetime.date.today()
    effect.__name__ = f"set_{load.__name__.strip('_')}_state_{state}"
    return effect


def set_filing_state(state):
    return _set_subject_state(_filing, state)


def register_vehicle(case, actor, ctx):
    p = case.payload
    today = datetime.date.today()
    vehicle = Vehicle(enterprise_id=case.enterprise_id, state=OPERATING, filed_on=today,
                      state_since=today,
                      certificate_no=numbering.next_number(db.session, "vehicle", today.year))
    _apply_vehicle_fields(vehicle, p)
    db.session.add(vehicle)
    db.session.flush([vehicle])
    case.subject_id = vehicle.id


def _apply_vehicle_fields(vehicle: Vehicle, payload: dict) -> None:
    for key in VEHICLE_FIELDS:
        if key in payload and payload[key] not in (None, ""):
            value = payload[key]
            if key == "registered_on":
                value = _date(value)
            setattr(vehicle, key, value)


def apply_vehicle_change(case, actor, ctx):
    _apply_vehicle_fields(_vehicle(case), case.payload)


def set_vehicle_state(state):
    return _set_subject_state(_vehicle, state)


PAYLOAD_LABELS = {
    "name": _l("Enterprise name"), "uscc": _l("Unified social credit code"),
    "legal_representative": _l("Legal representative"), "contact_name": _l("Contact"),
    "contact_mobile": _l("Contact mobile"), "contact_email": _l("Contact e-mail"),
    "address": _l("Address"), "region_code": _l("Region"),
    "time_share": _l("Time-share rental"), "premises": _l("Business premises"),
    "plate": _l("Plate number"), "vin": _l("VIN"), "brand": _l("Brand"), "model": _l("Model"),
    "vehicle_type": _l("Vehicle type"), "seats": _l("Seats"), "colour": _l("Colour"),
    "usage": _l("Usage"), "owner_name": _l("Registered owner"),
    "registered_on": _l("Registration date"), "reason": _l("Reason"),
    "effective_date": _l("Effective date"), "notice_date": _l("Public notice date"),
}


def _region_name(code):
    """A GB/T 2260 code as its name (regions are reference data, not tenant rows)."""
    region = db.session.get(Region, code) if code else None
    return f"{region.name}（{code}）" if region else code


PAYLOAD_CHOICES = {"vehicle_type": VEHICLE_TYPES, "usage": VEHICLE_USAGES,
                   "region_code": _region_name}


# ----- definitions ---------------------------------------------------------------------------
PUBLIC = {APPLICANT, REGULATOR}          # online by the public, or at the counter
ENTERPRISE_SIDE = {ENTERPRISE, REGULATOR}


def _title(label):
    def title(payload):
        subject = payload.get("plate") or payload.get("name") or ""
        return f"{subject} {label}".strip()
    return title


_not_terminated = filing_in(OPERATING, SUSPENDED,
                            message=_l("A terminated rental filing cannot be changed."))
_operating = filing_in(OPERATING, message=_l("Only an operating enterprise can do this."))
_suspended = filing_in(SUSPENDED, message=_l("Only a suspended enterprise can resume."))
_vehicle_live = vehicle_in(OPERATING, SUSPENDED,
                           message=_l("A terminated or scrapped vehicle cannot be changed."))
_vehicle_operating = vehicle_in(OPERATING, message=_l("Only an operating vehicle can do this."))
_vehicle_suspended = vehicle_in(SUSPENDED, message=_l("Only a suspended vehicle can resume."))

for kind, label, roles, guards, submit_guards, effects, days in (
    (FILING, _l("Rental filing"), PUBLIC, [not_yet_filed, one_open_enterprise_case], [],
     [issue_filing_certificate, open_enterprise_account], 10),
    (FILING_CHANGE, _l("Filing change"), ENTERPRISE_SIDE,
     [_not_terminated, one_open_enterprise_case], [], [apply_filing_change], 10),
    (SUSPEND, _l("Suspension of business"), ENTERPRISE_SIDE,
     [_operating, one_open_enterprise_case], [needs_attachment, reported_in_time,
                                             time_share_notice],
     [set_filing_state(SUSPENDED)], 5),
    (RESUME, _l("Resumption of business"), ENTERPRISE_SIDE,
     [_suspended, one_open_enterprise_case], [needs_attachment], [set_filing_state(OPERATING)],
     5),
    (TERMINATE, _l("Termination of business"), ENTERPRISE_SIDE,
     [_not_terminated, one_open_enterprise_case], [needs_attachment, reported_in_time,
                                                   time_share_notice],
     [set_filing_state(TERMINATED)], 5),
    (VEHICLE_FILING, _l("Vehicle filing"), ENTERPRISE_SIDE,
     [enterprise_may_file_vehicles, plate_and_vin_free], [], [register_vehicle], 5),
    (VEHICLE_CHANGE, _l("Vehicle filing change"), ENTERPRISE_SIDE,
     [_vehicle_live, _not_terminated, one_open_vehicle_case, plate_and_vin_free], [],
     [apply_vehicle_change], 5),
    (VEHICLE_SUSPEND, _l("Vehicle suspension"), ENTERPRISE_SIDE,
     [_vehicle_operating, one_open_vehicle_case], [needs_attachment],
     [set_vehicle_state(SUSPENDED)], 5),
    (VEHICLE_RESUME, _l("Vehicle resumption"), ENTERPRISE_SIDE,
     [_vehicle_suspended, enterprise_may_file_vehicles, one_open_vehicle_case],
     [needs_attachment], [set_vehicle_state(OPERATING)], 5),
    (VEHICLE_TERMINATE, _l("Vehicle termination"), ENTERPRISE_SIDE,
     [_vehicle_live, one_open_vehicle_case], [needs_attachment],
     [set_vehicle_state(TERMINATED)], 5),
    (VEHICLE_SCRAP, _l("Vehicle scrapping"), ENTERPRISE_SIDE,
     [_vehicle_live, one_open_vehicle_case], [needs_attachment],
     [set_vehicle_state(SCRAPPED)], 5),
):
    register(Workflow(kind, label, review_transitions(
        submit_roles=roles, guards=guards, submit_guards=submit_guards, effects=effects),
        time_limit=WorkingDays(days), variants={"ftz": WorkingDays(max(1, days // 2))},
        title=_title(label), fields=PAYLOAD_LABELS, choices=PAYLOAD_CHOICES,
        sector=SECTOR, subject_endpoint="VehicleView.show" if kind in VEHICLE_KINDS else None))

KIND_LABELS = {kind: REGISTRY[kind].label for kind in ENTERPRISE_KINDS + VEHICLE_KINDS}
