"""Power-facility licensing workflows (seed 002, SPEC P3-P13, P16).

Each licence matter is a workflow kind with the staged review of the engine (acceptance ->
examination -> decision, a limit per stage), the same definition built for every matter
with its own statutory limits; the 容缺 and free-trade-zone routes are the engine's variants
(the case's `variant`), not copied workflows. The typed detail of a case is its
`LicenceRequest` (case.subject_id); approval applies it (`licences.apply_request`).

Personnel changes (P12) are a plain review on the staff roster.

Operations for views and the API: `submit_request`, `supply_materials`,
`record_tolerance_defaults` (periodic), `propose_join`, `propose_leave`."""

from __future__ import annotations

import dataclasses
import datetime

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, update

from app.errors import DomainError
from app.extensions import db
from app.models.licence import (
    CANCELLATION,
    DRAFT,
    ITEM_CHANGE,
    LICENCE_MATTERS,
    MATTERS,
    NEW,
    REGISTRATION_CHANGE,
    RENEWAL,
    REPLACEMENT,
    ROUTE_FTZ,
    ROUTE_NORMAL,
    ROUTE_TOLERANCE,
    ROUTES,
    SECTOR,
    SUBMITTED,
    LicenceRequest,
    RequestMaterial,
    ToleranceDefault,
    categories_text,
)
from app.models.staff import ACTIVE, ELECTRICIAN, LEAVING, LEFT, PROPOSED, STAFF_TYPES, PowerStaff
from app.models.workflow import Application
from app.services import audit, jobs, licence_check, licences, notify
from app.workflows import engine
from app.workflows.calendar import WorkingDays
from app.workflows.engine import (
    AWAITING_REVIEW,
    DECISION,
    ENTERPRISE,
    EXAMINATION,
    OPEN_STATES,
    Transition,
    Workflow,
    register,
    review_transitions,
    staged_transitions,
)
from app.workflows.engine import (
    SUBMITTED as CASE_SUBMITTED,
)

KIND_BY_MATTER = {
    NEW: "power_new",
    REGISTRATION_CHANGE: "power_registration_change",
    ITEM_CHANGE: "power_item_change",
    RENEWAL: "power_renewal",
    REPLACEMENT: "power_replacement",
    CANCELLATION: "power_cancellation",
}
MATTER_BY_KIND = {kind: matter for matter, kind in KIND_BY_MATTER.items()}
PERSONNEL = "power_personnel"
LICENCE_KINDS = tuple(KIND_BY_MATTER.values())

# Statutory limits in working days: (ordinary route, {variant: limit}) (seed §4: 自贸区
# 20 -> 15 for a new licence and an item change, 15 -> 10 for a registration change,
# 20 -> 10 for a renewal, same-day reissue).
LIMITS = {
    NEW: (20, {ROUTE_FTZ: 15}),
    REGISTRATION_CHANGE: (15, {ROUTE_FTZ: 10}),
    ITEM_CHANGE: (20, {ROUTE_FTZ: 15}),
    RENEWAL: (20, {ROUTE_FTZ: 10}),
    REPLACEMENT: (10, {ROUTE_FTZ: 0}),
    CANCELLATION: (10, {}),
}
# How a total limit splits into the stages acceptance / examination / decision.
STAGE_SPLITS = {20: (5, 10, 5), 15: (5, 7, 3), 10: (3, 5, 2), 0: (0, 0, 0)}
TOLERANCE_MAX_WORKING_DAYS = 20  # 容缺 materials are due within this many working days

STATE_LABELS = {CASE_SUBMITTED: _l("Awaiting acceptance")}
VARIANT_LABELS = {ROUTE_TOLERANCE: ROUTES[ROUTE_TOLERANCE], ROUTE_FTZ: ROUTES[ROUTE_FTZ]}

PAYLOAD_LABELS = {
    "matter": _l("Matter"),
    "route": _l("Route"),
    "licence_no": _l("Licence number"),
    "categories": _l("Categories and levels"),
    "previous_categories": _l("Categories and levels before"),
    "nature": _l("Nature of the application"),
    "submitter": _l("Submitter"),
    "changes": _l("Registration items changed"),
    "downgrade": _l("Downgrade"),
    "reason": _l("Reason"),
    "matters": _l("Cancellation matters"),
    "missing": _l("Materials to be supplied (容缺)"),
    "deadline": _l("Missing materials due by"),
}


