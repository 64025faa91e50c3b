"""Vehicle identifiers shared by every form, API and importer: plate numbers (GA 36-2018) and
VINs (GB 16735 / ISO 3779, check digit with vininfo). Persons' and organisations' codes are in
app.services.cn_codes. Pure functions: no database, no request, fast enough to run on every
row of a large import."""

from __future__ import annotations

import re

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


__all__ = ["PLATE_RE", "SPECIAL_PLATE_RE", "is_valid_plate", "is_valid_vin", "normalise_plate",
           "normalise_vin", "vin_check_digit_ok", "vin_format_ok", "vin_needs_check_digit"]
