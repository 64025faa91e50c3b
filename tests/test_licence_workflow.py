"""The licence workflows (SPEC P6-P11, P13, P16) driven through the engine: staged review with
stage limits, the FTZ and 容缺 variants, forbidden transitions per role, and the lifecycle of
linked licence versions with the same number."""

from __future__ import annotations

import datetime

import pytest
from sqlalchemy import select

from app.workflows.calendar import add_working_days

P_USCC = "91440101MA5CUJ2E76"
Q_USCC = "91440115MA9UQ8WE1G"


def _ent(db_session, uscc):
    from app.models.org import Enterprise

    return db_session.execute(select(Enterprise).where(Enterprise.uscc == uscc)).scalar_one()


def _actor(db_session, username, role):
    from app.models.identity import AppUser
    from app.workflows import engine

    user = db_session.execute(select(AppUser).where(AppUser.username == username)).scalar_one()
    return engine.Actor(frozenset({role}), name=username, user=user)


def _enterprise(db_session, username):
    from app.workflows import engine

    return _actor(db_session, username, engine.ENTERPRISE)


def _regulator(db_session, username="reg.power"):
    from app.workflows import engine

    return _actor(db_session, username, engine.REGULATOR)


def _q_case(db_session):
    from app.models.workflow import Application

    q = _ent(db_session, Q_USCC)
    return db_session.execute(select(Application).where(
        Application.enterprise_id == q.id, Application.kind == "power_new")).scalar_one()


def _materials(db_session, req, user_id, skip=()):
    from app.demo_rental import demo_attachment
    from app.models.licence import RequestMaterial
    from app.services import licence_check

    for m in licence_check.required_materials(req):
        if m.slot in skip:
            continue
        db_session.add(RequestMaterial(enterprise_id=req.enterprise_id, request_id=req.id,
                                       slot=m.slot, attachment=demo_attachment(
                                           req.enterprise_id, user_id, f"{m.slot}.pdf")))
    db_session.flush()
    db_session.expire(req, ["materials"])


def _licence_request(db_session, uscc, username, matter, **fields):
    """A complete request for a matter about the enterprise's current licence."""
    from app.models.identity import AppUser
    from app.models.licence import LicenceRequest
    from app.services import licences

    ent = _ent(db_session, uscc)
    current = licences.current_licence(ent.id)
    user = db_session.execute(select(AppUser).where(AppUser.username == username)).scalar_one()
    req = LicenceRequest(enterprise_id=ent.id, matter=matter, licence_id=current.id,
                         categories=dict(fields.pop("categories", current.categories)),
                         submitter_kind="legal", submitter_name=ent.legal_representative,
                         submitter_id_number="440106199001011234", details={})
    for key, value in fields.items():
        setattr(req, key, value)
    db_session.add(req)
    db_session.flush()
    if matter in ("item_change", "renewal"):
        assert licences.prefill_sections(req)
        db_session.flush()
    _materials(db_session, req, user.id, skip=fields.get("details", {}).get("missing", ()))
    return req


def _approve(db_session, case):
    from app.workflows import engine

    reg = _regulator(db_session)
    for name in ("accept", "examine", "approve"):
        engine.fire(case, name, reg, opinion="同意")
    return case


def _approve_q(db_session):
    case = _q_case(db_session)
    from app.workflows import engine

    reg = _regulator(db_session)
    engine.fire(case, "examine", reg)
    engine.fire(case, "approve", reg, opinion="准予许可")
    return case


# ----- staged review -------------------------------------------------------------------------
def test_ftz_case_has_the_shorter_limits(db_session):
    case = _q_case(db_session)
    assert case.variant == "ftz" and case.state == "examining"
    submitted = case.submitted_on.date()
    assert case.deadline == add_working_days(submitted, 15)
    accepted = case.history[-1].at.date()
    assert case.stage_deadline == add_working_days(accepted, 7)


