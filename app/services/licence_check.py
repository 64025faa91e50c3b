"""The completeness check of a licence request (seed 002 资料提交, SPEC P5): every missing
item and every shortfall against the licence conditions, by section.

The conditions are data (`LicenceCondition`, maintained by the authority, seeded from
`app/services/data/power_conditions.json` by `flask regportal setup`). For each chosen
category and level the items are:

    technical_staff       technical staff on the roster (any title)
    senior_staff          of them with a senior title
    intermediate_staff    of them with an intermediate or senior title
    electricians          electricians holding a 特种作业操作证（电工）
    special_electricians  of them in power-cable, relay-protection or testing work
                          (waived in the free-trade-zone pilot)
    lead_years            the technical lead's years in power engineering
    lead_title            the technical lead's title at least: 1 junior, 2 intermediate,
                          3 senior
    projects              completed projects of the category within `project_years`
                          years at `project_kv` kV or more

Several categories: staffing items take the highest minimum of the chosen categories (the
same staff serve every category), projects are counted per category.

Counting is done in SQL (a few GROUP BY queries), so a request with hundreds of staff and
project rows is checked in milliseconds (`python -m bench.licence`)."""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select

from app.extensions import db
from app.models.licence import (
    CANCELLATION,
    CATEGORIES,
    FULL_MATTERS,
    LEVELS,
    REGISTRATION_CHANGE,
    REPLACEMENT,
    ROUTE_FTZ,
    ROUTE_TOLERANCE,
    EquityHolder,
    LicenceCondition,
    LicenceRequest,
    ProjectRecord,
)
from app.models.staff import ELECTRICIAN, ON_ROSTER, PROPOSED, SPECIAL_KINDS, TECHNICAL, PowerStaff

CONDITIONS_FILE = Path(__file__).parent / "data" / "power_conditions.json"

SECTIONS = {
    "category": _l("Category and submitter"),
    "basic": _l("Basic information"),
    "technical": _l("Technical lead"),
    "safety": _l("Safety lead"),
    "staff": _l("Technical staff"),
    "electricians": _l("Electricians"),
    "projects": _l("Project records"),
    "changes": _l("Changes"),
    "matter": _l("Matter details"),
    "materials": _l("Materials"),
}

CONDITION_ITEMS = {
    "technical_staff": _l("Technical staff (people)"),
    "senior_staff": _l("Of them with a senior title"),
    "intermediate_staff": _l("Of them with an intermediate or senior title"),
    "electricians": _l("Electricians (people)"),
    "special_electricians": _l("Electricians in cable, relay or testing work"),
    "lead_years": _l("Technical lead: years in power engineering"),
    "lead_title": _l("Technical lead: title at least (1 junior, 2 intermediate, 3 senior)"),
    "projects": _l("Completed projects"),
    "project_years": _l("Projects counted within (years)"),
    "project_kv": _l("Projects of at least (kV)"),
}
TITLE_RANK = {"none": 0, "junior": 1, "intermediate": 2, "senior": 3}
RANK_LABELS = {1: _l("a junior title"), 2: _l("an intermediate title"),
               3: _l("a senior title")}


@dataclass(frozen=True)
class Material:
    """A material slot of the request form: when it is required, and whether the
    free-trade-zone pilot waives it (部门信息共享 / 网络查验 instead)."""

    slot: str
    label: object
    matters: tuple
    ftz_waived: bool = False
    # A predicate on the request deciding whether the slot applies (submitter, nature...).
    applies: object = None


def _submitter(kind):
    return lambda r: r.submitter_kind == kind


def _nature(kind):
    return lambda r: r.nature == kind


def _reason(kind):
    return lambda r: (r.details or {}).get("reason") == kind


