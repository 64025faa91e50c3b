"""Small/micro passenger-car rental (seed 000): the enterprise's rental filing with its
business premises, and filed vehicles. Both change only through approved cases
(app/workflows/rental.py)."""

from __future__ import annotations

import datetime

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import relationship

from app.models.base import TenantMixin

# Filing states of an enterprise and of a vehicle.
APPLYING = "applying"  # enterprise: application submitted, no certificate yet
OPERATING = "operating"
SUSPENDED = "suspended"
TERMINATED = "terminated"
SCRAPPED = "scrapped"  # vehicles only

FILING_STATES = (APPLYING, OPERATING, SUSPENDED, TERMINATED)
VEHICLE_STATES = (OPERATING, SUSPENDED, TERMINATED, SCRAPPED)
STATE_LABELS = {
    APPLYING: _l("Applying"),
    OPERATING: _l("Operating"),
    SUSPENDED: _l("Suspended"),
    TERMINATED: _l("Terminated"),
    SCRAPPED: _l("Scrapped"),
}

# Bootstrap label style per state (lists and detail pages).
STATE_STYLES = {APPLYING: "info", OPERATING: "success", SUSPENDED: "warning",
                TERMINATED: "default", SCRAPPED: "default"}

VEHICLE_TYPES = {"small": _l("Small passenger car"), "micro": _l("Micro passenger car")}
VEHICLE_USAGES = {"rental": _l("Rental"), "time_share": _l("Time-share rental")}


class RentalFiling(TenantMixin, Model):
    """One per enterprise: the rental filing and its certificate."""

    regulated_sector = "rental"
    __tablename__ = "rental_filing"
    id = Column(Integer, primary_key=True)
    certificate_no = Column(String(32), unique=True)
    state = Column(String(16), nullable=False, default=APPLYING, index=True)
    time_share = Column(Boolean, nullable=False, default=False)
    filed_on = Column(Date)
    state_since = Column(Date)
    changed_on = Column(DateTime, default=datetime.datetime.now,
                        onupdate=datetime.datetime.now, nullable=False)
    enterprise = relationship("Enterprise", lazy="joined")
    premises = relationship("RentalPremises", back_populates="filing", lazy="selectin",
                            order_by="RentalPremises.id", cascade="all, delete-orphan")

    @property
    def state_label(self) -> str:
        return str(STATE_LABELS.get(self.state, self.state))

    def __str__(self) -> str:
        return self.certificate_no or ""


class RentalPremises(TenantMixin, Model):
    """A business premises (经营场所) of a rental filing."""

    regulated_sector = "rental"
    __tablename__ = "rental_premises"
    id = Column(Integer, primary_key=True)
    filing_id = Column(Integer, ForeignKey("rental_filing.id", ondelete="CASCADE"),
                       nullable=False, index=True)
    filing = relationship("RentalFiling", back_populates="premises")
    address = Column(String(255), nullable=False)
    area = Column(Integer)  # square metres
    parking_spaces = Column(Integer)
    phone = Column(String(20))

    def as_payload(self) -> dict:
        return {"address": self.address, "area": self.area,
                "parking_spaces": self.parking_spaces, "phone": self.phone}


class Vehicle(TenantMixin, Model):
    regulated_sector = "rental"
    __tablename__ = "vehicle"
    __table_args__ = (
        Index("ix_vehicle_enterprise_state", "enterprise_id", "state", "id"),
        Index("ix_vehicle_state_id", "state", "id"),
        # Prefix filters (LIKE 'x%') on PostgreSQL; SQLite uses the unique indexes.
        Index("ix_vehicle_plate_prefix", "plate",
              postgresql_ops={"plate": "text_pattern_ops"}).ddl_if(dialect="postgresql"),
        Index("ix_vehicle_vin_prefix", "vin",
              postgresql_ops={"vin": "text_pattern_ops"}).ddl_if(dialect="postgresql"),
    )
    id = Column(Integer, primary_key=True)
    plate = Column(String(16), nullable=False, unique=True, info={"upper": True})
    vin = Column(String(17), nullable=False, unique=True, info={"upper": True})
    brand = Column(String(64), nullable=False)
    model = Column(String(64), nullable=False)
    vehicle_type = Column(String(16), nullable=False, default="small")
    seats = Column(Integer, nullable=False)
    colour = Column(String(16))
    usage = Column(String(16), nullable=False, default="rental")
    owner_name = Column(String(200), nullable=False)
    registered_on = Column(Date)
    state = Column(String(16), nullable=False, default=OPERATING)
    state_since = Column(Date)
    certificate_no = Column(String(32), unique=True)
    filed_on = Column(Date, nullable=False)
    changed_on = Column(DateTime, default=datetime.datetime.now,
                        onupdate=datetime.datetime.now, nullable=False)
    enterprise = relationship("Enterprise", lazy="joined")

    @property
    def state_label(self) -> str:
        return str(STATE_LABELS.get(self.state, self.state))

    @property
    def usage_label(self) -> str:
        return str(VEHICLE_USAGES.get(self.usage, self.usage))

    @property
    def type_label(self) -> str:
        return str(VEHICLE_TYPES.get(self.vehicle_type, self.vehicle_type))

    def __str__(self) -> str:
        return self.plate
