"""Public side of the rental module (SPEC R1-R4): lookups, online filing application,
status lookup, correction and resubmission with the access code; only public fields."""

from __future__ import annotations

import io
import os
import re

import pytest

from app.demo_rental import DEMO_ACCESS_CODE, DEMO_APPLICANT_USCC
from app.models.attachment import Attachment
from app.models.identity import AppUser
from app.models.org import Enterprise
from app.models.rental import RentalFiling
from app.models.workflow import Application
from app.workflows import engine
from app.workflows import rental as wf

BASE = "/public/rental"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
USCC_A = "91440101MA59XXKL1H"
NAME_A = "广州市穗通汽车租赁有限公司"
MOBILE_A = "13800138001"
USCC_C = "91440101MA9W4CJB23"
NAME_C = "广州市羊城二手车交易市场有限公司"
REJECTED_NAME = "广州市速达汽车租赁服务有限公司"  # the demo's rejected public application
NEW_USCC = "91440106MA9RTK3N50"
NEW_NAME = "广州市新程汽车租赁有限公司"


# ----- helpers ---------------------------------------------------------------------------
def _valid_uscc_of(db_session, name) -> str:
    """The USCC of a demo applicant, with a valid check digit: the demo data of 03ca246
    carries wrong check digits for the two public applications, which the application form
    rightly refuses."""
    from stdnum.cn import uscc

    ent = db_session.query(Enterprise).filter_by(name=name).one()
    valid = ent.uscc[:17] + uscc.calc_check_digit(ent.uscc[:17])
    if ent.uscc != valid:
        ent.uscc = valid
        db_session.commit()
    return valid


@pytest.fixture()
def rejected_uscc(db_session):
    return _valid_uscc_of(db_session, REJECTED_NAME)


def _filing_cases(db_session, uscc):
    db_session.expire_all()
    ent = db_session.query(Enterprise).filter_by(uscc=uscc).one_or_none()
    if ent is None:
        return []
    return db_session.query(Application).filter_by(enterprise_id=ent.id, kind=wf.FILING).all()


def _start(client, name=NEW_NAME, uscc=NEW_USCC):
    return client.post(f"{BASE}/apply", data={"name": name, "uscc": uscc})


def _token(resp) -> str:
    assert resp.status_code == 302, resp.text[:2000]
    m = re.search(r"[?&]t=([^&]+)", resp.location)
    assert m, resp.location
    from urllib.parse import unquote

    return unquote(m.group(1))


