"""The one password policy, applied to every path that sets a password: login change,
forced change, admin reset, forgot-password, FAB's forms (FAB_PASSWORD_COMPLEXITY_VALIDATOR),
the CLI and the enterprise user forms."""

from __future__ import annotations

import os
import re
from functools import lru_cache

from flask_babel import gettext
from wtforms.validators import ValidationError

MIN_LENGTH = 8


class PasswordPolicyError(ValueError):
    """A password that breaks the policy; str() is a translated message."""


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    path = os.path.join(os.path.dirname(__file__), "data", "common_passwords.txt")
    with open(path, encoding="utf-8") as fh:
        return frozenset(line.strip().lower() for line in fh if line.strip())


def password_problems(password: str, username: str | None = None) -> list[str]:
    """Every rule the password breaks, as translated sentences (empty list: acceptable)."""
    problems = []
    password = password or ""
    if len(password) < MIN_LENGTH:
        problems.append(gettext("The password must have at least %(n)d characters.",
                                n=MIN_LENGTH))
    if not re.search(r"[A-Z]", password):
        problems.append(gettext("The password must contain an upper-case letter."))
    if not re.search(r"[a-z]", password):
        problems.append(gettext("The password must contain a lower-case letter."))
    if not re.search(r"[0-9]", password):
        problems.append(gettext("The password must contain a digit."))
    if username and password.lower() == username.strip().lower():
        problems.append(gettext("The password must not be the user name."))
    if password.lower() in _common_passwords():
        problems.append(gettext("This password is too common; choose another."))
    return problems


def check_password(password: str, username: str | None = None) -> None:
    problems = password_problems(password, username)
    if problems:
        raise PasswordPolicyError(" ".join(problems))


def fab_validator(password: str) -> None:
    """FAB_PASSWORD_COMPLEXITY_VALIDATOR: FAB's password forms call this."""
    problems = password_problems(password)
    if problems:
        raise ValidationError(" ".join(problems))


class PasswordPolicy:
    """WTForms validator; `username_field` names the form field holding the user name, or
    is a function of the form giving it (a name that depends on several fields)."""

    def __init__(self, username_field=None):
        self.username_field = username_field

    def __call__(self, form, field):
        username = None
        if callable(self.username_field):
            username = self.username_field(form)
        elif self.username_field and self.username_field in form:
            username = form[self.username_field].data
        problems = password_problems(field.data, username)
        if problems:
            raise ValidationError(" ".join(problems))
