"""Public side of the rental module (seed 000 §2, SPEC R1-R4), no account needed:
enterprise and vehicle lookups, the online filing application and its status lookup with
correction and resubmission.

Anonymous requests see no tenant rows (app/models/base.py), so every query here runs inside
`with unscoped():` and selects public columns only: never the contact mobile, e-mail or any ID
number. Lookups and access-code checks are rate-limited per IP with the platform limiter and
need the image captcha. States change only through the workflow engine."""

from __future__ import annotations

import time

from flask import current_app, flash, redirect, request, session, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.utils.limit import Limit
from flask_babel import gettext
from flask_limiter.util import get_remote_address
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError

from app.errors import DomainError, GuardFailedError
from app.extensions import db
from app.models.base import unscoped
from app.models.identity import AppUser
from app.models.org import Enterprise, Sector
from app.models.rental import (
    OPERATING,
    STATE_LABELS,
    VEHICLE_TYPES,
    VEHICLE_USAGES,
    RentalFiling,
    RentalPremises,
    Vehicle,
)
from app.models.workflow import Application
from app.services import captcha
from app.services.attachments import AttachmentRejectedError
from app.views.rental_forms import (
    AccessCodeForm,
    ApplyStartForm,
    EnterpriseLookupForm,
    PublicFilingForm,
    ResubmitFilingForm,
    StatusLookupForm,
    VehicleLookupForm,
    discard_files,
    filing_payload,
    form_data_from_payload,
    looks_like_uscc,
    region_label,
    store_uploads,
    uploads,
    uscc_is_valid,
)
from app.workflows import engine
from app.workflows import rental as wf

# Session keys (the session cookie is signed: these cannot be forged).
_DONE_KEY = "rental_apply_done"
_GRANT_KEY = "rental_resubmit"
_RESUBMITTED_KEY = "rental_resubmitted"
START_MAX_AGE = 2 * 3600      # step 1 → step 2 of the application
GRANT_MAX_AGE = 30 * 60       # a correct access code opens the correction form this long
CORRECTABLE = (engine.RETURNED, engine.REJECTED)

_LOOKUP_ENDPOINTS = {"enterprise", "vehicle", "status"}
_CODE_ENDPOINTS = {"code"}
_APPLY_ENDPOINTS = {"apply", "apply_form", "resubmit"}


# ----- rate limits (config keys with defaults; several workers share REDIS_URL storage) ----
def _lookup_limit() -> str:
    return current_app.config.get("RENTAL_LOOKUP_RATE_LIMIT", "30 per minute")


def _code_limit() -> str:
    return current_app.config.get("RENTAL_ACCESS_CODE_RATE_LIMIT", "10 per minute")


def _code_per_uscc_limit() -> str:
    return current_app.config.get("RENTAL_ACCESS_CODE_PER_USCC_LIMIT", "20 per hour")


def _apply_limit() -> str:
    return current_app.config.get("RENTAL_APPLY_RATE_LIMIT", "20 per minute")


def _endpoint_not_in(names):
    return lambda: (request.endpoint or "").rsplit(".", 1)[-1] not in names


def _uscc_key() -> str:
    return "rental-code-uscc:" + str(request.form.get("uscc", "")).strip().upper()[:18]


# ----- helpers -----------------------------------------------------------------------------
def _start_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="rental-apply-start")


def read_start_token(token: str | None) -> dict | None:
    """Step-1 data (name, USCC) from the signed token of step 2; None if forged or expired."""
    if not token:
        return None
    try:
        data = _start_serializer().loads(token, max_age=START_MAX_AGE)
    except (BadSignature, SignatureExpired):
        return None
    if not isinstance(data, dict) or not uscc_is_valid(data.get("uscc")) \
            or not data.get("name"):
        return None
    return data


def _name_variants(name: str) -> list[str]:
    """Full names match with either kind of parentheses (（） or ())."""
    name = " ".join(name.split())
    half = name.replace("（", "(").replace("）", ")")
    full = half.replace("(", "（").replace(")", "）")
    return list({name, half, full})


