"""Session and token versioning: a login (cookie or JWT) carries a fingerprint of the
user's credentials; when the password, the 2FA enrolment, the active flag or the session
epoch (bumped at logout) changes, older cookies and tokens stop working."""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app

SESSION_KEY = "_sv"
JWT_CLAIM = "sv"


def session_version(user) -> str:
    material = "|".join(str(x) for x in (
        user.id, user.password or "", user.totp_secret or "", bool(user.totp_enabled),
        bool(user.active), user.session_epoch or 0))
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, material.encode(), hashlib.sha256).hexdigest()[:24]


def matches(user, version: str | None) -> bool:
    return bool(version) and hmac.compare_digest(session_version(user), str(version))
