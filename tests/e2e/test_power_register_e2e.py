"""Power enterprise registration (seed 002 §3.1-3.2) in a real browser: the form with the
cascading address selects, the 【选择】 popup (search by part of a name, names only, pick, 确定
/ 取消), registration, sign-in with the USCC, and "my information" where the locked fields
are read-only and the parent enterprise is changed through the same popup.

Screenshots: test-artifacts/e2e/power_registration-*.png."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from stdnum.cn import uscc as stdnum_uscc

from .conftest import WAIT_MS
from .test_platform_e2e import assert_no_csp_errors, submit_password_step
from .test_usedcar_e2e import click_and_wait, pick_region

expect.set_options(timeout=WAIT_MS)

USCC = "91440106MA9W3K7D" + "5"
USCC = USCC[:17] + stdnum_uscc.calc_check_digit(USCC[:17])
NAME = "广州市天河华电电力安装工程有限公司"
PASSWORD = "Huadian#2026pw"
P_NAME, Q_NAME = "广东粤电建设工程有限公司", "广州南沙明珠电力工程有限公司"


def choose_parent(page, fragment: str, name: str) -> None:
    page.click("#parent-choose")
    expect(page.locator("#parent-modal")).to_be_visible()
    page.fill("#parent-search", fragment)
    page.click("#parent-search-go")
    choice = page.locator("#parent-results .parent-choice", has_text=name)
    expect(choice).to_have_count(1)
    choice.click()
    page.click("#parent-ok")
    expect(page.locator("#parent-modal")).to_be_hidden()
    expect(page.locator("#parent-name")).to_have_value(name)


def fill_registration(page, name: str, uscc: str, legal_representative: str = "邱建华") -> None:
    """From the login page to a filled first part of the registration form."""
    page.goto("/login/")
    click_and_wait(page, "#power-register-link a")
    expect(page).to_have_url(re.compile(r"/public/power/register$"))
    page.fill("#name", name)
    page.fill("#uscc", uscc)
    page.select_option("#enterprise_type", "limited")
    page.fill("#legal_representative", legal_representative)
    pick_region(page, "region_code", "广东省", "广州市", "天河区")
    page.fill("#street", "天河区黄埔大道西100号")
    page.fill("#registered_capital", "2800")
    page.fill("#founded_on", "2015-03-12")


def fill_contact_and_password(page, password: str) -> None:
    page.fill("#postal_address", "广州市天河区黄埔大道西100号富力盈泰大厦8楼")
    page.fill("#postcode", "510627")
    page.fill("#contact_name", "邱敏")
    page.fill("#contact_mobile", "13826012345")
    page.fill("#telephone", "020-38886666")
    page.fill("#email", "office@huadian.example.cn")
    page.fill("#password", password)
    page.fill("#confirm", password)


def test_power_registration(new_session, shot):
    s = new_session("power")
    page = s.page
    fill_registration(page, NAME, USCC)

    # The popup: a fragment of the name, names only; 取消 leaves the form as it was.
    page.click("#parent-choose")
    expect(page.locator("#parent-modal")).to_be_visible()
    page.fill("#parent-search", "电力")
    page.click("#parent-search-go")
    expect(page.locator("#parent-results .parent-choice").first).to_be_visible()
    text = page.locator("#parent-results").inner_text()
    assert Q_NAME in text and "91440" not in text
    shot(page, "1-popup")
    page.click("#parent-cancel")
    expect(page.locator("#parent-modal")).to_be_hidden()
    expect(page.locator("#parent-name")).to_have_value("")
    choose_parent(page, "粤电", P_NAME)

    fill_contact_and_password(page, PASSWORD)
    shot(page, "2-form")
    click_and_wait(page, "#register-submit")
    expect(page).to_have_url(re.compile(r"/public/power/register/done$"))
    expect(page.locator("#registered-username")).to_have_text(USCC)
    shot(page, "3-done")

    submit_password_step(page, USCC, PASSWORD)
    expect(page).not_to_have_url(re.compile(r"/login/"))
    page.goto("/power/profile/")
    expect(page.locator("#profile-name")).to_have_text(NAME)
    expect(page.locator("#profile-parent")).to_have_text(P_NAME)
    click_and_wait(page, "#profile-edit")
    expect(page.locator("#profile-locked")).to_contain_text("邱建华")
    expect(page.locator("#registration-change-link")).to_have_attribute(
        "href", "/power/requests/new/registration_change")
    assert page.locator("input[name=name], select[name=enterprise_type]").count() == 0
    choose_parent(page, "南沙", Q_NAME)
    page.fill("#postcode", "510630")
    shot(page, "4-edit")
    click_and_wait(page, "#profile-save")
    expect(page.locator("#profile-parent")).to_have_text(Q_NAME)
    shot(page, "5-saved")
    assert_no_csp_errors(s)
