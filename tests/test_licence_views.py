"""Licence applications (SPEC P3-P11, P13, P16): step 1 with routes, the section tabs and
their rows, the completeness check, submit, the staged review to a certificate, and the
lifecycle of linked versions with the same number."""

from __future__ import annotations

import datetime
import io
import re

import pytest
from sqlalchemy import select

from tests.conftest import api_token, bearer, logged_in

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def _pdf(name="doc.pdf"):
    return (io.BytesIO(PDF), name)


def _ent(db_session, uscc):
    from app.models.org import Enterprise

    return db_session.execute(select(Enterprise).where(Enterprise.uscc == uscc)).scalar_one()


P_USCC = "91440101MA5CUJ2E76"
Q_USCC = "91440115MA9UQ8WE1G"


def _valid_id(seed: int) -> str:
    from stdnum.cn import ric

    body = f"440106{datetime.date(1985, 1, 1) + datetime.timedelta(days=seed):%Y%m%d}" \
           f"{seed % 900 + 100:03d}"
    return body + ric.calc_check_digit(body + "0")


def _bad_id() -> str:
    good = _valid_id(7)
    return good[:-1] + ("0" if good[-1] != "0" else "1")


def _draft(db_session, uscc, matter):
    from app.models.licence import DRAFT, LicenceRequest

    ent = _ent(db_session, uscc)
    return db_session.execute(select(LicenceRequest).where(
        LicenceRequest.enterprise_id == ent.id, LicenceRequest.matter == matter,
        LicenceRequest.state == DRAFT)).scalars().first()


# ----- step 1 and routes -----------------------------------------------------------------------
def test_power_home_lists_matters_for_a_licence_holder(app):
    c = logged_in(app, "ent.p")
    html = c.get("/power/").get_data(as_text=True)
    assert "CXS" in html and 'id="matter-registration_change"' in html
    assert 'id="matter-new"' not in html  # a holder applies for changes, not a new licence


def test_new_licence_refused_to_a_holder(app):
    c = logged_in(app, "ent.p")
    resp = c.get("/power/requests/new/new")
    assert resp.status_code == 302 and resp.location.endswith("/power/")


def test_start_offers_routes_by_credit_and_zone(app, db_session):
    """ent.q (南沙, good credit, no licence, case open) is offered 容缺 and the FTZ route;
    a poor credit record removes both."""
    from app.models.licence import CreditRecord

    c = logged_in(app, "ent.q")
    html = c.get("/power/requests/new/new").get_data(as_text=True)
    assert 'data-route-offered="tolerance"' in html and 'data-route-offered="ftz"' in html
    record = db_session.execute(select(CreditRecord).where(
        CreditRecord.uscc == Q_USCC)).scalar_one()
    record.rating = "poor"
    db_session.commit()
    html = c.get("/power/requests/new/new").get_data(as_text=True)
    assert 'data-route-refused="tolerance"' in html and 'data-route-refused="ftz"' in html
    assert 'value="tolerance"' not in html


def test_item_change_draft_with_gaps_lists_every_shortfall_by_section(app):
    """The demo draft of ent.p (add 承试五级) misses the safety lead, materials and test
    staff: the check names each, by section, and the submit button is disabled."""
    c = logged_in(app, "ent.p")
    with app.app_context():
        from app.extensions import db

        req = _draft(db.session, P_USCC, "item_change")
        pk = req.id
    html = c.get(f"/power/requests/{pk}/tab/check").get_data(as_text=True)
    assert 'id="check-findings"' in html
    sections = set(re.findall(r'data-section="(\w+)"', html))
    assert {"safety", "materials"} <= sections
    assert 'id="request-submit" disabled' in html
    resp = c.post(f"/power/requests/{pk}/submit")
    assert resp.status_code == 302
    with app.app_context():
        from app.extensions import db
        from app.models.licence import LicenceRequest

        assert db.session.get(LicenceRequest, pk).state == "draft"


