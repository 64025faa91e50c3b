"""Service evaluations (好差评, SPEC P14), the pages and APIs: every route for the right
user, another enterprise, a regulator of another sector, an auditor and an anonymous visitor;
forged ids; hostile input; the 5-day rule at the boundary through the pages; the to-do that
appears when a case ends and goes when it is evaluated."""

from __future__ import annotations

import datetime
import io

import pytest
from conftest import api_token, bearer
from openpyxl import load_workbook

from app.models.evaluation import Evaluation, EvaluationCode, EvaluationMobileLock
from app.models.identity import AppUser
from app.models.workflow import Application

DEMO_CASE_MOBILE = "13926001234"  # ent.p's evaluation of its first refused personnel change
FULL_DEMO_MOBILES = ("19940762497", "13779204601", DEMO_CASE_MOBILE)


def _user(db_session, username):
    return db_session.query(AppUser).filter_by(username=username).one()


def _case(db_session, evaluated: bool):
    p = _user(db_session, "ent.p")
    done = {e.case_id for e in db_session.query(Evaluation).filter(
        Evaluation.case_id.isnot(None))}
    for case in db_session.query(Application).filter(
            Application.enterprise_id == p.enterprise_id, Application.state == "rejected"):
        if (case.id in done) == evaluated:
            return case.id
    raise AssertionError("demo: ent.p has two refused personnel changes")


class _Ref:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def _code(db_session, title="许可受理窗口"):
    """id and token of a demo code (plain values: requests end the test's session)."""
    code = db_session.query(EvaluationCode).filter_by(title=title).one()
    return _Ref(id=code.id, token=code.token)


def _set_code_active(db_session, code_id, active):
    db_session.get(EvaluationCode, code_id).active = active
    db_session.commit()


def _evaluation_id(db_session, **where):
    return db_session.query(Evaluation).filter_by(**where).one().id


def _count(db_session, **where):
    db_session.expire_all()
    return db_session.query(Evaluation).filter_by(**where).count()


def form(**over):
    data = {"satisfaction": "5", "mobile": "13512345678", "name": "冯建民",
            "aspects": ["attitude", "efficiency"], "comment": "办理很快。", "captcha": ""}
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def has_error(html: str, field: str) -> bool:
    return f'class="form-group has-error" id="group-{field}"' in html


def _case_url(case_id):
    return f"/power/evaluations/case/{case_id}"


def _public(token):
    return f"/public/evaluate/{token}"


def _sheet(data: bytes) -> list[list]:
    wb = load_workbook(io.BytesIO(data))
    return [[c.value for c in row] for row in wb.active.iter_rows()]


def _record_count(html: str) -> int:
    import re

    m = re.search(r'id="record-count">([\d,]+)', html)
    assert m, "no record count"
    return int(m.group(1).replace(",", ""))


# ----- the enterprise's to-do and evaluation of a case ----------------------------------------
def test_todo_appears_for_an_ended_case_and_goes_when_evaluated(app, as_user, db_session):
    pending, done = _case(db_session, False), _case(db_session, True)
    p = as_user("ent.p")
    page = p.get("/inbox/").text
    assert 'data-kind="evaluation"' in page
    assert _case_url(pending) in page and _case_url(done) not in page
    token = api_token(app.test_client(), "ent.p")
    todos = p.get("/api/v1/inbox/", headers=bearer(token)).get_json()["other_todos"]
    assert [t["url"] for t in todos if t["kind"] == "evaluation"] == [_case_url(pending)]
    assert todos[0]["due"]  # open for 90 days after the decision

    r = p.post(_case_url(pending), data=form())
    assert r.status_code == 302 and r.location.endswith("/inbox/")
    assert 'data-kind="evaluation"' not in p.get("/inbox/").text
    ev = db_session.query(Evaluation).filter_by(case_id=pending).one()
    assert (ev.channel, ev.satisfaction, ev.mobile, ev.aspects) == (
        "todo", 5, "13512345678", ["attitude", "efficiency"])
    assert ev.enterprise_id == _user(db_session, "ent.p").enterprise_id
    # Nobody else has this to-do.
    for username in ("ent.q", "ent.a", "reg.power"):
        assert 'data-kind="evaluation"' not in as_user(username).get("/inbox/").text


