"""Power enterprises' accounts (seed 002 §3, SPEC P1-P2): self-registration, the parent
enterprise (上级企业) lookup, and "my information" that the enterprise admin keeps up to date.

- `register(reg)`: in one transaction the Enterprise (sector power, in the district of its
  business-licence address, so the power regulator of that region supervises it), its
  PowerProfile and its Enterprise Admin account, whose user name is the USCC
  (AppSecurityManager.login_name also maps the USCC of an enterprise registered before
  self-registration existed, like the demo's ent.p, to its first enterprise admin).
- `search_parents(text, page)`: names only (never USCC, contacts or addresses) of the active
  power enterprises containing `text`, 10 a page, in name order. `LIKE '%text%'` cannot use
  a b-tree index, so it is a scan, kept to the power enterprises: the sector's index
  (ix_enterprise_sector_sector_id) yields their ids, each row is read by primary key,
  filtered by the name and sorted (SQLite's plan; no count, one page + 1 row fetched). The
  cost grows with the number of power enterprises (thousands), not with every enterprise
  of the platform; it is bounded by PARENT_QUERY_MAX characters, PARENT_PAGE_SIZE rows,
  PARENT_MAX_PAGE pages and the public rate limit. A PostgreSQL deployment with very many
  enterprises would add a pg_trgm GIN index on enterprise.name to serve it.
- `update_profile(profile, data)`: the fields P2 may change. Enterprise type, name, legal
  representative and business-licence address are locked (app/models/licence.py): they
  change only through an approved registration-item change (P7).

Forms check formats (app/views/power_register.py); the rules that need the database
(duplicates, a parent that exists and is not the enterprise itself) are here, so every path
(form, API, another caller) meets them."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from flask_babel import gettext
from sqlalchemy import select

from app.extensions import db
from app.models.base import unscoped
from app.models.identity import AppUser
from app.models.licence import ENTERPRISE_TYPES, SECTOR, PowerProfile
from app.models.org import Enterprise, Sector, enterprise_sector
from app.services import audit
from app.services.enterprise_accounts import (
    RegistrationConflictError,
    RegistrationError,
    register_enterprise,
    sector,
    uscc_taken,
)
from app.services.passwords import password_problems

PARENT_PAGE_SIZE = 10
PARENT_QUERY_MAX = 50  # characters of the search text
PARENT_MAX_PAGE = 50  # pages (0-based): 500 names; beyond, refine the search

# The fields "my information" (P2) may change; the rest is locked or the login name.
PROFILE_FIELDS = ("postal_address", "postcode", "registered_capital", "founded_on",
                  "telephone", "email", "parent_id")
CONTACT_FIELDS = ("contact_name", "contact_mobile")


@dataclass
class Registration:
    """What the registration form gives (formats already checked)."""

    name: str
    uscc: str
    enterprise_type: str
    legal_representative: str
    region_code: str  # district of the business-licence address
    address: str  # street and number of the business-licence address
    postal_address: str
    postcode: str
    registered_capital: Decimal | None
    founded_on: datetime.date | None
    contact_name: str
    contact_mobile: str
    telephone: str | None
    email: str
    parent_id: int | None
    password: str

    @property
    def username(self) -> str:
        return self.uscc


# ----- the parent enterprise (上级企业) ---------------------------------------------------------
@dataclass
class ParentPage:
    items: list[dict]  # [{"id", "name"}]
    page: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.page > 0


def _selectable():
    """Enterprises that may be chosen as a parent: active power enterprises."""
    power = (select(enterprise_sector.c.enterprise_id)
             .join(Sector, Sector.id == enterprise_sector.c.sector_id)
             .where(Sector.code == SECTOR))
    return Enterprise.status == "active", Enterprise.id.in_(power)


def search_parents(text: str | None, page: int = 0,
                   exclude_id: int | None = None) -> ParentPage:
    """One page of parent candidates, names only, in name order. The caller caps `text`
    (PARENT_QUERY_MAX) and `page` (PARENT_MAX_PAGE); this is public (rate-limited) and
    unscoped (other tenants' names)."""
    text = " ".join((text or "").split())[:PARENT_QUERY_MAX]
    page = min(max(int(page or 0), 0), PARENT_MAX_PAGE)
    query = select(Enterprise.id, Enterprise.name).where(*_selectable())
    if text:
        query = query.where(Enterprise.name.icontains(text, autoescape=True))
    if exclude_id:
        query = query.where(Enterprise.id != exclude_id)
    query = (query.order_by(Enterprise.name, Enterprise.id)
             .offset(page * PARENT_PAGE_SIZE).limit(PARENT_PAGE_SIZE + 1))
    with unscoped():
        rows = db.session.execute(query).all()
    return ParentPage([{"id": r.id, "name": r.name} for r in rows[:PARENT_PAGE_SIZE]], page,
                      len(rows) > PARENT_PAGE_SIZE)


def parent_name(parent_id: int | None) -> str | None:
    """The name of a selectable parent, None when there is no such enterprise."""
    if not parent_id:
        return None
    with unscoped():
        return db.session.execute(select(Enterprise.name).where(
            Enterprise.id == parent_id, *_selectable())).scalar_one_or_none()


def parent_problem(parent_id: int | None, enterprise_id: int | None = None) -> str | None:
    """Why this parent cannot be chosen (a forged id, the enterprise itself), else None."""
    if not parent_id:
        return None
    if enterprise_id is not None and parent_id == enterprise_id:
        return gettext("An enterprise cannot be its own parent enterprise.")
    if parent_name(parent_id) is None:
        return gettext("Choose the parent enterprise from the list.")
    return None


# ----- P1 registration -----------------------------------------------------------------------
def registration_conflicts(reg: Registration) -> dict[str, str]:
    if uscc_taken(reg.uscc):
        return {"uscc": gettext(
            "An enterprise with this unified social credit code is already registered. "
            "Sign in with its account, or ask the power regulator for help.")}
    return {}


def register(reg: Registration) -> AppUser:
    """P1, in one transaction (see the module's docstring). Refuses a weak password, an
    unknown enterprise type, a parent that cannot be chosen and a USCC already
    registered."""
    errors = {}
    problems = password_problems(reg.password, reg.username)
    if problems:
        errors["password"] = " ".join(problems)
    if reg.enterprise_type not in ENTERPRISE_TYPES:
        errors["enterprise_type"] = gettext("Choose the enterprise type.")
    problem = parent_problem(reg.parent_id)
    if problem:
        errors["parent_id"] = problem
    if errors:
        raise RegistrationError(errors)
    errors = registration_conflicts(reg)
    if errors:
        raise RegistrationConflictError(errors)
    ent = Enterprise(name=reg.name, uscc=reg.uscc, region_code=reg.region_code,
                     address=reg.address, status="active",
                     legal_representative=reg.legal_representative,
                     contact_name=reg.contact_name, contact_mobile=reg.contact_mobile,
                     sectors=[sector(SECTOR)])
    return register_enterprise(
        ent, lambda enterprise_id: PowerProfile(
            enterprise_id=enterprise_id, enterprise_type=reg.enterprise_type,
            parent_id=reg.parent_id or None, registered_capital=reg.registered_capital,
            founded_on=reg.founded_on, postal_address=reg.postal_address,
            postcode=reg.postcode, telephone=reg.telephone or None, email=reg.email),
        reg.username, reg.password, contact_name=reg.contact_name, mobile=reg.contact_mobile,
        email=reg.email, detail=gettext("Power enterprise self-registration"),
        conflicts=lambda: registration_conflicts(reg))


# ----- P2 my information ---------------------------------------------------------------------
def own_profile(enterprise_id: int | None) -> PowerProfile | None:
    """The power profile of an enterprise (through the request's scope)."""
    if not enterprise_id:
        return None
    return db.session.execute(select(PowerProfile).where(
        PowerProfile.enterprise_id == enterprise_id)).scalar_one_or_none()


def locked_values(profile: PowerProfile) -> dict[str, str]:
    """The locked fields as a form shows them: key -> current value."""
    ent = profile.enterprise
    return {"enterprise_type": profile.enterprise_type or "", "name": ent.name or "",
            "legal_representative": ent.legal_representative or "",
            "address": ent.address or "", "region_code": ent.region_code or ""}


def locked_fields_changed(profile: PowerProfile, submitted) -> list[str]:
    """Keys of the locked fields that a (forged) submission gives with another value."""
    current = locked_values(profile)
    return [key for key, value in current.items()
            if key in submitted and " ".join(str(submitted[key] or "").split()) != value]


def update_profile(profile: PowerProfile, data: dict) -> bool:
    """Apply the P2 form (keys of PROFILE_FIELDS and CONTACT_FIELDS, formats checked), audit,
    commit. Returns whether anything changed."""
    problem = parent_problem(data.get("parent_id"), profile.enterprise_id)
    if problem:
        raise RegistrationError({"parent_id": problem})
    ent = profile.enterprise
    for key in PROFILE_FIELDS:
        if key in data:
            setattr(profile, key, data[key] if data[key] not in ("",) else None)
    for key in CONTACT_FIELDS:
        if key in data:
            setattr(ent, key, data[key])
    changed = db.session.is_modified(ent) or db.session.is_modified(profile)
    if changed:
        audit.record(db.session, "power_profile", target=ent,
                     detail=gettext("Power enterprise information updated"))
    db.session.commit()
    return changed