_ALL = ("new", "registration_change", "item_change", "renewal", "replacement", "cancellation")
MATERIALS = (
    Material("legal_statement", _l("Statement signed by the legal representative"), _ALL,
             applies=_submitter("legal")),
    Material("delegation", _l("Power of attorney"), _ALL, applies=_submitter("delegate")),
    Material("delegate_id", _l("Delegate's identity card"), _ALL,
             applies=_submitter("delegate")),
    Material("merger_docs", _l("Merger agreement and approval"), ("new",),
             applies=_nature("merger")),
    Material("split_docs", _l("Split agreement and approval"), ("new",),
             applies=_nature("split")),
    Material("business_licence", _l("Business licence (copy)"),
             ("new", "registration_change", "item_change", "renewal", "replacement"),
             ftz_waived=True),
    Material("constructor_certs", _l("Registered constructor certificates"),
             ("new", "item_change", "renewal"), ftz_waived=True),
    Material("safety_rules", _l("Safety management rules"), ("new", "item_change", "renewal")),
    Material("equipment_list", _l("List of construction and test equipment"),
             ("new", "item_change", "renewal")),
    Material("change_proof", _l("Proof of the registration change"),
             ("registration_change",)),
    Material("licence_original", _l("Licence certificate (scan of the original)"),
             ("registration_change", "replacement"), ftz_waived=True,
             applies=lambda r: r.matter != REPLACEMENT or _reason("damaged")(r)),
    Material("loss_notice", _l("Loss notice published in a newspaper"), ("replacement",),
             ftz_waived=True, applies=_reason("lost")),
    Material("cancellation_request", _l("Cancellation request letter"), ("cancellation",)),
)
MATERIAL_LABELS = {m.slot: m.label for m in MATERIALS}


def required_materials(request: LicenceRequest) -> list[Material]:
    out = []
    for m in MATERIALS:
        if request.matter not in m.matters:
            continue
        if m.applies is not None and not m.applies(request):
            continue
        if m.ftz_waived and request.route == ROUTE_FTZ:
            continue
        out.append(m)
    return out


def tolerable_materials(request: LicenceRequest) -> list[Material]:
    """What a 容缺 request may name as missing: the required materials except the
    submitter's own documents (the applicant must be identified at submission)."""
    own = {"legal_statement", "delegation", "delegate_id"}
    return [m for m in required_materials(request) if m.slot not in own]


@dataclass(frozen=True)
class Finding:
    section: str
    message: str

    @property
    def section_label(self) -> str:
        return str(SECTIONS.get(self.section, self.section))


# ----- conditions ---------------------------------------------------------------------------
def conditions_for(categories: dict) -> dict:
    """{(category, item): minimum} for the chosen categories and levels, with waivers."""
    wanted = [(c, int(level)) for c, level in (categories or {}).items()
              if c in CATEGORIES and level]
    if not wanted:
        return {}
    rows = db.session.execute(select(
        LicenceCondition.category, LicenceCondition.item, LicenceCondition.minimum,
        LicenceCondition.waived_in_ftz).where(or_(*[
            and_(LicenceCondition.category == c, LicenceCondition.level == level)
            for c, level in wanted]))).all()
    return {(r.category, r.item): r for r in rows}


def load_conditions(session) -> int:
    """Insert the shipped conditions missing from the table (setup; idempotent: the
    authority's edits are kept). Returns the number inserted."""
    data = json.loads(CONDITIONS_FILE.read_text(encoding="utf-8"))
    have = {(c, lv, i) for c, lv, i in session.execute(
        select(LicenceCondition.category, LicenceCondition.level, LicenceCondition.item))}
    added = 0
    for category, levels in data["conditions"].items():
        for level, items in levels.items():
            for item, minimum in items.items():
                if (category, int(level), item) in have:
                    continue
                session.add(LicenceCondition(
                    category=category, level=int(level), item=item, minimum=int(minimum),
                    waived_in_ftz=1 if item in data.get("waived_in_ftz", ()) else 0))
                added += 1
    return added


# ----- counting -------------------------------------------------------------------------------
def roster_filter(request: LicenceRequest):
    """The staff a request counts: the enterprise's roster plus what this request proposes."""
    return and_(PowerStaff.enterprise_id == request.enterprise_id,
                or_(PowerStaff.status.in_(ON_ROSTER),
                    and_(PowerStaff.status == PROPOSED, PowerStaff.request_id == request.id)))


@dataclass
class Totals:
    technical: int = 0
    senior: int = 0
    intermediate: int = 0  # intermediate or senior
    by_title: dict = None
    electricians: int = 0
    special: int = 0
    by_kind: dict = None


