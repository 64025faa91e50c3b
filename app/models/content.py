"""Shared content (SPEC X15, X18): announcements published by authorities and the per-user
notifications behind the inbox.

Neither table is enterprise-owned: announcements are public once published, notifications
belong to one user and every query filters on that user explicitly
(app/services/notify.py)."""

from __future__ import annotations

import datetime

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import relationship, validates

# Announcement categories (data: code -> label). The order is the order of the browse tabs.
ANNOUNCEMENT_CATEGORIES = {
    "notice": _l("Notices"),
    "policy": _l("Policies and regulations"),
    "guide": _l("Service guides"),
    "faq": _l("Questions and answers"),
    "news": _l("Work updates"),
    "publicity": _l("Public notices"),
}


class Announcement(Model):
    """An announcement (通知公告, 政策法规, 办事指南 ...). `published_on` empty: a draft only its
    publisher sees; in the future: scheduled. `sector` empty: for every sector.
    `body` is sanitised HTML (plain text is turned into paragraphs on the way in)."""

    __tablename__ = "announcement"
    __table_args__ = (
        Index("ix_announcement_listing", "pinned", "published_on", "id"),
        Index("ix_announcement_category", "category", "published_on"),
    )
    id = Column(Integer, primary_key=True)
    title = Column(String(200), nullable=False)
    body = Column(Text, nullable=False, default="")
    category = Column(String(24), nullable=False, default="notice")
    sector_id = Column(Integer, ForeignKey("sector.id", ondelete="SET NULL"), nullable=True,
                       index=True)
    sector = relationship("Sector", lazy="joined")
    # Publisher; empty for platform announcements by a system admin.
    authority_id = Column(Integer, ForeignKey("authority.id", ondelete="SET NULL"),
                          nullable=True, index=True)
    authority = relationship("Authority", lazy="select")
    # The publisher's name as published: readable by the public, whom the tenancy scope
    # does not let load authorities.
    publisher_name = Column(String(200))
    published_on = Column(Date, nullable=True)
    pinned = Column(Boolean, nullable=False, default=False)
    created_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_by = relationship("AppUser", foreign_keys=[created_by_id])
    created_on = Column(DateTime, default=datetime.datetime.now, nullable=False)
    changed_on = Column(DateTime, default=datetime.datetime.now,
                        onupdate=datetime.datetime.now, nullable=False)

    @validates("body")
    def _sanitise_body(self, _key, value):
        # Every write path (form, API, import, demo) stores clean HTML.
        from app.services.richtext import to_safe_html

        return to_safe_html(value)

    @property
    def category_label(self) -> str:
        return str(ANNOUNCEMENT_CATEGORIES.get(self.category, self.category))

    @property
    def sector_label(self) -> str:
        return self.sector.label if self.sector is not None else str(_l("All sectors"))

    @property
    def publisher(self) -> str:
        return self.publisher_name or str(_l("Platform"))

    @property
    def is_published(self) -> bool:
        return self.published_on is not None and self.published_on <= datetime.date.today()

    @property
    def status_label(self) -> str:
        if self.published_on is None:
            return str(_l("Draft"))
        if not self.is_published:
            return str(_l("Scheduled"))
        return str(_l("Published"))

    def __str__(self) -> str:
        return self.title or ""


class Notification(Model):
    """A notice to one user (a case was decided, returned, ...). Read once `read_on` is set."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_user_read", "user_id", "read_on", "id"),)
    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False)
    title = Column(String(200), nullable=False)
    body = Column(Text)
    link = Column(String(500))  # a path inside the portal, e.g. /applications/show/12
    created_on = Column(DateTime, default=datetime.datetime.now, nullable=False)
    read_on = Column(DateTime)

    @property
    def unread(self) -> bool:
        return self.read_on is None

    def __str__(self) -> str:
        return self.title or ""
