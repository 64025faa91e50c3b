"""Used-car sales records (seed 001 §2.4, SPEC U5-U6): the one validation rule (clean_sale)
for every field, the entry form and its sections, edit, delete, the list with the seed's
search types, export, the REST API, gating before the authority's confirmation (U4) and
tenancy (other enterprises, regulators by sector and region, auditors, anonymous)."""

from __future__ import annotations

import datetime
import io
import json
import shutil
import subprocess
import time
from decimal import Decimal

import pytest
from conftest import api_token, bearer, ids
from openpyxl import load_workbook
from stdnum.cn import ric
from vininfo import Vin

from app.models.identity import AppUser
from app.models.org import Enterprise, Sector
from app.models.usedcar import UsedCarProfile, UsedCarSale
from app.services import cn_codes, vehicle_codes
from app.services.money import in_capitals
from app.services.usedcar_sales import FIELDS, check_price, clean_sale, cross_row_errors

TODAY = datetime.date.today()
PASSWORD = "Enterprise#2026"
NAME_C = "广州市羊城二手车交易市场有限公司"


def vin(body: str) -> str:
    """A 17-character VIN with a correct check digit in position 9 (body has any char there)."""
    for check in "0123456789X":
        candidate = body[:8] + check + body[9:]
        if Vin(candidate).verify_checksum():
            return candidate
    raise AssertionError(body)


def ric_number(body: str) -> str:
    """A resident ID number with its check character (body: 17 digits)."""
    return body + ric.calc_check_digit(body + "0")


VIN_CN = vin("LSVAU2180N2183294")
VIN_CN2 = vin("LFV2A21K0A3000001")
VIN_EU = "WDD2050461F123456"  # German WMI: position 9 is not a check digit there
ID_PERSON = "11010519491231002X"
ID_PERSON2 = ric_number("44010619900307123")
USCC_OK = "9144030071526726XG"
ORG_OK = "D2143569X"


def good(**over) -> dict:
    """A complete, valid sale as a form posts it."""
    data = {
        "report_date": (TODAY - datetime.timedelta(days=3)).isoformat(),
        "buyer_name": "张三", "buyer_is_enterprise": "0", "buyer_has_uscc": "0",
        "buyer_code": ID_PERSON, "buyer_address": "广州市天河区体育西路1号",
        "buyer_mobile": "13800138000",
        "seller_name": "广州市某某汽车服务有限公司", "seller_is_enterprise": "1",
        "seller_has_uscc": "1", "seller_code": USCC_OK, "seller_address": "广州市白云区机场路2号",
        "seller_mobile": "13900139000",
        "has_agent": "0",
        "plate": "粤A12345", "registration_no": "440012345678", "vin": VIN_CN,
        "brand_model": "大众牌SVW7183", "vehicle_type": "小型轿车", "category": "basic",
        "transfer_office": "广州市公安局交通警察支队车辆管理所", "price": "85000.50",
        "operator_name": NAME_C,
    }
    data.update(over)
    return data


AGENT = {"has_agent": "1", "agent_name": "广州市代办服务有限公司", "agent_is_enterprise": "1",
         "agent_has_uscc": "0", "agent_code": "71526726-X", "agent_address": "广州市越秀区",
         "agent_mobile": "13700137000"}


# ----- fixtures -------------------------------------------------------------------------------
def _usedcar_enterprise(db_session, name, uscc, region, username=None, confirmed=True):
    sector = db_session.query(Sector).filter_by(code="usedcar").one()
    ent = Enterprise(name=name, uscc=uscc, region_code=region, status="active",
                     sectors=[sector], contact_name="联系人", contact_mobile="13600136000")
    db_session.add(ent)
    db_session.flush()
    db_session.add(UsedCarProfile(
        enterprise_id=ent.id, has_uscc=True, enterprise_type="dealer",
        business_types="dealer",
        confirmed_on=datetime.datetime.now() if confirmed else None))
    db_session.commit()
    if username:
        from flask import current_app

        sm = current_app.appbuilder.sm
        sm.add_user(username, "名", "姓", f"{username}@example.cn",
                    sm.find_role("Enterprise Admin"), password=PASSWORD)
        user = db_session.query(AppUser).filter_by(username=username).one()
        user.enterprise_id = ent.id
        user.must_change_password = False
        user.password_changed_on = datetime.datetime.now()
        db_session.commit()
    return ent.id


def make_sale(db_session, enterprise_id, **over) -> int:
    with_values = good(**over)
    cleaned, errors = clean_sale(with_values)
    assert not errors, errors
    sale = UsedCarSale(enterprise_id=enterprise_id, **cleaned)
    db_session.add(sale)
    db_session.commit()
    return sale.id


@pytest.fixture()
def uc(app, db_session):
    """C (demo market, Guangzhou, confirmed) without its demo sales; F (Guangzhou, user
    ucs.f) and S (Shenzhen, user ucs.s), both confirmed; a few sales records each."""
    from sqlalchemy import delete

    from app.models.base import unscoped

    with app.test_request_context(), unscoped():
        k = ids(db_session)
        c = k["ent_c"]
        db_session.execute(delete(UsedCarSale))
        profile = db_session.query(UsedCarProfile).filter_by(enterprise_id=c).first()
        if profile is None:
            db_session.add(UsedCarProfile(enterprise_id=c, has_uscc=True,
                                          enterprise_type="dealer", business_types="market"))
            profile = db_session.query(UsedCarProfile).filter_by(enterprise_id=c).one()
        profile.confirmed_on = profile.confirmed_on or datetime.datetime.now()
        db_session.commit()
        f = _usedcar_enterprise(db_session, "广州市穗丰二手车经销有限公司", "91110000802100433B",
                                "440106", "ucs.f")
        e = _usedcar_enterprise(db_session, "深圳市鹏城二手车经纪有限公司", USCC_OK, "440304",
                                "ucs.s")
        sales = {
            "c1": make_sale(db_session, c, buyer_name="王五", seller_name="赵六", plate="粤A11111",
                            vin=VIN_CN, report_date="2024-05-01", vehicle_type="小型轿车"),
            "c2": make_sale(db_session, c, buyer_name="王小明", seller_name="孙七",
                            plate="粤B22222", vin=VIN_CN2, report_date="2024-05-20",
                            vehicle_type="中型普通客车", price="120000"),
            "c3": make_sale(db_session, c, buyer_name="李四", seller_name="周八",
                            plate="粤A1234挂", vin=VIN_EU, report_date="2024-06-02",
                            vehicle_type="重型普通半挂车", category="trailer", **AGENT),
            "f1": make_sale(db_session, f, buyer_name="穗丰买家", seller_name="穗丰卖家",
                            plate="粤A99999", operator_name="穗丰"),
            "e1": make_sale(db_session, e, buyer_name="鹏城买家", seller_name="鹏城卖家",
                            plate="粤B99999", operator_name="鹏城"),
        }
    return {"c": c, "f": f, "e": e, "a": k["ent_a"], **sales}


def _login(app, username, password=PASSWORD):
    from conftest import login

    c = app.test_client()
    r = login(c, username, password)
    assert r.status_code == 302, r.data[:300]
    return c


def _sales(db_session, enterprise_id):
    db_session.expire_all()
    return db_session.query(UsedCarSale).filter_by(enterprise_id=enterprise_id).order_by(
        UsedCarSale.id).all()


def _xlsx(data: bytes) -> list[tuple]:
    wb = load_workbook(io.BytesIO(data))
    return list(wb.active.iter_rows(values_only=True))


