"""Audit trail (SPEC X10): recorded for every change, searchable, exportable, immutable."""

from __future__ import annotations

import io
import json

from conftest import api_token, bearer, ids
from openpyxl import load_workbook

from app.models.audit import AuditEvent


def _events(db_session, **filters):
    db_session.expire_all()
    return db_session.query(AuditEvent).filter_by(**filters).order_by(AuditEvent.id).all()


def test_update_records_before_and_after_of_changed_fields(as_user, db_session):
    a = as_user("ent.a")
    a.post("/enterprise/users/add", data={
        "username": "qian.qi", "last_name": "钱", "first_name": "七",
        "email": "qq@suitong.example.cn", "roles": ["5"], "password": "Initial#2026a",
        "conf_password": "Initial#2026a"})
    created = _events(db_session, action="create", target_type="ab_user", actor_name="ent.a")
    assert created[-1].target_label == "钱七" and created[-1].target_id
    uid = ids(db_session)["users"]["qian.qi"]
    a.post(f"/enterprise/users/edit/{uid}", data={
        "last_name": "钱", "first_name": "七", "email": "qian.qi@suitong.example.cn",
        "mobile": "13812345678", "active": "y", "roles": ["5"]})
    upd = _events(db_session, action="update", target_type="ab_user", target_id=str(uid))[-1]
    changes = json.loads(upd.changes)
    assert changes["email"] == ["qq@suitong.example.cn", "qian.qi@suitong.example.cn"]
    assert changes["mobile"] == [None, "13812345678"]
    assert "last_name" not in changes
    assert upd.actor_name == "ent.a" and upd.ip == "127.0.0.1"
    assert upd.enterprise_id == ids(db_session)["ent_a"]


def test_password_hashes_never_reach_the_trail(as_user, db_session):
    a = as_user("ent.a")
    a.post("/enterprise/users/add", data={
        "username": "sun.ba", "last_name": "孙", "first_name": "八",
        "email": "sb@suitong.example.cn", "roles": ["5"], "password": "Initial#2026a",
        "conf_password": "Initial#2026a"})
    for ev in _events(db_session, target_type="ab_user"):
        assert "scrypt" not in (ev.changes or "") and "pbkdf2" not in (ev.changes or "")


def test_role_and_permission_changes_are_permission_events(as_user, db_session):
    a = as_user("ent.a")
    a.post("/enterprise/roles/add", data={"name": "出纳", "description": ""})
    uid = ids(db_session)["users"]["ent.a"]
    perm = _events(db_session, action="permission")
    assert any("permissions" in json.loads(e.changes) for e in perm)
    del uid


def test_delete_is_recorded_with_the_old_values(as_user, db_session):
    a = as_user("ent.a")
    a.post("/enterprise/roles/add", data={"name": "临时", "description": "to go"})
    rid = _events(db_session, action="create", target_type="enterprise_role")[-1].target_id
    a.post(f"/enterprise/roles/delete/{rid}")
    ev = _events(db_session, action="delete", target_type="enterprise_role")[-1]
    assert json.loads(ev.changes)["description"][0] == "to go"


def test_auditor_searches_filters_and_exports(as_user, db_session):
    as_user("ent.a")  # a login event in A
    as_user("ent.c")  # a login event in C (used cars, Guangzhou)
    aud = as_user("auditor")
    r = aud.get("/audit/list/?_flt_0_actor_name=ent.a")
    assert r.status_code == 200 and "ent.a" in r.text and "ent.c" not in r.text
    r = aud.get("/audit/export/?_flt_0_actor_name=ent.a")
    assert r.status_code == 200
    wb = load_workbook(io.BytesIO(r.data))
    rows = list(wb.active.iter_rows(values_only=True))
    assert rows[0][0] == "时间"
    assert rows[1:] and all(row[2] == "ent.a" for row in rows[1:])
    assert _events(db_session, action="export", actor_name="auditor")


def test_auditor_scope_is_its_jurisdiction(as_user, db_session):
    """auditor: rental + used cars in Guangdong -> A, B, C all inside."""
    as_user("ent.b")
    aud = as_user("auditor")
    assert "ent.b" in aud.get("/audit/list/?_flt_0_actor_name=ent.b").text


def test_enterprise_admin_reads_only_its_own_trail(as_user):
    as_user("ent.b")
    a = as_user("ent.a")
    text = a.get("/audit/list/?psize_AuditEventView=100").text
    assert "ent.a" in text and "ent.b" not in text


def test_nobody_can_edit_or_delete_the_trail(app, as_user, db_session):
    as_user("ent.a")
    ev_id = _events(db_session, action="login")[-1].id
    admin = as_user("admin")
    for method, path in [("GET", f"/audit/edit/{ev_id}"), ("POST", f"/audit/edit/{ev_id}"),
                         ("POST", f"/audit/delete/{ev_id}"), ("GET", "/audit/add"),
                         ("POST", "/audit/action_post")]:
        assert admin.open(path, method=method).status_code in (404, 405), path
    c = app.test_client()
    h = bearer(api_token(c, "admin"))
    assert c.delete(f"/api/v1/audit_event/{ev_id}", headers=h).status_code in (404, 405)
    assert c.put(f"/api/v1/audit_event/{ev_id}", headers=h, json={}).status_code in (404, 405)
    assert c.post("/api/v1/audit_event/", headers=h, json={}).status_code in (404, 405)
    assert c.get(f"/api/v1/audit_event/{ev_id}", headers=h).status_code == 200
    db_session.expire_all()
    assert db_session.get(AuditEvent, ev_id).action == "login"
