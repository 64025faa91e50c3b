"""The whole rental filing journey through a real browser against a real server (issue 3,
"Done means"; server and browser from conftest.py):

1. the public applies for a rental filing online (enterprise name + USCC, then the full form
   with premises and an attached licence) and gets a case reference and an access code;
2. the regulator reg.rental signs in with TOTP, finds the case in the review queue and
   approves it: the filing certificate is issued and the enterprise account is opened;
3. the enterprise signs in with user name = USCC and password = contact mobile, must change
   the password, then reaches its rental home with the certificate number;
4. the enterprise files a vehicle (plate, VIN with check digit, ...): a case under review;
5. the regulator approves the vehicle case;
6. anyone finds the vehicle and its enterprise in the public vehicle lookup;
7. the enterprise opens the vehicle in its list, downloads the certificate PDF (plate and
   certificate number are real text in it), and the verification URL printed in the PDF
   opens anonymously and shows the vehicle's live status "valid".

Elements are picked by id or name, not by translated text. Screenshots of every main step go
to $E2E_SCREENSHOTS or <tmp>/regportal-e2e-rental (outside the repository).
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader, PdfWriter
from stdnum.cn import uscc as stdnum_uscc

from app.demo_rental import vin_with_check_digit

from .conftest import WAIT_MS
from .test_platform_e2e import (
    LIST_TABLE,
    assert_no_csp_errors,
    flash,
    fresh_totp,
    path_of,
    submit_password_step,
)

expect.set_options(timeout=WAIT_MS)

REGULATOR = ("reg.rental", "Review#2026", "SDTBQCMZYLMDEC3BURLPTYGGABPOVXS4")

_USCC_BASE = "91440305MA5GE2K01"  # 17 characters: 9 1 | 440305 (南山区) | organisation code
APPLICANT = {
    "name": "深圳市蛇口湾小客车租赁有限公司",
    "uscc": _USCC_BASE + stdnum_uscc.calc_check_digit(_USCC_BASE),
    "legal_representative": "郑海涛",
    "contact_name": "吴晓梅",
    "contact_mobile": "13912345678",
    "contact_email": "wu.xiaomei@shekouwan.example.cn",
    "address": "深圳市南山区蛇口望海路1177号海景广场8楼",
    "region_code": "440305",
    "premises": [
        {"address": "深圳市南山区蛇口望海路1177号地下停车场B2层", "area": "320",
         "parking_spaces": "40", "phone": "0755-26880001"},
        {"address": "深圳市南山区科技园科苑路15号停车场", "area": "150",
         "parking_spaces": "18", "phone": "0755-26880002"},
    ],
}
NEW_PASSWORD = "Shekouwan#2026e2e"
VEHICLE = {
    "plate": "粤A8E2E2",
    "vin": vin_with_check_digit("LSVAM4180N2188881"),
    "brand": "比亚迪",
    "model": "秦PLUS",
    "vehicle_type": "small",
    "seats": "5",
    "colour": "白",
    "usage": "rental",
    "registered_on": "2024-03-15",
}
FILING_APPROVAL = "材料齐全，符合备案条件，同意备案。"
VEHICLE_APPROVAL = "车辆信息核验一致，同意备案。"

FILING_CERT = re.compile(r"GDZL\d{10}")
VEHICLE_CERT = re.compile(r"GDZLC\d{11}")
CASE_REF = re.compile(r"SQ\d{10}")


# ----- screenshots (outside the repository) --------------------------------------------------
@pytest.fixture()
def snap():
    """snap(page, "step") saves a full-page PNG into the screenshot directory."""
    folder = Path(os.environ.get("E2E_SCREENSHOTS")
                  or os.path.join(tempfile.gettempdir(), "regportal-e2e-rental"))
    folder.mkdir(parents=True, exist_ok=True)  # each run overwrites its own files

    def save(page: Page, step: str) -> Path:
        path = folder / f"{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    save.folder = folder
    return save


# ----- helpers -------------------------------------------------------------------------------
def small_pdf(title: str) -> dict:
    """A one-page PDF as a Playwright file payload."""
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": title})
    buf = io.BytesIO()
    writer.write(buf)
    return {"name": f"{title}.pdf", "mimeType": "application/pdf", "buffer": buf.getvalue()}


def click_and_wait(page: Page, selector: str) -> None:
    with page.expect_navigation():
        page.locator(selector).click()


def regulator_signs_in(page: Page, live_server: str) -> None:
    username, password, secret = REGULATOR
    submit_password_step(page, username, password)
    expect(page).to_have_url(re.compile(r"/login/totp/$"))
    page.fill("#code", fresh_totp(secret))
    click_and_wait(page, "#totp-submit")
    expect(page).not_to_have_url(re.compile(r"/login/"))
    expect(page.locator("#home-user strong")).to_have_text(username)


def open_from_review_queue(page: Page, reference: str, snap=None, step: str = "") -> None:
    """Find the case in the regulator's queue (all in jurisdiction) and open it. The queue is
    ordered by deadline (a new case comes last), so the case is searched for by its number,
    as FAB's search widget does with its default "starts with" filter."""
    page.goto("/review/list/")
    expect(page.locator("#queue-tabs li.active #tab-all")).to_be_visible()
    if snap:
        snap(page, step)
    page.goto(f"/review/list/?_flt_0_reference={reference}")
    expect(page.locator("#queue-tabs")).to_be_visible()
    expect(page.locator(f"{LIST_TABLE} tr", has_text=CASE_REF)).to_have_count(1)  # filtered
    expect(page.locator(f"{LIST_TABLE} tr", has_text=reference)).to_have_count(1)
    click_and_wait(page, f"{LIST_TABLE} tr:has-text('{reference}') a[href*='/show/']")
    expect(page).to_have_url(re.compile(r"/applications/show/\d+$"))
    expect(page.locator(".case-page .page-header small")).to_have_text(reference)


