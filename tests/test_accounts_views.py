"""Accounts: captcha, password policy, forced change, forgot password, TOTP, API login."""

from __future__ import annotations

import re
import time

import pyotp
from conftest import api_token, login, totp_now

from app.models.audit import AuditEvent
from app.models.identity import AppUser
from app.models.outbox import OutboxMessage


def _user(db_session, name):
    db_session.expire_all()
    return db_session.query(AppUser).filter_by(username=name).one()


# ----- captcha ---------------------------------------------------------------------------
def test_login_needs_the_captcha_when_enabled(app, client, db_session, monkeypatch):
    from app.services import captcha

    app.config["CAPTCHA_ENABLED"] = True
    monkeypatch.setattr(captcha, "_new_answer", lambda: "K7PX")
    page = client.get("/login/")
    assert 'id="captcha-img"' in page.text
    img = client.get("/captcha.png")
    assert img.mimetype == "image/png" and img.data[:4] == b"\x89PNG"
    # The answer never travels in the (readable) session cookie.
    with client.session_transaction() as sess:
        assert "K7PX" not in repr(dict(sess))
    saved_cookie = client.get_cookie("session").value
    # Wrong answer: refused, and the challenge is spent (no retry with the right one).
    resp = client.post("/login/", data={"username": "ent.a", "password": "Enterprise#2026",
                                        "captcha": "XXXX"})
    assert resp.status_code == 200 and "验证码" in resp.text
    # Replaying the saved cookie with the right answer does not work either.
    replay = app.test_client()
    replay.set_cookie("session", saved_cookie)
    resp = replay.post("/login/", data={"username": "ent.a", "password": "Enterprise#2026",
                                        "captcha": "K7PX"})
    assert resp.status_code == 200
    client.get("/captcha.png")
    resp = client.post("/login/", data={"username": "ent.a", "password": "Enterprise#2026",
                                        "captcha": "k7px"})
    assert resp.status_code == 302
    # A spent challenge cannot be reused with the cookie saved just before the login.
    again = app.test_client()
    client.get("/logout/")
    client.get("/captcha.png")
    saved_cookie = client.get_cookie("session").value
    assert client.post("/login/", data={"username": "ent.a", "password": "Enterprise#2026",
                                        "captcha": "K7PX"}).status_code == 302
    again.set_cookie("session", saved_cookie)
    assert again.post("/login/", data={"username": "ent.a", "password": "Enterprise#2026",
                                       "captcha": "K7PX"}).status_code == 200


def test_wrong_password_is_refused_and_audited(client, db_session):
    resp = client.post("/login/", data={"username": "ent.a", "password": "Wrong#2026x"})
    assert resp.status_code == 200 and "用户名或密码错误" in resp.text
    ev = db_session.query(AuditEvent).filter_by(action="login_failed").one()
    assert ev.actor_name == "ent.a" and ev.ip == "127.0.0.1"


def test_successful_login_and_logout_are_audited(client, db_session):
    assert login(client, "ent.a").status_code == 302
    client.get("/logout/")
    events = db_session.query(AuditEvent).filter(
        AuditEvent.action.in_(["login", "logout", "login_failed"])).order_by(AuditEvent.id)
    assert [(e.action, e.actor_name) for e in events] == [("login", "ent.a"), ("logout", "ent.a")]


# ----- password policy and forced change ------------------------------------------------
def _make_user(as_user, username="li.si", password="Initial#2026a"):
    admin = as_user("ent.a")
    resp = admin.post("/enterprise/users/add", data={
        "username": username, "last_name": "李", "first_name": "四",
        "email": f"{username}@suitong.example.cn", "mobile": "13800001111",
        "roles": ["5"], "password": password, "conf_password": password})
    assert resp.status_code == 302, resp.text[:2000]
    return admin


