"""Staff rows of a power enterprise (seed 002 §4.1 电力相关技术人员 / 电力相关专业技能人员,
§4.7 人员变更申请): one set of rules for the roster pages (app/views/staff.py), the
personnel-change forms (P12) and the staff tabs of a licence application
(app/views/licence.py). Views parse a form and call these; nothing here reads the request.

API for the licence application's staff tabs
-------------------------------------------
    from app.services import staff as staff_service

    # A tab lists what the request counts: the enterprise's roster (read-only there) and the
    # rows this request proposes (editable while the request is editable).
    rows = staff_service.request_rows(request, TECHNICAL)           # or ELECTRICIAN
    totals = staff_service.request_totals(request)                   # licence_check.Totals
    staff_service.title_rows(totals)   # [(key, label, n)] for 高级 / 中级 / 初级 / 无职称
    staff_service.kind_rows(totals)    # [(key, label, n)] per certificate kind

    # The add form: `values` are the posted strings, including "staff_type".
    clean, errors = staff_service.clean_staff(values, ELECTRICIAN)   # {field: message}
    row = staff_service.add_staff(request.enterprise_id, values, PROPOSED,
                                  request_id=request.id, attachment=None)
    staff_service.update_staff(row, values)        # only a row proposed by an editable request
    staff_service.remove_proposed(row)             # idem; deletes it (its ID number is free)

`add_staff` / `update_staff` raise `StaffInvalidError` (`.errors` = the clean_staff dict,
flash str() or show the dict per field; HTTP 422), `StaffConflictError` (409) when the ID
number is taken: an electrician is on one roster only, system-wide (the partial unique index
`uq_power_staff_electrician_id`, whatever the path); the message names the ID number and
says whether it is on this enterprise's roster or on another enterprise's, never which
enterprise. A pre-check gives the message before inserting; the database constraint is the
guarantee (a concurrent insert between the two gives the same message and saves nothing:
the session is rolled back). `StaffLockedError` (409) for a change to a row that is not a
proposal of an editable request (the roster changes only through approved cases). Each call
commits unless `commit=False` (then the caller commits; on an error the session has already
been rolled back).

Selects for the forms: `TITLE_CHOICES`, `KIND_CHOICES`, `ISSUERS` (the seed's issuing
authority dropdown: provincial emergency-management departments, which issue the
特种作业操作证（电工）, and the energy regulator's regional offices, which issued the former
电工进网作业许可证), `default_issuer(region_code)`.

Display: `mask_id("440106199001011234")` -> "440106********1234", `mask_certificate`
(T440106********1234: the operation certificate's number holds the ID number), `GENDERS`."""

from __future__ import annotations

import re

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, delete, func, select
from sqlalchemy.exc import IntegrityError

from app.errors import DomainError
from app.extensions import db
from app.models.base import unscoped
from app.models.licence import DRAFT, SUBMITTED, TITLES, LicenceRequest
from app.models.staff import (
    ELECTRICIAN,
    ELECTRICIAN_KINDS,
    GENDERS,
    LEFT,
    ON_ROSTER,
    PROPOSED,
    STAFF_STATES,
    STAFF_TYPES,
    TECHNICAL,
    PowerStaff,
    gender_of,
)
from app.services import cn_codes

UNIQUE_INDEX = "uq_power_staff_electrician_id"

FIELD_LABELS = {
    "staff_type": _l("Staff type"),
    "name": _l("Full name"),
    "id_number": _l("ID number"),
    "gender": _l("Gender"),
    "title": _l("Professional title"),
    "specialty": _l("Specialty"),
    "certificate_kind": _l("Certificate kind"),
    "certificate_no": _l("Operation certificate number"),
    "certificate_issuer": _l("Issuing authority"),
    "attachment": _l("Certificate attachment"),
}
COMMON_FIELDS = ("name", "id_number", "gender")
TYPE_FIELDS = {TECHNICAL: ("title", "specialty"),
               ELECTRICIAN: ("certificate_kind", "certificate_no", "certificate_issuer")}
ALL_FIELDS = (*COMMON_FIELDS, *TYPE_FIELDS[TECHNICAL], *TYPE_FIELDS[ELECTRICIAN])

TITLE_CHOICES = list(TITLES.items())
KIND_CHOICES = list(ELECTRICIAN_KINDS.items())

