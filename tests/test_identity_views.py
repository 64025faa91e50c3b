"""Enterprise self-administration (SPEC X8): users and roles of one's own enterprise only,
no escalation through forms, forged forms or the API."""

from __future__ import annotations

from conftest import api_token, bearer, ids, login
from flask_appbuilder.security.sqla.models import PermissionView, Role

from app.models.identity import AppUser, EnterpriseRole


def _role_id(db_session, name):
    return db_session.query(Role).filter_by(name=name).one().id


def _pv_id(db_session, perm, view):
    from flask_appbuilder.security.sqla.models import Permission, ViewMenu

    return (db_session.query(PermissionView).join(Permission).join(ViewMenu)
            .filter(Permission.name == perm, ViewMenu.name == view).one().id)


def _new_user_form(username, roles, **extra):
    return {"username": username, "last_name": "赵", "first_name": "六",
            "email": f"{username}@suitong.example.cn", "mobile": "13811112222",
            "roles": [str(r) for r in roles], "password": "Initial#2026a",
            "conf_password": "Initial#2026a", **extra}


def test_admin_creates_role_and_user_who_gets_exactly_those_rights(app, as_user, db_session):
    a = as_user("ent.a")
    r = a.post("/enterprise/roles/add", data={
        "name": "调度员", "description": "车辆调度",
        "permissions": [str(_pv_id(db_session, "can_list", "Enterprise")),
                        str(_pv_id(db_session, "can_show", "Enterprise")),
                        str(_pv_id(db_session, "menu_access", "My Enterprise"))]})
    assert r.status_code == 302
    k = ids(db_session)
    er = db_session.query(EnterpriseRole).filter_by(name="调度员").one()
    assert er.enterprise_id == k["ent_a"]
    assert er.role.name == f"ent{k['ent_a']}:调度员"
    page = a.get("/enterprise/users/add")
    assert "调度员" in page.text and "系统管理员" not in page.text and "监管人员" not in page.text
    r = a.post("/enterprise/users/add", data=_new_user_form("zhao.liu", [er.role_id]))
    assert r.status_code == 302
    user = db_session.query(AppUser).filter_by(username="zhao.liu").one()
    assert user.enterprise_id == k["ent_a"] and user.must_change_password
    assert [x.name for x in user.roles] == [er.role.name]
    assert "zhao.liu" in a.get("/enterprise/users/list/").text
    # The new user can read its enterprise but not administer users.
    c = app.test_client()
    login(c, "zhao.liu", "Initial#2026a")
    c.post("/resetmypassword/form", data={"old_password": "Initial#2026a",
                                          "password": "Changed#2026b",
                                          "conf_password": "Changed#2026b"})
    assert c.get("/enterprises/list/").status_code == 200
    assert c.get("/enterprise/users/list/").status_code in (302, 403)


def test_forged_form_cannot_assign_system_or_authority_roles(as_user, db_session):
    a = as_user("ent.a")
    for role in ("System Admin", "Regulator", "Auditor"):
        r = a.post("/enterprise/users/add",
                   data=_new_user_form("evil." + role[:3].lower(), [_role_id(db_session, role)]))
        assert r.status_code == 200, role  # the form comes back with an error
        assert db_session.query(AppUser).filter_by(username="evil." + role[:3].lower()).first() \
            is None
    # Raise itself through the edit form.
    me = ids(db_session)["users"]["ent.a"]
    r = a.post(f"/enterprise/users/edit/{me}", data={
        "last_name": "陈", "first_name": "志强", "email": "ent.a@suitong.example.cn",
        "active": "y", "roles": [str(_role_id(db_session, "System Admin"))]})
    db_session.expire_all()
    assert [x.name for x in db_session.get(AppUser, me).roles] == ["Enterprise Admin"]


