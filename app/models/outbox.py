"""Mail that could not go out over SMTP (no MAIL_SERVER): system admins read it here."""

from __future__ import annotations

import datetime

from flask_appbuilder import Model
from sqlalchemy import Column, DateTime, Integer, String, Text


class OutboxMessage(Model):
    __tablename__ = "outbox_message"
    id = Column(Integer, primary_key=True)
    created_on = Column(DateTime, default=datetime.datetime.now, nullable=False)
    recipient = Column(String(320), nullable=False)
    subject = Column(String(255), nullable=False)
    body = Column(Text, nullable=False)
