"""Used-car circulation (seed 001): the enterprise's registration profile, its filings per
used-car business type (confirmed by the local commerce authority through a case, see
app/workflows/usedcar.py), sales records and the periodic trade reports."""

from __future__ import annotations

import datetime

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import relationship

from app.models.base import TenantMixin
from app.models.locks import lock_fields, own_id
from app.models.org import Enterprise

SECTOR = "usedcar"

# 汽车销售企业类型 (seed 2.1.2): one, chosen at registration, never changed.
ENTERPRISE_TYPES = {
    "supplier_domestic": _l("Supplier: domestic OEM"),
    "supplier_import": _l("Supplier: import general distributor"),
    "dealer": _l("Dealer"),
}

# 二手车经营主体类型: several allowed; each gets its own filing form (seed 2.3.1-2.3.5).
MARKET, APPRAISAL, DEALER, BROKER, AUCTION = "market", "appraisal", "dealer", "broker", "auction"
BUSINESS_TYPES = {
    MARKET: _l("Used-car market"),
    APPRAISAL: _l("Appraisal institution"),
    DEALER: _l("Used-car dealer"),
    BROKER: _l("Used-car broker"),
    AUCTION: _l("Used-car auction company"),
}

# Vehicle categories of the monthly trade report (seed 2.5.1), in the seed's order.
CATEGORIES = {
    "basic": _l("Basic passenger car"),
    "mpv": _l("MPV"),
    "suv": _l("SUV"),
    "cross": _l("Cross-type passenger car"),
    "truck": _l("Truck"),
    "three_wheel": _l("Three-wheel vehicle (formerly three-wheel farm transport)"),
    "low_speed": _l("Low-speed truck (formerly four-wheel farm transport)"),
    "trailer": _l("Trailer"),
    "motorcycle": _l("Motorcycle"),
    "other": _l("Other"),
}


class UsedCarProfile(TenantMixin, Model):
    """Registration data of a used-car enterprise (U1) beyond the Enterprise row: name,
    USCC, domicile (region_code + address) and filer (contact_*) live on Enterprise."""

    regulated_sector = SECTOR
    __tablename__ = "usedcar_profile"
    __table_args__ = (UniqueConstraint("enterprise_id", name="uq_usedcar_profile_enterprise"),)
    id = Column(Integer, primary_key=True)
    has_uscc = Column(Boolean, nullable=False, default=True)
    # 工商营业执照号: the second login name (U2), unique when given.
    licence_no = Column(String(20), unique=True)
    org_code = Column(String(10))
    tax_no = Column(String(20))
    enterprise_type = Column(String(24), nullable=False)
    # Comma-separated BUSINESS_TYPES codes, in BUSINESS_TYPES order.
    business_types = Column(String(64), nullable=False)
    # Set by the first confirmed filing: from then on sales entry and reports are open (U4).
    confirmed_on = Column(DateTime)
    created_on = Column(DateTime, default=datetime.datetime.now, nullable=False)
    enterprise = relationship("Enterprise", lazy="joined")

    @property
    def business_type_codes(self) -> list[str]:
        return [c for c in (self.business_types or "").split(",") if c]

    @property
    def business_type_labels(self) -> str:
        return "、".join(str(BUSINESS_TYPES.get(c, c)) for c in self.business_type_codes)

    @property
    def enterprise_type_label(self) -> str:
        return str(ENTERPRISE_TYPES.get(self.enterprise_type, self.enterprise_type))

    @property
    def confirmed(self) -> bool:
        return self.confirmed_on is not None


class UsedCarFiling(TenantMixin, Model):
    """The confirmed filing of one business type (U3). Changes arrive as case payloads and
    are applied here on confirmation; until the first confirmation there is no row."""

    regulated_sector = SECTOR
    __tablename__ = "usedcar_filing"
    __table_args__ = (UniqueConstraint("enterprise_id", "business_type",
                                       name="uq_usedcar_filing_type"),)
    id = Column(Integer, primary_key=True)
    business_type = Column(String(16), nullable=False)
    # The filing form as confirmed (the same dict the form produces; see workflows/usedcar.py).
    data = Column(JSON, nullable=False, default=dict)
    confirmed_on = Column(DateTime, nullable=False)
    changed_on = Column(DateTime, default=datetime.datetime.now,
                        onupdate=datetime.datetime.now, nullable=False)
    enterprise = relationship("Enterprise", lazy="joined")

    @property
    def business_type_label(self) -> str:
        return str(BUSINESS_TYPES.get(self.business_type, self.business_type))