def mask_vin(vin: str | None) -> str:
    vin = vin or ""
    if len(vin) <= 8:
        return "*" * len(vin)
    return vin[:4] + "*" * (len(vin) - 8) + vin[-4:]


def _label(mapping, key) -> str:
    return str(mapping.get(key, key or ""))


class Blocker:
    """Why a USCC cannot start a new application (shown with a link to the right page)."""

    def __init__(self, kind: str, message: str):
        self.kind = kind  # filed | open | name
        self.message = message


def uscc_blocker(uscc: str, name: str) -> Blocker | None:
    with unscoped():
        ent = db.session.query(Enterprise.id, Enterprise.name).filter(
            Enterprise.uscc == uscc).first()
        if ent is None:
            return None
        certificate = db.session.query(RentalFiling.certificate_no).filter(
            RentalFiling.enterprise_id == ent.id).scalar()
        if certificate:
            return Blocker("filed", gettext(
                "This enterprise is already filed (certificate %(no)s): each enterprise has "
                "one filing. Look it up in the enterprise lookup.", no=certificate))
        open_case = db.session.query(Application.reference, Application.state).filter(
            Application.enterprise_id == ent.id, Application.kind.in_(wf.ENTERPRISE_KINDS),
            Application.state.in_(engine.OPEN_STATES)).first()
        if open_case is not None:
            return Blocker("open", gettext(
                "An application for this enterprise is already in progress (case %(ref)s, "
                "%(state)s): look up its status.", ref=open_case.reference,
                state=engine.CASE_STATE_LABELS[open_case.state]))
        if _established(ent.id):
            # Its master data must not be open to anyone who knows its (public) name and
            # code: an enterprise on the platform applies signed in, or at the counter.
            return Blocker("established", gettext(
                "This enterprise already has an account on the platform. Sign in with it, or "
                "file at the filing authority's counter: an online application cannot change "
                "the data of an enterprise already on the platform."))
    return None


def _established(enterprise_id: int) -> bool:
    """Inside unscoped(): an enterprise with accounts or another sector is on the platform
    in its own right, so an application must use its registered name. One created by an
    earlier (rejected or withdrawn) public application may correct its name."""
    if db.session.query(AppUser.id).filter(AppUser.enterprise_id == enterprise_id).first():
        return True
    ent = db.session.get(Enterprise, enterprise_id)
    return any(sector.code != "rental" for sector in ent.sectors)


def _latest_filing_case(uscc: str) -> Application | None:
    """Inside unscoped(): the newest rental filing case of the enterprise with this USCC."""
    ent_id = db.session.query(Enterprise.id).filter(Enterprise.uscc == uscc).scalar()
    if ent_id is None:
        return None
    return db.session.query(Application).filter(
        Application.enterprise_id == ent_id, Application.kind == wf.FILING).order_by(
        Application.id.desc()).first()


def _rental_sector() -> Sector:
    sector = db.session.query(Sector).filter_by(code="rental").first()
    if sector is None:
        sector = Sector(code="rental")
        db.session.add(sector)
    return sector


def _enterprise_and_filing(start: dict, payload: dict):
    """Inside unscoped(): the applicant's Enterprise (new, or one already on the platform for
    another sector: its data then changes only when the filing is approved) and its
    RentalFiling in state applying."""
    ent = db.session.query(Enterprise).filter(Enterprise.uscc == start["uscc"]).first()
    sector = _rental_sector()
    if ent is None:
        ent = Enterprise(name=start["name"], uscc=start["uscc"],
                         region_code=payload["region_code"], status="active",
                         legal_representative=payload["legal_representative"],
                         contact_name=payload["contact_name"],
                         contact_mobile=payload["contact_mobile"], address=payload["address"],
                         sectors=[sector])
        db.session.add(ent)
        db.session.flush()
    elif sector not in ent.sectors:
        ent.sectors.append(sector)
    filing = db.session.query(RentalFiling).filter_by(enterprise_id=ent.id).first()
    if filing is None:
        filing = RentalFiling(enterprise_id=ent.id, time_share=payload["time_share"])
        db.session.add(filing)
        db.session.flush()
    return ent, filing


