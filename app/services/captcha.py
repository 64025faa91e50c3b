"""Image captcha (the `captcha` package). The answer lives in the signed session and is
consumed by the first check, right or wrong, so a captcha can never be replayed."""

from __future__ import annotations

import secrets

from captcha.image import ImageCaptcha
from flask import current_app, session

_SESSION_KEY = "captcha_answer"
# No look-alikes (0/O, 1/I/L) so people can read it.
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def enabled() -> bool:
    return bool(current_app.config.get("CAPTCHA_ENABLED", True))


def new_challenge_png() -> bytes:
    answer = "".join(secrets.choice(_ALPHABET) for _ in range(4))
    session[_SESSION_KEY] = answer
    return ImageCaptcha(width=160, height=60).generate(answer).getvalue()


def check(value: str | None) -> bool:
    if not enabled():
        return True
    expected = session.pop(_SESSION_KEY, None)
    if not expected or not value:
        return False
    return secrets.compare_digest(expected.upper(), value.strip().upper())
