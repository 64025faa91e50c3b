"""Power enterprises (seed 002 §3, SPEC P1-P2): public registration, login with the USCC, the
parent-enterprise popup (names only, paged, forged ids refused), "my information" with its
locked fields (UI, forged form, API, direct ORM writes; the approved registration-item change
may still change them), and the power profiles for the authority, scoped."""

from __future__ import annotations

import datetime
import json
import re

import pytest
from conftest import api_token, bearer, csrf_token_from, login
from stdnum.cn import uscc as stdnum_uscc
from test_usedcar_register import count_enterprises, has_field_error
from test_usedcar_register import domicile as address

from app.services.cn_codes import org_code_check_char

REGISTER = "/public/power/register"
PARENTS = "/public/power/parents/"
PROFILE = "/power/profile/"
EDIT = "/power/profile/edit"
LIST = "/power/profiles/list/"
API = "/api/v1/power_profile/"
PASSWORD = "Dianli#2026ok"
P_USCC, Q_USCC = "91440101MA5CUJ2E76", "91440115MA9UQ8WE1G"
P_NAME, Q_NAME = "广东粤电建设工程有限公司", "广州南沙明珠电力工程有限公司"
NAME1 = "广州市恒通电力安装工程有限公司"
NAME2 = "佛山市南海电力检修有限公司"


def make_uscc(body: str, region: str = "440106") -> str:
    org = body + org_code_check_char(body)
    base = "91" + region + org
    return base + stdnum_uscc.calc_check_digit(base)


USCC1, USCC2 = make_uscc("52718301"), make_uscc("61803398", "440605")
BAD_USCC = USCC1[:-1] + ("0" if USCC1[-1] != "0" else "1")


def form(**over) -> dict:
    data = {
        "name": NAME1, "uscc": USCC1, "enterprise_type": "limited",
        "legal_representative": "陈志强", **address("440106"), "street": "天河北路233号",
        "registered_capital": "3000", "founded_on": "2012-05-18", "parent_id": "",
        "postal_address": "广州市天河区天河北路233号中信广场12楼", "postcode": "510620",
        "contact_name": "李娜", "contact_mobile": "13926001234", "telephone": "020-38881234",
        "email": "Office@HengTong.example.cn", "password": PASSWORD, "confirm": PASSWORD,
        "captcha": "",
    }
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def register(client, **over):
    return client.post(REGISTER, data=form(**over))


def enterprise_of(db_session, uscc: str):
    from app.models.org import Enterprise

    return db_session.query(Enterprise).filter(Enterprise.uscc == uscc).one()


def profile_of(db_session, uscc: str):
    from app.models.licence import PowerProfile

    return db_session.query(PowerProfile).filter_by(
        enterprise_id=enterprise_of(db_session, uscc).id).one()


def snapshot(db_session, uscc: str) -> tuple:
    """Everything P2 could touch of one enterprise."""
    db_session.expire_all()
    ent, prof = enterprise_of(db_session, uscc), profile_of(db_session, uscc)
    values = (ent.name, ent.uscc, ent.legal_representative, ent.address, ent.region_code,
              ent.contact_name, ent.contact_mobile, prof.enterprise_type, prof.parent_id,
              prof.registered_capital, prof.founded_on, prof.postal_address, prof.postcode,
              prof.telephone, prof.email)
    db_session.remove()
    return values


def web_login(app, username, password=PASSWORD):
    c = app.test_client()
    return c, login(c, username, password)


def enterprise_id(db_session, uscc: str) -> int:
    ent_id = enterprise_of(db_session, uscc).id
    db_session.remove()
    return ent_id


def add_power_enterprises(db_session, names) -> list[int]:
    """Power enterprises straight in the database (the popup's candidates)."""
    from app.models.org import Enterprise, Sector

    power = db_session.query(Sector).filter_by(code="power").one()
    rows = [Enterprise(name=n, uscc=None, region_code="440106", status="active",
                       address=f"秘密地址{i}号", contact_name=f"秘密联系人{i}",
                       contact_mobile="13800000000", sectors=[power])
            for i, n in enumerate(names)]
    db_session.add_all(rows)
    db_session.commit()
    out = [r.id for r in rows]
    db_session.remove()
    return out


# ----- P1: the page ------------------------------------------------------------------------
def test_register_page_is_public_linked_and_complete(client):
    login_page = client.get("/login/")
    assert REGISTER in login_page.text and 'id="power-register-link"' in login_page.text
    r = client.get(REGISTER)
    assert r.status_code == 200
    for name in ("name", "uscc", "enterprise_type", "legal_representative",
                 "region_code-province", "region_code-city", "region_code", "street",
                 "registered_capital", "founded_on", "parent_id", "postal_address", "postcode",
                 "contact_name", "contact_mobile", "telephone", "email", "password", "confirm"):
        assert f'name="{name}"' in r.text, name
    assert 'id="parent-modal"' in r.text and 'id="parent-choose"' in r.text
    assert "js/power-parent-picker.js" in r.text
    # CSP: every script is a file with the nonce, no inline code, no style attributes.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", r.text)
    assert ' style="' not in r.text
    assert "广东省" in r.text  # provinces from the region table
    home = client.get("/").text
    assert REGISTER in home  # the menu entry for anonymous visitors