def test_ordinary_limits_are_20_working_days(db_session):
    from app.workflows import engine

    wf = engine.workflow_for("power_new")
    assert wf.time_limit_for(None).days == 20
    assert wf.time_limit_for("ftz").days == 15
    assert [wf.stage_limit_for(None, s).days for s in ("submitted", "examining",
                                                        "deciding")] == [5, 10, 5]
    assert engine.workflow_for("power_replacement").time_limit_for("ftz").days == 0
    assert engine.workflow_for("power_renewal").time_limit_for("ftz").days == 10


@pytest.mark.parametrize("who,name", [
    ("ent.q", "examine"), ("ent.q", "approve"), ("ent.q", "reject"),
    ("reg.power", "terminate"), ("reg.power", "supply"), ("reg.rental", "examine"),
    ("ent.p", "terminate"),
])
def test_forbidden_transitions_per_role(db_session, who, name):
    from app.errors import CaseStateError, TransitionForbiddenError
    from app.workflows import engine

    case = _q_case(db_session)
    actor = _regulator(db_session, who) if who.startswith("reg.") else \
        _enterprise(db_session, who)
    with pytest.raises((TransitionForbiddenError, CaseStateError)):
        engine.fire(case, name, actor, opinion="x")
    db_session.expire_all()
    assert _q_case(db_session).state == "examining"


def test_accept_is_not_possible_twice(db_session):
    from app.errors import CaseStateError
    from app.workflows import engine

    case = _q_case(db_session)
    with pytest.raises(CaseStateError):
        engine.fire(case, "accept", _regulator(db_session))


def test_overdue_stage_shows_in_the_queue(app, db_session, as_user):
    case = _q_case(db_session)
    case.stage_deadline = datetime.date.today() - datetime.timedelta(days=1)
    ref, pk = case.reference, case.id
    db_session.commit()
    html = as_user("reg.power").get("/review/list/?tab=overdue").get_data(as_text=True)
    assert ref in html
    html = as_user("reg.power").get(f"/applications/show/{pk}").get_data(as_text=True)
    assert 'id="case-variant"' in html and 'id="case-stage-deadline"' in html


# ----- new licence and the lifecycle -----------------------------------------------------------
def test_approval_issues_version_1_and_activates_staff(db_session):
    from app.models.licence import CLOSED, LicenceRequest
    from app.models.staff import PowerStaff
    from app.services import licences
    from app.workflows import licence as wf

    case = _approve_q(db_session)
    q = _ent(db_session, Q_USCC)
    lic = licences.current_licence(q.id)
    assert lic.version == 1 and lic.categories == {"install": 5}
    assert lic.number.startswith(f"CXS{datetime.date.today().year}")
    assert lic.expires_on == licences.add_years(datetime.date.today(), 6) - \
        datetime.timedelta(days=1)
    req = db_session.get(LicenceRequest, case.subject_id)
    assert req.state == CLOSED and req.licence_id == lic.id
    statuses = {s.status for s in db_session.query(PowerStaff).filter_by(enterprise_id=q.id)}
    assert statuses == {"active"}
    assert wf.request_of(case).id == req.id


def _lifecycle(db_session, matter, **fields):
    from app.workflows import licence as wf

    req = _licence_request(db_session, Q_USCC, "ent.q", matter, **fields)
    case = wf.submit_request(req, _enterprise(db_session, "ent.q"))
    return _approve(db_session, case), req


