"""The staff roster pages, the personnel changes (P12) and the read-only REST twin
(app/views/staff.py): lists with totals and masked ID numbers, filters, export, the join and
leave applications through the generic case page, uniqueness through the UI, tenancy for
every route (ent.p / ent.q, a rental enterprise, regulators of both sectors, auditors,
anonymous visitors)."""

from __future__ import annotations

import io
import re

import pytest
from conftest import api_token, bearer, ids
from openpyxl import load_workbook
from sqlalchemy import func, select
from stdnum.cn import ric

from app.models.org import Enterprise
from app.models.staff import ACTIVE, ELECTRICIAN, LEAVING, LEFT, PROPOSED, TECHNICAL, PowerStaff
from app.models.workflow import Application
from app.workflows import licence as wf

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
ENT_P = "广东粤电建设工程有限公司"
ENT_Q = "广州南沙明珠电力工程有限公司"
MASKED = re.compile(r"(?<!T)\d{6}\*{8}[\dX]{4}")  # an ID number, not a certificate
TECH_LIST, ELEC_LIST = "/power/staff/technical/list/", "/power/staff/electricians/list/"


def resident_id(seed: int) -> str:
    body = f"44010619870512{100 + seed % 900:03d}"
    return body + ric.calc_check_digit(body + "0")


BAD_ID = resident_id(2)[:-1] + ("1" if resident_id(2)[-1] == "0" else "0")


@pytest.fixture()
def k(db_session):
    out = ids(db_session)
    for key, name in (("p", ENT_P), ("q", ENT_Q)):
        out[key] = db_session.execute(select(Enterprise.id).where(Enterprise.name == name)
                                      ).scalar_one()
    return out


def english(client):
    assert client.get("/lang/en").status_code == 302
    return client


def rows(db_session, enterprise_id, staff_type=None, status=None):
    """Plain copies (requests end the session and detach its objects)."""
    from types import SimpleNamespace

    db_session.expire_all()
    q = select(PowerStaff).where(PowerStaff.enterprise_id == enterprise_id)
    if staff_type:
        q = q.where(PowerStaff.staff_type == staff_type)
    if status:
        q = q.where(PowerStaff.status == status)
    out = []
    for s in db_session.execute(q.order_by(PowerStaff.id)).scalars():
        out.append(SimpleNamespace(
            **{c: getattr(s, c) for c in ("id", "name", "id_number", "status", "staff_type",
                                          "case_id", "attachment_id", "request_id",
                                          "certificate_no")},
            attachment_name=s.attachment.original_name if s.attachment else None))
    db_session.remove()
    return out


def status_of(db_session, staff_id):
    db_session.remove()
    row = db_session.get(PowerStaff, staff_id)
    status = row.status if row is not None else None
    db_session.remove()
    return status


def one_active(db_session, enterprise_id, staff_type=ELECTRICIAN) -> PowerStaff:
    return rows(db_session, enterprise_id, staff_type, ACTIVE)[0]


def xlsx_cells(body: bytes) -> list[list]:
    ws = load_workbook(io.BytesIO(body)).active
    return [[c.value for c in row] for row in ws.iter_rows()]


def join_data(**extra):
    data = {"name": "陈志强", "id_number": resident_id(1), "certificate_issuer": "广东省应急管理厅",
            "certificate_kind": "cable", "certificate_no": "T44010619870512",
            "attachment": (io.BytesIO(PDF), "certificate.pdf")}
    data.update(extra)
    return data


def post_join(client, staff_type=ELECTRICIAN, **extra):
    return client.post(f"/power/personnel/join/{staff_type}", data=join_data(**extra),
                       content_type="multipart/form-data")


def approve(as_user, case_id, name="approve", opinion=""):
    reg = as_user("reg.power")
    case_page = reg.get(f"/applications/show/{case_id}")
    assert case_page.status_code == 200
    version = re.search(r'name="version" value="(\d+)"', case_page.text).group(1)
    r = reg.post(f"/applications/transition/{case_id}",
                 data={"name": name, "opinion": opinion, "version": version})
    assert r.status_code == 302
    return reg


