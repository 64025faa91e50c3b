"""User journeys through a real browser against a real server (see conftest.py).

1. A system admin signs in with password and TOTP; a wrong TOTP code is refused.
2. An enterprise admin creates a role and a user holding it.
3. That user must change the initial password before anything else opens.
4. The UI language defaults to Chinese and switches to English and back.
"""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from playwright.sync_api import Page, expect

from .conftest import WAIT_MS

expect.set_options(timeout=WAIT_MS)

ADMIN = ("admin", "Admin#2026", "SQD7L3TIXZAUM5TXVA5AV6NW5TJ3FSNM")
ENT_A = ("ent.a", "Enterprise#2026")
ENT_A_NAME = "广州市穗通汽车租赁有限公司"
OTHER_ENTERPRISES = ("深圳市鹏程小客车租赁有限公司", "广州市羊城二手车交易市场有限公司")

NEW_ROLE = "调度员"
NEW_USER = {
    "username": "zhao.liu",
    "last_name": "赵",
    "first_name": "六",
    "email": "zhao.liu@suitong.example.cn",
    "mobile": "13800138001",
    "password": "Initial#2026a",
}
NEW_PASSWORD = "Dispatch#2026x"
# The enterprise's built-in roles, as their Select2 options read in Chinese.
STAFF_ROLE = "企业员工"
ENT_ADMIN_ROLE = "企业管理员"


LIST_TABLE = "table.table-bordered.table-hover"  # FAB's list widget (not the search filters)


# ----- TOTP ------------------------------------------------------------------------------
_last_step: dict[str, int] = {}


def fresh_totp(secret: str) -> str:
    """A code from a 30 s step not used before in this session: the server refuses a code
    replayed for the same user within its step. Leaves 3 s before the step rolls over."""
    totp = pyotp.TOTP(secret)
    deadline = time.monotonic() + 2 * totp.interval + 5
    while time.monotonic() < deadline:
        now = time.time()
        step = int(now) // totp.interval
        if _last_step.get(secret) != step and totp.interval - now % totp.interval > 3:
            _last_step[secret] = step
            return totp.at(step * totp.interval)
        time.sleep(0.5)
    raise AssertionError("no fresh TOTP step")


def wrong_totp(secret: str) -> str:
    """Six digits valid for no step near now."""
    totp = pyotp.TOTP(secret)
    now = time.time()
    near = {totp.at(now + k * totp.interval) for k in range(-3, 4)}
    return next(c for c in ("000000", "111111", "123456", "999999") if c not in near)


# ----- helpers -----------------------------------------------------------------------------
def submit_password_step(page: Page, username: str, password: str) -> None:
    page.goto("/login/")
    page.fill("#username", username)
    page.fill("#password", password)
    if page.locator("#captcha").count():
        pytest.fail("the login captcha is shown although the server runs with CAPTCHA_ENABLED=0")
    with page.expect_navigation():
        page.click("#login-submit")


def sign_in(page: Page, username: str, password: str) -> None:
    """Password login for an account without TOTP; ends wherever the app sends the user."""
    submit_password_step(page, username, password)
    expect(page).not_to_have_url(re.compile(r"/login/"))


def flash(page: Page):
    return page.locator("div.alert")


def path_of(page: Page) -> str:
    return re.sub(r"^https?://[^/]+", "", page.url)


def open_add_form(page: Page, list_url: str) -> None:
    """From the list page, follow its add link (FAB then returns to the list after saving)."""
    page.goto(list_url)
    add_url = list_url.replace("/list/", "/add")
    with page.expect_navigation():
        page.locator(f"a[href^='{add_url}']").first.click()
    expect(page).to_have_url(re.compile(re.escape(add_url)))
    expect(page.locator("#model_form")).to_be_visible()


def save_form(page: Page) -> None:
    with page.expect_navigation():
        page.locator("#model_form button[type=submit]").click()


def select2_pick(page: Page, select_id: str, label: str, typed: str = "") -> None:
    """Pick an option of a Select2 multi-select the way a user does: click into it, type
    (optionally) to filter, click the option. Then check the underlying <select> holds it."""
    container = page.locator(f"#{select_id} + .select2-container")
    search = container.locator(".select2-search__field")
    search.click()
    if typed:
        search.fill(typed)
    option = page.locator(".select2-container--open .select2-results__option").filter(
        has_text=label)
    expect(option.first).to_be_visible()
    option.first.click()
    expect(container.locator(".select2-selection__choice").filter(has_text=label).first
           ).to_be_visible()
    # Select2 keeps the list open for more picks: click outside to close it.
    page.locator(".panel-heading").first.click()
    expect(page.locator(".select2-container--open")).to_have_count(0)
    selected = page.eval_on_selector(
        f"#{select_id}", "s => Array.from(s.selectedOptions).map(o => o.textContent.trim())")
    assert label in selected, f"#{select_id} does not hold {label!r}: {selected}"