def test_case_page_for_its_enterprise_only(app, as_user, client, db_session):
    pending = _case(db_session, False)
    page = as_user("ent.p").get(_case_url(pending))
    assert page.status_code == 200
    assert 'id="evaluation-form"' in page.text
    # Required fields are starred (seed: 带“*”为必填项).
    for group in ("group-satisfaction", "group-mobile"):
        head = page.text.split(f'id="{group}"')[1][:400]
        assert 'class="req"' in head, group
    assert 'class="req"' not in page.text.split('id="group-comment"')[1][:300]
    for username in ("ent.q", "ent.a"):  # another power enterprise, a rental enterprise
        c = as_user(username)
        assert c.get(_case_url(pending)).status_code == 404
        assert c.post(_case_url(pending), data=form()).status_code == 404
    for username in ("reg.power", "reg.rental", "auditor"):  # no can_add: refused
        c = as_user(username)
        assert c.get(_case_url(pending)).status_code in (302, 403)
        assert c.post(_case_url(pending), data=form()).status_code in (302, 403)
    r = client.get(_case_url(pending))
    assert r.status_code == 302 and "/login/" in r.location
    r = client.post(_case_url(pending), data=form())
    assert r.status_code == 302 and "/login/" in r.location
    assert _count(db_session, case_id=pending) == 0


def test_forged_case_ids_are_not_found(as_user, db_session):
    p_id = _user(db_session, "ent.p").enterprise_id
    a_id = _user(db_session, "ent.a").enterprise_id
    open_case = db_session.query(Application).filter_by(enterprise_id=p_id,
                                                        state="submitted").first()
    rental = db_session.query(Application).filter_by(enterprise_id=a_id,
                                                     state="approved").first()
    q_case = db_session.query(Application).filter(
        Application.enterprise_id != p_id, Application.kind == "power_new").first()
    forged = (open_case.id, rental.id, q_case.id, 0, 99999999, 2**40)
    p = as_user("ent.p")
    before = _count(db_session)
    for case_id in forged:
        assert p.get(_case_url(case_id)).status_code == 404, case_id
        assert p.post(_case_url(case_id), data=form()).status_code == 404, case_id
    assert p.get("/power/evaluations/case/-1").status_code == 404
    assert _count(db_session) == before


def test_an_evaluated_case_shows_its_evaluation_and_takes_no_second(as_user, db_session):
    done = _case(db_session, True)
    p = as_user("ent.p")
    page = p.get(_case_url(done))
    assert page.status_code == 200 and 'id="evaluation-done"' in page.text
    assert 'id="evaluation-form"' not in page.text
    r = p.post(_case_url(done), data=form(mobile="13712340000"))
    assert r.status_code == 409
    assert _count(db_session, case_id=done) == 1


@pytest.mark.parametrize("over, fields", [
    ({"satisfaction": None, "mobile": ""}, {"satisfaction", "mobile"}),
    ({"satisfaction": "9"}, {"satisfaction"}),
    ({"mobile": "12345678901"}, {"mobile"}),
    ({"mobile": "020-38881234"}, {"mobile"}),
    ({"comment": "长" * 501}, {"comment"}),
    ({"name": "名" * 33}, {"name"}),
    ({"aspects": ["attitude", "bribes"]}, {"aspects"}),
    ({"satisfaction": "x", "mobile": "1", "comment": "x" * 2000, "aspects": ["?"]},
     {"satisfaction", "mobile", "comment", "aspects"}),
])
def test_hostile_input_is_refused_with_every_error(as_user, db_session, over, fields):
    pending = _case(db_session, False)
    r = as_user("ent.p").post(_case_url(pending), data=form(**over))
    assert r.status_code == 422
    assert 'id="form-invalid"' in r.text
    for field in ("satisfaction", "mobile", "comment", "name", "aspects"):
        assert has_error(r.text, field) == (field in fields), field
    assert _count(db_session, case_id=pending) == 0
    assert db_session.get(EvaluationMobileLock, "13512345678") is None


