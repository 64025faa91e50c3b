"""Report windows against the database (DESIGN.md "Report windows"), shared by every module
with periodic reports (used-car monthly/quarterly, finance monthly/quarterly/annual).

`app/workflows/windows.py` decides, as pure functions of (kind, period, now, config), whether
a window is open, in grace or closed; this module adds what needs the database: the
enterprise's extension (`ReportExtension`, granted by an authority) and the refusal.

    status = report_windows.check("usedcar_monthly", "2026-09", enterprise_id)
    status.may_submit, status.state, status.message        # windows.WindowStatus
    report_windows.is_late(status)                          # grace or extension
    report_windows.require_open(kind, period, enterprise_id)   # or ReportWindowClosedError
    report_windows.grant_extension(kind, period, enterprise_id, until, reason, user_id=...)

`period` is a `windows.Period` or its text ("2026-09", "2026Q3", "2026"). `now` defaults to
`clock()` (tests patch it or pass `now=`); times are naive local times, like every DateTime
column of the project. A module with reports adds its kinds to `KIND_SECTORS` (which
regulated sector's authorities may extend them) and their windows to `REPORT_WINDOWS`
(config.py).

Late: windows.py flags a submission in the grace days as late and treats one under an
extension as allowed; the reports of this project record both as late (`is_late`), so the
authority sees every report that arrived after the window closed.
"""

from __future__ import annotations

import datetime

from flask import abort
from flask_babel import format_datetime, gettext

from app.errors import ReportExtensionInvalidError
from app.extensions import db
from app.models.base import AUTHORITY, ENTERPRISE, current_scope, in_jurisdiction
from app.models.org import Enterprise
from app.models.report import ReportExtension
from app.services import audit
from app.workflows import windows
from app.workflows.windows import ReportWindowClosedError, WindowStatus

# Report kind -> the sector whose authorities may grant extensions for it.
KIND_SECTORS = {
    "usedcar_monthly": "usedcar",
    "usedcar_quarterly": "usedcar",
}
MAX_REASON = 2000


def clock() -> datetime.datetime:
    """The current time for window decisions (tests patch this or pass `now`)."""
    return datetime.datetime.now()


def moment(now: datetime.datetime | None = None) -> datetime.datetime:
    return now if now is not None else clock()


def period_of(kind: str, period) -> windows.Period:
    """A windows.Period of the kind's period type, from a Period or its text; ValueError if
    it is not one."""
    ptype = windows.period_type(kind, windows.configured())
    if isinstance(period, windows.Period):
        if period.kind_period != ptype:
            raise ValueError(f"{kind} reports are {ptype}ly, not for {period}")
        return period
    return windows.Period.parse(str(period), ptype)


def is_late(status: WindowStatus) -> bool:
    """Submitted after the window closed: in the grace days or under an extension."""
    return bool(status.late or status.state == windows.EXTENDED)


def extension(kind: str, period, enterprise_id: int) -> ReportExtension | None:
    """The enterprise's extension for this report, through the caller's scope."""
    return db.session.query(ReportExtension).filter_by(
        enterprise_id=enterprise_id, kind=kind, period_key=str(period_of(kind, period))).first()


def check(kind: str, period, enterprise_id: int,
          now: datetime.datetime | None = None) -> WindowStatus:
    """windows.status() for this enterprise at `now`, its extension taken into account."""
    ext = extension(kind, period, enterprise_id)
    return windows.status(kind, period_of(kind, period), moment(now), windows.configured(),
                          extension_until=ext.until if ext is not None else None)


def check_many(kind: str, periods, enterprise_id: int,
               now: datetime.datetime | None = None) -> dict[str, WindowStatus]:
    """check() for several periods of one kind (one query for the extensions):
    {period text: WindowStatus}."""
    found = [period_of(kind, p) for p in periods]
    keys = [str(p) for p in found]
    until = dict(db.session.query(ReportExtension.period_key, ReportExtension.until).filter(
        ReportExtension.enterprise_id == enterprise_id, ReportExtension.kind == kind,
        ReportExtension.period_key.in_(keys)).all()) if keys else {}
    at, config = moment(now), windows.configured()
    return {str(p): windows.status(kind, p, at, config, extension_until=until.get(str(p)))
            for p in found}