class LicenceRequestError(DomainError):
    """A licence request that cannot be submitted or changed now (422)."""


def _stage_limits(total: int) -> dict:
    acceptance, examination, decision = STAGE_SPLITS[total]
    return {CASE_SUBMITTED: WorkingDays(acceptance), EXAMINATION: WorkingDays(examination),
            DECISION: WorkingDays(decision)}


def request_of(case) -> LicenceRequest | None:
    if case.subject_id is None:
        return None
    return db.session.get(LicenceRequest, case.subject_id)


def case_payload(request: LicenceRequest) -> dict:
    """What the case page shows (and the history keeps) of the request at submission."""
    from app.models.licence import NATURES, SUBMITTER_KINDS

    details = request.details or {}
    payload = {
        "matter": str(MATTERS[request.matter]),
        "route": str(ROUTES.get(request.route, "")),
        "licence_no": request.licence.number if request.licence else "",
        "categories": categories_text(request.categories),
        "submitter": f"{SUBMITTER_KINDS.get(request.submitter_kind, '')}："
                     f"{request.submitter_name or ''}",
    }
    if request.matter == NEW:
        payload["nature"] = str(NATURES.get(request.nature, request.nature))
    if request.licence is not None and request.matter in (ITEM_CHANGE, RENEWAL):
        payload["previous_categories"] = request.licence.categories_text
    if request.matter == REGISTRATION_CHANGE:
        before = details.get("before") or {}
        payload["changes"] = "；".join(
            f"{licences.REGISTRATION_ITEMS[k]}：{before.get(k, '')} → {v}"
            for k, v in (details.get("changes") or {}).items() if k in licences.REGISTRATION_ITEMS)
    if request.matter == RENEWAL:
        payload["downgrade"] = gettext("Yes") if details.get("downgrade") else gettext("No")
    if request.matter == REPLACEMENT:
        payload["reason"] = gettext("Lost") if details.get("reason") == "lost" \
            else gettext("Damaged")
    if request.matter == CANCELLATION:
        payload["matters"] = details.get("matters", "")
    if request.route == ROUTE_TOLERANCE:
        payload["missing"] = "、".join(str(licence_check.MATERIAL_LABELS.get(s, s))
                                      for s in details.get("missing") or ())
        payload["deadline"] = details.get("deadline", "")
    return {k: v for k, v in payload.items() if v not in (None, "")}


def _title(payload: dict) -> str:
    return " ".join(x for x in (payload.get("matter"),
                                payload.get("licence_no") or payload.get("categories")) if x)


# ----- guards -------------------------------------------------------------------------------
def request_complete(case, actor, ctx):
    request = request_of(case)
    if request is None:
        return False, gettext("The application form of this case is missing.")
    found = licence_check.findings(request)
    if found:
        return False, gettext("The application is incomplete (%(n)s items): %(first)s",
                              n=len(found), first=found[0].message)
    return True, None


def route_still_open(case, actor, ctx):
    """The route chosen at the start must still be offered when the case is (re)submitted."""
    request = request_of(case)
    if request is None or request.route == ROUTE_NORMAL:
        return True, None
    from app.services import credit

    offer = credit.routes_for(request.enterprise, request.matter)
    if request.route not in offer.routes:
        return False, gettext("The route “%(route)s” is no longer open to this enterprise: "
                              "%(why)s", route=ROUTES[request.route],
                              why=offer.reasons.get(request.route, ""))
    return True, None


def one_open_matter(case, actor, ctx):
    """One licence matter at a time per enterprise (they all change the same licence)."""
    other = db.session.execute(
        select(Application).where(Application.enterprise_id == case.enterprise_id,
                                  Application.kind.in_(LICENCE_KINDS),
                                  Application.state.in_(OPEN_STATES),
                                  Application.id != (case.id or 0))).scalars().first()
    if other is not None:
        return False, gettext("Case %(ref)s is still in progress: wait for its decision or "
                              "terminate it first.", ref=other.reference)
    return True, None


def tolerance_supplied(case, actor, ctx):
    if case.variant != ROUTE_TOLERANCE:
        return True, None
    request = request_of(case)
    missing = outstanding_materials(request) if request else []
    if missing:
        return False, gettext("The 容缺 materials have not all been supplied: %(list)s.",
                              list="、".join(str(licence_check.MATERIAL_LABELS.get(s, s))
                                             for s in missing))
    return True, None


