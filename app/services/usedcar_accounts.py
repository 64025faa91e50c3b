"""Used-car enterprises' accounts (seed 001 §2.1, SPEC U1-U2): self-registration, the second
login name (the business licence number), the registration profile the enterprise admin
keeps up to date, and the rule that name, USCC and enterprise type never change.

Forms check formats (check digits, mobile numbers); the rules that need the database
(duplicates, business types with a filing) are here, so every path meets them."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError

from app.errors import DomainError
from app.extensions import db
from app.models.base import unscoped
from app.models.identity import AppUser
from app.models.org import Enterprise
from app.models.usedcar import (  # noqa: F401  (immutable_message: the views' message)
    BUSINESS_TYPES,
    SECTOR,
    UsedCarFiling,
    UsedCarProfile,
    has_usedcar_profile,
    immutable_message,
)
from app.services import audit
from app.services.enterprise_accounts import (  # noqa: F401  (the errors: this module's API)
    RegistrationConflictError,
    RegistrationError,
    open_admin_account,
    register_enterprise,
    sector,
    uscc_taken,
    user_name_taken,
    username_for_code,
)
from app.services.passwords import password_problems


class BusinessTypeInUseError(DomainError):
    """A business type removed from the profile while it has a confirmed or open filing."""

    code = 409


@dataclass
class Registration:
    """What the registration form gives (formats already checked)."""

    name: str
    region_code: str
    address: str
    uscc: str | None  # None: the enterprise has none (old three-certificate system)
    licence_no: str | None
    org_code: str | None
    tax_no: str | None
    password: str
    enterprise_type: str
    business_types: list[str] = field(default_factory=list)
    filer_name: str = ""
    filer_mobile: str = ""

    @property
    def username(self) -> str:
        """The account's user name: the USCC, or the business licence number without one."""
        return self.uscc or self.licence_no or ""


def _check_business_types(codes) -> None:
    if not codes or set(codes) - set(BUSINESS_TYPES):
        raise RegistrationError({"business_types": gettext(
            "Choose at least one used-car business type.")})


def business_types_value(codes) -> str:
    """The stored comma list, in BUSINESS_TYPES order, without unknown codes."""
    chosen = set(codes or ())
    return ",".join(code for code in BUSINESS_TYPES if code in chosen)


def registration_conflicts(reg: Registration) -> dict[str, str]:
    """Form field -> message for each code already on the platform (any case)."""
    errors = {}
    with unscoped():
        if reg.uscc and uscc_taken(reg.uscc):
            errors["uscc"] = gettext(
                "An enterprise with this unified social credit code is already registered. "
                "Sign in with its account, or ask the local commerce authority for help.")
        if reg.licence_no and (
                db.session.query(UsedCarProfile.id).filter(
                    func.upper(UsedCarProfile.licence_no) == reg.licence_no.upper()).first()
                is not None or user_name_taken(reg.licence_no)):
            errors["licence_no"] = gettext(
                "An enterprise with this business licence number is already registered. "
                "Sign in with its account, or ask the local commerce authority for help.")
    return errors


def register(reg: Registration) -> AppUser:
    """U1, in one transaction: the Enterprise (sector used cars, in the region of its
    domicile, so the local commerce authority of that region supervises it), its
    UsedCarProfile and its Enterprise Admin account (user name = USCC or licence number, the
    password the registrant chose: no forced change). Refuses duplicates."""
    problems = password_problems(reg.password, reg.username)
    if problems:
        raise RegistrationError({"password": " ".join(problems)})
    _check_business_types(reg.business_types)
    errors = registration_conflicts(reg)
    if errors:
        raise RegistrationConflictError(errors)
    ent = Enterprise(name=reg.name, uscc=reg.uscc or None, region_code=reg.region_code,
                     address=reg.address, status="active", contact_name=reg.filer_name,
                     contact_mobile=reg.filer_mobile, sectors=[sector(SECTOR)])
    return register_enterprise(
        ent, lambda enterprise_id: UsedCarProfile(
            enterprise_id=enterprise_id, has_uscc=bool(reg.uscc),
            licence_no=reg.licence_no or None, org_code=reg.org_code or None,
            tax_no=reg.tax_no or None, enterprise_type=reg.enterprise_type,
            business_types=business_types_value(reg.business_types)),
        reg.username, reg.password, contact_name=reg.filer_name, mobile=reg.filer_mobile,
        detail=gettext("Used-car enterprise self-registration"),
        conflicts=lambda: registration_conflicts(reg))