# ----- P1: happy path, login by USCC ----------------------------------------------------------
def test_registration_creates_enterprise_profile_and_admin_account(app, client, db_session):
    before = count_enterprises(db_session)
    r = register(client)
    assert r.status_code == 302 and r.location.endswith("/public/power/register/done")
    done = client.get(r.location)
    assert done.status_code == 200 and USCC1 in done.text and 'id="register-login"' in done.text
    assert client.get("/public/power/register/done").status_code == 302  # shown once

    from app import security as s
    from app.models.audit import AuditEvent
    from app.models.identity import AppUser

    assert count_enterprises(db_session) == before + 1
    ent, prof = enterprise_of(db_session, USCC1), profile_of(db_session, USCC1)
    assert (ent.name, ent.region_code, ent.address, ent.legal_representative) == (
        NAME1, "440106", "天河北路233号", "陈志强")
    assert [sec.code for sec in ent.sectors] == ["power"] and ent.status == "active"
    assert (ent.contact_name, ent.contact_mobile) == ("李娜", "13926001234")
    assert prof.enterprise_type == "limited" and prof.parent_id is None
    assert prof.registered_capital == 3000 and prof.founded_on == datetime.date(2012, 5, 18)
    assert (prof.postal_address, prof.postcode, prof.telephone, prof.email) == (
        "广州市天河区天河北路233号中信广场12楼", "510620", "020-38881234",
        "office@hengtong.example.cn")
    user = db_session.query(AppUser).filter_by(username=USCC1).one()
    assert user.enterprise_id == ent.id and user.active and not user.must_change_password
    assert [role.name for role in user.roles] == [s.ROLE_ENT_ADMIN]
    assert user.email == "office@hengtong.example.cn" and user.mobile == "13926001234"
    actions = {(a.action, a.target_type) for a in db_session.query(AuditEvent).filter(
        AuditEvent.enterprise_id == ent.id)}
    assert {("register", "enterprise"), ("create", "enterprise"),
            ("create", "power_profile"), ("create", "ab_user")} <= actions
    db_session.remove()


def test_login_with_the_uscc_html_and_api(app, client):
    assert register(client).status_code == 302
    for name in (USCC1, USCC1.lower(), f" {USCC1} "):
        c, resp = web_login(app, name)
        assert resp.status_code == 302 and "/login/" not in resp.location, name
        assert c.get(PROFILE).status_code == 200
        token = api_token(app.test_client(), name.strip(), PASSWORD)
        mine = app.test_client().get(API, headers=bearer(token)).get_json()
        assert [row["enterprise"]["name"] for row in mine["result"]] == [NAME1]


def test_demo_power_enterprise_signs_in_with_its_uscc(app):
    """ent.p was created before self-registration: its USCC stands for its admin (the
    login-name mechanism of the used-car module, extended to power enterprises)."""
    from conftest import PASSWORDS

    c, resp = web_login(app, P_USCC, PASSWORDS["ent.p"])
    assert resp.status_code == 302 and "/login/" not in resp.location
    assert P_NAME in c.get(PROFILE).text
    with app.test_request_context("/login/", method="POST"):
        assert app.appbuilder.sm.login_name(P_USCC.lower()) == "ent.p"
        assert app.appbuilder.sm.login_name("91440101MA59XXKL1H") == "91440101MA59XXKL1H"


def test_the_service_refuses_what_the_form_would(app, db_session):
    from app.services import power_accounts as accounts
    from app.services.enterprise_accounts import RegistrationConflictError, RegistrationError

    reg = accounts.Registration(
        name=NAME2, uscc=USCC2, enterprise_type="limited", legal_representative="何",
        region_code="440605", address="x", postal_address="x", postcode="528200",
        registered_capital=None, founded_on=None, contact_name="何", contact_mobile=
        "13800001111", telephone=None, email="a@b.cn", parent_id=None, password="weak")
    with app.test_request_context():
        with pytest.raises(RegistrationError) as err:
            accounts.register(reg)
        assert set(err.value.errors) == {"password"} and err.value.code == 422
        reg.password, reg.enterprise_type, reg.parent_id = PASSWORD, "teleport", 10 ** 9
        with pytest.raises(RegistrationError) as err:
            accounts.register(reg)
        assert set(err.value.errors) == {"enterprise_type", "parent_id"}
        reg.enterprise_type, reg.parent_id, reg.uscc = "private", None, P_USCC
        with pytest.raises(RegistrationConflictError) as err:
            accounts.register(reg)
        assert set(err.value.errors) == {"uscc"} and err.value.code == 409


