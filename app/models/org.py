"""Organisations: enterprises (the tenants) and authorities (jurisdiction = sectors + region)."""

from __future__ import annotations

import datetime

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, Table, UniqueConstraint
from sqlalchemy.orm import relationship

SECTOR_CODES = ("rental", "usedcar", "power", "finance")
SECTOR_LABELS = {
    "rental": _l("Car rental"),
    "usedcar": _l("Used cars"),
    "power": _l("Power facilities"),
    "finance": _l("Local finance"),
}

ENTERPRISE_STATUSES = ("active", "suspended", "terminated")
ENTERPRISE_STATUS_LABELS = {
    "active": _l("Active"),
    "suspended": _l("Suspended"),
    "terminated": _l("Terminated"),
}


class Sector(Model):
    __tablename__ = "sector"
    id = Column(Integer, primary_key=True)
    code = Column(String(16), unique=True, nullable=False)

    @property
    def label(self) -> str:
        return str(SECTOR_LABELS.get(self.code, self.code))

    def __str__(self) -> str:
        return self.label


enterprise_sector = Table(
    "enterprise_sector",
    Model.metadata,
    Column("enterprise_id", Integer, ForeignKey("enterprise.id", ondelete="CASCADE"),
           primary_key=True),
    Column("sector_id", Integer, ForeignKey("sector.id"), primary_key=True, index=True),
)

authority_sector = Table(
    "authority_sector",
    Model.metadata,
    Column("authority_id", Integer, ForeignKey("authority.id", ondelete="CASCADE"),
           primary_key=True),
    Column("sector_id", Integer, ForeignKey("sector.id"), primary_key=True),
)


class Region(Model):
    """Administrative division (GB/T 2260 code), e.g. 440000 广东省, 440100 广州市."""

    __tablename__ = "region"
    code = Column(String(6), primary_key=True)
    name = Column(String(64), nullable=False)

    @property
    def prefix(self) -> str:
        return region_prefix(self.code)

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


def region_prefix(code: str) -> str:
    """440000 -> '44', 440100 -> '4401', 440106 -> '440106'; 000000 (national) -> ''."""
    code = (code or "").strip()
    while code.endswith("00"):
        code = code[:-2]
    return code


class Enterprise(Model):
    __tablename__ = "enterprise"
    __table_args__ = (UniqueConstraint("uscc", name="uq_enterprise_uscc"),)
    id = Column(Integer, primary_key=True)
    name = Column(String(200), nullable=False, index=True)
    # Nullable: a used-car enterprise registered under the old three-certificate system has
    # none (it logs in with its business licence number instead).
    uscc = Column(String(18))
    region_code = Column(String(6), ForeignKey("region.code"), nullable=False, index=True)
    region = relationship("Region", lazy="joined")
    status = Column(String(16), nullable=False, default="active")
    legal_representative = Column(String(64))
    contact_name = Column(String(64))
    contact_mobile = Column(String(20))
    address = Column(String(255))
    created_on = Column(DateTime, default=datetime.datetime.now, nullable=False)
    sectors = relationship("Sector", secondary=enterprise_sector, lazy="selectin")

    @property
    def status_label(self) -> str:
        return str(ENTERPRISE_STATUS_LABELS.get(self.status, self.status))

    @property
    def sector_labels(self) -> str:
        return "、".join(s.label for s in self.sectors)

    def __str__(self) -> str:
        return self.name


class Authority(Model):
    __tablename__ = "authority"
    id = Column(Integer, primary_key=True)
    name = Column(String(200), nullable=False, unique=True)
    region_code = Column(String(6), ForeignKey("region.code"), nullable=False)
    region = relationship("Region", lazy="joined")
    # Denormalised from region_code so jurisdiction is one indexed LIKE in SQL.
    region_prefix = Column(String(6), nullable=False, default="")
    sectors = relationship("Sector", secondary=authority_sector, lazy="selectin")

    @property
    def sector_labels(self) -> str:
        return "、".join(s.label for s in self.sectors)

    def __str__(self) -> str:
        return self.name