def test_new_user_must_change_password_before_anything_else(app, as_user, db_session):
    _make_user(as_user)
    c = app.test_client()
    resp = login(c, "li.si", "Initial#2026a")
    assert resp.status_code == 302
    for path in ("/", "/enterprises/list/", "/api/v1/enterprise/"):
        r = c.get(path)
        if path.startswith("/api/"):
            assert r.status_code in (401, 403)
        else:
            assert r.status_code == 302 and "/resetmypassword/form" in r.location, path
    page = c.get("/resetmypassword/form")
    assert page.status_code == 200 and "修改密码" in page.text
    # Policy violations are refused with the rule broken, nothing changes.
    for bad, message in [("short1A", "至少"), ("alllowercase1", "大写"),
                         ("ALLUPPERCASE1", "小写"), ("NoDigitsHere", "数字"),
                         ("Password123", "常见")]:
        r = c.post("/resetmypassword/form", data={"old_password": "Initial#2026a",
                                                  "password": bad, "conf_password": bad})
        assert message in r.text, (bad, r.text[:3000])
        assert _user(db_session, "li.si").must_change_password
    r = c.post("/resetmypassword/form", data={"old_password": "wrong", "password": "Better#2026b",
                                              "conf_password": "Better#2026b"})
    assert _user(db_session, "li.si").must_change_password
    r = c.post("/resetmypassword/form", data={"old_password": "Initial#2026a",
                                              "password": "Better#2026b",
                                              "conf_password": "Better#2026b"})
    assert r.status_code == 302
    assert not _user(db_session, "li.si").must_change_password
    assert c.get("/enterprises/list/").status_code == 200


def test_password_equal_to_user_name_is_refused(as_user, db_session):
    admin = as_user("ent.a")
    resp = admin.post("/enterprise/users/add", data={
        "username": "Wang.Wu2026", "last_name": "王", "first_name": "五",
        "email": "ww@suitong.example.cn", "roles": ["5"], "password": "Wang.Wu2026",
        "conf_password": "Wang.Wu2026"})
    assert resp.status_code == 200 and "用户名" in resp.text
    assert db_session.query(AppUser).filter_by(username="Wang.Wu2026").first() is None


def test_admin_reset_forces_a_new_change(app, as_user, db_session):
    admin = _make_user(as_user)
    uid = _user(db_session, "li.si").id
    _user(db_session, "li.si").must_change_password = False
    db_session.commit()
    resp = admin.post(f"/enterprise/users/action/reset_password/{uid}")
    assert resp.status_code == 302
    pw = re.search(r"li\.si[^:：]*[:：]\s*([A-Za-z0-9]{12})", _flashes(admin)).group(1)
    assert _user(db_session, "li.si").must_change_password
    c = app.test_client()
    assert login(c, "li.si", pw).status_code == 302
    assert "/resetmypassword/form" in c.get("/").location


def _flashes(client) -> str:
    with client.session_transaction() as sess:
        return " ".join(m for _, m in sess.get("_flashes", []))


# ----- forgot password ---------------------------------------------------------------------
def test_forgot_password_sends_a_single_use_link_to_the_outbox(app, client, db_session):
    resp = client.post("/forgot-password/", data={"username": "ent.b"})
    assert resp.status_code == 302
    # Unknown accounts get the same answer and no mail.
    client.post("/forgot-password/", data={"username": "nobody"})
    mails = db_session.query(OutboxMessage).all()
    assert len(mails) == 1 and mails[0].recipient == "ent.b@pengcheng.example.cn"
    link = re.search(r"http://[^\s]+/reset-password/[^\s]+", mails[0].body).group(0)
    assert link.startswith(app.config["PUBLIC_BASE_URL"] + "/reset-password/")
    path = "/reset-password/" + link.split("/reset-password/", 1)[1]
    r = client.post(path, data={"password": "weak", "conf_password": "weak"})
    assert r.status_code == 200 and "至少" in r.text
    r = client.post(path, data={"password": "Fresh#2026c", "conf_password": "Fresh#2026c"})
    assert r.status_code == 302
    assert login(app.test_client(), "ent.b", "Fresh#2026c").status_code == 302
    assert not _user(db_session, "ent.b").must_change_password
    # The link is spent.
    r = client.post(path, data={"password": "Other#2026d", "conf_password": "Other#2026d"})
    assert r.status_code == 302 and "forgot-password" in r.location