def test_each_lifecycle_step_links_a_new_version_with_the_same_number(db_session):
    from app.models.content import Announcement
    from app.services import licences

    _approve_q(db_session)
    q = _ent(db_session, Q_USCC)
    v1 = licences.current_licence(q.id)
    number, expiry = v1.number, v1.expires_on

    _lifecycle(db_session, "registration_change", details={
        "before": {"name": q.name}, "changes": {"name": "广州南沙明珠电力集团有限公司"}})
    v2 = licences.current_licence(q.id)
    assert (v2.number, v2.version, v2.previous_id) == (number, 2, v1.id)
    assert v2.holder_name == "广州南沙明珠电力集团有限公司" and v2.expires_on == expiry
    db_session.refresh(q)
    assert q.name == "广州南沙明珠电力集团有限公司"

    _lifecycle(db_session, "item_change", categories={"install": 5, "test": 5})
    v3 = licences.current_licence(q.id)
    assert v3.version == 3 and v3.categories == {"install": 5, "test": 5}
    assert v3.issued_on == datetime.date.today() and v3.expires_on == expiry

    _lifecycle(db_session, "renewal", categories={"install": 5, "test": 5})
    v4 = licences.current_licence(q.id)
    assert v4.version == 4 and v4.expires_on == licences.add_years(expiry, 6)

    before = db_session.query(Announcement).count()
    _lifecycle(db_session, "replacement", route="ftz", details={"reason": "lost"})
    v5 = licences.current_licence(q.id)
    assert v5.version == 5 and v5.number == number
    assert db_session.query(Announcement).count() == before + 1  # FTZ: notice on the portal

    _lifecycle(db_session, "cancellation", details={"matters": "业务调整，停止承装业务"})
    assert licences.current_licence(q.id) is None
    chain = licences.versions(number)
    assert [v.version for v in chain] == [6, 5, 4, 3, 2, 1]
    assert chain[0].status == "cancelled" and all(v.status == "superseded" for v in chain[1:])
    assert all(v.number == number for v in chain)


def test_old_certificate_verifies_as_superseded_and_links_the_current(app, db_session):
    from app.services import licences
    from app.services import verification as v

    _approve_q(db_session)
    q = _ent(db_session, Q_USCC)
    v1 = licences.current_licence(q.id)
    with app.test_request_context("/"):
        old_token = v.token_for("power_licence", v1.id, v1.version)
    _lifecycle(db_session, "registration_change", details={
        "before": {"legal_representative": q.legal_representative},
        "changes": {"legal_representative": "陈海生"}})
    v2 = licences.current_licence(q.id)
    client = app.test_client()
    html = client.get(f"/verify/{old_token}").get_data(as_text=True)
    assert 'data-status="superseded"' in html and 'id="verify-link"' in html
    link = html.split('id="verify-link" href="')[1].split('"')[0]
    html = client.get(link[link.index("/verify/"):]).get_data(as_text=True)
    assert 'data-status="valid"' in html and "陈海生" in html and str(v2.version) in html


def test_terminate_ends_the_business_and_releases_proposed_staff(db_session):
    from app.models.licence import CLOSED, LicenceRequest
    from app.models.staff import PowerStaff
    from app.workflows import engine

    case = _q_case(db_session)
    q_id = case.enterprise_id
    req_id = case.subject_id
    engine.fire(case, "terminate", _enterprise(db_session, "ent.q"),
                opinion="企业经营调整，终止办理")
    assert case.state == "terminated" and len(case.history) >= 3
    assert db_session.get(LicenceRequest, req_id).state == CLOSED
    assert db_session.query(PowerStaff).filter_by(enterprise_id=q_id).count() == 0


def test_withdraw_before_acceptance_returns_the_draft(db_session):
    from app.models.licence import DRAFT
    from app.workflows import engine
    from app.workflows import licence as wf

    _approve_q(db_session)
    req = _licence_request(db_session, Q_USCC, "ent.q", "cancellation",
                           details={"matters": "停业"})
    case = wf.submit_request(req, _enterprise(db_session, "ent.q"))
    engine.fire(case, "withdraw", _enterprise(db_session, "ent.q"))
    db_session.refresh(req)
    assert req.state == DRAFT and req.case_id is None


def test_one_licence_matter_at_a_time(db_session):
    from app.errors import GuardFailedError
    from app.workflows import licence as wf

    _approve_q(db_session)
    first = _licence_request(db_session, Q_USCC, "ent.q", "cancellation",
                             details={"matters": "停业"})
    wf.submit_request(first, _enterprise(db_session, "ent.q"))
    second = _licence_request(db_session, Q_USCC, "ent.q", "replacement",
                              details={"reason": "damaged", "explanation": "水浸"})
    with pytest.raises(GuardFailedError):
        wf.submit_request(second, _enterprise(db_session, "ent.q"))


