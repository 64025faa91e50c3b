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


# ----- workflow engine (app/workflows/engine.py); `code` is the HTTP status of the API ------
class TransitionUnknownError(DomainError):
    """A transition name the case's workflow does not define."""

    code = 404


class TransitionForbiddenError(DomainError):
    """The actor holds none of the roles the transition allows."""

    code = 403


class CaseStateError(DomainError):
    """The transition does not start from the case's current state."""

    code = 409


class CaseConflictError(DomainError):
    """Someone else changed the case first (optimistic locking)."""

    code = 409


class OpinionRequiredError(DomainError):
    """Reject / return without an opinion."""

    code = 422


class GuardFailedError(DomainError):
    """One or more guards refused; the message lists every reason."""

    code = 422

    def __init__(self, reasons: list[str]):
        self.reasons = [str(r) for r in reasons]
        super().__init__("；".join(self.reasons))


# ----- used-car module ------------------------------------------------------------------------
class UsedCarNotConfirmedError(DomainError):
    """Sales entry, import or a report before the authority confirmed a filing (U4)."""

    code = 403


class ImmutableFieldError(DomainError):
    """An attempt to change a field that never changes after registration (U1)."""

    code = 422


# ----- report windows (app/services/report_windows.py), shared by every reporting module ----
# (ReportWindowClosedError, HTTP 422, lives beside the window logic in app/workflows/windows.py.)
class ReportExtensionInvalidError(DomainError):
    """An extension without a reason, ending in the past, or for an unknown report kind."""

    code = 422


# ----- used-car trade reports (app/services/usedcar_reports.py) ------------------------------
class UsedCarReportInvalidError(DomainError):
    """Figures that fail the form's rules or cross-checks; `errors` lists every one."""

    code = 422

    def __init__(self, errors: list[str]):
        self.errors = [str(e) for e in errors]
        super().__init__("；".join(self.errors))


class UsedCarReportExistsError(DomainError):
    """A second report for the same enterprise, kind and period."""

    code = 409

    def __init__(self, message: str, report_id: int | None = None):
        self.report_id = report_id
        super().__init__(message)


class UsedCarReportNotAllowedError(DomainError):
    """A report kind the enterprise does not file (the quarterly report is for appraisal
    institutions only)."""

    code = 403