def test_forgot_password_link_expires_after_30_minutes(app, client, db_session, monkeypatch):
    from app.views import accounts

    with app.test_request_context():
        token = accounts.make_reset_token(_user(db_session, "ent.b"))
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 31 * 60)
    r = client.get(f"/reset-password/{token}")
    assert r.status_code == 302 and "forgot-password" in r.location
    monkeypatch.setattr(time, "time", real_time)
    assert client.get(f"/reset-password/{token}").status_code == 200
    assert client.get("/reset-password/forged.token").status_code == 302


def test_forgot_password_is_rate_limited_to_5_an_hour(client):
    for _ in range(5):
        assert client.post("/forgot-password/", data={"username": "x"}).status_code == 302
    r = client.post("/forgot-password/", data={"username": "x"})
    assert r.status_code == 429 and "尝试次数过多" in r.text


# ----- TOTP ------------------------------------------------------------------------------
def test_regulator_must_give_the_totp_code(app, client, db_session):
    r = login(client, "reg.rental", totp=False)
    assert r.status_code == 302 and "/login/totp/" in r.location
    assert client.get("/enterprises/list/").status_code == 302  # not logged in yet
    r = client.post("/login/totp/", data={"code": "000000"})
    assert r.status_code == 200 and "验证码错误" in r.text
    r = client.post("/login/totp/", data={"code": totp_now("reg.rental")})
    assert r.status_code == 302
    assert client.get("/enterprises/list/").status_code == 200
    # The same code cannot be replayed for a second login.
    c2 = app.test_client()
    login(c2, "reg.rental", totp=False)
    r = c2.post("/login/totp/", data={"code": totp_now("reg.rental")})
    assert r.status_code == 200


def test_mandatory_roles_are_sent_to_enrolment_and_get_recovery_codes(app, client, db_session):
    u = _user(db_session, "auditor")
    u.totp_enabled, u.totp_secret = False, None
    db_session.commit()
    assert login(client, "auditor", totp=False).status_code == 302
    r = client.get("/audit/list/")
    assert r.status_code == 302 and "/two-factor/enrol/" in r.location
    page = client.get("/two-factor/enrol/")
    assert 'id="totp-qr"' in page.text and "data:image/png;base64," in page.text
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.text).group(1)
    r = client.post("/two-factor/enrol/", data={"code": pyotp.TOTP(secret).now()})
    codes = re.findall(r"<code>([0-9a-f]{5}-[0-9a-f]{5})</code>", r.text)
    assert len(codes) == 10
    assert client.get("/audit/list/").status_code == 200
    # A recovery code logs in once, never twice.
    client.get("/logout/")
    login(client, "auditor", totp=False)
    assert client.post("/login/totp/", data={"code": codes[0]}).status_code == 302
    client.get("/logout/")
    login(client, "auditor", totp=False)
    assert client.post("/login/totp/", data={"code": codes[0]}).status_code == 200


def test_enterprise_user_may_enrol_optionally(client, db_session):
    login(client, "ent.a")
    assert client.get("/enterprises/list/").status_code == 200  # not forced
    page = client.get("/two-factor/enrol/")
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.text).group(1)
    client.post("/two-factor/enrol/", data={"code": pyotp.TOTP(secret).now()})
    assert _user(db_session, "ent.a").totp_enabled