def outstanding_materials(request: LicenceRequest) -> list[str]:
    supplied = {m.slot for m in request.materials}
    return [s for s in (request.details or {}).get("missing") or () if s not in supplied]


def can_supply(case, actor, ctx):
    """容缺 materials are supplied (the files of this step) before their deadline."""
    request = request_of(case)
    if case.variant != ROUTE_TOLERANCE or request is None or not ctx["attachments"]:
        return False, gettext("No materials are outstanding on this case.")
    deadline = _tolerance_deadline(request)
    if deadline is not None and deadline < datetime.date.today():
        return False, gettext("The missing materials were due by %(date)s; the deadline has "
                              "passed.", date=deadline.isoformat())
    return True, None


# ----- effects ------------------------------------------------------------------------------
def mark_submitted(case, actor, ctx):
    request = request_of(case)
    request.state = SUBMITTED
    request.case_id = case.id
    request.submitted_on = datetime.datetime.now()


def apply_approved(case, actor, ctx):
    licence = licences.apply_request(request_of(case), case)
    ctx["licence"] = licence


def close(case, actor, ctx):
    licences.close_request(request_of(case))


def reopen(case, actor, ctx):
    licences.reopen_request(request_of(case))


def _licence_workflow(matter: str) -> Workflow:
    total, variants = LIMITS[matter]
    stage_limits = {"": _stage_limits(total)}
    stage_limits.update({variant: _stage_limits(days) for variant, days in variants.items()})
    return Workflow(
        KIND_BY_MATTER[matter], MATTERS[matter],
        staged_transitions(
            submit_roles={ENTERPRISE},
            guards=[request_complete, one_open_matter, route_still_open],
            effects=[apply_approved], decide_guards=[tolerance_supplied],
            submit_effects=[mark_submitted], end_effects=[close], withdraw_effects=[reopen],
            extra=[Transition("supply", AWAITING_REVIEW, None, {ENTERPRISE},
                              label=_l("Supply missing materials"), guards=(can_supply,),
                              listed=False)]),
        time_limit=WorkingDays(total),
        variants={variant: WorkingDays(days) for variant, days in variants.items()},
        title=_title, fields=PAYLOAD_LABELS, sector=SECTOR,
        subject_endpoint="LicenceRequestView.show", detail_endpoint="LicenceRequestView.show",
        stage_limits=stage_limits, variant_labels=VARIANT_LABELS, state_labels=STATE_LABELS)


for _matter in KIND_BY_MATTER:
    register(_licence_workflow(_matter))


# ----- operations -------------------------------------------------------------------------
def submit_request(request: LicenceRequest, actor) -> Application:
    """进入资料提交排队: the complete draft opens its case (or resubmits a returned one)."""
    if request.state == SUBMITTED and request.case is not None \
            and request.case.state == engine.RETURNED:
        return engine.fire(request.case, "resubmit", actor, payload=case_payload(request))
    if request.state != DRAFT:
        raise LicenceRequestError(gettext("This application has already been submitted."))
    if request.matter != NEW and licences.current_version_for(request) is None:
        raise LicenceRequestError(gettext(
            "The licence this application is about is no longer in force."))
    found = licence_check.findings(request)
    if found:
        raise LicenceRequestError(gettext(
            "The application is incomplete: run the check and complete the %(n)s items it "
            "lists.", n=len(found)))
    return engine.create(
        KIND_BY_MATTER[request.matter], enterprise_id=request.enterprise_id, actor=actor,
        payload=case_payload(request), subject_id=request.id,
        variant=None if request.route == ROUTE_NORMAL else request.route,
        attachments=[m.attachment for m in request.materials])


def _tolerance_deadline(request) -> datetime.date | None:
    value = (request.details or {}).get("deadline")
    return datetime.date.fromisoformat(value) if value else None


def tolerance_deadline_bounds(today: datetime.date | None = None):
    """(earliest, latest) date a 容缺 request may promise its missing materials by."""
    today = today or datetime.date.today()
    return (today + datetime.timedelta(days=1),
            WorkingDays(TOLERANCE_MAX_WORKING_DAYS).deadline(today))


