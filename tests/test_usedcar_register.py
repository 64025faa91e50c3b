"""Used-car enterprises (seed 001 §2.1, SPEC U1-U2): self-registration, login with the USCC or
the business licence number, the registration profile, and name / USCC / enterprise type
that never change (profile form, forged posts, the enterprise API, the admin's edit screen)."""

from __future__ import annotations

import pytest
from conftest import api_token, bearer, csrf_token_from, ids, login
from sqlalchemy import event, func
from stdnum.cn import uscc as stdnum_uscc
from stdnum.iso7064 import mod_11_10

from app.services.cn_codes import org_code_check_char, org_code_valid, tax_no_valid

REGISTER = "/public/usedcar/register"
PASSWORD = "Yangcheng#2026"


def make_org(body: str) -> str:
    return body + org_code_check_char(body)


def make_uscc(org: str, region: str = "440106") -> str:
    base = "91" + region + org
    return base + stdnum_uscc.calc_check_digit(base)


def make_licence(body: str) -> str:
    return body + mod_11_10.calc_check_digit(body)


ORG1, ORG2, ORG3 = make_org("31415926"), make_org("27182818"), make_org("16180339")
USCC1, USCC2 = make_uscc(ORG1), make_uscc(ORG2)
LICENCE1, LICENCE2, LICENCE3 = (make_licence("44010600012345"), make_licence("44010600054321"),
                                make_licence("44011100077777"))
NAME1 = "广州市诚信二手车经纪有限公司"
NAME2 = "广州市天河旧机动车经销有限公司"
NAME3 = "广州市白云二手车拍卖有限公司"


def domicile(district: str, city: str | None = None, province: str | None = None) -> dict:
    """The three region selects: province and city posted beside the district code."""
    return {"region_code-province": province or district[:2] + "0000",
            "region_code-city": city or district[:4] + "00", "region_code": district}


def form(**over) -> dict:
    data = {
        "name": NAME1, **domicile("440106"),
        "street": "天河路100号", "has_uscc": "1", "uscc": USCC1, "licence_no": "",
        "org_code": "", "tax_no": "", "password": PASSWORD, "confirm": PASSWORD,
        "enterprise_type": "dealer", "business_types": ["broker", "dealer"],
        "filer_name": "赵敏", "filer_mobile": "13912345678", "captcha": "",
    }
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


NO_USCC = {"name": NAME3, "has_uscc": "0", "uscc": "", "licence_no": LICENCE3,
           "org_code": ORG3[:8] + "-" + ORG3[8], "tax_no": "440111" + ORG3,
           **domicile("440111"), "business_types": ["auction"],
           "enterprise_type": "supplier_import"}


def register(client, **over):
    return client.post(REGISTER, data=form(**over))


def count_enterprises(db_session) -> int:
    from app.models.org import Enterprise

    n = db_session.query(func.count(Enterprise.id)).scalar()
    db_session.remove()
    return n


def has_field_error(html: str, field: str) -> bool:
    """The form group of `field` is marked as an error and holds a message."""
    head, _, tail = html.partition(f'id="group-{field}"')
    if not tail:
        return False
    opening = head.rsplit("<div", 1)[-1]
    return "has-error" in opening and "field-error" in tail.split('class="form-group', 1)[0]


def registered(db_session, username: str):
    """(enterprise, profile, user) of a registration, detached-safe values."""
    from app.models.identity import AppUser
    from app.models.usedcar import UsedCarProfile

    user = db_session.query(AppUser).filter(
        func.lower(AppUser.username) == username.lower()).one()
    profile = db_session.query(UsedCarProfile).filter_by(enterprise_id=user.enterprise_id).one()
    return profile.enterprise, profile, user


def web_login(app, username, password=PASSWORD):
    c = app.test_client()
    resp = login(c, username, password)
    return c, resp


