"""Power-facility licensing (seed 002, SPEC P1-P16): the power enterprise's registration
profile, licence applications (typed detail of the workflow cases: materials, equity, key
persons, project records), licences as linked versions, the licence conditions and the credit
register the authority maintains, and 容缺 deadlines missed.

A licence changes only through an approved case; each approval writes a new `Licence` row
linked to the previous one (same number), and certificates are issued per version."""

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
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import relationship

from app.models.base import TenantMixin
from app.models.locks import allow_changes, lock_fields, own_id
from app.models.org import Enterprise

SECTOR = "power"

# 承装 / 承修 / 承试, each licensed at a level 一级 (highest) ... 五级.
CATEGORIES = {
    "install": _l("Installation (承装)"),
    "repair": _l("Repair (承修)"),
    "test": _l("Testing (承试)"),
}
LEVELS = {1: _l("Class 1"), 2: _l("Class 2"), 3: _l("Class 3"), 4: _l("Class 4"),
          5: _l("Class 5")}

# What a licence request asks for (seed §4.1-4.6).
NEW, REGISTRATION_CHANGE, ITEM_CHANGE, RENEWAL, REPLACEMENT, CANCELLATION = (
    "new", "registration_change", "item_change", "renewal", "replacement", "cancellation")
MATTERS = {
    NEW: _l("New licence"),
    REGISTRATION_CHANGE: _l("Registration-item change"),
    ITEM_CHANGE: _l("Licence-item change"),
    RENEWAL: _l("Licence renewal"),
    REPLACEMENT: _l("Licence replacement or reissue"),
    CANCELLATION: _l("Licence cancellation"),
}
# Matters that are about an existing licence (all but the first application).
LICENCE_MATTERS = (REGISTRATION_CHANGE, ITEM_CHANGE, RENEWAL, REPLACEMENT, CANCELLATION)
# Matters whose request carries the full staffing and project sections (P4).
FULL_MATTERS = (NEW, ITEM_CHANGE, RENEWAL)

NATURES = {"new": _l("New application"), "merger": _l("Application after a merger"),
           "split": _l("Application after a split")}
SUBMITTER_KINDS = {"legal": _l("The legal representative"), "delegate": _l("A delegate")}

# Routes (the engine's variants): ordinary, 容缺受理 (accepted with named materials missing),
# 自贸区 (free-trade-zone pilot: reduced materials and limits).
# The case's variant is the route (None for the ordinary route).
ROUTE_NORMAL, ROUTE_TOLERANCE, ROUTE_FTZ = "normal", "tolerance", "ftz"
ROUTES = {ROUTE_NORMAL: _l("Ordinary route"),
          ROUTE_TOLERANCE: _l("Acceptance with materials missing (容缺受理)"),
          ROUTE_FTZ: _l("Free-trade-zone route")}

DRAFT, SUBMITTED, ABANDONED, CLOSED = "draft", "submitted", "abandoned", "closed"
REQUEST_STATES = {DRAFT: _l("Draft"), SUBMITTED: _l("Submitted"),
                  ABANDONED: _l("Abandoned"), CLOSED: _l("Closed")}

# Enterprise types of the registration form (企业类型).
ENTERPRISE_TYPES = {
    "state_owned": _l("State-owned enterprise"),
    "collective": _l("Collective enterprise"),
    "private": _l("Private enterprise"),
    "joint_stock": _l("Joint-stock company"),
    "limited": _l("Limited liability company"),
    "foreign": _l("Foreign-invested enterprise"),
    "other": _l("Other type of enterprise"),
}

# Licence versions.
CURRENT, SUPERSEDED, CANCELLED = "current", "superseded", "cancelled"
LICENCE_STATES = {CURRENT: _l("Current"), SUPERSEDED: _l("Superseded"),
                  CANCELLED: _l("Cancelled")}
LICENCE_YEARS = 6  # a licence is valid for six years (办法 第二十五条)


def categories_text(categories: dict | None) -> str:
    """{"install": 3, "test": 5} -> "承装三级、承试五级" in the UI language."""
    parts = []
    for code in CATEGORIES:
        level = (categories or {}).get(code)
        if level:
            parts.append(f"{CATEGORIES[code]} {LEVELS.get(int(level), level)}")
    return "、".join(parts)