# ----- the view ----------------------------------------------------------------------------
class RentalPublicView(BaseView):
    """R1-R4 for the public (seed 000 §2: the four functions at the bottom of the home page)."""

    route_base = "/public/rental"
    default_view = "index"
    limits = [
        Limit(_lookup_limit, lambda: "rental-lookup:" + get_remote_address(),
              methods=["POST"], exempt_when=_endpoint_not_in(_LOOKUP_ENDPOINTS)),
        Limit(_code_limit, lambda: "rental-code-ip:" + get_remote_address(),
              methods=["POST"], exempt_when=_endpoint_not_in(_CODE_ENDPOINTS)),
        Limit(_code_per_uscc_limit, _uscc_key, methods=["POST"],
              exempt_when=_endpoint_not_in(_CODE_ENDPOINTS)),
        Limit(_apply_limit, lambda: "rental-apply:" + get_remote_address(),
              methods=["POST"], exempt_when=_endpoint_not_in(_APPLY_ENDPOINTS)),
    ]

    def _render(self, template, status=200, **kwargs):
        return self.render_template(f"rental/{template}", appbuilder=self.appbuilder,
                                    captcha_enabled=captcha.enabled(), **kwargs), status

    # ----- landing page ------------------------------------------------------------------
    @expose("/")
    def index(self):
        return self._render("public_index.html", active="index")

    # ----- R1 enterprise lookup ----------------------------------------------------------
    @expose("/enterprise", methods=["GET", "POST"])
    def enterprise(self):
        form = EnterpriseLookupForm()
        if request.method == "GET" and request.args.get("q"):
            form.q.data = request.args["q"].strip()[:200]
        return self._lookup(form, lambda: find_filed_enterprises(form.q.data),
                            "public_enterprise.html", "enterprise")

    # ----- R2 vehicle lookup -------------------------------------------------------------
    @expose("/vehicle", methods=["GET", "POST"])
    def vehicle(self):
        form = VehicleLookupForm()
        return self._lookup(form, lambda: find_filed_vehicle(form.plate.data),
                            "public_vehicle.html", "vehicle")

    def _lookup(self, form, find, template, active):
        """R1 / R2: a valid form with the right captcha searches; anything else is 422."""
        results, status = None, 200
        if form.validate_on_submit() and captcha.check_form(form):
            results = find()
        elif request.method == "POST":
            status = 422
        form.captcha.data = ""
        return self._render(template, status, active=active, form=form, results=results)

    # ----- R3 filing application ---------------------------------------------------------
    @expose("/apply", methods=["GET", "POST"])
    def apply(self):
        form = ApplyStartForm()
        blocker, status = None, 200
        if form.validate_on_submit():
            if captcha.check_form(form):
                blocker = uscc_blocker(form.uscc.data, form.name.data)
                if blocker is None:
                    token = _start_serializer().dumps({"name": form.name.data,
                                                       "uscc": form.uscc.data})
                    return redirect(url_for(".apply_form", t=token))
            status = 422
        elif request.method == "POST":
            status = 422
        form.captcha.data = ""
        return self._render("public_apply_start.html", status, active="apply", form=form,
                            blocker=blocker)

    @expose("/apply/form", methods=["GET", "POST"])
    def apply_form(self):
        token = request.form.get("token") if request.method == "POST" else request.args.get("t")
        start = read_start_token(token)
        if start is None:
            flash(gettext("The application form has expired or is invalid. Please start "
                          "again with the enterprise name and code."), "warning")
            return redirect(url_for(".apply"))
        form = PublicFilingForm(token=token)
        blocker, error, status = None, None, 200
        if form.validate_on_submit():
            # Step 1 is checked again: the world may have changed since (or the form is sent
            # twice).
            blocker = uscc_blocker(start["uscc"], start["name"])
            if blocker is None:
                try:
                    reference, code = self._submit(start, form)
                except (AttachmentRejectedError, DomainError) as exc:
                    error = str(exc)
                else:
                    session[_DONE_KEY] = {"reference": reference, "code": code,
                                          "name": start["name"], "uscc": start["uscc"]}
                    return redirect(url_for(".apply_done"))
            status = 422
        elif request.method == "POST":
            status = 422
        return self._render("public_apply_form.html", status, active="apply", form=form,
                            start=start, blocker=blocker, error=error,
                            previous=_previous_case(start["uscc"]))

    @staticmethod
    def _submit(start: dict, form) -> tuple[str, str]:
        payload = filing_payload(form, name=start["name"], uscc=start["uscc"])
        code = engine.new_access_code()
        saved = []
        with unscoped():
            try:
                ent, filing = _enterprise_and_filing(start, payload)
                saved = store_uploads(uploads(form.licence, form.documents), ent.id, None)
                case = engine.create(wf.FILING, enterprise_id=ent.id,
                                     actor=engine.applicant(payload["contact_name"]),
                                     subject_id=filing.id, payload=payload, attachments=saved,
                                     access_code=code)
                reference = case.reference
            except IntegrityError:
                db.session.rollback()
                discard_files(saved)
                raise DomainError(gettext("An application for this enterprise has just been "
                                          "submitted: look up its status.")) from None
            except Exception:
                db.session.rollback()
                discard_files(saved)
                raise
        return reference, code

    @expose("/apply/done")
    def apply_done(self):
        done = session.pop(_DONE_KEY, None)
        if not done:
            return redirect(url_for(".status"))
        return self._render("public_apply_done.html", active="apply", done=done)

    # ----- R4 status lookup and correction -----------------------------------------------
    @expose("/status", methods=["GET", "POST"])
    def status(self):
        form = StatusLookupForm()
        if request.method == "GET" and request.args.get("uscc"):
            form.uscc.data = request.args["uscc"].strip().upper()[:18]
        result, looked_up, status = None, False, 200
        if form.validate_on_submit():
            if captcha.check_form(form):
                looked_up = True
                result = filing_status(form.uscc.data)
            else:
                status = 422
        elif request.method == "POST":
            status = 422
        form.captcha.data = ""
        code_form = AccessCodeForm(formdata=None, uscc=form.uscc.data)
        return self._render("public_status.html", status, active="status", form=form,
                            result=result, looked_up=looked_up, code_form=code_form)

    @expose("/status/code", methods=["POST"])
    def code(self):
        form = AccessCodeForm()
        case, error, status = None, None, 200
        if form.validate_on_submit():
            uscc = form.uscc.data.strip().upper()
            with unscoped():
                case = _latest_filing_case(uscc)
                if case is None or case.state not in CORRECTABLE or not case.access_code_hash:
                    flash(gettext("This application cannot be corrected online now: look up "
                                  "its status."), "warning")
                    return redirect(url_for(".status", uscc=uscc))
                if engine.check_access_code(case, form.access_code.data):
                    session[_GRANT_KEY] = {"case": case.id, "at": int(time.time())}
                    return redirect(url_for(".resubmit"))
            error = gettext("The access code is wrong. It was shown once when the application "
                            "was submitted; check it and try again.")
            status = 403
        else:
            status = 422
        form.access_code.data = ""
        return self._render("public_code.html", status, active="status", form=form,
                            error=error)

    def _granted_case(self) -> Application | None:
        grant = session.get(_GRANT_KEY)
        if not isinstance(grant, dict) or time.time() - grant.get("at", 0) > GRANT_MAX_AGE:
            return None
        with unscoped():
            case = db.session.get(Application, grant.get("case"))
        if case is None or case.kind != wf.FILING or case.state not in CORRECTABLE:
            return None
        return case

    @expose("/status/resubmit", methods=["GET", "POST"])
    def resubmit(self):
        case = self._granted_case()
        if case is None:
            session.pop(_GRANT_KEY, None)
            flash(gettext("Enter the access code of the application first."), "warning")
            return redirect(url_for(".status"))
        payload = dict(case.payload or {})
        if request.method == "POST":
            form = ResubmitFilingForm(region_keep=payload.get("region_code"))
        else:
            form = ResubmitFilingForm(data=form_data_from_payload(payload),
                                      region_keep=payload.get("region_code"))
        error, reasons, status = None, [], 200
        if form.validate_on_submit():
            saved = []
            with unscoped():
                uscc = case.enterprise.uscc
                new_payload = filing_payload(form, uscc=uscc)
                try:
                    saved = store_uploads(uploads(form.licence, form.documents),
                                          case.enterprise_id, None)
                    engine.fire(case, "resubmit",
                                engine.applicant(new_payload["contact_name"]),
                                payload=new_payload, attachments=saved)
                except GuardFailedError as exc:
                    discard_files(saved)
                    reasons = exc.reasons
                except (AttachmentRejectedError, DomainError) as exc:
                    db.session.rollback()
                    discard_files(saved)
                    error = str(exc)
                else:
                    session.pop(_GRANT_KEY, None)
                    session[_RESUBMITTED_KEY] = {"reference": case.reference, "uscc": uscc}
                    return redirect(url_for(".resubmitted"))
            status = 422
        elif request.method == "POST":
            status = 422
        with unscoped():
            info = _case_summary(case)
        return self._render("public_resubmit.html", status, active="status", form=form,
                            case=info, error=error, reasons=reasons,
                            uscc=info["uscc"])

    @expose("/status/resubmitted")
    def resubmitted(self):
        done = session.pop(_RESUBMITTED_KEY, None)
        if not done:
            return redirect(url_for(".status"))
        return self._render("public_resubmitted.html", active="status", done=done)