def staff_totals(request: LicenceRequest) -> Totals:
    """What the request counts: the roster plus the staff it proposes."""
    return count_staff(roster_filter(request))


def count_staff(where) -> Totals:
    """Totals of the PowerStaff rows matching `where`, in one GROUP BY: the licence check,
    the application's staff tabs and the roster pages (app.services.staff) all count here."""
    rows = db.session.execute(
        select(PowerStaff.staff_type, PowerStaff.title, PowerStaff.certificate_kind,
               func.count(PowerStaff.id))
        .where(where)
        .group_by(PowerStaff.staff_type, PowerStaff.title, PowerStaff.certificate_kind)).all()
    t = Totals(by_title={}, by_kind={})
    for staff_type, title, kind, n in rows:
        if staff_type == TECHNICAL:
            t.technical += n
            t.by_title[title or "none"] = t.by_title.get(title or "none", 0) + n
            if title == "senior":
                t.senior += n
            if title in ("senior", "intermediate"):
                t.intermediate += n
        elif staff_type == ELECTRICIAN:
            t.electricians += n
            t.by_kind[kind or ""] = t.by_kind.get(kind or "", 0) + n
            if kind in SPECIAL_KINDS:
                t.special += n
    return t


def projects_by_voltage(request: LicenceRequest) -> list[tuple[int, int]]:
    """[(kV, count)] highest first: the seed's summary under the project table."""
    return [(int(kv), int(n)) for kv, n in db.session.execute(
        select(ProjectRecord.voltage_kv, func.count(ProjectRecord.id))
        .where(ProjectRecord.request_id == request.id)
        .group_by(ProjectRecord.voltage_kv).order_by(ProjectRecord.voltage_kv.desc()))]


def _project_counts(request, since, today) -> list[tuple[str, int, int]]:
    """[(category, kV, count)] of the request's projects completed since `since`."""
    return [(c, int(kv), int(n)) for c, kv, n in db.session.execute(
        select(ProjectRecord.category, ProjectRecord.voltage_kv, func.count(ProjectRecord.id))
        .where(ProjectRecord.request_id == request.id, ProjectRecord.completed_on >= since,
               ProjectRecord.completed_on <= today)
        .group_by(ProjectRecord.category, ProjectRecord.voltage_kv))]


