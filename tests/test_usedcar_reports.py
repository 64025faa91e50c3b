"""Used-car trade reports (SPEC U7-U9, seed 001 §2.5) and the report-window service.

The clock of the window decisions is frozen by patching `report_windows.clock` (pages and API)
or passing `now=` (service). Month 2026-09: window 2026-10-01 00:00 to 2026-10-15 end of day,
grace (late) to 2026-10-20 end of day (config.py REPORT_WINDOWS)."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import pytest
from conftest import api_token, bearer, ids
from openpyxl import load_workbook

from app.errors import (
    UsedCarNotConfirmedError,
    UsedCarReportExistsError,
    UsedCarReportInvalidError,
    UsedCarReportNotAllowedError,
)
from app.models.audit import AuditEvent
from app.models.org import Enterprise, Sector
from app.models.report import ReportExtension
from app.models.usedcar import (
    CATEGORIES,
    MONTHLY,
    QUARTERLY,
    UsedCarFiling,
    UsedCarProfile,
    UsedCarReport,
    UsedCarReportRow,
    UsedCarSale,
)
from app.services import report_windows
from app.services import usedcar_reports as svc
from app.workflows.windows import ReportWindowClosedError

D = datetime.datetime
OPENS = D(2026, 10, 1, 0, 0, 0)
LAST_SECOND = D(2026, 10, 15, 23, 59, 59)
GRACE_FIRST = D(2026, 10, 16, 0, 0, 0)
GRACE_LAST = D(2026, 10, 20, 23, 59, 59)
AFTER_GRACE = D(2026, 10, 21, 0, 0, 0)
INSIDE = D(2026, 10, 10, 9, 30)
MONTHLY_URL = "/usedcar/reports/monthly"
QUARTERLY_URL = "/usedcar/reports/quarterly"
PASSWORD = "Enterprise#2026"
APPRAISER = "ent.appraiser"  # the admin of the fixture's appraisal institution


# ----- fixtures -----------------------------------------------------------------------------
def _add_enterprise(db_session, sm, name, uscc, region, business_types, *, username=None,
                    confirmed=True):
    sector = db_session.query(Sector).filter_by(code="usedcar").one()
    ent = Enterprise(name=name, uscc=uscc, region_code=region, status="active",
                     sectors=[sector], contact_name="联系人", contact_mobile="13500135000")
    db_session.add(ent)
    db_session.flush()
    db_session.add(UsedCarProfile(
        enterprise_id=ent.id, enterprise_type="dealer", business_types=business_types,
        confirmed_on=D(2026, 1, 5) if confirmed else None))
    if confirmed:  # a confirmed filing of each business type
        db_session.add_all(UsedCarFiling(enterprise_id=ent.id, business_type=t,
                                         data={"business_type": t}, confirmed_on=D(2026, 1, 5))
                           for t in business_types.split(","))
    if username:
        user = sm.add_user(username, "测试", "用户", f"{username}@example.cn",
                           sm.find_role("Enterprise Admin"), password=PASSWORD)
        user.enterprise_id = ent.id
        user.must_change_password = False
        user.password_changed_on = D.now()
    db_session.commit()
    return ent.id


@pytest.fixture()
def uc(app, db_session):
    """ent.c (广州, 白云区): a confirmed used-car market. ent.d (广州, 天河区): a confirmed
    appraisal institution and dealer with its own user. E (深圳): a confirmed used-car
    dealer outside the Guangzhou regulator's jurisdiction, inside the provincial auditor's."""
    k = ids(db_session)
    # A clean slate: none of the demo's reports, extensions or sales of ent.c.
    db_session.query(UsedCarReportRow).delete()
    db_session.query(UsedCarReport).delete()
    db_session.query(ReportExtension).delete()
    db_session.query(AuditEvent).filter_by(action="extend_window").delete()
    db_session.query(UsedCarSale).filter_by(enterprise_id=k["ent_c"]).delete()
    profile = db_session.query(UsedCarProfile).filter_by(enterprise_id=k["ent_c"]).one()
    profile.business_types, profile.confirmed_on = "market", D(2026, 1, 5)
    db_session.commit()
    sm = app.appbuilder.sm
    d = _add_enterprise(db_session, sm, "广州市天河二手车鉴定评估有限公司", "91440106MA5AL7TE06",
                        "440106", "appraisal,dealer", username=APPRAISER)
    e = _add_enterprise(db_session, sm, "深圳市鹏城二手车经纪有限公司", None, "440304",
                        "dealer")
    return {**k, "ent_d": d, "ent_e": e}


@pytest.fixture()
def clock(monkeypatch):
    """clock.set(datetime) freezes the window decisions of pages, API and services."""

    class Clock:
        now = INSIDE

        def set(self, value):
            self.now = value

    c = Clock()
    monkeypatch.setattr(report_windows, "clock", lambda: c.now)
    return c


def _cells(kind=MONTHLY, **overrides):
    """Form data: every category 0 except the overrides {"basic": (amount, total, direct,
    consignment, local, out, operating, non_operating)} (quarterly: (total, amount))."""
    data = {}
    for cat in CATEGORIES:
        for column in svc.spec(kind).columns:
            data[f"{cat}-{column}"] = "0"
    for cat, values in overrides.items():
        for column, value in zip(svc.spec(kind).columns, values, strict=True):
            data[f"{cat}-{column}"] = str(value)
    return data


GOOD = {"basic": ("12.50", 3, 2, 1, 2, 1, 1, 2), "suv": ("53", 2, 2, 0, 1, 1, 0, 2)}


def _figures(kind=MONTHLY, **overrides):
    cells = {(cat, col): value for name, value in _cells(kind, **overrides).items()
             for cat, col in [name.split("-", 1)]}
    figures, errors = svc.parse(kind, cells)
    assert errors == []
    return figures


def _sale(eid, day, category, price, agent=False, n=[0]):  # noqa: B006 - a counter
    n[0] += 1
    return UsedCarSale(
        enterprise_id=eid, report_date=day, buyer_name="张三", buyer_code="110101199003074477",
        buyer_address="广州市", buyer_mobile="13800000000", seller_name="李四",
        seller_code="110101199003074477", seller_address="广州市", seller_mobile="13900000000",
        has_agent=agent, agent_name="王五" if agent else None, plate=f"粤A{n[0]:05d}",
        registration_no=f"4401{n[0]:08d}", vin=f"LSVAA4182E2{n[0]:06d}", brand_model="大众",
        vehicle_type="小型轿车", category=category, transfer_office="广州市车管所",
        price=Decimal(str(price)), operator_name="羊城市场")


def _report(db_session, eid):
    """The enterprise's reports as they are now, detached (usable after later requests)."""
    db_session.expire_all()
    found = db_session.query(UsedCarReport).filter_by(enterprise_id=eid).order_by(
        UsedCarReport.id).all()
    for report in found:
        for row in report.rows:
            db_session.expunge(row)
        db_session.expunge(report)
    return found


