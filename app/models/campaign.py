"""Self-inspection campaigns (seed 002 "企业自查", SPEC P15).

An authority defines a campaign (year, questions as a data-driven form definition, the
attachments every enterprise must upload) and launches it: every enterprise holding a
current licence in its jurisdiction gets a draft return, fills it, submits it; the authority
accepts it or returns it with an opinion. Operations: app/services/campaigns.py."""

from __future__ import annotations

import datetime

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import relationship

from app.models.base import TenantMixin
from app.models.licence import SECTOR

# Campaign states.
DRAFT, LAUNCHED, CLOSED = "draft", "launched", "closed"
CAMPAIGN_STATES = {DRAFT: _l("Draft"), LAUNCHED: _l("Launched"), CLOSED: _l("Closed")}

# Return states: the enterprise fills a draft and submits it; the authority accepts it or
# returns it for correction (the enterprise may then edit and submit again).
SUBMITTED, RETURNED, ACCEPTED = "submitted", "returned", "accepted"
RETURN_STATES = {DRAFT: _l("Not submitted"), SUBMITTED: _l("Submitted"),
                 RETURNED: _l("Returned for correction"), ACCEPTED: _l("Accepted")}
EDITABLE_STATES = (DRAFT, RETURNED)  # what the enterprise may still change and submit
NOT_SUBMITTED_STATES = (DRAFT, RETURNED)  # what the tracking page lists as outstanding


class InspectionCampaign(Model):
    """A self-inspection campaign of one authority. `questions` is a form definition
    (app/services/form_definitions.py); `attachments` the named upload slots every return
    must fill: [{"key": "a1", "label": "安全生产责任制文件", "help": "..."}]."""

    __tablename__ = "power_campaign"
    __table_args__ = (Index("ix_power_campaign_authority", "authority_id", "state"),)
    id = Column(Integer, primary_key=True)
    authority_id = Column(Integer, ForeignKey("authority.id", ondelete="RESTRICT"),
                          nullable=False)
    authority = relationship("Authority", lazy="joined")
    sector = Column(String(16), nullable=False, default=SECTOR)
    year = Column(Integer, nullable=False)
    title = Column(String(200), nullable=False)
    instructions = Column(Text)
    questions = Column(JSON, nullable=False, default=dict)
    attachments = Column(JSON, nullable=False, default=list)
    opens_on = Column(Date)
    due_on = Column(Date, nullable=False)
    state = Column(String(12), nullable=False, default=DRAFT)
    launched_on = Column(DateTime)
    closed_on = Column(DateTime)
    created_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_by = relationship("AppUser", lazy="select", foreign_keys=[created_by_id])
    created_on = Column(DateTime, default=datetime.datetime.now, nullable=False)
    changed_on = Column(DateTime, default=datetime.datetime.now,
                        onupdate=datetime.datetime.now, nullable=False)

    @property
    def state_label(self) -> str:
        return str(CAMPAIGN_STATES.get(self.state, self.state))

    @property
    def attachment_slots(self) -> list[dict]:
        return list(self.attachments or [])

    def slot_label(self, key: str) -> str:
        from app.services.form_definitions import text

        for slot in self.attachment_slots:
            if slot.get("key") == key:
                return text(slot.get("label"))
        return key

    def __str__(self) -> str:
        return self.title


class InspectionReturn(TenantMixin, Model):
    """One enterprise's answers to a campaign (自查表): created as a draft at launch."""

    regulated_sector = SECTOR
    __tablename__ = "power_campaign_return"
    __table_args__ = (
        UniqueConstraint("campaign_id", "enterprise_id", name="uq_power_campaign_return"),
        Index("ix_power_campaign_return_state", "campaign_id", "state"),
    )
    id = Column(Integer, primary_key=True)
    campaign_id = Column(Integer, ForeignKey("power_campaign.id", ondelete="CASCADE"),
                         nullable=False)
    campaign = relationship("InspectionCampaign", lazy="joined")
    enterprise = relationship("Enterprise", lazy="joined")
    answers = Column(JSON, nullable=False, default=dict)
    state = Column(String(12), nullable=False, default=DRAFT)
    submitted_on = Column(DateTime)
    submitted_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    reviewed_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    reviewed_by = relationship("AppUser", lazy="select", foreign_keys=[reviewed_by_id])
    reviewed_on = Column(DateTime)
    opinion = Column(Text)
    created_on = Column(DateTime, default=datetime.datetime.now, nullable=False)
    changed_on = Column(DateTime, default=datetime.datetime.now,
                        onupdate=datetime.datetime.now, nullable=False)
    # Two reviewers deciding at once: one wins, the other gets a conflict.
    version = Column(Integer, nullable=False, default=1)
    files = relationship("InspectionReturnFile", lazy="selectin", cascade="all, delete-orphan",
                         order_by="InspectionReturnFile.id", back_populates="inspection_return")

    __mapper_args__ = {"version_id_col": version}

    @property
    def state_label(self) -> str:
        return str(RETURN_STATES.get(self.state, self.state))

    @property
    def editable(self) -> bool:
        return self.state in EDITABLE_STATES

    def files_in(self, slot: str) -> list:
        return [f for f in self.files if f.slot == slot]

    def __str__(self) -> str:
        return f"{self.campaign.title if self.campaign else ''} #{self.id}"


class InspectionReturnFile(TenantMixin, Model):
    """An uploaded file for one of the campaign's attachment slots."""

    regulated_sector = SECTOR
    __tablename__ = "power_campaign_return_file"
    id = Column(Integer, primary_key=True)
    return_id = Column(Integer, ForeignKey("power_campaign_return.id", ondelete="CASCADE"),
                       nullable=False, index=True)
    inspection_return = relationship("InspectionReturn", back_populates="files")
    slot = Column(String(32), nullable=False)
    attachment_id = Column(Integer, ForeignKey("attachment.id", ondelete="RESTRICT"),
                           nullable=False)
    attachment = relationship("Attachment", lazy="joined")
    created_on = Column(DateTime, default=datetime.datetime.now, nullable=False)
