"""Domain errors: translated messages that map to one HTTP status. FAB's ModelView flashes
str(error) when a pre_* hook raises; ModelRestApi's @safe answers 400 with the message."""

from __future__ import annotations

from werkzeug.exceptions import BadRequest


class DomainError(BadRequest):
    """Base of <Noun><Problem>Error: str() is the bare, translated message."""

    def __init__(self, message: str):
        super().__init__(description=message)

    def __str__(self) -> str:
        return str(self.description)


class RoleNotAssignableError(DomainError):
    """A role outside what an enterprise admin may assign."""


class PermissionNotGrantableError(DomainError):
    """A permission an enterprise role may not hold."""


class AccountSelfLockoutError(DomainError):
    """An admin deleting or deactivating its own account."""


class UserNameTakenError(DomainError):
    """A user name or e-mail address already in use (any case)."""


class AccountOrganisationError(DomainError):
    """A user given both an enterprise and an authority."""


class RoleNameTakenError(DomainError):
    """A role name already used in the same enterprise."""