def _says_not_confirmed(text: str) -> bool:
    """ensure_confirmed's message, in Chinese (the default) or English."""
    return "尚未经地方商务主管部门确认" in text or "not been confirmed" in text


def _unconfirm(db_session, enterprise_id):
    profile = db_session.query(UsedCarProfile).filter_by(enterprise_id=enterprise_id).one()
    profile.confirmed_on = None
    db_session.commit()


# ===== clean_sale: every rule =================================================================
@pytest.fixture()
def ctx(app):
    with app.test_request_context():
        yield


def test_a_complete_sale_is_clean(ctx):
    cleaned, errors = clean_sale(good())
    assert errors == {}
    assert set(cleaned) == set(FIELDS)
    assert cleaned["report_date"] == TODAY - datetime.timedelta(days=3)
    assert cleaned["buyer_is_enterprise"] is False and cleaned["seller_has_uscc"] is True
    assert cleaned["price"] == Decimal("85000.50")
    assert cleaned["has_agent"] is False
    assert all(cleaned[f"agent_{f}"] is None for f in ("name", "code", "address", "mobile",
                                                       "is_enterprise", "has_uscc"))


def test_every_field_is_required(ctx):
    cleaned, errors = clean_sale({})
    required = set(FIELDS) - {f for f in FIELDS if f.startswith("agent_")} - {
        "has_agent", "buyer_is_enterprise", "buyer_has_uscc", "seller_is_enterprise",
        "seller_has_uscc"}
    assert set(errors) == required
    assert errors["buyer_code"]  # a person by default: the ID number is asked for


@pytest.mark.parametrize("code, ok", [
    (ID_PERSON, True), (ID_PERSON.lower(), True), (ID_PERSON2, True),
    ("110105194912310021", False),  # wrong check character
    ("110105194902300026", False),  # 30 February
    ("11010519491231002", False),  # 17 characters
    ("110105491231002", False),  # the old 15-digit number
    (ric_number("11010530001231002"), False),  # born in the future
    ("abcdefghijklmnopqr", False),
])
def test_resident_id_numbers(ctx, code, ok):
    _c, errors = clean_sale(good(buyer_code=code))
    assert ("buyer_code" not in errors) is ok, errors


@pytest.mark.parametrize("code, ok", [
    (USCC_OK, True), ("91110000802100433B", True), ("9144030071526726XH", False),
    ("9144030071526726X", False), (ORG_OK, False)])
def test_uscc_of_an_enterprise_that_has_one(ctx, code, ok):
    _c, errors = clean_sale(good(seller_is_enterprise="1", seller_has_uscc="1",
                                 seller_code=code))
    assert ("seller_code" not in errors) is ok, errors


@pytest.mark.parametrize("code, ok", [
    (ORG_OK, True), ("D2143569-X", True), ("d2143569x", True), ("71526726X", True),
    ("802100433", True), ("D21435691", False), ("D2143569", False), ("D2143569XX", False),
    (USCC_OK, False), ("D2143-569X!", False)])
def test_organisation_code_of_an_enterprise_without_uscc(ctx, code, ok):
    cleaned, errors = clean_sale(good(seller_is_enterprise="1", seller_has_uscc="0",
                                      seller_code=code))
    assert ("seller_code" not in errors) is ok, errors
    if ok:
        assert len(cleaned["seller_code"]) == 9 and "-" not in cleaned["seller_code"]


def test_org_code_check_digit_rule():
    # GB 11714 worked example and codes embedded in real USCCs.
    assert cn_codes.org_code_check_char("D2143569") == "X"
    assert cn_codes.org_code_check_char("71526726") == "X"
    assert cn_codes.org_code_check_char("80210043") == "3"
    # 11 - (sum % 11) == 11 is written 0; == 10 is X.
    for body in ("00000000", "10000001", "A0000000", "ZZZZZZZZ"):
        check = cn_codes.org_code_check_char(body)
        total = sum(int(c, 36) * w for c, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2), strict=True))
        expected = 11 - total % 11
        assert check == {10: "X", 11: "0"}.get(expected, str(expected))


def test_a_person_has_no_uscc(ctx):
    _c, errors = clean_sale(good(buyer_is_enterprise="0", buyer_has_uscc="1"))
    assert "buyer_has_uscc" in errors
    # An enterprise with a USCC must give a USCC, not an ID number.
    _c, errors = clean_sale(good(buyer_is_enterprise="1", buyer_has_uscc="1",
                                 buyer_code=ID_PERSON))
    assert "buyer_code" in errors


@pytest.mark.parametrize("value, expected", [
    ("是", True), ("否", False), ("Yes", True), ("no", False), (True, True), (False, False),
    (1, True), (0, False), ("1", True), ("", False), (None, False)])
def test_yes_no_values(ctx, value, expected):
    cleaned, errors = clean_sale(good(seller_is_enterprise=value, seller_has_uscc=value,
                                      seller_code=USCC_OK if expected else ID_PERSON))
    assert errors == {}
    assert cleaned["seller_is_enterprise"] is expected


def test_yes_no_refuses_anything_else(ctx):
    _c, errors = clean_sale(good(has_agent="maybe", buyer_is_enterprise="2"))
    assert {"has_agent", "buyer_is_enterprise"} <= set(errors)


@pytest.mark.parametrize("plate, ok", [
    ("粤A12345", True), ("粤a 12345", True), ("粤A·12345", True), ("粤AD12345", True),
    ("粤AF1234A", True), ("粤A12345D", True), ("粤A1234挂", True), ("粤A1234学", True),
    ("粤Z1234港", True), ("粤Z1234澳", True), ("京N8P8F8", True),
    ("粤I12345", False), ("粤O12345", False), ("AB12345", False), ("粤A1234", False),
    ("粤A1234567", False), ("粤A1234港", False), ("粤A12345挂", False), ("", False)])
def test_plates(ctx, plate, ok):
    cleaned, errors = clean_sale(good(plate=plate))
    assert ("plate" not in errors) is ok, errors
    if ok:
        assert " " not in cleaned["plate"] and cleaned["plate"] == cleaned["plate"].upper()


def test_rental_plates_stay_passenger_plates():
    assert vehicle_codes.is_valid_plate("粤A12345")
    assert not vehicle_codes.is_valid_plate("粤A1234挂")
    assert vehicle_codes.is_valid_plate("粤A1234挂", special=True)


@pytest.mark.parametrize("value, ok", [
    (VIN_CN, True), (VIN_CN.lower(), True), (VIN_CN[:4] + " " + VIN_CN[4:], True),
    (VIN_CN2, True),
    # Made in China with a wrong check digit: refused.
    (VIN_CN[:8] + ("1" if VIN_CN[8] != "1" else "2") + VIN_CN[9:], False),
    # North America requires it too.
    ("1HGCM82633A004352", True), ("1HGCM82643A004352", False),
    # Europe / Japan / Korea: position 9 need not be a check digit.
    (VIN_EU, True), ("JTDBT923771234567", True), ("KMHCT41BAEU123456", True),
    ("WDD2050461F12345", False),  # 16 characters
    ("WDD2050461F1234567", False),  # 18
    ("WDD2050I61F123456", False), ("WDD2050O61F123456", False), ("WDD2050Q61F123456", False),
])
def test_vins(ctx, value, ok):
    _c, errors = clean_sale(good(vin=value))
    assert ("vin" not in errors) is ok, errors