# ----- API login -------------------------------------------------------------------------
def test_api_login_demands_totp_from_enrolled_users(client):
    body = {"username": "reg.rental", "password": "Review#2026", "provider": "db"}
    r = client.post("/api/v1/security/login", json=body)
    assert r.status_code == 401 and "totp" in r.get_json()["message"]
    r = client.post("/api/v1/security/login", json={**body, "totp": "123456"})
    assert r.status_code == 401
    token = api_token(client, "reg.rental")
    r = client.get("/api/v1/enterprise/", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200


def test_api_login_without_totp_for_unenrolled_enterprise_user(client):
    token = api_token(client, "ent.a")
    r = client.get("/api/v1/enterprise/", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.get_json()["count"] == 1


def test_api_login_is_rate_limited_per_username(client):
    for i in range(10):
        r = client.post("/api/v1/security/login", json={
            "username": "ent.a", "password": f"Wrong#{i}aaa", "provider": "db"},
            environ_base={"REMOTE_ADDR": f"10.0.0.{i}"})
        assert r.status_code == 401
    r = client.post("/api/v1/security/login", json={
        "username": "ent.a", "password": "Enterprise#2026", "provider": "db"},
        environ_base={"REMOTE_ADDR": "10.0.0.99"})
    assert r.status_code == 429


def test_login_form_is_rate_limited_per_ip(client):
    for i in range(10):
        client.post("/login/", data={"username": f"u{i}", "password": "x"})
    r = client.post("/login/", data={"username": "ent.a", "password": "Enterprise#2026"})
    assert r.status_code == 429 and "尝试次数过多" in r.text


def test_reset_mail_goes_over_smtp_when_mail_server_is_set(app, client, monkeypatch,
                                                           db_session):
    sent = []

    class RecordingSMTP:
        def __init__(self, host, port, timeout):
            sent.append(("connect", host, port))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def starttls(self):
            sent.append(("starttls",))

        def login(self, user, password):
            sent.append(("login", user))

        def send_message(self, msg):
            sent.append(("send", msg["To"], msg.get_content()))

    import smtplib

    monkeypatch.setattr(smtplib, "SMTP", RecordingSMTP)
    app.config.update(MAIL_SERVER="smtp.example.cn", MAIL_PORT=587, MAIL_USE_TLS=True,
                      MAIL_USERNAME="portal")
    try:
        client.post("/forgot-password/", data={"username": "ent.c"})
    finally:
        app.config.update(MAIL_SERVER="", MAIL_USE_TLS=False, MAIL_USERNAME="")
    assert sent[0] == ("connect", "smtp.example.cn", 587)
    assert ("starttls",) in sent and ("login", "portal") in sent
    assert sent[-1][1] == "ent.c@yangcheng.example.cn" and "/reset-password/" in sent[-1][2]
    assert db_session.query(OutboxMessage).count() == 0


def test_system_admin_reads_the_outbox(client, as_user):
    client.post("/forgot-password/", data={"username": "ent.a"})
    page = as_user("admin").get("/outbox/")
    assert page.status_code == 200 and "ent.a@suitong.example.cn" in page.text
    assert "/reset-password/" in page.text
    assert as_user("auditor").get("/outbox/").status_code in (302, 403)


def test_reset_link_ignores_a_forged_host_header(app, client, db_session):
    client.post("/forgot-password/", data={"username": "ent.b"},
                headers={"Host": "evil.example"})
    body = db_session.query(OutboxMessage).one().body
    assert "evil.example" not in body
    assert app.config["PUBLIC_BASE_URL"] + "/reset-password/" in body


def test_logout_ends_every_copy_of_the_session(app, client):
    login(client, "ent.a")
    saved = client.get_cookie("session").value
    assert client.get("/enterprises/list/").status_code == 200
    client.get("/logout/")
    thief = app.test_client()
    thief.set_cookie("session", saved)
    r = thief.get("/enterprises/list/")
    assert r.status_code == 302 and "/login/" in r.location


def test_password_change_ends_other_sessions_but_not_this_one(app):
    a1, a2 = app.test_client(), app.test_client()
    login(a1, "ent.b")
    login(a2, "ent.b")
    r = a1.post("/resetmypassword/form", data={"old_password": "Enterprise#2026",
                                               "password": "Renewed#2026b",
                                               "conf_password": "Renewed#2026b"})
    assert r.status_code == 302
    assert a1.get("/enterprises/list/").status_code == 200
    assert a2.get("/enterprises/list/").status_code == 302


def test_api_tokens_stop_at_a_reset_and_refresh_obeys_the_gates(app, db_session, as_user):
    c = app.test_client()
    body = {"username": "ent.b", "password": "Enterprise#2026", "provider": "db",
            "refresh": True}
    tokens = c.post("/api/v1/security/login", json=body).get_json()
    access = {"Authorization": "Bearer " + tokens["access_token"]}
    refresh = {"Authorization": "Bearer " + tokens["refresh_token"]}
    assert c.get("/api/v1/enterprise/", headers=access).status_code == 200
    assert c.post("/api/v1/security/refresh", headers=refresh).status_code == 200
    # ent.b's admin... is ent.b itself: a system admin resets its password.
    uid = _user(db_session, "ent.b").id
    r = as_user("admin").post(f"/resetpassword/form?pk={uid}",
                              data={"password": "Temp#2026zz", "conf_password": "Temp#2026zz"})
    assert r.status_code in (200, 302)
    assert _user(db_session, "ent.b").must_change_password
    assert c.get("/api/v1/enterprise/", headers=access).status_code == 401
    assert c.post("/api/v1/security/refresh", headers=refresh).status_code == 401


def test_refresh_is_refused_after_a_two_factor_reset(app, db_session, as_user):
    c = app.test_client()
    tokens = c.post("/api/v1/security/login", json={
        "username": "auditor", "password": "Audit#2026", "provider": "db",
        "totp": totp_now("auditor"), "refresh": True}).get_json()
    refresh = {"Authorization": "Bearer " + tokens["refresh_token"]}
    uid = _user(db_session, "auditor").id
    as_user("admin").post(f"/users/action/reset_totp/{uid}")
    assert c.post("/api/v1/security/refresh", headers=refresh).status_code == 401
    access = {"Authorization": "Bearer " + tokens["access_token"]}
    assert c.get("/api/v1/audit_event/", headers=access).status_code == 401


def test_token_refresh_has_no_shared_rate_limit_bucket(app):
    c = app.test_client()
    tokens = c.post("/api/v1/security/login", json={
        "username": "ent.a", "password": "Enterprise#2026", "provider": "db",
        "refresh": True}).get_json()
    for i in range(12):
        c.post("/api/v1/security/refresh", headers={"Authorization": "Bearer junk"},
               environ_base={"REMOTE_ADDR": f"10.1.0.{i}"})
    r = c.post("/api/v1/security/refresh",
               headers={"Authorization": "Bearer " + tokens["refresh_token"]},
               environ_base={"REMOTE_ADDR": "10.2.0.1"})
    assert r.status_code == 200


def test_totp_step_limit_cannot_be_dodged_with_a_username_field(app, client):
    login(client, "reg.rental", totp=False)
    saved = client.get_cookie("session").value
    codes = []
    for i in range(12):
        c = app.test_client()
        c.set_cookie("session", saved)
        r = c.post("/login/totp/", data={"code": "000000", "username": f"x{i}"},
                   environ_base={"REMOTE_ADDR": f"10.3.0.{i}"})
        codes.append(r.status_code)
    assert 429 in codes


def test_totp_step_gives_up_after_five_wrong_codes(client):
    login(client, "reg.rental", totp=False)
    for _ in range(4):
        assert client.post("/login/totp/", data={"code": "000000"}).status_code == 200
    r = client.post("/login/totp/", data={"code": "000000"})
    assert r.status_code == 302 and "/login/" in r.location
    r = client.post("/login/totp/", data={"code": totp_now("reg.rental")})
    assert r.status_code == 302 and r.location.endswith("/login/")


def test_half_finished_enrolment_secret_does_not_pass_to_the_next_user(app, client):
    import re as _re

    login(client, "ent.a")
    first = _re.search(r'id="totp-secret">([A-Z2-7]+)<', client.get("/two-factor/enrol/").text)
    client.get("/logout/")
    login(client, "ent.b")
    second = _re.search(r'id="totp-secret">([A-Z2-7]+)<', client.get("/two-factor/enrol/").text)
    assert first.group(1) != second.group(1)


def test_captcha_images_are_rate_limited(app, client):
    app.config["CAPTCHA_ENABLED"] = True
    codes = [client.get("/captcha.png").status_code for _ in range(31)]
    assert codes[:30] == [200] * 30 and codes[30] == 429
