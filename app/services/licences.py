"""Power licences as linked versions (SPEC P7-P11, P16; DESIGN.md "Data-driven forms and
versions"): approval of a licence matter writes a new `Licence` version linked to the
previous one, with the same number; the certificate PDF is issued per version with a QR code
whose verification page says when the paper was superseded and links the current version.

`apply_request(request, case)` is the effect of every approved licence case (in the engine's
transaction); `close_request` / `reopen_request` run when a case ends without approval."""

from __future__ import annotations

import datetime

from flask_babel import format_date, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, update

from app.errors import DomainError
from app.extensions import db
from app.models.content import Announcement
from app.models.licence import (
    CANCELLATION,
    CANCELLED,
    CLOSED,
    CURRENT,
    DRAFT,
    ITEM_CHANGE,
    LICENCE_YEARS,
    NEW,
    REGISTRATION_CHANGE,
    RENEWAL,
    REPLACEMENT,
    ROUTE_FTZ,
    SECTOR,
    SUPERSEDED,
    Licence,
    LicenceRequest,
    categories_text,
    registration_change_allowed,
)
from app.models.org import Enterprise, Sector
from app.models.staff import ACTIVE, PROPOSED, PowerStaff
from app.services import numbering
from app.services import verification as v
from app.services.pdf import render_pdf

DOCUMENT_KIND = "power_licence"
CERTIFICATE_TITLE = _l("Licence for Installing, Repairing and Testing Power Facilities")

# Registration items a registration-item change may change (P7), with their labels.
REGISTRATION_ITEMS = {
    "name": _l("Enterprise name"),
    "legal_representative": _l("Legal representative"),
    "address": _l("Address (business licence)"),
}


class LicenceNotFoundError(DomainError):
    code = 404