def _login(app, username):
    from conftest import login

    c = app.test_client()
    r = login(c, username, PASSWORD if username == APPRAISER else None)
    assert r.status_code == 302, r.data[:300]
    return c


def _xlsx_cells(data: bytes) -> list[list]:
    wb = load_workbook(io.BytesIO(data))
    return [[c.value for c in row] for ws in wb.worksheets for row in ws.iter_rows()]


# ----- the window service -------------------------------------------------------------------
def test_window_edges_through_the_service(uc, db_session):
    c, d = uc["ent_c"], uc["ent_d"]
    st = report_windows.check(MONTHLY, "2026-09", c, now=OPENS - datetime.timedelta(seconds=1))
    assert not st.may_submit and st.state == "not_open"
    with pytest.raises(ReportWindowClosedError) as exc:
        svc.submit(MONTHLY, 2026, 9, _figures(**GOOD), "何美玲", enterprise_id=c,
                   now=OPENS - datetime.timedelta(seconds=1))
    assert "2026" in str(exc.value) and exc.value.code == 422
    report = svc.submit(MONTHLY, 2026, 9, _figures(**GOOD), "何美玲", enterprise_id=c,
                        now=OPENS)
    assert not report.late and report.submitted_on == OPENS
    report = svc.submit(MONTHLY, 2026, 9, _figures(**GOOD), "检测员", enterprise_id=d,
                        now=LAST_SECOND)
    assert not report.late
    # Grace: accepted, flagged late; after grace: refused, nothing saved.
    report = svc.submit(MONTHLY, 2026, 8, _figures(**GOOD), "何美玲", enterprise_id=c,
                        now=D(2026, 9, 16))
    assert report.late
    assert report_windows.check(MONTHLY, "2026-08", c, now=D(2026, 9, 20, 23, 59, 59)).late
    with pytest.raises(ReportWindowClosedError):
        svc.submit(MONTHLY, 2026, 7, _figures(**GOOD), "何美玲", enterprise_id=c,
                   now=D(2026, 8, 21))
    assert {(r.year, r.period) for r in _report(db_session, c)} == {(2026, 9), (2026, 8)}
    # An extension reopens one report for one enterprise; a submission under it is late.
    report_windows.grant_extension(MONTHLY, "2026-07", c, D(2026, 8, 31, 23, 59, 59),
                                   "系统故障", now=D(2026, 8, 22))
    assert report_windows.check(MONTHLY, "2026-07", c, now=D(2026, 8, 25)).may_submit
    assert not report_windows.check(MONTHLY, "2026-07", d, now=D(2026, 8, 25)).may_submit
    report = svc.submit(MONTHLY, 2026, 7, _figures(**GOOD), "何美玲", enterprise_id=c,
                        now=D(2026, 8, 31, 23, 59, 59))
    assert report.late
    with pytest.raises(ReportWindowClosedError):
        report_windows.require_open(MONTHLY, "2026-07", c, now=D(2026, 9, 1))


def test_one_report_per_period_and_cross_checks_in_the_service(uc, db_session):
    c = uc["ent_c"]
    svc.submit(MONTHLY, 2026, 9, _figures(**GOOD), "何美玲", enterprise_id=c, now=INSIDE)
    with pytest.raises(UsedCarReportExistsError) as exc:
        svc.submit(MONTHLY, 2026, 9, _figures(**GOOD), "何美玲", enterprise_id=c, now=INSIDE)
    assert exc.value.report_id == _report(db_session, c)[0].id
    cells = {(cat, col): v for name, v in _cells(basic=("1", 3, 1, 1, 3, 0, 3, 0)).items()
             for cat, col in [name.split("-", 1)]}
    figures, errors = svc.parse(MONTHLY, cells)
    assert len(errors) == 1 and ("直接" in errors[0] or "direct" in errors[0])
    with pytest.raises(UsedCarReportInvalidError) as exc:
        svc.submit(MONTHLY, 2026, 9, figures, "何美玲", enterprise_id=uc["ent_d"],
                   errors=errors, now=INSIDE)
    assert exc.value.errors == errors and _report(db_session, uc["ent_d"]) == []
    cells[("mpv", "amount")] = "1.234"
    cells[("suv", "total_count")] = "-1"
    _figures_, errors = svc.parse(MONTHLY, cells)
    assert len(errors) == 2  # parse errors first; cross-checks once the numbers parse


def test_extension_grant_validation(uc, db_session):
    from app.errors import ReportExtensionInvalidError

    with pytest.raises(ReportExtensionInvalidError):
        report_windows.grant_extension(MONTHLY, "2026-09", uc["ent_c"], D(2026, 10, 1), "",
                                       now=INSIDE)
    with pytest.raises(ReportExtensionInvalidError):
        report_windows.grant_extension(MONTHLY, "2026-09", uc["ent_c"], D(2026, 10, 1),
                                       "理由", now=INSIDE)  # in the past
    with pytest.raises(ReportExtensionInvalidError):
        report_windows.grant_extension(MONTHLY, "2026Q3", uc["ent_c"], D(2026, 11, 1),
                                       "理由", now=INSIDE)  # not a month
    assert db_session.query(ReportExtension).count() == 0