def test_html_in_comment_is_stored_as_text_and_escaped(as_user, db_session):
    pending = _case(db_session, False)
    hostile = '<script>alert("x")</script><b onmouseover=alert(1)>粗</b>'
    r = as_user("ent.p").post(_case_url(pending), data=form(comment=hostile))
    assert r.status_code == 302
    ev = db_session.query(Evaluation).filter_by(case_id=pending).one()
    assert ev.comment == hostile
    ev_id = ev.id
    reg = as_user("reg.power")
    for page in (reg.get(f"/power/evaluations/show/{ev_id}").text,
                 reg.get("/power/evaluations/list/").text):
        assert "<script>alert" not in page and "<b onmouseover" not in page
        assert "&lt;script&gt;" in page


def test_five_day_rule_on_the_case_page_at_the_boundary(as_user, db_session):
    pending = _case(db_session, False)
    p = as_user("ent.p")
    # The demo's evaluation of the other case used this number moments ago.
    r = p.post(_case_url(pending), data=form(mobile=DEMO_CASE_MOBILE))
    assert r.status_code == 409 and has_error(r.text, "mobile")
    lock = db_session.get(EvaluationMobileLock, DEMO_CASE_MOBILE)
    assert lock.until.strftime("%Y-%m-%d %H:%M") in r.text  # when it may evaluate again
    assert _count(db_session, case_id=pending) == 0

    def lock_until(moment):
        db_session.get(EvaluationMobileLock, DEMO_CASE_MOBILE).until = moment
        db_session.commit()

    # Just before the lock runs out: refused; once it has run out: accepted.
    lock_until(datetime.datetime.now() + datetime.timedelta(seconds=30))
    assert p.post(_case_url(pending), data=form(mobile=DEMO_CASE_MOBILE)).status_code == 409
    lock_until(datetime.datetime.now())
    r = p.post(_case_url(pending), data=form(mobile="+86 139 2600 1234"))
    assert r.status_code == 302
    assert _count(db_session, case_id=pending, mobile=DEMO_CASE_MOBILE) == 1


# ----- the public page of a QR code -----------------------------------------------------------
def test_public_page_takes_an_anonymous_evaluation(client, db_session):
    code = _code(db_session)
    page = client.get(_public(code.token))
    assert page.status_code == 200
    assert "许可受理窗口" in page.text and "国家能源局南方监管局" in page.text
    assert 'class="req"' in page.text.split('id="group-mobile"')[1][:400]
    r = client.post(_public(code.token), data=form(mobile="13612349876", name=None))
    assert r.status_code == 302 and r.location.endswith(f"{_public(code.token)}/thanks")
    assert client.get(r.location).status_code == 200
    ev = db_session.query(Evaluation).filter_by(mobile="13612349876").one()
    assert (ev.channel, ev.code_id, ev.enterprise_id, ev.case_id, ev.name) == (
        "qr", code.id, None, None, None)
    # The same number again within 5 days: refused, with the day it may evaluate again.
    r = client.post(_public(code.token), data=form(mobile="13612349876", satisfaction="1"))
    assert r.status_code == 409 and has_error(r.text, "mobile")
    assert _count(db_session, mobile="13612349876") == 1


def test_public_page_refuses_unknown_and_switched_off_codes(client, db_session):
    code = _code(db_session)
    for token in ("nope", "x" * 200, code.token[:-1], code.token.upper()):
        assert client.get(_public(token)).status_code == 404
        assert client.post(_public(token), data=form()).status_code == 404
        assert client.get(_public(token) + "/thanks").status_code == 404
    _set_code_active(db_session, code.id, False)
    assert client.get(_public(code.token)).status_code == 404
    assert client.post(_public(code.token), data=form()).status_code == 404
    assert _count(db_session, mobile="13512345678") == 0


def test_public_page_hostile_input_and_escaping(client, db_session, as_user):
    code = _code(db_session)
    r = client.post(_public(code.token), data=form(satisfaction=None, mobile="abc",
                                                   comment="<i>" * 300))
    assert r.status_code == 422
    assert all(has_error(r.text, f) for f in ("satisfaction", "mobile", "comment"))
    assert _count(db_session, code_id=code.id) == 5  # the demo's five
    # A code title with HTML is shown as text.
    r = as_user("reg.power").post("/power/evaluation-codes/generate", data={
        "kind": "service", "title": '<img src=x onerror=alert(1)>窗口'})
    assert r.status_code == 302
    hostile = db_session.query(EvaluationCode).filter(
        EvaluationCode.title.like("%onerror%")).one()
    page = client.get(_public(hostile.token)).text
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;窗口" in page