def add_years(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def current_licence(enterprise_id: int) -> Licence | None:
    """The enterprise's licence in force (its current version), if any."""
    return db.session.execute(
        select(Licence).where(Licence.enterprise_id == enterprise_id,
                              Licence.status == CURRENT)
        .order_by(Licence.id.desc())).scalars().first()


def current_version_for(request: LicenceRequest) -> Licence | None:
    """The version in force of the licence a request is about. A draft started before
    another matter was approved names the older version; it follows the licence (same
    number), so it is checked, shown and applied against what is in force now."""
    licence = request.licence
    if licence is None:
        return None
    if licence.status == CURRENT:
        return licence
    found = db.session.execute(
        select(Licence).where(Licence.number == licence.number, Licence.status == CURRENT)
    ).scalar_one_or_none()
    if found is not None:
        request.licence = found
    return found


def versions(number: str) -> list[Licence]:
    return list(db.session.execute(
        select(Licence).where(Licence.number == number).order_by(Licence.version.desc())
    ).scalars())


def latest_version(number: str) -> Licence | None:
    return db.session.execute(
        select(Licence).where(Licence.number == number).order_by(Licence.version.desc())
        .limit(1)).scalar_one_or_none()


# ----- effects -------------------------------------------------------------------------------
def apply_request(request: LicenceRequest, case, today: datetime.date | None = None) -> Licence:
    """The approved matter takes effect: registration items, licence version, staff."""
    today = today or datetime.date.today()
    enterprise = db.session.get(Enterprise, request.enterprise_id)
    details = request.details or {}
    if request.matter == NEW:
        licence = Licence(
            enterprise_id=enterprise.id, version=1, status=CURRENT,
            number=numbering.next_number(db.session, DOCUMENT_KIND, today.year),
            categories=dict(request.categories), issued_on=today,
            expires_on=add_years(today, LICENCE_YEARS) - datetime.timedelta(days=1),
            matter=NEW, case_id=case.id, **_holder(enterprise))
        db.session.add(licence)
    else:
        previous = current_version_for(request)
        if previous is None:
            raise LicenceNotFoundError(gettext(
                "The licence this application is about is no longer in force."))
        if request.matter == REGISTRATION_CHANGE:
            _apply_registration_changes(enterprise, details.get("changes") or {})
        licence = _next_version(previous, request.matter, case, today, enterprise)
        if request.matter in (ITEM_CHANGE, RENEWAL):
            licence.categories = dict(request.categories)
        if request.matter == RENEWAL:
            licence.expires_on = add_years(previous.expires_on, LICENCE_YEARS)
        if request.matter == CANCELLATION:
            licence.status = CANCELLED
        if request.matter == REPLACEMENT and request.route == ROUTE_FTZ:
            _publish_replacement_notice(licence, details.get("reason"), today)
    db.session.flush()
    # Staff proposed by the request join the roster.
    db.session.execute(
        update(PowerStaff).where(PowerStaff.request_id == request.id,
                                 PowerStaff.status == PROPOSED)
        .values(status=ACTIVE, joined_on=today).execution_options(synchronize_session=False))
    request.state = CLOSED
    request.licence_id = licence.id
    return licence


def _holder(enterprise) -> dict:
    return {"holder_name": enterprise.name, "uscc": enterprise.uscc,
            "legal_representative": enterprise.legal_representative,
            "address": enterprise.address}


def _next_version(previous: Licence, matter: str, case, today, enterprise) -> Licence:
    previous.status = SUPERSEDED
    previous.superseded_on = datetime.datetime.now()
    licence = Licence(
        enterprise_id=previous.enterprise_id, number=previous.number,
        version=previous.version + 1, previous_id=previous.id, status=CURRENT,
        categories=dict(previous.categories), issued_on=today,
        expires_on=previous.expires_on, matter=matter, case_id=case.id,
        **_holder(enterprise))
    db.session.add(licence)
    return licence


def _apply_registration_changes(enterprise, changes: dict) -> None:
    # The one path that may change these locked fields (app/models/licence.py).
    with registration_change_allowed(enterprise.id):
        for key, value in changes.items():
            if key in REGISTRATION_ITEMS and value:
                setattr(enterprise, key, value)


def _publish_replacement_notice(licence: Licence, reason: str | None, today) -> None:
    """FTZ reissue: the authority publishes the loss / damage notice on the portal instead
    of the applicant's newspaper notice."""
    sector = db.session.execute(select(Sector).where(Sector.code == SECTOR)).scalar_one_or_none()
    what = gettext("lost") if reason == "lost" else gettext("damaged")
    db.session.add(Announcement(
        title=gettext("Notice: power-facility licence %(number)s declared %(what)s",
                      number=licence.number, what=what)[:200],
        body=gettext("The licence %(number)s of %(holder)s (%(categories)s) has been declared "
                     "%(what)s; the paper of the earlier issue is void. A replacement was "
                     "issued on %(date)s.", number=licence.number, holder=licence.holder_name,
                     categories=licence.categories_text, what=what, date=today.isoformat()),
        category="notice", sector_id=sector.id if sector else None, published_on=today,
        publisher_name=_issuer(licence.enterprise_id)))


def _issuer(enterprise_id: int) -> str | None:
    from app.services.certificates import issuing_authority

    return issuing_authority(enterprise_id, SECTOR)


def close_request(request: LicenceRequest) -> None:
    """The case ended without approval: the request is closed (history kept) and the staff it
    proposed leave the roster they never joined (their ID numbers are free again)."""
    request.state = CLOSED
    db.session.execute(delete(PowerStaff).where(PowerStaff.request_id == request.id,
                                                PowerStaff.status == PROPOSED)
                       .execution_options(synchronize_session=False))


def last_approved_request(enterprise_id: int) -> LicenceRequest | None:
    """The latest approved request with full sections (new licence, item change, renewal)."""
    from app.models.licence import FULL_MATTERS

    return db.session.execute(
        select(LicenceRequest).join(Licence, Licence.id == LicenceRequest.licence_id)
        .where(LicenceRequest.enterprise_id == enterprise_id, LicenceRequest.state == CLOSED,
               LicenceRequest.matter.in_(FULL_MATTERS), Licence.case_id.isnot(None),
               Licence.case_id == LicenceRequest.case_id)
        .order_by(LicenceRequest.id.desc()).limit(1)).scalar_one_or_none()


def prefill_sections(request: LicenceRequest) -> bool:
    """A licence-item change or renewal starts from the sections of the last approved
    application (seed §4.3: 同新申请, the basic information taken from it): equity, the
    leads with their history, the project records. Materials are uploaded afresh."""
    from app.models.licence import EquityHolder, KeyPerson, KeyPersonRecord, ProjectRecord

    source = last_approved_request(request.enterprise_id)
    if source is None:
        return False
    ent = request.enterprise_id
    for row in source.equity:
        request.equity.append(EquityHolder(enterprise_id=ent, name=row.name, kind=row.kind,
                                           amount=row.amount, share=row.share))
    for person in source.key_persons:
        copy = KeyPerson(enterprise_id=ent, role=person.role, name=person.name,
                         id_number=person.id_number, title=person.title,
                         specialty=person.specialty, years=person.years, mobile=person.mobile)
        copy.records = [KeyPersonRecord(
            enterprise_id=ent, kind=r.kind, start_on=r.start_on, end_on=r.end_on,
            organisation=r.organisation, detail=r.detail, certifier=r.certifier,
            certifier_mobile=r.certifier_mobile) for r in person.records]
        request.key_persons.append(copy)
    for row in source.projects:
        request.projects.append(ProjectRecord(
            enterprise_id=ent, name=row.name, category=row.category, voltage_kv=row.voltage_kv,
            client=row.client, amount=row.amount, started_on=row.started_on,
            completed_on=row.completed_on))
    return True


def abandon_request(request: LicenceRequest) -> None:
    """申请废弃: a draft is dropped (kept as "abandoned" in the list); the staff it proposed
    are released."""
    from app.models.licence import ABANDONED

    request.state = ABANDONED
    db.session.execute(delete(PowerStaff).where(PowerStaff.request_id == request.id,
                                                PowerStaff.status == PROPOSED)
                       .execution_options(synchronize_session=False))


def reopen_request(request: LicenceRequest) -> None:
    """Withdrawn before acceptance: back to a draft the enterprise may edit and submit."""
    request.state = DRAFT
    request.case_id = None


# ----- certificate and verification ------------------------------------------------------
def certificate_pdf(licence: Licence) -> bytes:
    token = v.token_for(DOCUMENT_KIND, licence.id, licence.version)
    url = v.verify_url(token)
    return render_pdf(
        "pdf/power_licence.html", licence=licence, title=str(CERTIFICATE_TITLE),
        categories=_category_lines(licence.categories), verify_url=url,
        qr=v.qr_data_uri(url), authority=_issuer(licence.enterprise_id) or "",
        issued=format_date(licence.issued_on, "long"),
        expires=format_date(licence.expires_on, "long"),
        printed_on=format_date(datetime.date.today(), "long"))


def _category_lines(categories: dict) -> list[str]:
    return [part for part in categories_text(categories).split("、") if part]


def certificate_filename(licence: Licence) -> str:
    return f"licence-{licence.number}-v{licence.version}.pdf"


def resolve(obj_id: int, marker: str):
    licence = db.session.get(Licence, obj_id)
    if licence is None:
        return None
    status = {CURRENT: v.VALID, SUPERSEDED: v.SUPERSEDED, CANCELLED: v.REVOKED}.get(
        licence.status, v.NOT_ISSUED)
    if licence.status == CURRENT and licence.expires_on < datetime.date.today():
        status = v.EXPIRED
    note = link = None
    if licence.status == SUPERSEDED:
        latest = latest_version(licence.number)
        note = gettext("This certificate (version %(old)s) has been superseded by version "
                       "%(new)s issued on %(date)s.", old=licence.version,
                       new=latest.version, date=latest.issued_on.isoformat())
        link = (gettext("Verify the current version"),
                v.verify_url(v.token_for(DOCUMENT_KIND, latest.id, latest.version)))
    elif licence.status == CANCELLED:
        note = gettext("The licence was cancelled on %(date)s.",
                       date=licence.issued_on.isoformat())
    return v.VerifiedDocument(
        title=str(CERTIFICATE_TITLE), number=f"{licence.number}", status=status,
        fields=[(gettext("Holder"), licence.holder_name),
                (gettext("Unified social credit code"), licence.uscc or ""),
                (gettext("Legal representative"), licence.legal_representative or ""),
                (gettext("Licensed categories and levels"), licence.categories_text),
                (gettext("Version"), str(licence.version)),
                (gettext("Issued on"), licence.issued_on.isoformat()),
                (gettext("Valid until"), licence.expires_on.isoformat())],
        note=note, link=link)


def register_documents() -> None:
    v.register_document(DOCUMENT_KIND, resolve)