def assert_no_csp_errors(*sessions) -> None:
    errors = [e for s in sessions for e in s.csp_errors()]
    assert not errors, "Content Security Policy violations in the console:\n" + "\n".join(errors)


# ----- 1. admin with TOTP ----------------------------------------------------------------------
def test_admin_signs_in_with_password_and_totp(new_session, shot, live_server):
    s = new_session("admin")
    page = s.page
    username, password, secret = ADMIN

    submit_password_step(page, username, password)
    expect(page).to_have_url(re.compile(r"/login/totp/$"))
    expect(page.locator("#code")).to_be_visible()
    shot(page, "1-totp-step")

    page.fill("#code", fresh_totp(secret))
    with page.expect_navigation():
        page.click("#totp-submit")
    expect(page).to_have_url(live_server + "/")
    home_user = page.locator("#home-user")
    expect(home_user).to_be_visible()
    expect(home_user.locator("strong")).to_have_text(username)
    expect(home_user).to_contain_text("当前登录用户")
    expect(page.locator("#home-login")).to_have_count(0)
    shot(page, "2-home")

    # Signed in for real: a protected page opens instead of bouncing to the login page, and
    # the system admin sees every enterprise.
    page.goto("/enterprises/list/")
    expect(page).to_have_url(re.compile(r"/enterprises/list/"))
    for name in (ENT_A_NAME, *OTHER_ENTERPRISES):
        expect(page.locator(LIST_TABLE)).to_contain_text(name)
    assert_no_csp_errors(s)


def test_wrong_totp_code_is_refused(new_session, shot):
    s = new_session("admin-wrong-code")
    page = s.page
    username, password, secret = ADMIN

    submit_password_step(page, username, password)
    expect(page).to_have_url(re.compile(r"/login/totp/$"))
    page.fill("#code", wrong_totp(secret))
    with page.expect_navigation():
        page.click("#totp-submit")

    expect(page).to_have_url(re.compile(r"/login/totp/$"))
    expect(flash(page)).to_contain_text("验证码错误或已被使用")
    expect(page.locator("#code")).to_be_visible()
    shot(page, "wrong-code")

    # Still not signed in: the home page shows no user and offers to sign in.
    page.goto("/")
    expect(page.locator("#home-user")).to_have_count(0)
    expect(page.locator("#home-login")).to_be_visible()
    assert_no_csp_errors(s)


def test_wrong_password_is_refused(new_session):
    s = new_session("wrong-password")
    page = s.page
    submit_password_step(page, ENT_A[0], "Wrong#2026x")
    expect(page).to_have_url(re.compile(r"/login/"))
    expect(flash(page)).to_contain_text("用户名或密码错误")
    page.goto("/")
    expect(page.locator("#home-user")).to_have_count(0)


