"""Used-car sales records (seed 001 §2.4, SPEC U5-U6): the one cleaning and validation rule
behind the entry form, the REST API and the Excel import.

    cleaned, errors = clean_sale(data)   # data: raw values by field name (FIELDS)
    if errors: ...                       # {field: translated message}, every problem at once
    else: sale = UsedCarSale(enterprise_id=..., **cleaned)

`data` may hold what a form posts (strings), what JSON carries (strings, numbers, booleans)
or what a spreadsheet cell holds (numbers, dates, "是"/"否"). Plain functions, no database
query: an importer calls it for every row (thousands per second) and then
`cross_row_errors()` once for the sheet.

Rules (the seed: every field is required):
- report date: a date (YYYY-MM-DD), not in the future, not before 1990;
- buyer and seller: name, address, mobile (1[3-9] + 9 digits) and a code that depends on
  "is an enterprise" / "has a USCC": a person gives a resident ID number (18 characters,
  python-stdnum's check digit, birth date and division), an enterprise with a USCC its USCC
  (python-stdnum), an enterprise without one its organisation code (GB 11714: 8 characters +
  check character, "12345678-9" accepted). A person has no USCC ("has a USCC" must be No);
- agent: when "has an agent" is Yes, the same fields as a party, all required; when No, the
  agent fields must be empty (the form disables them, so nothing is posted) and are stored
  empty;
- plate: GA 36-2018 (ordinary, new-energy, trailer 挂, driving-school 学, Hong Kong / Macau);
- VIN: 17 characters without I, O, Q; the check digit in position 9 is required where it is
  mandatory (made in China, WMI L..., or North America, 1-5...), as it is for the rental
  filing of new cars; an imported car from Europe, Japan or Korea keeps the VIN it is
  registered with (position 9 need not be a check digit there);
- registration certificate number (登记证书编号): 12 digits;
- make and model, vehicle type (as on the driving licence), transfer-in vehicle
  administration office, operating / auction unit: text, required, within the column sizes;
- category: one of the monthly report's vehicle categories (code or label);
- price: CNY, more than 0, at most 2 decimals, below PRICE_LIMIT.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation

from flask_babel import force_locale, get_locale, gettext
from flask_babel import lazy_gettext as _l
from stdnum.cn import ric

from app.models.usedcar import CATEGORIES
from app.services import cn_codes
from app.services import vehicle_codes as vc
from app.services import xlsx_import as xi

PARTIES = ("buyer", "seller", "agent")
PARTY_FIELDS = ("name", "is_enterprise", "has_uscc", "code", "address", "mobile")
VEHICLE_FIELDS = ("plate", "registration_no", "vin", "brand_model", "vehicle_type", "category")
TRANSACTION_FIELDS = ("transfer_office", "price", "operator_name")
# Every field of a sale in the form's order (the import template's columns too).
FIELDS: tuple[str, ...] = (
    "report_date",
    *(f"buyer_{f}" for f in PARTY_FIELDS),
    *(f"seller_{f}" for f in PARTY_FIELDS),
    "has_agent",
    *(f"agent_{f}" for f in PARTY_FIELDS),
    *VEHICLE_FIELDS,
    *TRANSACTION_FIELDS,
)
BOOLEAN_FIELDS = frozenset(f"{p}_{f}" for p in PARTIES for f in ("is_enterprise", "has_uscc")) \
    | {"has_agent"}

# Full labels: list, detail page, export, import template headers, error reports.
FIELD_LABELS = {
    "report_date": _l("Report date"),
    "buyer_name": _l("Buyer name"),
    "buyer_is_enterprise": _l("Buyer is an enterprise"),
    "buyer_has_uscc": _l("Buyer has a USCC"),
    "buyer_code": _l("Buyer ID number / USCC / organisation code"),
    "buyer_address": _l("Buyer address"),
    "buyer_mobile": _l("Buyer mobile"),
    "seller_name": _l("Seller name"),
    "seller_is_enterprise": _l("Seller is an enterprise"),
    "seller_has_uscc": _l("Seller has a USCC"),
    "seller_code": _l("Seller ID number / USCC / organisation code"),
    "seller_address": _l("Seller address"),
    "seller_mobile": _l("Seller mobile"),
    "has_agent": _l("Has an agent"),
    "agent_name": _l("Agent name"),
    "agent_is_enterprise": _l("Agent is an enterprise"),
    "agent_has_uscc": _l("Agent has a USCC"),
    "agent_code": _l("Agent ID number / USCC / organisation code"),
    "agent_address": _l("Agent address"),
    "agent_mobile": _l("Agent mobile"),
    "plate": _l("Plate number"),
    "registration_no": _l("Registration certificate number"),
    "vin": _l("VIN / frame number"),
    "brand_model": _l("Make and model"),
    "vehicle_type": _l("Vehicle type"),
    "category": _l("Report category"),
    "transfer_office": _l("Transfer-in vehicle administration office"),
    "price": _l("Total price (CNY)"),
    "operator_name": _l("Operating / auction unit"),
}
# Labels inside the form's sections (the seed's wording).
PARTY_LABELS = {
    "name": _l("Name (unit or person)"),
    "is_enterprise": _l("Is an enterprise"),
    "has_uscc": _l("Has a unified code"),
    "code": _l("ID number or code"),
    "address": _l("Address (unit or person)"),
    "mobile": _l("Mobile (unit or person)"),
}
# What the code field holds, by (is an enterprise, has a USCC).
CODE_KINDS = {
    (False, False): ("ric", _l("Resident ID number")),
    (False, True): ("ric", _l("Resident ID number")),
    (True, True): ("uscc", _l("Unified social credit code")),
    (True, False): ("org", _l("Organisation code")),
}
# Common vehicle types of driving licences (GA 802), offered as suggestions in the form.
VEHICLE_TYPE_SUGGESTIONS = (
    "小型轿车", "微型轿车", "小型普通客车", "小型越野客车", "小型专用客车", "中型普通客车",
    "大型普通客车", "轻型普通货车", "轻型厢式货车", "中型普通货车", "重型普通货车",
    "重型厢式货车", "重型半挂牵引车", "重型普通半挂车", "轻型普通半挂车", "三轮汽车",
    "低速货车", "普通二轮摩托车", "普通三轮摩托车", "轻便二轮摩托车",
)

TEXT_LIMITS = {"name": 200, "address": 255, "brand_model": 100, "vehicle_type": 32,
               "transfer_office": 100, "operator_name": 200}
PRICE_LIMIT = Decimal("100000000")  # 1亿 CNY: anything above is a typing error
EARLIEST_DATE = datetime.date(1990, 1, 1)
REGISTRATION_NO_RE = re.compile(r"^\d{12}$")
_CENT = Decimal("0.01")


# ----- value parsing --------------------------------------------------------------------------
def _text(value) -> str:
    """A cell or form value as stripped text; integral numbers without ".0"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())