def test_public_page_wrong_captcha_is_refused(app, client, db_session, monkeypatch):
    from app.services import captcha

    app.config["CAPTCHA_ENABLED"] = True
    monkeypatch.setattr(captcha, "_new_answer", lambda: "K7PX")
    code = _code(db_session)
    page = client.get(_public(code.token))
    assert 'id="captcha-img"' in page.text
    client.get("/captcha.png")
    r = client.post(_public(code.token), data=form(captcha="XXXX"))
    assert r.status_code == 422 and 'id="captcha-error"' in r.text
    assert _count(db_session, mobile="13512345678") == 0
    assert db_session.get(EvaluationMobileLock, "13512345678") is None
    client.get("/captcha.png")
    r = client.post(_public(code.token), data=form(captcha="k7px"))
    assert r.status_code == 302
    assert _count(db_session, mobile="13512345678") == 1


def test_public_page_is_rate_limited_per_address(client, db_session):
    code = _code(db_session)
    codes = [client.post(_public(code.token), data={"satisfaction": ""}).status_code
             for _ in range(11)]
    assert codes[:10] == [422] * 10 and codes[10] == 429


def test_public_page_needs_a_csrf_token(app, client, db_session):
    from conftest import csrf_token_from

    app.config["WTF_CSRF_ENABLED"] = True
    code = _code(db_session)
    assert client.post(_public(code.token), data=form()).status_code in (400, 422)
    assert _count(db_session, mobile="13512345678") == 0
    token = csrf_token_from(client.get(_public(code.token)).text)
    assert client.post(_public(code.token), data=form(csrf_token=token)).status_code == 302


def test_a_signed_in_user_on_the_public_page_stays_anonymous_in_the_row(as_user, db_session):
    code = _code(db_session)
    r = as_user("ent.a").post(_public(code.token), data=form(mobile="13812349999"))
    assert r.status_code == 302
    ev = db_session.query(Evaluation).filter_by(mobile="13812349999").one()
    assert ev.enterprise_id is None and ev.submitted_by_id is None


# ----- the authority's codes ------------------------------------------------------------------
def test_power_regulator_generates_and_prints_codes(as_user, db_session):
    reg = as_user("reg.power")
    page = reg.get("/power/evaluation-codes/list/")
    assert page.status_code == 200
    for title in ("许可受理窗口", "政务服务大厅咨询台", "承装（修、试）电力设施许可证新申请"):
        assert title in page.text
    rows = _sheet(reg.get("/power/evaluation-codes/export/").data)
    assert len(rows) == 5 and all(str(r[-1]).startswith("/public/evaluate/") for r in rows[1:])
    matter = reg.get("/power/evaluation-codes/list/?kind=matter").text
    assert "许可受理窗口" not in matter and "电力设施许可证延续" in matter
    assert reg.get("/power/evaluation-codes/generate").status_code == 200
    r = reg.post("/power/evaluation-codes/generate", data={
        "kind": "service", "title": "行政审批窗口", "matter": "power_new"})
    assert r.status_code == 302
    code = db_session.query(EvaluationCode).filter_by(title="行政审批窗口").one()
    assert code.matter is None and code.authority_id == _user(db_session,
                                                              "reg.power").authority_id
    assert r.location.endswith(f"/power/evaluation-codes/qr/{code.id}")
    qr = reg.get(r.location).text
    assert f"/public/evaluate/{code.token}" in qr and 'id="evaluation-qr"' in qr
    png = reg.get(f"/power/evaluation-codes/qr/{code.id}.png")
    assert png.status_code == 200 and png.data.startswith(b"\x89PNG")
    assert png.mimetype == "image/png"
    dl = reg.get(f"/power/evaluation-codes/qr/{code.id}.png?download=1")
    assert "attachment" in dl.headers["Content-Disposition"]
    # Switch off: the public page is gone; on again: back.
    assert reg.post(f"/power/evaluation-codes/toggle/{code.id}").status_code == 302
    assert as_user("ent.a").get(_public(code.token)).status_code == 404
    reg.post(f"/power/evaluation-codes/toggle/{code.id}")
    db_session.expire_all()
    assert db_session.get(EvaluationCode, code.id).active is True
    assert reg.get(f"/power/evaluation-codes/toggle/{code.id}").status_code == 405


