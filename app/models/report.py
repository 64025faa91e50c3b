"""Shared by every module with periodic reports (used-car, finance): the authority's
per-enterprise extension of a report window (app/workflows/windows.py)."""

from __future__ import annotations

import datetime

from flask_appbuilder import Model
from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import relationship

from app.models.base import TenantMixin


class ReportExtension(TenantMixin, Model):
    """An authority lets one enterprise submit one report after its window (shared by every
    module with report windows: kind is the windows.py key)."""

    __tablename__ = "report_extension"
    __table_args__ = (UniqueConstraint("enterprise_id", "kind", "period_key",
                                       name="uq_report_extension"),)
    id = Column(Integer, primary_key=True)
    kind = Column(String(24), nullable=False)
    period_key = Column(String(8), nullable=False)  # "2026-10", "2026Q3", "2026"
    until = Column(DateTime, nullable=False)
    reason = Column(Text, nullable=False)
    granted_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    granted_on = Column(DateTime, default=datetime.datetime.now, nullable=False)
    enterprise = relationship("Enterprise", lazy="joined")
