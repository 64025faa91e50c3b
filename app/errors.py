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
    pass


class PermissionNotGrantableError(DomainError):
    pass


class AccountSelfLockoutError(DomainError):
    pass


class UserNameTakenError(DomainError):
    pass


class AccountOrganisationError(DomainError):
    pass


class RoleNameTakenError(DomainError):
    pass
