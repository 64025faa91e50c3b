"""Append-only audit trail (SPEC X10). No view or API offers edit or delete."""

from __future__ import annotations

import datetime

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, String, Text

AUDIT_ACTIONS = {
    "login": _l("Login"),
    "login_failed": _l("Failed login"),
    "logout": _l("Logout"),
    "create": _l("Create"),
    "update": _l("Update"),
    "delete": _l("Delete"),
    "permission": _l("Permission change"),
    "export": _l("Export"),
    "password": _l("Password change"),
    "password_reset": _l("Password reset"),
    "totp": _l("Two-factor change"),
    "transition": _l("Transition"),
    "upload": _l("Upload"),
}


class AuditEvent(Model):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_created_on", "created_on"),
        Index("ix_audit_event_enterprise_created", "enterprise_id", "created_on"),
    )
    id = Column(Integer, primary_key=True)
    created_on = Column(DateTime, default=datetime.datetime.now, nullable=False)
    action = Column(String(32), nullable=False, index=True)
    actor_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), nullable=True)
    actor_name = Column(String(128), nullable=True, index=True)
    ip = Column(String(64), nullable=True)
    target_type = Column(String(64), nullable=True, index=True)
    target_id = Column(String(64), nullable=True)
    target_label = Column(String(255), nullable=True)
    # Whose data it is: lets enterprise admins read their own trail through the same scope.
    enterprise_id = Column(Integer, ForeignKey("enterprise.id", ondelete="SET NULL"),
                           nullable=True)
    changes = Column(Text, nullable=True)  # JSON {field: [before, after]}
    detail = Column(String(500), nullable=True)

    @property
    def action_label(self) -> str:
        return str(AUDIT_ACTIONS.get(self.action, self.action))