# ----- P1: every validation error at its field, nothing saved -----------------------------------
@pytest.mark.parametrize("over, field", [
    ({"name": ""}, "name"),
    ({"name": "x"}, "name"),
    ({"uscc": ""}, "uscc"),
    ({"uscc": BAD_USCC}, "uscc"),
    ({"uscc": "91440101MA5CUJ2E7"}, "uscc"),
    ({"enterprise_type": ""}, "enterprise_type"),
    ({"enterprise_type": "teleport"}, "enterprise_type"),
    ({"legal_representative": ""}, "legal_representative"),
    ({"legal_representative": "法" * 65}, "legal_representative"),
    ({"region_code": ""}, "region_code"),
    ({"region_code": "440304"}, "region_code"),  # Futian is in Shenzhen, not Guangzhou
    (address("440106", city="440300"), "region_code"),
    ({"region_code": "449999"}, "region_code"),
    ({"street": ""}, "street"),
    ({"registered_capital": ""}, "registered_capital"),
    ({"registered_capital": "abc"}, "registered_capital"),
    ({"registered_capital": "-5"}, "registered_capital"),
    ({"registered_capital": "100000000"}, "registered_capital"),
    ({"founded_on": ""}, "founded_on"),
    ({"founded_on": "2012-13-01"}, "founded_on"),
    ({"founded_on": (datetime.date.today() + datetime.timedelta(days=1)).isoformat()},
     "founded_on"),
    ({"founded_on": "1899-12-31"}, "founded_on"),
    ({"postal_address": ""}, "postal_address"),
    ({"postcode": ""}, "postcode"),
    ({"postcode": "51062"}, "postcode"),
    ({"postcode": "51062A"}, "postcode"),
    ({"contact_name": ""}, "contact_name"),
    ({"contact_mobile": ""}, "contact_mobile"),
    ({"contact_mobile": "12912345678"}, "contact_mobile"),
    ({"contact_mobile": "1391234567"}, "contact_mobile"),
    ({"telephone": "电话"}, "telephone"),
    ({"email": ""}, "email"),
    ({"email": "office@"}, "email"),
    ({"email": "not an address"}, "email"),
    ({"parent_id": "abc"}, "parent_id"),
    ({"parent_id": "999999"}, "parent_id"),
    ({"password": "short", "confirm": "short"}, "password"),
    ({"password": "abcdefgh1", "confirm": "abcdefgh1"}, "password"),  # no capital
    ({"confirm": PASSWORD + "x"}, "confirm"),
])
def test_bad_input_is_shown_at_its_field_and_nothing_is_saved(client, db_session, over, field):
    before = count_enterprises(db_session)
    r = register(client, **over)
    assert r.status_code == 422
    assert has_field_error(r.text, field), field
    assert count_enterprises(db_session) == before
    assert 'value="' + PASSWORD not in r.text  # passwords are never sent back


def test_password_equal_to_the_uscc_is_refused(client, db_session):
    r = register(client, password=USCC1, confirm=USCC1)
    assert r.status_code == 422 and has_field_error(r.text, "password")


def test_errors_are_translated(client):
    """WTForms' and the platform's messages (the module's own msgids are translated in the
    catalog at merge: pwregister.zh.tsv)."""
    r = register(client, name="", contact_mobile="12", uscc=BAD_USCC)
    assert r.status_code == 422
    assert "必填" in r.text or "不能为空" in r.text
    assert "This field is required" not in r.text
    assert "Enter an 11-digit mainland mobile number" not in r.text
    assert "Not a valid unified social credit code" not in r.text


@pytest.mark.parametrize("uscc", [P_USCC, P_USCC.lower(), "91440101MA59XXKL1H"])
def test_a_registered_uscc_is_refused(client, db_session, uscc):
    """ent.p's USCC (any case), rental enterprise A's."""
    before = count_enterprises(db_session)
    r = register(client, uscc=uscc)
    assert r.status_code == 422 and has_field_error(r.text, "uscc")
    assert "已注册" in r.text or "already registered" in r.text
    assert count_enterprises(db_session) == before


def test_the_same_registration_twice_is_refused(client, db_session):
    assert register(client).status_code == 302
    before = count_enterprises(db_session)
    r = register(client, name=NAME2)
    assert r.status_code == 422 and has_field_error(r.text, "uscc")
    assert count_enterprises(db_session) == before


