"""Published announcements (SPEC X18) for everyone, the public included: browse by category
and sector, search title and body, page through; the latest few for home pages.

    from app.services import announcements
    announcements.latest(limit=5, sectors=announcements.sectors_of(g.user))
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from sqlalchemy import func, or_, select

from app.extensions import db
from app.models.content import ANNOUNCEMENT_CATEGORIES, Announcement
from app.models.org import Sector

PAGE_SIZE = 15
QUERY_MAX = 100


def published(today: datetime.date | None = None):
    """Published announcements, pinned first, newest first."""
    today = today or datetime.date.today()
    return (db.session.query(Announcement)
            .filter(Announcement.published_on.isnot(None), Announcement.published_on <= today)
            .order_by(Announcement.pinned.desc(), Announcement.published_on.desc(),
                      Announcement.id.desc()))


@dataclass
class Page:
    items: list
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def search(q: str = "", category: str | None = None, sector: str | None = None,
           page: int = 1, page_size: int = PAGE_SIZE) -> Page:
    """Published announcements whose title or body contains every word of `q`, in a
    category (code) and a sector (code; announcements for all sectors always match)."""
    query = published()
    if category in ANNOUNCEMENT_CATEGORIES:
        query = query.filter(Announcement.category == category)
    if sector:
        sector_id = select(Sector.id).where(Sector.code == sector).scalar_subquery()
        query = query.filter(or_(Announcement.sector_id.is_(None),
                                 Announcement.sector_id == sector_id))
    for word in (q or "")[:QUERY_MAX].split():
        query = query.filter(or_(Announcement.title.icontains(word, autoescape=True),
                                 Announcement.body.icontains(word, autoescape=True)))
    total = query.order_by(None).with_entities(func.count(Announcement.id)).scalar()
    page = max(1, page)
    items = query.offset((page - 1) * page_size).limit(page_size).all()
    return Page(items=items, total=total, page=page, page_size=page_size)


def get_published(announcement_id: int) -> Announcement | None:
    return published().filter(Announcement.id == announcement_id).first()


def sectors_of(user) -> list[str] | None:
    """Sector codes an announcement list should be narrowed to for a user: its enterprise's
    or authority's sectors; None (no narrowing) for the public and system users.

    Read from the ids on the user row, not its `enterprise` / `authority` relationships: a
    user row loaded before the request's scope was known (the API's token check) would
    lazy-load them through that earlier, anonymous scope."""
    from app.models.org import authority_sector, enterprise_sector

    if user is None or not getattr(user, "is_authenticated", False):
        return None
    sector = Sector.__table__
    if getattr(user, "enterprise_id", None):
        link, key, value = enterprise_sector, "enterprise_id", user.enterprise_id
    elif getattr(user, "authority_id", None):
        link, key, value = authority_sector, "authority_id", user.authority_id
    else:
        return None
    query = (select(sector.c.code).join(link, link.c.sector_id == sector.c.id)
             .where(link.c[key] == value).order_by(sector.c.code))
    return list(db.session.execute(query).scalars())


def latest(limit: int = 5, sectors: list[str] | None = None,
           category: str | None = None) -> list[Announcement]:
    """The newest published announcements (pinned first); with `sectors`, those for all
    sectors or for one of them."""
    query = published()
    if category:
        query = query.filter(Announcement.category == category)
    if sectors is not None:
        ids = select(Sector.id).where(Sector.code.in_(sectors or [""]))
        query = query.filter(or_(Announcement.sector_id.is_(None),
                                 Announcement.sector_id.in_(ids)))
    return query.limit(limit).all()


def to_dict(item: Announcement, with_body: bool = False) -> dict:
    from app.services.richtext import plain_text

    data = {
        "id": item.id, "title": item.title, "category": item.category,
        "category_label": item.category_label,
        "sector": item.sector.code if item.sector is not None else None,
        "publisher": item.publisher,
        "published_on": item.published_on.isoformat() if item.published_on else None,
        "pinned": bool(item.pinned),
        "summary": plain_text(item.body, 120),
    }
    if with_body:
        data["body"] = item.body
    return data


__all__ = ["PAGE_SIZE", "Page", "get_published", "latest", "published", "search",
           "sectors_of", "to_dict"]
