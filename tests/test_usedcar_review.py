"""Findings of the fresh-eyes review of the used-car module (security / correctness / UX),
each a regression test now: every one failed against the code it was written for (the
finding's number is in its docstring). Demo data as loaded by the conftest (ent.c confirmed
with its sales, ent.d unconfirmed, reg.usedcar = 广州市商务局)."""

from __future__ import annotations

import datetime
import io
import re
import zipfile

import pytest
from conftest import api_token, bearer, ids, logged_in
from openpyxl import Workbook

from app.services.usedcar_sales import FIELDS

TODAY = datetime.date.today()
LAST_MONTH = TODAY.replace(day=1) - datetime.timedelta(days=1)  # demo: missing, extended a week
IN_SIX_MONTHS = (TODAY.replace(day=1) + datetime.timedelta(days=190)).replace(day=1)

def _shown_count(html: str) -> str | None:
    m = re.search(r"记录数目\s*:?\s*</?[^>]*>?\s*([0-9,+]+)", html) or re.search(
        r"记录数目[^0-9]*([0-9,+]+)", html)
    return m.group(1) if m else None


@pytest.fixture()
def no_propagation(app):
    """Let a server error become the 500 a user sees instead of a test exception."""
    before = app.config.get("PROPAGATE_EXCEPTIONS")
    app.config["PROPAGATE_EXCEPTIONS"] = False
    yield
    app.config["PROPAGATE_EXCEPTIONS"] = before


# ----- F1: the list count of authorities is always 1 ------------------------------------------
def test_f1_regulator_sales_list_counts_every_record_and_pages(app, db_session):
    """F1. reg.usedcar opens /usedcar/sales/list/: ent.c has 85 sales; the page says
    "记录数目: 1" and offers no page 2 (records 26-85 unreachable in the UI). Cause:
    AppSQLAInterface.query_count (app/views/base.py) replaces the entities with
    literal_column("1"); when no filter names the table (authority/admin scope adds no
    filter, the ORM hook does), the inner query has no FROM at all: SELECT 1 LIMIT n."""
    from app.models.base import unscoped
    from app.models.usedcar import UsedCarSale

    with unscoped():
        total = db_session.query(UsedCarSale).count()
    assert total > 25
    reg = logged_in(app, "reg.usedcar")
    html = reg.get("/usedcar/sales/list/").get_data(as_text=True)
    assert _shown_count(html) == str(total)
    assert "page_UsedCarSaleView=1" in html  # a link to the second page


# ----- F2: a confirmed enterprise moves itself out of its authority's jurisdiction ------------
def test_f2_enterprise_cannot_leave_its_authority_by_editing_its_domicile(app, db_session):
    """F2. ent.c (confirmed by 广州市商务局) posts /usedcar/profile/edit with region_code
    440304 (Shenzhen): saved at once, no review. From then on reg.usedcar sees none of its
    sales or reports (404 on /usedcar/reports/monthly/show/1), the enterprise is still
    'confirmed' although the Shenzhen authority never confirmed anything. A change of
    domicile region must not be self-service (refuse it, or route it through the authority
    like a filing change)."""
    c = logged_in(app, "ent.c")
    r = c.post("/usedcar/profile/edit", data={
        "region_code": "440304", "street": "深圳市福田区深南大道1号",
        "licence_no": "440111000023451", "org_code": "", "tax_no": "",
        "business_types": ["market", "appraisal"], "filer_name": "李国栋",
        "filer_mobile": "13800138000"})
    assert r.status_code == 422 and "备案登记表" in r.get_data(as_text=True)
    reg = logged_in(app, "reg.usedcar")
    assert reg.get("/usedcar/reports/monthly/show/1").status_code == 200


# ----- F3: two submissions of one month's report -> 500 ----------------------------------------
def test_f3_second_concurrent_monthly_report_is_not_a_server_error(app, monkeypatch,
                                                                   no_propagation):
    """F3. Two POSTs of the same month racing (both pass `find()` before either commits):
    the second hits uq_usedcar_report_period -> IntegrityError, not caught in
    usedcar_reports.submit() -> 500 (UI) and {"message": "Fatal error"} 500 (API). The race
    is simulated by letting find() miss the first report. Expected: 409 / redirect to the
    existing report, as when find() sees it."""
    from app.services import usedcar_reports as svc

    c = logged_in(app, "ent.c")
    data = {"period": f"{LAST_MONTH:%Y-%m}", "filer_name": "李国栋"}
    first = c.post("/usedcar/reports/monthly/add", data=data)
    assert first.status_code == 302
    monkeypatch.setattr(svc, "find", lambda *a, **k: None)
    second = c.post("/usedcar/reports/monthly/add", data=data)
    assert second.status_code < 500
    token = api_token(app.test_client(), "ent.c")
    api = app.test_client().post("/api/v1/usedcar_report/", headers=bearer(token), json={
        "kind": "usedcar_monthly", "year": LAST_MONTH.year, "period": LAST_MONTH.month,
        "filer_name": "x"})
    assert api.status_code == 409


# ----- F4: a 250 KB upload costs ~10 s and ~1.8 GB in the web request ---------------------------
def _sales_workbook() -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "二手车销售信息"
    ws.append(list(FIELDS))
    wb_bytes = io.BytesIO()
    wb.save(wb_bytes)
    return wb_bytes.getvalue()


