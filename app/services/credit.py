"""Credit look-up and the routes it opens (seed 002 容缺受理 / 自贸区, SPEC P6).

On "new application" (and the other licence matters) the portal asks a credit provider about
the enterprise. The provider is an interface: `CREDIT_PROVIDER` in config names a class
("module:Class") with `lookup(uscc, name) -> CreditResult`; the default reads the credit
register the authority maintains in the app (`CreditRecord`). An enterprise absent from the
register has no adverse record, which counts as good credit unless
`CREDIT_UNKNOWN_IS_GOOD` is false.

`routes_for(enterprise, matter)` then says which routes the enterprise may take:
- 容缺受理 (tolerance): good credit; for a new licence only a first licence or a
  re-application after cancellation; no 容缺 deadline missed in the last two years; matters
  new licence and licence-item change (seed §4.1, §4.3).
- 自贸区 (ftz): good credit and the enterprise's district in a free-trade-zone pilot area
  (`POWER_FTZ_REGIONS`, region-code prefixes); every matter but cancellation; a new licence
  only as a first licence or after cancellation."""

from __future__ import annotations

import datetime
import importlib
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext
from sqlalchemy import select

from app.extensions import db
from app.models.base import unscoped
from app.models.licence import (
    CANCELLATION,
    CANCELLED,
    CREDIT_RATINGS,
    ITEM_CHANGE,
    NEW,
    ROUTE_FTZ,
    ROUTE_NORMAL,
    ROUTE_TOLERANCE,
    CreditRecord,
    Licence,
    ToleranceDefault,
)

TOLERANCE_BAR_DAYS = 730  # two years after a missed 容缺 deadline
TOLERANCE_MATTERS = (NEW, ITEM_CHANGE)


@dataclass(frozen=True)
class CreditResult:
    rating: str | None  # a CREDIT_RATINGS code, None when the provider has no record
    good: bool
    note: str = ""

    @property
    def label(self) -> str:
        if self.rating is None:
            return gettext("No adverse record")
        return str(CREDIT_RATINGS.get(self.rating, self.rating))


class RegisterCreditProvider:
    """The authority's credit register (`CreditRecord`, keyed by USCC)."""

    def lookup(self, uscc: str | None, name: str | None = None) -> CreditResult:
        record = None
        if uscc:
            with unscoped():  # the register is the authority's data, read for the applicant
                record = db.session.execute(
                    select(CreditRecord).where(CreditRecord.uscc == uscc.upper())
                ).scalar_one_or_none()
        if record is None:
            return CreditResult(None, bool(current_app.config.get("CREDIT_UNKNOWN_IS_GOOD",
                                                                   True)))
        return CreditResult(record.rating, record.rating == "good", record.note or "")


def provider():
    spec = current_app.config.get("CREDIT_PROVIDER") or \
        "app.services.credit:RegisterCreditProvider"
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)()


def lookup(enterprise) -> CreditResult:
    return provider().lookup(enterprise.uscc, enterprise.name)


def in_ftz(enterprise) -> bool:
    code = enterprise.region_code or ""
    return any(code.startswith(prefix)
               for prefix in current_app.config.get("POWER_FTZ_REGIONS", ()) if prefix)


def first_or_after_cancellation(enterprise_id: int) -> bool:
    """No licence yet, or the latest version of every licence it held is cancelled."""
    rows = db.session.execute(
        select(Licence.number, Licence.status, Licence.version)
        .where(Licence.enterprise_id == enterprise_id)).all()
    latest: dict[str, tuple[int, str]] = {}
    for number, status, version in rows:
        if number not in latest or version > latest[number][0]:
            latest[number] = (version, status)
    return all(status == CANCELLED for _, status in latest.values())


def recent_default(enterprise_id: int, today: datetime.date | None = None):
    today = today or datetime.date.today()
    since = today - datetime.timedelta(days=TOLERANCE_BAR_DAYS)
    return db.session.execute(
        select(ToleranceDefault).where(ToleranceDefault.enterprise_id == enterprise_id,
                                       ToleranceDefault.recorded_on > since)
        .order_by(ToleranceDefault.recorded_on.desc())).scalars().first()


@dataclass(frozen=True)
class RouteOffer:
    credit: CreditResult
    routes: tuple  # routes the enterprise may take, ROUTE_NORMAL first
    reasons: dict  # route -> why it is not offered (translated)


def routes_for(enterprise, matter: str, today: datetime.date | None = None) -> RouteOffer:
    credit = lookup(enterprise)
    routes = [ROUTE_NORMAL]
    reasons = {}
    first = first_or_after_cancellation(enterprise.id)
    if matter in TOLERANCE_MATTERS:
        default = recent_default(enterprise.id, today)
        if not credit.good:
            reasons[ROUTE_TOLERANCE] = gettext("Credit is not good (%(rating)s).",
                                               rating=credit.label)
        elif matter == NEW and not first:
            reasons[ROUTE_TOLERANCE] = gettext(
                "Only a first licence or a re-application after cancellation.")
        elif default is not None:
            reasons[ROUTE_TOLERANCE] = gettext(
                "Missing materials were not supplied by %(date)s: 容缺 acceptance is barred "
                "for two years.", date=default.due_on.isoformat())
        else:
            routes.append(ROUTE_TOLERANCE)
    if matter != CANCELLATION:
        if not in_ftz(enterprise):
            reasons[ROUTE_FTZ] = gettext("The enterprise is not in a free-trade-zone pilot "
                                         "area.")
        elif not credit.good:
            reasons[ROUTE_FTZ] = gettext("Credit is not good (%(rating)s).",
                                         rating=credit.label)
        elif matter == NEW and not first:
            reasons[ROUTE_FTZ] = gettext(
                "Only a first licence or a re-application after cancellation.")
        else:
            routes.append(ROUTE_FTZ)
    return RouteOffer(credit, tuple(routes), reasons)