@pytest.mark.parametrize("value, ok", [
    ("440012345678", True), (" 4400 1234 5678 ", True), (440012345678, True),
    (440012345678.0, True), ("44001234567", False), ("4400123456789", False),
    ("44001234567A", False)])
def test_registration_certificate_numbers(ctx, value, ok):
    _c, errors = clean_sale(good(registration_no=value))
    assert ("registration_no" not in errors) is ok, errors


@pytest.mark.parametrize("value, ok", [
    ("13800138000", True), ("+86 138 0013 8000", True), (19912345678, True),
    ("12345678901", False), ("1380013800", False), ("138001380001", False),
    ("020-87654321", False)])
def test_mobiles(ctx, value, ok):
    _c, errors = clean_sale(good(buyer_mobile=value, seller_mobile=value))
    assert ("buyer_mobile" not in errors and "seller_mobile" not in errors) is ok, errors


@pytest.mark.parametrize("value, expected", [
    ("85000.50", Decimal("85000.50")), ("85,000.5", Decimal("85000.50")),
    ("￥1200", Decimal("1200.00")), (85000.5, Decimal("85000.50")), (85000, Decimal("85000.00")),
    (Decimal("0.01"), Decimal("0.01")), ("99999999.99", Decimal("99999999.99")),
    ("0", None), ("-100", None), ("1.234", None), ("100000000", None), ("abc", None),
    ("", None), (True, None)])
def test_prices(ctx, value, expected):
    cleaned, errors = clean_sale(good(price=value))
    if expected is None:
        assert "price" in errors
    else:
        assert errors == {} and cleaned["price"] == expected
    assert check_price(value)[1] is None if expected is not None else check_price(value)[1]


@pytest.mark.parametrize("value, ok", [
    (TODAY.isoformat(), True), (TODAY, True),
    (datetime.datetime.combine(TODAY, datetime.time(9)), True),
    ("2024/5/1", True), ("2024-05-01", True),
    ((TODAY + datetime.timedelta(days=1)).isoformat(), False),
    ("1989-12-31", False), ("2024-02-30", False), ("01/05/2024", False), ("yesterday", False)])
def test_report_dates(ctx, value, ok):
    _c, errors = clean_sale(good(report_date=value))
    assert ("report_date" not in errors) is ok, errors


def test_categories_by_code_or_label(ctx):
    assert clean_sale(good(category="suv"))[0]["category"] == "suv"
    cleaned, errors = clean_sale(good(category="Motorcycle"))
    assert errors == {} and cleaned["category"] == "motorcycle"
    assert "category" in clean_sale(good(category="spaceship"))[1]
    assert "category" in clean_sale(good(category=""))[1]


def test_text_limits(ctx):
    _c, errors = clean_sale(good(buyer_name="张" * 201, buyer_address="路" * 256,
                                 brand_model="x" * 101, vehicle_type="y" * 33,
                                 transfer_office="z" * 101, operator_name="w" * 201))
    assert {"buyer_name", "buyer_address", "brand_model", "vehicle_type", "transfer_office",
            "operator_name"} <= set(errors)


def test_agent_on_requires_every_agent_field(ctx):
    _c, errors = clean_sale(good(has_agent="1"))
    assert {"agent_name", "agent_code", "agent_address", "agent_mobile"} <= set(errors)
    cleaned, errors = clean_sale(good(**AGENT))
    assert errors == {}
    assert cleaned["agent_code"] == "71526726X" and cleaned["agent_is_enterprise"] is True
    _c, errors = clean_sale(good(**{**AGENT, "agent_code": "71526726-1"}))
    assert "agent_code" in errors


def test_agent_off_keeps_agent_fields_empty(ctx):
    cleaned, errors = clean_sale(good(has_agent="0", agent_name="", agent_code=None))
    assert errors == {} and cleaned["agent_name"] is None
    _c, errors = clean_sale(good(**{**AGENT, "has_agent": "0"}))
    assert {"agent_name", "agent_code", "agent_address", "agent_mobile",
            "agent_is_enterprise"} <= set(errors)


def test_all_errors_at_once(ctx):
    _c, errors = clean_sale(good(buyer_code="x", seller_mobile="1", plate="x", vin="x",
                                 registration_no="1", price="0", report_date="x"))
    assert {"buyer_code", "seller_mobile", "plate", "vin", "registration_no", "price",
            "report_date"} == set(errors)


def test_cross_row_check_finds_the_same_vin_twice(ctx):
    rows = [clean_sale(good())[0], clean_sale(good(vin=VIN_CN2))[0], clean_sale(good())[0]]
    errors = cross_row_errors(rows, row_numbers=[2, 3, 4])
    assert set(errors) == {0, 2}
    assert "4" in errors[0]["vin"] and "2" in errors[2]["vin"]
    assert cross_row_errors(rows[:2]) == {}