_BOOL_CACHE: dict[str, dict[str, bool]] = {}


def _code_text(value) -> str:
    """Codes, numbers, plates: full-width characters typed with a Chinese input method
    (１２３, ＡＢＣ) become ASCII."""
    text = _text(value)
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


def _bool_words() -> dict[str, bool]:
    locale = str(get_locale() or "")
    cached = _BOOL_CACHE.get(locale)
    if cached is not None:
        return cached
    words = {"1": True, "0": False, "true": True, "false": False, "yes": True, "no": False,
             "y": True, "n": False, "是": True, "否": False, "": False}
    words[gettext("Yes").lower()] = True
    words[gettext("No").lower()] = False
    _BOOL_CACHE[locale] = words
    return words


def _parse_bool(value, words) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    return words.get(_text(value).lower())


def _parse_date(value) -> datetime.date | None:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    text = _text(value)
    match = re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", text)
    if not match:
        return None
    try:
        return datetime.date(*(int(g) for g in match.groups()))
    except ValueError:
        return None


def _parse_price(value) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = repr(value)
    text = _text(value).replace(",", "").replace("，", "")
    if text.startswith(("¥", "￥")):
        text = text[1:].strip()
    if not re.fullmatch(r"\d+(\.\d+)?", text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


_CATEGORY_CACHE: dict[str, dict[str, str]] = {}


def _category_lookup() -> dict[str, str]:
    """Category code or label (current language, Chinese, English) -> code."""
    locale = str(get_locale() or "")
    found = _CATEGORY_CACHE.get(locale)
    if found is None:
        found = {code: code for code in CATEGORIES}
        for code, label in CATEGORIES.items():
            found[str(label)] = code
        for lang in ("zh", "en"):
            with force_locale(lang):
                for code, label in CATEGORIES.items():
                    found.setdefault(str(label), code)
        _CATEGORY_CACHE[locale] = found
    return found


# ----- the rule -------------------------------------------------------------------------------
def _clean_code(is_enterprise: bool, has_uscc: bool, raw, today) -> tuple[str, str | None]:
    kind, _label = CODE_KINDS[(is_enterprise, has_uscc)]
    code = cn_codes.compact(_code_text(raw))
    if kind == "ric":
        if not code:
            return code, gettext("Enter the resident ID number.")
        if not cn_codes.resident_id_valid(code) or ric.get_birth_date(code) > today:
            return code, gettext("Not a valid resident ID number (18 characters, check "
                                 "character in the last position).")
    elif kind == "uscc":
        if not code:
            return code, gettext("Enter the unified social credit code.")
        if not cn_codes.uscc_valid(code):
            return code, gettext("Not a valid unified social credit code (18 characters, "
                                 "check character in the last position).")
    else:
        if not code:
            return code, gettext("Enter the organisation code.")
        if not cn_codes.org_code_valid(code):
            return code, gettext("Not a valid organisation code (8 characters and a check "
                                 "character, e.g. 12345678-9).")
    return code, None


def _clean_party(prefix: str, data: Mapping, out: dict, errors: dict, words, today) -> None:
    name = _text(data.get(f"{prefix}_name"))
    if not name:
        errors[f"{prefix}_name"] = gettext("Required.")
    elif len(name) > TEXT_LIMITS["name"]:
        errors[f"{prefix}_name"] = _too_long(TEXT_LIMITS["name"])
    out[f"{prefix}_name"] = name
    flags = {}
    for flag in ("is_enterprise", "has_uscc"):
        value = _parse_bool(data.get(f"{prefix}_{flag}"), words)
        if value is None:
            errors[f"{prefix}_{flag}"] = gettext("Answer Yes or No.")
            value = False
        flags[flag] = value
        out[f"{prefix}_{flag}"] = value
    if flags["has_uscc"] and not flags["is_enterprise"] \
            and f"{prefix}_has_uscc" not in errors:
        errors[f"{prefix}_has_uscc"] = gettext(
            "A person has no unified social credit code: answer No, or say it is an "
            "enterprise.")
    code, problem = _clean_code(flags["is_enterprise"], flags["has_uscc"],
                                data.get(f"{prefix}_code"), today)
    out[f"{prefix}_code"] = code
    if problem:
        errors[f"{prefix}_code"] = problem
    address = _text(data.get(f"{prefix}_address"))
    if not address:
        errors[f"{prefix}_address"] = gettext("Required.")
    elif len(address) > TEXT_LIMITS["address"]:
        errors[f"{prefix}_address"] = _too_long(TEXT_LIMITS["address"])
    out[f"{prefix}_address"] = address
    raw = cn_codes.compact(_code_text(data.get(f"{prefix}_mobile")))
    mobile = cn_codes.mobile(raw)
    if not raw:
        errors[f"{prefix}_mobile"] = gettext("Required.")
    elif mobile is None:
        errors[f"{prefix}_mobile"] = gettext(
            "Not a valid mobile number (11 digits starting with 13-19).")
    out[f"{prefix}_mobile"] = mobile or raw


def _too_long(limit: int) -> str:
    return gettext("At most %(num)d characters.", num=limit)


def _required_text(field: str, data: Mapping, out: dict, errors: dict) -> None:
    value = _text(data.get(field))
    if not value:
        errors[field] = gettext("Required.")
    elif len(value) > TEXT_LIMITS[field]:
        errors[field] = _too_long(TEXT_LIMITS[field])
    out[field] = value


def clean_sale(data: Mapping, *, today: datetime.date | None = None
               ) -> tuple[dict, dict[str, str]]:
    """Clean and check one sale. Returns (values by FIELDS name ready for UsedCarSale,
    {field: translated message}); the record is valid when the second is empty. Keys of
    `data` outside FIELDS are ignored (callers refuse unknown keys themselves)."""
    today = today or datetime.date.today()
    words = _bool_words()
    out: dict = {}
    errors: dict[str, str] = {}

    report_date = _parse_date(data.get("report_date"))
    if report_date is None:
        errors["report_date"] = gettext("Enter a date as YYYY-MM-DD.") if _text(
            data.get("report_date")) else gettext("Required.")
    elif report_date > today:
        errors["report_date"] = gettext("The date cannot be in the future.")
    elif report_date < EARLIEST_DATE:
        errors["report_date"] = gettext("The date cannot be before %(date)s.",
                                        date=EARLIEST_DATE.isoformat())
    out["report_date"] = report_date

    _clean_party("buyer", data, out, errors, words, today)
    _clean_party("seller", data, out, errors, words, today)

    has_agent = _parse_bool(data.get("has_agent"), words)
    if has_agent is None:
        errors["has_agent"] = gettext("Answer Yes or No.")
        has_agent = False
    out["has_agent"] = has_agent
    if has_agent:
        _clean_party("agent", data, out, errors, words, today)
    else:
        for f in PARTY_FIELDS:
            field = f"agent_{f}"
            value = data.get(field)
            if f in ("is_enterprise", "has_uscc"):
                if _parse_bool(value, words):
                    errors[field] = gettext("Leave empty: there is no agent.")
            elif _text(value):
                errors[field] = gettext("Leave empty: there is no agent.")
            out[field] = None

    plate = vc.normalise_plate(_code_text(data.get("plate")))
    if not plate:
        errors["plate"] = gettext("Required.")
    elif not vc.is_valid_plate(plate, special=True):
        errors["plate"] = gettext("Not a valid plate number (e.g. 粤A12345, new-energy "
                                  "粤AD12345, trailer 粤A1234挂).")
    out["plate"] = plate

    registration_no = re.sub(r"[\s\-]", "", _code_text(data.get("registration_no")))
    if not registration_no:
        errors["registration_no"] = gettext("Required.")
    elif not REGISTRATION_NO_RE.match(registration_no):
        errors["registration_no"] = gettext(
            "Not a valid registration certificate number (12 digits).")
    out["registration_no"] = registration_no

    vin = vc.normalise_vin(_code_text(data.get("vin")))
    if not vin:
        errors["vin"] = gettext("Required.")
    elif not vc.vin_format_ok(vin):
        errors["vin"] = gettext("Not a valid VIN: 17 characters, letters and digits "
                                "without I, O or Q.")
    elif vc.vin_needs_check_digit(vin) and not vc.vin_check_digit_ok(vin):
        errors["vin"] = gettext("Not a valid VIN: the check digit in position 9 is wrong "
                                "(vehicles made in China or North America).")
    out["vin"] = vin

    _required_text("brand_model", data, out, errors)
    _required_text("vehicle_type", data, out, errors)

    raw_category = _text(data.get("category"))
    category = _category_lookup().get(raw_category)
    if category is None:
        errors["category"] = gettext("Choose one of: %(list)s.", list="、".join(
            str(v) for v in CATEGORIES.values())) if raw_category else gettext("Required.")
    out["category"] = category or raw_category[:16]

    _required_text("transfer_office", data, out, errors)

    price, problem = check_price(data.get("price"))
    if problem:
        errors["price"] = problem
    out["price"] = price

    _required_text("operator_name", data, out, errors)
    return out, errors


def check_price(raw) -> tuple[Decimal | None, str | None]:
    """(the price in CNY rounded to fen, None) or (None / the unusable value, the problem)."""
    price = _parse_price(raw)
    if price is None:
        return None, (gettext("Enter an amount in yuan, e.g. 85000 or 85000.50.")
                      if _text(raw) else gettext("Required."))
    if price <= 0:
        return price, gettext("The price must be more than 0.")
    if price != price.quantize(_CENT):
        return price, gettext("At most 2 decimals (fen).")
    if price >= PRICE_LIMIT:
        return price, gettext("The price must be below %(limit)s yuan.",
                              limit=f"{PRICE_LIMIT:,.0f}")
    return price.quantize(_CENT), None


def cross_row_errors(rows: Sequence[Mapping], row_numbers: Sequence[int] | None = None
                     ) -> dict[int, dict[str, str]]:
    """Checks across the rows of one import (cleaned rows, in sheet order): the same VIN
    twice. Returns {index into rows: {field: message}}, naming the other row by its number
    in `row_numbers` (default: 1-based position)."""
    numbers = list(row_numbers) if row_numbers is not None else list(
        range(1, len(rows) + 1))
    seen: dict[str, int] = {}
    errors: dict[int, dict[str, str]] = {}
    for index, row in enumerate(rows):
        vin = row.get("vin")
        if not vin:
            continue
        first = seen.setdefault(vin, index)
        if first != index:
            errors.setdefault(index, {})["vin"] = gettext(
                "The same VIN as row %(row)d of this sheet.", row=numbers[first])
            errors.setdefault(first, {}).setdefault("vin", gettext(
                "The same VIN as row %(row)d of this sheet.", row=numbers[index]))
    return errors


# ----- the Excel import (U6, SPEC X12) --------------------------------------------------------
IMPORT_KIND = "usedcar_sales_import"
_CODE_HINT = _l("A person: resident ID number. An enterprise: its unified social credit code, "
                "or its organisation code if it has none.")
_EXAMPLES = {
    "report_date": "2024-05-01", "buyer_name": "张三", "buyer_is_enterprise": "否",
    "buyer_has_uscc": "否", "buyer_code": "11010519491231002X",
    "buyer_address": "广州市天河区天河路1号",
    "buyer_mobile": "13800138000", "seller_name": "广州市某某汽车服务有限公司",
    "seller_is_enterprise": "是", "seller_has_uscc": "是", "seller_code": "9144030071526726XG",
    "seller_address": "广州市白云区机场路2号", "seller_mobile": "13900139000", "has_agent": "否",
    "plate": "粤A12345", "registration_no": "440012345678", "vin": "LSVAM4180N2100001",
    "brand_model": "大众牌SVW7155", "vehicle_type": "小型轿车",
    "transfer_office": "广州市公安局交通警察支队车辆管理所", "price": "85000.00",
    "operator_name": "广州市羊城二手车交易市场有限公司",
}


def _import_column(field: str):
    party, _sep, name = field.partition("_")
    is_agent = party == "agent"
    if field == "report_date":
        kind = xi.Date()
    elif field in BOOLEAN_FIELDS:
        kind = xi.Boolean()
    elif field == "category":
        kind = xi.Choice(CATEGORIES)
    elif field == "price":
        kind = xi.Number(places=2)
    else:
        kind = xi.Text()
    hint = None
    if name == "code":
        hint = _CODE_HINT
    elif is_agent:
        hint = _l("Only when there is an agent.")
    elif field == "vehicle_type":
        hint = _l("As on the motor vehicle driving licence.")
    return xi.ImportColumn(field, FIELD_LABELS[field], required=not is_agent, kind=kind,
                           hint=hint, example=_EXAMPLES.get(field))


def _import_cross_rows(every_row):
    numbers = [number for number, _values in every_row]
    for index, problems in cross_row_errors([v for _n, v in every_row], numbers).items():
        for key, message in problems.items():
            yield numbers[index], key, message
    yield from _already_recorded(every_row)


def _already_recorded(every_row):
    """A row the importing enterprise has already recorded (same VIN, same day): the same
    file uploaded twice must not double the sales. One query for the whole sheet, through
    the scoped session (the importer's own sales only)."""
    from flask import g

    from app.extensions import db
    from app.models.usedcar import UsedCarSale

    enterprise_id = getattr(getattr(g, "user", None), "enterprise_id", None)
    wanted = {(v.get("vin"), v.get("report_date")): n for n, v in every_row
              if v and v.get("vin") and v.get("report_date")}
    if not enterprise_id or not wanted:
        return
    vins = sorted({vin for vin, _day in wanted})
    for start in range(0, len(vins), 500):
        for vin, day in db.session.query(UsedCarSale.vin, UsedCarSale.report_date).filter(
                UsedCarSale.enterprise_id == enterprise_id,
                UsedCarSale.vin.in_(vins[start:start + 500])):
            number = wanted.get((vin, day))
            if number is not None:
                yield number, "vin", gettext(
                    "This sale (the same VIN on %(day)s) is already recorded.",
                    day=day.isoformat())


def import_spec() -> xi.ImportSpec:
    """The import template's columns (the form's fields, in the form's order), validated
    with clean_sale, the same VIN twice refused."""
    return xi.ImportSpec(columns=[_import_column(f) for f in FIELDS], validate_row=clean_sale,
                         validate_rows=_import_cross_rows,
                         sheet_title=_l("Used-car sales records"))


def save_import(rows: list[dict], params: dict) -> int:
    """The import job's save step: every row into the importing user's own enterprise, in
    one transaction (the job commits once), with bulk inserts. Refused (nothing saved) if
    the enterprise's filing is no longer confirmed."""
    from flask import g

    from app.extensions import db
    from app.models.usedcar import UsedCarSale
    from app.workflows.usedcar import ensure_confirmed

    enterprise_id = getattr(g.user, "enterprise_id", None)
    ensure_confirmed(enterprise_id)
    now = datetime.datetime.now()
    table = UsedCarSale.__table__
    for start in range(0, len(rows), 1000):
        db.session.execute(table.insert(), [
            {**row, "enterprise_id": enterprise_id, "created_on": now, "changed_on": now}
            for row in rows[start:start + 1000]])
    return len(rows)


SALES_IMPORT = import_spec()
# The background job behind the import page (registered with the module, like the export's).
xi.import_job(IMPORT_KIND, SALES_IMPORT, save=save_import, target_type="usedcar_sale")


def sale_values(sale) -> dict:
    """The FIELDS of a stored sale (what an edit form or a partial API update starts from)."""
    return {f: getattr(sale, f) for f in FIELDS}


def code_label(is_enterprise: bool, has_uscc: bool) -> str:
    return str(CODE_KINDS[(bool(is_enterprise), bool(has_uscc))][1])


__all__ = ["BOOLEAN_FIELDS", "CODE_KINDS", "FIELDS", "FIELD_LABELS", "PARTIES", "PARTY_FIELDS",
           "PARTY_LABELS", "PRICE_LIMIT", "VEHICLE_TYPE_SUGGESTIONS", "IMPORT_KIND", "check_price",
           "SALES_IMPORT", "clean_sale", "code_label", "cross_row_errors", "import_spec",
           "sale_values", "save_import"]
