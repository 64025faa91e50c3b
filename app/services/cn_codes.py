"""Chinese registration numbers: format and check-digit tests, pure functions (no database).

- 统一社会信用代码 USCC (GB 32100-2015): python-stdnum `stdnum.cn.uscc`.
- 工商营业执照注册号, the business licence number of the old three-certificate system
  (GS15-2006): 15 digits, the last an ISO 7064 MOD 11,10 check digit (`stdnum.iso7064`).
- 组织机构代码, the organisation code (GB 11714-1997): 8 digits or capital letters and a
  check character; not in python-stdnum, see `org_code_check_char`. Written "12345678-9" on
  the certificate. Characters 9-17 of a USCC are the organisation code.
- 税务登记证号, the tax registration number: 15 characters (6-digit region code + the
  organisation code), or for individuals 18 (resident ID number) or 20 (ID number + 2 digits);
  since 2015 the USCC itself (18).
- 居民身份证号 (GB 11643): python-stdnum `stdnum.cn.ric`.
- Mainland mobile numbers: `phonenumbers` (Google's libphonenumber metadata: the allocated
  number ranges, not only "1 then 10 digits").

Every `*_valid` takes a raw value; the `compact_*` functions give the stored form (no spaces
or hyphens, upper case)."""

from __future__ import annotations

import datetime
import functools
import re

from stdnum.cn import ric as stdnum_ric
from stdnum.cn import uscc as stdnum_uscc
from stdnum.iso7064 import mod_11_10

_SEPARATORS = re.compile(r"[\s\-－—]")
_DIGITS = re.compile(r"^\d+$")
_ORG_BODY = re.compile(r"^[0-9A-Z]{8}$")
# GB 11714-1997 weights of the 8 body characters.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def compact(value: str | None) -> str:
    """No spaces or hyphens (half- or full-width), upper case."""
    return _SEPARATORS.sub("", value or "").upper()


# ----- USCC ----------------------------------------------------------------------------------
def uscc_valid(value: str | None) -> bool:
    return bool(value) and stdnum_uscc.is_valid(compact(value))


def org_code_from_uscc(uscc: str) -> str:
    """Characters 9-17 of a USCC: the organisation code it was built from."""
    return compact(uscc)[8:17]


# ----- business licence number (GS15-2006) ---------------------------------------------------
def licence_no_valid(value: str | None) -> bool:
    """15 digits, the last the ISO 7064 MOD 11,10 check digit of the first 14."""
    value = compact(value)
    return len(value) == 15 and bool(_DIGITS.match(value)) and mod_11_10.is_valid(value)


# ----- organisation code (GB 11714-1997) ----------------------------------------------------
def org_code_check_char(body: str) -> str:
    """The check character of 8 body characters: characters are worth 0-9 (digits) and
    10-35 (A-Z); C = 11 - (sum of value x weight mod 11); 10 is written X and 11 is 0.
    E.g. 60003734 -> 1 (the code of USCC 91110000600037341L)."""
    total = sum(int(ch, 36) * weight for ch, weight in zip(body, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def org_code_valid(value: str | None) -> bool:
    value = compact(value)
    return (len(value) == 9 and bool(_ORG_BODY.match(value[:8]))
            and value[8] == org_code_check_char(value[:8]))


# ----- resident ID number (GB 11643) ---------------------------------------------------------
def resident_id_valid(value: str | None) -> bool:
    """18 characters, the check character, a real birth date (not in the future) and a
    division code python-stdnum knows. Not python-stdnum's further rule that the division
    existed in the birth year: the code is the one of the issuing office when the number was
    given (a 1980 birth in 天河区, created 1985, is a real number), so that rule refuses real
    people. The division lookup is cached (it scans a data file: 100 us a number)."""
    number = compact(value)
    if len(number) != 18 or not number.isascii() or not number[:17].isdigit() \
            or number[17] != stdnum_ric.calc_check_digit(number):
        return False
    try:
        born = datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return born <= datetime.date.today() and _division_known(number[:6])


@functools.lru_cache(maxsize=8192)
def _division_known(division: str) -> bool:
    from stdnum import numdb

    return any(props for _part, props in numdb.get("cn/loc").info(division))


# ----- tax registration number ---------------------------------------------------------------
def tax_no_valid(value: str | None) -> bool:
    """15: a 6-digit region code and a valid organisation code; 18: a USCC or a resident ID
    number; 20: a resident ID number and two digits."""
    value = compact(value)
    if len(value) == 15:
        return bool(_DIGITS.match(value[:6])) and org_code_valid(value[6:])
    if len(value) == 18:
        return uscc_valid(value) or resident_id_valid(value)
    if len(value) == 20:
        return resident_id_valid(value[:18]) and bool(_DIGITS.match(value[18:]))
    return False


def tax_no_org_code(value: str) -> str | None:
    """The organisation code inside a 15-character tax registration number (else None)."""
    value = compact(value)
    return value[6:] if len(value) == 15 else None


# ----- mobile numbers ------------------------------------------------------------------------
def mobile(value: str | None) -> str | None:
    """The 11-digit national form of a valid mainland mobile number ("+86 138-0013-8000" ->
    "13800138000"), None for anything else (landlines, unallocated ranges, garbage)."""
    import phonenumbers

    text = _SEPARATORS.sub("", value or "")
    if not text or len(text) > 20:
        return None
    try:
        number = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        return None
    if number.country_code != 86 or not phonenumbers.is_valid_number(number) or \
            phonenumbers.number_type(number) != phonenumbers.PhoneNumberType.MOBILE:
        return None
    return str(number.national_number)