# ----- U7: the enterprise's monthly report --------------------------------------------------
def test_add_page_offers_open_periods_and_says_why_not(uc, clock, as_user):
    c = as_user("ent.c")
    r = c.get(f"{MONTHLY_URL}/add")
    assert r.status_code == 200
    assert 'id="fill-2026-09"' in r.text  # the window of September is open
    assert 'id="fill-2026-10"' not in r.text and 'id="fill-2026-08"' not in r.text
    assert "尚未到报送时间" in r.text or "cannot be submitted yet" in r.text  # October: not yet
    assert "2026年8月" in r.text or "August 2026" in r.text
    # A closed period asked for directly: refused with the window's message.
    r = c.get(f"{MONTHLY_URL}/add?period=2026-07")
    assert r.status_code == 422 and "2026年7月" in r.text


def test_form_is_prefilled_from_the_months_sales(uc, clock, as_user, db_session):
    cid = uc["ent_c"]
    db_session.add_all([
        _sale(cid, datetime.date(2026, 9, 1), "basic", "50000"),
        _sale(cid, datetime.date(2026, 9, 30), "basic", "80000.50", agent=True),
        _sale(cid, datetime.date(2026, 9, 15), "suv", "123456"),
        _sale(cid, datetime.date(2026, 10, 1), "suv", "99999"),  # October: not counted
        _sale(uc["ent_d"], datetime.date(2026, 9, 3), "mpv", "70000"),  # another enterprise
    ])
    db_session.commit()
    r = as_user("ent.c").get(f"{MONTHLY_URL}/add?period=2026-09")
    assert r.status_code == 200
    assert 'id="report-prefilled"' in r.text
    assert 'name="basic-amount" id="basic-amount" value="13.00"' in r.text
    assert 'name="basic-total_count" id="basic-total_count" value="2"' in r.text
    assert 'name="basic-direct_count" id="basic-direct_count" value="1"' in r.text
    assert 'name="basic-consignment_count" id="basic-consignment_count" value="1"' in r.text
    assert 'name="suv-amount" id="suv-amount" value="12.35"' in r.text
    assert 'name="mpv-total_count" id="mpv-total_count" value="0"' in r.text
    assert 'id="total-amount" data-total="amount">25.35<' in r.text
    # Without sales: blank form, no prefill notice.
    r = as_user("ent.c").get(f"{MONTHLY_URL}/add?period=2026-08")
    assert r.status_code == 422  # August's window (and grace) are over at INSIDE
    clock.set(D(2026, 9, 5))
    r = as_user("ent.c").get(f"{MONTHLY_URL}/add?period=2026-08")
    assert r.status_code == 200 and 'id="report-prefilled"' not in r.text


def test_cross_check_errors_are_shown_and_nothing_saved(uc, clock, as_user, db_session):
    c = as_user("ent.c")
    data = {**_cells(basic=("12.5", 3, 2, 2, 2, 1, 1, 1), mpv=("abc", 1, 1, 0, 1, 0, 1, 0)),
            "period": "2026-09", "filer_name": "何美玲"}
    r = c.post(f"{MONTHLY_URL}/add", data=data)
    assert r.status_code == 422 and 'id="report-errors"' in r.text
    assert 'value="abc"' in r.text  # the user's input comes back
    data["mpv-amount"] = "4.5"
    r = c.post(f"{MONTHLY_URL}/add", data=data)
    assert r.status_code == 422
    text = r.text
    assert text.count("<li>") >= 2
    assert ("直接交易" in text or "direct" in text) and ("营运" in text or "operating" in text)
    # the sum and the total are named (full-width brackets in Chinese)
    assert ("(4)" in text or "（4）" in text) and ("(3)" in text or "（3）" in text)
    assert _report(db_session, uc["ent_c"]) == []


def test_submit_show_export_and_list(uc, clock, as_user, db_session):
    c = as_user("ent.c")
    r = c.post(f"{MONTHLY_URL}/add", data={**_cells(**GOOD), "period": "2026-09",
                                            "filer_name": "何美玲"})
    assert r.status_code == 302, r.text[:2000]
    (report,) = _report(db_session, uc["ent_c"])
    assert r.location.endswith(f"{MONTHLY_URL}/show/{report.id}")
    assert not report.late and report.filer_name == "何美玲"
    assert [row.category for row in report.rows] == list(CATEGORIES)
    basic = report.rows[0]
    assert (basic.amount, basic.total_count, basic.direct_count, basic.consignment_count,
            basic.local_transfer_count, basic.transfer_out_count, basic.operating_count,
            basic.non_operating_count) == (Decimal("12.50"), 3, 2, 1, 2, 1, 1, 2)
    r = c.get(f"{MONTHLY_URL}/show/{report.id}")
    assert r.status_code == 200
    assert 'id="total-amount" data-total="amount">65.50<' in r.text
    assert 'id="total-total_count" data-total="total_count">5<' in r.text
    assert 'id="report-edit"' in r.text and 'id="report-late"' not in r.text
    r = c.get(f"{MONTHLY_URL}/export_report/{report.id}")
    assert r.status_code == 200
    rows = _xlsx_cells(r.data)
    table = [row for row in rows if len(row) == 9 and isinstance(row[1], (int, float))]
    assert len(table) == len(CATEGORIES) + 1  # the categories, then the totals row
    assert table[0][1:9] == [12.5, 3, 2, 1, 2, 1, 1, 2]
    assert table[-1][1:3] == [65.5, 5]
    # The list, filtered by year and month, and its export.
    r = c.get(f"{MONTHLY_URL}/list/")
    assert r.status_code == 200 and "何美玲" in r.text
    view = app_view(c, "MonthlyReportView")
    year_arg = f"_flt_{svc_index(view, 'year')}_year"
    month_arg = f"_flt_{svc_index(view, 'period')}_period"
    r = c.get(f"{MONTHLY_URL}/list/?{year_arg}=2026&{month_arg}=8")
    assert "何美玲" not in r.text
    r = c.get(f"{MONTHLY_URL}/export/?{year_arg}=2026&{month_arg}=9")
    assert r.status_code == 200
    cells = _xlsx_cells(r.data)
    assert len(cells) == 2 and cells[1][0] == 2026 and cells[1][1] == 9
    assert 65.5 in cells[1] or "65.50" in [str(v) for v in cells[1]]
    assert db_session.query(AuditEvent).filter_by(action="export").count() >= 2