def approve_open_case(page: Page, opinion: str) -> None:
    """On a case page under review: approve with an opinion; the page shows the new state."""
    state = page.locator("#case-state")
    expect(state).to_have_class(re.compile(r"\blabel-primary\b"))  # under review
    before = state.inner_text()
    expect(page.locator("#do-approve")).to_be_visible()
    page.fill("#opinion", opinion)
    click_and_wait(page, "#do-approve")
    expect(flash(page).filter(has_text=re.compile(r"SQ\d+")).first).to_be_visible()
    expect(state).to_have_class(re.compile(r"\blabel-success\b"))  # approved
    assert state.inner_text() != before
    expect(page.locator("#case-opinion")).to_have_text(opinion)
    expect(page.locator("#case-history")).to_contain_text(opinion)
    expect(page.locator("#case-history")).to_contain_text("张建国")  # reg.rental's name
    expect(page.locator("#do-approve")).to_have_count(0)  # nothing left to decide


# ----- the journey ---------------------------------------------------------------------------
def test_rental_journey_from_application_to_verified_certificate(new_session, snap, live_server):
    public = new_session("public")
    regulator = new_session("regulator")
    enterprise = new_session("enterprise")

    # -- 1. the public applies online ---------------------------------------------------------
    page = public.page
    page.goto("/public/rental/")
    expect(page.locator("#rental-tabs")).to_be_visible()
    snap(page, "01-public-index")
    click_and_wait(page, "#card-apply")
    expect(page).to_have_url(re.compile(r"/public/rental/apply$"))
    if page.locator("#captcha").count():
        pytest.fail("the captcha is shown although the server runs with CAPTCHA_ENABLED=0")
    page.fill("#name", APPLICANT["name"])
    page.fill("#uscc", APPLICANT["uscc"])
    snap(page, "02-apply-step1")
    click_and_wait(page, "#apply-start button[type=submit]")

    expect(page).to_have_url(re.compile(r"/public/rental/apply/form\?t="))
    identity = page.locator("#apply-identity")
    expect(identity).to_contain_text(APPLICANT["name"])
    expect(identity).to_contain_text(APPLICANT["uscc"])
    for field in ("legal_representative", "contact_name", "contact_mobile", "contact_email",
                  "address"):
        page.fill(f"#{field}", APPLICANT[field])
    page.select_option("#region_code", APPLICANT["region_code"])
    page.check("#time_share-1")  # no time-share rental
    page.click("#add-premises")  # a second premises row, added by static JS
    expect(page.locator("[data-row]")).to_have_count(2)
    for i, premises in enumerate(APPLICANT["premises"]):
        for key, value in premises.items():
            page.fill(f"#premises-{i}-{key}", value)
    page.set_input_files("#licence", small_pdf("营业执照"))
    page.set_input_files("#documents", small_pdf("场所租赁合同"))
    snap(page, "03-apply-form")
    click_and_wait(page, "#apply-submit")

    expect(page).to_have_url(re.compile(r"/public/rental/apply/done$"))
    done = page.locator("#apply-done")
    expect(done).to_contain_text(APPLICANT["name"])
    expect(done).to_contain_text(APPLICANT["uscc"])
    reference = page.locator("#case-reference").inner_text().strip()
    access_code = page.locator("#access-code").inner_text().strip()
    assert CASE_REF.fullmatch(reference), reference
    assert re.fullmatch(r"[A-HJ-NP-Z2-9]{10}", access_code), access_code
    snap(page, "04-apply-done")
    # Shown once: the done page does not come back.
    page.goto("/public/rental/apply/done")
    expect(page).to_have_url(re.compile(r"/public/rental/status$"))

    # -- 2. the regulator approves the filing -------------------------------------------------
    rpage = regulator.page
    regulator_signs_in(rpage, live_server)
    open_from_review_queue(rpage, reference, snap, "05a-review-queue")
    case_page = rpage.locator(".case-page")
    expect(case_page).to_contain_text(APPLICANT["name"])
    expect(case_page).to_contain_text(APPLICANT["premises"][1]["address"])
    # Both files, in the case's attachments (and again in the trail's submission entry).
    files = case_page.locator("a[href*='/attachments/']")
    expect(files.filter(has_text="营业执照.pdf").first).to_be_visible()
    expect(files.filter(has_text="场所租赁合同.pdf").first).to_be_visible()
    assert len({files.nth(i).get_attribute("href") for i in range(files.count())}) == 2
    snap(rpage, "05-regulator-filing-case")
    approve_open_case(rpage, FILING_APPROVAL)
    snap(rpage, "06-regulator-filing-approved")
    # No longer waiting for review.
    rpage.goto("/review/list/")
    expect(rpage.locator(f"{LIST_TABLE} tr", has_text=reference)).to_have_count(0)

    # -- 3. first sign-in of the new enterprise account: forced password change ---------------
    epage = enterprise.page
    submit_password_step(epage, APPLICANT["uscc"], APPLICANT["contact_mobile"])
    expect(epage).to_have_url(re.compile(r"/resetmypassword/form"))
    expect(flash(epage)).to_be_visible()
    snap(epage, "07-enterprise-forced-change")
    epage.goto("/vehicles/list/")
    assert "/resetmypassword/form" in path_of(epage), epage.url
    epage.fill("#old_password", APPLICANT["contact_mobile"])
    epage.fill("#password", NEW_PASSWORD)
    epage.fill("#conf_password", NEW_PASSWORD)
    click_and_wait(epage, "form button[type=submit]")
    assert "/resetmypassword" not in path_of(epage), epage.url
    epage.goto("/")
    expect(epage.locator("#home-user strong")).to_have_text(APPLICANT["uscc"])
    expect(epage.locator("#home-user")).to_contain_text(APPLICANT["name"])
    epage.goto("/rental/home")
    home = epage.locator("#home-enterprise")
    expect(home).to_contain_text(APPLICANT["name"])
    expect(epage.locator("#home-certificate")).to_have_text(FILING_CERT)
    expect(epage.locator("#home-processed")).to_contain_text(reference)
    snap(epage, "08-enterprise-home")

    # -- 4. the enterprise files a vehicle ----------------------------------------------------
    epage.goto("/vehicles/list/")
    click_and_wait(epage, "#file-vehicle")
    expect(epage).to_have_url(re.compile(r"/rental/vehicles/new$"))
    expect(epage.locator("#owner_name")).to_have_value(APPLICANT["name"])
    for field in ("plate", "vin", "brand", "model", "seats", "colour", "registered_on"):
        epage.fill(f"#{field}", VEHICLE[field])
    epage.select_option("#vehicle_type", VEHICLE["vehicle_type"])
    epage.select_option("#usage", VEHICLE["usage"])
    epage.set_input_files("#attachments", small_pdf("行驶证"))
    snap(epage, "09-vehicle-form")
    click_and_wait(epage, "#submit-case")

    expect(epage).to_have_url(re.compile(r"/applications/show/\d+$"))
    state = epage.locator("#case-state")
    expect(state).to_have_class(re.compile(r"\blabel-primary\b"))  # under review
    expect(flash(epage).filter(has_text=CASE_REF).first).to_be_visible()
    vehicle_ref = epage.locator(".case-page .page-header small").inner_text().strip()
    assert CASE_REF.fullmatch(vehicle_ref) and vehicle_ref != reference, vehicle_ref
    expect(epage.locator(".case-page")).to_contain_text(VEHICLE["plate"])
    expect(epage.locator("#do-approve")).to_have_count(0)  # an enterprise cannot approve
    submitted_label = state.inner_text()
    snap(epage, "10-vehicle-case-submitted")

    # -- 5. the regulator approves the vehicle ------------------------------------------------
    open_from_review_queue(rpage, vehicle_ref)
    expect(rpage.locator("#case-state")).to_have_text(submitted_label)
    expect(rpage.locator(".case-page")).to_contain_text(VEHICLE["vin"])
    approve_open_case(rpage, VEHICLE_APPROVAL)
    snap(rpage, "11-regulator-vehicle-approved")

    # -- 6. public vehicle lookup -------------------------------------------------------------
    page.goto("/public/rental/")
    click_and_wait(page, "#card-vehicle")
    page.fill("#plate", VEHICLE["plate"])
    click_and_wait(page, "#vehicle-lookup button[type=submit]")
    result = page.locator("#vehicle-result")
    expect(result).to_have_count(1)
    expect(result.locator(".panel-title")).to_have_text(VEHICLE["plate"])
    expect(result).to_contain_text(APPLICANT["name"])
    expect(result.locator(".state-operating")).to_be_visible()
    expect(result.locator("#vin-masked")).to_have_text(
        VEHICLE["vin"][:4] + "*" * 9 + VEHICLE["vin"][-4:])
    # Public fields only: no contact mobile or e-mail.
    expect(page.locator("body")).not_to_contain_text(APPLICANT["contact_mobile"])
    expect(page.locator("body")).not_to_contain_text(APPLICANT["contact_email"])
    certificate_no = result.locator("dd.case-ref").first.inner_text().strip()
    assert VEHICLE_CERT.fullmatch(certificate_no), certificate_no
    snap(page, "12-public-vehicle-lookup")

    # -- 7. certificate PDF and its verification page -----------------------------------------
    epage.goto("/vehicles/list/")
    row = epage.locator(f"{LIST_TABLE} tr", has_text=VEHICLE["plate"])
    expect(row).to_have_count(1)
    expect(row).to_contain_text(certificate_no)
    snap(epage, "13-vehicle-list")
    click_and_wait(epage, f"{LIST_TABLE} tr:has-text('{VEHICLE['plate']}') "
                          "a[href*='/vehicles/show/']")
    expect(epage).to_have_url(re.compile(r"/vehicles/show/\d+$"))
    expect(epage.locator(".page-header h3")).to_contain_text(VEHICLE["plate"])
    details = epage.locator("#vehicle-details")
    for value in (VEHICLE["vin"], certificate_no, APPLICANT["name"]):
        expect(details).to_contain_text(value)
    expect(epage.locator("#vehicle-cases")).to_contain_text(vehicle_ref)
    snap(epage, "14-vehicle-detail")

    href = epage.locator("#vehicle-certificate").get_attribute("href")
    assert re.fullmatch(r"/vehicles/certificate/\d+", href or ""), href
    response = epage.request.get(href)
    assert response.status == 200, response.status
    assert response.headers["content-type"].startswith("application/pdf")
    pdf = response.body()
    assert pdf.startswith(b"%PDF")
    (snap.folder / "vehicle-certificate.pdf").write_bytes(pdf)
    text = "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages)
    assert VEHICLE["plate"] in text, text
    assert certificate_no in text, text
    assert APPLICANT["name"] in text, text
    # The printed verification URL can be wrapped over lines in the PDF text.
    match = re.search(r"(https?://\S+?/verify/)((?:[A-Za-z0-9_.\-]|\s)+)", text)
    assert match, text
    verify_url = match.group(1) + re.sub(r"\s+", "", match.group(2))
    assert verify_url.startswith(live_server + "/verify/"), verify_url

    # The certificate cannot be fetched without the enterprise's session (a context of its
    # own: FAB's "access denied" flash would otherwise show on the public's next page).
    stranger = new_session("stranger")
    refused = stranger.context.request.get(href, max_redirects=0)
    assert refused.status in (302, 401, 403), refused.status

    page.goto(verify_url)
    document = page.locator("#verify-document")
    expect(document).to_be_visible()
    expect(page.locator("div.alert-danger")).to_have_count(0)
    expect(page.locator("#verify-number")).to_have_text(certificate_no)
    expect(page.locator("#verify-status")).to_have_attribute("data-status", "valid")
    expect(page.locator("#verify-status")).to_have_class(re.compile(r"\blabel-success\b"))
    expect(document).to_contain_text(VEHICLE["plate"])
    snap(page, "15-verify-page")

    assert_no_csp_errors(public, regulator, enterprise, stranger)