class UsedCarSale(TenantMixin, Model):
    """One used-car transaction (U5): buyer, seller, optional agent, vehicle, transaction."""

    regulated_sector = SECTOR
    __tablename__ = "usedcar_sale"
    __table_args__ = (
        Index("ix_usedcar_sale_enterprise_rows", "enterprise_id", "id"),
        Index("ix_usedcar_sale_enterprise_date", "enterprise_id", "report_date", "id"),
        Index("ix_usedcar_sale_date", "report_date", "enterprise_id"),
        # A VIN or plate identifies a car across enterprises: one index each serves an
        # enterprise's search and a regulator's over its whole jurisdiction (the scope is
        # then a filter on a handful of rows). text_pattern_ops: LIKE 'x%' on PostgreSQL;
        # SQLite serves the prefix as a BINARY range.
        Index("ix_usedcar_sale_vin", "vin", postgresql_ops={"vin": "text_pattern_ops"}),
        Index("ix_usedcar_sale_plate", "plate", postgresql_ops={"plate": "text_pattern_ops"}),
    )
    id = Column(Integer, primary_key=True)
    report_date = Column(Date, nullable=False)  # 报表时间: the day of the transaction
    buyer_name = Column(String(200), nullable=False)
    buyer_is_enterprise = Column(Boolean, nullable=False, default=False)
    buyer_has_uscc = Column(Boolean, nullable=False, default=False)
    # Resident ID number, USCC or organisation code, as is_enterprise / has_uscc say.
    buyer_code = Column(String(18), nullable=False)
    buyer_address = Column(String(255), nullable=False)
    buyer_mobile = Column(String(20), nullable=False)
    seller_name = Column(String(200), nullable=False)
    seller_is_enterprise = Column(Boolean, nullable=False, default=False)
    seller_has_uscc = Column(Boolean, nullable=False, default=False)
    seller_code = Column(String(18), nullable=False)
    seller_address = Column(String(255), nullable=False)
    seller_mobile = Column(String(20), nullable=False)
    has_agent = Column(Boolean, nullable=False, default=False)
    agent_name = Column(String(200))
    agent_is_enterprise = Column(Boolean)
    agent_has_uscc = Column(Boolean)
    agent_code = Column(String(18))
    agent_address = Column(String(255))
    agent_mobile = Column(String(20))
    plate = Column(String(16), nullable=False)
    registration_no = Column(String(20), nullable=False)  # 机动车登记证书编号
    vin = Column(String(17), nullable=False)
    brand_model = Column(String(100), nullable=False)  # 厂牌型号
    vehicle_type = Column(String(32), nullable=False)  # as on the driving licence
    category = Column(String(16), nullable=False)  # report category (CATEGORIES)
    transfer_office = Column(String(100), nullable=False)  # 转入地车辆管理所
    price = Column(Numeric(14, 2), nullable=False)  # CNY
    operator_name = Column(String(200), nullable=False)  # 经营、拍卖单位
    created_on = Column(DateTime, default=datetime.datetime.now, nullable=False)
    changed_on = Column(DateTime, default=datetime.datetime.now,
                        onupdate=datetime.datetime.now, nullable=False)
    enterprise = relationship("Enterprise", lazy="joined")

    @property
    def category_label(self) -> str:
        return str(CATEGORIES.get(self.category, self.category))

    @property
    def price_in_words(self) -> str:
        from app.services.money import in_capitals

        return in_capitals(self.price)

    def __str__(self) -> str:
        return f"{self.plate} {self.report_date}"


# Report kinds (app/workflows/windows.py keys) and their row columns, in table order.
MONTHLY = "usedcar_monthly"
QUARTERLY = "usedcar_quarterly"


class UsedCarReport(TenantMixin, Model):
    """A monthly trade report (U7) or an appraisal institution's quarterly report (U8): one
    per enterprise, kind and period, with one row per vehicle category."""

    regulated_sector = SECTOR
    __tablename__ = "usedcar_report"
    __table_args__ = (
        UniqueConstraint("enterprise_id", "kind", "year", "period",
                         name="uq_usedcar_report_period"),
        Index("ix_usedcar_report_period", "kind", "year", "period", "enterprise_id"),
    )
    id = Column(Integer, primary_key=True)
    kind = Column(String(24), nullable=False)
    year = Column(Integer, nullable=False)
    period = Column(Integer, nullable=False)  # month 1-12 or quarter 1-4
    filer_name = Column(String(64), nullable=False)
    submitted_on = Column(DateTime, nullable=False)
    submitted_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    late = Column(Boolean, nullable=False, default=False)  # submitted in grace / extension
    changed_on = Column(DateTime, default=datetime.datetime.now,
                        onupdate=datetime.datetime.now, nullable=False)
    enterprise = relationship("Enterprise", lazy="joined")
    rows = relationship("UsedCarReportRow", back_populates="report", lazy="selectin",
                        order_by="UsedCarReportRow.position", cascade="all, delete-orphan")


class UsedCarReportRow(TenantMixin, Model):
    regulated_sector = SECTOR
    __tablename__ = "usedcar_report_row"
    __table_args__ = (UniqueConstraint("report_id", "category", name="uq_usedcar_row_category"),)
    id = Column(Integer, primary_key=True)
    report_id = Column(Integer, ForeignKey("usedcar_report.id", ondelete="CASCADE"),
                       nullable=False)
    report = relationship("UsedCarReport", back_populates="rows")
    position = Column(Integer, nullable=False)
    category = Column(String(16), nullable=False)
    amount = Column(Numeric(14, 2), nullable=False, default=0)  # 10k CNY
    total_count = Column(Integer, nullable=False, default=0)
    direct_count = Column(Integer, nullable=False, default=0)
    consignment_count = Column(Integer, nullable=False, default=0)
    local_transfer_count = Column(Integer, nullable=False, default=0)
    transfer_out_count = Column(Integer, nullable=False, default=0)
    operating_count = Column(Integer, nullable=False, default=0)
    non_operating_count = Column(Integer, nullable=False, default=0)


# U1: the name, USCC and enterprise type of a used-car enterprise never change once registered,
# whatever the path (a form, the API, a forged post, an admin screen): refused at flush
# (app/models/locks.py).
def immutable_message() -> str:
    from flask_babel import gettext

    return gettext("The enterprise name, USCC and enterprise type cannot be changed after "
                   "registration.")


def has_usedcar_profile(session, enterprise_id) -> bool:
    return session.query(UsedCarProfile.id).filter_by(
        enterprise_id=enterprise_id).first() is not None


lock_fields(Enterprise, ("name", "uscc"), message=immutable_message,
            applies=has_usedcar_profile, enterprise_of=own_id)
lock_fields(UsedCarProfile, ("enterprise_type",), message=immutable_message)
