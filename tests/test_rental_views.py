"""Rental enterprise and authority side (R6-R9, R12, R13, R15) and the case API (X9, X16):
what ent.a, ent.b, the regulators and anonymous visitors get from the browser and the API."""

from __future__ import annotations

import io
from types import SimpleNamespace

from conftest import api_token, bearer, ids
from openpyxl import load_workbook
from pypdf import PdfReader

from app.demo_rental import vin_with_check_digit
from app.models.rental import Vehicle
from app.models.workflow import Application

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
NEW = {"plate": "粤A6Z8X1", "vin": vin_with_check_digit("LSVAM4180N2177771"), "brand": "大众",
       "model": "朗逸", "vehicle_type": "small", "seats": "5", "colour": "白",
       "usage": "rental", "owner_name": "广州市穗通汽车租赁有限公司",
       "registered_on": "2025-06-01"}


def _snapshot(db_session, row, columns):
    """Plain values of a row, and a fresh session: requests must not find it in the
    identity map (each real request starts with an empty session)."""
    values = SimpleNamespace(**{c: getattr(row, c) for c in columns}) if row else None
    db_session.remove()
    return values


def _vehicle(db_session, plate):
    row = db_session.query(Vehicle).filter_by(plate=plate).one()
    return _snapshot(db_session, row, ("id", "plate", "state", "certificate_no"))


def _case(db_session, **kw):
    row = db_session.query(Application).filter_by(**kw).order_by(Application.id.desc()).first()
    values = _snapshot(db_session, row, ("id", "state", "version", "payload", "channel",
                                         "enterprise_id", "subject_id", "title"))
    if values is not None:
        row = db_session.get(Application, values.id)
        values.on_behalf = [h.on_behalf for h in row.history]
        db_session.remove()
    return values


def test_vehicle_list_is_own_filtered_and_exported(as_user):
    a = as_user("ent.a")
    r = a.get("/vehicles/list/")
    assert r.status_code == 200 and "粤A3K8J2" in r.text and "粤B6H8K3" not in r.text
    r = a.get("/vehicles/list/?_flt_3_state=scrapped")
    assert "粤A2C4E6" in r.text and "粤A3K8J2" not in r.text
    r = a.get("/vehicles/export/?_flt_3_state=suspended")
    rows = list(load_workbook(io.BytesIO(r.data)).active.iter_rows(values_only=True))
    assert rows[0][0] in ("车牌号码", "车牌号") and [row[0] for row in rows[1:]] == ["粤A5P6R1"]


def test_vehicle_certificate_pdf_and_tenancy(app, as_user, client, db_session):
    own, foreign = _vehicle(db_session, "粤A3K8J2"), _vehicle(db_session, "粤B6H8K3")
    r = as_user("ent.a").get(f"/vehicles/certificate/{own.id}")
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    text = PdfReader(io.BytesIO(r.data)).pages[0].extract_text()
    assert "粤A3K8J2" in text and own.certificate_no in text
    assert as_user("ent.a").get(f"/vehicles/certificate/{foreign.id}").status_code == 404
    assert as_user("ent.a").get(f"/vehicles/show/{foreign.id}").status_code == 404
    assert client.get(f"/vehicles/certificate/{own.id}").status_code == 302


def test_detail_shows_cases_and_list_action_opens_the_change_form(as_user, db_session):
    a = as_user("ent.a")
    v = _vehicle(db_session, "粤A5P6R1")  # suspended in the demo data
    r = a.get(f"/vehicles/show/{v.id}")
    assert r.text.count("/applications/show/") == 2  # filing + suspension cases
    assert 'id="op-resume"' in r.text and 'id="op-suspend"' not in r.text
    r = a.post("/vehicles/action_post", data={"action": "change", "rowid": [str(v.id)]})
    assert r.status_code == 302 and f"vehicle={v.id}" in r.location
    r = a.get(r.location)
    assert r.status_code == 200 and 'value="粤A5P6R1"' in r.text


