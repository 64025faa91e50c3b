"""Users (FAB's ab_user, extended), enterprise-defined roles and 2FA recovery codes."""

from __future__ import annotations

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import Role, User
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import relationship

from app.models.base import TenantMixin


class AppUser(User):
    """FAB user plus organisation membership, password-change flag and TOTP."""

    __tablename__ = "ab_user"
    enterprise_id = Column(Integer, ForeignKey("enterprise.id"), nullable=True, index=True)
    enterprise = relationship("Enterprise", foreign_keys=[enterprise_id])
    authority_id = Column(Integer, ForeignKey("authority.id"), nullable=True, index=True)
    authority = relationship("Authority", foreign_keys=[authority_id])
    must_change_password = Column(Boolean, nullable=False, default=True)
    password_changed_on = Column(DateTime, nullable=True)
    mobile = Column(String(20), nullable=True)
    totp_secret = Column(String(64), nullable=True)
    totp_enabled = Column(Boolean, nullable=False, default=False)
    totp_last_counter = Column(Integer, nullable=True)  # refuses a replayed code
    # Bumped on logout, password change/reset and 2FA reset: every older session cookie and
    # API token of the user stops working (see app.services.sessions).
    session_epoch = Column(Integer, nullable=False, default=0, server_default="0")

    def get_full_name(self) -> str:
        """Chinese names read family name first, without a space (陈志强)."""
        first, last = self.first_name or "", self.last_name or ""
        if any("\u4e00" <= ch <= "\u9fff" for ch in first + last):
            return f"{last}{first}"
        return f"{first} {last}".strip()

    def __repr__(self) -> str:
        return self.get_full_name()

    @property
    def organisation(self):
        return self.enterprise or self.authority


class EnterpriseRole(TenantMixin, Model):
    """A role an enterprise admin defines for its own staff. Backed by a FAB Role whose
    internal name is unique system-wide; the display name is unique per enterprise."""

    __tablename__ = "enterprise_role"
    __table_args__ = (UniqueConstraint("enterprise_id", "name", name="uq_enterprise_role_name"),)
    id = Column(Integer, primary_key=True)
    name = Column(String(64), nullable=False)
    description = Column(String(255))
    role_id = Column(Integer, ForeignKey("ab_role.id", ondelete="CASCADE"), nullable=False,
                     unique=True)
    role = relationship(Role, lazy="joined")
    enterprise = relationship("Enterprise")

    @property
    def permissions(self):
        """The FAB role's permission-views (what the form edits)."""
        if self.role is not None:
            return list(self.role.permissions)
        return list(getattr(self, "_pending_permissions", []))

    @permissions.setter
    def permissions(self, value):
        self._pending_permissions = list(value or [])
        if self.role is not None:
            self.role.permissions = list(value or [])

    def __str__(self) -> str:
        return self.name


class RecoveryCode(Model):
    __tablename__ = "totp_recovery_code"
    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False,
                     index=True)
    code_hash = Column(String(256), nullable=False)
    used_on = Column(DateTime, nullable=True)


class CaptchaChallenge(Model):
    """Server-side captcha answers: the session only holds the random id, the answer never
    leaves the server and a challenge is deleted on first use."""

    __tablename__ = "captcha_challenge"
    id = Column(String(64), primary_key=True)
    answer_hash = Column(String(64), nullable=False)
    created_on = Column(DateTime, nullable=False, index=True)