# ----- 2 + 3. enterprise admin creates a role and a user; the user's first login ----------------
def test_enterprise_admin_creates_role_and_user_who_must_change_password(
        new_session, shot, live_server):
    admin = new_session("ent-admin")
    page = admin.page

    sign_in(page, *ENT_A)
    expect(page.locator("#home-user strong")).to_have_text(ENT_A[0])
    expect(page.locator("#home-user")).to_contain_text(ENT_A_NAME)

    # -- a role with one permission
    open_add_form(page, "/enterprise/roles/list/")
    page.fill("#name", NEW_ROLE)
    page.fill("#description", "负责车辆调度")
    options = page.eval_on_selector(
        "#permissions", "s => Array.from(s.options).map(o => o.textContent.trim())")
    assert options, "the enterprise admin is offered no permission for a new role"
    permission = next((o for o in options if "can_show" in o), options[0])
    select2_pick(page, "permissions", permission)
    shot(page, "1-role-form")
    save_form(page)

    expect(page).to_have_url(re.compile(r"/enterprise/roles/list/"))
    expect(flash(page).filter(has_text="记录已添加")).to_be_visible()
    row = page.locator(f"{LIST_TABLE} tr", has_text=NEW_ROLE)
    expect(row).to_have_count(1)
    expect(row).to_contain_text(permission)
    shot(page, "2-role-list")

    # -- a user holding the new role and the staff role
    open_add_form(page, "/enterprise/users/list/")
    for field in ("username", "last_name", "first_name", "email", "mobile"):
        page.fill(f"#{field}", NEW_USER[field])
    role_options = page.eval_on_selector(
        "#roles", "s => Array.from(s.options).map(o => o.textContent.trim())")
    assert NEW_ROLE in role_options, role_options
    # The built-in enterprise roles and this enterprise's own: nothing of the authorities'
    # or of other enterprises.
    assert sorted(role_options) == sorted([ENT_ADMIN_ROLE, STAFF_ROLE, NEW_ROLE]), role_options
    select2_pick(page, "roles", NEW_ROLE, typed=NEW_ROLE)
    select2_pick(page, "roles", STAFF_ROLE, typed=STAFF_ROLE)
    page.fill("#password", NEW_USER["password"])
    page.fill("#conf_password", NEW_USER["password"])
    shot(page, "3-user-form")
    save_form(page)

    expect(page).to_have_url(re.compile(r"/enterprise/users/list/"))
    expect(flash(page).filter(has_text="记录已添加")).to_be_visible()
    row = page.locator(f"{LIST_TABLE} tr", has_text=NEW_USER["username"])
    expect(row).to_have_count(1)
    expect(row).to_contain_text(NEW_USER["last_name"])
    expect(row).to_contain_text(NEW_USER["first_name"])
    expect(row).to_contain_text(NEW_USER["email"])
    expect(row).to_contain_text(NEW_ROLE)
    expect(row).to_contain_text(STAFF_ROLE)
    shot(page, "4-user-list")

    # -- the new user's first sign-in: password change forced
    user = new_session("new-user")
    upage = user.page
    submit_password_step(upage, NEW_USER["username"], NEW_USER["password"])
    expect(upage).to_have_url(re.compile(r"/resetmypassword/form"))
    expect(flash(upage)).to_contain_text("继续操作前，您必须修改密码")
    shot(upage, "5-forced-change")

    for url in ("/", "/enterprises/list/", "/enterprise/users/list/", "/two-factor/"):
        upage.goto(url)
        assert "/resetmypassword/form" in path_of(upage), (url, upage.url)

    # A weak password is refused and the gate stays closed.
    upage.fill("#old_password", NEW_USER["password"])
    upage.fill("#password", "weakpass")
    upage.fill("#conf_password", "weakpass")
    with upage.expect_navigation():
        upage.locator("form button[type=submit]").click()
    expect(upage).to_have_url(re.compile(r"/resetmypassword/form"))
    problems = upage.locator(".help-block, div.alert").filter(
        has_text=re.compile("大写字母|数字|过于常见"))
    expect(problems.first).to_be_visible()
    shot(upage, "6-weak-password")
    upage.goto("/enterprises/list/")
    assert "/resetmypassword/form" in path_of(upage), upage.url

    # A good one is accepted.
    upage.fill("#old_password", NEW_USER["password"])
    upage.fill("#password", NEW_PASSWORD)
    upage.fill("#conf_password", NEW_PASSWORD)
    with upage.expect_navigation():
        upage.locator("form button[type=submit]").click()
    expect(flash(upage).filter(has_text="您的密码已修改")).to_be_visible()
    assert "/resetmypassword" not in path_of(upage), upage.url

    # Normal pages open now and show the user's own enterprise.
    upage.goto("/enterprises/list/")
    expect(upage).to_have_url(re.compile(r"/enterprises/list/"))
    expect(upage.locator(LIST_TABLE)).to_contain_text(ENT_A_NAME)
    for name in OTHER_ENTERPRISES:
        expect(upage.locator("body")).not_to_contain_text(name)
    shot(upage, "7-enterprises")
    upage.goto("/")
    expect(upage.locator("#home-user strong")).to_have_text(NEW_USER["username"])
    expect(upage.locator("#home-user")).to_contain_text(ENT_A_NAME)

    # The new password is the one that works from now on, with no further forced change.
    upage.goto("/logout/")
    submit_password_step(upage, NEW_USER["username"], NEW_USER["password"])
    expect(flash(upage)).to_contain_text("用户名或密码错误")
    sign_in(upage, NEW_USER["username"], NEW_PASSWORD)
    expect(upage).to_have_url(live_server + "/")
    expect(upage.locator("#home-user strong")).to_have_text(NEW_USER["username"])
    assert_no_csp_errors(admin, user)


# ----- 4. language ------------------------------------------------------------------------------
def test_language_switch_on_login_page(new_session, shot):
    s = new_session("language")
    page = s.page
    submit_button = page.locator("#login-submit")
    title = page.locator(".auth-box .panel-title")

    page.goto("/login/")
    expect(submit_button).to_have_text("登录")
    expect(title).to_have_text("登录 RegPortal")
    expect(page.locator("label[for=username]")).to_have_text("用户名")
    shot(page, "1-zh")

    page.goto("/lang/en")
    page.goto("/login/")
    expect(submit_button).to_have_text("Sign in")
    expect(title).to_have_text("Sign in to RegPortal")
    expect(page.locator("label[for=username]")).to_have_text("User name")
    shot(page, "2-en")

    page.goto("/lang/zh")
    page.goto("/login/")
    expect(submit_button).to_have_text("登录")
    expect(title).to_have_text("登录 RegPortal")
    assert_no_csp_errors(s)
