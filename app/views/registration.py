"""What the public self-registrations share (used cars U1: app/views/usedcar_register.py,
power P1: app/views/power_register.py): input filters, the per-address POST limit, the
submit step (form rules, captcha, the service's DomainError onto the form's fields) and the
one-time "registered" page data.

A registration view:

    limits = [registration_limit("POWER_REGISTER_RATE_LIMIT", "power-register")]

    form = RegisterForm()
    user, status = submit_registration(form, lambda: accounts.register(form.registration()))
    if user is not None:
        return remember_registration(DONE_KEY, user, form.name.data, url_for(".done"))
    return render(form, status)
"""

from __future__ import annotations

from flask import current_app, flash, redirect, request, session
from flask_appbuilder.utils.limit import Limit
from flask_limiter.util import get_remote_address

from app.errors import DomainError
from app.services import captcha, cn_codes

DEFAULT_REGISTER_LIMIT = "10 per minute"


def squeeze(value):
    """Inner white space folded to one space, the ends stripped."""
    return " ".join(value.split()) if isinstance(value, str) else value


def compact_code(value):
    """A registration code without spaces or hyphens, upper case."""
    return cn_codes.compact(value) if isinstance(value, str) else value


def registration_limit(config_key: str, bucket: str) -> Limit:
    """The POST limit of a registration form, per address; the rate from `config_key`."""
    return Limit(lambda: current_app.config.get(config_key, DEFAULT_REGISTER_LIMIT),
                 lambda: f"{bucket}:" + get_remote_address(), methods=["POST"])


def flash_errors(exc: DomainError, form) -> None:
    """A service's refusal: its {field: message} onto the form's fields, else a flash."""
    errors = getattr(exc, "errors", None) or {}
    shown = False
    for name, message in errors.items():
        if name in form:
            form[name].errors = [*form[name].errors, message]
            shown = True
    if not shown:
        flash(str(exc), "danger")


def submit_registration(form, register):
    """(user, 200) after a GET or a successful POST; (None, 422) when the form, the
    captcha or the service (`register()`, raising DomainError) refuses. The captcha and the
    password fields are emptied for the page shown again (never sent back)."""
    user, status = None, 200
    if request.method == "POST":
        status = 422
        if form.validate_on_submit() and captcha.check_form(form):
            try:
                user = register()
            except DomainError as exc:
                flash_errors(exc, form)
    for name in ("captcha", "password", "confirm"):
        if name in form:
            form[name].data = ""
    return user, status


def remember_registration(key: str, user, name: str, done_url: str):
    """Redirect to the one-time "registered" page (`shown_registration(key)` reads it)."""
    session[key] = {"username": user.username, "name": name}
    return redirect(done_url)


def shown_registration(key: str) -> dict | None:
    return session.pop(key, None)