# ----- the code checks ------------------------------------------------------------------------
def test_code_checks():
    assert org_code_check_char("60003734") == "1"  # the code inside 91110000600037341L
    assert org_code_valid("60003734-1") and not org_code_valid("60003734-2")
    assert org_code_valid(ORG1) and not org_code_valid(ORG1[:8] + "Y")
    assert tax_no_valid("440106" + ORG1) and not tax_no_valid("44010" + ORG1)
    assert tax_no_valid(USCC1) and tax_no_valid("11010519491231002X")  # USCC / resident ID
    assert tax_no_valid("11010519491231002X01") and not tax_no_valid("110105194912310021")


# ----- the page ---------------------------------------------------------------------------------
def test_register_page_is_public_and_linked_from_the_login_page(client):
    login_page = client.get("/login/")
    assert REGISTER in login_page.text and 'id="usedcar-register-link"' in login_page.text
    r = client.get(REGISTER)
    assert r.status_code == 200
    for name in ("name", "region_code-province", "region_code-city", "region_code", "street",
                 "has_uscc", "uscc",
                 "licence_no", "org_code", "tax_no", "password", "confirm", "enterprise_type",
                 "business_types", "filer_name", "filer_mobile"):
        assert f'name="{name}"' in r.text, name
    # The red notes: the immutable fields and each enterprise type explained.
    assert 'id="immutable-note"' in r.text
    assert r.text.count("usedcar-note") >= 6
    assert "广东省" in r.text  # provinces from the region table


# ----- U1 happy path --------------------------------------------------------------------------
def test_registration_creates_enterprise_profile_and_admin_account(app, client, db_session):
    before = count_enterprises(db_session)
    r = register(client, licence_no=LICENCE1, tax_no="440106" + ORG1)
    assert r.status_code == 302 and r.location.endswith("/public/usedcar/register/done")
    done = client.get(r.location)
    assert done.status_code == 200 and USCC1 in done.text and 'id="register-login"' in done.text
    assert 'id="register-next-steps"' in done.text
    assert client.get("/public/usedcar/register/done").status_code == 302  # shown once

    from app import security as s
    from app.models.audit import AuditEvent

    assert count_enterprises(db_session) == before + 1
    ent, profile, user = registered(db_session, USCC1)
    assert (ent.name, ent.uscc, ent.region_code, ent.address) == (NAME1, USCC1, "440106",
                                                                 "天河路100号")
    assert [sec.code for sec in ent.sectors] == ["usedcar"] and ent.status == "active"
    assert (ent.contact_name, ent.contact_mobile) == ("赵敏", "13912345678")
    assert profile.has_uscc and profile.licence_no == LICENCE1
    assert profile.org_code == ORG1  # characters 9-17 of the USCC
    assert profile.tax_no == "440106" + ORG1
    assert profile.enterprise_type == "dealer"
    assert profile.business_types == "dealer,broker"  # BUSINESS_TYPES order
    assert profile.confirmed_on is None
    assert user.username == USCC1 and user.enterprise_id == ent.id and user.active
    assert [role.name for role in user.roles] == [s.ROLE_ENT_ADMIN]
    assert user.must_change_password is False and user.mobile == "13912345678"
    actions = {(a.action, a.target_type) for a in db_session.query(AuditEvent).filter(
        AuditEvent.enterprise_id == ent.id)}
    assert {("register", "enterprise"), ("create", "enterprise"),
            ("create", "usedcar_profile"), ("create", "ab_user")} <= actions
    db_session.remove()


def test_registration_without_uscc_uses_the_licence_number(app, client, db_session):
    r = register(client, **NO_USCC)
    assert r.status_code == 302, r.text
    ent, profile, user = registered(db_session, LICENCE3)
    assert ent.uscc is None and ent.region_code == "440111"
    assert not profile.has_uscc and profile.licence_no == LICENCE3
    assert profile.org_code == ORG3 and profile.tax_no == "440111" + ORG3
    assert profile.enterprise_type == "supplier_import" and profile.business_types == "auction"
    assert user.username == LICENCE3
    db_session.remove()
    c, resp = web_login(app, LICENCE3)
    assert resp.status_code == 302 and "/login/" not in resp.location
    assert api_token(app.test_client(), LICENCE3, PASSWORD)