# 发证机关 (names are proper nouns, kept in Chinese): the special-operation certificate
# (特种作业操作证, 电工作业) is issued by the provincial emergency-management department; the
# former 电工进网作业许可证 by the regional offices of the National Energy Administration.
_PROVINCIAL = {
    "11": "北京市应急管理局", "12": "天津市应急管理局", "13": "河北省应急管理厅",
    "14": "山西省应急管理厅", "15": "内蒙古自治区应急管理厅", "21": "辽宁省应急管理厅",
    "22": "吉林省应急管理厅", "23": "黑龙江省应急管理厅", "31": "上海市应急管理局",
    "32": "江苏省应急管理厅", "33": "浙江省应急管理厅", "34": "安徽省应急管理厅",
    "35": "福建省应急管理厅", "36": "江西省应急管理厅", "37": "山东省应急管理厅",
    "41": "河南省应急管理厅", "42": "湖北省应急管理厅", "43": "湖南省应急管理厅",
    "44": "广东省应急管理厅", "45": "广西壮族自治区应急管理厅", "46": "海南省应急管理厅",
    "50": "重庆市应急管理局", "51": "四川省应急管理厅", "52": "贵州省应急管理厅",
    "53": "云南省应急管理厅", "54": "西藏自治区应急管理厅", "61": "陕西省应急管理厅",
    "62": "甘肃省应急管理厅", "63": "青海省应急管理厅", "64": "宁夏回族自治区应急管理厅",
    "65": "新疆维吾尔自治区应急管理厅",
}
_OTHER_ISSUERS = ("新疆生产建设兵团应急管理局", "国家能源局华北监管局", "国家能源局东北监管局",
                  "国家能源局西北监管局", "国家能源局华东监管局", "国家能源局华中监管局",
                  "国家能源局南方监管局")
ISSUERS = (*_PROVINCIAL.values(), *_OTHER_ISSUERS)

NAME_MAX, SPECIALTY_MAX, CERTIFICATE_MAX = 64, 64, 32
_NAME_RE = re.compile(r"^[^\d<>\"'&;\x00-\x1f]{2,64}$")
_CERTIFICATE_RE = re.compile(r"^[A-Z0-9][A-Z0-9\-]{3,31}$")


class StaffInvalidError(DomainError):
    """A staff row with invalid fields (422); `.errors` is {field: message}."""

    code = 422

    def __init__(self, errors: dict):
        self.errors = dict(errors)
        super().__init__(gettext("Please correct: %(list)s", list="；".join(
            f"{FIELD_LABELS.get(k, k)}：{v}" for k, v in self.errors.items())))


class StaffConflictError(DomainError):
    """The ID number is already on a roster (409): named, the other enterprise never."""

    code = 409


class StaffLockedError(DomainError):
    """A change the roster does not allow here (409): it changes through approved cases."""

    code = 409


# ----- display ------------------------------------------------------------------------------
def mask_id(number: str | None) -> str:
    """440106199001011234 -> 440106********1234 (the region and the last four)."""
    number = number or ""
    if len(number) < 11:
        return "*" * len(number)
    return f"{number[:6]}{'*' * (len(number) - 10)}{number[-4:]}"


def mask_certificate(number: str | None) -> str:
    """A certificate number that holds an ID number (T440106199001011234) masked like it:
    T440106********1234; short numbers are shown as they are."""
    number = number or ""
    if len(number) < 15:
        return number
    return f"{number[:-12]}{'*' * 8}{number[-4:]}"


def default_issuer(region_code: str | None) -> str:
    """The issuer preselected for an enterprise: its province's department."""
    return _PROVINCIAL.get((region_code or "")[:2], ISSUERS[0])


# ----- validation ---------------------------------------------------------------------------
def _text(values: dict, key: str) -> str:
    value = values.get(key)
    return value.strip() if isinstance(value, str) else ("" if value is None else str(value))


