"""Chinese identification codes, checked with python-stdnum where it has them. Pure functions
(no DB, no request) so forms, the API and the xlsx importer apply the same rules fast."""

from __future__ import annotations

import datetime
import functools
import re

from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError
from stdnum.iso7064 import mod_11_10

_ORG_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_RE = re.compile(r"^[0-9A-Z]{8}[0-9X]$")
MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")


def compact(value) -> str:
    return re.sub(r"[\s\-]", "", str(value or "")).upper()


def is_uscc(value) -> bool:
    """统一社会信用代码 (GB 32100-2015): 18 characters with a check character."""
    return uscc.is_valid(compact(value))


def is_licence_no(value) -> bool:
    """工商营业执照注册号 (GS15-2006): 15 digits, ISO 7064 MOD 11,10 check digit."""
    value = compact(value)
    return len(value) == 15 and value.isdigit() and mod_11_10.is_valid(value)


def org_code_check(body: str) -> str:
    total = sum(_ORG_ALPHABET.index(c) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def is_org_code(value) -> bool:
    """组织机构代码 (GB 11714-1997): 8 characters and a check character; python-stdnum has
    no module for it (it checks the USCC, whose characters 9-17 are this code)."""
    value = compact(value)
    return bool(_ORG_RE.match(value)) and org_code_check(value[:8]) == value[8]


def is_tax_no(value) -> bool:
    """税务登记证号: 15 characters (6-digit region + organisation code), or the 18-character
    USCC, or 20 characters (an individual's 18-digit ID number + 2 digits)."""
    value = compact(value)
    if len(value) == 15:
        return value[:6].isdigit() and is_org_code(value[6:])
    if len(value) == 18:
        return is_uscc(value)
    if len(value) == 20:
        return is_resident_id(value[:18]) and value[18:].isdigit()
    return False


def is_resident_id(value) -> bool:
    """居民身份证号码 (GB 11643-1999): 18 characters with a check character, a real birth
    date and an administrative division that existed that year: python-stdnum's
    `ric.validate`, step by step, with its division lookup (a scan of its data file, most of
    the time taken) cached per division and year, so an import checks thousands a second."""
    number = compact(value)
    if len(number) != 18 or not number[:17].isdigit() or not number.isascii() \
            or number[17] != ric.calc_check_digit(number):
        return False
    try:
        born = datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return _division_existed(number[:6], born.year)


@functools.lru_cache(maxsize=8192)
def _division_existed(division: str, year: int) -> bool:
    try:
        ric.get_birth_place(f"{division}{year:04d}01010000")  # reads the division and year
    except ValidationError:
        return False
    return True


def is_mobile(value) -> bool:
    return bool(MOBILE_RE.match(compact(value)))
