"""The used-car journey through a real browser against a real server (issue 4, "Done
means"; server, job worker and browser from conftest.py):

1. a new dealer registers at /public/usedcar/register (domicile picked with the cascading
   province / city / district selects, enterprise type, business types, a USCC with its check
   digit), sees its user name and signs in with the USCC;
2. it fills the dealer filing form (two branch rows added, one deleted) and saves it: a
   case awaiting confirmation; sales entry is refused with the reason until then;
3. the local commerce authority (reg.usedcar, password + TOTP) confirms the case from its
   review queue;
4. the dealer enters one sale through the form (the price in Chinese capitals appears while
   typing), finds it in the list and by its VIN;
5. Excel import: the template from the list page (a real .xlsx with the Chinese headers)
   filled with openpyxl, 3 rows of which one has a wrong VIN check digit: the error is shown
   by row and column, the error workbook downloads, nothing is saved; the row fixed, the same
   upload imports 3 rows (the job runs in the worker; the page follows its progress);
6. the monthly trade report of last month: the regulator first grants the dealer an
   extension from its "missing reports" page (last month's window, the 1st-15th with 5 days
   of grace, is closed after the 20th, and today is used as it is), then the dealer fills
   the report, prefilled from that month's sales, and finds it in its list;
7. the regulator opens the regional aggregates: the charts (SVG) name the month, the month's
   row holds the dealer's figures, and the .xlsx export downloads.

A second, small test registers an enterprise without a USCC and signs in with its business
licence number (U2).

Elements are picked by id or name; the texts asserted are the Chinese UI's. Screenshots go to
test-artifacts/e2e/usedcar_journey-*.png (conftest's `shot`).
"""

from __future__ import annotations

import datetime
import io
import re
from decimal import Decimal

from openpyxl import load_workbook
from playwright.sync_api import Page, expect
from stdnum.cn import ric
from stdnum.cn import uscc as stdnum_uscc
from stdnum.iso7064 import mod_11_10

from app.demo_rental import vin_with_check_digit
from app.services.cn_codes import org_code_check_char
from config import REPORT_WINDOWS

from .conftest import JOB_WAIT_MS, WAIT_MS
from .test_platform_e2e import (
    LIST_TABLE,
    assert_no_csp_errors,
    fresh_totp,
    path_of,
    submit_password_step,
)

expect.set_options(timeout=WAIT_MS)

REGULATOR = ("reg.usedcar", "Review#2026", "QMYKZKDFJDZHK3ZNZW64GEJABTRQ3AEE")
REGULATOR_NAME = "王芳"
CASE_REF = re.compile(r"SQ\d{10}")
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _uscc(base17: str) -> str:
    return base17 + stdnum_uscc.calc_check_digit(base17)


def _resident_id(base17: str) -> str:
    return base17 + ric.calc_check_digit(base17 + "0")  # the last place is ignored


ENTERPRISE = {
    "name": "广州市天河骏达二手车销售有限公司",
    "uscc": _uscc("91440106MA9Y4R7K0"),
    "street": "天河区黄埔大道西638号骏达汽车城1楼",
    "filer_name": "梁志强",
    "filer_mobile": "13725081946",
    "password": "Junda#2026uc",
}
FILING = {
    "legal_representative": "梁志强",
    "registered_capital": "500",
    "floor_area": "2600",
    "founded_on": "2019-06-18",
    "operating_from": "2019-06-18",
    "professional_staff": "12",
    "scope": "二手车经销；汽车零配件零售；汽车信息咨询。",
    "filer_email": "liang.zq@junda-auto.example.cn",
}
BRANCH = {
    "name": "广州市天河骏达二手车销售有限公司番禺分公司",
    "licence_no": _uscc("91440113MA9Y5B2L3"),
    "address": "广州市番禺区迎宾路368号",
    "scope": "二手车经销",
}
DROPPED_BRANCH = "广州市天河骏达二手车销售有限公司（待删除）"
CONFIRM_OPINION = "备案材料齐全，信息属实，予以确认。"

# The month reported on: the one before today's (its window may be open, in grace or
# closed, depending on the day; the regulator's extension makes it submittable anyway).
_first = datetime.date.today().replace(day=1)
REPORT_MONTH = (_first - datetime.timedelta(days=1)).replace(day=1)
MONTH_KEY = f"{REPORT_MONTH:%Y-%m}"