def test_code_form_errors(as_user, db_session):
    reg = as_user("reg.power")
    before = db_session.query(EvaluationCode).count()
    r = reg.post("/power/evaluation-codes/generate", data={"kind": "matter", "title": ""})
    assert r.status_code == 422 and has_error(r.text, "title") and has_error(r.text, "matter")
    r = reg.post("/power/evaluation-codes/generate", data={
        "kind": "matter", "title": "某案", "case_reference": "NOPE"})
    assert r.status_code == 422 and has_error(r.text, "case_reference")
    r = reg.post("/power/evaluation-codes/generate", data={"kind": "x", "title": "t" * 101})
    assert r.status_code == 422 and has_error(r.text, "kind") and has_error(r.text, "title")
    db_session.expire_all()
    assert db_session.query(EvaluationCode).count() == before


def test_codes_of_another_authority_are_not_found(as_user, client, db_session):
    code = _code(db_session)
    urls = [f"/power/evaluation-codes/qr/{code.id}", f"/power/evaluation-codes/qr/{code.id}.png"]
    rental = as_user("reg.rental")  # a regulator without the power sector: no codes of its own
    page = rental.get("/power/evaluation-codes/list/")
    assert page.status_code == 200 and "许可受理窗口" not in page.text
    for url in urls:
        assert rental.get(url).status_code == 404, url
    assert rental.post(f"/power/evaluation-codes/toggle/{code.id}").status_code == 404
    r = rental.post("/power/evaluation-codes/generate", data={"kind": "service",
                                                              "title": "租赁窗口"})
    assert r.status_code == 422  # codes are for authorities supervising power licensing
    db_session.expire_all()
    assert db_session.get(EvaluationCode, code.id).active is True
    assert db_session.query(EvaluationCode).filter_by(title="租赁窗口").count() == 0
    # Exports are scoped like the list: no codes of its own, an empty sheet.
    assert len(_sheet(rental.get("/power/evaluation-codes/export/").data)) == 1
    assert len(_sheet(as_user("auditor").get("/power/evaluation-codes/export/").data)) == 1
    for username in ("auditor", "ent.p"):  # no can_codes
        c = as_user(username)
        for url in ["/power/evaluation-codes/list/", "/power/evaluation-codes/generate", *urls]:
            assert c.get(url).status_code in (302, 403), (username, url)
        assert c.post(f"/power/evaluation-codes/toggle/{code.id}").status_code in (302, 403)
    for url in ["/power/evaluation-codes/list/", "/power/evaluation-codes/generate", *urls]:
        r = client.get(url)
        assert r.status_code == 302 and "/login/" in r.location


# ----- results --------------------------------------------------------------------------------
def test_results_list_masks_mobiles_and_filters(as_user, db_session):
    reg = as_user("reg.power")
    page = reg.get("/power/evaluations/list/")
    assert page.status_code == 200
    assert _record_count(page.text) == 21
    assert "139****1234" in page.text  # the demo case evaluation's number, masked
    assert not any(m in page.text for m in FULL_DEMO_MOBILES)
    assert 'id="evaluation-chart-link"' in page.text and 'id="export-xlsx"' in page.text
    from app.views.evaluation import EvaluationView, _filter_index

    view = next(v for v in reg.application.appbuilder.baseviews
                if isinstance(v, EvaluationView))
    from flask_appbuilder.models.sqla.filters import FilterEqual, FilterGreater

    level = _filter_index(view, "satisfaction", FilterEqual)
    channel = _filter_index(view, "channel", FilterEqual)
    since = _filter_index(view, "created_on", FilterGreater)
    assert _record_count(reg.get(
        f"/power/evaluations/list/?_flt_{level}_satisfaction=1").text) == 2
    assert _record_count(reg.get(
        f"/power/evaluations/list/?_flt_{channel}_channel=todo").text) == 1
    tomorrow = (datetime.date.today() + datetime.timedelta(days=1)).isoformat()
    assert _record_count(reg.get(
        f"/power/evaluations/list/?_flt_{since}_created_on={tomorrow}").text) == 0
    code = _code(db_session)
    r = reg.get(f"/power/evaluations/list/?_flt_0_code={code.id}")
    assert r.status_code == 200 and _record_count(r.text) == 5
    ev_id = _evaluation_id(db_session, mobile=DEMO_CASE_MOBILE)
    show = reg.get(f"/power/evaluations/show/{ev_id}")
    assert show.status_code == 200 and DEMO_CASE_MOBILE in show.text  # follow-up call


