"""Image captcha (the `captcha` package). The answer stays on the server (a row keyed by a
random id; the signed, readable session cookie holds only the id) and is deleted by the first
check, right or wrong, so a captcha can never be replayed, even with a saved cookie."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets

from captcha.image import ImageCaptcha
from flask import current_app, session
from flask_babel import gettext

from app.extensions import db
from app.models.identity import CaptchaChallenge

_SESSION_KEY = "captcha_id"
_LIFETIME = datetime.timedelta(minutes=10)
# No look-alikes (0/O, 1/I/L) so people can read it.
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def enabled() -> bool:
    return bool(current_app.config.get("CAPTCHA_ENABLED", True))


def _hash(answer: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, answer.strip().upper().encode(), hashlib.sha256).hexdigest()


def _new_answer() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(4))


def new_challenge_png() -> bytes:
    now = datetime.datetime.now()
    answer = _new_answer()
    old = session.get(_SESSION_KEY)
    if old:
        db.session.query(CaptchaChallenge).filter(CaptchaChallenge.id == old).delete()
    db.session.query(CaptchaChallenge).filter(
        CaptchaChallenge.created_on < now - _LIFETIME).delete()
    challenge = CaptchaChallenge(id=secrets.token_urlsafe(24), answer_hash=_hash(answer),
                                 created_on=now)
    db.session.add(challenge)
    db.session.commit()
    session[_SESSION_KEY] = challenge.id
    return ImageCaptcha(width=160, height=60).generate(answer).getvalue()


def check(value: str | None) -> bool:
    if not enabled():
        return True
    challenge_id = session.pop(_SESSION_KEY, None)
    if not challenge_id:
        return False
    # Delete first: whatever the answer, this challenge is spent (one DELETE, race-free).
    row = db.session.get(CaptchaChallenge, challenge_id)
    if row is None:
        return False
    expected, created = row.answer_hash, row.created_on
    deleted = db.session.query(CaptchaChallenge).filter(
        CaptchaChallenge.id == challenge_id).delete()
    db.session.commit()
    if not deleted or created < datetime.datetime.now() - _LIFETIME or not value:
        return False
    return hmac.compare_digest(expected, _hash(value))


def check_form(form) -> bool:
    """Check a public form's `captcha` field; a wrong answer becomes that field's error."""
    if check(form.captcha.data):
        return True
    form.captcha.errors = [*form.captcha.errors,
                           gettext("The verification code is wrong; try the new one.")]
    return False