# ----- queries (public columns only) --------------------------------------------------------
def find_filed_enterprises(query: str) -> list[dict]:
    """R1: filed enterprises (a RentalFiling with a certificate) by USCC or full name."""
    value = " ".join((query or "").split())
    with unscoped():
        q = db.session.query(
            Enterprise.id, Enterprise.name, Enterprise.uscc, Enterprise.legal_representative,
            Enterprise.address, Enterprise.region_code, RentalFiling.id.label("filing_id"),
            RentalFiling.certificate_no, RentalFiling.state, RentalFiling.filed_on,
            RentalFiling.state_since, RentalFiling.time_share,
        ).join(RentalFiling, RentalFiling.enterprise_id == Enterprise.id).filter(
            RentalFiling.certificate_no.isnot(None))
        if looks_like_uscc(value):
            q = q.filter(Enterprise.uscc == value.replace(" ", "").upper())
        else:
            q = q.filter(Enterprise.name.in_(_name_variants(value)))
        rows = q.order_by(Enterprise.name, Enterprise.id).limit(10).all()
        if not rows:
            return []
        filing_ids = [r.filing_id for r in rows]
        premises: dict[int, list] = {fid: [] for fid in filing_ids}
        for p in db.session.query(RentalPremises.filing_id, RentalPremises.address,
                                  RentalPremises.area, RentalPremises.parking_spaces,
                                  RentalPremises.phone).filter(
                RentalPremises.filing_id.in_(filing_ids)).order_by(RentalPremises.id):
            premises[p.filing_id].append({"address": p.address, "area": p.area,
                                          "parking_spaces": p.parking_spaces,
                                          "phone": p.phone})
        vehicles = dict(db.session.query(Vehicle.enterprise_id, func.count(Vehicle.id)).filter(
            Vehicle.enterprise_id.in_([r.id for r in rows]), Vehicle.state == OPERATING
        ).group_by(Vehicle.enterprise_id).all())
        return [{
            "name": r.name, "uscc": r.uscc, "certificate_no": r.certificate_no,
            "state": r.state, "state_label": _label(STATE_LABELS, r.state),
            "filed_on": r.filed_on, "state_since": r.state_since,
            "legal_representative": r.legal_representative or "", "address": r.address or "",
            "region": region_label(r.region_code), "time_share": bool(r.time_share),
            "premises": premises[r.filing_id], "vehicles": vehicles.get(r.id, 0),
        } for r in rows]


