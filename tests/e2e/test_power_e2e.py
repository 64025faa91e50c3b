"""The power-licensing journey through a real browser against a real server (issue 6, "Done
means"):

1. a new power enterprise registers at /public/power/register and signs in with its USCC;
2. it starts a new licence (承试五级): the credit check offers the routes, step 1 takes the
   category, level, submitter and the legal representative's statement;
3. the completeness check lists the gaps by section; the enterprise fills the tabs one by
   one (equity, technical and safety leads with work history, technical staff and
   electricians through the staff service, materials) until the check is complete, and
   submits;
4. reg.power (password + TOTP) accepts, passes the examination and approves on the case
   page: the staged review, each stage in the trail;
5. the enterprise opens its licence, downloads the certificate PDF (CJK text, the licence
   number, the verification address of the QR code) and the verification page says valid;
6. a registration-item change (new legal representative) is submitted and approved: the
   licence keeps its number in version 2, and the old certificate's verification page says
   "superseded" and links the current version, which names the new legal representative.

Screenshots: test-artifacts/e2e/power_journey-*.png."""

from __future__ import annotations

import datetime
import io
import re

from playwright.sync_api import expect
from pypdf import PdfReader
from stdnum.cn import ric
from stdnum.cn import uscc as stdnum_uscc

from .conftest import WAIT_MS
from .test_platform_e2e import assert_no_csp_errors, fresh_totp, submit_password_step
from .test_power_register_e2e import fill_contact_and_password, fill_registration
from .test_usedcar_e2e import click_and_wait

expect.set_options(timeout=WAIT_MS)

NAME = "广州市天河恒通电力试验有限公司"
USCC = "91440106MA9W7T2P1" + stdnum_uscc.calc_check_digit("91440106MA9W7T2P1")
PASSWORD = "Hengtong#2026pw"
REGULATOR = ("reg.power", "Review#2026", "NLPL3TLYDAUFLL5M2E6OKC55G32RXBI4")
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]" \
      b"/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def _id(seq: int) -> str:
    born = datetime.date(1980, 1, 1) + datetime.timedelta(days=seq * 97)
    body = f"440106{born:%Y%m%d}{100 + seq:03d}"
    return body + ric.calc_check_digit(body + "0")


def _file(name: str) -> dict:
    return {"name": name, "mimeType": "application/pdf", "buffer": PDF}


def _tab(page, tab: str) -> None:
    click_and_wait(page, f"#tab-{tab}")


def _add_row(page, kind: str, values: dict) -> None:
    page.click(f"#{kind}-add-toggle")
    for field, value in values.items():
        page.fill(f"#{kind}-add-form [name={field}]", value)
    click_and_wait(page, f"#{kind}-add")


def _add_person(page, values: dict, selects: dict) -> None:
    page.click("#staff-add-toggle")
    for field, value in values.items():
        page.fill(f"#staff-form [name={field}]", value)
    for field, value in selects.items():
        page.select_option(f"#staff-form [name={field}]", value)
    click_and_wait(page, "#staff-save")
    expect(page.locator(".alert-success")).to_be_visible()


def _regulator(new_session):
    s = new_session("regulator")
    username, password, secret = REGULATOR
    submit_password_step(s.page, username, password)
    s.page.fill("#code", fresh_totp(secret))
    click_and_wait(s.page, "#totp-submit")
    return s


def _decide(page, ref_url: str, shot, label: str) -> None:
    """Accept, pass the examination and approve, each from the case page."""
    page.goto(ref_url)
    for step in ("accept", "examine", "approve"):
        page.fill("#opinion", {"accept": "材料齐全，予以受理。", "examine": "审查通过。",
                               "approve": "准予许可。"}[step])
        click_and_wait(page, f"#do-{step}")
        expect(page.locator("#case-history")).to_contain_text(page.locator("#case-state")
                                                              .inner_text())
    expect(page.locator("#case-state")).to_have_text("已通过")
    shot(page, f"{label}-approved")


def _submit_complete(page) -> str:
    """The check is complete: submit; returns the case page's path."""
    _tab(page, "check")
    expect(page.locator("#check-complete")).to_be_visible()
    page.once("dialog", lambda d: d.accept())
    with page.expect_navigation():
        page.click("#request-submit")
    expect(page).to_have_url(re.compile(r"/applications/show/\d+$"))
    return re.sub(r"^https?://[^/]+", "", page.url)