def require_open(kind: str, period, enterprise_id: int,
                 now: datetime.datetime | None = None) -> WindowStatus:
    """check(), refusing with the window's message (ReportWindowClosedError, 422) when the
    report may not be submitted or changed now."""
    result = check(kind, period, enterprise_id, now)
    if not result.may_submit:
        raise ReportWindowClosedError(result.message, result)
    return result


def _supervised_enterprise(kind: str, enterprise_id: int) -> Enterprise:
    """The enterprise, if the caller supervises it in the kind's sector (system admins: any);
    404 otherwise, as for every foreign row. Enterprise users never grant (403)."""
    scope = current_scope()
    if scope is not None and scope.kind == ENTERPRISE:
        abort(403)
    # A forged id beyond any integer column is no row either (not an overflow error).
    enterprise = db.session.get(Enterprise, enterprise_id) \
        if enterprise_id and 0 < enterprise_id < 2 ** 31 else None
    if enterprise is None:
        abort(404)
    if scope is not None and scope.kind == AUTHORITY and not in_jurisdiction(
            enterprise.id, scope.authority_id, KIND_SECTORS[kind]):
        abort(404)
    return enterprise


def grant_extension(kind: str, period, enterprise_id: int, until: datetime.datetime,
                    reason: str, *, user_id: int | None = None,
                    now: datetime.datetime | None = None) -> ReportExtension:
    """An authority lets one enterprise submit (or change) one report until `until`.
    Granting again for the same report replaces the date and the reason. Audited
    ("extend_window"); commits once. The permission to extend is the calling view's
    (can_extend on UsedCarOversight for the used-car reports); the enterprise must be in the
    caller's jurisdiction for the kind's sector (404 otherwise)."""
    if kind not in KIND_SECTORS or kind not in windows.configured():
        raise ReportExtensionInvalidError(gettext("Unknown report kind."))
    try:
        key = str(period_of(kind, period))
    except ValueError as exc:
        raise ReportExtensionInvalidError(gettext("Unknown reporting period.")) from exc
    enterprise = _supervised_enterprise(kind, enterprise_id)
    errors = []
    reason = (reason or "").strip()
    if not reason:
        errors.append(gettext("Give the reason for the extension."))
    elif len(reason) > MAX_REASON:
        errors.append(gettext("The reason is at most %(n)d characters.", n=MAX_REASON))
    if until is None:
        errors.append(gettext("Give the date the extension runs until."))
    elif until <= moment(now):
        errors.append(gettext("The extension must end in the future."))
    else:
        # An extension only ever lengthens a window that has opened: one for a period not
        # due yet, or ending before the window closes anyway, would mean nothing.
        win = windows.window(kind, period_of(kind, key), windows.configured())
        if win.opens_at > moment(now):
            errors.append(gettext("The window of this report has not opened yet: nothing to "
                                  "extend."))
        elif until <= win.accepts_until:
            errors.append(gettext("The report may be submitted until %(date)s anyway: the "
                                  "extension must end later.",
                                  date=format_datetime(win.accepts_until, "short")))
    if errors:
        raise ReportExtensionInvalidError("；".join(errors))
    ext = extension(kind, key, enterprise.id)
    if ext is None:
        ext = ReportExtension(enterprise_id=enterprise.id, kind=kind, period_key=key)
        db.session.add(ext)
    ext.until = until
    ext.reason = reason
    ext.granted_by_id = user_id
    ext.granted_on = moment(now)
    db.session.flush()
    audit.record(db.session, "extend_window", target=ext, enterprise_id=enterprise.id,
                 target_label=f"{enterprise.name} {kind} {key}",
                 detail=f"{kind} {key} → {until:%Y-%m-%d %H:%M}: {reason}")
    db.session.commit()
    return ext