def _day(n: int) -> str:
    return REPORT_MONTH.replace(day=n).isoformat()


SELLER = {"name": "广州市穗城汽车服务有限公司", "code": _uscc("91440104MA5AT3E1X"),
          "address": "广州市越秀区环市东路1号",
          "mobile": "13902201188"}
SALE = {
    "report_date": _day(12),
    "buyer_name": "陈晓东",
    "buyer_code": _resident_id("44010619850315121"),
    "buyer_address": "广州市天河区天河北路233号",
    "buyer_mobile": "13800138123",
    "plate": "粤A7H2Q9",
    "registration_no": "440100123456",
    "vin": vin_with_check_digit("LFV2A21K0N3041001"),
    "brand_model": "大众牌FV7152FBDWG",
    "vehicle_type": "小型轿车",
    "category": "basic",
    "transfer_office": "广州市公安局交通警察支队车辆管理所",
    "price": "128500",
}
PRICE_WORDS = "壹拾贰万捌仟伍佰元整"

# The three imported sales: (VIN stem, plate, category label, price, report day, agent?).
IMPORTED = [
    ("LGBH52E0XN7100021", "粤A3M5K8", "SUV", 165000, 5, False),
    ("LSGKB54H0NV200032", "粤AD52731", "基本型乘用车", 86000.5, 18, True),
    ("LZWADAGA0N8300043", "粤A9L6T3", "MPV", 99000, 25, False),
]
BAD_ROW = 3  # the sheet's row number (row 1 holds the headers) of IMPORTED[1]
SALE_HEADERS = [
    "报表时间", "买方单位/个人名称", "买方是否企业", "买方是否有统一代码",
    "买方身份证号/统一社会信用代码/组织机构代码", "买方单位/个人住址", "买方单位/个人手机",
    "卖方单位/个人名称", "卖方是否企业", "卖方是否有统一代码",
    "卖方身份证号/统一社会信用代码/组织机构代码", "卖方单位/个人住址", "卖方单位/个人手机",
    "是否代理人", "代理人单位/个人名称", "代理人是否企业", "代理人是否有统一代码",
    "代理人身份证号/统一社会信用代码/组织机构代码", "代理人单位/个人地址", "代理人单位/个人手机",
    "车牌号码", "登记证号", "车架号/车辆识别代码", "厂牌型号", "车辆类型", "报表车辆类别",
    "转入地车辆管理所名称", "车价合计（小写，元）", "经营、拍卖单位",
]
VIN_HEADER = "车架号/车辆识别代码"


# ----- helpers -------------------------------------------------------------------------------
def click_and_wait(page: Page, selector: str) -> None:
    with page.expect_navigation():
        page.locator(selector).first.click()


def alert(page: Page, text) -> None:
    expect(page.locator("div.alert").filter(has_text=text).first).to_be_visible()


def list_rows(page: Page):
    return page.locator(f"{LIST_TABLE} tbody tr").filter(has=page.locator("td"))


def regulator_signs_in(page: Page) -> None:
    username, password, secret = REGULATOR
    submit_password_step(page, username, password)
    expect(page).to_have_url(re.compile(r"/login/totp/$"))
    page.fill("#code", fresh_totp(secret))
    click_and_wait(page, "#totp-submit")
    expect(page).not_to_have_url(re.compile(r"/login/"))
    expect(page.locator("#home-user strong")).to_have_text(username)


def pick_region(page: Page, field: str, province: str, city: str, district: str) -> None:
    """The cascading selects as a user picks them: each choice loads the next level
    (static/js/region-select.js); select_option waits for the wanted option to appear."""
    page.select_option(f"#{field}-province", label=province)
    page.select_option(f"#{field}-city", label=city)
    page.select_option(f"#{field}", label=district)
    expect(page.locator(f"#{field} option:checked")).to_have_text(district)


def download(page: Page, selector: str):
    """Click a download link; (suggested file name, bytes)."""
    with page.expect_download(timeout=WAIT_MS) as info:
        page.locator(selector).first.click()
    dl = info.value
    with open(dl.path(), "rb") as fh:
        return dl.suggested_filename, fh.read()