# ----- lists ----------------------------------------------------------------------------------
def test_enterprise_lists_with_totals_and_masked_ids(as_user, db_session, k):
    p = as_user("ent.p")
    r = p.get(TECH_LIST)
    assert r.status_code == 200
    assert re.search(r'id="total-technical">25<', r.text)
    assert re.search(r'data-title="senior"><th>[^<]+</th><td class="num">3<', r.text)
    assert MASKED.search(r.text)
    for s in rows(db_session, k["p"], TECHNICAL):
        assert s.id_number not in r.text
    assert 'data-title="senior"' in r.text
    r = p.get(ELEC_LIST)
    assert re.search(r'id="total-electricians">60<', r.text)
    assert not any(s.certificate_no in r.text for s in rows(db_session, k["p"], ELECTRICIAN))
    assert re.search(r'data-kind="cable"><th>[^<]+</th><td class="num">6<', r.text)
    # The demo's join under review is listed (awaiting approval), with the open case.
    assert "罗家豪" in r.text and 'id="open-personnel-cases"' in r.text
    case = db_session.execute(select(Application).where(
        Application.kind == wf.PERSONNEL, Application.enterprise_id == k["p"],
        Application.state == "submitted")).scalar_one()
    assert case.reference in r.text


def test_ent_q_sees_its_proposals_uncounted(as_user, db_session, k):
    """ent.q's staff are proposals of its new-licence case: listed as awaiting approval,
    counted by nobody's roster (and never on ent.p's)."""
    q_rows = rows(db_session, k["q"], ELECTRICIAN)
    assert len(q_rows) == 16 and {s.status for s in q_rows} == {PROPOSED}
    r = as_user("ent.q").get(ELEC_LIST)
    assert re.search(r'id="total-electricians">0<', r.text)
    assert len(MASKED.findall(r.text)) == 16
    assert all(s.name in r.text for s in q_rows)
    # ent.p's list (all pages, through its export) holds none of them.
    r = as_user("ent.p").get("/power/staff/electricians/export/")
    numbers = {row[1] for row in xlsx_cells(r.data)[1:]}
    assert not numbers & {s.id_number for s in q_rows}


def test_filters_name_id_and_status(as_user, db_session, k):
    p = as_user("ent.p")
    target = one_active(db_session, k["p"])
    r = p.get(f"{ELEC_LIST}?id_number={target.id_number}")
    assert target.name in r.text and len(MASKED.findall(r.text)) == 1
    r = p.get(f"{ELEC_LIST}?name={target.name[0]}")
    assert target.name in r.text
    matching = [s for s in rows(db_session, k["p"], ELECTRICIAN)
                if s.name.startswith(target.name[0])]
    assert 0 < len(matching) < 61
    assert len(MASKED.findall(r.text)) == min(25, len(matching))
    # Someone who left is off the default list and on the "left" one.
    left = rows(db_session, k["p"], TECHNICAL, ACTIVE)[0]
    db_session.get(PowerStaff, left.id).status = LEFT
    db_session.commit()
    db_session.remove()
    r = p.get(TECH_LIST)
    assert re.search(r'id="total-technical">24<', r.text)
    link = re.search(r'id="status-left" href="([^"]+)"', r.text).group(1).replace("&amp;", "&")
    r = p.get(link)
    assert left.name in r.text and len(MASKED.findall(r.text)) == 1


def test_show_page_full_id_for_own_enterprise_only(as_user, db_session, k):
    target = one_active(db_session, k["p"])
    url = f"/power/staff/electricians/show/{target.id}"
    r = as_user("ent.p").get(url)
    assert r.status_code == 200 and target.id_number in r.text
    assert 'id="staff-leave"' in r.text
    assert f'id="staff-certificate-no">{target.certificate_no}<' in r.text
    r = as_user("reg.power").get(url)
    assert r.status_code == 200 and target.id_number not in r.text
    assert MASKED.search(r.text) and 'id="staff-leave"' not in r.text
    # The operation certificate's number (it holds an ID number) is masked alike.
    assert target.certificate_no not in r.text
    assert re.search(r'id="staff-certificate-no">T\d{6}\*{8}[\dX]{4}<', r.text)
    # The wrong list's show page is a 404, and so is another enterprise's row.
    assert as_user("ent.p").get(f"/power/staff/technical/show/{target.id}").status_code == 404
    assert as_user("ent.q").get(url).status_code == 404
    assert as_user("reg.rental").get(url).status_code == 404