def clean_staff(values: dict, staff_type: str) -> tuple[dict, dict]:
    """(clean values, {field: translated message}) for a row of `staff_type`. Clean values
    hold every field of the model (the other type's fields None), the ID number compacted and
    upper-case, the gender derived from it (a gender given that disagrees is an error).
    Idempotent: cleaning clean values gives them back."""
    errors: dict = {}
    if staff_type not in STAFF_TYPES:
        return {}, {"staff_type": gettext("Choose the staff type.")}
    clean: dict = {"staff_type": staff_type, **{f: None for f in ALL_FIELDS}}
    required = gettext("Required.")

    name = re.sub(r"\s+", " ", _text(values, "name"))
    if not name:
        errors["name"] = required
    elif not _NAME_RE.match(name):
        errors["name"] = gettext("Give the name as on the identity card (2 to %(n)s "
                                 "characters, no digits).", n=NAME_MAX)
    clean["name"] = name

    number = cn_codes.compact(_text(values, "id_number"))
    if not number:
        errors["id_number"] = required
    elif not cn_codes.resident_id_valid(number):
        errors["id_number"] = gettext("Not a valid resident ID number (18 characters, check "
                                      "character, birth date and region).")
    clean["id_number"] = number

    given = _text(values, "gender").upper()
    derived = gender_of(number) if "id_number" not in errors else None
    if given and given not in GENDERS:
        errors["gender"] = gettext("Choose male or female.")
    elif given and derived and given != derived:
        errors["gender"] = gettext("The gender does not match the ID number (%(gender)s).",
                                   gender=GENDERS[derived])
    clean["gender"] = derived or (given if given in GENDERS else None)

    if staff_type == TECHNICAL:
        title = _text(values, "title")
        if not title:
            errors["title"] = required
        elif title not in TITLES:
            errors["title"] = gettext("Choose a title from the list.")
        clean["title"] = title or None
        specialty = _text(values, "specialty")
        if not specialty:
            errors["specialty"] = required
        elif len(specialty) > SPECIALTY_MAX:
            errors["specialty"] = gettext("At most %(n)s characters.", n=SPECIALTY_MAX)
        clean["specialty"] = specialty or None
    else:
        kind = _text(values, "certificate_kind")
        if not kind:
            errors["certificate_kind"] = required
        elif kind not in ELECTRICIAN_KINDS:
            errors["certificate_kind"] = gettext("Choose a certificate kind from the list.")
        clean["certificate_kind"] = kind or None
        certificate = cn_codes.compact(_text(values, "certificate_no"))
        if not certificate:
            errors["certificate_no"] = required
        elif not _CERTIFICATE_RE.match(certificate):
            errors["certificate_no"] = gettext(
                "Give the certificate number as printed (4 to %(n)s letters and digits).",
                n=CERTIFICATE_MAX)
        clean["certificate_no"] = certificate or None
        issuer = _text(values, "certificate_issuer")
        if not issuer:
            errors["certificate_issuer"] = required
        elif issuer not in ISSUERS:
            errors["certificate_issuer"] = gettext("Choose the issuing authority from the "
                                                   "list.")
        clean["certificate_issuer"] = issuer or None
    return clean, errors


def staff_values(staff: PowerStaff) -> dict:
    """A row's values as clean_staff takes them (edit forms)."""
    return {"staff_type": staff.staff_type,
            **{f: getattr(staff, f) or "" for f in ALL_FIELDS}}


# ----- uniqueness ---------------------------------------------------------------------------
def _holder(id_number: str, staff_type: str, enterprise_id: int, exclude_id=None):
    """The live row already holding this ID number that a new row would clash with: any
    enterprise's for an electrician (the unique index), this enterprise's for technical
    staff. System work: it must see other tenants' rows (and says nothing about them)."""
    where = [PowerStaff.id_number == id_number, PowerStaff.staff_type == staff_type,
             PowerStaff.status != LEFT]
    if staff_type != ELECTRICIAN:
        where.append(PowerStaff.enterprise_id == enterprise_id)
    if exclude_id is not None:
        where.append(PowerStaff.id != exclude_id)
    with unscoped():
        return db.session.execute(
            select(PowerStaff.enterprise_id, PowerStaff.name, PowerStaff.status)
            .where(*where).order_by(PowerStaff.id).limit(1)).first()


def conflict_error(id_number: str, staff_type: str, enterprise_id: int,
                   holder=None) -> StaffConflictError:
    masked = mask_id(id_number)
    if holder is not None and holder.enterprise_id == enterprise_id:
        return StaffConflictError(gettext(
            "ID number %(id)s is already on this enterprise's roster (%(name)s, %(status)s).",
            id=masked, name=holder.name, status=STAFF_STATES.get(holder.status, "")))
    return StaffConflictError(gettext(
        "ID number %(id)s is already registered as an electrician on another enterprise's "
        "roster. A person is on one roster only: that enterprise must first record that the "
        "person has left.", id=masked))