def app_view(client, name):
    return next(v for v in client.application.appbuilder.baseviews
                if type(v).__name__ == name)


def svc_index(view, column):
    from app.views.usedcar_reports import _equal_index

    with view.appbuilder.app.test_request_context():
        return _equal_index(view, column)


def test_one_report_per_month_second_attempt_goes_to_edit(uc, clock, as_user, db_session):
    c = as_user("ent.c")
    data = {**_cells(**GOOD), "period": "2026-09", "filer_name": "何美玲"}
    assert c.post(f"{MONTHLY_URL}/add", data=data).status_code == 302
    (report,) = _report(db_session, uc["ent_c"])
    r = c.get(f"{MONTHLY_URL}/add?period=2026-09")
    assert r.status_code == 302 and r.location.endswith(f"{MONTHLY_URL}/edit/{report.id}")
    r = c.post(f"{MONTHLY_URL}/add", data={**data, "basic-amount": "99"})
    assert r.status_code == 302 and r.location.endswith(f"{MONTHLY_URL}/edit/{report.id}")
    (report,) = _report(db_session, uc["ent_c"])
    assert report.rows[0].amount == Decimal("12.50")
    r = c.get(f"{MONTHLY_URL}/edit/{report.id}")
    assert r.status_code == 200 and 'value="12.50"' in r.text
    r = c.post(f"{MONTHLY_URL}/edit/{report.id}", data={**data, "basic-amount": "20.25"})
    assert r.status_code == 302
    (report,) = _report(db_session, uc["ent_c"])
    assert report.rows[0].amount == Decimal("20.25") and not report.late


def test_window_edges_end_to_end(uc, clock, as_user, db_session):
    c = as_user("ent.c")
    data = {**_cells(**GOOD), "period": "2026-09", "filer_name": "何美玲"}
    clock.set(OPENS - datetime.timedelta(seconds=1))
    r = c.post(f"{MONTHLY_URL}/add", data=data)
    assert r.status_code == 422 and "2026年10月1日" in r.text
    assert _report(db_session, uc["ent_c"]) == []
    clock.set(LAST_SECOND)
    assert c.post(f"{MONTHLY_URL}/add", data=data).status_code == 302
    assert not _report(db_session, uc["ent_c"])[0].late
    clock.set(GRACE_FIRST)
    r = c.post(f"{MONTHLY_URL}/add", data={**data, "period": "2026-09"}, follow_redirects=True)
    (report,) = _report(db_session, uc["ent_c"])
    # A change in grace is accepted and marks the report late.
    r = c.post(f"{MONTHLY_URL}/edit/{report.id}", data={**data, "basic-amount": "30"})
    assert r.status_code == 302
    (report,) = _report(db_session, uc["ent_c"])
    assert report.late and report.rows[0].amount == Decimal("30.00")
    r = c.get(f"{MONTHLY_URL}/show/{report.id}")
    assert 'id="report-late"' in r.text
    clock.set(GRACE_LAST)
    assert c.get(f"{MONTHLY_URL}/edit/{report.id}").status_code == 200


def test_edit_outside_the_window_is_refused_everywhere(uc, clock, as_user, app, db_session):
    c = as_user("ent.c")
    data = {**_cells(**GOOD), "period": "2026-09", "filer_name": "何美玲"}
    assert c.post(f"{MONTHLY_URL}/add", data=data).status_code == 302
    (report,) = _report(db_session, uc["ent_c"])
    token = api_token(app.test_client(), "ent.c")
    clock.set(AFTER_GRACE)
    r = c.get(f"{MONTHLY_URL}/edit/{report.id}")
    assert r.status_code == 302 and r.location.endswith(f"{MONTHLY_URL}/show/{report.id}")
    r = c.get(r.location)
    assert "2026年10月20日" in r.text and 'id="report-edit"' not in r.text
    r = c.post(f"{MONTHLY_URL}/edit/{report.id}", data={**data, "basic-amount": "99"})
    assert r.status_code == 422 and "2026年10月20日" in r.text
    r = c.put(f"/api/v1/usedcar_report/{report.id}", headers=bearer(token),
              json={"rows": [{"category": "basic", "amount": "99"}]})
    assert r.status_code == 422 and "2026" in r.get_json()["message"]
    (report,) = _report(db_session, uc["ent_c"])
    assert report.rows[0].amount == Decimal("12.50") and not report.late
    # A new report for a closed month: refused too (UI and API).
    r = c.post(f"{MONTHLY_URL}/add", data={**data, "period": "2026-08"})
    assert r.status_code == 422
    r = c.post("/api/v1/usedcar_report/", headers=bearer(token),
               json={"kind": MONTHLY, "year": 2026, "period": 8, "filer_name": "何美玲"})
    assert r.status_code == 422
    assert len(_report(db_session, uc["ent_c"])) == 1