def test_export_own_full_regulator_masked(as_user, db_session, k):
    r = as_user("ent.p").get("/power/staff/electricians/export/")
    assert r.status_code == 200
    cells = xlsx_cells(r.data)
    numbers = {s.id_number for s in rows(db_session, k["p"], ELECTRICIAN)}
    assert len(cells) == 1 + 61  # header, 60 on the roster and the join under review
    assert {row[1] for row in cells[1:]} <= numbers
    r = as_user("reg.power").get(f"/power/staff/electricians/export/?enterprise={ENT_P[:4]}")
    cells = xlsx_cells(r.data)
    assert len(cells) == 1 + 61
    assert all(MASKED.fullmatch(row[1]) for row in cells[1:])
    assert all(row[-1] == ENT_P for row in cells[1:])


def test_regulators_and_auditors(as_user, db_session, k):
    reg = as_user("reg.power")
    r = reg.get(ELEC_LIST)
    assert r.status_code == 200 and 'id="staff-search"' in r.text
    # Both power enterprises in the jurisdiction; totals of the roster (ent.p's 60).
    assert re.search(r'id="total-electricians">60<', r.text)
    r = reg.get(f"{ELEC_LIST}?enterprise={ENT_Q[:6]}")
    assert re.search(r'id="total-electricians">0<', r.text)
    assert rows(db_session, k["q"], ELECTRICIAN)[0].name in r.text
    assert reg.get("/power/personnel/").status_code == 403
    # The rental regulator sees no power rows.
    rental = as_user("reg.rental")
    r = rental.get(ELEC_LIST)
    assert r.status_code == 200 and re.search(r'id="total-electricians">0<', r.text)
    assert not MASKED.search(r.text)
    # Auditors read and export, and apply for nothing.
    aud = as_user("auditor")
    assert aud.get(TECH_LIST).status_code == 200
    assert aud.get("/power/staff/technical/export/").status_code == 200
    for url in ("/power/personnel/", "/power/personnel/join/electrician",
                "/power/personnel/leave"):
        assert aud.get(url).status_code in (302, 403)
    target = one_active(db_session, k["p"])
    assert aud.post(f"/power/personnel/leave/{target.id}").status_code in (302, 403)
    assert rows(db_session, k["p"], ELECTRICIAN, ACTIVE)[0].id == target.id


def test_no_generic_write_routes(as_user, db_session, k):
    admin = as_user("admin")
    target = one_active(db_session, k["p"])
    for url in ("/power/staff/technical/add", f"/power/staff/electricians/edit/{target.id}",
                f"/power/staff/electricians/delete/{target.id}"):
        assert admin.get(url).status_code == 404
        assert admin.post(url, data={"name": "x"}).status_code in (404, 405)


# ----- join (入职) ------------------------------------------------------------------------------
def test_join_form_tips_and_default_issuer(as_user):
    p = as_user("ent.p")
    r = p.get("/power/personnel/join")
    assert r.status_code == 200 and 'id="join-tips"' in r.text
    assert 'id="join-electrician"' in r.text and 'id="join-technical"' in r.text
    r = p.get("/power/personnel/join/electrician")
    assert re.search(r'<option selected value="广东省应急管理厅">|'
                     r'<option value="广东省应急管理厅" selected>', r.text)
    assert p.get("/power/personnel/join/manager").status_code == 404


def test_join_validation_errors(as_user, db_session, k):
    p = english(as_user("ent.p"))
    before = len(rows(db_session, k["p"]))
    r = p.post("/power/personnel/join/electrician",
               data={"name": "", "id_number": BAD_ID, "certificate_kind": "",
                     "certificate_no": "", "certificate_issuer": "某某公司"},
               content_type="multipart/form-data")
    assert r.status_code == 422
    text = r.text
    assert 'id="form-invalid"' in text
    assert "Not a valid resident ID number" in text
    assert "Upload the certificate" in text
    assert "Choose the issuing authority from the list." in text
    r = post_join(p, TECHNICAL, title="", specialty="")
    assert r.status_code == 422 and r.text.count("Required.") >= 2
    # The attachment is checked by its content: a text file named .pdf is refused.
    r = post_join(p, attachment=(io.BytesIO(b"hello"), "c.pdf"))
    assert r.status_code == 422 and "not accepted" in r.text
    assert len(rows(db_session, k["p"])) == before


