"""Enterprise-side rental filing forms (SPEC R10-R11): filing change with before/after,
suspension / resumption / termination with the 15-day and 30-day rules, all opened as cases
and applied only when a regulator approves; tenancy and permissions of every route."""

from __future__ import annotations

import datetime
import io
import re

import pytest
from flask import g

from app.models.identity import AppUser
from app.models.org import Enterprise
from app.models.rental import RentalFiling
from app.models.workflow import Application
from app.workflows import engine
from app.workflows import rental as wf

BASE = "/rental/forms"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
NAME_A = "广州市穗通汽车租赁有限公司"
NAME_B = "深圳市鹏程小客车租赁有限公司"
TODAY = datetime.date.today()
ROUTES = ["/", "/change", "/suspend", "/resume", "/terminate"]


# ----- helpers ---------------------------------------------------------------------------
def _enterprise(db_session, name):
    db_session.expire_all()
    return db_session.query(Enterprise).filter_by(name=name).one()


def _filing(db_session, name):
    ent = _enterprise(db_session, name)
    return db_session.query(RentalFiling).filter_by(enterprise_id=ent.id).one()


def _cases(db_session, name, kind):
    ent = _enterprise(db_session, name)
    return db_session.query(Application).filter_by(enterprise_id=ent.id, kind=kind).order_by(
        Application.id).all()


def _fire_as_regulator(app, case_id, name="approve", opinion="同意。"):
    """Fire a review transition with engine.actor_for(reg.rental) inside a request."""
    from flask_login import login_user

    from app.extensions import db

    with app.test_request_context():
        user = db.session.query(AppUser).filter_by(username="reg.rental").one()
        login_user(user)
        g.user = user
        actor = engine.actor_for(user)
        assert engine.REGULATOR in actor.roles
        case = db.session.get(Application, case_id)
        engine.fire(case, name, actor, opinion=opinion)
        return case.state