# ----- U8: the appraisal institution's quarterly report ------------------------------------
def test_quarterly_report_only_for_appraisal_institutions(uc, clock, app, as_user, db_session):
    c = as_user("ent.c")
    r = c.get(f"{QUARTERLY_URL}/add")
    assert r.status_code == 403 and ("鉴定评估" in r.text or "appraisal" in r.text)
    data = {**_cells(QUARTERLY, basic=(4, "8.8")), "period": "2026Q3", "filer_name": "何美玲"}
    assert c.post(f"{QUARTERLY_URL}/add", data=data).status_code == 403
    token = api_token(app.test_client(), "ent.c")
    r = c.post("/api/v1/usedcar_report/", headers=bearer(token),
               json={"kind": QUARTERLY, "year": 2026, "period": 3, "filer_name": "何美玲"})
    assert r.status_code == 403
    with pytest.raises(UsedCarReportNotAllowedError):
        svc.submit(QUARTERLY, 2026, 3, None, "x", enterprise_id=uc["ent_c"], now=INSIDE)
    assert _report(db_session, uc["ent_c"]) == []
    # The appraisal institution files it: vehicles appraised and their value per category.
    d = _login(app, APPRAISER)
    r = d.get(f"{QUARTERLY_URL}/add")
    assert r.status_code == 200 and 'id="fill-2026Q3"' in r.text
    r = d.get(f"{QUARTERLY_URL}/add?period=2026Q3")
    assert r.status_code == 200 and 'name="basic-direct_count"' not in r.text
    r = d.post(f"{QUARTERLY_URL}/add", data={**data, "filer_name": "检测员"})
    assert r.status_code == 302, r.text[:1000]
    (report,) = _report(db_session, uc["ent_d"])
    assert report.kind == QUARTERLY and (report.year, report.period) == (2026, 3)
    assert (report.rows[0].total_count, report.rows[0].amount) == (4, Decimal("8.80"))
    r = d.get(f"{QUARTERLY_URL}/show/{report.id}")
    assert r.status_code == 200 and "8.80" in r.text
    # The monthly list does not show quarterly reports.
    assert d.get(f"{MONTHLY_URL}/show/{report.id}").status_code == 404


# ----- U4: gating ----------------------------------------------------------------------------
def test_reports_wait_for_filing_confirmation(uc, clock, app, as_user, db_session):
    profile = db_session.query(UsedCarProfile).filter_by(enterprise_id=uc["ent_c"]).one()
    profile.confirmed_on = None
    db_session.commit()
    c = as_user("ent.c")
    r = c.get(f"{MONTHLY_URL}/add")
    assert r.status_code == 403 and ("确认" in r.text or "confirmed" in r.text)
    r = c.post(f"{MONTHLY_URL}/add", data={**_cells(**GOOD), "period": "2026-09",
                                            "filer_name": "何美玲"})
    assert r.status_code == 403
    token = api_token(app.test_client(), "ent.c")
    r = c.post("/api/v1/usedcar_report/", headers=bearer(token),
               json={"kind": MONTHLY, "year": 2026, "period": 9, "filer_name": "何美玲"})
    assert r.status_code == 403 and r.get_json()["message"]
    with pytest.raises(UsedCarNotConfirmedError):
        svc.submit(MONTHLY, 2026, 9, _figures(), "x", enterprise_id=uc["ent_c"], now=INSIDE)
    assert _report(db_session, uc["ent_c"]) == []
    # A rental enterprise is no used-car enterprise at all.
    r = as_user("ent.a").get(f"{MONTHLY_URL}/add")
    assert r.status_code == 403


# ----- REST API -------------------------------------------------------------------------------
def test_api_files_reads_and_changes_a_report(uc, clock, app, db_session):
    client = app.test_client()
    token = api_token(client, "ent.c")
    body = {"kind": MONTHLY, "year": 2026, "period": 9, "filer_name": "何美玲",
            "rows": [{"category": "basic", "amount": "12.50", "total_count": 3,
                      "direct_count": 2, "consignment_count": 1, "local_transfer_count": 2,
                      "transfer_out_count": 1, "operating_count": 1,
                      "non_operating_count": 2}]}
    bad = {**body, "rows": [{**body["rows"][0], "direct_count": 3}]}
    r = client.post("/api/v1/usedcar_report/", headers=bearer(token), json=bad)
    assert r.status_code == 422 and len(r.get_json()["errors"]) == 1
    r = client.post("/api/v1/usedcar_report/", headers=bearer(token),
                    json={**body, "rows": [{"category": "bus"}]})
    assert r.status_code == 422
    r = client.post("/api/v1/usedcar_report/", headers=bearer(token), json=body)
    assert r.status_code == 201, r.get_json()
    pk = r.get_json()["id"]
    assert r.get_json()["result"]["totals"]["amount"] == "12.50"
    r = client.post("/api/v1/usedcar_report/", headers=bearer(token), json=body)
    assert r.status_code == 409 and r.get_json()["id"] == pk
    r = client.get(f"/api/v1/usedcar_report/{pk}", headers=bearer(token))
    result = r.get_json()["result"]
    assert r.status_code == 200 and result["period_key"] == "2026-09"
    assert result["rows"][0]["category"] == "basic" and result["rows"][0]["total_count"] == 3
    r = client.put(f"/api/v1/usedcar_report/{pk}", headers=bearer(token),
                   json={"rows": [{"category": "mpv", "amount": "1", "total_count": 1,
                                   "direct_count": 1, "local_transfer_count": 1,
                                   "operating_count": 1}]})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["result"]["totals"]["amount"] == "13.50"  # basic kept, mpv added
    r = client.get("/api/v1/usedcar_report/?q=(filters:!((col:year,opr:eq,value:2026)))",
                   headers=bearer(token))
    assert r.get_json()["count"] == 1
    r = client.get("/api/v1/usedcar_report/export", headers=bearer(token))
    assert r.status_code == 200 and _xlsx_cells(r.data)[1][0] == pk