def test_typed_no_uscc_is_not_kept(client, db_session):
    """"No USCC" chosen with a code still typed: the enterprise has none."""
    assert register(client, **{**NO_USCC, "uscc": USCC2}).status_code == 302
    ent, profile, _user = registered(db_session, LICENCE3)
    assert ent.uscc is None and not profile.has_uscc
    db_session.remove()


# ----- U2 login with the USCC or the business licence number ----------------------------------
def test_login_by_uscc_or_licence_number_html_and_api(app, client, db_session):
    assert register(client, licence_no=LICENCE1).status_code == 302
    for name in (USCC1, USCC1.lower(), LICENCE1, f" {LICENCE1} "):
        c, resp = web_login(app, name)
        assert resp.status_code == 302 and "/login/" not in resp.location, name
        home = c.get("/")
        assert USCC1 in home.text, name  # signed in as the registration account
        token = api_token(app.test_client(), name.strip(), PASSWORD)
        me = app.test_client().get("/api/v1/enterprise/", headers=bearer(token))
        assert me.status_code == 200 and me.get_json()["result"][0]["name"] == NAME1


def test_wrong_password_by_licence_number_looks_like_an_unknown_user(app, client, db_session):
    assert register(client, licence_no=LICENCE1).status_code == 302
    answers = []
    for name in (LICENCE1, LICENCE2, "nobody"):
        c = app.test_client()
        r = c.post("/login/", data={"username": name, "password": "Wrong#2026pw"})
        assert r.status_code == 200
        answers.append("用户名或密码错误" in r.text or "Wrong user name or password" in r.text)
        api = c.post("/api/v1/security/login", json={"username": name, "password": "Wrong#2026pw",
                                                      "provider": "db"})
        assert api.status_code == 401
    assert answers == [True, True, True]
    from app.models.identity import AppUser

    # The failures count on the account the licence number names.
    assert db_session.query(AppUser.fail_login_count).filter_by(
        username=USCC1).scalar() == 2
    db_session.remove()


def test_alias_lookup_is_one_query_for_known_and_unknown_names(app, client, db_session):
    assert register(client, licence_no=LICENCE1).status_code == 302
    from app.extensions import db
    from app.services.usedcar_accounts import username_for_licence

    with app.test_request_context("/login/", method="POST"):
        statements = []

        def count(*_args, **_kwargs):
            statements.append(1)

        engine = db.engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            assert username_for_licence(LICENCE1) == USCC1
            known = len(statements)
            assert username_for_licence(LICENCE2) is None
            unknown = len(statements) - known
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert known == unknown == 1


@pytest.mark.parametrize("path", ["/login/", "/api/v1/security/login"])
def test_both_login_names_share_one_rate_limit_bucket(app, client, path):
    """10 wrong passwords a minute per account: 5 by USCC and 5 by licence number (from
    different addresses) use it up; the 11th is refused by either name."""
    assert register(client, licence_no=LICENCE1).status_code == 302

    def attempt(name, address):
        body = {"username": name, "password": "x"}
        if path.startswith("/api/"):
            return app.test_client().post(path, json={**body, "provider": "db"},
                                          environ_base={"REMOTE_ADDR": address})
        return app.test_client().post(path, data=body, environ_base={"REMOTE_ADDR": address})

    for i in range(10):
        assert attempt(USCC1 if i % 2 else LICENCE1, f"10.9.0.{i}").status_code in (200, 401)
    assert attempt(LICENCE1, "10.9.1.1").status_code == 429
    assert attempt(USCC1.lower(), "10.9.1.2").status_code == 429
    assert attempt("ent.a", "10.9.1.3").status_code != 429  # another account's bucket


