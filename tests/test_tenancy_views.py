"""Tenancy (SPEC X7): every registered route with a primary key, every action and every API
route, requested with another enterprise's ids, by an anonymous user and by a wrong role.
A foreign id never yields the row and never changes it."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from conftest import api_token, bearer, ids

from app.models.attachment import Attachment
from app.models.audit import AuditEvent
from app.models.campaign import InspectionCampaign, InspectionReturn
from app.models.content import Notification
from app.models.evaluation import Evaluation
from app.models.identity import AppUser, EnterpriseRole
from app.models.job import Job
from app.models.org import Enterprise
from app.models.rental import Vehicle
from app.models.report import ReportExtension
from app.models.staff import PowerStaff
from app.models.usedcar import UsedCarFiling, UsedCarReport, UsedCarSale
from app.models.workflow import Application

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

# Marker strings that appear only in enterprise B's rows.
B_MARKERS = ("鹏程", "ent.b", "Confidential B role", "secret-b.pdf", "13900139002")


@pytest.fixture()
def foreign(app, as_user, db_session):
    """Rows owned by enterprise B: its admin, a role, an attachment, an audit event."""
    b = as_user("ent.b")
    r = b.post("/enterprise/roles/add", data={"name": "Confidential B role",
                                              "description": "B only"})
    assert r.status_code == 302
    r = b.post("/attachments/upload", data={"file": (io.BytesIO(PDF), "secret-b.pdf")},
               content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    k = ids(db_session)
    role = db_session.query(EnterpriseRole).filter_by(enterprise_id=k["ent_b"]).one()
    att = db_session.query(Attachment).filter_by(enterprise_id=k["ent_b"],
                                                 original_name="secret-b.pdf").one()
    ev = db_session.query(AuditEvent).filter_by(enterprise_id=k["ent_b"]).first()
    vehicle = db_session.query(Vehicle).filter_by(enterprise_id=k["ent_b"]).first()
    case = db_session.query(Application).filter_by(enterprise_id=k["ent_b"],
                                                   state="submitted").first()
    sale = _sale_of(k["ent_b"])
    db_session.add(sale)
    import datetime

    filing = UsedCarFiling(enterprise_id=k["ent_b"], business_type="dealer",
                           data={"business_type": "dealer", "legal_representative": "鹏程法人"},
                           confirmed_on=datetime.datetime(2026, 1, 5))
    report = UsedCarReport(enterprise_id=k["ent_b"], kind="usedcar_monthly", year=2026,
                           period=1, filer_name="鹏程报表人",
                           submitted_on=datetime.datetime(2026, 2, 3))
    extension = ReportExtension(enterprise_id=k["ent_b"], kind="usedcar_monthly",
                                period_key="2026-01", until=datetime.datetime(2026, 2, 28),
                                reason="鹏程延期")
    from app.models.licence import Licence, LicenceRequest, PowerProfile

    licence = Licence(enterprise_id=k["ent_b"], number="CXS202699999", version=1,
                      categories={"install": 5}, holder_name="鹏程电力",
                      issued_on=datetime.date(2026, 1, 5), expires_on=datetime.date(2032, 1, 4))
    licence_request = LicenceRequest(enterprise_id=k["ent_b"], matter="new",
                                     categories={"install": 5}, submitter_name="鹏程法人",
                                     details={})
    staff = PowerStaff(enterprise_id=k["ent_b"], staff_type="electrician", status="active",
                       name="鹏程电工", id_number="440106198803141237",
                       certificate_kind="cable", certificate_no="T440106198803141237",
                       certificate_issuer="广东省应急管理厅")
    profile = PowerProfile(enterprise_id=k["ent_b"], enterprise_type="limited",
                           postal_address="鹏程通讯地址", postcode="518000")
    db_session.add_all([filing, report, extension, licence, licence_request, staff, profile])
    # A self-inspection return of B (on the demo campaign) with a B marker in its answers.
    campaign = db_session.query(InspectionCampaign).first()
    inspection = InspectionReturn(campaign_id=campaign.id, enterprise_id=k["ent_b"],
                                  answers={"problems": "鹏程自查问题"}, state="submitted")
    db_session.add(inspection)
    # A service evaluation of enterprise B (not a TenantMixin table: scoped by the criteria
    # of app/models/evaluation.py); its number and comment are B markers.
    evaluation = Evaluation(enterprise_id=k["ent_b"], channel="todo", mobile="13900139002",
                            satisfaction=1, aspects=[], comment="鹏程评价")
    db_session.add(evaluation)
    job = Job(owner_id=k["users"]["ent.b"], enterprise_id=k["ent_b"], kind="export",
              title="secret-b.pdf", state="done", params="{}")
    db_session.add(job)
    db_session.commit()
    from app.services.notify import notify

    notify(k["users"]["ent.b"], "Notice for ent.b", "鹏程 only", "/inbox/")
    db_session.commit()
    notice = db_session.query(Notification).filter_by(user_id=k["users"]["ent.b"],
                                                      title="Notice for ent.b").one()
    return {
        "Vehicle": vehicle.id,
        "Application": case.id,
        "ReviewQueue": case.id,
        "Enterprise": k["ent_b"],
        "EnterpriseUser": k["users"]["ent.b"],
        "EnterpriseRole": role.id,
        "Attachment": att.id,
        "AuditEvent": ev.id,
        "Authority": min(k["authorities"].values()),
        "Job": job.id,
        "Inbox": notice.id,
        "UsedCarSale": sale.id,
        "UsedCarFiling": filing.id,
        "UsedCarReport": report.id,
        "UsedCarOversight": extension.id,
        "Licence": licence.id,
        "LicenceRequest": licence_request.id,
        "PowerStaff": staff.id,
        "PowerProfile": profile.id,
        "InspectionReturn": inspection.id,
        "InspectionCampaign": campaign.id,
        "Evaluation": evaluation.id,
    }


def _sale_of(enterprise_id) -> UsedCarSale:
    """A used-car sales record owned by enterprise B (its buyer's name is a B marker)."""
    import datetime
    from decimal import Decimal

    return UsedCarSale(
        enterprise_id=enterprise_id, report_date=datetime.date(2024, 5, 1),
        buyer_name="鹏程二手车买家", buyer_code="11010519491231002X", buyer_address="深圳",
        buyer_mobile="13900139002", seller_name="卖家", seller_code="11010519491231002X",
        seller_address="深圳", seller_mobile="13800138000", plate="粤B12345",
        registration_no="440012345678", vin="WDD2050461F123456", brand_model="奔驰",
        vehicle_type="小型轿车", category="basic", transfer_office="深圳市车管所",
        price=Decimal("100000"), operator_name="鹏程")


def _b_state(db_session, foreign) -> str:
    """A digest of everything enterprise B owns: must not move."""
    db_session.expire_all()
    ent = db_session.get(Enterprise, foreign["Enterprise"])
    user = db_session.get(AppUser, foreign["EnterpriseUser"])
    role = db_session.get(EnterpriseRole, foreign["EnterpriseRole"])
    att = db_session.get(Attachment, foreign["Attachment"])
    vehicle = db_session.get(Vehicle, foreign["Vehicle"])
    case = db_session.get(Application, foreign["Application"])
    sale = db_session.get(UsedCarSale, foreign["UsedCarSale"])
    staff = db_session.get(PowerStaff, foreign["PowerStaff"])
    inspection = db_session.get(InspectionReturn, foreign["InspectionReturn"])
    data = [staff.status, staff.name, staff.id_number, staff.case_id,
            vehicle.plate, vehicle.state, vehicle.brand, case.state, case.version,
            sale.buyer_name, sale.price, sale.plate, sale.enterprise_id,
            case.assignee_id, len(case.history),
            inspection.state, inspection.answers, inspection.opinion, inspection.version,
            ent.name, ent.uscc, ent.status, ent.contact_mobile, user.username, user.password,
            user.active, user.email, user.must_change_password, sorted(r.name for r in user.roles),
            role.name, role.description, sorted(str(p) for p in role.role.permissions),
            att.original_name, att.storage_name,
            db_session.query(AppUser).filter_by(enterprise_id=foreign["Enterprise"]).count(),
            db_session.query(EnterpriseRole).filter_by(enterprise_id=foreign["Enterprise"]).count()]
    return hashlib.sha256(json.dumps(data, default=str).encode()).hexdigest()


def _view_of(app, endpoint):
    name = endpoint.split(".")[0]
    for v in app.appbuilder.baseviews:
        if v.__class__.__name__ == name:
            return v
    return None


def _pk_routes(app):
    """(rule, endpoint, method, permission-view) of every route taking a primary key."""
    out = []
    for rule in app.url_map.iter_rules():
        if "pk" not in rule.arguments:
            continue
        view = _view_of(app, rule.endpoint)
        perm_view = getattr(view, "class_permission_name", None)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((rule.rule, rule.endpoint, method, perm_view))
    return out


def _fill(rule: str, pk, action="reset_password") -> str:
    return (rule.replace("<int:pk>", str(pk)).replace("<pk>", str(pk))
            .replace("<string:name>", action))


OWN_SCOPED_VIEWS = {"Enterprise", "EnterpriseUser", "EnterpriseRole", "Attachment",
                    "AuditEvent", "Vehicle", "Application", "Job", "Inbox", "UsedCarSale",
                    "UsedCarFiling", "UsedCarReport", "Licence", "LicenceRequest",
                    "PowerStaff", "PowerProfile", "InspectionReturn"}


def test_every_pk_route_refuses_another_enterprises_rows(app, as_user, db_session, foreign):
    before = _b_state(db_session, foreign)
    a = as_user("ent.a")
    token = api_token(app.test_client(), "ent.a")
    checked = 0
    for rule, _endpoint, method, perm_view in _pk_routes(app):
        pk = foreign.get(perm_view, foreign["EnterpriseUser"])
        url = _fill(rule, pk)
        headers = bearer(token) if rule.startswith("/api/") else {}
        body = {"json": {"name": "hijack", "active": False}} if rule.startswith("/api/") else {
            "data": {"name": "hijack", "description": "x", "active": "", "email": "x@y.cn"}}
        resp = a.open(url, method=method, headers=headers,
                      **(body if method in ("POST", "PUT") else {}))
        text = resp.get_data().decode("utf-8", "replace")
        assert resp.status_code in (302, 403, 404, 405), (method, url, resp.status_code)
        assert not any(m in text for m in B_MARKERS), (method, url)
        if perm_view in OWN_SCOPED_VIEWS and resp.status_code not in (302, 403, 405):
            # ent.a holds the permission: the row itself is refused as not found.
            assert resp.status_code == 404, (method, url)
        checked += 1
    assert checked > 40
    assert _b_state(db_session, foreign) == before


def test_forged_action_rowid_is_refused(app, as_user, db_session, foreign):
    """FAB's action_post fetches rows by pk without base_filters: the ORM scope refuses."""
    before = _b_state(db_session, foreign)
    a = as_user("ent.a")
    r = a.post("/enterprise/users/action_post",
               data={"action": "reset_password", "rowid": [str(foreign["EnterpriseUser"])]})
    assert r.status_code == 404
    r = a.post(f"/enterprise/users/action/reset_password/{foreign['EnterpriseUser']}")
    assert r.status_code == 404
    assert _b_state(db_session, foreign) == before


def test_lists_exports_and_api_lists_hold_only_own_rows(app, as_user, db_session, foreign):
    a = as_user("ent.a")
    for path in ("/enterprises/list/", "/enterprise/users/list/", "/enterprise/roles/list/",
                 "/audit/list/", "/enterprise/users/export/", "/enterprise/roles/export/",
                 "/power/staff/technical/list/", "/power/staff/electricians/list/",
                 "/power/staff/electricians/export/"):
        r = a.get(path)
        body = r.get_data()
        assert r.status_code == 200, path
        if path.endswith("/export/"):
            from openpyxl import load_workbook

            wb = load_workbook(io.BytesIO(body))
            body = "\n".join(str(c.value) for row in wb.active.iter_rows() for c in row).encode()
        assert not any(m.encode() in body for m in B_MARKERS), path
    token = api_token(app.test_client(), "ent.a")
    for res in ("enterprise", "enterprise_user", "enterprise_role", "audit_event",
                "power_staff"):
        r = a.get(f"/api/v1/{res}/?q=(page_size:100)", headers=bearer(token))
        assert r.status_code == 200, res
        assert not any(m in r.get_data(as_text=True) for m in B_MARKERS), res
    r = a.get("/api/v1/enterprise/", headers=bearer(token))
    assert r.get_json()["count"] == 1


def test_anonymous_user_gets_nothing(client, foreign):
    public = {"/", "/login/", "/login/totp/", "/logout/", "/captcha.png", "/forgot-password/",
              "/api/v1/security/login", "/api/v1/security/refresh", "/back",
              # Published announcements are public (tests/test_content_views.py).
              "/announcements/", "/announcements/<int:announcement_id>",
              "/api/v1/public/announcements/",
              "/api/v1/public/announcements/<int:announcement_id>"}
    from flask import current_app

    for rule in current_app.url_map.iter_rules():
        if rule.rule in public or rule.endpoint in ("static", "appbuilder.static",
                                                    "LocaleView.index", "PasswordResetView.reset"):
            continue
        args = {a: "1" for a in rule.arguments}
        url = rule.rule
        for a in rule.arguments:
            url = url.replace(f"<int:{a}>", "1").replace(f"<string:{a}>", "x").replace(
                f"<{a}>", "1").replace(f"<path:{a}>", "x")
        del args
        # Public services (e.g. the rental lookups) answer anonymous visitors, never with
        # another enterprise's private data.
        allowed = (302, 401, 403, 404, 405, 422, 400) + (
            (200,) if rule.rule.startswith("/public/") else ())
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            r = client.open(url, method=method)
            assert r.status_code in allowed, (method, url, r.status_code)
            if r.status_code == 302:
                assert "/login/" in r.location or (
                    rule.rule.startswith("/public/") and "/public/" in r.location), (
                    method, url, r.location)
            assert not any(m in r.get_data().decode("utf-8", "replace") for m in B_MARKERS)


@pytest.mark.parametrize("username", ["reg.rental", "auditor", "reg.usedcar"])
def test_authority_roles_cannot_administer_enterprise_users(as_user, username, foreign,
                                                            db_session):
    before = _b_state(db_session, foreign)
    c = as_user(username)
    for path in ("/enterprise/users/list/", f"/enterprise/users/edit/{foreign['EnterpriseUser']}",
                 "/enterprise/roles/list/", "/users/list/", "/roles/list/"):
        r = c.get(path)
        assert r.status_code in (302, 403), (username, path)
    r = c.post(f"/enterprise/users/delete/{foreign['EnterpriseUser']}")
    assert r.status_code in (302, 403)
    assert _b_state(db_session, foreign) == before


def test_regulator_sees_only_its_jurisdiction(as_user, app):
    """reg.rental: rental sector, Guangdong -> A and B, not the used-car market C.
    reg.usedcar: used cars, Guangzhou -> C only."""
    r = as_user("reg.rental").get("/enterprises/list/")
    assert "穗通" in r.text and "鹏程" in r.text and "羊城" not in r.text
    r = as_user("reg.usedcar").get("/enterprises/list/")
    assert "羊城" in r.text and "穗通" not in r.text and "鹏程" not in r.text


def test_regulator_gets_404_outside_jurisdiction(as_user, db_session):
    k = ids(db_session)
    c = as_user("reg.usedcar")
    assert c.get(f"/enterprises/show/{k['ent_a']}").status_code == 404
    assert c.get(f"/enterprises/show/{k['ent_c']}").status_code == 200


@pytest.fixture(params=["id list", "exists"])
def jurisdiction_form(request, monkeypatch):
    """Both SQL forms of an authority's jurisdiction: the id list of a small one and the
    correlated EXISTS of a large one (app.models.base.JURISDICTION_LIST_MAX)."""
    from app.models import base

    if request.param == "exists":
        monkeypatch.setattr(base, "JURISDICTION_LIST_MAX", 0)
    return request.param


def test_jurisdiction_in_both_sql_forms(as_user, db_session, jurisdiction_form):
    from app.models.licence import Licence

    k = ids(db_session)
    r = as_user("reg.rental").get("/enterprises/list/")
    assert "穗通" in r.text and "鹏程" in r.text and "羊城" not in r.text and "粤电" not in r.text
    c = as_user("reg.usedcar")
    assert c.get(f"/enterprises/show/{k['ent_a']}").status_code == 404
    assert c.get(f"/enterprises/show/{k['ent_c']}").status_code == 200
    licence = db_session.query(Licence).first().id
    assert c.get(f"/power/licences/show/{licence}").status_code in (403, 404)
    power = as_user("reg.power")
    assert power.get(f"/power/licences/show/{licence}").status_code == 200
    html = power.get("/power/licences/list/").get_data(as_text=True)
    assert "CXS" in html
    assert power.get(f"/enterprises/show/{k['ent_a']}").status_code == 404
    # Cases: the power regulator's queue holds power cases only, and it may act on them.
    html = power.get("/review/list/").get_data(as_text=True)
    assert "SQ" in html and "租赁备案" not in html
    auditor = as_user("auditor")
    assert auditor.get(f"/power/licences/show/{licence}").status_code == 200