def test_openapi_lists_the_report_api(app):
    c = app.test_client()
    spec = c.get("/api/v1/_openapi", headers=bearer(api_token(c, "ent.c"))).get_json()
    assert "/api/v1/usedcar_report/" in spec["paths"]
    assert set(spec["paths"]["/api/v1/usedcar_report/{pk}"]) == {"get", "put"}


# ----- U9: the authority side ---------------------------------------------------------------
def _submit_both(uc):
    svc.submit(MONTHLY, 2026, 9, _figures(**GOOD), "何美玲", enterprise_id=uc["ent_c"],
               now=INSIDE)
    svc.submit(MONTHLY, 2026, 9, _figures(basic=("7.25", 1, 0, 1, 1, 0, 0, 1),
                                          other=("100", 4, 4, 0, 0, 4, 4, 0)),
               "检测员", enterprise_id=uc["ent_d"], now=INSIDE)
    svc.submit(MONTHLY, 2026, 8, _figures(suv=("10", 1, 1, 0, 1, 0, 1, 0)), "检测员",
               enterprise_id=uc["ent_d"], now=D(2026, 9, 10))
    # Shenzhen: outside the Guangzhou regulator's jurisdiction.
    svc.submit(MONTHLY, 2026, 9, _figures(basic=("1000", 9, 9, 0, 9, 0, 9, 0)), "深圳",
               enterprise_id=uc["ent_e"], now=INSIDE)


def test_missing_reports_in_the_jurisdiction(uc, clock, as_user, db_session):
    reg = as_user("reg.usedcar")
    r = reg.get("/usedcar/oversight/missing/?kind=usedcar_monthly&period=2026-09")
    assert r.status_code == 200
    assert f'id="missing-{uc["ent_c"]}"' in r.text and f'id="missing-{uc["ent_d"]}"' in r.text
    assert f'id="missing-{uc["ent_e"]}"' not in r.text  # Shenzhen
    svc.submit(MONTHLY, 2026, 9, _figures(**GOOD), "何美玲", enterprise_id=uc["ent_c"],
               now=INSIDE)
    r = reg.get("/usedcar/oversight/missing/?kind=usedcar_monthly&period=2026-09")
    assert f'id="missing-{uc["ent_c"]}"' not in r.text
    assert f'id="missing-{uc["ent_d"]}"' in r.text
    r = reg.get("/usedcar/oversight/missing/?kind=usedcar_quarterly&period=2026Q3")
    assert f'id="missing-{uc["ent_d"]}"' in r.text  # the appraisal institution only
    assert f'id="missing-{uc["ent_c"]}"' not in r.text
    r = reg.get("/usedcar/oversight/missing/?kind=usedcar_monthly&period=2026-09&region=440111")
    assert f'id="missing-{uc["ent_d"]}"' not in r.text  # 天河区, not 白云区
    r = reg.get("/usedcar/oversight/missing/export/?kind=usedcar_monthly&period=2026-09")
    assert r.status_code == 200
    cells = _xlsx_cells(r.data)
    assert [row[0] for row in cells[1:]] == ["广州市天河二手车鉴定评估有限公司"]
    # An unconfirmed enterprise is not asked for reports yet.
    profile = db_session.query(UsedCarProfile).filter_by(enterprise_id=uc["ent_d"]).one()
    profile.confirmed_on = None
    db_session.commit()
    r = reg.get("/usedcar/oversight/missing/?kind=usedcar_monthly&period=2026-09")
    assert f'id="missing-{uc["ent_d"]}"' not in r.text
    # The provincial auditor sees Shenzhen too.
    r = as_user("auditor").get("/usedcar/oversight/missing/?kind=usedcar_monthly&period=2026-09")
    assert r.status_code == 200 and f'id="missing-{uc["ent_e"]}"' in r.text


def test_regional_aggregates_sum_the_jurisdiction(uc, clock, as_user, db_session):
    _submit_both(uc)
    reg = as_user("reg.usedcar")
    r = reg.get("/usedcar/oversight/aggregates/?start=2026-08&end=2026-09")
    assert r.status_code == 200
    text = r.text
    assert 'id="chart-amount"' in text and 'id="chart-category"' in text and "<svg" in text
    # September: C (12.50 + 53) + D (7.25 + 100) = 172.75; Shenzhen's 1000 not counted.
    september = text.split('id="month-2026-09"')[1].split("</tr>")[0]
    assert "172.75" in september and ">2<" in september  # two reports
    august = text.split('id="month-2026-08"')[1].split("</tr>")[0]
    assert "10.00" in august
    basic = text.split('id="category-basic"')[1].split("</tr>")[0]
    assert "19.75" in basic and ">4<" in basic  # 3 + 1 vehicles
    r = reg.get("/usedcar/oversight/aggregates/?start=2026-09&end=2026-09&region=440111")
    assert "65.50" in r.text.split('id="month-2026-09"')[1].split("</tr>")[0]  # C only
    r = reg.get("/usedcar/oversight/aggregates/export/?start=2026-08&end=2026-09")
    assert r.status_code == 200
    wb = load_workbook(io.BytesIO(r.data))
    months = [[c.value for c in row] for row in wb.worksheets[0].iter_rows()]
    assert months[1][:3] == ["2026-08", 1, 10] and months[2][:3] == ["2026-09", 2, 172.75]
    assert months[-1][1:3] == [3, 182.75]  # the totals row
    categories = [[c.value for c in row] for row in wb.worksheets[1].iter_rows()]
    assert categories[1][1:3] == [19.75, 4]
    # The provincial auditor's jurisdiction includes Shenzhen.
    r = as_user("auditor").get("/usedcar/oversight/aggregates/?start=2026-09&end=2026-09")
    assert "1172.75" in r.text.split('id="month-2026-09"')[1].split("</tr>")[0]


