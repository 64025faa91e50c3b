"""Used-car filings (seed 001 §2.3, SPEC U3-U4): the enterprise saves the filing form of one
of its business types; that opens (or, while returned, corrects) a case the local commerce
authority confirms or returns. Confirmation writes the form to UsedCarFiling and, the first
time, opens sales entry, import and reports (`ensure_confirmed`)."""

from __future__ import annotations

import datetime

from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from app.errors import UsedCarNotConfirmedError
from app.extensions import db
from app.models.org import Enterprise
from app.models.usedcar import (
    BUSINESS_TYPES,
    MARKET,
    SECTOR,
    UsedCarFiling,
    UsedCarProfile,
)
from app.models.workflow import Application
from app.workflows.calendar import WorkingDays
from app.workflows.engine import ENTERPRISE, OPEN_STATES, Workflow, register, review_transitions

FILING = "usedcar_filing"

# The filing form (payload keys) in the seed's order, with the labels the case page shows.
FILING_LABELS = {
    "business_type": _l("Business type"),
    "foreign_trade_code": _l("Import/export enterprise code (foreign-invested)"),
    "share_cn": _l("Chinese share (%)"),
    "share_foreign": _l("Foreign share (%)"),
    "legal_representative": _l("Legal representative"),
    "registered_capital": _l("Registered capital (10k CNY)"),
    "founded_on": _l("Founding date"),
    "floor_area": _l("Business floor area (m²)"),
    "operating_from": _l("Operating period from"),
    "operating_to": _l("Operating period to"),
    "branch_count": _l("Number of branches"),
    "merchant_count": _l("Resident merchants"),
    "management_staff": _l("Market management and service staff"),
    "professional_staff": _l("Professional staff"),
    "domicile_region": _l("Domicile (district)"),
    "domicile_street": _l("Domicile street and number"),
    "scope": _l("Business scope"),
    "business_region": _l("Business address (district)"),
    "business_street": _l("Business address street and number"),
    "filer_name": _l("Filer"),
    "filer_mobile": _l("Filer's mobile"),
    "filer_email": _l("Filer's e-mail"),
    "branches": _l("Branches"),
}
# Fields only a used-car market fills in, and only the others (seed 2.3.1 vs 2.3.2-2.3.5).
MARKET_ONLY = ("merchant_count", "management_staff")
NOT_MARKET = ("professional_staff",)


def fields_for(business_type: str) -> list[str]:
    skip = NOT_MARKET if business_type == MARKET else MARKET_ONLY
    return [k for k in FILING_LABELS if k not in skip]


def _region_name(code) -> str:
    from app.models.org import Region

    region = db.session.get(Region, code) if code else None
    return region.name if region else (code or "")


def _branches_text(branches) -> str:
    return "；".join(f"{b.get('name', '')}（{b.get('licence_no', '')}）{b.get('address', '')}"
                    for b in branches or [])


CHOICES = {
    "business_type": BUSINESS_TYPES,
    "domicile_region": _region_name,
    "business_region": _region_name,
    "branches": _branches_text,
}


def profile(enterprise_id: int) -> UsedCarProfile | None:
    return db.session.query(UsedCarProfile).filter_by(enterprise_id=enterprise_id).first()


def ensure_confirmed(enterprise_id: int | None) -> UsedCarProfile:
    """U4: sales entry, import and reports wait for the authority's confirmation."""
    found = profile(enterprise_id) if enterprise_id else None
    if found is None:
        raise UsedCarNotConfirmedError(gettext(
            "Only a registered used-car enterprise can do this."))
    if not found.confirmed:
        raise UsedCarNotConfirmedError(gettext(
            "Your used-car filing has not been confirmed by the local commerce authority "
            "yet: sales records, imports and reports open once a filing is confirmed."))
    return found


def open_filing_case(enterprise_id: int, business_type: str) -> Application | None:
    return (db.session.query(Application)
            .filter(Application.enterprise_id == enterprise_id, Application.kind == FILING,
                    Application.state.in_(OPEN_STATES),
                    _payload_business_type() == business_type)
            .order_by(Application.id.desc()).first())


def _payload_business_type():
    if db.engine.dialect.name == "postgresql":
        return Application.payload["business_type"].as_string()
    from sqlalchemy import func

    return func.json_extract(Application.payload, "$.business_type")


# ----- guards -------------------------------------------------------------------------------
def registered_business_type(case, actor, ctx):
    business_type = ctx["payload"].get("business_type")
    found = profile(case.enterprise_id)
    if found is None or business_type not in found.business_type_codes:
        return False, gettext("This enterprise did not register the business type “%(t)s”.",
                              t=BUSINESS_TYPES.get(business_type, business_type or "-"))
    return True, None


def one_open_case_per_type(case, actor, ctx):
    other = open_filing_case(case.enterprise_id, ctx["payload"].get("business_type"))
    if other is not None and other.id != case.id:
        return False, gettext("Case %(ref)s for this business type is still open: correct "
                              "it or withdraw it first.", ref=other.reference)
    return True, None


# ----- effect -------------------------------------------------------------------------------
def apply_filing(case, actor, ctx):
    """Confirmation: the form becomes the filing of that business type."""
    payload = dict(case.payload)
    now = datetime.datetime.now()
    filing = (db.session.query(UsedCarFiling)
              .filter_by(enterprise_id=case.enterprise_id,
                         business_type=payload["business_type"]).first())
    if filing is None:
        filing = UsedCarFiling(enterprise_id=case.enterprise_id,
                               business_type=payload["business_type"])
        db.session.add(filing)
    filing.data = payload
    filing.confirmed_on = now
    # The confirmed domicile is the enterprise's (a move is reviewed, never self-service).
    enterprise = filing.enterprise or db.session.get(Enterprise, case.enterprise_id)
    if payload.get("domicile_region"):
        enterprise.region_code = payload["domicile_region"]
        enterprise.address = payload.get("domicile_street") or enterprise.address
    db.session.flush()
    case.subject_id = filing.id
    found = profile(case.enterprise_id)
    if found.confirmed_on is None:
        found.confirmed_on = now


def _title(payload: dict) -> str:
    label = BUSINESS_TYPES.get(payload.get("business_type"))
    return gettext("Used-car filing: %(type)s", type=label) if label else ""


register(Workflow(
    FILING, _l("Used-car enterprise filing"),
    review_transitions(submit_roles={ENTERPRISE},
                       guards=[registered_business_type, one_open_case_per_type],
                       effects=[apply_filing], approve_label=_l("Confirm"), can_reject=False),
    time_limit=WorkingDays(5), title=_title, fields=FILING_LABELS, choices=CHOICES,
    sector=SECTOR, subject_endpoint="UsedCarFilingView.show"))