def test_forgot_password_accepts_the_licence_number(app, client, db_session):
    from app.models.outbox import OutboxMessage

    assert register(client, licence_no=LICENCE1).status_code == 302
    assert client.post("/forgot-password/", data={"username": LICENCE1}).status_code == 302
    mails = db_session.query(OutboxMessage).all()
    assert [m.recipient for m in mails] == [USCC1.lower() + "@accounts.regportal.invalid"]
    db_session.remove()


def test_the_service_refuses_what_the_form_would(app, db_session):
    """Another caller of `register` (not the form) meets the same rules."""
    from app.services import usedcar_accounts as accounts

    reg = accounts.Registration(
        name=NAME2, region_code="440106", address="x", uscc=USCC2, licence_no=None,
        org_code=ORG2, tax_no=None, password="weak", enterprise_type="dealer",
        business_types=["dealer"], filer_name="钱", filer_mobile="13800001111")
    with app.test_request_context():
        with pytest.raises(accounts.RegistrationError) as err:
            accounts.register(reg)
        assert set(err.value.errors) == {"password"} and err.value.code == 422
        reg.password, reg.business_types = PASSWORD, []
        with pytest.raises(accounts.RegistrationError) as err:
            accounts.register(reg)
        assert set(err.value.errors) == {"business_types"}
        reg.business_types, reg.uscc = ["dealer"], "91440101MA59XXKL1H"  # rental A's
        with pytest.raises(accounts.RegistrationConflictError) as err:
            accounts.register(reg)
        assert set(err.value.errors) == {"uscc"} and err.value.code == 409


# ----- U1 validation: every error at its field, nothing saved ----------------------------------
BAD_USCC = USCC1[:-1] + ("0" if USCC1[-1] != "0" else "1")
BAD_LICENCE = LICENCE3[:-1] + str((int(LICENCE3[-1]) + 1) % 10)


@pytest.mark.parametrize("over, field", [
    ({"uscc": BAD_USCC}, "uscc"),
    ({"uscc": ""}, "uscc"),
    ({"licence_no": BAD_LICENCE}, "licence_no"),
    ({"licence_no": "4401061234"}, "licence_no"),
    ({**NO_USCC, "licence_no": BAD_LICENCE}, "licence_no"),
    ({**NO_USCC, "licence_no": ""}, "licence_no"),
    ({**NO_USCC, "org_code": ORG3[:8] + "Y"}, "org_code"),
    ({**NO_USCC, "org_code": ""}, "org_code"),
    ({"org_code": ORG2}, "org_code"),  # not the code inside the USCC
    ({**NO_USCC, "tax_no": ""}, "tax_no"),
    ({**NO_USCC, "tax_no": "4401110000000"}, "tax_no"),
    ({**NO_USCC, "tax_no": "440111" + ORG1}, "tax_no"),  # another organisation's code
    ({"confirm": PASSWORD + "x"}, "confirm"),
    ({"password": "short", "confirm": "short"}, "password"),
    ({"password": "abcdefgh1", "confirm": "abcdefgh1"}, "password"),  # no capital
    ({"business_types": []}, "business_types"),
    ({"business_types": ["market", "teleport"]}, "business_types"),
    ({"enterprise_type": ""}, "enterprise_type"),
    ({"enterprise_type": "importer"}, "enterprise_type"),
    ({"region_code": ""}, "region_code"),
    ({"region_code": "440304"}, "region_code"),  # Futian is in Shenzhen, not Guangzhou
    (domicile("440106", city="440300"), "region_code"),
    (domicile("440106", province="110000"), "region_code"),
    ({"region_code": "440100"}, "region_code"),  # a city with districts is not a district
    ({"region_code": "449999"}, "region_code"),  # no such division
    ({"filer_mobile": "12912345678"}, "filer_mobile"),
    ({"filer_mobile": "1391234567"}, "filer_mobile"),
    ({"filer_name": ""}, "filer_name"),
    ({"name": ""}, "name"),
    ({"street": ""}, "street"),
])
def test_bad_input_is_shown_at_its_field_and_nothing_is_saved(client, db_session, over, field):
    before = count_enterprises(db_session)
    r = register(client, **over)
    assert r.status_code == 422
    assert has_field_error(r.text, field), field
    assert count_enterprises(db_session) == before
    assert 'value="' + PASSWORD + '"' not in r.text  # passwords are never sent back