def check_available(id_number: str, staff_type: str, enterprise_id: int,
                    exclude_id=None) -> None:
    """The friendly pre-check: raises StaffConflictError when the ID number is taken."""
    holder = _holder(id_number, staff_type, enterprise_id, exclude_id)
    if holder is not None:
        raise conflict_error(id_number, staff_type, enterprise_id, holder)


def _is_unique_violation(exc: IntegrityError) -> bool:
    text = str(getattr(exc, "orig", exc))
    return UNIQUE_INDEX in text or "power_staff.id_number" in text


def flush_guarded(staff: PowerStaff) -> None:
    """Flush `staff` (added or changed); the database's refusal of a second live electrician
    with its ID number becomes StaffConflictError after rolling the session back."""
    id_number, staff_type, enterprise_id, own_id = (staff.id_number, staff.staff_type,
                                                    staff.enterprise_id, staff.id)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        if not _is_unique_violation(exc):
            raise
        raise conflict_error(id_number, staff_type, enterprise_id,
                             _holder(id_number, staff_type, enterprise_id, own_id)) from None


# ----- operations ---------------------------------------------------------------------------
def add_staff(enterprise_id: int, values: dict, status: str, request_id: int | None = None,
              *, attachment=None, commit: bool = True) -> PowerStaff:
    """Validate and insert a row (`values["staff_type"]` says which kind). `status`:
    PROPOSED for a licence request's row (`request_id`: the enterprise's own request, still
    editable, else StaffLockedError) or a join case (propose_join), ACTIVE only for system
    work (imports, demo)."""
    staff_type = values.get("staff_type")
    if request_id is not None:
        request = db.session.get(LicenceRequest, request_id)
        if request is None or request.enterprise_id != enterprise_id \
                or not request_editable(request):
            db.session.rollback()
            raise StaffLockedError(gettext("This application can no longer be changed."))
    clean, errors = clean_staff(values, staff_type)
    if errors:
        db.session.rollback()
        raise StaffInvalidError(errors)
    try:
        check_available(clean["id_number"], staff_type, enterprise_id)
    except StaffConflictError:
        db.session.rollback()
        raise
    staff = PowerStaff(enterprise_id=enterprise_id, status=status, request_id=request_id,
                       attachment=attachment, **clean)
    db.session.add(staff)
    flush_guarded(staff)
    if commit:
        db.session.commit()
    return staff


def request_editable(request: LicenceRequest | None) -> bool:
    """A draft, or a submitted request whose case was returned for correction."""
    if request is None:
        return False
    if request.state == DRAFT:
        return True
    from app.workflows.engine import RETURNED

    return request.state == SUBMITTED and request.case is not None \
        and request.case.state == RETURNED


def _editable(staff: PowerStaff) -> None:
    request = db.session.get(LicenceRequest, staff.request_id) if staff.request_id else None
    if staff.status != PROPOSED or not request_editable(request):
        raise StaffLockedError(gettext(
            "%(name)s is on the roster or in a case under review: the roster changes only "
            "through an approved application or personnel change.", name=staff.name))


def update_staff(staff: PowerStaff, values: dict, *, commit: bool = True) -> PowerStaff:
    """Change a row proposed by an editable licence request (its type stays)."""
    _editable(staff)
    clean, errors = clean_staff({**values, "staff_type": staff.staff_type}, staff.staff_type)
    if errors:
        db.session.rollback()
        raise StaffInvalidError(errors)
    try:
        check_available(clean["id_number"], staff.staff_type, staff.enterprise_id,
                        exclude_id=staff.id)
    except StaffConflictError:
        db.session.rollback()
        raise
    for key, value in clean.items():
        setattr(staff, key, value)
    flush_guarded(staff)
    if commit:
        db.session.commit()
    return staff


def remove_proposed(staff: PowerStaff, *, commit: bool = True) -> None:
    """Delete a row proposed by an editable licence request (its ID number is free again)."""
    _editable(staff)
    db.session.execute(delete(PowerStaff).where(PowerStaff.id == staff.id)
                       .execution_options(synchronize_session="fetch"))
    if commit:
        db.session.commit()