def _with_huge_styles(data: bytes, xfs: int) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for info in src.infolist():
            part = src.read(info.filename)
            if info.filename == "xl/styles.xml":
                xf = b'<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>' * xfs
                part = re.sub(rb'<cellXfs count="\d+">', b'<cellXfs count="1">' + xf, part)
            dst.writestr(info, part)
    return out.getvalue()


def test_f4_import_refuses_an_xml_bomb_part_in_the_request(app):
    """F4. POST /usedcar/sales/import/ as ent.c with a valid template whose xl/styles.xml is
    inflated to ~20 MB of <xf/> elements (the upload is ~60 KB; the unpacked total stays
    under IMPORT_MAX_UNPACKED_BYTES = 100 MB). Package._read_styles (and _xml for the
    workbook / content types) parses the whole part with lxml into a tree: at 86 MB the
    request took 11 s and the process peaked at +1.8 GB, and the job parses it again.
    Expected: parts read with lxml have a small size limit of their own (or are
    stream-parsed like the sheet), and such a file is refused (422) in the request."""
    bomb = _with_huge_styles(_sales_workbook(), 320_000)
    assert len(bomb) < 200_000
    c = logged_in(app, "ent.c")
    r = c.post("/usedcar/sales/import/", data={"file": (io.BytesIO(bomb), "bomb.xlsx")},
               content_type="multipart/form-data")
    assert r.status_code == 422


# ----- F5: U8 gating: the quarterly report without a confirmed appraisal filing ---------------
def test_f5_quarterly_report_needs_a_confirmed_appraisal_filing(app):
    """F5. ent.c's confirmed filing is the market one; its appraisal filing was never
    confirmed (there is none: /usedcar/filings/list/ shows only 二手车交易市场). Still
    /usedcar/reports/quarterly/add offers the appraisal report: ensure_may_report() checks
    the profile's business types (self-service, see F2 - any enterprise can tick
    'appraisal' on its profile and file at once) and a confirmation of *any* filing.
    Expected (seed 2.3: filings are confirmed before reporting): the quarterly report
    needs the appraisal filing confirmed."""
    c = logged_in(app, "ent.c")
    assert c.get("/usedcar/reports/quarterly/add").status_code == 403


# ----- F6: server errors on out-of-range integers -----------------------------------------------
def test_f6_huge_page_number_is_not_a_server_error(app, no_propagation):
    """F6. GET /usedcar/sales/list/?page_UsedCarSaleView=99999999999999999999 (any user,
    any list of the platform): OverflowError from SQLite in AppSQLAInterface.query
    (app/views/base.py) -> 500. Expected: 400 or the last page."""
    c = logged_in(app, "ent.c")
    r = c.get("/usedcar/sales/list/?page_UsedCarSaleView=99999999999999999999")
    assert r.status_code < 500


def test_f6_huge_enterprise_id_in_extension_form_is_not_a_server_error(app, no_propagation):
    """F6. GET /usedcar/oversight/extensions/add?enterprise_id=99999999999999999999999 as
    reg.usedcar: isdigit() passes, db.session.get(Enterprise, int(...)) overflows -> 500
    (app/views/usedcar_reports.py ReportExtensionView.add). Expected: 404."""
    reg = logged_in(app, "reg.usedcar")
    r = reg.get("/usedcar/oversight/extensions/add?enterprise_id=99999999999999999999999")
    assert r.status_code == 404


# ----- F7: extensions that mean nothing -----------------------------------------------------------
def test_f7_extension_for_a_period_not_due_yet_is_refused(app, db_session):
    """F7. reg.usedcar grants ent.c an "extension" of the 2027-05 monthly report (its window
    opens 2027-06-01) until 2030-12-31: accepted and listed, but it can never do anything
    (windows.status refuses before the window opens). The same for an `until` before the
    window's own close. Expected: 422 with a message ("the window has not closed yet")."""
    reg = logged_in(app, "reg.usedcar")
    r = reg.post("/usedcar/oversight/extensions/add", data={
        "enterprise_id": str(ids(db_session)["ent_c"]), "kind": "usedcar_monthly",
        "period": f"{IN_SIX_MONTHS:%Y-%m}",
        "until": f"{IN_SIX_MONTHS.year + 3}-12-31", "reason": "review"})
    assert r.status_code == 422


# ----- F8: U2 cannot be tried with the demo accounts -------------------------------------------
def test_f8_demo_used_car_enterprise_signs_in_with_its_licence_number(app):
    """F8. U2: ent.c's profile shows its business licence number 440111000023451, but
    signing in with it (or with its USCC 91440101MA9W4CJB23) and Enterprise#2026 answers
    "用户名或密码错误": username_for_licence() only maps a licence number to an account
    whose user name *is* the USCC / licence number, and the demo account is called
    "ent.c". Expected: the demo lets a tester try U2 (name the account by its USCC, or
    map the licence number to the enterprise's registration account)."""
    from conftest import login

    r = login(app.test_client(), "440111000023451", "Enterprise#2026")
    assert r.status_code == 302 and "/login" not in (r.location or "")

