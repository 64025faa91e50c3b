"""Rental certificates (SPEC R5, R8, X13): the enterprise filing certificate
(小微型客车租赁经营备案证明) and the vehicle filing certificate, as PDFs with a verification
QR code, and their verification kinds "rental_filing" and "vehicle".

Views load the row through the scoped session (a foreign id is a 404 before this is called),
then:

    data = enterprise_certificate_pdf(filing)
    return pdf_response(data, certificate_filename(filing))

`register_documents()` is called once from register_views().
"""

from __future__ import annotations

import datetime

from flask_babel import format_date, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.errors import DomainError
from app.extensions import db
from app.models.base import unscoped
from app.models.rental import (
    APPLYING,
    OPERATING,
    SCRAPPED,
    SUSPENDED,
    TERMINATED,
    RentalFiling,
    Vehicle,
)
from app.services import verification as v
from app.services.pdf import render_pdf

KIND_FILING = "rental_filing"
KIND_VEHICLE = "vehicle"

FILING_TITLE = _l("Small and Micro Passenger Car Rental Business Filing Certificate")
VEHICLE_TITLE = _l("Rental Vehicle Filing Certificate")
RENTAL_SECTOR = "rental"

_LIVE_STATUS = {
    OPERATING: v.VALID,
    SUSPENDED: v.SUSPENDED,
    TERMINATED: v.TERMINATED,
    SCRAPPED: v.SCRAPPED,
    APPLYING: v.NOT_ISSUED,
}


class CertificateNotIssuedError(DomainError):
    """A filing or vehicle without a certificate number (still applying)."""


def _date(value) -> str:
    return format_date(value, "long") if value else ""