def test_vehicle_filing_form_checks_fields_and_rules(as_user, db_session):
    a = as_user("ent.a")
    r = a.post("/rental/vehicles/new", data={**NEW, "vin": "LSVAM4180N2177771"})
    assert "校验位" in r.text or "check digit" in r.text
    r = a.post("/rental/vehicles/new", data={**NEW, "plate": "粤AI2345"})
    assert r.status_code == 200 and _case(db_session, kind="vehicle_filing",
                                          state="submitted").title != "粤AI2345 车辆备案"
    r = a.post("/rental/vehicles/new", data={**NEW, "plate": "粤B6H8K3"})  # B's plate
    assert "粤B6H8K3" in r.text and r.status_code == 200
    r = a.post("/rental/vehicles/new", data=NEW)
    assert r.status_code == 302
    case = _case(db_session, kind="vehicle_filing", state="submitted")
    assert case.payload["plate"] == "粤A6Z8X1" and case.channel == "online"


def test_vehicle_suspension_needs_the_report_and_foreign_vehicle_is_404(as_user, db_session):
    a = as_user("ent.a")
    v = _vehicle(db_session, "粤A3K8J2")
    data = {"vehicle_id": str(v.id), "reason": "年检", "effective_date": "2026-11-20"}
    r = a.post("/rental/vehicles/suspend", data=data)
    assert r.status_code == 200 and "原因说明附件" in r.text
    r = a.post("/rental/vehicles/suspend", data={**data, "attachments": (io.BytesIO(PDF),
                                                                          "报告.pdf")},
               content_type="multipart/form-data")
    assert r.status_code == 302
    assert _case(db_session, kind="vehicle_suspend").subject_id == v.id
    b_vehicle = _vehicle(db_session, "粤B6H8K3")
    r = a.post("/rental/vehicles/suspend", data={**data, "vehicle_id": str(b_vehicle.id)})
    assert r.status_code == 404
    r = a.get("/rental/vehicles/pick?op=suspend&q=B")
    assert r.get_json() == []


def test_regulator_approves_through_the_case_page(as_user, db_session):
    case = _case(db_session, kind="vehicle_filing", state="submitted")
    reg = as_user("reg.rental")
    r = reg.get(f"/applications/show/{case.id}")
    assert 'id="do-approve"' in r.text and 'id="do-reject"' in r.text
    r = reg.post(f"/applications/transition/{case.id}", data={"name": "reject", "opinion": ""})
    assert _case(db_session, id=case.id).state == "submitted"
    r = reg.post(f"/applications/transition/{case.id}",
                 data={"name": "approve", "opinion": "同意", "version": case.version})
    assert r.status_code == 302
    case = _case(db_session, id=case.id)
    assert case.state == "approved"
    assert _vehicle(db_session, case.payload["plate"]).certificate_no
    # The enterprise sees the trail but no review buttons; B sees nothing.
    k = ids(db_session)
    own, other = ("ent.a", "ent.b") if case.enterprise_id == k["ent_a"] else ("ent.b", "ent.a")
    r = as_user(own).get(f"/applications/show/{case.id}")
    assert "张建国" in r.text and 'id="do-approve"' not in r.text
    assert as_user(other).get(f"/applications/show/{case.id}").status_code == 404


def test_enterprise_cannot_approve_its_own_case(as_user, db_session):
    k = ids(db_session)
    case = _case(db_session, kind="vehicle_filing", state="submitted", enterprise_id=k["ent_a"])
    as_user("ent.a").post(f"/applications/transition/{case.id}",
                          data={"name": "approve", "opinion": "x"})
    assert _case(db_session, id=case.id).state == "submitted"