def supply_materials(request: LicenceRequest, files: dict, actor) -> Application:
    """容缺: the enterprise uploads outstanding materials ({slot: Attachment}) on its open
    case; the case stays where it is and its trail records the supply."""
    case = request.case
    if case is None:
        raise LicenceRequestError(gettext("This application has no case yet."))
    outstanding = set(outstanding_materials(request))
    unknown = [slot for slot in files if slot not in outstanding]
    if unknown or not files:
        raise LicenceRequestError(gettext("Upload only the materials still outstanding."))
    now = datetime.datetime.now()
    for slot, attachment in files.items():
        db.session.add(RequestMaterial(enterprise_id=request.enterprise_id,
                                       request_id=request.id, slot=slot,
                                       attachment=attachment, supplied_on=now))
    db.session.flush()
    db.session.expire(request, ["materials"])
    return engine.fire(case, "supply", actor, attachments=list(files.values()))


def record_tolerance_defaults(today: datetime.date | None = None) -> int:
    """Periodic (idempotent): a 容缺 case still open with materials outstanding after their
    deadline is recorded as a default (bars 容缺 for two years) and both sides are told."""
    today = today or datetime.date.today()
    recorded = 0
    cases = db.session.execute(
        select(Application).where(Application.kind.in_(LICENCE_KINDS),
                                  Application.variant == ROUTE_TOLERANCE,
                                  Application.state.in_(OPEN_STATES))).scalars().all()
    for case in cases:
        request = request_of(case)
        deadline = _tolerance_deadline(request) if request else None
        if deadline is None or deadline >= today or not outstanding_materials(request):
            continue
        exists = db.session.execute(select(ToleranceDefault.id).where(
            ToleranceDefault.case_id == case.id)).first()
        if exists:
            continue
        db.session.add(ToleranceDefault(enterprise_id=case.enterprise_id, case_id=case.id,
                                        due_on=deadline, recorded_on=today))
        db.session.flush()
        notify.notify_enterprise(
            case.enterprise_id,
            gettext("Case %(ref)s: missing materials not supplied by %(date)s",
                    ref=case.reference, date=deadline.isoformat()),
            body=gettext("The default is recorded: 容缺 acceptance is not open to the "
                         "enterprise for two years."),
            link=f"/applications/show/{case.id}")
        audit.record(db.session, "tolerance_default", target=case,
                     detail=f"due {deadline.isoformat()}")
        recorded += 1
    db.session.commit()
    return recorded


# ----- personnel changes (P12) ------------------------------------------------------------
# 人员变更申请: a join proposes a roster row ("awaiting approval", an electrician's ID number
# reserved at once), a leave marks an active row "leaving"; approval applies it, a refusal or
# a withdrawal releases it (the proposed row is deleted, the leaving row is active again).
# The roster changes only on approval. Views: app/views/staff.py (forms), the generic case
# page for the review.
def _staff_of(case) -> PowerStaff | None:
    return db.session.get(PowerStaff, case.subject_id) if case.subject_id else None


def personnel_row_ready(case, actor, ctx):
    staff = _staff_of(case)
    action = ctx["payload"].get("action")
    expected = PROPOSED if action == "join" else LEAVING
    if staff is None or staff.status != expected or staff.request_id is not None:
        return False, gettext("This personnel change no longer matches the roster: start a "
                              "new one.")
    return True, None


def power_enterprise(case, actor, ctx):
    """Only an enterprise of the power sector keeps a roster its regulator reviews."""
    from app.models.org import Enterprise

    enterprise = db.session.get(Enterprise, case.enterprise_id)
    if enterprise is None or SECTOR not in {s.code for s in enterprise.sectors}:
        return False, gettext("Personnel changes are for power-facility enterprises.")
    return True, None


def apply_personnel(case, actor, ctx):
    staff = _staff_of(case)
    if case.payload.get("action") == "join":
        staff.status = ACTIVE
        staff.joined_on = datetime.date.today()
    else:
        staff.status = LEFT
        staff.left_on = datetime.date.today()


def release_personnel(case, actor, ctx):
    staff = _staff_of(case)
    if staff is None:
        return
    if case.payload.get("action") == "join" and staff.status == PROPOSED \
            and staff.request_id is None:
        db.session.execute(delete(PowerStaff).where(PowerStaff.id == staff.id)
                           .execution_options(synchronize_session="fetch"))
    elif case.payload.get("action") == "leave" and staff.status == LEAVING:
        staff.status = ACTIVE


PERSONNEL_LABELS = {"action": _l("Change"), "staff_type": _l("Staff type"),
                    "name": _l("Full name"), "id_number": _l("ID number"),
                    "title": _l("Professional title"), "specialty": _l("Specialty"),
                    "certificate": _l("Certificate"), "issuer": _l("Issuing authority")}
