"""Audit trail: explicit events (login, logout, export, ...) and automatic create/update/
delete/permission events for every mapped row, recorded in the same flush as the change."""

from __future__ import annotations

import json

from flask import g, has_request_context, request
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from app.models.audit import AuditEvent

# Never logged: the audit rows themselves and pure bookkeeping.
_SKIP_TABLES = {"audit_event", "totp_recovery_code", "outbox_message", "captcha_challenge",
                "certificate_counter",
                "job",  # the export/import it runs is audited explicitly, with its filter
                "ab_permission",
                "ab_view_menu", "ab_permission_view", "alembic_version"}
# Logged as changed, never with their values.
_SECRET_COLUMNS = {"password", "totp_secret", "code_hash", "answer_hash"}
# Noise: FAB's login bookkeeping is covered by the login events.
_IGNORED_COLUMNS = {"last_login", "login_count", "fail_login_count", "changed_on",
                    "changed_by_fk", "totp_last_counter", "session_epoch"}
# Relationship collections whose change is a permission change.
_PERMISSION_COLLECTIONS = {("ab_user", "roles"), ("ab_role", "permissions")}


def _actor():
    if not has_request_context():
        return None
    user = getattr(g, "user", None)
    if user is not None and getattr(user, "is_authenticated", False):
        return user
    return None


def _ip():
    return request.remote_addr if has_request_context() else None


def make_event(action: str, *, target=None, target_type=None, target_id=None,
               target_label=None, enterprise_id=None, changes=None, detail=None,
               actor=None, actor_name=None) -> AuditEvent:
    actor = actor if actor is not None else _actor()
    if target is not None:
        target_type = target_type or target.__tablename__
        ident = inspect(target).identity
        target_id = target_id or (ident[0] if ident else getattr(target, "id", None))
        target_label = target_label or str(target)[:255]
        if enterprise_id is None:
            enterprise_id = _enterprise_of(target)
    if enterprise_id is None and actor is not None:
        enterprise_id = getattr(actor, "enterprise_id", None)
    return AuditEvent(
        action=action,
        actor_id=actor.id if actor is not None else None,
        actor_name=actor_name or (actor.username if actor is not None else None),
        ip=_ip(),
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        target_label=target_label,
        enterprise_id=enterprise_id,
        changes=json.dumps(changes, ensure_ascii=False, default=str) if changes else None,
        detail=(detail or None) and str(detail)[:500],
    )


def record(session, action: str, **kwargs) -> AuditEvent:
    """Add an explicit audit event to the session; the caller commits."""
    ev = make_event(action, **kwargs)
    session.add(ev)
    return ev


def _enterprise_of(obj):
    if obj.__tablename__ == "enterprise":
        return getattr(obj, "id", None)
    return getattr(obj, "enterprise_id", None)


def _column_changes(obj, mode: str) -> dict:
    """{column: [before, after]}. mode: "create" (after only), "delete" (before only) or
    "update" (changed columns only)."""
    state = inspect(obj)
    changes = {}
    for attr in state.mapper.column_attrs:
        key = attr.key
        if key in _IGNORED_COLUMNS:
            continue
        hist = state.attrs[key].history
        current = hist.added[0] if hist.added else (hist.unchanged[0] if hist.unchanged
                                                    else None)
        if mode == "update":
            if not hist.has_changes():
                continue
            before = hist.deleted[0] if hist.deleted else None
            if before == current:
                continue
            pair = [before, current]
        elif mode == "create":
            if current is None:
                continue
            pair = [None, current]
        else:
            pair = [current, None]
        changes[key] = ["***", "***"] if key in _SECRET_COLUMNS else pair
    return changes


def _collection_changes(obj) -> dict:
    state = inspect(obj)
    changes = {}
    for rel in state.mapper.relationships:
        if (obj.__tablename__, rel.key) not in _PERMISSION_COLLECTIONS:
            continue
        hist = state.attrs[rel.key].history
        if hist.added or hist.deleted:
            changes[rel.key] = [[str(x) for x in hist.deleted], [str(x) for x in hist.added]]
    return changes


@event.listens_for(Session, "before_flush")
def _audit_before_flush(session, flush_context, instances):
    if session.info.get("audit_disabled"):
        return
    events = []
    for obj in list(session.new):
        if isinstance(obj, AuditEvent) or getattr(obj, "__tablename__", None) in _SKIP_TABLES:
            continue
        events.append(("create", obj, _column_changes(obj, "create")))
    for obj in list(session.dirty):
        if getattr(obj, "__tablename__", None) in _SKIP_TABLES:
            continue
        if not session.is_modified(obj, include_collections=True):
            continue
        perm = _collection_changes(obj)
        if perm:
            events.append(("permission", obj, perm))
        cols = _column_changes(obj, "update")
        if cols:
            events.append(("update", obj, cols))
    for obj in list(session.deleted):
        if getattr(obj, "__tablename__", None) in _SKIP_TABLES:
            continue
        events.append(("delete", obj, _column_changes(obj, "delete")))
    pending = session.info.setdefault("audit_pending_ids", [])
    for action, obj, changes in events:
        ev = make_event(action, target_type=obj.__tablename__,
                        target_id=getattr(obj, "id", None), target_label=_label(obj),
                        enterprise_id=_enterprise_of(obj), changes=changes)
        session.add(ev)
        if ev.target_id is None:
            pending.append((ev, obj))


@event.listens_for(Session, "after_flush_postexec")
def _audit_fill_new_ids(session, flush_context):
    """New rows get their ids only at flush; commit flushes these updates too."""
    pending = session.info.pop("audit_pending_ids", [])
    for ev, obj in pending:
        if getattr(obj, "id", None) is not None:
            ev.target_id = str(obj.id)
            ev.target_label = _label(obj)
            if ev.enterprise_id is None:
                ev.enterprise_id = _enterprise_of(obj)


def _label(obj) -> str:
    try:
        return str(obj)[:255]
    except Exception:  # a half-built row may not render; the type and id still identify it
        return obj.__class__.__name__