def test_password_equal_to_the_user_name_is_refused(client, db_session):
    pw = "Ab1" + LICENCE3  # long, mixed, with digits: only the user-name rule breaks
    over = {**NO_USCC, "licence_no": LICENCE3, "password": LICENCE3, "confirm": LICENCE3}
    r = register(client, **over)
    assert r.status_code == 422 and has_field_error(r.text, "password")
    assert register(client, **{**NO_USCC, "password": pw, "confirm": pw}).status_code == 302


def test_errors_are_translated(client):
    r = register(client, name="", filer_mobile="12")
    assert r.status_code == 422
    assert "该字段是必填字段" in r.text or "必填" in r.text or "不能为空" in r.text


@pytest.mark.parametrize("over, field", [
    ({"uscc": USCC1.lower()}, "uscc"),
    ({"uscc": "91440101MA59XXKL1H", "name": "x公司"}, "uscc"),  # rental enterprise A
    ({"uscc": USCC2, "licence_no": LICENCE1}, "licence_no"),
    ({**NO_USCC, "licence_no": LICENCE1}, "licence_no"),
])
def test_duplicates_are_refused(client, db_session, over, field):
    assert register(client, licence_no=LICENCE1).status_code == 302
    before = count_enterprises(db_session)
    r = register(client, **over)
    assert r.status_code == 422
    assert has_field_error(r.text, field), field
    assert count_enterprises(db_session) == before


def test_a_code_already_used_as_a_user_name_is_refused(app, client, db_session):
    from app.models.identity import AppUser

    db_session.query(AppUser).filter_by(username="ent.b").update({"username": USCC2.lower()})
    db_session.commit()
    db_session.remove()
    r = register(client, uscc=USCC2, name=NAME2)
    assert r.status_code == 422 and has_field_error(r.text, "uscc")


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


def test_registration_is_rate_limited_per_ip(client):
    codes = [client.post(REGISTER, data={"name": ""}).status_code for _ in range(11)]
    assert codes[:10] == [422] * 10 and codes[10] == 429


def test_registration_needs_a_csrf_token(app, client, db_session):
    app.config["WTF_CSRF_ENABLED"] = True
    before = count_enterprises(db_session)
    assert register(client).status_code in (400, 422)
    assert count_enterprises(db_session) == before
    token = csrf_token_from(client.get(REGISTER).text)
    assert register(client, csrf_token=token).status_code == 302


# ----- jurisdiction ------------------------------------------------------------------------------
def test_the_local_commerce_authority_sees_the_new_enterprise(app, client, as_user):
    assert register(client).status_code == 302
    # Registered in Shenzhen: outside 广州市商务局's region.
    assert register(app.test_client(), name=NAME2, uscc=USCC2,
                    **domicile("440304")).status_code == 302
    page = as_user("reg.usedcar").get("/enterprises/list/").text  # 广州市商务局
    assert NAME1 in page and NAME2 not in page
    assert NAME1 not in as_user("reg.rental").get("/enterprises/list/").text
    assert NAME1 not in as_user("ent.c").get("/enterprises/list/").text


# ----- the registration profile ----------------------------------------------------------------
PROFILE = "/usedcar/profile/"
EDIT = "/usedcar/profile/edit"


def profile_form(**over) -> dict:
    data = {**domicile("440111"), "street": "机场路88号", "licence_no": LICENCE1, "org_code": "",
            "tax_no": "440111" + ORG1, "business_types": ["dealer", "broker", "appraisal"],
            "filer_name": "钱程", "filer_mobile": "13800001111"}
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture()
def one(app, client):
    """A registered used-car enterprise (USCC1, licence LICENCE1), signed in."""
    assert register(client, licence_no=LICENCE1).status_code == 302
    c, resp = web_login(app, USCC1)
    assert resp.status_code == 302
    return c