def test_results_export_masks_mobiles(as_user):
    reg = as_user("reg.power")
    r = reg.get("/power/evaluations/export/")
    assert r.status_code == 200
    rows = _sheet(r.data)
    assert len(rows) == 22
    header = [str(h) for h in rows[0]]
    mobile = rows[1][header.index(next(h for h in header if "mobile" in h.lower()
                                       or "手机" in h))]
    assert "****" in mobile
    flat = " ".join(str(v) for row in rows for v in row)
    assert not any(m in flat for m in FULL_DEMO_MOBILES)


def test_satisfaction_chart_and_summary_export(as_user):
    reg = as_user("reg.power")
    page = reg.get("/power/evaluations/chart/")
    assert page.status_code == 200
    assert 'id="chart-satisfaction"' in page.text
    assert 'id="summary-total">21<' in page.text and 'id="summary-share">81.0%<' in page.text
    todo = reg.get("/power/evaluations/chart/?channel=todo").text
    assert 'id="summary-total">1<' in todo
    future = reg.get("/power/evaluations/chart/?start=2099-01-01&channel=nonsense&code=x").text
    assert 'id="summary-total">0<' in future
    r = reg.get("/power/evaluations/chart/export/")
    assert r.status_code == 200
    rows = _sheet(r.data)
    assert [row[1] for row in rows[1:6]] == [8, 6, 3, 2, 2]
    assert rows[-2][1] == 21 and rows[-1][1] == 17


def test_other_authorities_and_roles_see_only_their_scope(app, as_user, client, db_session):
    ev = _Ref(id=_evaluation_id(db_session, mobile=DEMO_CASE_MOBILE))
    qr_ev = _Ref(id=db_session.query(Evaluation).filter(
        Evaluation.code_id.isnot(None)).first().id)
    rental = as_user("reg.rental")
    assert _record_count(rental.get("/power/evaluations/list/").text) == 0
    for pk in (ev.id, qr_ev.id):
        assert rental.get(f"/power/evaluations/show/{pk}").status_code == 404
    assert 'id="summary-total">0<' in rental.get("/power/evaluations/chart/").text
    assert len(_sheet(rental.get("/power/evaluations/export/").data)) == 1
    # The audit office (power among its sectors, Guangdong): the case evaluation of its
    # jurisdiction, not the evaluations through the energy regulator's codes.
    auditor = as_user("auditor")
    assert _record_count(auditor.get("/power/evaluations/list/").text) == 1
    assert auditor.get(f"/power/evaluations/show/{ev.id}").status_code == 200
    assert auditor.get(f"/power/evaluations/show/{qr_ev.id}").status_code == 404
    assert auditor.get("/power/evaluations/export/").status_code == 200
    assert auditor.get("/power/evaluations/chart/export/").status_code == 200
    for username in ("ent.p", "ent.a"):
        c = as_user(username)
        for url in ("/power/evaluations/list/", f"/power/evaluations/show/{ev.id}",
                    "/power/evaluations/export/", "/power/evaluations/chart/",
                    "/power/evaluations/chart/export/"):
            assert c.get(url).status_code in (302, 403), (username, url)
    for url in ("/power/evaluations/list/", f"/power/evaluations/show/{ev.id}",
                "/power/evaluations/export/", "/power/evaluations/chart/"):
        r = client.get(url)
        assert r.status_code == 302 and "/login/" in r.location
    reg = as_user("reg.power")
    for url in ("/power/evaluations/add", f"/power/evaluations/edit/{ev.id}",
                f"/power/evaluations/delete/{ev.id}"):
        assert reg.get(url).status_code == 404
        assert reg.post(url).status_code in (404, 405)


