"""The staff roster of a power enterprise (seed 002 §4.1 电力相关技术人员 / 专业技能人员, §4.7
人员变更): technical staff by title and electricians holding a 特种作业操作证（电工）.

An electrician's ID number is unique across the whole system while the person is on any
roster (a partial unique index: the database refuses a second enterprise, whatever the
path). Rows are proposed by a licence request or a personnel-change case and become active
only when it is approved; a person who leaves keeps the row (status "left") as history."""

from __future__ import annotations

import datetime

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Column, Date, DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import relationship

from app.models.base import TenantMixin
from app.models.licence import SECTOR, TITLES

TECHNICAL, ELECTRICIAN = "technical", "electrician"
STAFF_TYPES = {TECHNICAL: _l("Technical staff"), ELECTRICIAN: _l("Electrician")}

# proposed: added by a draft request or a join case, not yet approved; active: on the
# roster; leaving: a leave case is under review; left: history.
PROPOSED, ACTIVE, LEAVING, LEFT = "proposed", "active", "leaving", "left"
STAFF_STATES = {PROPOSED: _l("Awaiting approval"), ACTIVE: _l("On the roster"),
                LEAVING: _l("Leaving (under review)"), LEFT: _l("Left")}
ON_ROSTER = (ACTIVE, LEAVING)

GENDERS = {"M": _l("Male"), "F": _l("Female")}


def gender_of(id_number: str | None) -> str | None:
    """The 17th digit of a resident ID number: odd male, even female."""
    if id_number and len(id_number) == 18 and id_number[16].isdigit():
        return "M" if int(id_number[16]) % 2 else "F"
    return None

# 特种作业操作证（电工）: the special kinds the licence conditions count separately.
ELECTRICIAN_KINDS = {
    "low_voltage": _l("Low-voltage electrician"),
    "high_voltage": _l("High-voltage electrician"),
    "cable": _l("Power cable work"),
    "relay": _l("Relay protection work"),
    "test": _l("Electrical testing work"),
}
SPECIAL_KINDS = ("cable", "relay", "test")

# Partial unique index: one live roster row per electrician ID number, system-wide.
LIVE_ELECTRICIAN = "staff_type = 'electrician' AND status <> 'left'"


class PowerStaff(TenantMixin, Model):
    regulated_sector = SECTOR
    __tablename__ = "power_staff"
    __table_args__ = (
        Index("uq_power_staff_electrician_id", "id_number", unique=True,
              sqlite_where=text(LIVE_ELECTRICIAN), postgresql_where=text(LIVE_ELECTRICIAN)),
        Index("ix_power_staff_roster", "enterprise_id", "staff_type", "status"),
        Index("ix_power_staff_id_number", "id_number"),
    )
    id = Column(Integer, primary_key=True)
    staff_type = Column(String(12), nullable=False)
    status = Column(String(12), nullable=False, default=PROPOSED)
    name = Column(String(64), nullable=False)
    id_number = Column(String(18), nullable=False)
    gender = Column(String(1))
    # Technical staff: title and specialty. Electricians: certificate kind, number, issuer.
    title = Column(String(16))
    specialty = Column(String(64))
    certificate_kind = Column(String(16))
    certificate_no = Column(String(32))
    certificate_issuer = Column(String(64))
    # What proposed the row (a licence request draft, a personnel-change case) and what
    # made it leave.
    request_id = Column(Integer, ForeignKey("power_request.id", ondelete="CASCADE"),
                        index=True)
    case_id = Column(Integer, ForeignKey("application.id", ondelete="SET NULL"))
    joined_on = Column(Date)
    left_on = Column(Date)
    created_on = Column(DateTime, default=datetime.datetime.now, nullable=False)
    attachment_id = Column(Integer, ForeignKey("attachment.id", ondelete="RESTRICT"))
    attachment = relationship("Attachment", lazy="select")
    enterprise = relationship("Enterprise", lazy="select")

    @property
    def staff_type_label(self) -> str:
        return str(STAFF_TYPES.get(self.staff_type, self.staff_type))

    @property
    def status_label(self) -> str:
        return str(STAFF_STATES.get(self.status, self.status))

    @property
    def gender_label(self) -> str:
        """The recorded gender, else the one the ID number gives."""
        return str(GENDERS.get(self.gender or gender_of(self.id_number), ""))

    @property
    def title_label(self) -> str:
        return str(TITLES.get(self.title, self.title or ""))

    @property
    def certificate_kind_label(self) -> str:
        return str(ELECTRICIAN_KINDS.get(self.certificate_kind, self.certificate_kind or ""))

    def __str__(self) -> str:
        return self.name