def import_rows(vin_of) -> list[dict]:
    """The imported sales by template header; vin_of(index, stem) gives each VIN."""
    rows = []
    for i, (stem, plate, category, price, day, agent) in enumerate(IMPORTED):
        row = {
            "报表时间": datetime.date.fromisoformat(_day(day)),
            "买方单位/个人名称": ["黄丽娟", "广州市明珠物流有限公司", "周建华"][i],
            "买方是否企业": "是" if i == 1 else "否",
            "买方是否有统一代码": "是" if i == 1 else "否",
            "买方身份证号/统一社会信用代码/组织机构代码": [
                _resident_id("44010519900712004"), _uscc("91440101MA59RCQ72"),
                _resident_id("44011119881103301")][i],
            "买方单位/个人住址": ["广州市海珠区江南大道中88号", "广州市白云区云城西路9号",
                           "广州市黄埔区开创大道100号"][i],
            "买方单位/个人手机": ["13600001111", "13711112222", "13533334444"][i],
            "卖方单位/个人名称": SELLER["name"], "卖方是否企业": "是", "卖方是否有统一代码": "是",
            "卖方身份证号/统一社会信用代码/组织机构代码": SELLER["code"],
            "卖方单位/个人住址": SELLER["address"], "卖方单位/个人手机": SELLER["mobile"],
            "是否代理人": "是" if agent else "否",
            "车牌号码": plate, "登记证号": f"44010020{i:04d}",
            VIN_HEADER: vin_of(i, stem), "厂牌型号": ["本田牌DHW6471", "别克牌SGM7151",
                                                     "五菱牌LZW6470"][i],
            "车辆类型": ["小型普通客车", "小型轿车", "小型普通客车"][i], "报表车辆类别": category,
            "转入地车辆管理所名称": "广州市公安局交通警察支队车辆管理所",
            "车价合计（小写，元）": price, "经营、拍卖单位": ENTERPRISE["name"],
        }
        if agent:
            row.update({"代理人单位/个人名称": "刘海波", "代理人是否企业": "否",
                        "代理人是否有统一代码": "否",
                        "代理人身份证号/统一社会信用代码/组织机构代码":
                            _resident_id("44010619920101201"),
                        "代理人单位/个人地址": "广州市天河区体育西路55号",
                        "代理人单位/个人手机": "13912345670"})
        rows.append(row)
    return rows


def good_vin(_i: int, stem: str) -> str:
    return vin_with_check_digit(stem)


def one_bad_vin(i: int, stem: str) -> str:
    vin = vin_with_check_digit(stem)
    if i != BAD_ROW - 2:
        return vin
    wrong = "7" if vin[8] != "7" else "3"
    return vin[:8] + wrong + vin[9:]


def filled_template(template: bytes, rows: list[dict]) -> dict:
    """The downloaded template with the rows under its headers, as an upload payload."""
    wb = load_workbook(io.BytesIO(template))
    ws = wb.worksheets[0]
    columns = {cell.value: cell.column for cell in ws[1]}
    for r, row in enumerate(rows, start=2):
        for header, value in row.items():
            ws.cell(row=r, column=columns[header], value=value)
    buf = io.BytesIO()
    wb.save(buf)
    return {"name": "二手车销售记录.xlsx", "mimeType": XLSX_MIME, "buffer": buf.getvalue()}


def upload_and_wait(page: Page, payload: dict, shot=None, step: str = "") -> None:
    """On the import page: upload, then the job's page follows it to its outcome (while the
    worker has not finished, the page shows the progress bar and polls)."""
    page.set_input_files("#import-file", payload)
    click_and_wait(page, "#import-submit")
    expect(page).to_have_url(re.compile(r"/usedcar/sales/import/\d+$"))
    if shot is not None and page.locator("#import-waiting").count():
        shot(page, step)
    outcome = page.locator("#import-done, #import-rejected, #import-failed")
    expect(outcome).to_be_visible(timeout=JOB_WAIT_MS)


def expected_report() -> dict:
    """Per category: (amount in 10k CNY, total, direct, consignment) from the four sales."""
    by_cat: dict[str, list] = {}
    sales = [("basic", Decimal(SALE["price"]), False)]
    codes = {"SUV": "suv", "基本型乘用车": "basic", "MPV": "mpv"}
    sales += [(codes[c], Decimal(str(p)), a) for _s, _p, c, p, _d, a in IMPORTED]
    for cat, price, agent in sales:
        row = by_cat.setdefault(cat, [Decimal(0), 0, 0, 0])
        row[0] += price
        row[1] += 1
        row[3 if agent else 2] += 1
    return {cat: ((v[0] / 10000).quantize(Decimal("0.01")), v[1], v[2], v[3])
            for cat, v in by_cat.items()}