def test_aggregates_are_one_index_served_group_by(uc, clock, app, as_user):
    """The page's figures are one GROUP BY on the database (no report rows loaded) and
    SQLite finds the month's reports with ix_usedcar_report_period."""
    from sqlalchemy import event

    from app.extensions import db

    _submit_both(uc)
    statements = []

    def capture(conn, cursor, statement, params, context, executemany):
        statements.append(statement)

    reg = as_user("reg.usedcar")
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        reg.get("/usedcar/oversight/aggregates/?start=2026-09&end=2026-09")
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    grouped = [s for s in statements if "usedcar_report_row" in s and "GROUP BY" in s]
    assert len(grouped) == 1  # both tables of the page from one statement
    assert not [s for s in statements if "FROM usedcar_report_row" in s
                and "GROUP BY" not in s]
    if engine.dialect.name == "sqlite":
        with app.app_context():
            from sqlalchemy.dialects import sqlite

            query = svc.aggregate_query((2026, 9), (2026, 9))
            sql = str(query.compile(dialect=sqlite.dialect(),
                                    compile_kwargs={"literal_binds": True}))
            plan = " ".join(str(r) for r in db.session.execute(
                db.text("EXPLAIN QUERY PLAN " + sql)))
        assert "ix_usedcar_report_period" in plan, plan


# ----- extensions ----------------------------------------------------------------------------
def test_regulator_grants_an_extension(uc, clock, app, as_user, db_session):
    reg = as_user("reg.usedcar")
    clock.set(AFTER_GRACE)
    r = reg.get(f"/usedcar/oversight/extensions/add?enterprise_id={uc['ent_c']}"
                "&kind=usedcar_monthly&period=2026-09")
    assert r.status_code == 200 and "广州市羊城二手车交易市场有限公司" in r.text
    form = {"enterprise_id": uc["ent_c"], "kind": MONTHLY, "period": "2026-09",
            "until": "2026-10-25", "reason": "系统故障未能按时报送"}
    r = reg.post("/usedcar/oversight/extensions/add", data={**form, "reason": " "})
    assert r.status_code == 422 and db_session.query(ReportExtension).count() == 0
    r = reg.post("/usedcar/oversight/extensions/add", data=form)
    assert r.status_code == 302
    ext = db_session.query(ReportExtension).one()
    assert (ext.enterprise_id, ext.kind, ext.period_key) == (uc["ent_c"], MONTHLY, "2026-09")
    assert ext.until == D(2026, 10, 25, 23, 59, 59)
    assert ext.granted_by_id == ids(db_session)["users"]["reg.usedcar"]
    assert db_session.query(AuditEvent).filter_by(action="extend_window").count() == 1
    r = reg.get("/usedcar/oversight/extensions/list/")
    assert "系统故障未能按时报送" in r.text
    # The enterprise may now submit, flagged late; others still may not.
    c = as_user("ent.c")
    r = c.get(f"{MONTHLY_URL}/add")
    assert 'id="fill-2026-09"' in r.text
    r = c.post(f"{MONTHLY_URL}/add", data={**_cells(**GOOD), "period": "2026-09",
                                            "filer_name": "何美玲"})
    assert r.status_code == 302
    assert _report(db_session, uc["ent_c"])[0].late
    d = _login(app, APPRAISER)
    assert d.post(f"{MONTHLY_URL}/add", data={**_cells(**GOOD), "period": "2026-09",
                                               "filer_name": "x"}).status_code == 422


def test_extension_outside_the_jurisdiction_or_by_others_is_refused(uc, clock, as_user,
                                                                    db_session):
    form = {"kind": MONTHLY, "period": "2026-09", "until": "2026-10-25", "reason": "理由"}
    reg = as_user("reg.usedcar")
    for foreign in (uc["ent_e"], uc["ent_a"], 999999):
        r = reg.post("/usedcar/oversight/extensions/add",
                     data={**form, "enterprise_id": foreign})
        assert r.status_code == 404, foreign
        assert reg.get(f"/usedcar/oversight/extensions/add?enterprise_id={foreign}"
                       ).status_code == 404
    # Auditors read and export, change nothing; enterprises never extend.
    for username in ("auditor", "ent.c"):
        r = as_user(username).post("/usedcar/oversight/extensions/add",
                                   data={**form, "enterprise_id": uc["ent_c"]})
        assert r.status_code in (302, 403), username
    assert db_session.query(ReportExtension).count() == 0


def test_auditor_reads_and_exports_but_changes_nothing(uc, clock, app, as_user, db_session):
    _submit_both(uc)
    (report,) = [r for r in _report(db_session, uc["ent_c"])]
    aud = as_user("auditor")
    for path in ("/usedcar/oversight/missing/", "/usedcar/oversight/missing/export/",
                 "/usedcar/oversight/aggregates/", "/usedcar/oversight/aggregates/export/",
                 f"{MONTHLY_URL}/list/", f"{MONTHLY_URL}/show/{report.id}",
                 f"{MONTHLY_URL}/export_report/{report.id}", f"{MONTHLY_URL}/export/",
                 "/usedcar/oversight/extensions/list/"):
        assert aud.get(path).status_code == 200, path
    r = aud.get(f"{MONTHLY_URL}/show/{report.id}")
    assert 'id="report-edit"' not in r.text
    assert aud.get(f"{MONTHLY_URL}/edit/{report.id}").status_code == 403
    assert aud.post(f"{MONTHLY_URL}/edit/{report.id}",
                    data={**_cells(), "filer_name": "审计"}).status_code == 403
    assert aud.post(f"{MONTHLY_URL}/add", data={**_cells(), "period": "2026-09"}
                    ).status_code == 403
    token = api_token(app.test_client(), "auditor")
    r = aud.put(f"/api/v1/usedcar_report/{report.id}", headers=bearer(token),
                json={"filer_name": "审计"})
    assert r.status_code == 403
    r = aud.get(f"/api/v1/usedcar_report/{report.id}", headers=bearer(token))
    assert r.status_code == 200
    (report,) = _report(db_session, uc["ent_c"])
    assert report.filer_name == "何美玲"