def test_profile_shows_the_registration(one):
    r = one.get(PROFILE)
    assert r.status_code == 200
    for text in (NAME1, USCC1, LICENCE1, ORG1, "天河区", "天河路100号", "赵敏", "13912345678",
                 'id="profile-edit"'):
        assert text in r.text, text


def test_profile_edit_changes_what_may_change(one, db_session):
    page = one.get(EDIT)
    assert page.status_code == 200
    for name in ('name="name"', 'name="uscc"', 'name="enterprise_type"'):
        assert name not in page.text  # shown read-only, never offered
    assert NAME1 in page.text and USCC1 in page.text
    r = one.post(EDIT, data=profile_form())
    assert r.status_code == 302
    ent, profile, _ = registered(db_session, USCC1)
    assert (ent.region_code, ent.address, ent.contact_name, ent.contact_mobile) == (
        "440111", "机场路88号", "钱程", "13800001111")
    assert profile.business_types == "appraisal,dealer,broker"
    assert profile.tax_no == "440111" + ORG1 and profile.org_code == ORG1
    assert (ent.name, ent.uscc, profile.enterprise_type) == (NAME1, USCC1, "dealer")
    db_session.remove()


@pytest.mark.parametrize("over, field", [
    ({"licence_no": BAD_LICENCE}, "licence_no"),
    ({"tax_no": "1234"}, "tax_no"),
    ({"org_code": ORG2}, "org_code"),
    ({"business_types": []}, "business_types"),
    ({"region_code": "440304"}, "region_code"),
    ({"filer_mobile": "139"}, "filer_mobile"),
])
def test_profile_edit_validates(one, db_session, over, field):
    r = one.post(EDIT, data=profile_form(**over))
    assert r.status_code == 422 and has_field_error(r.text, field)
    ent, _profile, _ = registered(db_session, USCC1)
    assert ent.address == "天河路100号"
    db_session.remove()


def test_forged_profile_post_cannot_change_name_uscc_or_type(one, db_session):
    r = one.post(EDIT, data=profile_form(name="改名公司", uscc=USCC2,
                                         enterprise_type="supplier_domestic"),
                 follow_redirects=True)
    assert r.status_code == 200
    assert "cannot be changed" in r.text or "不得修改" in r.text or "不能修改" in r.text
    ent, profile, user = registered(db_session, USCC1)
    assert (ent.name, ent.uscc, profile.enterprise_type) == (NAME1, USCC1, "dealer")
    assert user.username == USCC1
    assert ent.address == "机场路88号"  # the rest of the form is saved
    db_session.remove()


def test_removing_a_business_type_with_a_confirmed_filing_is_refused(one, db_session):
    import datetime

    from app.models.usedcar import UsedCarFiling

    ent, _profile, _ = registered(db_session, USCC1)
    db_session.add(UsedCarFiling(enterprise_id=ent.id, business_type="broker", data={},
                                 confirmed_on=datetime.datetime.now()))
    db_session.commit()
    db_session.remove()
    r = one.post(EDIT, data=profile_form(business_types=["dealer"]))
    assert r.status_code == 422
    ent, profile, _ = registered(db_session, USCC1)
    assert profile.business_types == "dealer,broker" and ent.address == "天河路100号"
    db_session.remove()
    # Adding one is fine, and keeping the filed one.
    assert one.post(EDIT, data=profile_form(business_types=["broker", "auction"])
                    ).status_code == 302
    _ent, profile, _ = registered(db_session, USCC1)
    assert profile.business_types == "broker,auction"
    db_session.remove()