def normalise_plate(value: str) -> str:
    return "".join(ch for ch in (value or "").upper() if ch not in " ·•.-_")


def find_filed_vehicle(plate: str) -> list[dict]:
    """R2: the filed vehicle with this plate, with its enterprise's name (VIN masked)."""
    with unscoped():
        rows = db.session.query(
            Vehicle.plate, Vehicle.vin, Vehicle.brand, Vehicle.model, Vehicle.vehicle_type,
            Vehicle.seats, Vehicle.colour, Vehicle.usage, Vehicle.state, Vehicle.state_since,
            Vehicle.certificate_no, Vehicle.filed_on, Enterprise.name.label("enterprise"),
        ).join(Enterprise, Enterprise.id == Vehicle.enterprise_id).filter(
            Vehicle.plate == normalise_plate(plate)).limit(5).all()
    return [{
        "plate": r.plate, "vin": mask_vin(r.vin), "brand": r.brand, "model": r.model,
        "type_label": _label(VEHICLE_TYPES, r.vehicle_type), "seats": r.seats,
        "colour": r.colour or "", "usage_label": _label(VEHICLE_USAGES, r.usage),
        "state": r.state, "state_label": _label(STATE_LABELS, r.state),
        "state_since": r.state_since, "certificate_no": r.certificate_no or "",
        "filed_on": r.filed_on, "enterprise": r.enterprise,
    } for r in rows]