class PowerProfile(TenantMixin, Model):
    """Registration data of a power enterprise (P1) beyond the Enterprise row, whose name,
    legal representative and address (营业执照地址) change only by a registration-item
    change (P7)."""

    regulated_sector = SECTOR
    __tablename__ = "power_profile"
    __table_args__ = (UniqueConstraint("enterprise_id", name="uq_power_profile_enterprise"),)
    id = Column(Integer, primary_key=True)
    enterprise_type = Column(String(24), nullable=False)
    # 上级企业: another registered enterprise (only its name is ever shown).
    parent_id = Column(Integer, ForeignKey("enterprise.id", ondelete="SET NULL"))
    registered_capital = Column(Numeric(14, 2))  # 10k CNY
    founded_on = Column(Date)
    postal_address = Column(String(255))
    postcode = Column(String(6))
    telephone = Column(String(20))
    email = Column(String(120))
    enterprise = relationship("Enterprise", foreign_keys="PowerProfile.enterprise_id",
                              lazy="joined")

    @property
    def enterprise_type_label(self) -> str:
        return str(ENTERPRISE_TYPES.get(self.enterprise_type, self.enterprise_type))

    @property
    def parent_name(self) -> str | None:
        """The 上级企业's name (only its name: another tenant's row, read unscoped)."""
        if not self.parent_id:
            return None
        from sqlalchemy import select
        from sqlalchemy.orm import object_session

        from app.models.base import unscoped

        session = object_session(self)
        with unscoped():
            return session.execute(select(Enterprise.name).where(
                Enterprise.id == self.parent_id)).scalar_one_or_none() if session else None


# P2 / P7: a power enterprise's type, name, legal representative and business-licence address
# change only by an approved registration-item change: refused at flush on every other path
# (app/models/locks.py); the approval applies them inside `registration_change_allowed`.
REGISTRATION_CHANGE_ALLOWANCE = "registration_change"
# Enterprise columns locked for power enterprises (region_code: the district of the address).
LOCKED_ENTERPRISE_FIELDS = ("name", "legal_representative", "address", "region_code")


def locked_message() -> str:
    from flask_babel import gettext

    return gettext("The enterprise type, enterprise name, legal representative and "
                   "business-licence address cannot be changed here: they change only "
                   "through a registration-item change (登记事项变更).")


def has_power_profile(session, enterprise_id) -> bool:
    return session.query(PowerProfile.id).filter_by(
        enterprise_id=enterprise_id).first() is not None


lock_fields(Enterprise, LOCKED_ENTERPRISE_FIELDS, message=locked_message,
            applies=has_power_profile, allowance=REGISTRATION_CHANGE_ALLOWANCE,
            enterprise_of=own_id)
lock_fields(PowerProfile, ("enterprise_type",), message=locked_message,
            allowance=REGISTRATION_CHANGE_ALLOWANCE)


def registration_change_allowed(enterprise_id: int, session=None):
    """The approved registration-item change (app/services/licences.py) changes the locked
    fields of this one enterprise: `with registration_change_allowed(ent.id): ...`; the
    changes are flushed before the block ends. Nothing else may use it."""
    return allow_changes(REGISTRATION_CHANGE_ALLOWANCE, enterprise_id, session)


class Licence(TenantMixin, Model):
    """One version of a 承装（修、试）电力设施许可证. Versions of a licence share its number;
    exactly one is current until the licence is cancelled."""

    regulated_sector = SECTOR
    __tablename__ = "power_licence"
    __table_args__ = (
        UniqueConstraint("number", "version", name="uq_power_licence_version"),
        Index("ix_power_licence_state", "status", "expires_on"),
    )
    id = Column(Integer, primary_key=True)
    number = Column(String(24), nullable=False, index=True)
    version = Column(Integer, nullable=False, default=1)
    previous_id = Column(Integer, ForeignKey("power_licence.id", ondelete="RESTRICT"))
    previous = relationship("Licence", remote_side=[id], lazy="select")
    status = Column(String(12), nullable=False, default=CURRENT)
    categories = Column(JSON, nullable=False, default=dict)  # {"install": 3, ...}
    # The holder as printed on this version (a registration-item change reprints it).
    holder_name = Column(String(200), nullable=False)
    uscc = Column(String(18))
    legal_representative = Column(String(64))
    address = Column(String(255))
    issued_on = Column(Date, nullable=False)
    expires_on = Column(Date, nullable=False)
    # What made this version (the matter) and the case that approved it.
    matter = Column(String(24), nullable=False, default=NEW)
    case_id = Column(Integer, ForeignKey("application.id", ondelete="SET NULL"))
    superseded_on = Column(DateTime)
    # Not joined: lists show the holder as printed on the version.
    enterprise = relationship("Enterprise", lazy="select")

    @property
    def categories_text(self) -> str:
        return categories_text(self.categories)

    @property
    def status_label(self) -> str:
        return str(LICENCE_STATES.get(self.status, self.status))

    @property
    def matter_label(self) -> str:
        return str(MATTERS.get(self.matter, self.matter))

    def __str__(self) -> str:
        return f"{self.number} (v{self.version})"