def test_no_uscc_profile_keeps_its_licence_number(app, client, db_session):
    assert register(client, **NO_USCC).status_code == 302
    c, _ = web_login(app, LICENCE3)
    r = c.post(EDIT, data=profile_form(licence_no=LICENCE2, org_code=ORG3,
                                       tax_no="440111" + ORG3))
    assert r.status_code == 422 and has_field_error(r.text, "licence_no")
    r = c.post(EDIT, data=profile_form(licence_no=LICENCE3, org_code=ORG3, tax_no=""))
    assert r.status_code == 422 and has_field_error(r.text, "tax_no")  # required without USCC
    r = c.post(EDIT, data=profile_form(licence_no=LICENCE3, org_code=ORG3,
                                       tax_no="440111" + ORG3))
    assert r.status_code == 302
    ent, profile, user = registered(db_session, LICENCE3)
    assert profile.licence_no == LICENCE3 and user.username == LICENCE3
    assert ent.address == "机场路88号"
    db_session.remove()


def test_profile_is_refused_to_others(app, client, as_user, db_session):
    assert client.get(PROFILE).status_code == 302 and "/login/" in client.get(PROFILE).location
    r = client.post(EDIT, data=profile_form())
    assert r.status_code == 302 and "/login/" in r.location
    for username in ("ent.a", "reg.usedcar", "admin"):
        c = as_user(username)
        assert c.get(PROFILE).status_code in (403, 404), username
        assert c.post(EDIT, data=profile_form()).status_code in (403, 404), username


def test_each_enterprise_sees_and_edits_only_its_own_profile(app, client, db_session):
    assert register(client, licence_no=LICENCE1).status_code == 302
    assert register(app.test_client(), name=NAME2, uscc=USCC2,
                    licence_no=LICENCE2).status_code == 302
    b, _ = web_login(app, USCC2)
    page = b.get(PROFILE)
    assert NAME2 in page.text and NAME1 not in page.text and USCC1 not in page.text
    assert b.post(EDIT, data=profile_form(licence_no=LICENCE2,
                                          tax_no="440111" + ORG2)).status_code == 302
    ent_a, _p, _u = registered(db_session, USCC1)
    assert ent_a.address == "天河路100号"
    db_session.remove()
    # B cannot take A's licence number.
    r = b.post(EDIT, data=profile_form(licence_no=LICENCE1, tax_no="440111" + ORG2))
    assert r.status_code == 422 and has_field_error(r.text, "licence_no")


def test_staff_see_the_profile_but_do_not_edit_it(app, one, db_session):
    from app import security as s
    from app.models.identity import AppUser

    ent, _profile, _ = registered(db_session, USCC1)
    sm = app.appbuilder.sm
    staff = sm.add_user("uc.staff", "员", "职", "uc.staff@example.cn",
                        sm.find_role(s.ROLE_ENT_STAFF), password="Staff#2026pw")
    db_session.query(AppUser).filter_by(id=staff.id).update(
        {"enterprise_id": ent.id, "must_change_password": False})
    db_session.commit()
    db_session.remove()
    c, _ = web_login(app, "uc.staff", "Staff#2026pw")
    page = c.get(PROFILE)
    assert page.status_code == 200 and NAME1 in page.text and 'id="profile-edit"' not in page.text
    assert c.post(EDIT, data=profile_form()).status_code in (302, 403)
    ent, _profile, _ = registered(db_session, USCC1)
    assert ent.address == "天河路100号"
    db_session.remove()


# ----- immutability on the enterprise screens and API ----------------------------------------
def _ent_id(db_session, username):
    ent, _p, _u = registered(db_session, username)
    ent_id = ent.id
    db_session.remove()
    return ent_id


