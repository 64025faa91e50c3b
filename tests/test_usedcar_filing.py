"""Used-car filings (SPEC U3-U4): one form per registered business type with its own fields
and a branch sub-table, saved as a case the local commerce authority confirms or returns;
print (PDF with a verification QR once confirmed) and export (.xlsx); sales and reports gated
until the first confirmation; name / USCC / type immutable; tenancy of every route."""

from __future__ import annotations

import datetime
import io
import re
from types import SimpleNamespace

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from app.errors import ImmutableFieldError, UsedCarNotConfirmedError
from app.models.org import Enterprise
from app.models.usedcar import UsedCarFiling, UsedCarProfile
from app.models.workflow import Application, TransitionLog
from app.workflows import usedcar as wf
from tests.conftest import ids, login

NAME_C = "广州市羊城二手车交易市场有限公司"
NAME_D = "广州市天河诚信二手车经纪有限公司"
BASE = "/usedcar/filing"


@pytest.fixture()
def ent_c(db_session):
    """ent.c as a used-car market and appraisal institution, registered, nothing filed."""
    ent = db_session.query(Enterprise).filter_by(name=NAME_C).one()
    cases = [c.id for c in db_session.query(Application.id).filter_by(enterprise_id=ent.id,
                                                                       kind=wf.FILING)]
    db_session.query(TransitionLog).filter(TransitionLog.application_id.in_(cases)).delete()
    db_session.query(Application).filter(Application.id.in_(cases)).delete()
    db_session.query(UsedCarFiling).filter_by(enterprise_id=ent.id).delete()
    profile = db_session.query(UsedCarProfile).filter_by(enterprise_id=ent.id).first()
    if profile is None:
        profile = UsedCarProfile(enterprise_id=ent.id, enterprise_type="dealer")
        db_session.add(profile)
    profile.business_types = "market,appraisal"
    profile.confirmed_on = None
    db_session.commit()
    return ent.id


@pytest.fixture()
def ent_d(db_session, ent_c):
    """The demo's second used-car enterprise (a broker, ent.d), for tenancy."""
    return db_session.query(Enterprise.id).filter_by(name=NAME_D).scalar()


def _client(app, username, password=None):
    c = app.test_client()
    resp = login(c, username, password)
    assert resp.status_code == 302, resp.data[:300]
    return c


def market_form(**overrides) -> dict:
    data = {
        "foreign_trade_code": "",
        "share_cn": "100", "share_foreign": "0",
        "legal_representative": "李国栋",
        "registered_capital": "5000",
        "founded_on": "2012-03-15",
        "floor_area": "32000.5",
        "operating_from": "2012-03-15", "operating_to": "",
        "merchant_count": "186", "management_staff": "42",
        "domicile_region": "440111", "domicile_street": "机场路1308号",
        "scope": "二手车交易市场经营管理；二手车经纪；停车场服务",
        "business_region": "440111", "business_street": "机场路1308号A区",
        "filer_name": "何美玲", "filer_mobile": "13700137003",
        "filer_email": "hml@yangcheng.example.cn",
        "branches-0-name": "广州市羊城二手车交易市场有限公司番禺分公司",
        "branches-0-licence_no": "440101000012341",
        "branches-0-address": "广州市番禺区迎宾路88号",
        "branches-0-scope": "二手车交易服务",
        "branches-1-name": "", "branches-1-licence_no": "", "branches-1-address": "",
        "branches-1-scope": "",
        "branches-2-name": "广州市羊城二手车交易市场有限公司花都分公司",
        "branches-2-licence_no": "91440101MA59XXKL1H",
        "branches-2-address": "广州市花都区新华路1号",
        "branches-2-scope": "二手车交易服务",
    }
    data.update(overrides)
    return data


