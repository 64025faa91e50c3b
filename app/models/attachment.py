"""Uploaded files: metadata here, bytes under ATTACHMENT_DIR with a random name."""

from __future__ import annotations

import datetime

from flask_appbuilder import Model
from sqlalchemy import Column, DateTime, ForeignKey, Integer, String

from app.models.base import TenantMixin


class Attachment(TenantMixin, Model):
    __tablename__ = "attachment"
    id = Column(Integer, primary_key=True)
    original_name = Column(String(255), nullable=False)
    storage_name = Column(String(64), nullable=False, unique=True)
    mime_type = Column(String(64), nullable=False)
    size = Column(Integer, nullable=False)
    sha256 = Column(String(64), nullable=False)
    uploaded_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_on = Column(DateTime, default=datetime.datetime.now, nullable=False)

    def __str__(self) -> str:
        return self.original_name