def test_join_approved_through_the_case_page(as_user, db_session, k):
    p = as_user("ent.p")
    r = post_join(p)
    assert r.status_code == 302 and "/applications/show/" in r.location
    case_id = int(r.location.rsplit("/", 1)[1])
    row = rows(db_session, k["p"], ELECTRICIAN, PROPOSED)[-1]
    assert row.id_number == resident_id(1) and row.case_id == case_id
    assert row.attachment_name == "certificate.pdf"
    case = db_session.get(Application, case_id)
    assert case.kind == wf.PERSONNEL and case.state == "submitted"
    assert [a.id for a in case.attachments] == [row.attachment_id]
    reference = case.reference
    db_session.remove()
    # The roster is unchanged until approval; the row shows "awaiting approval".
    r = p.get(ELEC_LIST)
    assert re.search(r'id="total-electricians">60<', r.text) and "陈志强" in r.text
    r = p.get("/power/personnel/")
    assert reference in r.text
    # The regulator sees the case page with the masked ID and the certificate.
    reg = approve(as_user, case_id)
    page = reg.get(f"/applications/show/{case_id}").text
    assert resident_id(1) not in page and "certificate.pdf" in page
    assert 'id="case-subject"' in page
    assert reg.get(f"/power/personnel/staff/{row.id}").status_code == 302
    assert status_of(db_session, row.id) == ACTIVE
    r = p.get(ELEC_LIST)
    assert re.search(r'id="total-electricians">61<', r.text)
    assert re.search(r'data-kind="cable"><th>[^<]+</th><td class="num">7<', r.text)


@pytest.mark.parametrize("ending", ["reject", "withdraw"])
def test_join_refused_or_withdrawn_frees_the_id(as_user, db_session, k, ending):
    p = as_user("ent.p")
    case_id = int(post_join(p).location.rsplit("/", 1)[1])
    if ending == "reject":
        approve(as_user, case_id, "reject", "证书不清晰")
    else:
        page = p.get(f"/applications/show/{case_id}").text
        version = re.search(r'name="version" value="(\d+)"', page).group(1)
        assert p.post(f"/applications/transition/{case_id}",
                      data={"name": "withdraw", "version": version}).status_code == 302
    db_session.expire_all()
    assert db_session.get(Application, case_id).state in ("rejected", "withdrawn")
    assert not [s for s in rows(db_session, k["p"]) if s.id_number == resident_id(1)]
    # ent.q can now propose the same person.
    r = post_join(as_user("ent.q"))
    assert r.status_code == 302
    assert [s.id_number for s in rows(db_session, k["q"], ELECTRICIAN, PROPOSED)][-1] \
        == resident_id(1)


def test_uniqueness_across_enterprises_via_the_ui(as_user, db_session, k):
    taken = rows(db_session, k["q"], ELECTRICIAN)[0]  # reserved by ent.q's case
    p = english(as_user("ent.p"))
    before = len(rows(db_session, k["p"]))
    r = post_join(p, id_number=taken.id_number)
    assert r.status_code == 422
    assert "already registered as an electrician on another enterprise" in r.text
    assert taken.id_number[:6] + "********" + taken.id_number[-4:] in r.text
    assert ENT_Q not in r.text and "南沙" not in r.text and taken.name not in r.text
    # One of ent.p's own: the other message.
    mine = one_active(db_session, k["p"])
    r = post_join(p, id_number=mine.id_number)
    assert r.status_code == 422 and "already on this enterprise" in r.text
    assert len(rows(db_session, k["p"])) == before


def test_uniqueness_race_via_the_ui(as_user, db_session, k, monkeypatch):
    """The pre-check misses a row (committed meanwhile): the database refuses, the form
    shows the same message, nothing is saved (no row, no case, no attachment row)."""
    from app.models.attachment import Attachment
    from app.services import staff as service

    taken = rows(db_session, k["q"], ELECTRICIAN)[0]
    counts = lambda: (db_session.execute(select(func.count(PowerStaff.id))).scalar_one(),  # noqa: E731
                      db_session.execute(select(func.count(Application.id))).scalar_one(),
                      db_session.execute(select(func.count(Attachment.id))).scalar_one())
    before = counts()
    monkeypatch.setattr(service, "check_available", lambda *a, **kw: None)
    p = english(as_user("ent.p"))
    r = post_join(p, id_number=taken.id_number)
    assert r.status_code == 409
    assert "already registered as an electrician on another enterprise" in r.text
    assert ENT_Q not in r.text
    db_session.expire_all()
    assert counts() == before