def _cases(db_session, enterprise_id):
    """The enterprise's filing cases as plain snapshots (requests end the ORM session)."""
    db_session.expire_all()
    return [SimpleNamespace(id=c.id, state=c.state, payload=dict(c.payload),
                            reference=c.reference, version=c.version, subject_id=c.subject_id,
                            history=[h.name for h in c.history])
            for c in db_session.query(Application).filter_by(
                enterprise_id=enterprise_id, kind=wf.FILING).order_by(Application.id)]


def _submit_market(app, **overrides):
    c = _client(app, "ent.c")
    resp = c.post(f"{BASE}/market", data=market_form(**overrides))
    return c, resp


def _review(app, case_id, name, opinion=None):
    reg = _client(app, "reg.usedcar")
    resp = reg.post(f"/applications/transition/{case_id}",
                    data={"name": name, "opinion": opinion or ""})
    assert resp.status_code == 302
    return reg


# ----- the form per business type -------------------------------------------------------
def test_overview_lists_each_registered_business_type(app, ent_c):
    c = _client(app, "ent.c")
    html = c.get(f"{BASE}/").get_data(as_text=True)
    assert 'data-type="market"' in html and 'data-type="appraisal"' in html
    assert 'data-type="dealer"' not in html
    assert "unconfirmed-note" in html


def test_market_and_appraisal_forms_have_their_own_fields(app, ent_c):
    c = _client(app, "ent.c")
    market = c.get(f"{BASE}/market").get_data(as_text=True)
    appraisal = c.get(f"{BASE}/appraisal").get_data(as_text=True)
    assert 'name="merchant_count"' in market and 'name="management_staff"' in market
    assert 'name="professional_staff"' not in market
    assert 'name="professional_staff"' in appraisal and 'name="merchant_count"' not in appraisal
    # A first form starts from the registration data.
    assert "何美玲" in market and "13700137003" in market


def test_unregistered_business_type_is_404(app, ent_c):
    c = _client(app, "ent.c")
    assert c.get(f"{BASE}/auction").status_code == 404
    assert c.post(f"{BASE}/auction", data=market_form()).status_code == 404
    assert c.get(f"{BASE}/nonsense/pdf").status_code == 404


def test_saving_opens_a_case_with_the_branch_rows(app, db_session, ent_c):
    _c, resp = _submit_market(app)
    assert resp.status_code == 302
    [case] = _cases(db_session, ent_c)
    assert case.state == "submitted"
    payload = case.payload
    assert payload["business_type"] == "market"
    assert payload["merchant_count"] == 186 and "professional_staff" not in payload
    assert payload["registered_capital"] == "5000" and payload["floor_area"] == "32000.5"
    # The blank middle row is no branch; the count follows the rows.
    assert [b["name"] for b in payload["branches"]] == [
        "广州市羊城二手车交易市场有限公司番禺分公司", "广州市羊城二手车交易市场有限公司花都分公司"]
    assert payload["branch_count"] == 2
    assert db_session.query(UsedCarFiling).filter_by(enterprise_id=ent_c).count() == 0
    assert db_session.get(UsedCarProfile, db_session.query(UsedCarProfile.id).filter_by(
        enterprise_id=ent_c).scalar()).confirmed_on is None


@pytest.mark.parametrize("overrides, message", [
    ({"share_cn": "60", "share_foreign": "30"}, "100%"),
    ({"share_cn": "120"}, None),
    ({"founded_on": (datetime.date.today() + datetime.timedelta(days=3)).isoformat()},
     None),
    ({"operating_to": "2011-01-01"}, None),
    ({"filer_mobile": "1234567"}, None),
    ({"registered_capital": "0"}, None),
    ({"merchant_count": "-1"}, None),
    ({"branches-0-licence_no": "440101000012342"}, None),  # check digit wrong
    ({"branches-2-scope": ""}, None),  # a started row must be complete
    ({"domicile_region": "440100"}, None),  # a city, not a district
    ({"domicile_region": "999999"}, None),
    ({"legal_representative": ""}, None),
])
def test_bad_input_is_refused_and_nothing_saved(app, db_session, ent_c, overrides, message):
    _c, resp = _submit_market(app, **overrides)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "form-invalid" in html and "field-error" in html
    if message:
        assert message in html
    assert _cases(db_session, ent_c) == []