def test_case_api_transition_roles_conflict_and_scope(app, db_session):
    k = ids(db_session)
    case = _case(db_session, kind="vehicle_filing", state="submitted", enterprise_id=k["ent_a"])
    c = app.test_client()
    reg = bearer(api_token(c, "reg.rental"))
    r = c.get(f"/api/v1/application/{case.id}", headers=reg)
    assert r.status_code == 200 and r.get_json()["result"]["history"][0]["name"] == "submit"
    r = c.post(f"/api/v1/application/{case.id}/transition", json={"name": "reject"},
               headers=reg)
    assert r.status_code == 422
    ent = bearer(api_token(c, "ent.a"))
    r = c.post(f"/api/v1/application/{case.id}/transition", json={"name": "approve"},
               headers=ent)
    assert r.status_code == 403
    other = bearer(api_token(c, "reg.usedcar"))
    r = c.post(f"/api/v1/application/{case.id}/transition", json={"name": "approve"},
               headers=other)
    assert r.status_code in (403, 404)
    r = c.post(f"/api/v1/application/{case.id}/transition",
               json={"name": "approve", "opinion": "同意", "version": case.version},
               headers=reg)
    assert r.status_code == 200 and r.get_json()["state"] == "approved"
    r = c.post(f"/api/v1/application/{case.id}/transition",
               json={"name": "approve", "version": case.version}, headers=reg)
    assert r.status_code == 409
    assert c.post(f"/api/v1/application/{case.id}/transition",
                  json={"name": "approve"}).status_code == 401
    r = c.get("/api/v1/vehicle/?q=(page_size:100)", headers=ent)
    plates = [v["plate"] for v in r.get_json()["result"]]
    assert "粤A3K8J2" in plates and not any(p.startswith("粤B") for p in plates)


def test_review_queue_tabs_and_jurisdiction(as_user):
    reg = as_user("reg.rental")
    r = reg.get("/review/list/?tab=overdue")
    assert r.status_code == 200 and "粤A8L3N5" in r.text and "粤A6F2G8" not in r.text
    r = reg.get("/review/list/?tab=all")
    assert "粤A6F2G8" in r.text and "粤B2E7G9" in r.text
    assert "粤A6F2G8" not in as_user("reg.usedcar").get("/review/list/").text
    assert as_user("ent.a").get("/review/list/").status_code in (302, 403)


def test_counter_entry_is_recorded_as_such(as_user, db_session):
    k = ids(db_session)
    reg = as_user("reg.rental")
    r = reg.post("/review/counter/vehicle", data={**NEW, "enterprise_id": str(k["ent_a"])})
    assert r.status_code == 302
    case = _case(db_session, kind="vehicle_filing", state="submitted")
    assert case.channel == "counter" and case.on_behalf == [True]
    assert case.enterprise_id == k["ent_a"]
    r = reg.post("/review/counter/vehicle", data={**NEW, "plate": "粤A6Z8X2",
                                                 "enterprise_id": str(k["ent_c"])})
    assert r.status_code == 200  # the used-car market is no rental filing of this regulator
    assert as_user("ent.a").get("/review/counter/vehicle").status_code in (302, 403)


def test_enterprise_home_and_filing_details(as_user):
    a = as_user("ent.a")
    r = a.get("/rental/home")
    assert r.status_code == 200 and "GDZL" in r.text and 'id="home-submitted"' in r.text
    r = a.get("/rental/filing")
    assert "白云机场P5停车场" in r.text
    r = a.get("/rental/filing/certificate")
    assert r.mimetype == "application/pdf"
    assert "穗通" in PdfReader(io.BytesIO(r.data)).pages[0].extract_text()


def test_review_queue_tab_export_as_a_job_keeps_the_tab(app, as_user, db_session):
    """A background export rebuilds the request: the overdue tab exports overdue cases only."""
    from app.models.job import Job

    reg = as_user("reg.rental")
    app.config["EXPORT_SYNC_MAX_ROWS"] = 0
    try:
        r = reg.get("/review/export/?tab=overdue")
    finally:
        app.config["EXPORT_SYNC_MAX_ROWS"] = 5000
    assert r.status_code == 302 and r.location.endswith("/jobs/")
    job_id = db_session.query(Job).order_by(Job.id.desc()).first().id
    db_session.remove()
    data = reg.get(f"/jobs/{job_id}/download").data
    rows = list(load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True))
    titles = sorted(row[1] for row in rows[1:])
    assert len(titles) == 2 and titles[0].startswith("粤A8L3N5") \
        and titles[1].startswith("粤B5J1L6")