def test_wrong_captcha_is_refused_and_nothing_saved(app, client, db_session, monkeypatch):
    from app.services import captcha

    app.config["CAPTCHA_ENABLED"] = True
    monkeypatch.setattr(captcha, "_new_answer", lambda: "K7PX")
    page = client.get(REGISTER)
    assert 'id="captcha-img"' in page.text
    client.get("/captcha.png")
    before = count_enterprises(db_session)
    r = register(client, captcha="XXXX")
    assert r.status_code == 422 and 'id="captcha-error"' in r.text
    assert count_enterprises(db_session) == before
    r = register(client, captcha="K7PX")  # the challenge was spent by the wrong answer
    assert r.status_code == 422 and count_enterprises(db_session) == before
    client.get("/captcha.png")
    assert register(client, captcha="k7px").status_code == 302
    assert count_enterprises(db_session) == before + 1


def test_registration_is_rate_limited_per_address(app):
    def post(address):
        return app.test_client().post(REGISTER, data={"name": ""},
                                      environ_base={"REMOTE_ADDR": address})

    codes = [post("10.7.0.1").status_code for _ in range(11)]
    assert codes[:10] == [422] * 10 and codes[10] == 429
    assert post("10.7.0.2").status_code == 422  # another address has its own budget


def test_registration_needs_a_csrf_token(app, client, db_session):
    app.config["WTF_CSRF_ENABLED"] = True
    before = count_enterprises(db_session)
    assert register(client).status_code in (400, 422)
    assert count_enterprises(db_session) == before
    token = csrf_token_from(client.get(REGISTER).text)
    assert register(client, csrf_token=token).status_code == 302


def test_the_power_regulator_supervises_the_new_enterprise(app, client, as_user):
    assert register(client).status_code == 302
    assert NAME1 in as_user("reg.power").get(LIST).text
    assert NAME1 not in as_user("reg.rental").get("/enterprises/list/").text


# ----- the parent-enterprise popup -----------------------------------------------------------
def search(client, **args):
    r = client.get(PARENTS, query_string=args)
    return r, (r.get_json() if r.is_json else None)


def test_popup_lists_names_only(client):
    r, body = search(client)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    assert {tuple(sorted(item)) for item in body["items"]} == {("id", "name")}
    names = [item["name"] for item in body["items"]]
    assert P_NAME in names and Q_NAME in names
    assert "广州市穗通汽车租赁有限公司" not in names  # a rental enterprise: not selectable
    text = r.get_data(as_text=True)
    for secret in (P_USCC, Q_USCC, "冯建民", "13527004567", "海滨路"):  # USCC, legal, contact
        assert secret not in text


def test_popup_searches_by_part_of_the_name_and_pages(client, db_session):
    names = [f"测试电力工程{i:02d}号有限公司" for i in range(23)]
    ids = add_power_enterprises(db_session, names)
    r, body = search(client, q="电力工程")
    got = [item["name"] for item in body["items"]]
    assert len(got) == 10 and body["page"] == 0 and body["has_next"] and not body["has_previous"]
    seen = list(got)
    page = 0
    while body["has_next"]:
        page += 1
        r, body = search(client, q="电力工程", page=page)
        assert r.status_code == 200 and len(body["items"]) <= 10
        seen += [item["name"] for item in body["items"]]
    assert page == 2 and body["has_previous"]
    assert set(names) <= set(seen) and len(seen) == len(set(seen))
    assert seen == sorted(seen)  # name order, no row twice across pages
    r, body = search(client, q="程07号")  # a fragment from the middle
    assert [item["id"] for item in body["items"]] == [ids[7]]
    r, body = search(client, q="%")  # LIKE wildcards are literal
    assert body["items"] == []
    r, body = search(client, q="没有这个企业")
    assert body["items"] == [] and not body["has_next"]


@pytest.mark.parametrize("args", [{"q": "电" * 51}, {"page": "51"}, {"page": "-1"},
                                  {"page": "x"}])
def test_popup_caps_the_query_and_the_pages(client, args):
    r, body = search(client, **args)
    assert r.status_code == 400 and body["message"]


def test_popup_is_rate_limited(app):
    app.config["POWER_PARENT_SEARCH_RATE_LIMIT"] = "5 per minute"
    try:
        c = app.test_client()
        codes = [c.get(PARENTS, environ_base={"REMOTE_ADDR": "10.7.1.1"}).status_code
                 for _ in range(6)]
        assert codes == [200] * 5 + [429]
    finally:
        app.config.pop("POWER_PARENT_SEARCH_RATE_LIMIT")


def test_popup_leaves_out_the_signed_in_enterprise(as_user):
    _r, body = search(as_user("ent.p"))
    names = [item["name"] for item in body["items"]]
    assert P_NAME not in names and Q_NAME in names


def test_registration_with_a_parent(app, client, db_session):
    p_id = enterprise_id(db_session, P_USCC)
    r = register(client, parent_id=str(p_id))
    assert r.status_code == 302
    assert profile_of(db_session, USCC1).parent_id == p_id
    db_session.remove()


