"""Organisations: system admins maintain enterprises and authorities; USCC validated."""

from __future__ import annotations

import os
import subprocess

from conftest import ids

from app.models.identity import AppUser
from app.models.org import Authority, Enterprise

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _sector_ids(db_session, *codes):
    from app.models.org import Sector

    return [str(s.id) for s in db_session.query(Sector).filter(Sector.code.in_(codes))]


def test_admin_creates_enterprise_with_valid_uscc_only(as_user, db_session):
    admin = as_user("admin")
    form = {"name": "佛山市禅城顺达汽车租赁有限公司", "region_code": "440604",
            "sectors": _sector_ids(db_session, "rental"), "status": "active",
            "legal_representative": "吴国华", "contact_name": "郑敏",
            "contact_mobile": "13600136000", "address": "佛山市禅城区季华五路10号"}
    r = admin.post("/enterprises/add", data={**form, "uscc": "91440101MA59XXKL1A"})
    assert r.status_code == 200 and "统一社会信用代码" in r.text
    assert db_session.query(Enterprise).filter_by(name=form["name"]).first() is None
    r = admin.post("/enterprises/add", data={**form, "uscc": "91440106ma5al7te06"})
    assert r.status_code == 302
    ent = db_session.query(Enterprise).filter_by(name=form["name"]).one()
    assert ent.uscc == "91440106MA5AL7TE06" and [s.code for s in ent.sectors] == ["rental"]


def test_duplicate_uscc_is_refused(as_user, db_session):
    admin = as_user("admin")
    r = admin.post("/enterprises/add", data={
        "name": "重复企业", "uscc": "91440101MA59XXKL1H", "region_code": "440106",
        "sectors": _sector_ids(db_session, "rental"), "status": "active"})
    assert r.status_code == 200 and "该统一社会信用代码的企业已存在" in r.text
    assert db_session.query(Enterprise).filter_by(uscc="91440101MA59XXKL1H").count() == 1


def test_enterprise_user_sees_only_its_enterprise_and_cannot_edit_it(as_user, db_session):
    k = ids(db_session)
    a = as_user("ent.a")
    r = a.get("/enterprises/list/")
    assert "穗通" in r.text and "鹏程" not in r.text and "羊城" not in r.text
    assert a.get(f"/enterprises/show/{k['ent_a']}").status_code == 200
    r = a.post(f"/enterprises/edit/{k['ent_a']}", data={"name": "改名"})
    assert r.status_code in (302, 403)
    db_session.expire_all()
    assert db_session.get(Enterprise, k["ent_a"]).name == "广州市穗通汽车租赁有限公司"


def test_regulator_reads_its_authority_only(as_user, db_session):
    r = as_user("reg.usedcar").get("/authorities/list/")
    assert "广州市商务局" in r.text and "广东省交通运输厅" not in r.text


def test_authority_region_prefix_follows_its_region(as_user, db_session):
    admin = as_user("admin")
    r = admin.post("/authorities/add", data={"name": "深圳市交通运输局", "region_code": "440300",
                                             "sectors": _sector_ids(db_session, "rental")})
    assert r.status_code == 302
    assert db_session.query(Authority).filter_by(name="深圳市交通运输局").one().region_prefix \
        == "4403"


def test_cli_user_creation_applies_the_password_policy(app, store):
    env = {**os.environ, "DATABASE_URL": store.url}
    env.pop("REGPORTAL_ENV", None)
    r = subprocess.run([os.path.join(ROOT, ".venv", "bin", "flask"), "--app", "run", "fab",
                        "create-user", "--role", "Enterprise Staff", "--username", "cli.weak",
                        "--firstname", "a", "--lastname", "b", "--email", "cli@x.cn",
                        "--password", "weakpass"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120)
    from app.extensions import db

    with app.app_context():
        assert db.session.query(AppUser).filter_by(username="cli.weak").first() is None
        db.session.remove()
    assert "Refused" in r.stderr + r.stdout or r.returncode != 0


def test_admin_creates_a_regulator_of_an_authority(as_user, db_session):
    from flask_appbuilder.security.sqla.models import Role

    auth_id = db_session.query(Authority).filter_by(name="广州市商务局").one().id
    reg_role = db_session.query(Role).filter_by(name="Regulator").one().id
    admin = as_user("admin")
    r = admin.post("/users/add", data={
        "username": "reg.new", "last_name": "冯", "first_name": "新", "email": "rn@gz.gov.cn",
        "active": "y", "roles": [str(reg_role)], "authority": str(auth_id),
        "password": "Initial#2026a", "conf_password": "Initial#2026a"})
    assert r.status_code == 302, r.text[:3000]
    u = db_session.query(AppUser).filter_by(username="reg.new").one()
    assert u.authority_id == auth_id and u.must_change_password and u.enterprise_id is None


def test_admin_resets_a_lost_authenticator(as_user, app, db_session):
    from conftest import login

    uid = ids(db_session)["users"]["reg.rental"]
    admin = as_user("admin")
    assert admin.post(f"/users/action/reset_totp/{uid}").status_code == 302
    db_session.expire_all()
    assert not db_session.get(AppUser, uid).totp_enabled
    c = app.test_client()
    login(c, "reg.rental")
    r = c.get("/enterprises/list/")
    assert r.status_code == 302 and "/two-factor/enrol/" in r.location


def test_admin_user_list_reads_like_prose(as_user):
    page = as_user("admin").get("/users/list/").text
    assert "广东省交通运输厅" in page and "系统管理员" in page
    assert ">None<" not in page.replace(" ", "").replace("\n", "")
    assert "[System Admin]" not in page and ">True<" not in page.replace(" ", "").replace("\n", "")
