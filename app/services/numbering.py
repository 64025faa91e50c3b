"""Sequential numbers per (kind, year): certificate numbers and case references.

The counter row is locked (SELECT ... FOR UPDATE on PostgreSQL; SQLite serialises writers)
for the rest of the transaction, so two approvals never draw the same number and a rolled-back
approval gives its number back."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.models.workflow import CertificateCounter

# Formats (documented in docs/rental.md): prefix + year + zero-padded sequence.
FORMATS = {
    "case": ("SQ", 6),            # case reference   SQ2026000123
    "rental_filing": ("GDZL", 6),  # enterprise filing certificate  GDZL2026000123
    "vehicle": ("GDZLC", 7),       # vehicle filing certificate     GDZLC20260000123
    "power_licence": ("CXS", 5),   # 承装（修、试）电力设施许可证      CXS202600012
}


def next_number(session, kind: str, year: int) -> str:
    prefix, width = FORMATS[kind]
    stmt = select(CertificateCounter).where(CertificateCounter.kind == kind,
                                            CertificateCounter.year == year).with_for_update()
    counter = session.execute(stmt).scalar_one_or_none()
    if counter is None:
        try:
            with session.begin_nested():
                counter = CertificateCounter(kind=kind, year=year, last=0)
                session.add(counter)
        except IntegrityError:  # another transaction created it first: lock theirs
            counter = session.execute(stmt).scalar_one()
    counter.last += 1
    session.flush([counter])
    return f"{prefix}{year}{counter.last:0{width}d}"