def test_start_validates_submitter_id_and_categories(app, db_session):
    from app.models.licence import LicenceRequest

    c = logged_in(app, "ent.p")
    before = db_session.query(LicenceRequest).count()
    resp = c.post("/power/requests/new/renewal", data={
        "route": "normal", "submitter_kind": "legal", "submitter_name": "冯建民",
        "submitter_id_number": _bad_id(), "downgrade": "y",
        "cat_install": "y", "level_install": "2"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert re.search(r'id="group-submitter_id_number"[^>]*>', html) and \
        'class="form-group has-error" id="group-submitter_id_number"' in html
    assert db_session.query(LicenceRequest).count() == before


def test_renewal_cannot_raise_a_level(app, db_session):
    from app.models.licence import LicenceRequest

    c = logged_in(app, "ent.p")
    before = db_session.query(LicenceRequest).count()
    resp = c.post("/power/requests/new/renewal", data={
        "route": "normal", "submitter_kind": "legal", "submitter_name": "冯建民",
        "submitter_id_number": _valid_id(1), "downgrade": "y",
        "cat_install": "y", "level_install": "2", "cat_repair": "y", "level_repair": "4"},
        follow_redirects=True)
    assert resp.status_code == 200
    db_session.expire_all()
    assert db_session.query(LicenceRequest).count() == before


def test_forged_route_is_refused(app, db_session):
    """ent.p (天河, not in a pilot area) cannot post the FTZ route."""
    from app.models.licence import LicenceRequest

    c = logged_in(app, "ent.p")
    before = db_session.query(LicenceRequest).count()
    resp = c.post("/power/requests/new/registration_change", data={
        "route": "ftz", "submitter_kind": "legal", "submitter_name": "冯建民",
        "submitter_id_number": _valid_id(2)})
    assert resp.status_code == 200
    db_session.expire_all()
    assert db_session.query(LicenceRequest).count() == before


# ----- tenancy ---------------------------------------------------------------------------------
def test_another_enterprise_and_anonymous_cannot_reach_a_request(app, db_session):
    req = _draft(db_session, P_USCC, "item_change")
    pk = req.id
    q = logged_in(app, "ent.q")
    for url in (f"/power/requests/{pk}/tab/start", f"/power/requests/{pk}/tab/check",
                f"/power/requests/{pk}/rows/project/1"):
        assert q.get(url).status_code == 404
    for url in (f"/power/requests/{pk}/tab/basic", f"/power/requests/{pk}/submit",
                f"/power/requests/{pk}/abandon", f"/power/requests/{pk}/rows/equity/add"):
        assert q.post(url, data={"name": "x"}).status_code == 404
    anon = app.test_client()
    resp = anon.get(f"/power/requests/{pk}/tab/start")
    assert resp.status_code == 302 and "/login" in resp.location
    rental = logged_in(app, "ent.a")
    assert rental.get(f"/power/requests/{pk}/tab/start").status_code in (403, 404, 302)
    assert rental.get("/power/requests/new/new").status_code in (403, 404, 302)


def test_regulator_never_sees_a_draft(app, db_session, as_user):
    req = _draft(db_session, P_USCC, "item_change")
    pk = req.id
    reg = as_user("reg.power")
    assert reg.get(f"/power/requests/{pk}/tab/basic").status_code == 404
    html = reg.get("/power/requests/list/").get_data(as_text=True)
    assert f'/power/requests/show/{pk}"' not in html
    from app.models.licence import LicenceRequest

    q_request = db_session.query(LicenceRequest).filter_by(state="submitted").first().id
    assert reg.get(f"/power/requests/{q_request}/tab/basic").status_code == 200


def test_regulator_reads_but_cannot_write_a_request(app, db_session, as_user):
    from app.models.licence import LicenceRequest

    req = db_session.query(LicenceRequest).filter_by(state="submitted").first()
    pk = req.id
    reg = as_user("reg.power")
    assert reg.get(f"/power/requests/{pk}/tab/basic").status_code == 200
    resp = reg.post(f"/power/requests/{pk}/rows/equity/add",
                    data={"name": "伪造股东", "kind": "legal", "amount": "1", "share": "1"})
    assert resp.status_code in (302, 403, 404)
    db_session.expire_all()
    from app.models.licence import EquityHolder

    assert not db_session.query(EquityHolder).filter_by(name="伪造股东").count()
    other = as_user("reg.rental")
    assert other.get(f"/power/requests/{pk}/tab/basic").status_code in (302, 403, 404)


def test_row_of_another_request_is_404(app, db_session):
    """A forged row id (ent.q's equity row) under ent.p's request answers 404."""
    from app.models.licence import EquityHolder, LicenceRequest

    mine = _draft(db_session, P_USCC, "item_change")
    q = _ent(db_session, Q_USCC)
    foreign = db_session.execute(select(EquityHolder.id).join(
        LicenceRequest, LicenceRequest.id == EquityHolder.request_id).where(
        LicenceRequest.enterprise_id == q.id)).scalars().first()
    mine_id = mine.id
    c = logged_in(app, "ent.p")
    assert c.get(f"/power/requests/{mine_id}/rows/equity/{foreign}").status_code == 404
    assert c.post(f"/power/requests/{mine_id}/rows/equity/{foreign}/delete"
                  ).status_code == 404


def test_licence_api_is_scoped(app, client):
    token = api_token(client, "ent.q")
    data = client.get("/api/v1/licence/", headers=bearer(token)).get_json()
    assert data["count"] == 0
    token = api_token(client, "ent.p")
    data = client.get("/api/v1/licence/", headers=bearer(token)).get_json()
    assert data["count"] == 3 and {r["version"] for r in data["result"]} == {1, 2, 3}
    assert len({r["number"] for r in data["result"]}) == 1
    assert client.get("/api/v1/licence/").status_code == 401


@pytest.fixture()
def p_licence(db_session):
    from app.models.licence import Licence

    ent = _ent(db_session, P_USCC)
    return db_session.execute(select(Licence).where(
        Licence.enterprise_id == ent.id, Licence.status == "current")).scalar_one()


def test_certificate_pdf_and_foreign_refusal(app, p_licence):
    pk = p_licence.id
    c = logged_in(app, "ent.p")
    resp = c.get(f"/power/licences/certificate/{pk}")
    assert resp.status_code == 200 and resp.data.startswith(b"%PDF")
    assert logged_in(app, "ent.q").get(f"/power/licences/certificate/{pk}").status_code == 404
    assert logged_in(app, "ent.q").get(f"/power/licences/show/{pk}").status_code == 404


# ----- tabs and rows -------------------------------------------------------------------------
def _draft_id(app, uscc=P_USCC, matter="item_change"):
    with app.app_context():
        from app.extensions import db

        return _draft(db.session, uscc, matter).id


def test_every_tab_renders_for_owner_and_regulator(app, as_user):
    """The owner edits its draft; a submitted request is read-only for everyone."""
    draft = _draft_id(app)
    submitted = _submitted_id(app)
    for who, pk in (("ent.p", draft), ("ent.q", submitted), ("reg.power", submitted),
                    ("auditor", submitted)):
        c = as_user(who)
        for tab in ("start", "basic", "technical", "safety", "staff", "electricians",
                    "projects", "materials", "check"):
            resp = c.get(f"/power/requests/{pk}/tab/{tab}")
            assert resp.status_code == 200, (who, tab)
            html = resp.get_data(as_text=True)
            if pk == submitted:
                assert 'id="tab-save"' not in html and "-add-form" not in html
                assert 'id="staff-form"' not in html
    assert as_user("ent.p").get(f"/power/requests/{draft}/tab/changes").status_code == 404


def _submitted_id(app):
    with app.app_context():
        from app.extensions import db
        from app.models.licence import LicenceRequest

        return db.session.query(LicenceRequest).filter_by(state="submitted").one().id


def test_safety_lead_with_history_rows_add_edit_delete(app, db_session):
    from app.models.licence import KeyPerson, KeyPersonRecord

    pk = _draft_id(app)
    c = logged_in(app, "ent.p")
    # History before the lead exists is refused with a message.
    resp = c.post(f"/power/requests/{pk}/rows/safety-work/add", data={
        "start_on": "2015-01-01", "organisation": "x", "detail": "y", "certifier": "z",
        "certifier_mobile": "13800138000"})
    assert resp.status_code == 302
    assert not db_session.query(KeyPerson).filter_by(request_id=pk, role="safety").count()
    resp = c.post(f"/power/requests/{pk}/tab/safety", data={
        "name": "梁嘉怡", "id_number": _valid_id(11), "title": "intermediate",
        "specialty": "安全工程", "years": "8", "mobile": "13926001111"})
    assert resp.status_code == 302
    person = db_session.query(KeyPerson).filter_by(request_id=pk, role="safety").one()
    # A certifier's landline is refused (phonenumbers: not a mobile).
    resp = c.post(f"/power/requests/{pk}/rows/safety-work/add", data={
        "start_on": "2015-01-01", "organisation": "广州供电局", "detail": "安全员",
        "certifier": "何工", "certifier_mobile": "02038881234"})
    assert resp.status_code == 200 and "has-error" in resp.get_data(as_text=True)
    assert not db_session.query(KeyPersonRecord).filter_by(person_id=person.id).count()
    resp = c.post(f"/power/requests/{pk}/rows/safety-work/add", data={
        "start_on": "2015-01-01", "end_on": "2019-12-31", "organisation": "广州供电局",
        "detail": "安全员", "certifier": "何工", "certifier_mobile": "+86 139-2600-2222"})
    assert resp.status_code == 302
    row = db_session.query(KeyPersonRecord).filter_by(person_id=person.id).one()
    assert row.certifier_mobile == "13926002222"
    row_id = row.id
    resp = c.post(f"/power/requests/{pk}/rows/safety-work/{row_id}", data={
        "start_on": "2015-01-01", "end_on": "2014-12-31", "organisation": "广州供电局",
        "detail": "安全员", "certifier": "何工", "certifier_mobile": "13926002222"})
    assert resp.status_code == 200  # end before start
    resp = c.post(f"/power/requests/{pk}/rows/safety-work/{row_id}", data={
        "start_on": "2015-01-01", "end_on": "2020-06-30", "organisation": "广州供电局",
        "detail": "安全主管", "certifier": "何工", "certifier_mobile": "13926002222"})
    assert resp.status_code == 302
    db_session.expire_all()
    assert db_session.get(KeyPersonRecord, row_id).detail == "安全主管"
    # A training row id under the work kind is 404 (kinds do not mix).
    resp = c.post(f"/power/requests/{pk}/rows/technical-work/{row_id}/delete")
    assert resp.status_code == 404
    resp = c.post(f"/power/requests/{pk}/rows/safety-work/{row_id}/delete")
    assert resp.status_code == 302
    db_session.expire_all()
    assert db_session.get(KeyPersonRecord, row_id) is None


def test_equity_shares_must_add_up(app, db_session):
    from app.services import licence_check

    pk = _draft_id(app)
    c = logged_in(app, "ent.p")
    resp = c.post(f"/power/requests/{pk}/rows/equity/add", data={
        "name": "<script>alert(1)</script>", "kind": "natural", "amount": "10",
        "share": "5"})
    assert resp.status_code == 302
    html = c.get(f"/power/requests/{pk}/tab/basic").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    html = c.get(f"/power/requests/{pk}/tab/check").get_data(as_text=True)
    assert 'data-section="basic"' in html and "105" in html
    resp = c.post(f"/power/requests/{pk}/rows/equity/add", data={
        "name": "x", "kind": "natural", "amount": "10", "share": "150"})
    assert resp.status_code == 200
    _ = licence_check


def test_project_rows_are_summed_by_voltage_and_counted_by_the_condition(app, db_session):
    pk = _draft_id(app)
    c = logged_in(app, "ent.p")
    today = datetime.date.today()
    resp = c.post(f"/power/requests/{pk}/rows/project/add", data={
        "name": "未来工程", "category": "install", "voltage_kv": "110", "client": "甲",
        "completed_on": (today + datetime.timedelta(days=3)).isoformat()})
    assert resp.status_code == 200  # completion in the future
    resp = c.post(f"/power/requests/{pk}/rows/project/add", data={
        "name": "南沙220kV变电站", "category": "install", "voltage_kv": "220",
        "client": "南方电网", "amount": "3200",
        "started_on": (today - datetime.timedelta(days=300)).isoformat(),
        "completed_on": (today - datetime.timedelta(days=30)).isoformat()})
    assert resp.status_code == 302
    html = c.get(f"/power/requests/{pk}/tab/projects").get_data(as_text=True)
    assert "220 kV × 1" in html and "110 kV × 1" in html and "35 kV × 2" in html
    resp = c.post(f"/power/requests/{pk}/rows/project/add", data={
        "name": "x", "category": "install", "voltage_kv": "999", "client": "y",
        "completed_on": today.isoformat()})
    assert resp.status_code == 200  # a voltage outside the list


def test_materials_upload_by_content_and_disguised_file_refused(app, db_session):
    from app.models.licence import RequestMaterial

    pk = _draft_id(app)
    c = logged_in(app, "ent.p")
    resp = c.post(f"/power/requests/{pk}/tab/materials", data={
        "safety_rules": (io.BytesIO(b"MZ\x90\x00 not a pdf"), "rules.pdf")},
        content_type="multipart/form-data")
    assert resp.status_code == 302
    assert not db_session.query(RequestMaterial).filter_by(request_id=pk).count()
    resp = c.post(f"/power/requests/{pk}/tab/materials", data={
        "safety_rules": _pdf("安全管理制度.pdf"), "not_a_slot": _pdf()},
        content_type="multipart/form-data")
    assert resp.status_code == 302
    slots = [m.slot for m in db_session.query(RequestMaterial).filter_by(request_id=pk)]
    assert slots == ["safety_rules"]


def test_registration_change_tab_keeps_before_values_and_validates_the_id(app, db_session):
    c = logged_in(app, "ent.p")
    resp = c.post("/power/requests/new/registration_change", data={
        "route": "normal", "submitter_kind": "delegate", "submitter_name": "邓慧敏",
        "submitter_id_number": _valid_id(3)})
    assert resp.status_code == 302
    req = _draft(db_session, P_USCC, "registration_change")
    pk = req.id
    html = c.get(f"/power/requests/{pk}/tab/changes").get_data(as_text=True)
    assert "冯建民" in html and 'id="changes-table"' in html
    resp = c.post(f"/power/requests/{pk}/tab/changes", data={
        "name": "广东粤电建设工程有限公司", "legal_representative": "吴振国",
        "legal_representative_id": _bad_id(), "address": "广州市天河区天河北路233号"})
    assert resp.status_code == 200
    resp = c.post(f"/power/requests/{pk}/tab/changes", data={
        "name": "广东粤电建设工程有限公司", "legal_representative": "吴振国",
        "legal_representative_id": _valid_id(4),
        "address": "广州市天河区天河北路233号中信广场30楼"})
    assert resp.status_code == 302
    db_session.expire_all()
    from app.models.licence import LicenceRequest

    details = db_session.get(LicenceRequest, pk).details
    assert details["changes"] == {"legal_representative": "吴振国"}
    assert details["before"]["legal_representative"] == "冯建民"
    # Nothing is applied before approval.
    assert _ent(db_session, P_USCC).legal_representative == "冯建民"
    html = c.get(f"/power/requests/{pk}/tab/check").get_data(as_text=True)
    # A delegate needs the power of attorney and the delegate's ID card.
    assert "data-section=\"materials\"" in html


def test_abandon_a_draft(app, db_session):
    from app.models.licence import LicenceRequest

    pk = _draft_id(app)
    c = logged_in(app, "ent.q")
    assert c.post(f"/power/requests/{pk}/abandon").status_code == 404
    c = logged_in(app, "ent.p")
    assert c.post(f"/power/requests/{pk}/abandon").status_code == 302
    db_session.expire_all()
    assert db_session.get(LicenceRequest, pk).state == "abandoned"
    # A fresh draft of the same matter can start again.
    assert c.get("/power/requests/new/item_change").status_code == 200


def test_staff_tabs_add_edit_delete_with_system_wide_uniqueness(app, db_session):
    from app.models.staff import PowerStaff

    pk = _draft_id(app)
    q = _ent(db_session, Q_USCC)
    taken = db_session.query(PowerStaff).filter_by(enterprise_id=q.id,
                                                   staff_type="electrician").first().id_number
    c = logged_in(app, "ent.p")
    html = c.get(f"/power/requests/{pk}/tab/electricians").get_data(as_text=True)
    before = int(re.search(r'id="total-electricians">(\d+)<', html).group(1))
    resp = c.post(f"/power/requests/{pk}/staff/electricians/add", data={
        "name": "王电工", "id_number": taken, "certificate_kind": "test",
        "certificate_no": "T" + taken, "certificate_issuer": "广东省应急管理厅"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "南沙" not in html and "明珠" not in html
    assert db_session.query(PowerStaff).filter_by(id_number=taken).count() == 1
    new_id = _valid_id(21)
    resp = c.post(f"/power/requests/{pk}/staff/electricians/add", data={
        "name": "王电工", "id_number": new_id, "certificate_kind": "test",
        "certificate_no": "T" + new_id, "certificate_issuer": "广东省应急管理厅"})
    assert resp.status_code == 302
    html = c.get(f"/power/requests/{pk}/tab/electricians").get_data(as_text=True)
    assert int(re.search(r'id="total-electricians">(\d+)<', html).group(1)) == before + 1
    row = db_session.query(PowerStaff).filter_by(id_number=new_id).one()
    assert (row.status, row.request_id) == ("proposed", pk)
    row_id, ent_id = row.id, row.enterprise_id
    resp = c.post(f"/power/requests/{pk}/staff/row/{row_id}", data={
        "name": "王电工", "id_number": new_id, "certificate_kind": "relay",
        "certificate_no": "T" + new_id, "certificate_issuer": "广东省应急管理厅"})
    assert resp.status_code == 302
    db_session.expire_all()
    assert db_session.get(PowerStaff, row_id).certificate_kind == "relay"
    # A roster row (not proposed by this request) cannot be edited or deleted here.
    roster = db_session.query(PowerStaff).filter_by(enterprise_id=ent_id,
                                                    status="active").first().id
    assert c.post(f"/power/requests/{pk}/staff/row/{roster}/delete").status_code == 404
    assert logged_in(app, "ent.q").post(
        f"/power/requests/{pk}/staff/row/{row_id}/delete").status_code == 404
    assert c.post(f"/power/requests/{pk}/staff/row/{row_id}/delete").status_code == 302
    db_session.expire_all()
    assert db_session.get(PowerStaff, row_id) is None