def _years_before(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


# ----- the check ------------------------------------------------------------------------------
def findings(request: LicenceRequest, today: datetime.date | None = None) -> list[Finding]:
    """Every missing item and shortfall, in section order. Empty = complete."""
    today = today or datetime.date.today()
    out: list[Finding] = []
    add = out.append
    if request.matter in ("new", "item_change", "renewal") and not request.categories:
        add(Finding("category", gettext("Choose at least one category and its level.")))
    if not request.submitter_name or not request.submitter_id_number:
        add(Finding("category", gettext("Give the submitter's name and ID number.")))
    if request.matter in FULL_MATTERS:
        _check_full(request, today, add)
    elif request.matter == REGISTRATION_CHANGE:
        changes = (request.details or {}).get("changes") or {}
        if not changes:
            add(Finding("changes", gettext("Change at least one registration item.")))
    elif request.matter == REPLACEMENT:
        if (request.details or {}).get("reason") not in ("lost", "damaged"):
            add(Finding("matter", gettext("Say whether the licence was lost or damaged.")))
    elif request.matter == CANCELLATION:
        if not ((request.details or {}).get("matters") or "").strip():
            add(Finding("matter", gettext("Describe the cancellation matters.")))
    _check_materials(request, add)
    return out


def _check_full(request, today, add) -> None:
    equity = db.session.execute(
        select(func.count(EquityHolder.id), func.coalesce(func.sum(EquityHolder.share), 0))
        .where(EquityHolder.request_id == request.id)).one()
    if not equity[0]:
        add(Finding("basic", gettext("Add the equity structure (at least one shareholder).")))
    elif abs(float(equity[1]) - 100.0) > 0.01:
        add(Finding("basic", gettext("The shares add up to %(sum)s%%, not 100%%.",
                                     sum=f"{float(equity[1]):g}")))
    leads = {p.role: p for p in request.key_persons}
    for role in ("technical", "safety"):
        person = leads.get(role)
        if person is None:
            add(Finding(role, gettext("Fill in this section.")))
            continue
        if not any(r.kind == "work" for r in person.records):
            add(Finding(role, gettext("Add at least one work-history row.")))
    conditions = conditions_for(request.categories)
    waived = request.route == ROUTE_FTZ
    totals = staff_totals(request)

    def minimum(item):
        """The highest minimum of `item` over the chosen categories, with its category."""
        best = (0, None)
        for (category, name), row in conditions.items():
            if name == item and not (waived and row.waived_in_ftz) and row.minimum > best[0]:
                best = (row.minimum, category)
        return best

    def level_text(category):
        level = int(request.categories.get(category, 0) or 0)
        return f"{CATEGORIES.get(category, category)} {LEVELS.get(level, level)}"

    staffing = (
        ("staff", "technical_staff", totals.technical,
         _l("%(level)s needs at least %(need)s technical staff; there are %(have)s.")),
        ("staff", "senior_staff", totals.senior,
         _l("%(level)s needs at least %(need)s technical staff with a senior title; there "
            "are %(have)s.")),
        ("staff", "intermediate_staff", totals.intermediate,
         _l("%(level)s needs at least %(need)s technical staff with an intermediate or "
            "senior title; there are %(have)s.")),
        ("electricians", "electricians", totals.electricians,
         _l("%(level)s needs at least %(need)s electricians; there are %(have)s.")),
        ("electricians", "special_electricians", totals.special,
         _l("%(level)s needs at least %(need)s electricians in power-cable, relay-protection "
            "or testing work; there are %(have)s.")),
    )
    for section, item, have, message in staffing:
        need, category = minimum(item)
        if need and have < need:
            add(Finding(section, str(message) % {"level": level_text(category), "need": need,
                                                 "have": have}))
    lead = leads.get("technical")
    if lead is not None:
        need, category = minimum("lead_years")
        if need and (lead.years or 0) < need:
            add(Finding("technical", gettext(
                "%(level)s needs a technical lead with %(need)s years in power engineering; "
                "the lead has %(have)s.", level=level_text(category), need=need,
                have=lead.years or 0)))
        need, category = minimum("lead_title")
        if need and TITLE_RANK.get(lead.title or "none", 0) < need:
            add(Finding("technical", gettext(
                "%(level)s needs a technical lead with %(title)s at least.",
                level=level_text(category), title=RANK_LABELS.get(need, need))))
    wanted = []
    for category in request.categories or {}:
        need = conditions.get((category, "projects"))
        if need is None or not need.minimum:
            continue
        years = conditions.get((category, "project_years"))
        kv = conditions.get((category, "project_kv"))
        wanted.append((category, need.minimum, years.minimum if years else 3,
                       kv.minimum if kv else 0))
    if wanted:
        # One query for every category: counts by category and voltage since the longest
        # window, then each category's own window is applied on the (few) projects left.
        counts = _project_counts(request, _years_before(today, max(w[2] for w in wanted)),
                                 today)
        by_window = {}
        for category, need, years, kv in wanted:
            if years not in by_window:
                by_window[years] = _project_counts(request, _years_before(today, years), today) \
                    if years != max(w[2] for w in wanted) else counts
            have = sum(n for c, v, n in by_window[years] if c == category and v >= kv)
            if have < need:
                add(Finding("projects", gettext(
                    "%(level)s needs %(need)s completed projects of %(kv)s kV or more in the "
                    "last %(years)s years; there are %(have)s.", level=level_text(category),
                    need=need, kv=kv, years=years, have=have)))


def _check_materials(request, add) -> None:
    present = {m.slot for m in request.materials}
    deferred = set()
    if request.route == ROUTE_TOLERANCE:
        details = request.details or {}
        deferred = set(details.get("missing") or ())
        if deferred and not details.get("deadline"):
            add(Finding("materials", gettext("Give the date by which the missing materials "
                                             "will be supplied.")))
    for m in required_materials(request):
        if m.slot not in present and m.slot not in deferred:
            add(Finding("materials", gettext("Upload: %(material)s.", material=m.label)))
