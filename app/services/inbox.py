"""The inbox (SPEC X15): to-do, submitted and processed cases of the current user, over the
generic case table. Every query goes through the scoped session, so an enterprise user gets
its own enterprise's cases, a regulator its jurisdiction's, a system admin all of them.

Other modules embed these lists (the rental enterprise home page):

    from app.services import inbox
    inbox.submitted_items(limit=5), inbox.processed_items(limit=5), inbox.todo_items(limit=5)

and render them with the macros of app/templates/inbox/_lists.html.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from flask import g, has_request_context, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select
from sqlalchemy.orm import lazyload
from werkzeug.routing import BuildError

from app.extensions import db
from app.models.workflow import Application

# Case states: the workflow engine's (app/workflows/engine.py owns the transitions).
from app.workflows.engine import (  # noqa: E402
    APPROVED,
    AWAITING_REVIEW,
    REJECTED,
    RETURNED,
    SUBMITTED,
    TERMINATED,
    WITHDRAWN,
)

OPEN_STATES = AWAITING_REVIEW  # what the inbox calls "submitted": awaiting the authority
DECIDED_STATES = (APPROVED, REJECTED, WITHDRAWN, TERMINATED)

CASE_STATE_LABELS = {
    SUBMITTED: _l("Pending review"),
    RETURNED: _l("Returned for correction"),
    APPROVED: _l("Approved"),
    REJECTED: _l("Rejected"),
    WITHDRAWN: _l("Withdrawn"),
}

# Roles whose to-do list is the review queue of their scope.
def _reviewer_roles():
    from app.security import ROLE_ADMIN, ROLE_REGULATOR

    return {ROLE_REGULATOR, ROLE_ADMIN}


def case_state_label(state: str | None) -> str:
    if state in CASE_STATE_LABELS:
        return str(CASE_STATE_LABELS[state])
    from app.workflows.engine import CASE_STATE_LABELS as ENGINE_LABELS

    return str(ENGINE_LABELS.get(state, state or ""))


def case_url(case_id: int) -> str:
    """The case detail page: the ApplicationView's show route when it is registered."""
    try:
        return url_for("ApplicationView.show", pk=case_id)
    except (BuildError, RuntimeError):
        return f"/applications/show/{case_id}"


def case_list_url() -> str | None:
    """The full case list, when a module has registered it (ApplicationView)."""
    try:
        return url_for("ApplicationView.list")
    except (BuildError, RuntimeError):
        return None


def is_overdue(item, today: datetime.date | None = None) -> bool:
    from app.workflows.engine import is_overdue as case_overdue

    return case_overdue(item, today)


def _overdue_clause(today):
    return (Application.state.in_(AWAITING_REVIEW)
            & ((Application.deadline < today) | (Application.stage_deadline < today)))


def _current_user(user=None):
    if user is not None:
        return user
    if has_request_context():
        u = getattr(g, "user", None)
        if u is not None and getattr(u, "is_authenticated", False):
            return u
    return None


def is_reviewer(user=None) -> bool:
    from flask import current_app

    user = _current_user(user)
    if user is None:
        return False
    return bool(current_app.appbuilder.sm.role_names(user) & _reviewer_roles())


def _cases():
    # Lists need the case row and its enterprise name, not its history or attachments.
    return db.session.query(Application).options(
        lazyload(Application.history), lazyload(Application.attachments),
        lazyload(Application.submitted_by), lazyload(Application.assignee))


def todo_items(limit: int = 20, user=None) -> list[Application]:
    """Reviewers (regulators, system admins): cases awaiting review in their scope, earliest
    deadline first (overdue ones lead). Enterprise users: their cases returned for
    correction, latest first. Anyone else: nothing."""
    user = _current_user(user)
    if user is None:
        return []
    if is_reviewer(user):
        return (_cases().filter(Application.state.in_(AWAITING_REVIEW))
                .order_by(Application.deadline.is_(None), Application.deadline.asc(),
                          Application.id.asc())
                .limit(limit).all())
    if getattr(user, "enterprise_id", None):
        return (_cases().filter(Application.state == RETURNED)
                .order_by(Application.changed_on.desc(), Application.id.desc())
                .limit(limit).all())
    return []


def submitted_items(limit: int = 20, user=None) -> list[Application]:
    """Open cases in scope (for an enterprise: what it has submitted and awaits), latest
    submission first."""
    if _current_user(user) is None:
        return []
    return (_cases().filter(Application.state.in_(OPEN_STATES))
            .order_by(Application.submitted_on.is_(None), Application.submitted_on.desc(),
                      Application.id.desc())
            .limit(limit).all())


