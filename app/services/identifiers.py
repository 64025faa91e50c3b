"""Checks of Chinese identifiers shared by every form, API and importer: plate numbers
(GA 36-2018), VINs (GB 16735 / ISO 3779, check digit with vininfo), organisation codes
(GB 11714), mobile numbers. Resident ID numbers and USCCs are python-stdnum's
(`stdnum.cn.ric`, `stdnum.cn.uscc`). Pure functions: no database, no request, fast enough to
run on every row of a large import."""

from __future__ import annotations

import datetime
import re

from stdnum.cn import ric as stdnum_ric
from stdnum.cn import uscc as stdnum_uscc
from vininfo import Vin
from vininfo.exceptions import ValidationError as VinError

_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
# Civil plates: province + issuing-office letter + 5 characters, or 6 for small new-energy
# plates (GA 36-2018). I and O are never used.
PLATE_RE = re.compile(
    rf"^[{_PROVINCES}]"
    r"[A-HJ-NP-Z](?:[A-HJ-NP-Z0-9]{5}|[DFA-HJK][A-HJ-NP-Z0-9]{5})$")
# Further plates a traded vehicle may carry (GA 36-2018): large new-energy vehicles
# (5 digits + D/F), trailers (挂), driving-school cars (学), Hong Kong / Macau cross-border
# vehicles (粤Z....港/澳).
SPECIAL_PLATE_RE = re.compile(
    rf"^(?:[{_PROVINCES}][A-HJ-NP-Z](?:\d{{5}}[DF]|[A-HJ-NP-Z0-9]{{4}}[挂学])"
    r"|粤Z[A-HJ-NP-Z0-9]{4}[港澳])$")


def normalise_plate(value) -> str:
    return re.sub(r"[\s·•.\-]", "", str(value or "")).upper()


def is_valid_plate(plate: str, *, special: bool = False) -> bool:
    """`plate` normalised. `special` also accepts large new-energy, trailer, driving-school
    and Hong Kong / Macau plates (used-car trade); the rental filing takes passenger plates
    only."""
    if PLATE_RE.match(plate):
        return True
    return special and bool(SPECIAL_PLATE_RE.match(plate))


def normalise_vin(value) -> str:
    return re.sub(r"\s", "", str(value or "")).upper()


def vin_format_ok(vin: str) -> bool:
    """17 characters of A-Z and 0-9 without I, O and Q."""
    try:
        Vin.validate(vin)
    except VinError:
        return False
    return len(vin) == 17


def vin_check_digit_ok(vin: str) -> bool:
    try:
        return Vin(vin).verify_checksum()
    except VinError:
        return False


def vin_needs_check_digit(vin: str) -> bool:
    """Where the check digit in position 9 is mandatory: vehicles made in China (WMI starting
    with L, GB 16735) and North America (1-5, 49 CFR 565). Europe, Japan, Korea and others
    may use position 9 for something else, so an imported vehicle's VIN is taken as it is
    registered."""
    return bool(vin) and vin[0] in "L12345"


def is_valid_vin(vin: str, *, strict: bool = True) -> bool:
    """`vin` normalised. `strict`: the check digit is always required (rental filing of
    new passenger cars); otherwise only where it is mandatory (vin_needs_check_digit)."""
    if not vin_format_ok(vin):
        return False
    if strict or vin_needs_check_digit(vin):
        return vin_check_digit_ok(vin)
    return True


# ----- organisation code (GB 11714-1997): 8 characters and a check digit ---------------------
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_BODY_RE = re.compile(r"^[0-9A-Z]{8}[0-9X]$")


def compact_org_code(value) -> str:
    """`12345678-9` / ` 12345678 9 ` -> `123456789`."""
    return re.sub(r"[\s\-]", "", str(value or "")).upper()


def org_code_check_digit(body: str) -> str:
    """The check character of the 8-character body: 11 - Σ(value × weight) mod 11, where
    digits count as themselves and letters A-Z as 10-35; 10 is written X, 11 is 0."""
    total = sum(int(ch, 36) * w for ch, w in zip(body, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def is_valid_org_code(code: str) -> bool:
    """`code` compacted (9 characters)."""
    return bool(_ORG_BODY_RE.match(code)) and org_code_check_digit(code[:8]) == code[8]


# ----- resident ID number, USCC ---------------------------------------------------------------
def compact_ric(value) -> str:
    return stdnum_ric.compact(str(value or ""))


def is_valid_ric(number: str, today: datetime.date | None = None) -> bool:
    """`number` compacted: 18 characters, check digit, a real birth date not in the future,
    an administrative division that existed then (python-stdnum)."""
    if not stdnum_ric.is_valid(number):
        return False
    return stdnum_ric.get_birth_date(number) <= (today or datetime.date.today())


def compact_uscc(value) -> str:
    return stdnum_uscc.compact(str(value or ""))


def is_valid_uscc(code: str) -> bool:
    return stdnum_uscc.is_valid(code)


# ----- mobile numbers -------------------------------------------------------------------------
MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")


def compact_mobile(value) -> str:
    text = re.sub(r"[\s\-]", "", str(value or ""))
    if text.startswith("+86"):
        text = text[3:]
    return text


def is_valid_mobile(number: str) -> bool:
    return bool(MOBILE_RE.match(number))


__all__ = ["MOBILE_RE", "PLATE_RE", "SPECIAL_PLATE_RE", "compact_mobile", "compact_org_code",
           "compact_ric", "compact_uscc", "is_valid_mobile", "is_valid_org_code",
           "is_valid_plate", "is_valid_ric", "is_valid_uscc", "is_valid_vin",
           "normalise_plate", "normalise_vin", "org_code_check_digit", "vin_check_digit_ok",
           "vin_format_ok", "vin_needs_check_digit"]