def test_a_regulator_of_another_sector_never_reaches_rental_rows(app, as_user, db_session):
    """Security review: enterprise C is in used cars AND rental; the used-car regulator
    supervises C, but its rental case, filing and vehicles stay out of its reach."""
    from app.models.org import Enterprise, Sector
    from app.models.rental import RentalFiling
    from app.workflows import engine
    from app.workflows import rental as wf

    k = ids(db_session)
    c = db_session.get(Enterprise, k["ent_c"])
    c.sectors.append(db_session.query(Sector).filter_by(code="rental").one())
    filing = RentalFiling(enterprise_id=c.id)
    db_session.add(filing)
    db_session.add(Vehicle(enterprise_id=c.id, plate="粤A0C0C1", vin=NEW["vin"], brand="x",
                           model="y", seats=5, owner_name="c", filed_on=filing.changed_on
                           or __import__("datetime").date.today()))
    db_session.commit()
    with app.test_request_context():
        case = engine.create(wf.FILING, enterprise_id=c.id, actor=engine.applicant("李国栋"),
                             subject_id=filing.id, payload={"name": c.name, "uscc": c.uscc})
        case_id = case.id
    db_session.remove()
    used = as_user("reg.usedcar")
    assert used.get(f"/applications/show/{case_id}").status_code == 404
    assert "粤A0C0C1" not in used.get("/vehicles/list/").text
    assert used.get("/review/list/").status_code in (200, 302, 403)
    c_api = app.test_client()
    token = bearer(api_token(c_api, "reg.usedcar"))
    r = c_api.post(f"/api/v1/application/{case_id}/transition", json={"name": "approve"},
                   headers=token)
    assert r.status_code == 404
    assert _case(db_session, id=case_id).state == "submitted"
    # The rental regulator supervises C for rental: it sees and may decide the case.
    rental = as_user("reg.rental")
    assert rental.get(f"/applications/show/{case_id}").status_code == 200
    assert "粤A0C0C1" in rental.get("/vehicles/list/").text


def test_regulator_filters_vehicles_by_enterprise_name_or_uscc(as_user):
    reg = as_user("reg.rental")
    r = reg.get("/vehicles/list/?enterprise=深圳市鹏程")
    assert "粤B6H8K3" in r.text and "粤A3K8J2" not in r.text
    r = reg.get("/vehicles/list/?enterprise=91440101ma59xxkl1h")
    assert "粤A3K8J2" in r.text and "粤B6H8K3" not in r.text
    # An enterprise user gets no box, and the argument never widens its scope.
    r = as_user("ent.a").get("/vehicles/list/?enterprise=深圳市鹏程")
    assert 'id="enterprise-filter"' not in r.text and "粤B6H8K3" not in r.text


def test_users_and_roles_are_reachable_from_the_rental_menu(as_user):
    """R14: the enterprise admin finds 用户 and 角色 under the rental menu as well as under
    系统管理; a regulator finds neither."""
    page = as_user("ent.a").get("/rental/home").text
    assert page.count('href="/enterprise/users/list/"') == 2
    assert page.count('href="/enterprise/roles/list/"') == 2
    assert 'href="/enterprise/users/list/"' not in as_user("reg.rental").get("/dashboard/").text


def test_the_enterprise_is_notified_of_a_decision(as_user, db_session):
    from app.models.content import Notification

    k = ids(db_session)
    case = _case(db_session, kind="vehicle_filing", state="submitted", enterprise_id=k["ent_a"])
    as_user("reg.rental").post(f"/applications/transition/{case.id}",
                               data={"name": "return", "opinion": "请补充保险单"})
    note = db_session.query(Notification).filter_by(
        user_id=k["users"]["ent.a"]).order_by(Notification.id.desc()).first()
    assert case.id and f"/applications/show/{case.id}" == note.link
    assert "退回补正" in note.title and note.body == "请补充保险单"
    assert db_session.query(Notification).filter_by(user_id=k["users"]["ent.b"],
                                                    link=note.link).count() == 0