# ----- lists and totals ---------------------------------------------------------------------
def roster_condition(enterprise_id: int | None = None):
    """The roster: on it (active or leaving). `enterprise_id` None: every enterprise in the
    caller's scope (the ORM hook scopes the query)."""
    where = PowerStaff.status.in_(ON_ROSTER)
    return where if enterprise_id is None else and_(PowerStaff.enterprise_id == enterprise_id,
                                                     where)


def roster_totals(enterprise_id: int | None = None, *where):
    """licence_check.Totals of the roster (what a licence counts), by title and kind; more
    conditions on PowerStaff may narrow it (a regulator's enterprise filter)."""
    from app.services import licence_check

    return licence_check.count_staff(and_(roster_condition(enterprise_id), *where))


def request_totals(request: LicenceRequest):
    """The roster plus what the request proposes (the completeness check's figures)."""
    from app.services import licence_check

    return licence_check.staff_totals(request)


def pending_joins(enterprise_id: int | None = None, *where) -> int:
    """Rows awaiting approval of a personnel change (not of a licence request)."""
    conditions = [PowerStaff.status == PROPOSED, PowerStaff.request_id.is_(None), *where]
    if enterprise_id is not None:
        conditions.append(PowerStaff.enterprise_id == enterprise_id)
    return db.session.execute(select(func.count(PowerStaff.id))
                              .where(*conditions)).scalar_one()


def title_rows(totals) -> list[tuple[str, str, int]]:
    by = totals.by_title or {}
    return [(key, str(label), int(by.get(key, 0))) for key, label in TITLES.items()]


def kind_rows(totals) -> list[tuple[str, str, int]]:
    by = totals.by_kind or {}
    rows = [(key, str(label), int(by.get(key, 0))) for key, label in ELECTRICIAN_KINDS.items()]
    other = sum(n for key, n in by.items() if key not in ELECTRICIAN_KINDS)
    if other:
        rows.append(("", gettext("Other kinds"), int(other)))
    return rows


def request_rows(request: LicenceRequest, staff_type: str) -> list[PowerStaff]:
    """A licence tab's rows: this request's proposals (editable) first, then the roster."""
    from app.services.licence_check import roster_filter

    return list(db.session.execute(
        select(PowerStaff).where(roster_filter(request), PowerStaff.staff_type == staff_type)
        .order_by(PowerStaff.status != PROPOSED, PowerStaff.id)).scalars())


def current_staff(enterprise_id: int, *, name: str = "", id_number: str = "",
                  limit: int = 50) -> list[PowerStaff]:
    """P12 leave: the enterprise's active staff whose name begins with `name` and/or whose ID
    number is `id_number` (exact; compacted)."""
    where = [PowerStaff.enterprise_id == enterprise_id, PowerStaff.status.in_(ON_ROSTER)]
    name = (name or "").strip()[:NAME_MAX]
    number = cn_codes.compact(id_number)[:18]
    if name:
        where.append(and_(PowerStaff.name >= name, PowerStaff.name < name + "\U0010ffff"))
    if number:
        where.append(PowerStaff.id_number == number)
    return list(db.session.execute(
        select(PowerStaff).where(*where).order_by(PowerStaff.staff_type, PowerStaff.name,
                                                  PowerStaff.id).limit(limit)).scalars())


def draft_proposal_condition():
    """Rows proposed by a licence request that is still a draft (not yet anyone's business
    but the application's own tab): left out of the roster pages."""
    drafts = select(LicenceRequest.id).where(LicenceRequest.state == DRAFT)
    return and_(PowerStaff.status == PROPOSED, PowerStaff.request_id.is_not(None),
                PowerStaff.request_id.in_(drafts))


__all__ = ["ALL_FIELDS", "FIELD_LABELS", "GENDERS", "ISSUERS", "KIND_CHOICES",
           "StaffConflictError", "StaffInvalidError", "StaffLockedError", "TITLE_CHOICES",
           "add_staff", "check_available", "clean_staff", "conflict_error", "current_staff",
           "default_issuer", "draft_proposal_condition", "flush_guarded", "gender_of",
           "kind_rows", "mask_certificate", "mask_id", "pending_joins", "remove_proposed",
           "request_editable", "request_rows", "request_totals", "roster_condition",
           "roster_totals", "staff_values", "title_rows", "update_staff"]