def test_clean_sale_runs_no_query_and_is_fast(app, ctx):
    """≥ 2,000 rows/s including validation (the import's budget): no database access."""
    from sqlalchemy import event

    from app.extensions import db

    statements = []

    def count(*_args, **_kw):
        statements.append(1)

    rows = [good(buyer_code=ID_PERSON2, **AGENT) for _ in range(2000)]
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        start = time.perf_counter()
        results = [clean_sale(r) for r in rows]
        elapsed = time.perf_counter() - start
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert statements == []
    assert all(not e for _c, e in results)
    assert elapsed < 3.0, f"{2000 / elapsed:.0f} rows/s"  # typically ~5,000 rows/s


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_browser_capitals_match_the_server(app):
    """app/static/js/usedcar-sales.js `capitals` against cn2an (app/services/money.py)."""
    import os
    import random

    rnd = random.Random(7)
    values = ["0", "0.5", "0.05", "1.05", "10", "100.05", "1001", "10010", "100100",
              "10001000", "100000001", "101000000", "99999999.99", "1010101.01", "12.3"]
    for _ in range(500):
        values.append(f"{rnd.randint(0, 10 ** rnd.randint(1, 11))}"
                      f"{rnd.choice(['', '.5', '.05', '.50', f'.{rnd.randint(0, 99):02d}'])}")
    script = os.path.join(app.root_path, "static", "js", "usedcar-sales.js")
    out = subprocess.run(
        ["node", "-e", f"const m=require({json.dumps(script)});"
         "const v=JSON.parse(require('fs').readFileSync(0,'utf8'));"
         "process.stdout.write(JSON.stringify(v.map(m.capitals)))"],
        input=json.dumps(values), capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [in_capitals(v) for v in values]
    assert in_capitals("85000.50") == "捌万伍仟元伍角"


# ===== the entry form (U5) =====================================================================
def test_the_entry_form_has_the_seeds_sections(as_user, uc):
    r = as_user("ent.c").get("/usedcar/sales/add")
    assert r.status_code == 200
    html = r.text
    for section in ("section-buyer", "section-seller", "section-agent", "section-vehicle",
                    "section-transaction"):
        assert f'id="{section}"' in html
    assert html.index("section-buyer") < html.index("section-seller") < html.index(
        "section-agent") < html.index("section-vehicle") < html.index("section-transaction")
    assert TODAY.isoformat() in html  # report date defaults to today
    assert NAME_C in html  # operating unit defaults to the enterprise
    assert 'id="agent-fields" class="hidden"' in html  # no agent by default
    assert "js/usedcar-sales.js" in html and 'id="price-words"' in html
    assert "<script>" not in html  # CSP: no inline script of ours


def test_add_saves_a_record_in_the_users_enterprise(as_user, db_session, uc):
    before = len(_sales(db_session, uc["c"]))
    r = as_user("ent.c").post("/usedcar/sales/add",
                              data=good(enterprise_id=str(uc["f"]), buyer_name="新买家"))
    assert r.status_code == 302 and "/usedcar/sales/show/" in r.location
    rows = _sales(db_session, uc["c"])
    assert len(rows) == before + 1
    sale = rows[-1]
    assert sale.buyer_name == "新买家" and sale.price == Decimal("85000.50")
    assert sale.has_agent is False and sale.agent_name is None
    assert not any(s.buyer_name == "新买家" for s in _sales(db_session, uc["f"]))


def test_add_with_an_agent_and_the_next_button(as_user, db_session, uc):
    r = as_user("ent.c").post("/usedcar/sales/add",
                              data=good(buyer_name="代理买家", next="add", **AGENT))
    assert r.status_code == 302 and r.location.endswith("/usedcar/sales/add")
    sale = _sales(db_session, uc["c"])[-1]
    assert sale.has_agent and sale.agent_code == "71526726X" and sale.agent_has_uscc is False


def test_disabled_fields_are_not_posted(as_user, db_session, uc):
    """The form disables a person's "has a USCC" and the agent section without an agent:
    the browser does not post them."""
    data = good(buyer_name="无代理")
    del data["buyer_has_uscc"]
    r = as_user("ent.c").post("/usedcar/sales/add", data=data)
    assert r.status_code == 302
    sale = _sales(db_session, uc["c"])[-1]
    assert sale.buyer_name == "无代理" and sale.buyer_has_uscc is False


def test_add_shows_every_error_and_saves_nothing(as_user, db_session, uc):
    before = len(_sales(db_session, uc["c"]))
    r = as_user("ent.c").post("/usedcar/sales/add", data=good(
        buyer_code="110105194912310021", vin="LSVAU2180N2183295", plate="粤I12345",
        registration_no="123", price="0", report_date=(TODAY + datetime.timedelta(days=2))
        .isoformat(), has_agent="1"))
    assert r.status_code == 200
    html = r.text
    assert 'id="form-invalid"' in html
    for field in ("buyer_code", "vin", "plate", "registration_no", "price", "report_date",
                  "agent_name"):
        assert f'id="group-{field}"' in html
        group = html[html.index(f'id="group-{field}"'):]
        assert "field-error" in group[:group.index("</div>")], field
    assert 'id="agent-fields" class=""' in html  # re-shown with its errors
    assert len(_sales(db_session, uc["c"])) == before


def test_detail_page_shows_all_sections_and_the_price_in_capitals(as_user, uc):
    r = as_user("ent.c").get(f"/usedcar/sales/show/{uc['c3']}")
    assert r.status_code == 200
    html = r.text
    for part in ("show-buyer", "show-seller", "show-agent", "show-vehicle", "show-transaction"):
        assert f'id="{part}"' in html
    assert "捌万伍仟元伍角" in html and "85,000.50" in html
    assert "广州市代办服务有限公司" in html and "71526726X" in html
    assert "粤A1234挂" in html and VIN_EU in html
    assert 'id="sale-edit"' in html and 'id="sale-delete"' in html and "data-confirm" in html


def test_edit_uses_the_same_rules(as_user, db_session, uc):
    c = as_user("ent.c")
    r = c.get(f"/usedcar/sales/edit/{uc['c1']}")
    assert r.status_code == 200 and "王五" in r.text and "粤A11111" in r.text
    r = c.post(f"/usedcar/sales/edit/{uc['c1']}", data=good(buyer_name="王五", price="1.234"))
    assert r.status_code == 200 and "field-error" in r.text
    db_session.expire_all()
    assert db_session.get(UsedCarSale, uc["c1"]).price == Decimal("85000.50")
    r = c.post(f"/usedcar/sales/edit/{uc['c1']}",
               data=good(buyer_name="王五改", price="90000", plate="粤A11111",
                         enterprise_id=str(uc["f"])))
    assert r.status_code == 302 and r.location.endswith(f"/usedcar/sales/show/{uc['c1']}")
    db_session.expire_all()
    sale = db_session.get(UsedCarSale, uc["c1"])
    assert sale.buyer_name == "王五改" and sale.price == Decimal("90000.00")
    assert sale.enterprise_id == uc["c"]


def test_delete_by_post_only(as_user, db_session, uc):
    c = as_user("ent.c")
    assert c.get(f"/usedcar/sales/delete/{uc['c1']}").status_code == 405
    r = c.post(f"/usedcar/sales/delete/{uc['c1']}")
    assert r.status_code == 302
    db_session.expire_all()
    assert db_session.get(UsedCarSale, uc["c1"]) is None


# ===== the list (U6): columns, the seed's search, FAB filters, export ===========================
def _listed(client, query="") -> str:
    r = client.get(f"/usedcar/sales/list/{query}")
    assert r.status_code == 200
    return r.text


def test_list_shows_the_seeds_columns_and_own_rows(as_user, uc):
    html = _listed(as_user("ent.c"))
    for name in ("王五", "王小明", "李四", "赵六", "粤A11111", VIN_CN, "小型轿车", "2024-05-01"):
        assert name in html
    assert "穗丰买家" not in html and "鹏城买家" not in html
    assert 'id="sale-search"' in html and 'id="sale-add"' in html


@pytest.mark.parametrize("search_type, keyword, expected", [
    ("buyer", "王", {"c1", "c2"}),
    ("buyer", "王小", {"c2"}),
    ("buyer", "小明", set()),  # a beginning, not '%x%'
    ("seller", "孙七", {"c2"}),
    ("vin", VIN_CN[:8].lower(), {"c1"}),
    ("vin", VIN_EU, {"c3"}),
    ("plate", "粤a", {"c1", "c3"}),
    ("plate", "粤B 22222", {"c2"}),
    ("vehicle_type", "小型", {"c1"}),
    ("vehicle_type", "重型", {"c3"}),
    ("date", "2024-05-01", {"c1"}),
    ("date", "2024-05", {"c1", "c2"}),
    ("date", "2024-05-15~2024-06-30", {"c2", "c3"}),
    ("date", "2024-13", None),
    ("date", "next week", None),
    ("all", "2024-06-02", {"c3"}),
    ("all", "粤B", {"c2"}),
    ("all", VIN_CN2[:10], {"c2"}),
    ("all", "周八", {"c3"}),
    ("all", "中型", {"c2"}),
    ("all", "", {"c1", "c2", "c3"}),
])
def test_search_by_each_search_type(as_user, uc, search_type, keyword, expected):
    from urllib.parse import urlencode

    c = as_user("ent.c")
    html = _listed(c, "?" + urlencode({"search_type": search_type, "keyword": keyword}))
    plates = {"c1": "粤A11111", "c2": "粤B22222", "c3": "粤A1234挂"}
    if expected is None:
        assert 'id="search-unreadable"' in html
        expected = set()
    found = {k for k, plate in plates.items() if plate in html}
    assert found == expected, (search_type, keyword)
    # The export holds exactly the same rows.
    r = c.get("/usedcar/sales/export/?" + urlencode({"search_type": search_type,
                                                      "keyword": keyword}))
    assert r.status_code == 200
    exported = {row[FIELDS.index("plate")] for row in _xlsx(r.data)[1:]}
    assert exported == {plates[k] for k in expected}


def _filter_index(app, column, cls_name) -> int:
    view = next(v for v in app.appbuilder.baseviews if type(v).__name__ == "UsedCarSaleView")
    filters = view.datamodel.get_filters([column]).get_search_filters()[column]
    return next(i for i, f in enumerate(filters) if type(f).__name__ == cls_name)


def test_fab_filters_date_range_and_prefix(app, as_user, uc):
    c = as_user("ent.c")
    gt = _filter_index(app, "report_date", "FilterGreater")
    lt = _filter_index(app, "report_date", "FilterSmaller")
    html = _listed(c, f"?_flt_{gt}_report_date=2024-05-10&_flt_{lt}_report_date=2024-06-30")
    assert "粤B22222" in html and "粤A1234挂" in html and "粤A11111" not in html
    sw = _filter_index(app, "plate", "FilterPrefix")
    html = _listed(c, f"?_flt_{sw}_plate=粤B")
    assert "粤B22222" in html and "粤A11111" not in html


def test_export_has_every_field_the_capitals_and_neutralised_formulas(as_user, db_session, uc):
    make_sale(db_session, uc["c"], buyer_name="=1+1", seller_name="@SUM(A1)",
              plate="粤A66666", price="12345.67")
    r = as_user("ent.c").get("/usedcar/sales/export/?search_type=plate&keyword=粤A66666")
    assert r.status_code == 200
    rows = _xlsx(r.data)
    assert len(rows) == 2
    header, row = rows
    assert len(header) == len(row) and len(header) >= len(FIELDS) + 2
    cells = dict(zip(header, row, strict=True))
    assert "'=1+1" in row and "'@SUM(A1)" in row
    assert 12345.67 in row
    assert "壹万贰仟叁佰肆拾伍元陆角柒分" in row
    assert NAME_C in row
    assert any(v == "否" or v == "No" for v in cells.values())  # booleans in words


def test_a_large_export_runs_as_a_job_with_the_same_search(app, as_user, db_session, uc):
    """Above EXPORT_SYNC_MAX_ROWS the export is a job; it rebuilds the list's arguments, so
    the search box applies there too."""
    from app.models.job import Job

    for n in range(4):
        make_sale(db_session, uc["c"], buyer_name=f"批量{n}", plate=f"粤A5{n:04d}")
    limit = app.config.get("EXPORT_SYNC_MAX_ROWS")
    app.config["EXPORT_SYNC_MAX_ROWS"] = 2
    try:
        c = as_user("ent.c")
        r = c.get("/usedcar/sales/export/?search_type=buyer&keyword=批量")
        assert r.status_code == 302 and r.location.endswith("/jobs/")
    finally:
        app.config["EXPORT_SYNC_MAX_ROWS"] = limit
    job = db_session.query(Job).filter_by(kind="export").order_by(Job.id.desc()).first()
    r = c.get(f"/jobs/{job.id}/download")
    assert r.status_code == 200
    names = sorted(row[FIELDS.index("buyer_name")] for row in _xlsx(r.data)[1:])
    assert names == [f"批量{n}" for n in range(4)]


# ===== REST API twin ==========================================================================
def test_api_crud_with_the_same_rules(app, db_session, uc):
    c = app.test_client()
    h = bearer(api_token(c, "ent.c"))
    body = {k: v for k, v in good(buyer_name="接口买家").items()}
    body["buyer_is_enterprise"] = False
    body["price"] = 66000
    r = c.post("/api/v1/usedcarsale/", json=body, headers=h)
    assert r.status_code == 201, r.get_json()
    pk = r.get_json()["id"]
    db_session.expire_all()
    sale = db_session.get(UsedCarSale, pk)
    assert sale.enterprise_id == uc["c"] and sale.price == Decimal("66000.00")
    # Bad values: 422 with a message per field; nothing saved.
    r = c.post("/api/v1/usedcarsale/", json={**body, "vin": "x", "buyer_mobile": "1"},
               headers=h)
    assert r.status_code == 422
    assert set(r.get_json()["message"]) == {"vin", "buyer_mobile"}
    # The tenant is not the caller's to choose.
    r = c.post("/api/v1/usedcarsale/", json={**body, "enterprise_id": uc["f"]}, headers=h)
    assert r.status_code == 422 and "enterprise_id" in r.get_json()["message"]
    r = c.post("/api/v1/usedcarsale/", data="x", headers=h)
    assert r.status_code == 400
    # Read.
    r = c.get(f"/api/v1/usedcarsale/{pk}", headers=h)
    assert r.status_code == 200
    assert r.get_json()["result"]["price_in_words"] == "陆万陆仟元整"
    r = c.get("/api/v1/usedcarsale/?q=(page_size:100)", headers=h)
    assert r.get_json()["count"] == 4
    # Partial update, same rules.
    r = c.put(f"/api/v1/usedcarsale/{pk}", json={"price": "1.001"}, headers=h)
    assert r.status_code == 422 and "price" in r.get_json()["message"]
    r = c.put(f"/api/v1/usedcarsale/{pk}", json={"price": "70000", "plate": "粤a 77777"},
              headers=h)
    assert r.status_code == 200, r.get_json()
    db_session.expire_all()
    sale = db_session.get(UsedCarSale, pk)
    assert sale.price == Decimal("70000.00") and sale.plate == "粤A77777"
    # Export with a filter.
    q = "(filters:!((col:plate,opr:sw,value:'粤A77777')))"
    r = c.get(f"/api/v1/usedcarsale/export?q={q}", headers=h)
    assert r.status_code == 200
    assert [row[FIELDS.index("plate")] for row in _xlsx(r.data)[1:]] == ["粤A77777"]
    # Delete.
    assert c.delete(f"/api/v1/usedcarsale/{pk}", headers=h).status_code == 200
    db_session.expire_all()
    assert db_session.get(UsedCarSale, pk) is None


# ===== gating before confirmation (U4) ========================================================
def test_nothing_is_written_before_confirmation(app, as_user, db_session, uc):
    _unconfirm(db_session, uc["c"])
    before = [(s.id, s.buyer_name, s.price) for s in _sales(db_session, uc["c"])]
    c = as_user("ent.c")
    r = c.get("/usedcar/sales/add", follow_redirects=True)
    assert "/usedcar/sales/list/" in r.request.path
    assert _says_not_confirmed(r.text)
    r = c.post("/usedcar/sales/add", data=good(buyer_name="未确认"))
    assert r.status_code == 302 and "/usedcar/sales/list/" in r.location
    r = c.get(f"/usedcar/sales/edit/{uc['c1']}")
    assert r.status_code == 302
    r = c.post(f"/usedcar/sales/edit/{uc['c1']}", data=good(buyer_name="未确认"))
    assert r.status_code == 302
    r = c.post(f"/usedcar/sales/delete/{uc['c1']}", follow_redirects=True)
    assert _says_not_confirmed(r.text)
    html = _listed(c)
    assert 'id="sales-not-confirmed"' in html and 'id="sale-add"' not in html
    api = app.test_client()
    h = bearer(api_token(api, "ent.c"))
    r = api.post("/api/v1/usedcarsale/", json=good(), headers=h)
    assert r.status_code == 403 and _says_not_confirmed(r.get_json()["message"])
    assert api.put(f"/api/v1/usedcarsale/{uc['c1']}", json={"price": "1"},
                   headers=h).status_code == 403
    assert api.delete(f"/api/v1/usedcarsale/{uc['c1']}", headers=h).status_code == 403
    # Reading stays open.
    assert c.get(f"/usedcar/sales/show/{uc['c1']}").status_code == 200
    assert api.get(f"/api/v1/usedcarsale/{uc['c1']}", headers=h).status_code == 200
    assert [(s.id, s.buyer_name, s.price) for s in _sales(db_session, uc["c"])] == before


def test_the_demo_broker_awaiting_confirmation_is_refused(app, as_user, db_session, uc):
    """ent.d (demo): registered as a used-car broker, filing not confirmed yet."""
    c = as_user("ent.d")
    ent_d = db_session.query(AppUser).filter_by(username="ent.d").one().enterprise_id
    r = c.get("/usedcar/sales/add", follow_redirects=True)
    assert "/usedcar/sales/list/" in r.request.path and 'id="sales-not-confirmed"' in r.text
    assert c.post("/usedcar/sales/add", data=good()).status_code == 302
    api = app.test_client()
    r = api.post("/api/v1/usedcarsale/", json=good(), headers=bearer(api_token(api, "ent.d")))
    assert r.status_code == 403
    assert _sales(db_session, ent_d) == []


def test_an_enterprise_without_a_used_car_registration_cannot_enter_sales(app, as_user,
                                                                          db_session, uc):
    c = as_user("ent.a")
    r = c.get("/usedcar/sales/add", follow_redirects=True)
    assert "/usedcar/sales/list/" in r.request.path
    r = c.post("/usedcar/sales/add", data=good())
    assert r.status_code == 302
    assert _sales(db_session, uc["a"]) == []
    api = app.test_client()
    r = api.post("/api/v1/usedcarsale/", json=good(), headers=bearer(api_token(api, "ent.a")))
    assert r.status_code == 403


# ===== tenancy ================================================================================
def test_another_enterprise_gets_404_for_a_foreign_row(app, db_session, uc):
    d = _login(app, "ucs.f")
    pk = uc["c1"]
    for path in (f"/usedcar/sales/show/{pk}", f"/usedcar/sales/edit/{pk}"):
        assert d.get(path).status_code == 404, path
    assert d.post(f"/usedcar/sales/edit/{pk}", data=good()).status_code == 404
    assert d.post(f"/usedcar/sales/delete/{pk}").status_code == 404
    html = _listed(d)
    assert "穗丰买家" in html and "王五" not in html
    r = d.get("/usedcar/sales/export/")
    names = {row[FIELDS.index("buyer_name")] for row in _xlsx(r.data)[1:]}
    assert names == {"穗丰买家"}
    h = bearer(api_token(app.test_client(), "ucs.f", PASSWORD))
    assert d.get(f"/api/v1/usedcarsale/{pk}", headers=h).status_code == 404
    assert d.put(f"/api/v1/usedcarsale/{pk}", json={"price": "1"}, headers=h).status_code == 404
    assert d.delete(f"/api/v1/usedcarsale/{pk}", headers=h).status_code == 404
    r = d.get("/api/v1/usedcarsale/?q=(page_size:100)", headers=h)
    assert [row["buyer_name"] for row in r.get_json()["result"]] == ["穗丰买家"]
    r = d.get("/api/v1/usedcarsale/export", headers=h)
    assert {row[FIELDS.index("buyer_name")] for row in _xlsx(r.data)[1:]} == {"穗丰买家"}
    db_session.expire_all()
    sale = db_session.get(UsedCarSale, pk)
    assert sale is not None and sale.buyer_name == "王五"


def test_anonymous_is_sent_to_login(client, uc):
    for path in ("/usedcar/sales/list/", "/usedcar/sales/add", f"/usedcar/sales/show/{uc['c1']}",
                 f"/usedcar/sales/edit/{uc['c1']}", "/usedcar/sales/export/"):
        r = client.get(path)
        assert r.status_code == 302 and "/login/" in r.location, path
    r = client.post(f"/usedcar/sales/delete/{uc['c1']}")
    assert r.status_code == 302 and "/login/" in r.location
    for method, path in (("get", "/api/v1/usedcarsale/"), ("post", "/api/v1/usedcarsale/"),
                         ("get", f"/api/v1/usedcarsale/{uc['c1']}"),
                         ("delete", f"/api/v1/usedcarsale/{uc['c1']}"),
                         ("get", "/api/v1/usedcarsale/export")):
        assert getattr(client, method)(path).status_code == 401, path


def test_rental_regulator_sees_no_used_car_sales(app, as_user, uc):
    c = as_user("reg.rental")
    r = c.get("/usedcar/sales/list/")
    assert r.status_code == 200
    assert "王五" not in r.text and "穗丰买家" not in r.text and "鹏城买家" not in r.text
    assert c.get(f"/usedcar/sales/show/{uc['c1']}").status_code == 404
    h = bearer(api_token(app.test_client(), "reg.rental"))
    assert c.get("/api/v1/usedcarsale/", headers=h).get_json()["count"] == 0


def test_used_car_regulator_reads_its_region_and_changes_nothing(app, as_user, db_session, uc):
    c = as_user("reg.usedcar")
    html = _listed(c)
    assert "王五" in html and "穗丰买家" in html  # Guangzhou: C and D
    assert "鹏城买家" not in html  # Shenzhen
    assert NAME_C in html  # the enterprise column
    assert c.get(f"/usedcar/sales/show/{uc['c1']}").status_code == 200
    assert c.get(f"/usedcar/sales/show/{uc['e1']}").status_code == 404
    r = c.get("/usedcar/sales/export/")
    names = {row[FIELDS.index("buyer_name")] for row in _xlsx(r.data)[1:]}
    assert names == {"王五", "王小明", "李四", "穗丰买家"}
    # No writing, whatever the path.
    assert c.get("/usedcar/sales/add").status_code in (302, 403)
    assert c.post("/usedcar/sales/add", data=good()).status_code in (302, 403)
    assert c.post(f"/usedcar/sales/edit/{uc['c1']}", data=good(buyer_name="x")).status_code \
        in (302, 403)
    assert c.post(f"/usedcar/sales/delete/{uc['c1']}").status_code in (302, 403)
    h = bearer(api_token(app.test_client(), "reg.usedcar"))
    assert c.post("/api/v1/usedcarsale/", json=good(), headers=h).status_code == 403
    assert c.put(f"/api/v1/usedcarsale/{uc['c1']}", json={"price": "1"},
                 headers=h).status_code == 403
    assert c.delete(f"/api/v1/usedcarsale/{uc['c1']}", headers=h).status_code == 403
    assert c.get("/api/v1/usedcarsale/", headers=h).get_json()["count"] == 4
    db_session.expire_all()
    assert db_session.get(UsedCarSale, uc["c1"]).buyer_name == "王五"


def test_auditor_reads_and_exports_only(app, as_user, db_session, uc):
    c = as_user("auditor")
    html = _listed(c)
    assert "王五" in html and "鹏城买家" in html  # Guangdong, used cars
    assert 'id="sale-add"' not in html
    r = c.get(f"/usedcar/sales/show/{uc['c1']}")
    assert r.status_code == 200 and 'id="sale-edit"' not in r.text \
        and 'id="sale-delete"' not in r.text
    assert c.get("/usedcar/sales/export/").status_code == 200
    assert c.get("/usedcar/sales/add").status_code in (302, 403)
    assert c.post(f"/usedcar/sales/edit/{uc['c1']}", data=good()).status_code in (302, 403)
    assert c.post(f"/usedcar/sales/delete/{uc['c1']}").status_code in (302, 403)
    h = bearer(api_token(app.test_client(), "auditor"))
    assert c.post("/api/v1/usedcarsale/", json=good(), headers=h).status_code == 403
    assert c.delete(f"/api/v1/usedcarsale/{uc['c1']}", headers=h).status_code == 403
    db_session.expire_all()
    assert db_session.get(UsedCarSale, uc["c1"]) is not None


def test_menu_entries(as_user, uc):
    html = as_user("ent.c").get("/usedcar/sales/list/").text
    assert "/usedcar/sales/add" in html and "/usedcar/sales/list/" in html


# ===== Excel import (U6, SPEC X12) ============================================================
IMPORT = "/usedcar/sales/import/"


def _vin_n(n: int) -> str:
    return vin(f"LSVAM4180N2{n:06d}")


def _import_row(n: int, **over) -> dict:
    row = good(vin=_vin_n(n), plate=f"粤A{n % 100000:05d}", buyer_name=f"导入买家{n}",
               buyer_is_enterprise="否", buyer_has_uscc="否", seller_is_enterprise="是",
               seller_has_uscc="是", has_agent="否")
    row.update(over)
    return row


def _template(client) -> bytes:
    r = client.get(IMPORT + "template")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    return r.data


def _workbook(client, rows: list[dict], headers=None) -> bytes:
    """The downloaded template with `rows` filled in (keys = FIELDS); `headers` replaces the
    header row."""
    wb = load_workbook(io.BytesIO(_template(client)))
    ws = wb.worksheets[0]
    if headers is not None:
        for j in range(1, ws.max_column + 1):
            ws.cell(row=1, column=j, value=None)
        for j, header in enumerate(headers, start=1):
            ws.cell(row=1, column=j, value=header)
    for i, row in enumerate(rows, start=2):
        for j, key in enumerate(FIELDS, start=1):
            ws.cell(row=i, column=j, value=row.get(key))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _upload(client, data: bytes, name="车辆交易信息.xlsx", follow=True):
    return client.post(IMPORT, data={"file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data", follow_redirects=follow)


def test_the_template_has_the_forms_columns_in_order(app, as_user, uc):
    c = as_user("ent.c")
    wb = load_workbook(io.BytesIO(_template(c)))
    headers = [cell.value for cell in wb.worksheets[0][1]]
    with app.test_request_context():
        from app.services.usedcar_sales import FIELD_LABELS

        assert headers == [str(FIELD_LABELS[f]) for f in FIELDS]
    assert len(wb.sheetnames) >= 2  # with the instructions
    html = _listed(c)
    assert 'id="sale-import"' in html and 'id="sale-import-template"' in html


def test_a_good_file_imports_every_row_into_the_users_enterprise(app, as_user, db_session, uc):
    from app.models.audit import AuditEvent

    c = as_user("ent.c")
    before = len(_sales(db_session, uc["c"]))
    rows = [_import_row(n) for n in range(1, 31)]
    rows[3].update(AGENT, has_agent="是", agent_is_enterprise="是", agent_has_uscc="否")
    rows[4]["category"] = "Motorcycle"  # a label instead of the code
    r = _upload(c, _workbook(c, rows))
    assert r.status_code == 200 and 'id="import-done"' in r.text, r.text[:3000]
    assert "30" in r.text
    sales = _sales(db_session, uc["c"])
    assert len(sales) == before + 30
    imported = {s.buyer_name: s for s in sales if s.buyer_name.startswith("导入买家")}
    assert len(imported) == 30
    assert imported["导入买家4"].has_agent and imported["导入买家4"].agent_code == "71526726X"
    assert imported["导入买家5"].category == "motorcycle"
    assert imported["导入买家1"].price == Decimal("85000.50")
    assert all(s.enterprise_id == uc["c"] for s in imported.values())
    assert not any(s.buyer_name.startswith("导入买家") for s in _sales(db_session, uc["f"]))
    assert db_session.query(AuditEvent).filter_by(action="import").count() == 1


def test_one_bad_row_saves_nothing_and_names_row_and_column(app, as_user, db_session, uc):
    c = as_user("ent.c")
    before = len(_sales(db_session, uc["c"]))
    rows = [_import_row(n) for n in range(1, 6)]
    rows[1]["buyer_code"] = "110105194912310021"  # sheet row 3: wrong check character
    r = _upload(c, _workbook(c, rows))
    assert r.status_code == 200 and 'id="import-rejected"' in r.text
    table = r.text[r.text.index('id="import-errors"'):]
    with app.test_request_context():
        from app.services.usedcar_sales import FIELD_LABELS

        header = str(FIELD_LABELS["buyer_code"])
    assert "<td>3</td>" in table and header in table and "110105194912310021" in table
    assert len(_sales(db_session, uc["c"])) == before
    # The error workbook: errors listed, the rows as read with the bad cell marked.
    link = r.text[r.text.index('id="import-errors-download"'):]
    url = link[link.index('href="') + 6:link.index('"', link.index('href="') + 6)]
    wb = load_workbook(io.BytesIO(c.get(url).data))
    errors = list(wb.worksheets[0].iter_rows(values_only=True))
    assert errors[1][0] == 3 and errors[1][1] == header
    assert wb.worksheets[1].cell(row=3, column=FIELDS.index("buyer_code") + 1).comment


def test_the_same_file_uploaded_twice_does_not_double_the_sales(as_user, db_session, uc):
    c = as_user("ent.c")
    before = len(_sales(db_session, uc["c"]))
    data = _workbook(c, [_import_row(n) for n in range(1, 4)])
    assert 'id="import-done"' in _upload(c, data).text
    r = _upload(c, data)
    assert 'id="import-rejected"' in r.text
    table = r.text[r.text.index('id="import-errors"'):]
    assert "<td>2</td>" in table and "<td>4</td>" in table
    assert len(_sales(db_session, uc["c"])) == before + 3


def test_the_same_vin_twice_in_one_sheet_is_refused(as_user, db_session, uc):
    c = as_user("ent.c")
    before = len(_sales(db_session, uc["c"]))
    rows = [_import_row(1), _import_row(2), _import_row(3, vin=_vin_n(1))]
    r = _upload(c, _workbook(c, rows))
    assert 'id="import-rejected"' in r.text
    table = r.text[r.text.index('id="import-errors"'):]
    assert "<td>2</td>" in table and "<td>4</td>" in table
    assert len(_sales(db_session, uc["c"])) == before


def test_every_rule_of_the_form_applies_to_the_import(as_user, db_session, uc):
    c = as_user("ent.c")
    rows = [_import_row(1, plate="粤I12345"), _import_row(2, vin="LSVAM4180N2999999"),
            _import_row(3, registration_no="12"), _import_row(4, buyer_mobile="123"),
            _import_row(5, price="0"), _import_row(6, report_date="2999-01-01"),
            _import_row(7, has_agent="是"), _import_row(8, seller_code="D2143569X")]
    r = _upload(c, _workbook(c, rows))
    table = r.text[r.text.index('id="import-errors"'):]
    for row in range(2, 10):
        assert f"<td>{row}</td>" in table, row
    assert _sales(db_session, uc["c"])[-1].buyer_name == "李四"  # nothing new


def test_not_an_xlsx_is_refused_at_once(as_user, db_session, uc):
    c = as_user("ent.c")
    for data, name in ((b"%PDF-1.4\n%%EOF\n", "sales.xlsx"), (b"a,b,c\n1,2,3\n", "sales.csv"),
                       (b"PK\x03\x04broken zip", "sales.xlsx")):
        r = _upload(c, data, name, follow=False)
        assert r.status_code == 422, name
        assert "alert" in r.text
    r = c.post(IMPORT, data={}, content_type="multipart/form-data")
    assert r.status_code == 422
    from app.models.job import Job

    assert db_session.query(Job).filter_by(kind="usedcar_sales_import").count() == 0


def test_wrong_headers_are_reported(as_user, db_session, uc):
    c = as_user("ent.c")
    before = len(_sales(db_session, uc["c"]))
    data = _workbook(c, [_import_row(1)], headers=["报表时间", "买方", "foo"])
    r = _upload(c, data)
    assert 'id="import-rejected"' in r.text
    assert "<td>1</td>" in r.text  # the header row
    assert len(_sales(db_session, uc["c"])) == before


def test_the_file_cannot_choose_the_enterprise(as_user, db_session, uc):
    """An extra enterprise column is no column of the template: refused; what is imported
    always lands in the importer's enterprise."""
    c = as_user("ent.c")
    rows = [_import_row(1)]
    wb = load_workbook(io.BytesIO(_workbook(c, rows)))
    ws = wb.worksheets[0]
    ws.cell(row=1, column=len(FIELDS) + 1, value="enterprise_id")
    ws.cell(row=2, column=len(FIELDS) + 1, value=uc["f"])
    out = io.BytesIO()
    wb.save(out)
    r = _upload(c, out.getvalue())
    assert 'id="import-rejected"' in r.text
    assert not any(s.buyer_name == "导入买家1" for s in _sales(db_session, uc["f"]))
    f = _login(app=c.application, username="ucs.f")
    r = _upload(f, _workbook(f, [_import_row(9)]))
    assert 'id="import-done"' in r.text
    assert any(s.buyer_name == "导入买家9" for s in _sales(db_session, uc["f"]))
    assert not any(s.buyer_name == "导入买家9" for s in _sales(db_session, uc["c"]))


def test_formula_cells_are_refused(as_user, db_session, uc):
    c = as_user("ent.c")
    before = len(_sales(db_session, uc["c"]))
    r = _upload(c, _workbook(c, [_import_row(1, buyer_name="=CONCAT(\"a\",\"b\")"),
                                 _import_row(2, price="=1000*80")]))
    assert 'id="import-rejected"' in r.text
    table = r.text[r.text.index('id="import-errors"'):]
    assert "<td>2</td>" in table and "<td>3</td>" in table
    assert len(_sales(db_session, uc["c"])) == before


def test_a_50_mb_file_is_refused(app, as_user, db_session, uc):
    c = as_user("ent.c")
    r = _upload(c, b"PK\x03\x04" + b"\0" * (50 * 1024 * 1024), follow=False)
    assert r.status_code == 413
    # Above IMPORT_MAX_BYTES but within the request limit: the importer's own check.
    limit = app.config.get("IMPORT_MAX_BYTES")
    app.config["IMPORT_MAX_BYTES"] = 2000
    try:
        r = _upload(c, _workbook(c, [_import_row(1)]), follow=False)
    finally:
        app.config["IMPORT_MAX_BYTES"] = limit
    assert r.status_code == 422
    from app.models.job import Job

    assert db_session.query(Job).filter_by(kind="usedcar_sales_import").count() == 0


def test_ten_thousand_rows_in_one_go(app, as_user, db_session, uc):
    from openpyxl import Workbook

    from app.models.job import Job

    c = as_user("ent.c")
    wb = load_workbook(io.BytesIO(_template(c)))
    headers = [cell.value for cell in wb.worksheets[0][1]]
    out_wb = Workbook(write_only=True)
    ws = out_wb.create_sheet(wb.sheetnames[0])
    ws.append(headers)
    for n in range(1, 10_001):
        row = _import_row(n, buyer_code=ID_PERSON2)
        ws.append([row.get(f) for f in FIELDS])
    out = io.BytesIO()
    out_wb.save(out)
    before = len(_sales(db_session, uc["c"]))
    start, cpu = time.perf_counter(), time.process_time()
    r = _upload(c, out.getvalue())
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert 'id="import-done"' in r.text, r.text[:2000]
    assert len(_sales(db_session, uc["c"])) == before + 10_000
    job = db_session.query(Job).filter_by(kind="usedcar_sales_import").one()
    assert job.total == 10_000 and job.done == 10_000 and job.progress == 100
    print(f"10,000-row import: {elapsed:.1f} s ({cpu:.1f} s CPU), {10_000 / cpu:.0f} rows/s")
    assert elapsed < 60  # a guard; the benchmark (≥ 2,000 rows/s) runs unloaded


def test_the_import_page_follows_a_running_job(app, as_user, db_session, uc):
    from app.models.job import Job

    k = ids(db_session)
    job = Job(owner_id=k["users"]["ent.c"], enterprise_id=uc["c"], kind="usedcar_sales_import",
              title="导入", state="running", progress=40, done=4000, total=10000, params="{}")
    other = Job(owner_id=k["users"]["ent.c"], enterprise_id=uc["c"], kind="export",
                title="x", state="done", params="{}")
    db_session.add_all([job, other])
    db_session.commit()
    job_id, other_id = job.id, other.id
    c = as_user("ent.c")
    r = c.get(f"{IMPORT}{job_id}")
    assert r.status_code == 200
    assert 'id="import-waiting"' in r.text and f"/jobs/{job_id}/status" in r.text
    assert 'value="40"' in r.text
    assert c.get(f"/jobs/{job_id}/status").get_json()["progress"] == 40
    # Someone else's import: not there.
    assert _login(app, "ucs.f").get(f"{IMPORT}{job_id}").status_code == 404
    assert as_user("reg.usedcar").get(f"{IMPORT}{job_id}").status_code in (302, 403, 404)
    # Not an import job.
    assert c.get(f"{IMPORT}{other_id}").status_code == 404


def test_import_waits_for_confirmation(app, as_user, db_session, uc):
    from flask import g

    from app.errors import UsedCarNotConfirmedError
    from app.services.usedcar_sales import save_import

    c = as_user("ent.c")
    data = _workbook(c, [_import_row(1)])
    _unconfirm(db_session, uc["c"])
    before = len(_sales(db_session, uc["c"]))
    r = c.get(IMPORT)
    assert r.status_code == 302 and "/usedcar/sales/list/" in r.location
    r = _upload(c, data, follow=False)
    assert r.status_code == 302 and "/usedcar/sales/list/" in r.location
    # The job checks again before saving (a confirmation withdrawn meanwhile).
    with app.test_request_context():
        g.user = db_session.query(AppUser).filter_by(username="ent.c").one()
        with pytest.raises(UsedCarNotConfirmedError):
            save_import([clean_sale(_import_row(1))[0]], {})
    assert len(_sales(db_session, uc["c"])) == before
    html = _listed(c)
    assert 'id="sale-import"' not in html


def test_import_is_for_the_enterprise_only(app, as_user, client, uc):
    for path in (IMPORT, IMPORT + "template", IMPORT + "1"):
        r = client.get(path)
        assert r.status_code == 302 and "/login/" in r.location, path
    for username in ("reg.usedcar", "auditor", "reg.rental"):
        u = as_user(username)
        for path in (IMPORT, IMPORT + "template"):
            assert u.get(path).status_code in (302, 403), (username, path)
        assert 'id="sale-import"' not in u.get("/usedcar/sales/list/").text
