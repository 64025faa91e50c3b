"""The first account of an enterprise (its Enterprise Admin), opened by a module: when a
rental filing is approved (app/workflows/rental.py) or when a used-car or power enterprise
registers (app/services/usedcar_accounts.py, app/services/power_accounts.py). The caller
audits and commits.

Also what the public registrations share: their errors, the USCC-taken check, the sector
row, and the login by registration code (`username_for_code`, behind
AppSecurityManager.login_name)."""

from __future__ import annotations

import datetime

from flask import current_app
from sqlalchemy import exists, func, select, union
from sqlalchemy.exc import IntegrityError
from werkzeug.security import generate_password_hash

from app import security as s
from app.errors import DomainError
from app.extensions import db
from app.models.base import unscoped
from app.models.identity import AppUser
from app.models.org import Enterprise, Sector
from app.services.cn_codes import compact

# A user must have a unique e-mail address (FAB); an account opened without one gets this.
PLACEHOLDER_EMAIL_DOMAIN = "accounts.regportal.invalid"


class RegistrationError(DomainError):
    """Registration or profile data refused; `errors` maps the form field to its message."""

    code = 422

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__(" ".join(str(m) for m in errors.values()))


class RegistrationConflictError(RegistrationError):
    """A USCC, business licence number or user name already registered."""

    code = 409


def user_name_taken(name: str) -> bool:
    """A user with this user name, in any case (logins are case-insensitive)."""
    with unscoped():
        return db.session.query(AppUser.id).filter(
            func.lower(AppUser.username) == (name or "").strip().lower()).first() is not None


def account_email(email: str | None, username: str) -> str:
    """The given address when no user has it yet, else a placeholder from the user name."""
    email = (email or "").strip().lower()
    if email:
        with unscoped():
            taken = db.session.query(AppUser.id).filter(
                func.lower(AppUser.email) == email).first()
        if taken is None:
            return email
    return f"{username.lower()}@{PLACEHOLDER_EMAIL_DOMAIN}"


def open_admin_account(enterprise, username: str, password: str, *, contact_name: str | None,
                       mobile: str | None, email: str | None = None,
                       must_change_password: bool) -> AppUser:
    """Add (not commit) the Enterprise Admin account of `enterprise`. The password is hashed
    as the security manager hashes every password; checking it against the password policy
    is the caller's business (a first password that must be changed may break it)."""
    config = current_app.config
    contact = (contact_name or enterprise.name or "").strip()
    user = AppUser(
        username=username, first_name=contact[1:] or contact, last_name=contact[:1],
        email=account_email(email, username), active=True, enterprise_id=enterprise.id,
        mobile=mobile, must_change_password=must_change_password,
        password=generate_password_hash(
            password, method=config.get("FAB_PASSWORD_HASH_METHOD", "scrypt"),
            salt_length=config.get("FAB_PASSWORD_HASH_SALT_LENGTH", 16)),
        password_changed_on=None if must_change_password else datetime.datetime.now())
    user.roles = [current_app.appbuilder.sm.find_role(s.ROLE_ENT_ADMIN)]
    db.session.add(user)
    return user


def uscc_taken(uscc: str) -> bool:
    """An enterprise with this USCC (any case), or a user named by it, exists."""
    with unscoped():
        return db.session.query(Enterprise.id).filter(
            func.upper(Enterprise.uscc) == uscc.upper()).first() is not None \
            or user_name_taken(uscc)


def sector(code: str) -> Sector:
    """The sector row of a module (added on a fresh installation without demo data)."""
    row = db.session.query(Sector).filter_by(code=code).first()
    if row is None:
        row = Sector(code=code)
        db.session.add(row)
    return row


def register_enterprise(enterprise, profile, username: str, password: str, *,
                        contact_name: str | None, mobile: str | None, email: str | None = None,
                        detail: str, conflicts) -> AppUser:
    """A module's self-registration, in one transaction: `enterprise` (an unsaved
    Enterprise), `profile(enterprise_id)` (the module's profile row), the Enterprise Admin
    account (the password the registrant chose: no forced change; the caller checked it)
    and the audit event `register`. Another registration of the same codes between the
    caller's checks and the commit: RegistrationConflictError(`conflicts()`)."""
    from app.services import audit

    try:
        with unscoped():
            db.session.add(enterprise)
            db.session.flush()
            db.session.add(profile(enterprise.id))
            user = open_admin_account(enterprise, username, password,
                                      contact_name=contact_name, mobile=mobile, email=email,
                                      must_change_password=False)
            db.session.flush()
            audit.record(db.session, "register", actor=user, target=enterprise, detail=detail)
            db.session.commit()
    except IntegrityError:
        db.session.rollback()
        from flask_babel import gettext

        raise RegistrationConflictError(conflicts() or {"uscc": gettext(
            "This enterprise has just been registered. Sign in with its account.")}) from None
    return user


# ----- login by registration code ------------------------------------------------------------
def username_for_code(name: str | None) -> str | None:
    """The user name a registration code stands for at login (spaces and case do not
    matter): the USCC of a used-car (U2) or power (P1) enterprise, or a used-car enterprise's
    business licence number. It names the registration account (the user named by that
    code), else the enterprise's first enterprise admin (accounts made before registration
    existed, such as the demo's). None when the name is no such code. One query whatever the
    answer, so a known and an unknown name take the same path; each branch is an index
    lookup (the unique USCC, the unique licence number, the profiles' unique enterprise)."""
    from flask_appbuilder.security.sqla.models import Role, assoc_user_role

    from app.models.licence import PowerProfile
    from app.models.usedcar import UsedCarProfile

    name = compact(name)
    if not name:
        return None
    ent = Enterprise.__table__
    usedcar = UsedCarProfile.__table__
    power = PowerProfile.__table__
    user = AppUser.__table__
    role = Role.__table__
    # Enterprises whose modules sign in by code: used cars (USCC or licence number), power.
    by_code = union(
        select(ent.c.id).where(ent.c.uscc == name, exists().where(
            usedcar.c.enterprise_id == ent.c.id)),
        select(ent.c.id).where(ent.c.uscc == name, exists().where(
            power.c.enterprise_id == ent.c.id)),
        select(usedcar.c.enterprise_id).where(usedcar.c.licence_no == name),
    ).subquery()
    licence_no = (select(usedcar.c.licence_no).where(usedcar.c.enterprise_id == ent.c.id)
                  .scalar_subquery())
    named = func.lower(user.c.username) == func.lower(func.coalesce(ent.c.uscc, licence_no))
    query = (select(user.c.username)
             .select_from(ent)
             .join(by_code, by_code.c.id == ent.c.id)
             .join(user, user.c.enterprise_id == ent.c.id)
             .join(assoc_user_role, assoc_user_role.c.user_id == user.c.id)
             .join(role, role.c.id == assoc_user_role.c.role_id)
             .where(user.c.active.is_(True), named | (role.c.name == s.ROLE_ENT_ADMIN))
             .order_by(named.desc(), user.c.id)
             .limit(1))
    return db.session.execute(query, execution_options={"skip_tenant_scope": True}).scalar()