def test_awaiting_confirmation_the_form_is_locked_until_withdrawn(app, db_session, ent_c):
    c, _ = _submit_market(app)
    [case] = _cases(db_session, ent_c)
    resp = c.post(f"{BASE}/market", data=market_form(merchant_count="200"))
    assert resp.status_code == 409
    assert case.reference in resp.get_data(as_text=True)
    assert _cases(db_session, ent_c)[0].payload["merchant_count"] == 186
    # Withdraw, then save again: a new case.
    resp = c.post(f"{BASE}/market/withdraw", data={"version": case.version})
    assert resp.status_code == 302
    assert c.post(f"{BASE}/market", data=market_form(merchant_count="200")).status_code == 302
    states = [(k.state, k.payload["merchant_count"]) for k in _cases(db_session, ent_c)]
    assert states == [("withdrawn", 186), ("submitted", 200)]


# ----- U4 confirmation ------------------------------------------------------------------
def test_confirmation_writes_the_filing_and_opens_sales_and_reports(app, db_session, ent_c):
    _submit_market(app)
    [case] = _cases(db_session, ent_c)
    with pytest.raises(UsedCarNotConfirmedError, match="尚未经地方商务主管部门确认"):
        wf.ensure_confirmed(ent_c)
    _review(app, case.id, "approve")
    db_session.expire_all()
    assert _cases(db_session, ent_c)[0].state == "approved"
    filing = db_session.query(UsedCarFiling).filter_by(enterprise_id=ent_c).one()
    assert filing.business_type == "market" and filing.data["merchant_count"] == 186
    assert _cases(db_session, ent_c)[0].subject_id == filing.id
    assert wf.ensure_confirmed(ent_c).confirmed_on is not None
    # The enterprise sees the confirmation; the regulator's decision is in its inbox.
    c = _client(app, "ent.c")
    assert "confirmed-note" in c.get(f"{BASE}/").get_data(as_text=True)


def test_return_with_opinion_then_correct_the_same_case(app, db_session, ent_c):
    c, _ = _submit_market(app)
    [case] = _cases(db_session, ent_c)
    _review(app, case.id, "return", "营业面积与营业执照不符，请核实。")
    html = c.get(f"{BASE}/market").get_data(as_text=True)
    assert "营业面积与营业执照不符" in html and "32000.5" in html  # prefilled from the case
    assert c.post(f"{BASE}/market", data=market_form(floor_area="30000")).status_code == 302
    [again] = _cases(db_session, ent_c)
    assert again.id == case.id and again.state == "submitted"
    assert again.payload["floor_area"] == "30000"
    assert again.history == ["submit", "return", "resubmit"]


def test_return_needs_an_opinion_and_there_is_no_reject(app, db_session, ent_c):
    _submit_market(app)
    [case] = _cases(db_session, ent_c)
    _review(app, case.id, "return")  # no opinion: refused
    _review(app, case.id, "reject", "不予备案")  # confirmations are confirm or return only
    assert _cases(db_session, ent_c)[0].state == "submitted"


def test_a_change_after_confirmation_keeps_the_confirmed_filing_until_confirmed(
        app, db_session, ent_c):
    _submit_market(app)
    _review(app, _cases(db_session, ent_c)[0].id, "approve")
    _submit_market(app, management_staff="50")
    db_session.expire_all()
    filing = db_session.query(UsedCarFiling).filter_by(enterprise_id=ent_c).one()
    assert filing.data["management_staff"] == 42
    second = _cases(db_session, ent_c)[-1]
    assert second.state == "submitted" and second.subject_id == filing.id
    _review(app, second.id, "approve")
    db_session.expire_all()
    assert db_session.query(UsedCarFiling).filter_by(
        enterprise_id=ent_c).one().data["management_staff"] == 50


