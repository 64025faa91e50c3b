"""Locked fields: registration data that no screen, API, forged form or admin edit may change
once registered, whatever the path, because the ORM refuses it at flush (`before_flush`).

A module declares its locks next to its models:

    lock_fields(Enterprise, ("name", "uscc"), applies=has_usedcar_profile,
                message=lambda: gettext("... cannot be changed after registration."))
    lock_fields(PowerProfile, ("enterprise_type",), message=..., allowance="registration_change")

- `applies(session, enterprise_id)` says whether the lock holds for that enterprise (the
  Enterprise row is shared by every module: the used-car lock holds for used-car
  enterprises only, the power lock for power enterprises); without it the lock always holds.
- `allowance` names the one procedure that may still change the fields (the power module's
  approved registration-item change, P7). That procedure makes its changes inside
  `allow_changes(allowance, enterprise_id)`: for that enterprise and that allowance only,
  until the block ends (the block flushes before it ends, so its changes are written while
  they are allowed). A lock of another module on the same field stays in force.
- Views check the same rules early with `refuse_locked_changes(obj)` (a clear 422 before
  anything is saved); the flush guard is what makes it hold everywhere else.

Why a flush guard rather than form checks alone: the REST API, FAB's edit screens and any
service writing the ORM all end in a flush."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

_ALLOWED_KEY = "locked_field_allowances"


@dataclass(frozen=True)
class FieldLock:
    model: type
    names: tuple[str, ...]
    message: Callable[[], str]
    applies: Callable[[Session, int], bool] | None = None
    allowance: str | None = None
    # The enterprise a row belongs to (an Enterprise is its own: `enterprise_of=own_id`).
    enterprise_of: Callable[[object], int | None] = None


def tenant_id(obj) -> int | None:
    return getattr(obj, "enterprise_id", None)


def own_id(obj) -> int | None:
    return obj.id


_LOCKS: list[FieldLock] = []
_WATCHED: set[tuple[type, str]] = set()


def _keep_old_value(target, value, oldvalue, initiator):
    return value


def lock_fields(model, names, *, message, applies=None, allowance=None,
                enterprise_of=None) -> FieldLock:
    """Declare a lock (at import of the model module)."""
    lock = FieldLock(model, tuple(names), message, applies, allowance,
                     enterprise_of or tenant_id)
    _LOCKS.append(lock)
    for name in lock.names:
        if (model, name) in _WATCHED:
            continue
        # active_history: the old value is loaded before a change even when the row was
        # expired (after a commit), so the flush always sees what it was.
        event.listen(getattr(model, name), "set", _keep_old_value, active_history=True,
                     retval=True)
        _WATCHED.add((model, name))
    return lock


def _changed(history) -> bool:
    """A real change: an empty form field over a NULL (None -> "") is none."""
    if not history.deleted:
        return False
    before = history.deleted[0]
    after = history.added[0] if history.added else None
    return (before if before is not None else "") != (after if after is not None else "")


def _allowed(session, lock: FieldLock, enterprise_id) -> bool:
    return lock.allowance is not None and (lock.allowance, enterprise_id) in session.info.get(
        _ALLOWED_KEY, ())


def locked_changes(session, obj) -> list[tuple[FieldLock, list[str]]]:
    """(lock, changed field names) for each lock in force that a pending change of `obj`
    breaks. A new row (being registered) breaks none."""
    state = inspect(obj)
    if state.transient or state.pending:
        return []
    broken = []
    for lock in _LOCKS:
        if not isinstance(obj, lock.model):
            continue
        changed = [n for n in lock.names if _changed(state.attrs[n].history)]
        if not changed:
            continue
        enterprise_id = lock.enterprise_of(obj)
        if _allowed(session, lock, enterprise_id):
            continue
        if lock.applies is not None:
            from app.models.base import unscoped

            with session.no_autoflush, unscoped():
                if not lock.applies(session, enterprise_id):
                    continue
        broken.append((lock, changed))
    return broken


def _error(broken):
    from app.errors import ImmutableFieldError

    return ImmutableFieldError(" ".join(dict.fromkeys(lock.message() for lock, _ in broken)))


def refuse_locked_changes(obj, session=None) -> None:
    """For views and APIs, before saving: when a pending change of `obj` breaks a lock, undo
    every pending change of the request (nothing of it can be flushed later) and raise
    ImmutableFieldError (422 / a flash) with the lock's message."""
    if session is None:
        from app.extensions import db

        session = db.session
    broken = locked_changes(session, obj)
    if broken:
        error = _error(broken)
        session.rollback()
        raise error


@contextlib.contextmanager
def allow_changes(allowance: str, enterprise_id: int, session=None):
    """The one procedure named by `allowance` changes locked fields of one enterprise: the
    changes made in the block are flushed before it ends, while they are allowed."""
    if session is None:
        from app.extensions import db

        session = db.session
    allowed = session.info.setdefault(_ALLOWED_KEY, set())
    key = (allowance, enterprise_id)
    added = key not in allowed
    allowed.add(key)
    try:
        yield
        session.flush()
    finally:
        if added:
            allowed.discard(key)


@event.listens_for(Session, "before_flush")
def _refuse_locked_changes(session, flush_context, instances):
    for obj in list(session.dirty):
        broken = locked_changes(session, obj)
        if broken:
            raise _error(broken)
