"""Notifications (SPEC X15 "notices"): what workflows call to tell users something happened.

    from app.services import notify
    notify.notify_enterprise(case.enterprise_id, gettext("Application approved"),
                             body=opinion, link=inbox.case_url(case.id))
    db.session.commit()   # the caller commits once, with its own change

Notifications are per user: every read and every change filters on the user's id, so another
user's notification answers "not found". Rows are written with one bulk INSERT (no per-row
audit event: a notice is a consequence of an audited change, not a change of its own).
"""

from __future__ import annotations

import datetime

from sqlalchemy import func, insert, select, update

from app.extensions import db
from app.models.base import unscoped
from app.models.content import Notification

TITLE_MAX = 200
LINK_MAX = 500


class NotificationLinkError(ValueError):
    """A notification link must be a path inside the portal ("/..."), never another site."""


def _user_ids(users) -> list[int]:
    if users is None:
        return []
    if isinstance(users, int) or hasattr(users, "id"):
        users = [users]
    ids: list[int] = []
    for u in users:
        uid = u if isinstance(u, int) else getattr(u, "id", None)
        if uid is not None and uid not in ids:
            ids.append(int(uid))
    return ids


def check_link(link: str | None) -> str | None:
    if link is None or link == "":
        return None
    link = str(link)
    if (not link.startswith("/") or link.startswith("//") or link.startswith("/\\")
            or any(ch in link for ch in "\r\n\t") or len(link) > LINK_MAX):
        raise NotificationLinkError(link)
    return link


def notify(user_or_users, title: str, body: str | None = None,
           link: str | None = None) -> int:
    """One notification per user (a user, a user id, or an iterable of either).
    Returns how many were added to the session's transaction; the caller commits."""
    ids = _user_ids(user_or_users)
    if not ids:
        return 0
    link = check_link(link)
    now = datetime.datetime.now()
    rows = [{"user_id": uid, "title": str(title)[:TITLE_MAX], "body": body and str(body),
             "link": link, "created_on": now} for uid in ids]
    db.session.execute(insert(Notification), rows)
    return len(rows)


def enterprise_user_ids(enterprise_id: int) -> list[int]:
    """Active users of an enterprise, whoever asks (a regulator deciding a case cannot see
    them through its own scope)."""
    from app.models.identity import AppUser

    users = AppUser.__table__
    with unscoped():
        return list(db.session.execute(
            select(users.c.id).where(users.c.enterprise_id == enterprise_id,
                                     users.c.active.is_(True)).order_by(users.c.id)
        ).scalars())


def regulator_user_ids(enterprise_id: int) -> list[int]:
    """Active Regulator-role users of every authority whose jurisdiction (a shared sector,
    region under the authority's region) covers the enterprise."""
    from flask_appbuilder.security.sqla.models import (
        Role,
        assoc_group_role,
        assoc_user_group,
        assoc_user_role,
    )

    from app.models.identity import AppUser
    from app.models.org import Authority, Enterprise, authority_sector, enterprise_sector
    from app.security import ROLE_REGULATOR

    ent, auth, users, roles = (Enterprise.__table__, Authority.__table__, AppUser.__table__,
                               Role.__table__)
    authorities = (
        select(auth.c.id)
        .join(authority_sector, authority_sector.c.authority_id == auth.c.id)
        .join(enterprise_sector, enterprise_sector.c.sector_id == authority_sector.c.sector_id)
        .join(ent, ent.c.id == enterprise_sector.c.enterprise_id)
        .where(ent.c.id == enterprise_id, ent.c.region_code.startswith(auth.c.region_prefix))
    )
    regulator_role = select(roles.c.id).where(roles.c.name == ROLE_REGULATOR)
    direct = select(assoc_user_role.c.user_id).where(
        assoc_user_role.c.role_id.in_(regulator_role))
    via_group = select(assoc_user_group.c.user_id).join(
        assoc_group_role, assoc_group_role.c.group_id == assoc_user_group.c.group_id
    ).where(assoc_group_role.c.role_id.in_(regulator_role))
    query = select(users.c.id).where(
        users.c.active.is_(True), users.c.authority_id.in_(authorities),
        users.c.id.in_(direct.union(via_group))).order_by(users.c.id)
    with unscoped():
        return list(db.session.execute(query).scalars())


def notify_enterprise(enterprise_id: int, title: str, body: str | None = None,
                      link: str | None = None, exclude=None) -> int:
    """Every active user of the enterprise (e.g. on approve / reject / return)."""
    skip = set(_user_ids(exclude))
    return notify([u for u in enterprise_user_ids(enterprise_id) if u not in skip],
                  title, body, link)


def notify_regulators(enterprise_id: int, title: str, body: str | None = None,
                      link: str | None = None, exclude=None) -> int:
    """The regulators in charge of the enterprise (e.g. a case was submitted)."""
    skip = set(_user_ids(exclude))
    return notify([u for u in regulator_user_ids(enterprise_id) if u not in skip],
                  title, body, link)


# ----- reading and marking: always the given user's own rows ------------------------------
def notifications_for(user_id: int, limit: int = 20, offset: int = 0,
                      unread_only: bool = False) -> list[Notification]:
    q = db.session.query(Notification).filter(Notification.user_id == user_id)
    if unread_only:
        q = q.filter(Notification.read_on.is_(None))
    return q.order_by(Notification.id.desc()).offset(offset).limit(limit).all()


def count_for(user_id: int, unread_only: bool = False) -> int:
    q = select(func.count(Notification.id)).where(Notification.user_id == user_id)
    if unread_only:
        q = q.where(Notification.read_on.is_(None))
    return db.session.execute(q).scalar_one()


def unread_count(user_id: int | None) -> int:
    if not user_id:
        return 0
    return count_for(user_id, unread_only=True)


def get_own(user_id: int, notification_id: int) -> Notification | None:
    return db.session.query(Notification).filter(
        Notification.id == notification_id, Notification.user_id == user_id).first()


def mark_read(user_id: int, notification_id: int) -> bool:
    """False when the notification is not the user's (or does not exist). Caller commits."""
    result = db.session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.user_id == user_id)
        .values(read_on=func.coalesce(Notification.read_on, datetime.datetime.now()))
        .execution_options(synchronize_session=False))
    return result.rowcount > 0


def mark_all_read(user_id: int) -> int:
    result = db.session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_on.is_(None))
        .values(read_on=datetime.datetime.now())
        .execution_options(synchronize_session=False))
    return result.rowcount


def to_dict(n: Notification) -> dict:
    return {"id": n.id, "title": n.title, "body": n.body, "link": n.link,
            "created_on": n.created_on.isoformat(timespec="seconds") if n.created_on else None,
            "read_on": n.read_on.isoformat(timespec="seconds") if n.read_on else None}


__all__ = ["NotificationLinkError", "check_link", "count_for", "enterprise_user_ids",
           "get_own", "mark_all_read", "mark_read", "notifications_for", "notify",
           "notify_enterprise", "notify_regulators", "regulator_user_ids", "to_dict",
           "unread_count"]