def test_power_journey(new_session, shot):
    ent = new_session("enterprise")
    page = ent.page
    # 1. Registration, sign-in with the USCC.
    fill_registration(page, NAME, USCC, legal_representative="黄志恒")
    fill_contact_and_password(page, PASSWORD)
    click_and_wait(page, "#register-submit")
    expect(page.locator("#registered-username")).to_have_text(USCC)
    submit_password_step(page, USCC, PASSWORD)
    page.goto("/power/")
    shot(page, "01-home")

    # 2. A new licence: credit check and step 1.
    click_and_wait(page, "#matter-new")
    expect(page.locator("#credit-check")).to_be_visible()
    expect(page.locator("[data-route-offered=tolerance]")).to_be_visible()
    page.check("#cat-test")
    page.select_option("#level-test", "5")
    page.fill("#submitter_name", "黄志恒")
    page.fill("#submitter_id_number", _id(1))
    page.set_input_files("#legal_statement", _file("法人声明.pdf"))
    shot(page, "02-step1")
    click_and_wait(page, "#start-next")

    # 3. The check lists the gaps by section.
    _tab(page, "check")
    findings = page.locator("#check-findings")
    expect(findings).to_be_visible()
    for section in ("basic", "technical", "safety", "staff", "electricians", "materials"):
        expect(findings.locator(f"[data-section={section}]").first).to_be_visible()
    expect(page.locator("#request-submit")).to_be_disabled()
    shot(page, "03-gaps")

    _tab(page, "basic")
    _add_row(page, "equity", {"name": "黄志恒", "amount": "1000", "share": "100"})
    expect(page.locator("#equity-total")).to_contain_text("100")
    for role, name, seq in (("technical", "邓明远", 2), ("safety", "梁思敏", 3)):
        _tab(page, role)
        page.fill("#tab-form [name=name]", name)
        page.fill("#tab-form [name=id_number]", _id(seq))
        page.select_option("#tab-form [name=title]", "intermediate")
        page.fill("#tab-form [name=specialty]", "电气工程")
        page.fill("#tab-form [name=years]", "8")
        page.fill("#tab-form [name=mobile]", "13926007788")
        click_and_wait(page, "#tab-save")
        _add_row(page, f"{role}-work", {
            "start_on": "2016-07-01", "end_on": "2024-06-30", "organisation": "广东电网公司",
            "detail": "试验工程师", "certifier": "何工", "certifier_mobile": "13802556677"})
        expect(page.locator(f"#{role}-work tbody tr[data-row-id]")).to_have_count(1)
    shot(page, "04-lead")
    _tab(page, "staff")
    for i, title in enumerate(("intermediate", "intermediate", "junior", "junior", "none")):
        _add_person(page, {"name": f"技术员{'甲乙丙丁戊'[i]}", "id_number": _id(10 + i),
                           "specialty": "电气试验"}, {"title": title})
    expect(page.locator("#total-technical")).to_have_text("5")
    _tab(page, "electricians")
    for i in range(3):
        number = _id(20 + i)
        _add_person(page, {"name": f"电工{'甲乙丙'[i]}", "id_number": number,
                           "certificate_no": "T" + number}, {"certificate_kind": "test"})
    expect(page.locator("#total-electricians")).to_have_text("3")
    shot(page, "05-electricians")
    _tab(page, "materials")
    for row in page.locator("#materials-table tr[data-slot]").all():
        slot = row.get_attribute("data-slot")
        if slot != "legal_statement":
            page.set_input_files(f"#file-{slot}", _file(f"{slot}.pdf"))
    click_and_wait(page, "#tab-save")
    expect(page.locator("#materials-table tr.success")).to_have_count(
        page.locator("#materials-table tr[data-slot]").count())
    case_url = _submit_complete(page)
    shot(page, "06-submitted")
    expect(page.locator("#case-state")).to_have_text("待受理")

    # 4. The staged review.
    reg = _regulator(new_session)
    _decide(reg.page, case_url, shot, "07-new")

    # 5. The licence, its certificate and verification.
    page.goto("/power/")
    number = page.locator("#home-licence-number").inner_text()
    assert re.fullmatch(r"CXS\d{9}", number)
    click_and_wait(page, "#home-licence a")
    shot(page, "08-licence")
    response = page.request.get(page.locator("#licence-certificate").get_attribute("href"))
    assert response.ok and response.body().startswith(b"%PDF")
    text = PdfReader(io.BytesIO(response.body())).pages[0].extract_text()
    assert number in text and "承装（修、试）电力设施许可证" in text
    old_verify = re.search(r"https?://\S+/verify/[A-Za-z0-9_.\-]+", text).group(0)
    pub = new_session("public").page
    pub.goto(re.sub(r"^https?://[^/]+", "", old_verify))
    expect(pub.locator("#verify-status")).to_have_attribute("data-status", "valid")
    shot(pub, "09-verify-valid")

    # 6. A registration-item change: version 2, the old paper superseded.
    page.goto("/power/")
    click_and_wait(page, "#matter-registration_change")
    page.fill("#submitter_name", "黄志恒")
    page.fill("#submitter_id_number", _id(1))
    page.set_input_files("#legal_statement", _file("法人声明.pdf"))
    click_and_wait(page, "#start-next")
    expect(page.locator("#changes-table")).to_contain_text("黄志恒")
    page.fill("#legal_representative", "陈国华")
    page.fill("#legal_representative_id", _id(30))
    click_and_wait(page, "#tab-save")
    _tab(page, "materials")
    for row in page.locator("#materials-table tr[data-slot]").all():
        slot = row.get_attribute("data-slot")
        if slot != "legal_statement":
            page.set_input_files(f"#file-{slot}", _file(f"{slot}.pdf"))
    click_and_wait(page, "#tab-save")
    change_url = _submit_complete(page)
    _decide(reg.page, change_url, shot, "10-change")
    pub.goto(re.sub(r"^https?://[^/]+", "", old_verify))
    expect(pub.locator("#verify-status")).to_have_attribute("data-status", "superseded")
    expect(pub.locator("#verify-note")).to_be_visible()
    shot(pub, "11-verify-superseded")
    click_and_wait(pub, "#verify-link")
    expect(pub.locator("#verify-status")).to_have_attribute("data-status", "valid")
    expect(pub.locator("#verify-document")).to_contain_text("陈国华")
    expect(pub.locator("#verify-number")).to_have_text(number)
    shot(pub, "12-verify-current")
    page.goto("/power/")
    click_and_wait(page, "#home-licence a")
    expect(page.locator("#licence-versions tbody tr")).to_have_count(2)
    assert_no_csp_errors(ent, reg)