def _case_summary(case: Application) -> dict:
    """Public view of a filing case: no payload (it holds the contact mobile)."""
    workflow = engine.workflow_for(case.kind)
    history = []
    for entry in case.history:
        try:
            label = workflow.transition(entry.name).label
        except DomainError:
            label = entry.name
        history.append({"at": entry.at, "label": str(label), "opinion": entry.opinion,
                        "state": str(engine.CASE_STATE_LABELS.get(entry.to_state,
                                                                  entry.to_state)),
                        "counter": entry.on_behalf})
    return {
        "reference": case.reference, "name": (case.payload or {}).get("name")
        or case.enterprise.name, "uscc": case.enterprise.uscc, "state": case.state,
        "state_label": str(engine.CASE_STATE_LABELS.get(case.state, case.state)),
        "channel": case.channel, "submitted_on": case.submitted_on, "deadline": case.deadline,
        "decided_on": case.decided_on, "overdue": case.overdue,
        "opinion": case.last_opinion if case.state != engine.SUBMITTED else None,
        "correctable": case.state in CORRECTABLE,
        "has_code": bool(case.access_code_hash), "history": history,
    }


def filing_status(uscc: str) -> dict | None:
    """R4: the newest filing case of the enterprise with this USCC (public fields)."""
    with unscoped():
        case = _latest_filing_case(uscc)
        if case is None:
            return None
        info = _case_summary(case)
        if case.state == engine.APPROVED:
            info["certificate_no"] = db.session.query(RentalFiling.certificate_no).filter(
                RentalFiling.enterprise_id == case.enterprise_id).scalar()
    return info


def _previous_case(uscc: str) -> dict | None:
    """An earlier, closed application of this USCC (rejected or withdrawn), for a hint that
    it can be corrected with its access code instead."""
    with unscoped():
        case = _latest_filing_case(uscc)
        if case is None or case.state not in CORRECTABLE:
            return None
        return {"reference": case.reference,
                "state_label": str(engine.CASE_STATE_LABELS[case.state]),
                "has_code": bool(case.access_code_hash)}