# ----- leave (离职) -----------------------------------------------------------------------------
@pytest.mark.parametrize("ending", ["approve", "reject", "withdraw"])
def test_leave_search_confirm_and_outcomes(as_user, db_session, k, ending):
    target = one_active(db_session, k["p"], TECHNICAL)
    p = as_user("ent.p")
    r = p.get(f"/power/personnel/leave?id_number={target.id_number}")
    assert r.status_code == 200 and f'id="leave-{target.id}"' in r.text
    r = p.get(f"/power/personnel/leave?name={target.name}")
    assert f'id="leave-{target.id}"' in r.text
    assert 'id="leave-none"' in p.get("/power/personnel/leave?name=不存在的人").text
    r = p.get(f"/power/personnel/leave/{target.id}")
    assert r.status_code == 200 and 'id="confirm-leave"' in r.text
    r = p.post(f"/power/personnel/leave/{target.id}")
    assert r.status_code == 302 and "/applications/show/" in r.location
    case_id = int(r.location.rsplit("/", 1)[1])
    assert status_of(db_session, target.id) == LEAVING
    r = p.get(f"/power/staff/technical/show/{target.id}")
    assert "status-leaving" in r.text and 'id="staff-leave"' not in r.text
    assert re.search(r'id="total-technical">25<', p.get(TECH_LIST).text)  # still counted
    # A second leave of the same person is refused.
    r = p.post(f"/power/personnel/leave/{target.id}")
    assert r.status_code == 302 and r.location.endswith(f"/power/personnel/leave/{target.id}")
    assert db_session.execute(select(func.count(Application.id)).where(
        Application.subject_id == target.id, Application.kind == wf.PERSONNEL)).scalar_one() == 1
    if ending == "approve":
        approve(as_user, case_id)
        expected, total = LEFT, 24
    elif ending == "reject":
        approve(as_user, case_id, "reject", "手续不全")
        expected, total = ACTIVE, 25
    else:
        page = p.get(f"/applications/show/{case_id}").text
        version = re.search(r'name="version" value="(\d+)"', page).group(1)
        p.post(f"/applications/transition/{case_id}", data={"name": "withdraw",
                                                            "version": version})
        expected, total = ACTIVE, 25
    assert status_of(db_session, target.id) == expected
    assert re.search(rf'id="total-technical">{total}<', p.get(TECH_LIST).text)


def test_leave_refuses_other_enterprises_rows(as_user, db_session, k):
    target = one_active(db_session, k["p"])
    q = as_user("ent.q")
    assert q.get(f"/power/personnel/leave/{target.id}").status_code == 404
    assert q.post(f"/power/personnel/leave/{target.id}").status_code == 404
    r = q.get(f"/power/personnel/leave?id_number={target.id_number}")
    assert target.name not in r.text and 'id="leave-none"' in r.text
    assert q.get(f"/power/personnel/staff/{target.id}").status_code == 404
    assert status_of(db_session, target.id) == ACTIVE
    # A rental enterprise has no personnel changes at all.
    a = as_user("ent.a")
    for url in ("/power/personnel/", "/power/personnel/join", "/power/personnel/leave",
                "/power/personnel/join/electrician", f"/power/personnel/leave/{target.id}"):
        assert a.get(url).status_code == 403, url
    assert a.post(f"/power/personnel/leave/{target.id}").status_code == 403