@pytest.mark.parametrize("change", [{"name": "改名公司"}, {"uscc": USCC2}])
def test_api_put_refuses_name_or_uscc_changes(app, client, db_session, change):
    assert register(client).status_code == 302
    ent_id = _ent_id(db_session, USCC1)
    token = api_token(app.test_client(), "admin")
    r = app.test_client().put(f"/api/v1/enterprise/{ent_id}", json=change,
                              headers=bearer(token))
    assert r.status_code == 422, r.get_json()
    assert "cannot be changed" in r.get_json()["message"] or "不" in r.get_json()["message"]
    ent, _p, _u = registered(db_session, USCC1)
    assert (ent.name, ent.uscc) == (NAME1, USCC1)
    db_session.remove()
    # Other fields still change, the same values of name and USCC pass.
    r = app.test_client().put(f"/api/v1/enterprise/{ent_id}",
                              json={"name": NAME1, "uscc": USCC1, "address": "新地址1号"},
                              headers=bearer(token))
    assert r.status_code == 200, r.get_json()


def test_api_put_on_an_enterprise_without_uscc(app, client, db_session):
    assert register(client, **NO_USCC).status_code == 302
    ent_id = _ent_id(db_session, LICENCE3)
    token = api_token(app.test_client(), "admin")
    r = app.test_client().put(f"/api/v1/enterprise/{ent_id}", json={"address": "新地址2号"},
                              headers=bearer(token))
    assert r.status_code == 200, r.get_json()
    r = app.test_client().put(f"/api/v1/enterprise/{ent_id}", json={"uscc": USCC2},
                              headers=bearer(token))
    assert r.status_code == 422
    ent, _p, _u = registered(db_session, LICENCE3)
    assert ent.uscc is None and ent.address == "新地址2号"
    db_session.remove()


def test_rental_enterprises_still_change_their_name_over_the_api(app, db_session):
    ent_a = ids(db_session)["ent_a"]
    db_session.remove()
    token = api_token(app.test_client(), "admin")
    r = app.test_client().put(f"/api/v1/enterprise/{ent_a}",
                              json={"name": "广州市穗通新名称有限公司"}, headers=bearer(token))
    assert r.status_code == 200


def _admin_edit_form(ent, **over):
    data = {"name": ent.name, "uscc": ent.uscc or "", "region_code": ent.region_code,
            "sectors": [str(sec.id) for sec in ent.sectors], "status": ent.status,
            "legal_representative": ent.legal_representative or "",
            "contact_name": ent.contact_name or "", "contact_mobile": ent.contact_mobile or "",
            "address": ent.address or ""}
    data.update(over)
    return data


@pytest.mark.parametrize("change", [{"name": "改名公司"}, {"uscc": USCC2}])
def test_admin_edit_screen_refuses_name_or_uscc_changes(app, client, as_user, db_session,
                                                         change):
    assert register(client).status_code == 302
    ent, _p, _u = registered(db_session, USCC1)
    data = _admin_edit_form(ent, address="新地址3号", **change)
    ent_id = ent.id
    db_session.remove()
    admin = as_user("admin")
    r = admin.post(f"/enterprises/edit/{ent_id}", data=data, follow_redirects=True)
    assert r.status_code == 200
    assert "cannot be changed" in r.text or "不得修改" in r.text or "不能修改" in r.text
    ent, _p, _u = registered(db_session, USCC1)
    assert (ent.name, ent.uscc, ent.address) == (NAME1, USCC1, "天河路100号")
    db_session.remove()
    r = admin.post(f"/enterprises/edit/{ent_id}",
                   data={**data, "name": NAME1, "uscc": USCC1}, follow_redirects=True)
    assert r.status_code == 200
    ent, _p, _u = registered(db_session, USCC1)
    assert ent.address == "新地址3号"
    db_session.remove()


def test_admin_edit_screen_saves_an_enterprise_without_uscc(app, client, as_user, db_session):
    assert register(client, **NO_USCC).status_code == 302
    ent, _p, _u = registered(db_session, LICENCE3)
    data = _admin_edit_form(ent, address="新地址4号")
    ent_id = ent.id
    db_session.remove()
    r = as_user("admin").post(f"/enterprises/edit/{ent_id}", data=data)
    assert r.status_code == 302
    ent, _p, _u = registered(db_session, LICENCE3)
    assert ent.address == "新地址4号" and ent.uscc is None
    db_session.remove()