class LicenceRequest(TenantMixin, Model):
    """A licence matter being prepared (draft) and then reviewed (its case): the typed detail
    of the case (DESIGN.md: rich applications keep their detail tables linked to the case)."""

    regulated_sector = SECTOR
    __tablename__ = "power_request"
    __table_args__ = (Index("ix_power_request_state", "enterprise_id", "state"),)
    id = Column(Integer, primary_key=True)
    matter = Column(String(24), nullable=False)
    route = Column(String(12), nullable=False, default=ROUTE_NORMAL)
    state = Column(String(12), nullable=False, default=DRAFT)
    licence_id = Column(Integer, ForeignKey("power_licence.id", ondelete="RESTRICT"))
    licence = relationship("Licence", lazy="joined")
    case_id = Column(Integer, ForeignKey("application.id", ondelete="SET NULL"), unique=True)
    case = relationship("Application", lazy="select")
    categories = Column(JSON, nullable=False, default=dict)
    nature = Column(String(12), nullable=False, default="new")
    submitter_kind = Column(String(12), nullable=False, default="legal")
    submitter_name = Column(String(64))
    submitter_id_number = Column(String(18))
    # Matter-specific data: registration-change items, downgrade, replacement reason,
    # cancellation matters, 容缺 missing materials and deadline.
    details = Column(JSON, nullable=False, default=dict)
    created_on = Column(DateTime, default=datetime.datetime.now, nullable=False)
    changed_on = Column(DateTime, default=datetime.datetime.now,
                        onupdate=datetime.datetime.now, nullable=False)
    submitted_on = Column(DateTime)
    materials = relationship("RequestMaterial", lazy="selectin", cascade="all, delete-orphan",
                             order_by="RequestMaterial.id")
    equity = relationship("EquityHolder", lazy="select", cascade="all, delete-orphan",
                          order_by="EquityHolder.id")
    key_persons = relationship("KeyPerson", lazy="selectin", cascade="all, delete-orphan",
                               order_by="KeyPerson.id")
    projects = relationship("ProjectRecord", lazy="select", cascade="all, delete-orphan",
                            order_by="ProjectRecord.id")
    enterprise = relationship("Enterprise", lazy="select")

    @property
    def matter_label(self) -> str:
        return str(MATTERS.get(self.matter, self.matter))

    @property
    def route_label(self) -> str:
        return str(ROUTES.get(self.route, self.route))

    @property
    def state_label(self) -> str:
        return str(REQUEST_STATES.get(self.state, self.state))

    @property
    def categories_text(self) -> str:
        return categories_text(self.categories)

    def key_person(self, role: str):
        return next((p for p in self.key_persons if p.role == role), None)

    def materials_in(self, slot: str) -> list:
        return [m for m in self.materials if m.slot == slot]


class RequestMaterial(TenantMixin, Model):
    """An uploaded file for one of the request's material slots (申请材料)."""

    regulated_sector = SECTOR
    __tablename__ = "power_request_material"
    id = Column(Integer, primary_key=True)
    request_id = Column(Integer, ForeignKey("power_request.id", ondelete="CASCADE"),
                        nullable=False, index=True)
    slot = Column(String(32), nullable=False)
    attachment_id = Column(Integer, ForeignKey("attachment.id", ondelete="RESTRICT"),
                           nullable=False)
    attachment = relationship("Attachment", lazy="joined")
    # A 容缺 material supplied after acceptance is marked so.
    supplied_on = Column(DateTime)


class EquityHolder(TenantMixin, Model):
    """股权结构: one shareholder of the applicant."""

    regulated_sector = SECTOR
    __tablename__ = "power_equity"
    id = Column(Integer, primary_key=True)
    request_id = Column(Integer, ForeignKey("power_request.id", ondelete="CASCADE"),
                        nullable=False, index=True)
    name = Column(String(200), nullable=False)
    kind = Column(String(12), nullable=False, default="legal")  # legal | natural
    amount = Column(Numeric(14, 2), nullable=False)  # 出资额, 10k CNY
    share = Column(Numeric(5, 2), nullable=False)    # 持股比例, %


KEY_ROLES = {"technical": _l("Technical lead"), "safety": _l("Safety lead")}
TITLES = {"senior": _l("Senior title"), "intermediate": _l("Intermediate title"),
          "junior": _l("Junior title"), "none": _l("No title")}