# ----- tenancy ---------------------------------------------------------------------------------
def test_another_enterprise_gets_404_everywhere(uc, clock, app, as_user, db_session):
    _submit_both(uc)
    (report,) = _report(db_session, uc["ent_c"])
    data = {**_cells(**GOOD), "filer_name": "hijack"}
    for username in ("ent.a", APPRAISER):
        other = as_user(username) if username != APPRAISER else _login(app, APPRAISER)
        for path in (f"{MONTHLY_URL}/show/{report.id}", f"{MONTHLY_URL}/edit/{report.id}",
                     f"{MONTHLY_URL}/export_report/{report.id}"):
            assert other.get(path).status_code == 404, (username, path)
        assert other.post(f"{MONTHLY_URL}/edit/{report.id}", data=data).status_code == 404
        r = other.get(f"{MONTHLY_URL}/list/")
        assert "何美玲" not in r.text
        r = other.get(f"{MONTHLY_URL}/export/")
        assert "何美玲" not in str(_xlsx_cells(r.data))
        token = api_token(app.test_client(), username,
                          PASSWORD if username == APPRAISER else None)
        assert other.get(f"/api/v1/usedcar_report/{report.id}",
                         headers=bearer(token)).status_code == 404
        assert other.put(f"/api/v1/usedcar_report/{report.id}", headers=bearer(token),
                         json={"filer_name": "hijack"}).status_code == 404
        r = other.get("/api/v1/usedcar_report/", headers=bearer(token))
        assert report.id not in r.get_json()["ids"]
        # No window extension, missing list or aggregates for enterprises.
        assert other.get("/usedcar/oversight/missing/").status_code == 403
        assert other.get("/usedcar/oversight/aggregates/").status_code == 403
    (report,) = _report(db_session, uc["ent_c"])
    assert report.filer_name == "何美玲"


def test_anonymous_and_other_sectors_see_nothing(uc, clock, client, as_user, db_session):
    _submit_both(uc)
    (report,) = _report(db_session, uc["ent_c"])
    for path in (f"{MONTHLY_URL}/list/", f"{MONTHLY_URL}/show/{report.id}",
                 f"{MONTHLY_URL}/add", f"{MONTHLY_URL}/edit/{report.id}",
                 f"{MONTHLY_URL}/export_report/{report.id}", "/usedcar/oversight/missing/",
                 "/usedcar/oversight/aggregates/", "/usedcar/oversight/extensions/add"):
        r = client.get(path)
        assert r.status_code == 302 and "/login/" in r.location, path
    r = client.post(f"{MONTHLY_URL}/edit/{report.id}", data={"filer_name": "x"})
    assert r.status_code == 302 and "/login/" in r.location
    assert client.get(f"/api/v1/usedcar_report/{report.id}").status_code == 401
    assert client.get("/api/v1/usedcar_report/").status_code == 401
    # reg.rental supervises rental enterprises only: no used-car report reaches it.
    rental = as_user("reg.rental")
    r = rental.get(f"{MONTHLY_URL}/list/")
    assert r.status_code == 200 and "何美玲" not in r.text and "检测员" not in r.text
    assert rental.get(f"{MONTHLY_URL}/show/{report.id}").status_code == 404
    assert rental.get(f"{MONTHLY_URL}/export_report/{report.id}").status_code == 404
    r = rental.get("/usedcar/oversight/aggregates/?start=2026-09&end=2026-09")
    assert r.status_code == 200
    assert "0.00" in r.text.split('id="month-2026-09"')[1].split("</tr>")[0]
    r = rental.get("/usedcar/oversight/missing/?period=2026-09")
    assert "羊城" not in r.text and "天河二手车" not in r.text
    r = rental.post("/usedcar/oversight/extensions/add", data={
        "enterprise_id": uc["ent_c"], "kind": MONTHLY, "period": "2026-09",
        "until": "2026-10-25", "reason": "x"})
    assert r.status_code == 404
    # The Guangzhou regulator sees the Guangzhou reports, not Shenzhen's.
    reg = as_user("reg.usedcar")
    r = reg.get(f"{MONTHLY_URL}/list/")
    assert "何美玲" in r.text and "深圳" not in r.text
    (shenzhen,) = _report(db_session, uc["ent_e"])
    assert reg.get(f"{MONTHLY_URL}/show/{shenzhen.id}").status_code == 404


def test_sector_scope_holds_for_an_enterprise_in_two_sectors(uc, clock, as_user, db_session):
    """A used-car report of an enterprise that is also a rental enterprise: the rental
    regulator (whose jurisdiction holds the enterprise for rental) never reaches it; the
    auditor, supervising both sectors, does. Regression: every sector table used to be
    scoped by one shared cached criteria, the last sector's jurisdiction."""
    a = db_session.get(Enterprise, uc["ent_a"])
    a.sectors.append(db_session.query(Sector).filter_by(code="usedcar").one())
    db_session.add(UsedCarProfile(enterprise_id=a.id, enterprise_type="dealer",
                                  business_types="dealer", confirmed_on=D(2026, 1, 5)))
    db_session.commit()
    svc.submit(MONTHLY, 2026, 9, _figures(**GOOD), "穗通填报人", enterprise_id=a.id, now=INSIDE)
    (report,) = _report(db_session, a.id)
    rental = as_user("reg.rental")
    assert rental.get(f"{MONTHLY_URL}/show/{report.id}").status_code == 404
    assert "穗通填报人" not in rental.get(f"{MONTHLY_URL}/list/").text
    r = as_user("auditor").get(f"{MONTHLY_URL}/show/{report.id}")
    assert r.status_code == 200 and "穗通填报人" in r.text
    r = as_user("auditor").get("/usedcar/oversight/aggregates/?start=2026-09&end=2026-09")
    assert "65.50" in r.text.split('id="month-2026-09"')[1].split("</tr>")[0]