@pytest.mark.parametrize("which", ["unknown", "rental", "suspended"])
def test_forged_parent_id_is_refused(client, db_session, which):
    from app.models.org import Enterprise

    if which == "unknown":
        forged = 10 ** 9
    elif which == "rental":
        forged = db_session.query(Enterprise.id).filter_by(
            name="广州市穗通汽车租赁有限公司").scalar()
    else:
        [forged] = add_power_enterprises(db_session, ["已停业电力公司"])
        db_session.query(Enterprise).filter_by(id=forged).update({"status": "suspended"})
        db_session.commit()
    db_session.remove()
    before = count_enterprises(db_session)
    r = register(client, parent_id=str(forged))
    assert r.status_code == 422 and has_field_error(r.text, "parent_id")
    assert count_enterprises(db_session) == before


# ----- P2 my information ---------------------------------------------------------------------
def edit_form(**over) -> dict:
    data = {"registered_capital": "3500.50", "founded_on": "2012-05-18", "parent_id": "",
            "postal_address": "广州市天河区体育西路1号", "postcode": "510630",
            "contact_name": "王强", "contact_mobile": "13700001111", "telephone": "",
            "email": "new@hengtong.example.cn"}
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture()
def one(app, client):
    """A registered power enterprise (USCC1), its admin signed in."""
    assert register(client).status_code == 302
    c, resp = web_login(app, USCC1)
    assert resp.status_code == 302
    return c


def test_my_information_shows_the_record_and_the_locked_fields(one):
    r = one.get(PROFILE)
    assert r.status_code == 200
    for text in (NAME1, USCC1, "陈志强", "天河区", "天河北路233号", "李娜", "13926001234",
                 "510620", 'id="profile-edit"', 'id="locked-notice"',
                 'href="/power/requests/new/registration_change"'):
        assert text in r.text, text


def test_edit_page_offers_only_what_may_change(one):
    page = one.get(EDIT)
    assert page.status_code == 200
    for name in ("name", "uscc", "enterprise_type", "legal_representative", "street",
                 "region_code", "address"):
        assert f'name="{name}"' not in page.text, name  # shown read-only, never offered
    for name in ("postal_address", "postcode", "registered_capital", "founded_on",
                 "contact_name", "contact_mobile", "telephone", "email", "parent_id"):
        assert f'name="{name}"' in page.text, name
    assert NAME1 in page.text and "陈志强" in page.text
    assert "登记事项变更" in page.text and 'id="registration-change-link"' in page.text
    assert 'id="parent-modal"' in page.text


def test_edit_changes_what_may_change(one, db_session):
    before = snapshot(db_session, USCC1)
    q_id = enterprise_id(db_session, Q_USCC)
    r = one.post(EDIT, data=edit_form(parent_id=str(q_id)))
    assert r.status_code == 302 and r.location.endswith(PROFILE)
    after = snapshot(db_session, USCC1)
    assert after[:5] == before[:5] and after[7] == before[7]  # locked fields as they were
    assert after[5:7] == ("王强", "13700001111")
    assert after[8:] == (q_id, 3500.50, datetime.date(2012, 5, 18), "广州市天河区体育西路1号",
                         "510630", None, "new@hengtong.example.cn")
    assert Q_NAME in one.get(PROFILE).text  # the parent by name
    assert one.get(EDIT).text.count(Q_NAME) >= 1


@pytest.mark.parametrize("over, field", [
    ({"postcode": "5106"}, "postcode"),
    ({"email": "x@"}, "email"),
    ({"contact_mobile": "139"}, "contact_mobile"),
    ({"registered_capital": "0"}, "registered_capital"),
    ({"founded_on": "2999-01-01"}, "founded_on"),
    ({"postal_address": ""}, "postal_address"),
    ({"parent_id": "999999"}, "parent_id"),
])
def test_edit_validates(one, db_session, over, field):
    before = snapshot(db_session, USCC1)
    r = one.post(EDIT, data=edit_form(**over))
    assert r.status_code == 422 and has_field_error(r.text, field)
    assert snapshot(db_session, USCC1) == before


def test_the_enterprise_cannot_be_its_own_parent(one, db_session):
    before = snapshot(db_session, USCC1)
    own = enterprise_id(db_session, USCC1)
    r = one.post(EDIT, data=edit_form(parent_id=str(own)))
    assert r.status_code == 422 and has_field_error(r.text, "parent_id")
    assert snapshot(db_session, USCC1) == before


@pytest.mark.parametrize("forged", [
    {"name": "改名电力有限公司"}, {"enterprise_type": "private"},
    {"legal_representative": "张三"}, {"address": "别处1号"}, {"region_code": "440111"}])