# ----- 容缺 ------------------------------------------------------------------------------------
def _tolerance_case(db_session, deadline):
    from app.workflows import licence as wf

    _approve_q(db_session)
    req = _licence_request(db_session, Q_USCC, "ent.q", "item_change", route="tolerance",
                           categories={"install": 5, "repair": 5},
                           details={"missing": ["equipment_list"],
                                    "deadline": deadline.isoformat()})
    return wf.submit_request(req, _enterprise(db_session, "ent.q")), req


def test_tolerance_decision_waits_for_the_missing_materials(db_session):
    from app.demo_rental import demo_attachment
    from app.errors import GuardFailedError
    from app.workflows import engine
    from app.workflows import licence as wf

    case, req = _tolerance_case(db_session, datetime.date.today() + datetime.timedelta(days=5))
    assert case.variant == "tolerance"
    reg = _regulator(db_session)
    engine.fire(case, "accept", reg)
    engine.fire(case, "examine", reg)
    with pytest.raises(GuardFailedError):
        engine.fire(case, "approve", reg)
    user_id = _enterprise(db_session, "ent.q").user_id
    wf.supply_materials(req, {"equipment_list": demo_attachment(req.enterprise_id, user_id,
                                                                "设备清单.pdf")},
                        _enterprise(db_session, "ent.q"))
    assert case.state == "deciding" and case.history[-1].name == "supply"
    engine.fire(case, "approve", reg)
    assert case.state == "approved"


def test_missed_tolerance_deadline_is_recorded_and_bars_tolerance_for_two_years(db_session):
    from app.errors import GuardFailedError
    from app.models.licence import ToleranceDefault
    from app.services import credit
    from app.workflows import licence as wf

    today = datetime.date.today()
    case, req = _tolerance_case(db_session, today + datetime.timedelta(days=3))
    assert wf.record_tolerance_defaults(today + datetime.timedelta(days=3)) == 0  # on time
    assert wf.record_tolerance_defaults(today + datetime.timedelta(days=4)) == 1
    assert wf.record_tolerance_defaults(today + datetime.timedelta(days=5)) == 0  # idempotent
    default = db_session.query(ToleranceDefault).one()
    assert default.case_id == case.id
    # Supplying after the deadline is refused.
    default.recorded_on = today
    db_session.commit()
    req_q = _ent(db_session, Q_USCC)
    offer = credit.routes_for(req_q, "item_change", today)
    assert "tolerance" not in offer.routes and "tolerance" in offer.reasons
    default.recorded_on = today - datetime.timedelta(days=729)
    db_session.commit()
    assert "tolerance" not in credit.routes_for(req_q, "item_change", today).routes
    default.recorded_on = today - datetime.timedelta(days=730)
    db_session.commit()
    assert "tolerance" in credit.routes_for(req_q, "item_change", today).routes
    _ = GuardFailedError


def test_supply_after_the_deadline_is_refused(db_session):
    from app.demo_rental import demo_attachment
    from app.errors import GuardFailedError
    from app.workflows import licence as wf

    case, req = _tolerance_case(db_session, datetime.date.today() - datetime.timedelta(days=1))
    user_id = _enterprise(db_session, "ent.q").user_id
    with pytest.raises(GuardFailedError):
        wf.supply_materials(req, {"equipment_list": demo_attachment(
            req.enterprise_id, user_id, "设备清单.pdf")}, _enterprise(db_session, "ent.q"))


def test_tolerance_route_only_for_a_first_licence_on_new(db_session):
    from app.services import credit

    p = _ent(db_session, P_USCC)
    offer = credit.routes_for(p, "new")
    assert "tolerance" not in offer.routes
    assert "tolerance" in credit.routes_for(p, "item_change").routes
    assert "ftz" not in credit.routes_for(p, "item_change").routes  # 天河 is no pilot area