def test_confirmation_queue_shows_the_case_to_the_usedcar_regulator_only(app, db_session,
                                                                          ent_c):
    _submit_market(app)
    [case] = _cases(db_session, ent_c)
    url = "/review/list/?_flt_0_kind=usedcar_filing"
    assert case.reference in _client(app, "reg.usedcar").get(url).get_data(as_text=True)
    assert case.reference not in _client(app, "reg.rental").get(url).get_data(as_text=True)
    assert _client(app, "reg.rental").get(f"/applications/show/{case.id}").status_code == 404


# ----- print and export -----------------------------------------------------------------
def _pdf_text(data: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_print_and_export_what_was_saved(app, db_session, ent_c):
    c, _ = _submit_market(app)
    resp = c.get(f"{BASE}/market/pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    text = _pdf_text(resp.data)
    assert NAME_C in text and "李国栋" in text and "番禺分公司" in text
    assert "/verify/" not in text  # not confirmed yet: no verification code
    resp = c.get(f"{BASE}/market/xlsx")
    assert resp.status_code == 200
    wb = load_workbook(io.BytesIO(resp.data))
    form, branches = wb.worksheets
    values = {row[0]: row[1] for row in form.iter_rows(min_row=2, values_only=True)}
    assert values["企业名称"] == NAME_C and values["驻场商户数量"] == "186"
    assert [r[0] for r in branches.iter_rows(min_row=2, values_only=True)] == [
        "广州市羊城二手车交易市场有限公司番禺分公司", "广州市羊城二手车交易市场有限公司花都分公司"]


def test_nothing_to_print_before_the_first_save(app, ent_c):
    c = _client(app, "ent.c")
    resp = c.get(f"{BASE}/appraisal/pdf")
    assert resp.status_code == 302 and resp.location.endswith(f"{BASE}/appraisal")


def test_export_neutralises_formulas(app, ent_c):
    c, resp = _submit_market(app, scope="=HYPERLINK(\"http://evil.example\",\"x\")")
    assert resp.status_code == 302
    wb = load_workbook(io.BytesIO(c.get(f"{BASE}/market/xlsx").data))
    values = {row[0]: row[1] for row in wb.worksheets[0].iter_rows(min_row=2,
                                                                   values_only=True)}
    assert values["经营范围"].startswith("'=")


def test_confirmed_filing_pdf_verifies_publicly(app, db_session, ent_c):
    _submit_market(app)
    _review(app, _cases(db_session, ent_c)[0].id, "approve")
    filing_id = db_session.query(UsedCarFiling.id).filter_by(enterprise_id=ent_c).scalar()
    c = _client(app, "ent.c")
    text = _pdf_text(c.get(f"/usedcar/filings/pdf/{filing_id}").data)
    url = re.search(r"/verify/[A-Za-z0-9_.\-]+", text).group(0)
    page = app.test_client().get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert NAME_C in html and "广州市商务局" in html


# ----- tenancy and permissions ----------------------------------------------------------
def _confirmed_filing(app, db_session, ent_c):
    _submit_market(app)
    _review(app, _cases(db_session, ent_c)[0].id, "approve")
    return db_session.query(UsedCarFiling.id).filter_by(enterprise_id=ent_c).scalar()


@pytest.mark.parametrize("path", ["/usedcar/filings/show/{id}", "/usedcar/filings/pdf/{id}",
                                  "/usedcar/filings/xlsx/{id}"])
def test_filing_pages_of_another_enterprise_are_404(app, db_session, ent_c, ent_d, path):
    pk = _confirmed_filing(app, db_session, ent_c)
    url = path.format(id=pk)
    assert _client(app, "ent.c").get(url).status_code == 200
    assert _client(app, "ent.d").get(url).status_code == 404
    assert _client(app, "ent.a").get(url).status_code in (403, 404, 302)
    assert _client(app, "reg.rental").get(url).status_code in (403, 404, 302)
    assert _client(app, "reg.usedcar").get(url).status_code == 200
    assert _client(app, "auditor").get(url).status_code == 200
    anon = app.test_client().get(url)
    assert anon.status_code == 302 and "/login" in anon.location


def test_filing_list_is_scoped(app, db_session, ent_c, ent_d):
    _confirmed_filing(app, db_session, ent_c)
    assert NAME_C in _client(app, "ent.c").get("/usedcar/filings/list/").get_data(as_text=True)
    assert NAME_C not in _client(app, "ent.d").get("/usedcar/filings/list/").get_data(
        as_text=True)
    assert NAME_C in _client(app, "reg.usedcar").get("/usedcar/filings/list/").get_data(
        as_text=True)


def test_forms_refuse_other_enterprises_auditors_and_anonymous(app, ent_c, ent_d):
    d = _client(app, "ent.d")
    assert d.get(f"{BASE}/market").status_code == 404  # D is a broker, not a market
    assert d.get(f"{BASE}/broker").status_code == 200
    a = _client(app, "ent.a")  # a rental enterprise
    assert a.get(f"{BASE}/").status_code == 404
    assert a.post(f"{BASE}/market", data=market_form()).status_code == 404
    auditor = _client(app, "auditor")
    assert auditor.post(f"{BASE}/market", data=market_form()).status_code in (302, 403)
    anon = app.test_client().post(f"{BASE}/market", data=market_form())
    assert anon.status_code == 302 and "/login" in anon.location


def test_regulator_is_sent_from_the_forms_to_the_filing_list(app):
    resp = _client(app, "reg.usedcar").get(f"{BASE}/")
    assert resp.status_code == 302 and resp.location.endswith("/usedcar/filings/list/")


# ----- U1 immutable fields at the data layer --------------------------------------------
def test_name_uscc_and_type_of_a_usedcar_enterprise_never_change(app, db_session, ent_c):
    ent = db_session.get(Enterprise, ent_c)
    for attr, value in (("name", "新名称二手车有限公司"), ("uscc", "91440101MA5CXWPQ8J")):
        setattr(ent, attr, value)
        with pytest.raises(ImmutableFieldError):
            db_session.flush()
        db_session.rollback()
    profile = db_session.query(UsedCarProfile).filter_by(enterprise_id=ent_c).one()
    profile.enterprise_type = "supplier_import"
    with pytest.raises(ImmutableFieldError):
        db_session.flush()
    db_session.rollback()
    # Other fields change as usual; a rental enterprise may still be renamed (R10).
    db_session.get(Enterprise, ent_c).contact_name = "何美玲二"
    rental = db_session.get(Enterprise, ids(db_session)["ent_a"])
    rental.name = "广州市穗通汽车租赁集团有限公司"
    db_session.commit()


# ----- menus per sector ------------------------------------------------------------------
def test_module_menus_follow_the_sectors_of_the_user(app, ent_c):
    rental = _client(app, "ent.a").get("/usedcar/filings/list/").get_data(as_text=True)
    usedcar = _client(app, "ent.c").get(f"{BASE}/").get_data(as_text=True)
    assert "/rental/home" in rental and f"{BASE}/" not in rental
    assert f"{BASE}/" in usedcar and "/rental/home" not in usedcar
    regulator = _client(app, "reg.usedcar").get("/usedcar/filings/list/").get_data(
        as_text=True)
    assert "_flt_0_kind=usedcar_filing" in regulator and "/review/counter/vehicle" not in regulator
    both = _client(app, "auditor").get("/usedcar/filings/list/").get_data(as_text=True)
    assert "/usedcar/filings/list/" in both or f"{BASE}/" in both
    assert "/rental/" in both