def test_forged_post_of_a_locked_field_is_refused_and_changes_nothing(one, db_session, forged):
    before = snapshot(db_session, USCC1)
    r = one.post(EDIT, data=edit_form(**forged))
    assert r.status_code == 422
    assert "登记事项变更" in r.text and "/power/requests/new/registration_change" in r.text
    assert snapshot(db_session, USCC1) == before  # not even the editable fields


def test_locked_fields_posted_unchanged_pass(one, db_session):
    r = one.post(EDIT, data=edit_form(name=NAME1, enterprise_type="limited",
                                      legal_representative=" 陈志强 "))
    assert r.status_code == 302
    assert snapshot(db_session, USCC1)[12] == "510630"


def test_my_information_is_refused_to_others(app, client, as_user):
    for path in (PROFILE, EDIT):
        r = client.get(path)
        assert r.status_code == 302 and "/login/" in r.location
    r = client.post(EDIT, data=edit_form())
    assert r.status_code == 302 and "/login/" in r.location
    a = as_user("ent.a")  # an enterprise admin of another sector: no power record
    assert a.get(PROFILE).status_code == 404
    assert a.post(EDIT, data=edit_form()).status_code == 404
    reg = as_user("reg.power")
    r = reg.get(PROFILE)
    assert r.status_code == 302 and r.location.endswith(LIST)
    assert reg.post(EDIT, data=edit_form()).status_code in (302, 403)


def test_each_enterprise_edits_only_its_own_record(app, as_user, db_session):
    q_before = snapshot(db_session, Q_USCC)
    p = as_user("ent.p")
    page = p.get(PROFILE).text
    assert P_NAME in page and Q_NAME not in page
    assert p.post(EDIT, data=edit_form(email="p@yuedian.example.cn")).status_code == 302
    assert snapshot(db_session, P_USCC)[-1] == "p@yuedian.example.cn"
    assert snapshot(db_session, Q_USCC) == q_before


def test_staff_see_my_information_but_do_not_edit_it(app, one, db_session):
    from app import security as s
    from app.models.identity import AppUser

    ent_id = enterprise_id(db_session, USCC1)
    sm = app.appbuilder.sm
    staff = sm.add_user("pw.staff", "员", "职", "pw.staff@example.cn",
                        sm.find_role(s.ROLE_ENT_STAFF), password="Staff#2026pw")
    db_session.query(AppUser).filter_by(id=staff.id).update(
        {"enterprise_id": ent_id, "must_change_password": False})
    db_session.commit()
    db_session.remove()
    before = snapshot(db_session, USCC1)
    c, _ = web_login(app, "pw.staff", "Staff#2026pw")
    page = c.get(PROFILE)
    assert page.status_code == 200 and NAME1 in page.text and 'id="profile-edit"' not in page.text
    assert c.get(EDIT).status_code in (302, 403)
    assert c.post(EDIT, data=edit_form()).status_code in (302, 403)
    assert snapshot(db_session, USCC1) == before


# ----- the REST API --------------------------------------------------------------------------
def _profile_id(db_session, uscc):
    pid = profile_of(db_session, uscc).id
    db_session.remove()
    return pid


def test_api_get_put_and_locked_fields(app, db_session):
    token = api_token(app.test_client(), "ent.p")
    c = app.test_client()
    p_id, q_id = _profile_id(db_session, P_USCC), _profile_id(db_session, Q_USCC)
    r = c.get(f"{API}{p_id}", headers=bearer(token))
    assert r.status_code == 200 and r.get_json()["result"]["enterprise"]["name"] == P_NAME
    assert c.get(f"{API}{q_id}", headers=bearer(token)).status_code == 404
    assert c.put(f"{API}{q_id}", json={"postcode": "510000"},
                 headers=bearer(token)).status_code == 404
    before = snapshot(db_session, P_USCC)
    for locked in ({"enterprise_type": "private"}, {"name": "改名"},
                   {"legal_representative": "张三"}, {"address": "别处"},
                   {"enterprise_type": "private", "postcode": "510000"}):
        r = c.put(f"{API}{p_id}", json=locked, headers=bearer(token))
        assert r.status_code == 422, locked
        assert "登记事项变更" in r.get_json()["message"] or "registration-item" in \
            r.get_json()["message"]
    assert snapshot(db_session, P_USCC) == before
    r = c.put(f"{API}{p_id}", json={"postcode": "51", "email": "x"}, headers=bearer(token))
    assert r.status_code == 422 and set(r.get_json()["message"]) == {"postcode", "email"}
    r = c.put(f"{API}{p_id}", json={"parent_id": enterprise_id(db_session, P_USCC)},
              headers=bearer(token))
    assert r.status_code == 422 and "parent_id" in r.get_json()["message"]
    r = c.put(f"{API}{p_id}", json={"surprise": 1}, headers=bearer(token))
    assert r.status_code == 422
    assert snapshot(db_session, P_USCC) == before
    q_ent = enterprise_id(db_session, Q_USCC)
    r = c.put(f"{API}{p_id}", json={"postcode": "510000", "registered_capital": 6000,
                                    "parent_id": q_ent, "enterprise_type": "limited",
                                    "contact_mobile": "13600002222"},
              headers=bearer(token))
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["result"]["postcode"] == "510000"
    after = snapshot(db_session, P_USCC)
    assert after[8] == q_ent and after[9] == 6000 and after[6] == "13600002222"