# ----- U2: the business licence number as a second login name -------------------------------
# AppSecurityManager.login_name -> enterprise_accounts.username_for_code (used-car enterprises
# by USCC or business licence number, power enterprises by USCC).
username_for_licence = username_for_code


# ----- U1: name, USCC and enterprise type never change --------------------------------------
def is_usedcar_enterprise(enterprise_id: int | None) -> bool:
    """Registered through U1 (it has a used-car profile)."""
    if enterprise_id is None:
        return False
    with unscoped(), db.session.no_autoflush:
        return has_usedcar_profile(db.session, enterprise_id)


# ----- the enterprise admin's profile page --------------------------------------------------
PROFILE_FIELDS = ("region_code", "address", "licence_no", "org_code", "tax_no",
                  "business_types", "filer_name", "filer_mobile")


def profile_conflicts(profile: UsedCarProfile, licence_no: str | None) -> dict[str, str]:
    if not licence_no or licence_no == profile.licence_no:
        return {}
    with unscoped():
        taken = db.session.query(UsedCarProfile.id).filter(
            func.upper(UsedCarProfile.licence_no) == licence_no.upper(),
            UsedCarProfile.id != profile.id).first() is not None
    if taken or user_name_taken(licence_no):
        return {"licence_no": gettext(
            "An enterprise with this business licence number is already registered.")}
    return {}


def business_types_in_use(profile: UsedCarProfile, removed) -> list[str]:
    """Messages for the removed business types that have a confirmed filing or an open
    filing case (the filing would lose its type)."""
    from app.workflows.usedcar import open_filing_case

    messages = []
    for code in removed:
        label = BUSINESS_TYPES.get(code, code)
        confirmed = db.session.query(UsedCarFiling.id).filter_by(
            enterprise_id=profile.enterprise_id, business_type=code).first()
        if confirmed is not None:
            messages.append(gettext("“%(type)s” has a confirmed filing and cannot be removed.",
                                    type=label))
        elif open_filing_case(profile.enterprise_id, code) is not None:
            messages.append(gettext("“%(type)s” has a filing in progress; withdraw it before "
                                    "removing the business type.", type=label))
    return messages


def update_profile(profile: UsedCarProfile, data: dict) -> bool:
    """Apply the profile form (keys of PROFILE_FIELDS; formats checked), audit, commit.
    Name, USCC and enterprise type are not among the keys: they never change. A registration
    without USCC keeps its licence number (it is the user name). Returns whether anything
    changed."""
    ent = profile.enterprise
    if not profile.has_uscc:
        data = {**data, "licence_no": profile.licence_no}
    errors = profile_conflicts(profile, data.get("licence_no"))
    if errors:
        raise RegistrationConflictError(errors)
    _check_business_types(data["business_types"])
    removed = set(profile.business_type_codes) - set(data["business_types"])
    refused = business_types_in_use(profile, removed)
    if refused:
        raise BusinessTypeInUseError(" ".join(refused))
    if profile.confirmed and data["region_code"] != ent.region_code:
        # The district decides the supervising authority: after confirmation a move is a
        # filing change the authority confirms (app/workflows/usedcar.apply_filing).
        raise RegistrationConflictError({"region_code": gettext(
            "Your filing is confirmed: change the domicile in the filing form, it takes "
            "effect when the local commerce authority confirms it.")})
    ent.region_code = data["region_code"]
    ent.address = data["address"]
    ent.contact_name = data["filer_name"]
    ent.contact_mobile = data["filer_mobile"]
    profile.licence_no = data.get("licence_no") or None
    profile.org_code = data.get("org_code") or None
    profile.tax_no = data.get("tax_no") or None
    profile.business_types = business_types_value(data["business_types"])
    changed = db.session.is_modified(ent) or db.session.is_modified(profile)
    if changed:
        audit.record(db.session, "usedcar_profile", target=ent,
                     detail=gettext("Used-car registration profile updated"))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise RegistrationConflictError({"licence_no": gettext(
            "An enterprise with this business licence number is already registered.")}) \
            from None
    return changed