def test_forged_form_cannot_assign_another_enterprises_role(as_user, db_session):
    b = as_user("ent.b")
    b.post("/enterprise/roles/add", data={"name": "B 专用", "description": ""})
    b_role_id = db_session.query(EnterpriseRole).filter_by(name="B 专用").one().role_id
    a = as_user("ent.a")
    r = a.post("/enterprise/users/add", data=_new_user_form(
        "sneaky", [_role_id(db_session, "Enterprise Staff"), b_role_id]))
    assert r.status_code == 200
    assert db_session.query(AppUser).filter_by(username="sneaky").first() is None


def test_forged_tenant_field_is_ignored(as_user, db_session):
    k = ids(db_session)
    a = as_user("ent.a")
    a.post("/enterprise/users/add", data=_new_user_form(
        "moved", [_role_id(db_session, "Enterprise Staff")], enterprise_id=str(k["ent_b"]),
        enterprise=str(k["ent_b"])))
    assert db_session.query(AppUser).filter_by(username="moved").one().enterprise_id == k["ent_a"]


def test_role_cannot_hold_admin_or_authority_permissions(as_user, db_session):
    a = as_user("ent.a")
    for perm, view in [("can_add", "Enterprise"), ("can_list", "AuditEvent"),
                       ("can_edit", "EnterpriseUser"), ("can_list", "RoleModelView")]:
        r = a.post("/enterprise/roles/add", data={
            "name": f"bad {perm} {view}", "permissions": [str(_pv_id(db_session, perm, view))]})
        assert r.status_code == 200, (perm, view)
        assert db_session.query(EnterpriseRole).filter_by(name=f"bad {perm} {view}").first() \
            is None


def test_username_taken_in_another_enterprise_gives_a_clear_message(as_user, db_session):
    a = as_user("ent.a")
    r = a.post("/enterprise/users/add",
               data=_new_user_form("ent.b", [_role_id(db_session, "Enterprise Staff")]))
    assert r.status_code == 200 and "该用户名已被占用" in r.text


def test_admin_cannot_delete_or_deactivate_itself(as_user, db_session):
    a = as_user("ent.a")
    me = ids(db_session)["users"]["ent.a"]
    a.post(f"/enterprise/users/delete/{me}")
    assert db_session.get(AppUser, me) is not None
    a.post(f"/enterprise/users/edit/{me}", data={
        "last_name": "陈", "first_name": "志强", "email": "ent.a@suitong.example.cn",
        "roles": [str(_role_id(db_session, "Enterprise Admin"))]})  # active unticked
    db_session.expire_all()
    assert db_session.get(AppUser, me).active


def test_admin_deletes_own_enterprise_user(as_user, db_session):
    a = as_user("ent.a")
    a.post("/enterprise/users/add",
           data=_new_user_form("temp.user", [_role_id(db_session, "Enterprise Staff")]))
    uid = db_session.query(AppUser).filter_by(username="temp.user").one().id
    assert a.post(f"/enterprise/users/delete/{uid}").status_code == 302
    db_session.expire_all()
    assert db_session.get(AppUser, uid) is None


def test_api_user_management_is_scoped_and_refuses_escalation(app, db_session):
    c = app.test_client()
    h = bearer(api_token(c, "ent.a"))
    r = c.get("/api/v1/enterprise_user/", headers=h)
    assert r.status_code == 200
    assert {u["username"] for u in r.get_json()["result"]} == {"ent.a"}
    r = c.post("/api/v1/enterprise_user/", headers=h, json={
        "username": "api.evil", "first_name": "a", "last_name": "b",
        "email": "api.evil@x.cn", "roles": [_role_id(db_session, "System Admin")]})
    assert r.status_code in (400, 422)
    assert db_session.query(AppUser).filter_by(username="api.evil").first() is None
    r = c.post("/api/v1/enterprise_user/", headers=h, json={
        "username": "api.ok", "first_name": "a", "last_name": "b",
        "email": "api.ok@x.cn", "roles": [_role_id(db_session, "Enterprise Staff")]})
    assert r.status_code == 201, r.get_json()
    created = db_session.query(AppUser).filter_by(username="api.ok").one()
    assert created.enterprise_id == ids(db_session)["ent_a"]
    b_user = ids(db_session)["users"]["ent.b"]
    assert c.get(f"/api/v1/enterprise_user/{b_user}", headers=h).status_code == 404
    assert c.put(f"/api/v1/enterprise_user/{b_user}", headers=h,
                 json={"first_name": "x"}).status_code == 404
    assert c.delete(f"/api/v1/enterprise_user/{b_user}", headers=h).status_code == 404