def test_api_is_refused_to_anonymous_and_read_only_for_regulators(app, db_session):
    p_id = _profile_id(db_session, P_USCC)
    c = app.test_client()
    assert c.get(API).status_code == 401
    assert c.get(f"{API}{p_id}").status_code == 401
    assert c.put(f"{API}{p_id}", json={"postcode": "510000"}).status_code == 401
    token = api_token(app.test_client(), "reg.power")
    assert c.get(f"{API}{p_id}", headers=bearer(token)).status_code == 200
    assert c.put(f"{API}{p_id}", json={"postcode": "510000"},
                 headers=bearer(token)).status_code == 403
    rental = api_token(app.test_client(), "reg.rental")
    assert c.get(API, headers=bearer(rental)).get_json()["count"] == 0
    assert c.get(f"{API}{p_id}", headers=bearer(rental)).status_code == 404


def test_enterprise_api_and_admin_screen_refuse_locked_fields(app, as_user, db_session):
    """The platform's enterprise screens meet the same lock (app/models/locks.py)."""
    p_id = enterprise_id(db_session, P_USCC)
    before = snapshot(db_session, P_USCC)
    token = api_token(app.test_client(), "admin")
    for change in ({"name": "改名"}, {"legal_representative": "张三"}, {"address": "别处"}):
        r = app.test_client().put(f"/api/v1/enterprise/{p_id}", json=change,
                                  headers=bearer(token))
        assert r.status_code == 422 and "登记事项变更" in r.get_json()["message"]
    assert snapshot(db_session, P_USCC) == before
    r = app.test_client().put(f"/api/v1/enterprise/{p_id}",
                              json={"contact_mobile": "13500001111"}, headers=bearer(token))
    assert r.status_code == 200


# ----- the model-level guard and the registration-item change ---------------------------------
def test_direct_orm_writes_of_locked_fields_are_refused(app, db_session):
    from app.errors import ImmutableFieldError
    from app.models.org import Enterprise

    before = snapshot(db_session, P_USCC)
    for attr, value in (("name", "改名"), ("legal_representative", "张三"),
                        ("address", "别处"), ("region_code", "440111")):
        ent = enterprise_of(db_session, P_USCC)
        setattr(ent, attr, value)
        with pytest.raises(ImmutableFieldError):
            db_session.commit()
        db_session.rollback()
    prof = profile_of(db_session, P_USCC)
    prof.enterprise_type = "private"
    with pytest.raises(ImmutableFieldError):
        db_session.flush()
    db_session.rollback()
    db_session.remove()
    assert snapshot(db_session, P_USCC) == before
    # Other fields, and other sectors' enterprises, are not locked.
    profile_of(db_session, P_USCC).postcode = "510999"
    enterprise_of(db_session, P_USCC).contact_name = "新联系人"
    rental = db_session.query(Enterprise).filter_by(name="广州市穗通汽车租赁有限公司").one()
    rental.name, rental.address = "广州市穗通新名称汽车租赁有限公司", "新1号"
    db_session.commit()
    db_session.remove()
    after = snapshot(db_session, P_USCC)
    assert after[:5] == before[:5] and after[5] == "新联系人" and after[12] == "510999"


def test_an_empty_value_over_null_is_no_change(app, db_session):
    """An edit form posting "" for a locked column that is NULL changes nothing."""
    from app.errors import ImmutableFieldError
    from app.models.licence import PowerProfile
    from app.models.org import Enterprise

    [ent_id] = add_power_enterprises(db_session, ["无法人记录电力公司"])
    db_session.add(PowerProfile(enterprise_id=ent_id, enterprise_type="other"))
    db_session.query(Enterprise).filter_by(id=ent_id).update(
        {"legal_representative": None, "address": None})
    db_session.commit()
    db_session.remove()
    ent = db_session.get(Enterprise, ent_id)
    ent.legal_representative, ent.address = "", ""
    db_session.commit()
    ent.legal_representative = "张三"
    with pytest.raises(ImmutableFieldError):
        db_session.commit()
    db_session.rollback()
    db_session.remove()