def window_state_today() -> str:
    """Last month's window now under the shipped configuration (the e2e server runs with
    it): "open" (the 1st-15th), "grace" (to the 20th) or "closed"."""
    from app.workflows import windows

    period = windows.Period.parse(MONTH_KEY, "month")
    return windows.status("usedcar_monthly", period, datetime.datetime.now(),
                          REPORT_WINDOWS).state


# ----- the journey ---------------------------------------------------------------------------
def test_usedcar_journey(new_session, shot, live_server):
    dealer = new_session("dealer")
    regulator = new_session("regulator")
    page = dealer.page

    # -- 1. registration ----------------------------------------------------------------------
    page.goto("/public/usedcar/register")
    expect(page.locator("#usedcar-register")).to_be_visible()
    expect(page.locator("#immutable-note")).to_contain_text("一经注册，不得修改")
    assert page.locator("#captcha").count() == 0, "captcha shown with CAPTCHA_ENABLED=0"
    page.fill("#name", ENTERPRISE["name"])
    pick_region(page, "region_code", "广东省", "广州市", "天河区")
    page.fill("#street", ENTERPRISE["street"])
    expect(page.locator("input[name=has_uscc][value='1']")).to_be_checked()
    page.fill("#uscc", ENTERPRISE["uscc"])
    page.fill("#password", ENTERPRISE["password"])
    page.fill("#confirm", ENTERPRISE["password"])
    page.check("input[name=enterprise_type][value=dealer]")
    page.check("input[name=business_types][value=dealer]")
    page.check("input[name=business_types][value=broker]")
    page.fill("#filer_name", ENTERPRISE["filer_name"])
    page.fill("#filer_mobile", ENTERPRISE["filer_mobile"])
    shot(page, "01-register-form")
    click_and_wait(page, "#register-submit")

    expect(page).to_have_url(re.compile(r"/public/usedcar/register/done$"))
    done = page.locator("#register-done")
    expect(done).to_contain_text(ENTERPRISE["name"])
    expect(page.locator("#registered-username")).to_have_text(ENTERPRISE["uscc"])
    shot(page, "02-register-done")
    click_and_wait(page, "#register-login")
    expect(page).to_have_url(re.compile(r"/login/"))
    submit_password_step(page, ENTERPRISE["uscc"], ENTERPRISE["password"])
    expect(page).not_to_have_url(re.compile(r"/login/"))
    page.goto("/")
    expect(page.locator("#home-user strong")).to_have_text(ENTERPRISE["uscc"])
    expect(page.locator("#home-user")).to_contain_text(ENTERPRISE["name"])

    # -- 2. the dealer filing form ------------------------------------------------------------
    page.goto("/usedcar/filing/")
    expect(page.locator("#unconfirmed-note")).to_be_visible()
    expect(page.locator("#filing-types tr[data-type]")).to_have_count(2)  # dealer, broker
    click_and_wait(page, "#open-dealer")
    expect(page).to_have_url(re.compile(r"/usedcar/filing/dealer$"))
    form = page.locator("#filing-form")
    expect(form).to_contain_text(ENTERPRISE["name"])
    expect(form).to_contain_text(ENTERPRISE["uscc"])
    # Domicile, business address and filer come from the registration.
    expect(page.locator("#domicile_region option:checked")).to_have_text("天河区")
    expect(page.locator("#domicile_street")).to_have_value(ENTERPRISE["street"])
    expect(page.locator("#filer_mobile")).to_have_value(ENTERPRISE["filer_mobile"])
    expect(page.locator("#share_cn")).to_have_value("100.00")
    for field in ("legal_representative", "registered_capital", "floor_area",
                  "professional_staff", "scope", "filer_email"):
        page.fill(f"#{field}", FILING[field])
    for field in ("founded_on", "operating_from"):
        page.fill(f"#{field}", FILING[field])
    # Two branch rows, then the first one deleted again.
    branches = page.locator("#branches [data-row]")
    expect(branches).to_have_count(0)
    page.click("#add-branch")
    page.click("#add-branch")
    expect(branches).to_have_count(2)
    page.fill("#branches-0-name", DROPPED_BRANCH)
    for key, value in BRANCH.items():
        page.fill(f"#branches-1-{key}", value)
    expect(branches.nth(1).locator(".row-no")).to_have_text("2")
    branches.nth(0).locator("[data-remove-row]").click()
    expect(branches).to_have_count(1)
    expect(branches.nth(0).locator(".row-no")).to_have_text("1")
    expect(page.locator("#branches-1-name")).to_have_value(BRANCH["name"])
    shot(page, "03-filing-form")
    click_and_wait(page, "#filing-save")

    expect(page).to_have_url(re.compile(r"/usedcar/filing/$"))
    saved = page.locator("div.alert-success").filter(has_text=CASE_REF).first
    expect(saved).to_be_visible()
    reference = CASE_REF.search(saved.inner_text()).group(0)
    dealer_row = page.locator("#filing-types tr[data-type=dealer]")
    expect(dealer_row).to_contain_text(reference)
    expect(page.locator("#filing-types tr[data-type=broker]")).to_contain_text("尚未备案")
    shot(page, "04-filing-submitted")

    # Not confirmed yet: sales entry and import are refused, with the reason.
    not_confirmed = "尚未经地方商务主管部门确认"
    page.goto("/usedcar/sales/add")
    expect(page).to_have_url(re.compile(r"/usedcar/sales/list/"))
    alert(page, not_confirmed)
    expect(page.locator("#sales-not-confirmed")).to_contain_text(not_confirmed)
    expect(page.locator("#sale-add")).to_have_count(0)
    page.goto("/usedcar/sales/import/")
    expect(page).to_have_url(re.compile(r"/usedcar/sales/list/"))
    alert(page, not_confirmed)
    shot(page, "05-sales-refused-before-confirmation")

    # -- 3. the regulator confirms ------------------------------------------------------------
    rpage = regulator.page
    regulator_signs_in(rpage)
    rpage.goto("/review/list/?_flt_0_kind=usedcar_filing")
    queue_row = rpage.locator(f"{LIST_TABLE} tr", has_text=reference)
    expect(queue_row).to_have_count(1)
    expect(queue_row).to_contain_text(ENTERPRISE["name"])
    shot(rpage, "06-review-queue")
    click_and_wait(rpage, f"{LIST_TABLE} tr:has-text('{reference}') a[href*='/show/']")
    expect(rpage).to_have_url(re.compile(r"/applications/show/\d+$"))
    case_page = rpage.locator(".case-page")
    expect(case_page.locator(".page-header small")).to_have_text(reference)
    expect(case_page).to_contain_text(ENTERPRISE["name"])
    expect(case_page).to_contain_text(BRANCH["name"])
    expect(case_page).not_to_contain_text(DROPPED_BRANCH)
    state = rpage.locator("#case-state")
    expect(state).to_have_class(re.compile(r"\blabel-primary\b"))
    expect(rpage.locator("#do-approve")).to_have_text(re.compile("确认"))
    rpage.fill("#opinion", CONFIRM_OPINION)
    shot(rpage, "07-case-to-confirm")
    click_and_wait(rpage, "#do-approve")
    expect(state).to_have_class(re.compile(r"\blabel-success\b"))
    expect(rpage.locator("#case-history")).to_contain_text(CONFIRM_OPINION)
    expect(rpage.locator("#case-history")).to_contain_text(REGULATOR_NAME)
    expect(rpage.locator("#do-approve")).to_have_count(0)
    shot(rpage, "08-case-confirmed")

    page.goto("/usedcar/filing/")
    expect(page.locator("#confirmed-note")).to_be_visible()
    expect(page.locator("#filing-types tr[data-type=dealer]")).to_contain_text("已确认")

    # -- 4. one sale through the form ---------------------------------------------------------
    page.goto("/usedcar/sales/list/")
    expect(page.locator("#sales-not-confirmed")).to_have_count(0)
    expect(list_rows(page)).to_have_count(0)
    click_and_wait(page, "#sale-add")
    expect(page).to_have_url(re.compile(r"/usedcar/sales/add$"))
    expect(page.locator("#operator_name")).to_have_value(ENTERPRISE["name"])
    expect(page.locator("#report_date")).to_have_value(datetime.date.today().isoformat())
    page.fill("#report_date", SALE["report_date"])
    for key in ("name", "code", "address", "mobile"):
        page.fill(f"#buyer_{key}", SALE[f"buyer_{key}"])
    # A person has no unified code: that select stays disabled, the code is an ID number.
    expect(page.locator("#buyer_has_uscc")).to_be_disabled()
    expect(page.locator("label[for=buyer_code]")).to_contain_text("身份证号")
    page.fill("#seller_name", SELLER["name"])
    page.select_option("#seller_is_enterprise", "1")
    expect(page.locator("#seller_has_uscc")).to_be_enabled()
    page.select_option("#seller_has_uscc", "1")
    expect(page.locator("label[for=seller_code]")).to_contain_text("统一社会信用代码")
    for key in ("code", "address", "mobile"):
        page.fill(f"#seller_{key}", SELLER[key])
    expect(page.locator("#agent-fields")).to_be_hidden()
    for key in ("plate", "registration_no", "vin", "brand_model", "vehicle_type",
                "transfer_office"):
        page.fill(f"#{key}", SALE[key])
    page.select_option("#category", SALE["category"])
    words = page.locator("#price-words")
    expect(words).to_have_text("")
    page.locator("#price").press_sequentially(SALE["price"])
    expect(words).to_have_text(PRICE_WORDS)  # while typing, before anything is sent
    shot(page, "09-sale-form")
    click_and_wait(page, "#sale-submit")

    expect(page).to_have_url(re.compile(r"/usedcar/sales/show/\d+$"))
    alert(page, "已保存")
    body = page.locator("#usedcar-sale")
    for value in (SALE["vin"], SALE["plate"], PRICE_WORDS, SALE["buyer_code"]):
        expect(body).to_contain_text(value)
    shot(page, "10-sale-saved")

    page.goto("/usedcar/sales/list/")
    expect(list_rows(page)).to_have_count(1)
    expect(list_rows(page).first).to_contain_text(SALE["plate"])
    expect(list_rows(page).first).to_contain_text("128,500.00")
    page.select_option("#search-type", "vin")
    page.fill("#search-keyword", SALE["vin"])
    click_and_wait(page, "#sale-search button[type=submit]")
    expect(list_rows(page)).to_have_count(1)
    expect(list_rows(page).first).to_contain_text(SALE["vin"])
    shot(page, "11-sales-search-vin")
    page.fill("#search-keyword", vin_with_check_digit(IMPORTED[0][0]))  # not entered yet
    click_and_wait(page, "#sale-search button[type=submit]")
    expect(list_rows(page)).to_have_count(0)

    # -- 5. Excel import ----------------------------------------------------------------------
    page.goto("/usedcar/sales/list/")
    name, template = download(page, "#sale-import-template")
    assert name.endswith(".xlsx"), name
    assert template.startswith(b"PK"), template[:8]
    wb = load_workbook(io.BytesIO(template))
    assert [c.value for c in wb.worksheets[0][1]] == SALE_HEADERS
    assert wb.worksheets[0].max_row == 1  # headers only

    click_and_wait(page, "#sale-import")
    expect(page).to_have_url(re.compile(r"/usedcar/sales/import/$"))
    shot(page, "12-import-page")
    upload_and_wait(page, filled_template(template, import_rows(one_bad_vin)), shot,
                    "12b-import-waiting")
    expect(page.locator("#import-rejected")).to_be_visible()
    errors = page.locator("#import-errors tbody tr")
    expect(errors).to_have_count(1)
    cells = errors.first.locator("td")
    expect(cells.nth(0)).to_have_text(str(BAD_ROW))
    expect(cells.nth(1)).to_have_text(VIN_HEADER)
    expect(cells.nth(2)).to_have_text(one_bad_vin(BAD_ROW - 2, IMPORTED[1][0]))
    expect(cells.nth(3)).to_contain_text("校验位")
    shot(page, "13-import-rejected")
    name, report = download(page, "#import-errors-download")
    assert name.endswith(".xlsx"), name
    errors_wb = load_workbook(io.BytesIO(report))
    error_rows = [r for r in errors_wb.worksheets[0].iter_rows(min_row=2, values_only=True)
                  if any(v is not None for v in r)]
    assert len(error_rows) == 1, error_rows
    assert str(error_rows[0][0]) == str(BAD_ROW) and error_rows[0][1] == VIN_HEADER, error_rows
    # All or nothing: the two good rows were not saved either.
    page.goto("/usedcar/sales/list/")
    expect(list_rows(page)).to_have_count(1)

    click_and_wait(page, "#sale-import")
    upload_and_wait(page, filled_template(template, import_rows(good_vin)))
    expect(page.locator("#import-done")).to_contain_text("已导入 3 条销售记录")
    shot(page, "14-import-done")
    page.goto("/usedcar/sales/list/")
    expect(list_rows(page)).to_have_count(4)
    for _stem, plate, *_rest in IMPORTED:
        expect(page.locator(LIST_TABLE)).to_contain_text(plate)
    shot(page, "15-sales-list-after-import")
    page.select_option("#search-type", "vin")
    page.fill("#search-keyword", vin_with_check_digit(IMPORTED[1][0]))
    click_and_wait(page, "#sale-search button[type=submit]")
    expect(list_rows(page)).to_have_count(1)
    expect(list_rows(page).first).to_contain_text(IMPORTED[1][1])

    # -- 6. the monthly report of last month --------------------------------------------------
    page.goto("/usedcar/reports/monthly/add")
    expect(page.locator("#report-periods")).to_be_visible()
    period_row = page.locator(f"#period-{MONTH_KEY}")
    expect(period_row).to_be_visible()
    window_state = window_state_today()
    if window_state == "closed":
        expect(page.locator(f"#fill-{MONTH_KEY}")).to_have_count(0)
        expect(period_row).to_contain_text("不能报送")
        shot(page, "16-report-window-closed")

    # Confirmed today, the new dealer is not counted as missing last month's report (it never
    # could have filed it), but the regulator may let it file that month all the same.
    rpage.goto("/usedcar/oversight/missing/")
    expect(rpage.locator("#missing-period")).to_have_value(MONTH_KEY)
    expect(rpage.locator("#missing-list tr", has_text=ENTERPRISE["name"])).to_have_count(0)
    shot(rpage, "17-missing-reports")
    rpage.goto("/usedcar/oversight/extensions/add")
    option = rpage.locator("#enterprise_id option", has_text=ENTERPRISE["name"])
    rpage.select_option("#enterprise_id", value=option.get_attribute("value"))
    rpage.fill("#period", MONTH_KEY)
    until = datetime.date.today() + datetime.timedelta(days=7)
    rpage.fill("#until", until.isoformat())
    rpage.fill("#reason", "新备案企业，补报上月交易数据。")
    click_and_wait(rpage, "#extension-save")
    expect(rpage).to_have_url(re.compile(r"/usedcar/oversight/extensions/list/"))
    alert(rpage, ENTERPRISE["name"])
    shot(rpage, "18-extension-granted")

    page.goto("/usedcar/reports/monthly/list/")
    click_and_wait(page, "a[href*='/usedcar/reports/monthly/add']")
    expect(page.locator("#report-periods")).to_be_visible()
    click_and_wait(page, f"#fill-{MONTH_KEY}")
    expect(page.locator("#report-prefilled")).to_be_visible()
    expect(page.locator("#report-window")).to_be_visible()
    expected = expected_report()
    for cat, (amount, total, direct, consignment) in expected.items():
        expect(page.locator(f"#{cat}-amount")).to_have_value(f"{amount:.2f}")
        expect(page.locator(f"#{cat}-total_count")).to_have_value(str(total))
        expect(page.locator(f"#{cat}-direct_count")).to_have_value(str(direct))
        expect(page.locator(f"#{cat}-consignment_count")).to_have_value(str(consignment))
        # The transfer and use columns are the dealer's to fill in.
        page.fill(f"#{cat}-local_transfer_count", str(total))
        page.fill(f"#{cat}-non_operating_count", str(total))
    grand = sum(v[0] for v in expected.values())
    expect(page.locator("#total-amount")).to_have_text(f"{grand:.2f}")
    expect(page.locator("#total-total_count")).to_have_text("4")
    expect(page.locator("#total-local_transfer_count")).to_have_text("4")  # live totals (JS)
    expect(page.locator("#filer_name")).not_to_have_value("")
    shot(page, "19-report-form")
    click_and_wait(page, "#report-save")

    expect(page).to_have_url(re.compile(r"/usedcar/reports/monthly/show/\d+$"))
    alert(page, "报表已报送")
    # After the window's close (under the extension, or in grace) the report is flagged
    # late, so the authority sees it arrived afterwards (app/services/report_windows.py).
    expect(page.locator("#report-late")).to_have_count(0 if window_state == "open" else 1)
    # Before the 16th the window itself is open; later the extension lets the report in.
    expect(page.locator("#report-window")).to_contain_text(
        "报送时间为" if window_state == "open" else "已获准延期")
    expect(page.locator("#total-amount")).to_have_text(f"{grand:.2f}")
    shot(page, "20-report-saved")
    page.goto("/usedcar/reports/monthly/list/")
    page.select_option("#filter-year", str(REPORT_MONTH.year))
    page.select_option("#filter-period", str(REPORT_MONTH.month))
    click_and_wait(page, "#report-period-filter button[type=submit]")
    expect(list_rows(page)).to_have_count(1)
    expect(list_rows(page).first).to_contain_text(ENTERPRISE["name"])
    shot(page, "21-report-list")

    # -- 7. the authority's aggregates --------------------------------------------------------
    rpage.goto("/usedcar/oversight/aggregates/")
    expect(rpage.locator(".page-header small")).to_contain_text(MONTH_KEY)
    chart = rpage.locator(".usedcar-chart svg").first
    expect(chart).to_be_visible()
    expect(chart).to_contain_text(MONTH_KEY)
    expect(rpage.locator(".usedcar-chart svg")).to_have_count(2)
    month = rpage.locator(f"#month-{MONTH_KEY}")
    expect(month.locator("td").nth(1)).to_have_text("1")  # our report alone that month
    expect(month).to_contain_text(f"{grand:.2f}")
    shot(rpage, "22-aggregates")
    name, exported = download(rpage, "#aggregate-export")
    assert name.endswith(".xlsx"), name
    exported_wb = load_workbook(io.BytesIO(exported))
    cells = [str(v) for ws in exported_wb.worksheets for r in ws.iter_rows(values_only=True)
             for v in r if v is not None]
    assert any(MONTH_KEY in v for v in cells), cells[:40]

    assert "/login" not in path_of(page)
    assert_no_csp_errors(dealer, regulator)


