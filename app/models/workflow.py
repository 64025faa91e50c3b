"""Workflow cases (DESIGN.md "Workflows are declarative"): one generic case table for every
module's applications, their transition history, and per-year certificate counters.

Only app/workflows/engine.py assigns `Application.state`."""

from __future__ import annotations

import datetime

from flask_appbuilder import Model
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import relationship

from app.models.base import TenantMixin

application_attachment = Table(
    "application_attachment",
    Model.metadata,
    Column("application_id", Integer, ForeignKey("application.id", ondelete="CASCADE"),
           primary_key=True),
    Column("attachment_id", Integer, ForeignKey("attachment.id", ondelete="RESTRICT"),
           primary_key=True),
)

transition_attachment = Table(
    "transition_attachment",
    Model.metadata,
    Column("transition_id", Integer, ForeignKey("transition_log.id", ondelete="CASCADE"),
           primary_key=True),
    Column("attachment_id", Integer, ForeignKey("attachment.id", ondelete="RESTRICT"),
           primary_key=True),
)


class Application(TenantMixin, Model):
    """A case: what is asked (kind + payload), about what (subject_id, typed by the kind's
    workflow), where it stands (state, deadline) and who handles it."""

    __tablename__ = "application"
    __table_args__ = (
        Index("ix_application_queue", "state", "deadline"),
        Index("ix_application_kind_subject", "kind", "subject_id"),
    )
    id = Column(Integer, primary_key=True)
    reference = Column(String(24), unique=True, nullable=False)
    kind = Column(String(40), nullable=False, index=True)
    subject_id = Column(Integer)
    title = Column(String(200), nullable=False)
    payload = Column(JSON, nullable=False, default=dict)
    state = Column(String(24), nullable=False)
    variant = Column(String(24))
    channel = Column(String(16), nullable=False, default="online")  # online | counter
    # Public applicants (no account yet) prove ownership with a code shown once at submission.
    access_code_hash = Column(String(255))
    submitted_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    submitted_by = relationship("AppUser", foreign_keys=[submitted_by_id], lazy="joined")
    submitted_on = Column(DateTime)
    deadline = Column(Date)
    # Staged reviews: the limit of the current stage (acceptance, examination, decision).
    stage_deadline = Column(Date)
    assignee_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    assignee = relationship("AppUser", foreign_keys=[assignee_id], lazy="joined")
    decided_on = Column(DateTime)
    last_opinion = Column(Text)
    created_on = Column(DateTime, default=datetime.datetime.now, nullable=False)
    changed_on = Column(DateTime, default=datetime.datetime.now,
                        onupdate=datetime.datetime.now, nullable=False)
    version = Column(Integer, nullable=False)
    enterprise = relationship("Enterprise", lazy="joined")
    attachments = relationship("Attachment", secondary=application_attachment,
                               lazy="selectin")
    history = relationship("TransitionLog", back_populates="application",
                           order_by="TransitionLog.id", lazy="selectin",
                           cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}

    @property
    def overdue(self) -> bool:
        from app.workflows.engine import is_overdue

        return is_overdue(self)

    @property
    def kind_label(self) -> str:
        from app.workflows.engine import kind_label

        return kind_label(self.kind)

    @property
    def state_label(self) -> str:
        from app.workflows.engine import workflow_for

        return workflow_for(self.kind).state_label(self.state)

    @property
    def variant_label(self) -> str:
        from app.workflows.engine import workflow_for

        return workflow_for(self.kind).variant_label(self.variant)

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"


class TransitionLog(TenantMixin, Model):
    """Append-only: who fired which transition when, from and to which state, with what
    opinion and attachments."""

    __tablename__ = "transition_log"
    id = Column(Integer, primary_key=True)
    application_id = Column(Integer, ForeignKey("application.id", ondelete="CASCADE"),
                            nullable=False, index=True)
    application = relationship("Application", back_populates="history")
    name = Column(String(32), nullable=False)
    from_state = Column(String(24))
    to_state = Column(String(24), nullable=False)
    actor_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    actor_name = Column(String(128), nullable=False)
    on_behalf = Column(Boolean, nullable=False, default=False)
    at = Column(DateTime, default=datetime.datetime.now, nullable=False)
    opinion = Column(Text)
    attachments = relationship("Attachment", secondary=transition_attachment,
                               lazy="selectin")


class CertificateCounter(Model):
    """Last number issued per (kind, year): certificate numbers are sequential per year."""

    __tablename__ = "certificate_counter"
    kind = Column(String(24), primary_key=True)
    year = Column(Integer, primary_key=True)
    last = Column(Integer, nullable=False, default=0)