def processed_items(limit: int = 20, user=None) -> list[Application]:
    """Decided cases in scope (approved, rejected, withdrawn), most recent decision first."""
    if _current_user(user) is None:
        return []
    return (_cases().filter(Application.state.in_(DECIDED_STATES))
            .order_by(Application.decided_on.is_(None), Application.decided_on.desc(),
                      Application.id.desc())
            .limit(limit).all())


@dataclass(frozen=True)
class TodoItem:
    """A to-do that is not a case awaiting review (an evaluation to give, a self-inspection
    to file): what a module's to-do provider returns."""

    kind: str      # provider key, e.g. "evaluation", "self_inspection"
    label: str     # what kind of to-do, translated ("好差评", "承装（修、试）类自查")
    title: str
    url: str
    due: datetime.date | None = None


# Modules register providers (in register_views): fn(user, limit) -> list[TodoItem], run
# in the user's scope. The inbox and the API list them beside the case to-dos.
_TODO_PROVIDERS: dict[str, Callable] = {}


def register_todo_provider(key: str, provider: Callable) -> None:
    _TODO_PROVIDERS[key] = provider


def other_todos(limit: int = 20, user=None) -> list[TodoItem]:
    """Every registered provider's items for the user, earliest due date first."""
    user = _current_user(user)
    if user is None:
        return []
    items: list[TodoItem] = []
    for provider in _TODO_PROVIDERS.values():
        items.extend(provider(user, limit))
    items.sort(key=lambda i: (i.due is None, i.due or datetime.date.max, i.title))
    return items[:limit]


def todo_dict(item: TodoItem) -> dict:
    return {"kind": item.kind, "label": item.label, "title": item.title, "url": item.url,
            "due": item.due.isoformat() if item.due else None}


def counts(user=None, today: datetime.date | None = None) -> dict:
    """Sizes of the lists in one aggregate query (badges, the API)."""
    user = _current_user(user)
    today = today or datetime.date.today()
    if user is None:
        return {"todo": 0, "overdue": 0, "submitted": 0, "returned": 0, "processed": 0,
                "unread": 0}
    one = 1
    row = db.session.execute(select(
        func.coalesce(func.sum(case((Application.state.in_(AWAITING_REVIEW), one),
                                    else_=0)), 0),
        func.coalesce(func.sum(case((_overdue_clause(today), one), else_=0)), 0),
        func.coalesce(func.sum(case((Application.state == RETURNED, one), else_=0)), 0),
        func.coalesce(func.sum(case((Application.state.in_(DECIDED_STATES), one),
                                    else_=0)), 0),
    ).select_from(Application)).one()
    submitted, overdue, returned, processed = (int(v) for v in row)
    from app.services.notify import unread_count

    if is_reviewer(user):
        todo = submitted
    elif getattr(user, "enterprise_id", None):
        todo = returned
    else:
        todo = 0
    return {"todo": todo, "overdue": overdue, "submitted": submitted, "returned": returned,
            "processed": processed, "unread": unread_count(user.id)}


def case_dict(item, today: datetime.date | None = None) -> dict:
    """A case as the inbox API shows it."""
    def iso(value):
        return value.isoformat() if value is not None else None

    return {"id": item.id, "reference": item.reference, "kind": item.kind,
            "title": item.title, "state": item.state,
            "state_label": case_state_label(item.state),
            "enterprise": item.enterprise.name if item.enterprise is not None else None,
            "submitted_on": iso(item.submitted_on), "deadline": iso(item.deadline),
            "decided_on": iso(item.decided_on), "overdue": is_overdue(item, today),
            "url": case_url(item.id)}


__all__ = [
    "APPROVED",
    "AWAITING_REVIEW",
    "CASE_STATE_LABELS",
    "DECIDED_STATES",
    "OPEN_STATES",
    "REJECTED",
    "RETURNED",
    "SUBMITTED",
    "TodoItem",
    "WITHDRAWN",
    "case_dict",
    "case_list_url",
    "case_state_label",
    "case_url",
    "counts",
    "is_overdue",
    "is_reviewer",
    "other_todos",
    "processed_items",
    "register_todo_provider",
    "submitted_items",
    "todo_dict",
    "todo_items",
]