def test_enterprise_admin_has_no_fab_security_views(as_user):
    a = as_user("ent.a")
    for path in ("/users/list/", "/roles/list/", "/permissions/list/", "/permissionviews/list/",
                 "/resetpassword/form?pk=1", "/outbox/"):
        assert a.get(path).status_code in (302, 403), path


def test_role_names_are_unique_per_enterprise_only(as_user, db_session):
    a, b = as_user("ent.a"), as_user("ent.b")
    assert a.post("/enterprise/roles/add", data={"name": "审核员"}).status_code == 302
    r = a.post("/enterprise/roles/add", data={"name": "审核员"})
    assert db_session.query(EnterpriseRole).filter_by(name="审核员").count() == 1
    assert "已有名为" in " ".join(m for _, m in _flashes(a)) or "已有名为" in r.text
    assert b.post("/enterprise/roles/add", data={"name": "审核员"}).status_code == 302
    assert db_session.query(EnterpriseRole).filter_by(name="审核员").count() == 2


def _flashes(client):
    with client.session_transaction() as sess:
        return sess.get("_flashes", [])


def test_user_name_twins_differing_in_case_are_refused(app, as_user, db_session):
    """FAB finds users case-insensitively: an 'ADMIN' beside 'admin' would lock both out."""
    a = as_user("ent.a")
    for name in ("ADMIN", "Ent.B"):
        r = a.post("/enterprise/users/add",
                   data=_new_user_form(name, [_role_id(db_session, "Enterprise Staff")],
                                       email=f"{name.lower()}.twin@suitong.example.cn"))
        assert r.status_code == 200 and "该用户名已被占用" in r.text, name
    r = a.post("/enterprise/users/add", data=_new_user_form(
        "twin.mail", [_role_id(db_session, "Enterprise Staff")],
        email="ENT.B@pengcheng.example.cn"))
    assert r.status_code == 200
    assert login(app.test_client(), "admin").status_code == 302
    from conftest import api_token

    h = bearer(api_token(app.test_client(), "ent.a"))
    r = app.test_client().post("/api/v1/enterprise_user/", headers=h, json={
        "username": "Admin", "first_name": "a", "last_name": "b", "email": "x@y.cn",
        "roles": [_role_id(db_session, "Enterprise Staff")]})
    assert r.status_code == 400
    assert db_session.query(AppUser).filter(AppUser.username.in_(
        ["ADMIN", "Ent.B", "twin.mail", "Admin"])).count() == 0


def test_refused_role_ids_do_not_reveal_other_enterprises_role_names(app, as_user, db_session):
    b = as_user("ent.b")
    b.post("/enterprise/roles/add", data={"name": "鹏程机密角色"})
    b_role = db_session.query(EnterpriseRole).filter_by(name="鹏程机密角色").one().role_id
    c = app.test_client()
    h = bearer(api_token(c, "ent.a"))
    me = ids(db_session)["users"]["ent.a"]
    r = c.put(f"/api/v1/enterprise_user/{me}", headers=h, json={"roles": [b_role]})
    assert r.status_code == 400 and "鹏程" not in r.get_data(as_text=True)


def test_system_admin_cannot_create_a_user_whose_password_is_the_user_name(as_user, db_session):
    r = as_user("admin").post("/users/add", data={
        "username": "Wang2026x", "last_name": "王", "first_name": "二", "email": "w2@x.cn",
        "active": "y", "roles": [str(_role_id(db_session, "Enterprise Staff"))],
        "password": "Wang2026x", "conf_password": "Wang2026x"})
    assert db_session.query(AppUser).filter_by(username="Wang2026x").first() is None
    assert r.status_code in (200, 302)