def test_registration_change_allowance_is_narrow(app, db_session):
    from app.errors import ImmutableFieldError
    from app.models.licence import registration_change_allowed

    p_id = enterprise_id(db_session, P_USCC)
    ent_p = enterprise_of(db_session, P_USCC)
    with registration_change_allowed(p_id):
        ent_p.name = "广东粤电新名称工程有限公司"
        profile_of(db_session, P_USCC).enterprise_type = "joint_stock"
    db_session.commit()
    assert snapshot(db_session, P_USCC)[0] == "广东粤电新名称工程有限公司"
    assert snapshot(db_session, P_USCC)[7] == "joint_stock"
    # Another enterprise inside p's allowance: refused.
    with pytest.raises(ImmutableFieldError):
        with registration_change_allowed(p_id):
            enterprise_of(db_session, Q_USCC).name = "改名"
    db_session.rollback()
    # After the block the lock is back.
    enterprise_of(db_session, P_USCC).legal_representative = "张三"
    with pytest.raises(ImmutableFieldError):
        db_session.commit()
    db_session.rollback()
    # The used-car lock is not the power allowance's to lift.
    from app.models.usedcar import UsedCarProfile

    c_id = db_session.query(UsedCarProfile.enterprise_id).first()[0]
    from app.models.org import Enterprise

    with pytest.raises(ImmutableFieldError):
        with registration_change_allowed(c_id):
            db_session.get(Enterprise, c_id).name = "改名二手车"
    db_session.rollback()
    assert snapshot(db_session, Q_USCC)[0] == Q_NAME


def test_an_approved_registration_item_change_applies(app, db_session):
    """The approval effect (app/services/licences.apply_request) changes the locked fields and
    reprints the holder on a new licence version with the same number."""
    from types import SimpleNamespace

    from app.models.licence import REGISTRATION_CHANGE, LicenceRequest
    from app.services import licences

    p_id = enterprise_id(db_session, P_USCC)
    # Outside a request, like the engine's effect in a job: unscoped.
    current = licences.current_licence(p_id)
    request = LicenceRequest(enterprise_id=p_id, matter=REGISTRATION_CHANGE,
                             licence_id=current.id, state="submitted",
                             details={"changes": {"name": "广东粤电电力建设有限公司",
                                                  "legal_representative": "林海",
                                                  "address": "黄埔大道西100号"}})
    db_session.add(request)
    db_session.flush()
    licence = licences.apply_request(request, SimpleNamespace(id=None))
    db_session.commit()
    assert (licence.holder_name, licence.legal_representative, licence.address) == (
        "广东粤电电力建设有限公司", "林海", "黄埔大道西100号")
    assert licence.number == current.number and licence.version == current.version + 1
    db_session.remove()
    assert snapshot(db_session, P_USCC)[:4] == ("广东粤电电力建设有限公司", P_USCC, "林海",
                                                "黄埔大道西100号")


# ----- the authority's list ------------------------------------------------------------------
def test_power_regulator_lists_shows_and_exports(app, as_user, db_session):
    from io import BytesIO

    from openpyxl import load_workbook

    reg = as_user("reg.power")
    page = reg.get(LIST)
    assert page.status_code == 200 and P_NAME in page.text and Q_NAME in page.text
    p_id = _profile_id(db_session, P_USCC)
    show = reg.get(f"/power/profiles/show/{p_id}")
    assert show.status_code == 200 and P_USCC in show.text and "冯建民" in show.text
    r = reg.get("/power/profiles/export/")
    assert r.status_code == 200
    rows = list(load_workbook(BytesIO(r.data)).active.iter_rows(values_only=True))
    cells = json.dumps(rows, ensure_ascii=False, default=str)
    assert P_NAME in cells and Q_NAME in cells
    assert "有限责任公司" in cells or "Limited liability company" in cells  # the type's label
    assert '"limited"' not in cells
    assert reg.get(f"/power/profiles/edit/{p_id}").status_code == 404  # read-only list


def test_other_sectors_and_enterprises_see_no_foreign_profile(app, as_user, db_session):
    p_id, q_id = _profile_id(db_session, P_USCC), _profile_id(db_session, Q_USCC)
    rental = as_user("reg.rental")
    page = rental.get(LIST)
    assert P_NAME not in page.text and Q_NAME not in page.text
    assert rental.get(f"/power/profiles/show/{p_id}").status_code == 404  # permission, no scope
    r = rental.get("/power/profiles/export/")
    assert r.status_code == 200 and P_NAME.encode() not in r.data
    p = as_user("ent.p")
    page = p.get(LIST).text
    assert P_NAME in page and Q_NAME not in page
    assert p.get(f"/power/profiles/show/{q_id}").status_code == 404
    assert p.get("/power/profiles/export/").status_code == 403  # not an enterprise's
    anon = app.test_client()
    r = anon.get(LIST)
    assert r.status_code == 302 and "/login/" in r.location
    r = anon.get(f"/power/profiles/show/{p_id}")
    assert r.status_code == 302 and "/login/" in r.location