def issuing_authority(enterprise_id: int, sector: str = RENTAL_SECTOR) -> str | None:
    """The name of the authority that issues the enterprise's certificates in `sector`: the
    authority (holding that sector) of the last reviewer who approved one of the
    enterprise's cases; else the one reviewing authority of the sector (one with a user who
    may review cases, not an audit office) whose region covers the enterprise most closely,
    when there is exactly one. None when it cannot be told."""
    from app.models.identity import AppUser
    from app.models.org import Authority, Enterprise, Sector
    from app.models.workflow import Application, TransitionLog

    with unscoped():  # the reviewer and the authority are outside an enterprise's scope
        sector_authorities = (select(Authority.id).join(Authority.sectors)
                              .where(Sector.code == sector))
        name = db.session.execute(
            select(Authority.name)
            .select_from(TransitionLog)
            .join(Application, Application.id == TransitionLog.application_id)
            .join(AppUser, AppUser.id == TransitionLog.actor_id)
            .join(Authority, Authority.id == AppUser.authority_id)
            .where(Application.enterprise_id == enterprise_id,
                   TransitionLog.to_state == "approved",
                   Authority.id.in_(sector_authorities))
            .order_by(TransitionLog.at.desc(), TransitionLog.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        if name:
            return name
        region = db.session.execute(
            select(Enterprise.region_code).where(Enterprise.id == enterprise_id)
        ).scalar_one_or_none()
        if not region:
            return None
        from flask_appbuilder.security.sqla.models import Role, assoc_user_role

        from app.security import ROLE_REGULATOR

        reviewing = (select(AppUser.authority_id)
                     .join(assoc_user_role, assoc_user_role.c.user_id == AppUser.id)
                     .join(Role, Role.id == assoc_user_role.c.role_id)
                     .where(Role.name == ROLE_REGULATOR, AppUser.authority_id.isnot(None)))
        candidates = db.session.execute(
            select(Authority.name, Authority.region_prefix)
            .where(Authority.id.in_(sector_authorities), Authority.id.in_(reviewing))
        ).all()
    covering = [(len(prefix or ""), name) for name, prefix in candidates
                if region.startswith(prefix or "")]
    if not covering:
        return None
    best = max(length for length, _ in covering)
    names = [name for length, name in covering if length == best]
    return names[0] if len(names) == 1 else None


def _verification_context(kind: str, obj_id: int, marker: str) -> dict:
    url = v.verify_url(v.token_for(kind, obj_id, marker))
    return {"verify_url": url, "qr": v.qr_data_uri(url),
            "printed_on": _date(datetime.date.today())}


def certificate_filename(obj) -> str:
    """`GDZL2026000001.pdf`, `GDZLC20260000001.pdf`."""
    return f"{obj.certificate_no}.pdf"


def enterprise_certificate_pdf(filing: RentalFiling, *, issuer: str | None = None) -> bytes:
    """The enterprise's filing certificate. `issuer` defaults to issuing_authority()."""
    if not filing.certificate_no or filing.state == APPLYING:
        raise CertificateNotIssuedError(gettext("No filing certificate has been issued yet."))
    enterprise = filing.enterprise
    if issuer is None:
        issuer = issuing_authority(filing.enterprise_id)
    return render_pdf(
        "pdf/rental_filing_certificate.html", filing=filing, enterprise=enterprise,
        issuer=issuer, filed_on=_date(filing.filed_on),
        **_verification_context(KIND_FILING, filing.id, filing.certificate_no))


def vehicle_certificate_pdf(vehicle: Vehicle, *, issuer: str | None = None) -> bytes:
    """The vehicle's filing certificate."""
    if not vehicle.certificate_no:
        raise CertificateNotIssuedError(
            gettext("No filing certificate has been issued for this vehicle yet."))
    filing = db.session.execute(
        select(RentalFiling).where(RentalFiling.enterprise_id == vehicle.enterprise_id)
    ).scalar_one_or_none()
    if issuer is None:
        issuer = issuing_authority(vehicle.enterprise_id)
    return render_pdf(
        "pdf/vehicle_certificate.html", vehicle=vehicle, enterprise=vehicle.enterprise,
        filing=filing, issuer=issuer, filed_on=_date(vehicle.filed_on),
        registered_on=_date(vehicle.registered_on),
        **_verification_context(KIND_VEHICLE, vehicle.id, vehicle.certificate_no))


# ----- verification resolvers (run unscoped, by id only) ---------------------------------
def _status(state: str, marker: str, live_number: str | None) -> tuple[str, str | None]:
    if marker and marker != (live_number or ""):
        note = (gettext("This paper is no longer current: certificate %(number)s has been "
                        "issued in its place.", number=live_number) if live_number
                else gettext("This paper is no longer current."))
        return v.SUPERSEDED, note
    return _LIVE_STATUS.get(state, state), None


def resolve_filing(obj_id: int, marker: str) -> v.VerifiedDocument | None:
    filing = db.session.get(RentalFiling, obj_id)
    if filing is None:
        return None
    ent = filing.enterprise
    status, note = _status(filing.state, marker, filing.certificate_no)
    fields = [
        (gettext("Enterprise name"), ent.name),
        (gettext("Unified social credit code"), ent.uscc),
        (gettext("Legal representative"), ent.legal_representative or ""),
        (gettext("Registered address"), ent.address or ""),
        (gettext("Time-share rental"), gettext("Yes") if filing.time_share else gettext("No")),
        (gettext("Filing date"), _date(filing.filed_on)),
    ]
    issuer = issuing_authority(filing.enterprise_id)
    if issuer:
        fields.append((gettext("Filing authority"), issuer))
    premises = [p.address for p in filing.premises]
    return v.VerifiedDocument(
        title=str(FILING_TITLE), number=marker or filing.certificate_no or "", status=status,
        fields=fields, note=note,
        lists=[(gettext("Business premises"), premises)] if premises else [])


def resolve_vehicle(obj_id: int, marker: str) -> v.VerifiedDocument | None:
    vehicle = db.session.get(Vehicle, obj_id)
    if vehicle is None:
        return None
    status, note = _status(vehicle.state, marker, vehicle.certificate_no)
    filing = db.session.execute(
        select(RentalFiling).where(RentalFiling.enterprise_id == vehicle.enterprise_id)
    ).scalar_one_or_none()
    fields = [
        (gettext("Plate number"), vehicle.plate),
        (gettext("VIN"), v.mask_middle(vehicle.vin, 3, 6)),
        (gettext("Brand and model"), f"{vehicle.brand} {vehicle.model}"),
        (gettext("Vehicle type"), vehicle.type_label),
        (gettext("Usage"), vehicle.usage_label),
        (gettext("Rental enterprise"), vehicle.enterprise.name),
        (gettext("Filing date"), _date(vehicle.filed_on)),
    ]
    if filing is not None:
        fields.append((gettext("Enterprise filing status"), filing.state_label))
    return v.VerifiedDocument(
        title=str(VEHICLE_TITLE), number=marker or vehicle.certificate_no or "",
        status=status, fields=fields, note=note)


def register_documents() -> None:
    v.register_document(KIND_FILING, resolve_filing)
    v.register_document(KIND_VEHICLE, resolve_vehicle)