def _form(token, **overrides):
    data = {
        "token": token,
        "legal_representative": "钱学森",
        "contact_name": "吴小明",
        "contact_mobile": "13912345678",
        "contact_email": "wu@xincheng.example.cn",
        "address": "广州市天河区珠江新城华夏路10号",
        "region_code": "440106",
        "time_share": "0",
        "premises-0-address": "广州市天河区华夏路10号地下停车场",
        "premises-0-area": "500",
        "premises-0-parking_spaces": "30",
        "premises-0-phone": "020-38881234",
        # a gap in the indices (a row removed in the browser) is fine
        "premises-2-address": "广州市白云区机场路100号",
        "premises-2-area": "",
        "premises-2-parking_spaces": "12",
        "premises-2-phone": "",
        "licence": (io.BytesIO(PDF), "营业执照.pdf"),
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def _submit(client, token, **overrides):
    return client.post(f"{BASE}/apply/form", data=_form(token, **overrides),
                       content_type="multipart/form-data")


def _regulator(db_session) -> engine.Actor:
    user = db_session.query(AppUser).filter_by(username="reg.rental").one()
    return engine.Actor(frozenset({engine.REGULATOR}), name=user.get_full_name(), user=user)


# ----- landing page and menu ---------------------------------------------------------------
def test_landing_page_links_the_four_services(client):
    page = client.get(f"{BASE}/")
    assert page.status_code == 200
    for path in ("enterprise", "vehicle", "apply", "status"):
        assert f'href="{BASE}/{path}"' in page.text
    assert 'id="rental-login"' in page.text


def test_anonymous_visitors_find_the_services_in_the_menu(client):
    assert f'href="{BASE}/"' in client.get("/").text


# ----- R1 enterprise lookup ----------------------------------------------------------------
@pytest.mark.parametrize("query", [USCC_A, USCC_A.lower(), NAME_A, f"  {NAME_A} "])
def test_enterprise_lookup_finds_a_filed_enterprise(client, query):
    page = client.post(f"{BASE}/enterprise", data={"q": query})
    assert page.status_code == 200
    text = page.text
    assert 'id="enterprise-result"' in text and NAME_A in text and USCC_A in text
    assert re.search(r"GDZL\d{10}", text)  # certificate number
    assert "陈志强" in text  # legal representative
    assert "广州市天河区天河路385号太古汇一座12楼" in text  # address
    assert "太古汇地下停车场B2层" in text and "白云机场P5停车场" in text  # premises
    assert "020-38880001" in text
    # Never the contact's mobile or e-mail.
    assert MOBILE_A not in text and "suitong.example.cn" not in text


def test_enterprise_lookup_full_width_parentheses_match(client, db_session):
    ent = db_session.query(Enterprise).filter_by(uscc=USCC_A).one()
    ent.name = "广州市穗通汽车租赁有限公司（天河）"
    db_session.commit()
    page = client.post(f"{BASE}/enterprise", data={"q": "广州市穗通汽车租赁有限公司(天河)"})
    assert 'id="enterprise-result"' in page.text


@pytest.mark.parametrize("query", [
    "不存在的汽车租赁有限公司",
    "广州市穗通",  # not the full name
    DEMO_APPLICANT_USCC,  # applying: no certificate yet
    REJECTED_NAME,
    USCC_C,  # a used-car enterprise without rental filing
])
def test_enterprise_lookup_not_found(client, query):
    page = client.post(f"{BASE}/enterprise", data={"q": query})
    assert page.status_code == 200
    assert 'id="rental-not-found"' in page.text and 'id="enterprise-result"' not in page.text


def test_enterprise_lookup_prefills_from_the_vehicle_link(client):
    page = client.get(f"{BASE}/enterprise", query_string={"q": NAME_A})
    assert f'value="{NAME_A}"' in page.text and 'id="enterprise-result"' not in page.text


def test_enterprise_lookup_needs_a_query(client):
    assert client.post(f"{BASE}/enterprise", data={"q": ""}).status_code == 422


# ----- R2 vehicle lookup -------------------------------------------------------------------
@pytest.mark.parametrize("plate", ["粤A3K8J2", "粤a3k8j2", "粤A·3K8J2", " 粤A 3K8J2 "])
def test_vehicle_lookup_shows_the_filing_and_the_enterprise(client, db_session, plate):
    page = client.post(f"{BASE}/vehicle", data={"plate": plate})
    assert page.status_code == 200
    text = page.text
    assert 'id="vehicle-result"' in text and "粤A3K8J2" in text
    assert "大众" in text and "朗逸" in text and re.search(r"GDZLC\d{11}", text)
    assert NAME_A in text and 'id="enterprise-link"' in text
    from app.models.rental import Vehicle

    vin = db_session.query(Vehicle).filter_by(plate="粤A3K8J2").one().vin
    assert vin not in text and f"{vin[:4]}*********{vin[-4:]}" in text
    assert MOBILE_A not in text


def test_vehicle_lookup_shows_a_suspended_vehicle_with_its_state(client):
    page = client.post(f"{BASE}/vehicle", data={"plate": "粤A5P6R1"})
    assert 'state-suspended' in page.text


@pytest.mark.parametrize("plate", ["粤Z00000", "粤A6F2G8"])  # unknown; pending, not filed
def test_vehicle_lookup_not_found(client, plate):
    page = client.post(f"{BASE}/vehicle", data={"plate": plate})
    assert page.status_code == 200
    assert 'id="rental-not-found"' in page.text and 'id="vehicle-result"' not in page.text


# ----- rate limits and captcha -------------------------------------------------------------
def test_lookups_are_rate_limited_per_ip(client):
    codes = [client.post(f"{BASE}/enterprise", data={"q": NAME_A}).status_code
             for _ in range(31)]
    assert codes[:30] == [200] * 30 and codes[30] == 429
    # Each lookup has its own bucket; the pages themselves stay readable.
    codes = [client.post(f"{BASE}/vehicle", data={"plate": "粤A3K8J2"}).status_code
             for _ in range(31)]
    assert codes[:30] == [200] * 30 and codes[30] == 429
    assert client.get(f"{BASE}/enterprise").status_code == 200
    # Another client (IP) is not affected.
    other = client.application.test_client()
    assert other.post(f"{BASE}/vehicle", data={"plate": "粤A3K8J2"},
                      environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 200


@pytest.mark.parametrize("path,data,marker", [
    ("enterprise", {"q": NAME_A}, 'id="enterprise-result"'),
    ("vehicle", {"plate": "粤A3K8J2"}, 'id="vehicle-result"'),
    ("status", {"uscc": DEMO_APPLICANT_USCC}, 'id="status-result"'),
    ("apply", {"name": NEW_NAME, "uscc": NEW_USCC}, None),
])
def test_captcha_is_checked_server_side_when_enabled(app, client, monkeypatch, path, data,
                                                     marker):
    from app.services import captcha

    app.config["CAPTCHA_ENABLED"] = True
    monkeypatch.setattr(captcha, "_new_answer", lambda: "K7PX")
    page = client.get(f"{BASE}/{path}")
    assert 'id="captcha-img"' in page.text
    # No challenge fetched: refused.
    resp = client.post(f"{BASE}/{path}", data={**data, "captcha": "K7PX"})
    assert resp.status_code == 422 and 'id="captcha-error"' in resp.text
    # Wrong answer: refused, and the challenge is spent.
    client.get("/captcha.png")
    resp = client.post(f"{BASE}/{path}", data={**data, "captcha": "XXXX"})
    assert resp.status_code == 422 and 'id="captcha-error"' in resp.text
    if marker:
        assert marker not in resp.text
    resp = client.post(f"{BASE}/{path}", data={**data, "captcha": "K7PX"})
    assert resp.status_code == 422
    # Right answer on a fresh challenge.
    client.get("/captcha.png")
    resp = client.post(f"{BASE}/{path}", data={**data, "captcha": "k7px"})
    if marker:
        assert resp.status_code == 200 and marker in resp.text
    else:
        assert resp.status_code == 302 and "/apply/form" in resp.location


# ----- R3 filing application ---------------------------------------------------------------
def test_application_happy_path(app, client, db_session):
    token = _token(_start(client))
    page = client.get(f"{BASE}/apply/form", query_string={"t": token})
    assert page.status_code == 200 and NEW_NAME in page.text and NEW_USCC in page.text
    assert 'id="premises-template"' in page.text and 'value="440106"' in page.text

    resp = _submit(client, token, documents=[(io.BytesIO(PDF), "场地租赁合同.pdf")])
    assert resp.status_code == 302 and resp.location.endswith("/apply/done")
    done = client.get(f"{BASE}/apply/done")
    assert done.status_code == 200
    code = re.search(r'id="access-code">([A-Z0-9]+)<', done.text).group(1)
    reference = re.search(r'id="case-reference">([A-Z0-9]+)<', done.text).group(1)
    # Shown once.
    assert client.get(f"{BASE}/apply/done").status_code == 302

    db_session.expire_all()
    ent = db_session.query(Enterprise).filter_by(uscc=NEW_USCC).one()
    assert ent.name == NEW_NAME and ent.region_code == "440106"
    assert ent.contact_mobile == "13912345678" and ent.legal_representative == "钱学森"
    assert "rental" in {s.code for s in ent.sectors}
    filing = db_session.query(RentalFiling).filter_by(enterprise_id=ent.id).one()
    assert filing.state == "applying" and filing.certificate_no is None
    case = db_session.query(Application).filter_by(enterprise_id=ent.id).one()
    assert case.kind == wf.FILING and case.state == engine.SUBMITTED
    assert case.reference == reference and case.subject_id == filing.id
    assert case.channel == "online" and case.deadline is not None
    assert case.access_code_hash and code not in case.access_code_hash
    assert engine.check_access_code(case, code) and not engine.check_access_code(case, "WRONG")
    p = case.payload
    assert p["name"] == NEW_NAME and p["uscc"] == NEW_USCC
    assert p["contact_email"] == "wu@xincheng.example.cn" and p["time_share"] is False
    assert p["region_code"] == "440106" and p["contact_mobile"] == "13912345678"
    assert p["premises"] == [
        {"address": "广州市天河区华夏路10号地下停车场", "area": 500, "parking_spaces": 30,
         "phone": "020-38881234"},
        {"address": "广州市白云区机场路100号", "area": None, "parking_spaces": 12, "phone": ""}]
    assert sorted(a.original_name for a in case.attachments) == ["场地租赁合同.pdf",
                                                                  "营业执照.pdf"]
    assert all(a.enterprise_id == ent.id for a in case.attachments)
    assert [h.name for h in case.history] == ["submit"]
    assert not db_session.query(AppUser).filter_by(enterprise_id=ent.id).count()

    # Now the status lookup shows it, without the payload's mobile.
    page = client.post(f"{BASE}/status", data={"uscc": NEW_USCC})
    assert reference in page.text and 'data-state="submitted"' in page.text
    assert "13912345678" not in page.text


def test_approval_of_a_public_application_opens_the_account(app, client, db_session):
    token = _token(_start(client))
    assert _submit(client, token).status_code == 302
    case = _filing_cases(db_session, NEW_USCC)[0]
    engine.fire(case, "approve", _regulator(db_session), opinion="同意备案。")
    db_session.expire_all()
    user = db_session.query(AppUser).filter_by(username=NEW_USCC).one()
    assert user.email == "wu@xincheng.example.cn" and user.must_change_password
    page = client.post(f"{BASE}/enterprise", data={"q": NEW_USCC})
    assert 'id="enterprise-result"' in page.text and "华夏路10号地下停车场" in page.text


@pytest.mark.parametrize("uscc", ["91440106MA9RTK3N51", "91440106MA9RTK3N5", "ABC", ""])
def test_application_refuses_an_invalid_uscc(client, uscc):
    resp = _start(client, uscc=uscc)
    assert resp.status_code == 422 and "/apply/form" not in (resp.location or "")


def test_application_refuses_an_already_filed_uscc(client, db_session):
    resp = _start(client, name=NAME_A, uscc=USCC_A)
    assert resp.status_code == 422
    assert 'data-kind="filed"' in resp.text
    cert = db_session.query(RentalFiling).join(Enterprise).filter(
        Enterprise.uscc == USCC_A).one().certificate_no
    assert cert in resp.text
    assert f'{BASE}/enterprise?q={USCC_A}' in resp.text


def test_application_refuses_a_uscc_with_an_open_application(client, db_session):
    uscc = _valid_uscc_of(db_session, "广州市云途出行汽车租赁有限公司")
    resp = _start(client, name="广州市云途出行汽车租赁有限公司", uscc=uscc)
    assert resp.status_code == 422 and 'data-kind="open"' in resp.text
    assert f"{BASE}/status?uscc={uscc}" in resp.text


def test_application_of_an_enterprise_already_on_the_platform_is_refused(client, db_session):
    """ent.c (used cars, with accounts) is on the platform: its public name and code must not
    let anyone open a rental filing that would rewrite its data or show it to the rental
    regulator. It is told to sign in (or go to the counter); nothing changes."""
    for name in (NAME_C, NAME_C + "x"):
        resp = _start(client, name=name, uscc=USCC_C)
        assert resp.status_code == 422 and 'data-kind="established"' in resp.text
    db_session.expire_all()
    ent = db_session.query(Enterprise).filter_by(uscc=USCC_C).one()
    assert {s.code for s in ent.sectors} == {"usedcar"}
    # Its used-car filing cases (demo data) are all it has: no rental case was opened.
    assert db_session.query(Application).filter(
        Application.enterprise_id == ent.id,
        Application.kind.notin_(("usedcar_filing",))).count() == 0


def test_application_refuses_an_invalid_mobile_and_creates_nothing(client, db_session):
    token = _token(_start(client))
    for mobile in ("12345678901", "1381234567", "020-38881234", "138001380011"):
        resp = _submit(client, token, contact_mobile=mobile)
        assert resp.status_code == 422
        assert 'has-error" id="group-contact_mobile"' in resp.text
    assert _filing_cases(db_session, NEW_USCC) == []
    # +86 and spaces are normalised.
    assert _submit(client, token, contact_mobile="+86 139 1234 5678").status_code == 302
    assert _filing_cases(db_session, NEW_USCC)[0].payload["contact_mobile"] == "13912345678"


def test_application_refuses_a_disguised_upload(app, client, db_session):
    token = _token(_start(client))
    before = len(os.listdir(app.config["ATTACHMENT_DIR"])) if os.path.isdir(
        app.config["ATTACHMENT_DIR"]) else 0
    files_before = db_session.query(Attachment).count()
    resp = _submit(client, token, licence=(io.BytesIO(b"<html><script>x</script></html>"),
                                           "licence.pdf"))
    assert resp.status_code == 422 and 'id="form-error"' in resp.text
    assert "licence.pdf" in resp.text
    # A good licence with a bad extra document: nothing kept either.
    resp = _submit(client, token, documents=[(io.BytesIO(b"MZ\x90\x00" * 50), "scan.jpg")])
    assert resp.status_code == 422
    db_session.expire_all()
    assert db_session.query(Enterprise).filter_by(uscc=NEW_USCC).count() == 0
    assert db_session.query(Attachment).count() == files_before
    assert len(os.listdir(app.config["ATTACHMENT_DIR"])) == before


def test_application_needs_the_licence_and_a_premises(client, db_session):
    token = _token(_start(client))
    resp = _submit(client, token, licence=None)
    assert resp.status_code == 422 and "group-licence" in resp.text
    resp = _submit(client, token, **{"premises-0-address": "", "premises-2-address": ""})
    assert resp.status_code == 422
    assert _filing_cases(db_session, NEW_USCC) == []


def test_application_double_submit_creates_one_case(client, db_session):
    token = _token(_start(client))
    first = _submit(client, token)
    second = _submit(client, token)
    assert first.status_code == 302
    assert second.status_code == 422 and 'data-kind="open"' in second.text
    assert len(_filing_cases(db_session, NEW_USCC)) == 1


def test_application_step_two_refuses_a_forged_or_missing_token(client, db_session):
    from itsdangerous import URLSafeTimedSerializer

    forged = URLSafeTimedSerializer("not-the-key", salt="rental-apply-start").dumps(
        {"name": NAME_A, "uscc": NEW_USCC})
    for token in (forged, "garbage", ""):
        resp = _submit(client, token)
        assert resp.status_code == 302 and resp.location.endswith(f"{BASE}/apply")
    assert client.get(f"{BASE}/apply/form").status_code == 302
    assert _filing_cases(db_session, NEW_USCC) == []


def test_application_step_two_rechecks_the_uscc(client):
    """A step-1 token (valid for two hours) cannot file an enterprise filed meanwhile."""
    from app.views.rental_public import _start_serializer

    with client.application.test_request_context():
        token = _start_serializer().dumps({"name": NAME_A, "uscc": USCC_A})
    resp = _submit(client, token)
    assert resp.status_code == 422 and 'data-kind="filed"' in resp.text


def test_application_is_rate_limited(client):
    codes = [_start(client, uscc="91440106MA9RTK3N51").status_code for _ in range(21)]
    assert codes[:20] == [422] * 20 and codes[20] == 429


# ----- R4 status lookup, correction and resubmission -----------------------------------------
def test_status_shows_the_opinion_of_a_rejected_application(client, db_session):
    uscc = db_session.query(Enterprise).filter_by(name=REJECTED_NAME).one().uscc
    page = client.post(f"{BASE}/status", data={"uscc": uscc})
    assert page.status_code == 200
    assert 'data-state="rejected"' in page.text
    assert "经营场所证明材料缺失，请补充租赁合同后重新提交。" in page.text
    assert 'id="code-form"' in page.text and 'id="case-history"' in page.text
    assert "13500135006" not in page.text  # the applicant's mobile


def test_status_of_an_application_under_review(client):
    page = client.post(f"{BASE}/status", data={"uscc": DEMO_APPLICANT_USCC})
    assert 'data-state="submitted"' in page.text and 'id="review-opinion"' not in page.text
    assert 'id="code-form"' not in page.text and "13600136005" not in page.text


def test_status_of_a_filed_enterprise_entered_at_the_counter(client):
    page = client.post(f"{BASE}/status", data={"uscc": USCC_A})
    assert 'data-state="approved"' in page.text and 'id="status-approved"' in page.text
    assert re.search(r'id="certificate-no">GDZL\d{10}<', page.text)
    assert MOBILE_A not in page.text


def test_status_not_found_and_invalid(client):
    page = client.post(f"{BASE}/status", data={"uscc": NEW_USCC})
    assert page.status_code == 200 and 'id="status-not-found"' in page.text
    page = client.post(f"{BASE}/status", data={"uscc": "9144010"})
    assert page.status_code == 422 and 'id="status-result"' not in page.text


def _reject_demo_application(db_session, opinion="请补充经营场所租赁合同。"):
    case = _filing_cases(db_session, DEMO_APPLICANT_USCC)[0]
    engine.fire(case, "reject", _regulator(db_session), opinion=opinion)
    return case.id


def test_resubmit_with_a_wrong_code_is_refused(client, db_session, rejected_uscc):
    _reject_demo_application(db_session)
    resp = client.post(f"{BASE}/status/code", data={"uscc": DEMO_APPLICANT_USCC,
                                                    "access_code": "WRONGCODE1"})
    assert resp.status_code == 403 and 'id="code-error"' in resp.text
    # No way into the form without the code.
    resp = client.get(f"{BASE}/status/resubmit")
    assert resp.status_code == 302 and resp.location.endswith(f"{BASE}/status")
    resp = client.post(f"{BASE}/status/resubmit", data={"name": "x"})
    assert resp.status_code == 302
    # The code of another case does not open this one.
    resp = client.post(f"{BASE}/status/code", data={"uscc": rejected_uscc,
                                                    "access_code": DEMO_ACCESS_CODE})
    assert resp.status_code == 403


def test_access_code_attempts_are_rate_limited(client, db_session):
    _reject_demo_application(db_session)
    codes = [client.post(f"{BASE}/status/code", data={
        "uscc": DEMO_APPLICANT_USCC, "access_code": f"WRONG{i:05d}"}).status_code
        for i in range(11)]
    assert codes[:10] == [403] * 10 and codes[10] == 429
    # Even the right code waits.
    assert client.post(f"{BASE}/status/code", data={
        "uscc": DEMO_APPLICANT_USCC, "access_code": DEMO_ACCESS_CODE}).status_code == 429


def test_access_code_attempts_are_limited_per_uscc_across_ips(app, db_session):
    _reject_demo_application(db_session)
    codes = []
    for i in range(21):
        c = app.test_client()
        codes.append(c.post(f"{BASE}/status/code", data={
            "uscc": DEMO_APPLICANT_USCC, "access_code": f"WRONG{i:05d}"},
            environ_base={"REMOTE_ADDR": f"10.1.0.{i + 1}"}).status_code)
    assert codes[:20] == [403] * 20 and codes[20] == 429


def test_code_of_an_application_under_review_does_not_open_the_form(client):
    resp = client.post(f"{BASE}/status/code", data={"uscc": DEMO_APPLICANT_USCC,
                                                    "access_code": DEMO_ACCESS_CODE})
    assert resp.status_code == 302 and "/status/resubmit" not in resp.location


def test_resubmit_with_the_right_code_keeps_the_case_and_its_history(client, db_session):
    case_id = _reject_demo_application(db_session)
    before = len(db_session.get(Application, case_id).history)
    resp = client.post(f"{BASE}/status/code", data={"uscc": DEMO_APPLICANT_USCC,
                                                    "access_code": DEMO_ACCESS_CODE.lower()})
    assert resp.status_code == 302 and resp.location.endswith("/status/resubmit")
    page = client.get(f"{BASE}/status/resubmit")
    assert page.status_code == 200
    assert "广州市云途出行汽车租赁有限公司" in page.text and "13600136005" in page.text
    assert "请补充经营场所租赁合同。" in page.text  # the opinion to address
    data = {
        "name": "广州市云途出行汽车租赁有限公司", "legal_representative": "赵敏",
        "contact_name": "赵敏", "contact_mobile": "13600136005",
        "contact_email": "zhao@yuntu.example.cn", "address": "广州市天河区体育西路101号",
        "region_code": "440106", "time_share": "1",
        "premises-0-address": "广州市天河区体育西路101号负一层", "premises-0-area": "300",
        "premises-0-parking_spaces": "20", "premises-0-phone": "",
        "documents": (io.BytesIO(PDF), "场地租赁合同.pdf"),
    }
    resp = client.post(f"{BASE}/status/resubmit", data=data,
                       content_type="multipart/form-data")
    assert resp.status_code == 302 and resp.location.endswith("/status/resubmitted")
    assert "SQ" in client.get(f"{BASE}/status/resubmitted").text
    db_session.expire_all()
    cases = _filing_cases(db_session, DEMO_APPLICANT_USCC)
    assert len(cases) == 1 and cases[0].id == case_id
    case = cases[0]
    assert case.state == engine.SUBMITTED
    assert len(case.history) == before + 1 and case.history[-1].name == "resubmit"
    assert case.payload["contact_email"] == "zhao@yuntu.example.cn"
    assert case.payload["time_share"] is True and case.payload["uscc"] == DEMO_APPLICANT_USCC
    assert "场地租赁合同.pdf" in {a.original_name for a in case.attachments}
    # The grant is used up.
    assert client.get(f"{BASE}/status/resubmit").status_code == 302


def test_resubmit_form_validates_and_keeps_the_state(client, db_session):
    case_id = _reject_demo_application(db_session)
    client.post(f"{BASE}/status/code", data={"uscc": DEMO_APPLICANT_USCC,
                                             "access_code": DEMO_ACCESS_CODE})
    resp = client.post(f"{BASE}/status/resubmit", data={
        "name": "广州市云途出行汽车租赁有限公司", "legal_representative": "赵敏",
        "contact_name": "赵敏", "contact_mobile": "1360013600", "contact_email": "bad",
        "address": "x", "region_code": "440106", "time_share": "0",
        "premises-0-address": "x"}, content_type="multipart/form-data")
    assert resp.status_code == 422
    db_session.expire_all()
    assert db_session.get(Application, case_id).state == engine.REJECTED


def test_rejected_application_without_code_may_apply_again(client, db_session,
                                                           rejected_uscc):
    """The demo's rejected application (its code unknown): a new application is possible,
    with a hint that the old one can be corrected with its code."""
    token = _token(_start(client, name=REJECTED_NAME, uscc=rejected_uscc))
    page = client.get(f"{BASE}/apply/form", query_string={"t": token})
    assert 'id="apply-previous"' in page.text
    assert _submit(client, token).status_code == 302
    states = sorted(c.state for c in _filing_cases(db_session, rejected_uscc))
    assert states == [engine.REJECTED, engine.SUBMITTED]


def test_an_applicant_may_correct_its_name_in_a_new_application(client, db_session,
                                                                 rejected_uscc):
    """The enterprise row of a rejected public application (no accounts, rental only) does
    not pin the name; the approval applies the new one."""
    resp = _start(client, name="广州市速达出行汽车租赁有限公司", uscc=rejected_uscc)
    assert resp.status_code == 302
    assert _submit(client, _token(resp)).status_code == 302
    case = [c for c in _filing_cases(db_session, rejected_uscc) if c.state == "submitted"][0]
    assert case.payload["name"] == "广州市速达出行汽车租赁有限公司"
    engine.fire(case, "approve", _regulator(db_session), opinion="同意。")
    db_session.expire_all()
    assert db_session.query(Enterprise).filter_by(
        uscc=rejected_uscc).one().name == "广州市速达出行汽车租赁有限公司"


def test_the_application_form_carries_csrf_tokens(app, client, db_session):
    """With CSRF on (as in production), every step posts its token; a post without it is
    refused and creates nothing."""
    from conftest import csrf_token_from

    app.config["WTF_CSRF_ENABLED"] = True
    assert client.post(f"{BASE}/enterprise", data={"q": NAME_A}).status_code == 400
    page = client.get(f"{BASE}/apply").text
    resp = client.post(f"{BASE}/apply", data={"name": NEW_NAME, "uscc": NEW_USCC,
                                              "csrf_token": csrf_token_from(page)})
    token = _token(resp)
    page = client.get(resp.location).text
    assert _submit(client, token).status_code == 400
    assert _filing_cases(db_session, NEW_USCC) == []
    resp = _submit(client, token, csrf_token=csrf_token_from(page))
    assert resp.status_code == 302
    assert len(_filing_cases(db_session, NEW_USCC)) == 1