def test_staged_case_through_the_application_api(app, db_session):
    from tests.conftest import api_token, bearer

    case = _q_case(db_session)
    pk, version = case.id, case.version
    client = app.test_client()
    q = api_token(client, "ent.q")
    resp = client.post(f"/api/v1/application/{pk}/transition", headers=bearer(q),
                       json={"name": "examine", "version": version})
    assert resp.status_code == 403
    other = api_token(client, "ent.p")
    resp = client.post(f"/api/v1/application/{pk}/transition", headers=bearer(other),
                       json={"name": "terminate", "opinion": "x"})
    assert resp.status_code == 404
    reg = api_token(client, "reg.power")
    resp = client.post(f"/api/v1/application/{pk}/transition", headers=bearer(reg),
                       json={"name": "examine", "version": version})
    assert resp.status_code == 200 and resp.get_json()["state"] == "deciding"
    resp = client.post(f"/api/v1/application/{pk}/transition", headers=bearer(reg),
                       json={"name": "approve", "version": version})
    assert resp.status_code == 409  # stale version
    resp = client.post(f"/api/v1/application/{pk}/transition", headers=bearer(reg),
                       json={"name": "approve", "version": version + 1})
    assert resp.status_code == 200 and resp.get_json()["state"] == "approved"
    data = client.get("/api/v1/licence/", headers=bearer(q)).get_json()
    assert data["count"] == 1 and data["result"][0]["version"] == 1


def test_returned_for_correction_then_resubmitted_through_the_pages(app, db_session):
    """补正: the regulator returns a case at acceptance; the enterprise's pages are editable
    again and the same submit button resubmits it; the clock restarts."""
    from app.workflows import engine
    from app.workflows import licence as wf
    from tests.conftest import logged_in

    _approve_q(db_session)
    req = _licence_request(db_session, Q_USCC, "ent.q", "replacement",
                           details={"reason": "damaged", "explanation": "水浸"})
    case = wf.submit_request(req, _enterprise(db_session, "ent.q"))
    engine.fire(case, "return", _regulator(db_session), opinion="请补充损毁情况说明。")
    pk, case_id = req.id, case.id
    db_session.commit()
    c = logged_in(app, "ent.q")
    html = c.get(f"/power/requests/{pk}/tab/matter").get_data(as_text=True)
    assert 'id="tab-save"' in html
    resp = c.post(f"/power/requests/{pk}/tab/matter", data={
        "reason": "damaged", "explanation": "2026年7月台风水浸，证书正本损毁。"})
    assert resp.status_code == 302
    resp = c.post(f"/power/requests/{pk}/submit")
    assert resp.status_code == 302 and resp.location.endswith(f"/applications/show/{case_id}")
    db_session.expire_all()
    from app.models.workflow import Application

    case = db_session.get(Application, case_id)
    assert case.state == "submitted" and case.history[-1].name == "resubmit"
    assert case.stage_deadline is not None
    html = c.get(f"/power/requests/{pk}/tab/matter").get_data(as_text=True)
    assert 'id="tab-save"' not in html


def test_a_draft_follows_the_licence_when_another_matter_is_approved_first(db_session):
    """A licence-item change drafted against version 1 is submitted after a registration
    change made version 2: it is checked and applied against version 2 (found by the walk:
    the decision used to be refused as "no longer in force")."""
    from app.services import licences
    from app.workflows import licence as wf

    _approve_q(db_session)
    q = _ent(db_session, Q_USCC)
    v1 = licences.current_licence(q.id)
    draft = _licence_request(db_session, Q_USCC, "ent.q", "item_change",
                             categories={"install": 5, "test": 5})
    db_session.commit()
    assert draft.licence_id == v1.id
    _lifecycle(db_session, "registration_change", details={
        "before": {"name": q.name}, "changes": {"name": "广州南沙明珠电力集团有限公司"}})
    v2 = licences.current_licence(q.id)
    case = wf.submit_request(draft, _enterprise(db_session, "ent.q"))
    assert draft.licence_id == v2.id
    _approve(db_session, case)
    v3 = licences.current_licence(q.id)
    assert (v3.version, v3.previous_id, v3.categories) == (3, v2.id, {"install": 5, "test": 5})
    assert v3.holder_name == "广州南沙明珠电力集团有限公司"