class KeyPerson(TenantMixin, Model):
    """技术负责人 / 安全负责人 of a request."""

    regulated_sector = SECTOR
    __tablename__ = "power_key_person"
    __table_args__ = (UniqueConstraint("request_id", "role", name="uq_power_key_person_role"),)
    id = Column(Integer, primary_key=True)
    request_id = Column(Integer, ForeignKey("power_request.id", ondelete="CASCADE"),
                        nullable=False)
    role = Column(String(12), nullable=False)
    name = Column(String(64), nullable=False)
    id_number = Column(String(18), nullable=False)
    title = Column(String(16), nullable=False, default="none")
    specialty = Column(String(64))
    years = Column(Integer, nullable=False, default=0)  # years in power engineering
    mobile = Column(String(20))
    records = relationship("KeyPersonRecord", lazy="selectin", cascade="all, delete-orphan",
                           order_by="KeyPersonRecord.start_on")

    @property
    def role_label(self) -> str:
        return str(KEY_ROLES.get(self.role, self.role))

    @property
    def title_label(self) -> str:
        return str(TITLES.get(self.title, self.title))


class KeyPersonRecord(TenantMixin, Model):
    """A work-history (工作经历, with a certifier whose mobile is checked) or training-history
    (培训经历) row of a key person."""

    regulated_sector = SECTOR
    __tablename__ = "power_key_person_record"
    id = Column(Integer, primary_key=True)
    person_id = Column(Integer, ForeignKey("power_key_person.id", ondelete="CASCADE"),
                       nullable=False, index=True)
    kind = Column(String(12), nullable=False)  # work | training
    start_on = Column(Date, nullable=False)
    end_on = Column(Date)
    organisation = Column(String(200), nullable=False)
    detail = Column(String(200), nullable=False)  # position held / course taken
    certifier = Column(String(64))
    certifier_mobile = Column(String(20))


VOLTAGES = (1000, 750, 500, 330, 220, 110, 66, 35, 20, 10)  # kV, highest first


class ProjectRecord(TenantMixin, Model):
    """规定年限内主要业绩: a completed project, summed by voltage level."""

    regulated_sector = SECTOR
    __tablename__ = "power_project"
    id = Column(Integer, primary_key=True)
    request_id = Column(Integer, ForeignKey("power_request.id", ondelete="CASCADE"),
                        nullable=False, index=True)
    name = Column(String(200), nullable=False)
    category = Column(String(12), nullable=False)
    voltage_kv = Column(Integer, nullable=False)
    client = Column(String(200))
    amount = Column(Numeric(14, 2))  # contract amount, 10k CNY
    started_on = Column(Date)
    completed_on = Column(Date, nullable=False)


class LicenceCondition(Model):
    """A licence condition (P5): for a category and level, the minimum of one measurable
    item. Maintained by the authority; the completeness check reads it."""

    __tablename__ = "power_condition"
    __table_args__ = (UniqueConstraint("category", "level", "item",
                                       name="uq_power_condition_item"),)
    id = Column(Integer, primary_key=True)
    category = Column(String(12), nullable=False)
    level = Column(Integer, nullable=False)
    item = Column(String(32), nullable=False)
    minimum = Column(Integer, nullable=False)
    # Free-trade-zone pilot: conditions the reform waives (特种电工数量, 经营场所面积).
    waived_in_ftz = Column(Integer, nullable=False, default=0)
    note = Column(String(255))


CREDIT_RATINGS = {"good": _l("Good"), "fair": _l("Fair"), "poor": _l("Poor"),
                  "blacklisted": _l("Blacklisted")}


class CreditRecord(Model):
    """The authority's credit register (信用信息), read by the default credit provider; keyed
    by USCC so an enterprise can be rated before it registers."""

    __tablename__ = "power_credit"
    id = Column(Integer, primary_key=True)
    uscc = Column(String(18), nullable=False, unique=True)
    enterprise_name = Column(String(200), nullable=False)
    rating = Column(String(12), nullable=False, default="good")
    note = Column(Text)
    recorded_on = Column(Date, nullable=False, default=datetime.date.today)

    @property
    def rating_label(self) -> str:
        return str(CREDIT_RATINGS.get(self.rating, self.rating))


class ToleranceDefault(TenantMixin, Model):
    """A 容缺 case whose missing materials were not supplied by their deadline: bars 容缺
    acceptance for two years."""

    regulated_sector = SECTOR
    __tablename__ = "power_tolerance_default"
    __table_args__ = (UniqueConstraint("case_id", name="uq_power_tolerance_default_case"),)
    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, ForeignKey("application.id", ondelete="CASCADE"), nullable=False)
    due_on = Column(Date, nullable=False)
    recorded_on = Column(Date, nullable=False)