def test_anonymous_is_sent_to_login(client, db_session, k):
    target = one_active(db_session, k["p"])
    for url in (TECH_LIST, ELEC_LIST, "/power/staff/technical/export/",
                f"/power/staff/electricians/show/{target.id}", "/power/personnel/",
                "/power/personnel/join", "/power/personnel/join/electrician",
                "/power/personnel/leave", f"/power/personnel/leave/{target.id}",
                f"/power/personnel/staff/{target.id}"):
        r = client.get(url)
        assert r.status_code == 302 and "/login/" in r.location, url
    r = client.post(f"/power/personnel/leave/{target.id}")
    assert r.status_code in (302, 400) and (r.status_code == 400 or "/login/" in r.location)
    r = client.post("/power/personnel/join/electrician", data=join_data(),
                    content_type="multipart/form-data")
    assert r.status_code in (302, 400)
    for url in ("/api/v1/power_staff/", f"/api/v1/power_staff/{target.id}",
                "/api/v1/power_staff/export"):
        assert client.get(url).status_code == 401, url
    assert status_of(db_session, target.id) == ACTIVE


# ----- REST ---------------------------------------------------------------------------------
def test_api_read_only_masked_and_scoped(app, db_session, k):
    c = app.test_client()
    token = api_token(c, "ent.p")
    r = c.get("/api/v1/power_staff/?q=(page_size:100)", headers=bearer(token))
    assert r.status_code == 200
    body = r.get_json()
    assert body["count"] == 25 + 61
    assert all(MASKED.fullmatch(row["id_number"]) for row in body["result"])
    assert {row["enterprise_id"] for row in body["result"]} == {k["p"]}
    target = one_active(db_session, k["p"])
    r = c.get(f"/api/v1/power_staff/{target.id}", headers=bearer(token))
    assert r.status_code == 200 and r.get_json()["result"]["id_number"] == target.id_number
    r = c.get("/api/v1/power_staff/?q=(filters:!((col:staff_type,opr:eq,value:technical)))",
              headers=bearer(token))
    assert r.get_json()["count"] == 25
    r = c.get("/api/v1/power_staff/export", headers=bearer(token))
    assert r.status_code == 200 and len(xlsx_cells(r.data)) == 1 + 86
    # Writes do not exist.
    assert c.post("/api/v1/power_staff/", json={"name": "x"},
                  headers=bearer(token)).status_code in (404, 405)
    assert c.put(f"/api/v1/power_staff/{target.id}", json={"name": "x"},
                 headers=bearer(token)).status_code in (404, 405)
    assert c.delete(f"/api/v1/power_staff/{target.id}",
                    headers=bearer(token)).status_code in (404, 405)
    # ent.q: its own proposals only; ent.p's row is a 404.
    q_token = api_token(c, "ent.q")
    r = c.get("/api/v1/power_staff/?q=(page_size:100)", headers=bearer(q_token))
    assert r.get_json()["count"] == 22
    assert c.get(f"/api/v1/power_staff/{target.id}", headers=bearer(q_token)).status_code == 404
    # reg.power: both enterprises, masked even on show; reg.rental: nothing.
    reg = api_token(c, "reg.power")
    r = c.get(f"/api/v1/power_staff/{target.id}", headers=bearer(reg))
    assert r.status_code == 200 and MASKED.fullmatch(r.get_json()["result"]["id_number"])
    assert c.get("/api/v1/power_staff/", headers=bearer(reg)).get_json()["count"] == 86 + 22
    rental = api_token(c, "reg.rental")
    assert c.get("/api/v1/power_staff/", headers=bearer(rental)).get_json()["count"] == 0
    assert c.get(f"/api/v1/power_staff/{target.id}",
                 headers=bearer(rental)).status_code == 404


def test_draft_proposals_stay_off_the_roster(as_user, app, db_session, k):
    from app.models.licence import DRAFT, ITEM_CHANGE, LicenceRequest

    request = LicenceRequest(enterprise_id=k["p"], matter=ITEM_CHANGE, state=DRAFT,
                             categories={"install": 3})
    db_session.add(request)
    db_session.flush()
    db_session.add(PowerStaff(enterprise_id=k["p"], staff_type=TECHNICAL, status=PROPOSED,
                              name="草稿人员", id_number=resident_id(5), title="senior",
                              request_id=request.id))
    db_session.commit()
    p = as_user("ent.p")
    r = p.get(TECH_LIST)
    assert "草稿人员" not in r.text and re.search(r'id="total-technical">25<', r.text)
    token = api_token(app.test_client(), "ent.p")
    r = app.test_client().get("/api/v1/power_staff/?q=(page_size:100)", headers=bearer(token))
    assert "草稿人员" not in r.get_data(as_text=True)