PERSONNEL_ACTIONS = {"join": _l("Joins"), "leave": _l("Leaves")}


def _personnel_transitions() -> list:
    """The usual review, except that a refused change cannot be resubmitted: the refusal
    released the row (a new change starts from the roster as it is)."""
    out = []
    for t in review_transitions(submit_roles={ENTERPRISE}, guards=[personnel_row_ready],
                                submit_guards=[power_enterprise], effects=[apply_personnel],
                                end_effects=[release_personnel]):
        if t.name == "resubmit":
            t = dataclasses.replace(t, sources=(engine.RETURNED,))
        out.append(t)
    return out


register(Workflow(
    PERSONNEL, _l("Personnel change"), _personnel_transitions(),
    time_limit=WorkingDays(10),
    title=lambda p: f"{PERSONNEL_ACTIONS.get(p.get('action'), '')} "
                    f"{STAFF_TYPES.get(p.get('staff_type'), '')} {p.get('name', '')}".strip(),
    fields=PERSONNEL_LABELS,
    choices={"action": PERSONNEL_ACTIONS, "staff_type": STAFF_TYPES,
             "id_number": lambda v: f"{v[:6]}********{v[-4:]}" if v else "",
             "certificate": lambda v: f"{v[:-12]}********{v[-4:]}" if len(v or "") > 20
             else (v or "")},
    sector=SECTOR, subject_endpoint="PersonnelView.staff"))


def personnel_payload(staff: PowerStaff, action: str) -> dict:
    payload = {"action": action, "staff_type": staff.staff_type, "name": staff.name,
               "id_number": staff.id_number}
    if staff.staff_type == ELECTRICIAN:
        payload["certificate"] = " ".join(x for x in (staff.certificate_kind_label,
                                                      staff.certificate_no or "") if x)
        payload["issuer"] = staff.certificate_issuer or ""
    else:
        payload["title"] = staff.title_label
        payload["specialty"] = staff.specialty or ""
    return payload


def propose_leave(staff: PowerStaff, actor) -> Application:
    """离职申请: the active row is marked leaving (compare-and-set: of two requests for the
    same person one wins) and a case opens; it leaves the roster on approval."""
    marked = db.session.execute(
        update(PowerStaff).where(PowerStaff.id == staff.id, PowerStaff.status == ACTIVE,
                                 PowerStaff.request_id.is_(None))
        .values(status=LEAVING).execution_options(synchronize_session=False))
    if marked.rowcount != 1:
        db.session.rollback()
        raise LicenceRequestError(gettext("Only a person on the roster can leave it (a "
                                          "change for %(name)s may already be under review).",
                                          name=staff.name))
    db.session.refresh(staff)
    case = engine.create(PERSONNEL, enterprise_id=staff.enterprise_id, actor=actor,
                         payload=personnel_payload(staff, "leave"), subject_id=staff.id,
                         commit=False)
    staff.case_id = case.id
    db.session.commit()
    return case


def propose_join(staff: PowerStaff, actor, attachments=()) -> Application:
    """入职申请: the new person is on the roster as "awaiting approval" (an electrician's ID
    number is reserved at once: the database refuses it to anyone else, and that refusal is
    StaffConflictError here). `staff` is new or added by staff.add_staff(commit=False)."""
    from app.services.staff import flush_guarded

    staff.status = PROPOSED
    staff.request_id = None
    db.session.add(staff)
    flush_guarded(staff)
    case = engine.create(PERSONNEL, enterprise_id=staff.enterprise_id, actor=actor,
                         payload=personnel_payload(staff, "join"), subject_id=staff.id,
                         attachments=attachments, commit=False)
    staff.case_id = case.id
    db.session.commit()
    return case


__all__ = ["ELECTRICIAN", "KIND_BY_MATTER", "LICENCE_KINDS", "LICENCE_MATTERS",
           "LicenceRequestError", "PERSONNEL", "case_payload", "personnel_payload",
           "propose_join", "propose_leave", "record_tolerance_defaults", "submit_request",
           "supply_materials", "tolerance_deadline_bounds"]


# Daily, after midnight: 容缺 deadlines that passed yesterday are recorded (idempotent).
jobs.periodic(jobs.crontab(hour="0", minute="20"))(record_tolerance_defaults)