def _change_data(**overrides):
    data = {
        "name": NAME_A,
        "legal_representative": "陈志强",
        "contact_name": "林晓燕",
        "contact_mobile": "13800138001",
        "address": "广州市天河区天河路385号太古汇一座12楼",
        "region_code": "440106",
        "time_share": "1",
        "premises-0-address": "广州市天河区天河路385号太古汇地下停车场B2层",
        "premises-0-area": "1200",
        "premises-0-parking_spaces": "60",
        "premises-0-phone": "020-38880001",
        "premises-1-address": "广州市白云区机场路1688号白云机场P5停车场",
        "premises-1-area": "800",
        "premises-1-parking_spaces": "40",
        "premises-1-phone": "020-36060002",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def _state_data(effective, notice=None, report=True, reason="门店装修，暂停经营。", **extra):
    data = {"reason": reason, "effective_date": effective.isoformat()}
    if notice is not None:
        data["notice_date"] = notice.isoformat()
    if report:
        data["report"] = (io.BytesIO(PDF), "书面报告.pdf")
    data.update(extra)
    return data


def _post(client, path, data):
    return client.post(f"{BASE}{path}", data=data, content_type="multipart/form-data")


# ----- access ------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ROUTES + ["/case/SQ2026000001"])
def test_anonymous_is_sent_to_login(client, path):
    resp = client.get(f"{BASE}{path}")
    assert resp.status_code == 302 and "/login/" in resp.location


@pytest.mark.parametrize("path", ["/change", "/suspend", "/resume", "/terminate",
                                  "/case/SQ2026000001/withdraw"])
def test_anonymous_post_changes_nothing(client, db_session, path):
    count = db_session.query(Application).count()
    resp = client.post(f"{BASE}{path}", data=_state_data(TODAY))
    assert resp.status_code == 302 and "/login/" in resp.location
    assert db_session.query(Application).count() == count


def test_regulator_without_the_permission_is_refused(as_user):
    reg = as_user("reg.rental")
    for path in ROUTES:
        assert reg.get(f"{BASE}{path}").status_code == 403


@pytest.mark.parametrize("path", ROUTES)
def test_enterprise_without_rental_filing_gets_a_clear_message(as_user, db_session, path):
    count = db_session.query(Application).count()
    c = as_user("ent.c")
    page = c.get(f"{BASE}{path}")
    assert page.status_code == 200
    assert 'id="not-filed-reason" data-reason="no-filing"' in page.text
    assert "/public/rental/apply" in page.text
    if path != "/":
        resp = _post(c, path, _state_data(TODAY))
        assert resp.status_code == 200 and 'data-reason="no-filing"' in resp.text
    assert db_session.query(Application).count() == count


def test_the_menu_offers_the_four_forms(as_user):
    home = as_user("ent.a").get("/").text
    for path in ("change", "suspend", "resume", "terminate"):
        assert f'href="{BASE}/{path}"' in home


def test_overview_shows_what_is_available(as_user):
    page = as_user("ent.a").get(f"{BASE}/")
    assert page.status_code == 200 and NAME_A in page.text
    assert re.search(r"GDZL\d{10}", page.text)
    assert 'id="action-suspend" data-available="yes"' in page.text
    assert 'id="action-resume" data-available="no"' in page.text
    assert 'id="action-terminate" data-available="yes"' in page.text
    assert 'id="case-list"' in page.text  # the approved filing case


# ----- R10 filing change -------------------------------------------------------------------
def test_change_form_is_prefilled_and_locks_certificate_and_uscc(as_user, db_session):
    page = as_user("ent.a").get(f"{BASE}/change")
    assert page.status_code == 200
    text = page.text
    filing = _filing(db_session, NAME_A)
    assert filing.certificate_no in text and "91440101MA59XXKL1H" in text
    assert 'name="uscc"' not in text and 'name="certificate_no"' not in text
    assert 'value="陈志强"' in text and 'value="13800138001"' in text
    assert 'name="premises-1-address"' in text and "白云机场P5停车场" in text
    assert 'id="premises-template"' in text


def test_change_opens_a_case_with_before_and_after_and_applies_on_approval(
        app, as_user, db_session):
    a = as_user("ent.a")
    ent = _enterprise(db_session, NAME_A)
    uscc, ent_id = ent.uscc, ent.id
    data = _change_data(**{
        "legal_representative": "陈志远",
        "contact_mobile": "13800138999",
        "premises-1-parking_spaces": "55",
        "premises-5-address": "广州市番禺区市桥街100号停车场",
        "premises-5-area": "300",
        # forged values are ignored: the enterprise comes from the user, USCC is locked
        "uscc": "91440300MA5DQ3KN8W", "certificate_no": "X", "enterprise_id": "2",
    })
    resp = _post(a, "/change", {**data, "documents": (io.BytesIO(PDF), "新营业执照.pdf")})
    assert resp.status_code == 302, resp.text[:3000]
    cases = _cases(db_session, NAME_A, wf.FILING_CHANGE)
    assert len(cases) == 1
    case = cases[0]
    assert resp.location.endswith(f"{BASE}/case/{case.reference}")
    assert case.state == engine.SUBMITTED and case.enterprise_id == ent_id
    p = case.payload
    assert sorted(p["changed"]) == ["contact_mobile", "legal_representative", "premises"]
    assert p["legal_representative"] == "陈志远" and p["before"]["legal_representative"] == "陈志强"
    assert p["contact_mobile"] == "13800138999" and p["before"]["contact_mobile"] == "13800138001"
    assert len(p["premises"]) == 3 and len(p["before"]["premises"]) == 2
    assert "address" not in p and "time_share" not in p  # unchanged fields are not re-applied
    assert [a.original_name for a in case.attachments] == ["新营业执照.pdf"]

    # The case page shows the before/after table.
    page = a.get(resp.location)
    assert page.status_code == 200 and 'id="diff-table"' in page.text
    assert "陈志强" in page.text and "陈志远" in page.text and "番禺区市桥街100号" in page.text

    # Nothing changed on the enterprise yet.
    ent = _enterprise(db_session, NAME_A)
    assert ent.legal_representative == "陈志强" and ent.contact_mobile == "13800138001"
    assert len(_filing(db_session, NAME_A).premises) == 2

    assert _fire_as_regulator(app, case.id) == engine.APPROVED
    ent = _enterprise(db_session, NAME_A)
    assert ent.legal_representative == "陈志远" and ent.contact_mobile == "13800138999"
    assert ent.uscc == uscc and ent.address == "广州市天河区天河路385号太古汇一座12楼"
    filing = _filing(db_session, NAME_A)
    assert [p.parking_spaces for p in filing.premises] == [60, 55, None]
    assert filing.certificate_no.startswith("GDZL")
    # B is untouched.
    assert _enterprise(db_session, NAME_B).legal_representative == "黄伟明"


def test_change_with_nothing_changed_is_refused(as_user, db_session):
    resp = _post(as_user("ent.a"), "/change", _change_data())
    assert resp.status_code == 422 and 'id="form-error"' in resp.text
    assert _cases(db_session, NAME_A, wf.FILING_CHANGE) == []


def test_change_refuses_an_invalid_mobile_and_an_empty_premises(as_user, db_session):
    a = as_user("ent.a")
    resp = _post(a, "/change", _change_data(contact_mobile="10086"))
    assert resp.status_code == 422 and 'has-error" id="group-contact_mobile"' in resp.text
    resp = _post(a, "/change", _change_data(**{"premises-0-address": "",
                                               "premises-1-address": None}))
    assert resp.status_code == 422
    assert _cases(db_session, NAME_A, wf.FILING_CHANGE) == []


def test_returned_change_is_corrected_on_the_same_case(app, as_user, db_session):
    a = as_user("ent.a")
    assert _post(a, "/change", _change_data(legal_representative="陈志远")).status_code == 302
    case = _cases(db_session, NAME_A, wf.FILING_CHANGE)[0]
    _fire_as_regulator(app, case.id, "return", "请上传法定代表人变更的登记材料。")
    page = a.get(f"{BASE}/change")
    assert 'id="correcting"' in page.text and "请上传法定代表人变更的登记材料。" in page.text
    assert 'value="陈志远"' in page.text
    assert 'id="correct-link"' in a.get(f"{BASE}/case/{case.reference}").text
    resp = _post(a, "/change", {**_change_data(legal_representative="陈志远"),
                                "documents": (io.BytesIO(PDF), "变更登记.pdf")})
    assert resp.status_code == 302
    cases = _cases(db_session, NAME_A, wf.FILING_CHANGE)
    assert len(cases) == 1 and cases[0].state == engine.SUBMITTED
    assert [h.name for h in cases[0].history] == ["submit", "return", "resubmit"]


def test_an_open_case_blocks_a_second_application(as_user, db_session):
    a = as_user("ent.a")
    assert _post(a, "/change", _change_data(legal_representative="陈志远")).status_code == 302
    page = a.get(f"{BASE}/terminate")
    assert 'id="open-case"' in page.text and 'id="state-form"' not in page.text
    resp = _post(a, "/terminate", _state_data(TODAY, notice=TODAY - datetime.timedelta(40)))
    assert resp.status_code == 422 and 'id="guard-reasons"' in resp.text
    assert _cases(db_session, NAME_A, wf.TERMINATE) == []


# ----- R11 suspend / resume / terminate ----------------------------------------------------
def test_suspension_report_after_15_days_is_refused(as_user, db_session):
    b = as_user("ent.b")  # not a time-share operator
    page = b.get(f"{BASE}/suspend")
    assert 'name="notice_date"' not in page.text and 'id="rules"' in page.text
    resp = _post(b, "/suspend", _state_data(TODAY - datetime.timedelta(days=20)))
    assert resp.status_code == 422
    reasons = re.search(r'id="guard-reasons">(.*?)</div>', resp.text, re.S).group(1)
    assert "15" in reasons and (TODAY - datetime.timedelta(days=20)).isoformat() in reasons
    assert _cases(db_session, NAME_B, wf.SUSPEND) == []
    # Within 15 days: accepted, applied only on approval.
    resp = _post(b, "/suspend", _state_data(TODAY - datetime.timedelta(days=10)))
    assert resp.status_code == 302
    assert _filing(db_session, NAME_B).state == "operating"


def test_time_share_operator_needs_the_30_day_notice(app, as_user, db_session):
    a = as_user("ent.a")  # enterprise A offers time-share rental
    page = a.get(f"{BASE}/suspend")
    assert 'name="notice_date"' in page.text and 'id="time-share-note"' in page.text
    effective = TODAY + datetime.timedelta(days=20)
    resp = _post(a, "/suspend", _state_data(effective))
    assert resp.status_code == 422 and 'id="guard-reasons"' in resp.text
    resp = _post(a, "/suspend", _state_data(effective, notice=TODAY - datetime.timedelta(1)))
    assert resp.status_code == 422
    reasons = re.search(r'id="guard-reasons">(.*?)</div>', resp.text, re.S).group(1)
    assert "30" in reasons and effective.isoformat() in reasons
    assert _cases(db_session, NAME_A, wf.SUSPEND) == []

    notice = effective - datetime.timedelta(days=30)
    resp = _post(a, "/suspend", _state_data(effective, notice=notice))
    assert resp.status_code == 302
    case = _cases(db_session, NAME_A, wf.SUSPEND)[0]
    assert case.payload["notice_date"] == notice.isoformat()
    assert case.payload["effective_date"] == effective.isoformat()
    assert [x.original_name for x in case.attachments] == ["书面报告.pdf"]
    page = a.get(resp.location)
    assert 'id="case-details"' in page.text and notice.isoformat() in page.text

    # Approval suspends the filing; then (and only then) resume is offered.
    assert _filing(db_session, NAME_A).state == "operating"
    assert 'id="not-offered"' in a.get(f"{BASE}/resume").text
    _fire_as_regulator(app, case.id)
    assert _filing(db_session, NAME_A).state == "suspended"
    assert 'id="not-offered"' in a.get(f"{BASE}/suspend").text
    page = a.get(f"{BASE}/resume")
    assert 'id="state-form"' in page.text and 'name="notice_date"' not in page.text
    resp = _post(a, "/resume", _state_data(TODAY, reason="装修完成，恢复经营。"))
    assert resp.status_code == 302
    _fire_as_regulator(app, _cases(db_session, NAME_A, wf.RESUME)[0].id)
    assert _filing(db_session, NAME_A).state == "operating"


def test_state_forms_need_the_written_report(as_user, db_session):
    b = as_user("ent.b")
    resp = _post(b, "/terminate", _state_data(TODAY, report=False))
    assert resp.status_code == 422 and 'has-error" id="group-report"' in resp.text
    disguised = {**_state_data(TODAY, report=False),
                 "report": (io.BytesIO(b"GIF89a disguised as a PDF"), "report.pdf")}
    resp = _post(b, "/terminate", disguised)
    assert resp.status_code == 422 and 'id="form-error"' in resp.text
    resp = _post(b, "/terminate", {"effective_date": TODAY.isoformat(),
                                   "report": (io.BytesIO(PDF), "r.pdf")})
    assert resp.status_code == 422  # no reason
    assert _cases(db_session, NAME_B, wf.TERMINATE) == []


def test_returned_suspension_is_corrected_without_a_new_report(app, as_user, db_session):
    b = as_user("ent.b")
    effective = TODAY + datetime.timedelta(days=3)
    assert _post(b, "/suspend", _state_data(effective)).status_code == 302
    case = _cases(db_session, NAME_B, wf.SUSPEND)[0]
    _fire_as_regulator(app, case.id, "return", "请写明暂停的具体原因。")
    page = b.get(f"{BASE}/suspend")
    assert 'id="correcting"' in page.text and effective.isoformat() in page.text
    resp = _post(b, "/suspend", _state_data(effective, report=False,
                                            reason="门店装修，预计三个月。"))
    assert resp.status_code == 302
    cases = _cases(db_session, NAME_B, wf.SUSPEND)
    assert len(cases) == 1 and cases[0].state == engine.SUBMITTED
    assert cases[0].payload["reason"] == "门店装修，预计三个月。"
    assert [h.name for h in cases[0].history] == ["submit", "return", "resubmit"]
    assert len(cases[0].attachments) == 1  # the report of the first submission


def test_resume_is_refused_while_operating(as_user, db_session):
    b = as_user("ent.b")
    page = b.get(f"{BASE}/resume")
    assert 'id="not-offered"' in page.text and 'id="state-form"' not in page.text
    resp = _post(b, "/resume", _state_data(TODAY))
    assert resp.status_code == 422 and 'id="guard-reasons"' in resp.text
    assert _cases(db_session, NAME_B, wf.RESUME) == []


def test_terminate_applies_on_approval(app, as_user, db_session):
    b = as_user("ent.b")
    resp = _post(b, "/terminate", _state_data(TODAY, reason="公司决定停止租赁业务。"))
    assert resp.status_code == 302
    case = _cases(db_session, NAME_B, wf.TERMINATE)[0]
    assert case.title.startswith(NAME_B)
    _fire_as_regulator(app, case.id)
    assert _filing(db_session, NAME_B).state == "terminated"
    page = b.get(f"{BASE}/change")
    assert 'id="not-offered"' in page.text and 'id="change-form"' not in page.text


# ----- the case page: tenancy and withdrawal ----------------------------------------------
def test_case_page_is_scoped_to_the_own_enterprise(as_user, db_session):
    a = as_user("ent.a")
    assert _post(a, "/change", _change_data(legal_representative="陈志远")).status_code == 302
    ref = _cases(db_session, NAME_A, wf.FILING_CHANGE)[0].reference
    assert a.get(f"{BASE}/case/{ref}").status_code == 200
    b = as_user("ent.b")
    resp = b.get(f"{BASE}/case/{ref}")
    assert resp.status_code == 404 and "陈志远" not in resp.text
    assert b.post(f"{BASE}/case/{ref}/withdraw").status_code == 404
    assert _cases(db_session, NAME_A, wf.FILING_CHANGE)[0].state == engine.SUBMITTED
    assert a.get(f"{BASE}/case/NOPE").status_code == 404
    # A vehicle case of A is not an enterprise filing case.
    vehicle_case = db_session.query(Application).filter_by(kind=wf.VEHICLE_FILING).first()
    assert a.get(f"{BASE}/case/{vehicle_case.reference}").status_code == 404
    # ent.c has no cases at all here.
    assert as_user("ent.c").get(f"{BASE}/case/{ref}").status_code == 404


def test_withdraw_an_open_case(as_user, db_session):
    a = as_user("ent.a")
    assert _post(a, "/change", _change_data(legal_representative="陈志远")).status_code == 302
    case = _cases(db_session, NAME_A, wf.FILING_CHANGE)[0]
    page = a.get(f"{BASE}/case/{case.reference}")
    assert 'id="withdraw-form"' in page.text
    # A stale version is a conflict, not a withdrawal.
    resp = a.post(f"{BASE}/case/{case.reference}/withdraw", data={"version": "999"})
    assert resp.status_code == 302
    assert _cases(db_session, NAME_A, wf.FILING_CHANGE)[0].state == engine.SUBMITTED
    resp = a.post(f"{BASE}/case/{case.reference}/withdraw", data={"version": case.version})
    assert resp.status_code == 302
    assert _cases(db_session, NAME_A, wf.FILING_CHANGE)[0].state == engine.WITHDRAWN
    # A new application is possible again.
    assert 'id="change-form"' in a.get(f"{BASE}/change").text