# ----- REST -----------------------------------------------------------------------------------
def test_evaluation_api_is_read_only_scoped_and_masked(app, client, db_session):
    ev = _Ref(id=_evaluation_id(db_session, mobile=DEMO_CASE_MOBILE))
    reg = bearer(api_token(app.test_client(), "reg.power"))
    body = client.get("/api/v1/evaluation/?q=(page_size:100)", headers=reg).get_json()
    assert body["count"] == 21
    assert all("****" in row["mobile"] for row in body["result"])
    one = client.get(f"/api/v1/evaluation/{ev.id}", headers=reg).get_json()["result"]
    assert one["mobile"] == "139****1234" and one["satisfaction"] == 4
    assert client.post("/api/v1/evaluation/", json={"satisfaction": 5},
                       headers=reg).status_code == 405
    assert client.delete(f"/api/v1/evaluation/{ev.id}", headers=reg).status_code == 405
    r = client.get("/api/v1/evaluation/export", headers=reg)
    assert r.status_code == 200 and len(_sheet(r.data)) == 22
    rental = bearer(api_token(app.test_client(), "reg.rental"))
    assert client.get("/api/v1/evaluation/", headers=rental).get_json()["count"] == 0
    assert client.get(f"/api/v1/evaluation/{ev.id}", headers=rental).status_code == 404
    auditor = bearer(api_token(app.test_client(), "auditor"))
    assert client.get("/api/v1/evaluation/", headers=auditor).get_json()["count"] == 1
    ent = bearer(api_token(app.test_client(), "ent.p"))
    assert client.get("/api/v1/evaluation/", headers=ent).status_code == 403
    assert client.get(f"/api/v1/evaluation/{ev.id}", headers=ent).status_code == 403
    assert client.get("/api/v1/evaluation/").status_code == 401
    assert client.get(f"/api/v1/evaluation/{ev.id}").status_code == 401


def test_evaluation_code_api(app, client, db_session):
    code = _code(db_session)
    reg = bearer(api_token(app.test_client(), "reg.power"))
    body = client.get("/api/v1/evaluation_code/", headers=reg).get_json()
    assert body["count"] == 4
    row = next(r for r in body["result"] if r["id"] == code.id)
    assert row["url"].endswith(f"/public/evaluate/{code.token}")
    r = client.post("/api/v1/evaluation_code/", headers=reg,
                    json={"kind": "matter", "title": "许可证变更", "matter": "power_item_change"})
    assert r.status_code == 201, r.get_json()
    made = db_session.get(EvaluationCode, r.get_json()["id"])
    assert made.matter == "power_item_change" and r.get_json()["result"]["url"]
    r = client.post("/api/v1/evaluation_code/", headers=reg, json={"kind": "matter"})
    assert r.status_code == 422 and set(r.get_json()["errors"]) == {"title", "matter"}
    assert client.post("/api/v1/evaluation_code/", headers=reg, data="x",
                       content_type="text/plain").status_code == 400
    rental = bearer(api_token(app.test_client(), "reg.rental"))
    assert client.get("/api/v1/evaluation_code/", headers=rental).get_json()["count"] == 0
    assert client.get(f"/api/v1/evaluation_code/{code.id}", headers=rental).status_code == 404
    assert client.post("/api/v1/evaluation_code/", headers=rental,
                       json={"kind": "service", "title": "x"}).status_code == 422
    for username in ("auditor", "ent.p"):
        token = bearer(api_token(app.test_client(), username))
        assert client.get("/api/v1/evaluation_code/", headers=token).status_code == 403
        assert client.post("/api/v1/evaluation_code/", headers=token,
                           json={"kind": "service", "title": "x"}).status_code == 403
    assert client.get("/api/v1/evaluation_code/").status_code == 401
    assert client.post("/api/v1/evaluation_code/", json={}).status_code == 401


def test_menu_entries_for_the_power_regulator(as_user):
    page = as_user("reg.power").get("/power/evaluations/list/").text
    assert "/power/evaluation-codes/list/" in page and "/power/evaluations/list/" in page
    page = as_user("reg.rental").get("/inbox/").text
    assert "/power/evaluation-codes/list/" not in page  # not its sector's menu
