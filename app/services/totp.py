"""TOTP two-factor authentication (pyotp): enrolment, verification, recovery codes."""

from __future__ import annotations

import base64
import datetime
import io
import secrets

import pyotp
import qrcode
from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash

from app.extensions import db
from app.models.identity import RecoveryCode

VALID_WINDOW = 1  # accept the previous and next 30 s step for clock drift


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(
        name=username, issuer_name=current_app.config.get("TOTP_ISSUER", "RegPortal")
    )


def qr_data_uri(uri: str) -> str:
    img = qrcode.make(uri, box_size=5, border=2)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _matching_counter(secret: str, code: str) -> int | None:
    totp = pyotp.TOTP(secret)
    now = datetime.datetime.now(datetime.UTC)
    code = (code or "").strip().replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return None
    for offset in range(-VALID_WINDOW, VALID_WINDOW + 1):
        at = now + datetime.timedelta(seconds=offset * totp.interval)
        if secrets.compare_digest(totp.at(at), code):
            return totp.timecode(at)
    return None


def verify_code(secret: str, code: str) -> bool:
    return _matching_counter(secret, code) is not None


def verify_user_code(user, code: str) -> bool:
    """A current TOTP code (never the same time step twice) or an unused recovery code."""
    if user.totp_secret:
        counter = _matching_counter(user.totp_secret, code)
        if counter is not None and (user.totp_last_counter or -1) < counter:
            user.totp_last_counter = counter
            db.session.commit()
            return True
    return use_recovery_code(user, code)


def new_recovery_codes(user) -> list[str]:
    """Replace the user's recovery codes with fresh ones; return them in clear once."""
    db.session.query(RecoveryCode).filter(RecoveryCode.user_id == user.id).delete()
    codes = []
    for _ in range(current_app.config.get("TOTP_RECOVERY_CODES", 10)):
        raw = secrets.token_hex(5)
        code = f"{raw[:5]}-{raw[5:]}"
        codes.append(code)
        db.session.add(RecoveryCode(user_id=user.id, code_hash=generate_password_hash(code)))
    return codes


def use_recovery_code(user, code: str) -> bool:
    code = (code or "").strip().lower()
    if len(code) != 11:
        return False
    rows = (
        db.session.query(RecoveryCode)
        .filter(RecoveryCode.user_id == user.id, RecoveryCode.used_on.is_(None))
        .all()
    )
    for row in rows:
        if check_password_hash(row.code_hash, code):
            row.used_on = datetime.datetime.now()
            db.session.commit()
            return True
    return False


def remove(user) -> None:
    """Turn two-factor off for a user: secret, replay record and recovery codes go."""
    user.totp_enabled = False
    user.totp_secret = None
    user.totp_last_counter = None
    db.session.query(RecoveryCode).filter(RecoveryCode.user_id == user.id).delete()


def remaining_recovery_codes(user) -> int:
    return (
        db.session.query(RecoveryCode)
        .filter(RecoveryCode.user_id == user.id, RecoveryCode.used_on.is_(None))
        .count()
    )
