"""The first account of an enterprise (its Enterprise Admin), opened by a module: when a
rental filing is approved (app/workflows/rental.py) or when a used-car enterprise registers
(app/services/usedcar_accounts.py). The caller audits and commits."""

from __future__ import annotations

import datetime

from flask import current_app
from sqlalchemy import func
from werkzeug.security import generate_password_hash

from app import security as s
from app.extensions import db
from app.models.base import unscoped
from app.models.identity import AppUser

# A user must have a unique e-mail address (FAB); an account opened without one gets this.
PLACEHOLDER_EMAIL_DOMAIN = "accounts.regportal.invalid"


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