# ----- U2: no USCC, sign-in with the business licence number ----------------------------------
def test_usedcar_registration_without_uscc_signs_in_with_licence_number(new_session, shot):
    licence_body = "44010600012345"
    licence_no = licence_body + mod_11_10.calc_check_digit(licence_body)
    org_body = "MA7R2K9D"
    org_code = org_body + org_code_check_char(org_body)
    name = "广州市天河安信二手车经纪服务部"
    password = "Anxin#2026uc"
    s = new_session("broker")
    page = s.page
    page.goto("/public/usedcar/register")
    page.fill("#name", name)
    pick_region(page, "region_code", "广东省", "广州市", "天河区")
    page.fill("#street", "天河区中山大道西89号")
    page.check("input[name=has_uscc][value='0']")
    page.fill("#licence_no", licence_no)
    page.fill("#org_code", f"{org_code[:8]}-{org_code[8]}")
    page.fill("#tax_no", "440106" + org_code)
    page.fill("#password", password)
    page.fill("#confirm", password)
    page.check("input[name=enterprise_type][value=dealer]")
    page.check("input[name=business_types][value=broker]")
    page.fill("#filer_name", "何永康")
    page.fill("#filer_mobile", "13622334455")
    click_and_wait(page, "#register-submit")
    expect(page).to_have_url(re.compile(r"/public/usedcar/register/done$"))
    expect(page.locator("#registered-username")).to_have_text(licence_no)
    shot(page, "done")
    submit_password_step(page, licence_no, password)
    expect(page).not_to_have_url(re.compile(r"/login/"))
    page.goto("/usedcar/filing/")
    expect(page.locator("#usedcar-filing")).to_contain_text(name)
    expect(page.locator("#filing-types tr[data-type]")).to_have_count(1)
    assert_no_csp_errors(s)
