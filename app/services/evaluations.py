"""Service evaluations (好差评, SPEC P14): the one operation that records an evaluation, the
authority's QR codes, the enterprise's to-do and the satisfaction summary.

    from app.services import evaluations

    evaluations.submit(satisfaction=5, mobile="13912341234", case=case, user=g.user)
    evaluations.submit(satisfaction=2, mobile="139 1234 1234", comment="…", code=code)
    code = evaluations.create_code(kind="service", title="许可受理窗口", user=g.user)
    evaluations.public_url(code)        # what the QR code holds

`submit` validates every field (all errors at once, `EvaluationInvalidError.errors`), checks
the case (ended, the user's enterprise's, recent, not yet evaluated) or the code (active),
takes the mobile number's 5-day lock in the database (app/models/evaluation.py explains
how), adds the evaluation and its audit event, and commits once. A number that evaluated
less than 5 days ago gets `EvaluationMobileLockedError`, which names the day it may evaluate
again.
"""

from __future__ import annotations

import datetime
import secrets
from dataclasses import dataclass

import phonenumbers
from flask import current_app, url_for
from flask_babel import gettext
from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import lazyload

from app.errors import DomainError
from app.extensions import db
from app.models.base import authority_sectors, unscoped
from app.models.evaluation import (
    ASPECTS,
    CHANNEL_QR,
    CHANNEL_TODO,
    CODE_KINDS,
    COMMENT_MAX,
    LOCK_DAYS,
    MATTER,
    NAME_MAX,
    SATISFACTION,
    SATISFIED_FROM,
    SECTOR,
    SERVICE,
    TITLE_MAX,
    Evaluation,
    EvaluationCode,
    EvaluationMobileLock,
    mask_mobile,
)
from app.models.workflow import Application
from app.services import audit
from app.workflows.engine import APPROVED, REJECTED, TERMINATED
from app.workflows.licence import LICENCE_KINDS, PERSONNEL

# Cases of the power sector that are evaluated when they end, and how long the to-do stays.
EVALUABLE_KINDS = (*LICENCE_KINDS, PERSONNEL)
ENDED_STATES = (APPROVED, REJECTED, TERMINATED)
TODO_DAYS = 90


class EvaluationInvalidError(DomainError):
    """Fields that fail their rules; `errors` maps each field to its message."""

    code = 422

    def __init__(self, errors: dict[str, str]):
        self.errors = {k: str(v) for k, v in errors.items()}
        super().__init__("；".join(self.errors.values()))


class EvaluationMobileLockedError(DomainError):
    """The mobile number gave an evaluation less than 5 days ago (同一手机号5天内只能填报一次)."""

    code = 409

    def __init__(self, until: datetime.datetime):
        self.until = until
        super().__init__(gettext(
            "This mobile number has already given an evaluation in the last %(days)d days; "
            "it may evaluate again from %(when)s.", days=LOCK_DAYS,
            when=until.strftime("%Y-%m-%d %H:%M")))


class EvaluationExistsError(DomainError):
    """The case has been evaluated already (one evaluation per case)."""

    code = 409


class EvaluationCaseError(DomainError):
    """Not a case the user may evaluate (not its enterprise's, not ended, too old)."""

    code = 404


class EvaluationCodeError(DomainError):
    """A code that cannot be generated as asked; `errors` maps each field to its message."""

    code = 422

    def __init__(self, errors: dict[str, str]):
        self.errors = {k: str(v) for k, v in errors.items()}
        super().__init__("；".join(self.errors.values()))


# ----- fields ---------------------------------------------------------------------------------
def normalise_mobile(value: str | None) -> str | None:
    """A mainland China mobile number as its 11 digits, or None when it is not one."""
    raw = (value or "").strip()
    if not raw or len(raw) > 20:
        return None
    try:
        number = phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException:
        return None
    if number.country_code != 86 or not phonenumbers.is_valid_number(number):
        return None
    if phonenumbers.number_type(number) not in (phonenumbers.PhoneNumberType.MOBILE,
                                                phonenumbers.PhoneNumberType
                                                .FIXED_LINE_OR_MOBILE):
        return None
    return str(number.national_number)


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def validate(*, satisfaction, mobile, name=None, aspects=(), comment=None
             ) -> tuple[dict, dict[str, str]]:
    """(clean values, {field: message}) for the evaluation's own fields."""
    errors: dict[str, str] = {}
    clean: dict = {}
    try:
        level = int(satisfaction)
    except (TypeError, ValueError):
        level = None
    if level not in SATISFACTION:
        errors["satisfaction"] = gettext("Choose how satisfied you are.")
    clean["satisfaction"] = level
    if not _text(mobile):
        errors["mobile"] = gettext("Enter your mobile number.")
    else:
        clean["mobile"] = normalise_mobile(mobile)
        if clean["mobile"] is None:
            errors["mobile"] = gettext("Enter an 11-digit mainland mobile number, e.g. "
                                       "13800138000.")
    clean["name"] = _text(name) or None
    if clean["name"] and len(clean["name"]) > NAME_MAX:
        errors["name"] = gettext("At most %(n)d characters.", n=NAME_MAX)
    if isinstance(aspects, str):
        aspects = [aspects]
    chosen = [a for a in dict.fromkeys(aspects or ()) if a]
    if any(a not in ASPECTS for a in chosen):
        errors["aspects"] = gettext("Choose among the listed aspects.")
    clean["aspects"] = [a for a in ASPECTS if a in chosen]  # in the listed order
    clean["comment"] = _text(comment).replace("\r\n", "\n") or None
    if clean["comment"] and len(clean["comment"]) > COMMENT_MAX:
        errors["comment"] = gettext("At most %(n)d characters (now %(len)d).", n=COMMENT_MAX,
                                    len=len(clean["comment"]))
    return clean, errors


# ----- the 5-day rule -------------------------------------------------------------------------
def _insert_for(session):
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the project runs on SQLite and PostgreSQL only
        raise NotImplementedError(f"no atomic upsert for {dialect}")
    return insert


def take_mobile_lock(session, mobile: str, now: datetime.datetime) -> bool:
    """Take the number's lock until now + 5 days in the current transaction: True when
    taken, False when it is held (an evaluation less than 5 days ago). One atomic
    INSERT ... ON CONFLICT DO UPDATE ... WHERE until <= now (see app/models/evaluation.py)."""
    table = EvaluationMobileLock.__table__
    insert = _insert_for(session)
    stmt = insert(table).values(mobile=mobile, until=now + datetime.timedelta(days=LOCK_DAYS))
    stmt = stmt.on_conflict_do_update(index_elements=[table.c.mobile],
                                      set_={"until": stmt.excluded.until},
                                      where=table.c.until <= now)
    # RETURNING names the row inserted or updated; nothing comes back when the lock is held.
    # (rowcount is -1 for this statement with psycopg 3, so it is not used.)
    return session.execute(stmt.returning(table.c.mobile)).first() is not None


def locked_until(session, mobile: str) -> datetime.datetime | None:
    table = EvaluationMobileLock.__table__
    return session.execute(select(table.c.until).where(table.c.mobile == mobile)).scalar()


# ----- cases to evaluate ----------------------------------------------------------------------
def _ended_cases(enterprise_id: int, now: datetime.datetime):
    return (db.session.query(Application)
            .options(lazyload(Application.history), lazyload(Application.attachments),
                     lazyload(Application.submitted_by), lazyload(Application.assignee))
            .filter(Application.enterprise_id == enterprise_id,
                    Application.kind.in_(EVALUABLE_KINDS),
                    Application.state.in_(ENDED_STATES),
                    Application.decided_on >= now - datetime.timedelta(days=TODO_DAYS)))


def _evaluated(case_id_column):
    return exists().where(Evaluation.case_id == case_id_column)


def cases_to_evaluate(user, limit: int = 20, now: datetime.datetime | None = None
                      ) -> list[Application]:
    """The user's enterprise's power cases that ended in the last 90 days and have no
    evaluation yet, latest decision first."""
    enterprise_id = getattr(user, "enterprise_id", None)
    if not enterprise_id:
        return []
    now = now or datetime.datetime.now()
    return (_ended_cases(enterprise_id, now).filter(~_evaluated(Application.id))
            .order_by(Application.decided_on.desc(), Application.id.desc())
            .limit(limit).all())


def case_for_evaluation(case_id: int, user, now: datetime.datetime | None = None
                        ) -> Application:
    """The case the user may evaluate (evaluated already or not); EvaluationCaseError (404)
    for anything else: another enterprise's case, a case still open, a rental case, a case
    decided more than 90 days ago."""
    enterprise_id = getattr(user, "enterprise_id", None)
    now = now or datetime.datetime.now()
    case = None
    if enterprise_id and isinstance(case_id, int) and 0 < case_id < 2**31:
        case = _ended_cases(enterprise_id, now).filter(Application.id == case_id).first()
    if case is None:
        raise EvaluationCaseError(gettext("There is no case of yours to evaluate here."))
    return case


def evaluation_of_case(case_id: int) -> Evaluation | None:
    return db.session.query(Evaluation).filter(Evaluation.case_id == case_id).first()


def todo_provider(user, limit: int) -> list:
    """Inbox to-do provider "evaluation" (registered in register_views): an "evaluate"
    entry per ended case of the user's enterprise not yet evaluated."""
    from app.security import PV_EVALUATION
    from app.services.inbox import TodoItem

    if not getattr(user, "enterprise_id", None):
        return []
    if not current_app.appbuilder.sm.has_access("can_add", PV_EVALUATION):
        return []
    items = []
    for case in cases_to_evaluate(user, limit):
        items.append(TodoItem(
            kind="evaluation", label=gettext("Service evaluation"),
            title=gettext("Evaluate our service: %(ref)s %(title)s", ref=case.reference,
                          title=case.title),
            url=url_for("EvaluationCaseView.case", case_id=case.id),
            due=(case.decided_on + datetime.timedelta(days=TODO_DAYS)).date()))
    return items


# ----- codes ----------------------------------------------------------------------------------
@dataclass
class CodeRequest:
    kind: str
    title: str
    matter: str | None = None
    case_reference: str | None = None


def matter_choices() -> list[tuple[str, str]]:
    from app.workflows.engine import kind_label

    return [(kind, kind_label(kind)) for kind in EVALUABLE_KINDS]


def create_code(req: CodeRequest, user, now: datetime.datetime | None = None
                ) -> EvaluationCode:
    """Generate a code of the user's authority (一次一评 per service, 一事一评 per matter or
    case). The case, when named, must be a power case the user sees (its jurisdiction)."""
    errors: dict[str, str] = {}
    authority_id = getattr(user, "authority_id", None)
    if not authority_id:
        raise EvaluationCodeError({"kind": gettext(
            "Only a user of an authority can generate evaluation codes.")})
    if SECTOR not in authority_sectors(authority_id):
        raise EvaluationCodeError({"kind": gettext(
            "Only an authority supervising power-facility licensing can generate these "
            "evaluation codes.")})
    kind = _text(req.kind)
    if kind not in CODE_KINDS:
        errors["kind"] = gettext("Choose per service or per matter.")
    title = " ".join(_text(req.title).split())
    if not title:
        errors["title"] = gettext("Name the service or matter evaluated.")
    elif len(title) > TITLE_MAX:
        errors["title"] = gettext("At most %(n)d characters.", n=TITLE_MAX)
    matter = _text(req.matter) or None
    reference = _text(req.case_reference) or None
    case = None
    if kind == SERVICE:
        matter, reference = None, None
    elif kind == MATTER:
        if matter is not None and matter not in EVALUABLE_KINDS:
            errors["matter"] = gettext("Choose one of the listed matters.")
        if reference:
            case = (db.session.query(Application)
                    .filter(Application.reference == reference[:24],
                            Application.kind.in_(EVALUABLE_KINDS)).first())
            if case is None:
                errors["case_reference"] = gettext(
                    "No power-licensing case with this reference in your jurisdiction.")
            elif matter and matter != case.kind:
                errors["matter"] = gettext("The case is of another matter: %(matter)s.",
                                           matter=case.kind_label)
            else:
                matter = case.kind
        if not matter and "matter" not in errors and "case_reference" not in errors:
            errors["matter"] = gettext("Choose the matter evaluated.")
    if errors:
        raise EvaluationCodeError(errors)
    code = EvaluationCode(token=secrets.token_urlsafe(24), kind=kind, title=title,
                          matter=matter, case_id=case.id if case else None,
                          authority_id=authority_id, created_by_id=user.id,
                          created_on=now or datetime.datetime.now(), active=True)
    db.session.add(code)
    db.session.flush()
    audit.record(db.session, "generate", target=code, detail=gettext(
        "Evaluation code: %(kind)s %(title)s", kind=code.kind_label, title=title))
    db.session.commit()
    return code


def set_code_active(code: EvaluationCode, active: bool) -> None:
    code.active = bool(active)
    db.session.commit()


def active_code(token: str) -> EvaluationCode | None:
    """The code behind a public link (any visitor), None when unknown or switched off."""
    token = (token or "").strip()
    if not token or len(token) > 64:
        return None
    with unscoped():
        code = db.session.query(EvaluationCode).filter(EvaluationCode.token == token,
                                                       EvaluationCode.active.is_(True)).first()
        if code is not None:
            _ = code.authority.name  # loaded now: the page shows it outside unscoped()
    return code


def public_url(code: EvaluationCode) -> str:
    from app.services.verification import public_base_url

    return public_base_url() + code.path


# ----- the operation --------------------------------------------------------------------------
def submit(*, satisfaction, mobile, name=None, aspects=(), comment=None,
           case: Application | None = None, code: EvaluationCode | None = None, user=None,
           now: datetime.datetime | None = None) -> Evaluation:
    """Record one evaluation: of an ended case (the enterprise's to-do, `case` and `user`)
    or through a QR code (`code`, anyone). Validates everything, takes the 5-day lock,
    audits, commits once."""
    now = now or datetime.datetime.now()
    if (case is None) == (code is None):
        raise ValueError("an evaluation is of a case or through a code")
    clean, errors = validate(satisfaction=satisfaction, mobile=mobile, name=name,
                             aspects=aspects, comment=comment)
    if case is not None:
        case = case_for_evaluation(case.id, user, now)  # raises for anything not evaluable
        if evaluation_of_case(case.id) is not None:
            raise EvaluationExistsError(gettext("This case has already been evaluated."))
    elif not code.active:
        raise EvaluationCaseError(gettext("This evaluation code is no longer in use."))
    if errors:
        raise EvaluationInvalidError(errors)
    if not take_mobile_lock(db.session, clean["mobile"], now):
        until = locked_until(db.session, clean["mobile"])
        db.session.rollback()
        raise EvaluationMobileLockedError(until or now + datetime.timedelta(days=LOCK_DAYS))
    evaluation = Evaluation(
        channel=CHANNEL_TODO if case is not None else CHANNEL_QR,
        case_id=case.id if case is not None else None,
        enterprise_id=case.enterprise_id if case is not None else None,
        code_id=code.id if code is not None else None,
        submitted_by_id=getattr(user, "id", None) if case is not None else None,
        created_on=now, **clean)
    db.session.add(evaluation)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()  # a second evaluation of the case won the race
        raise EvaluationExistsError(gettext("This case has already been evaluated.")) from None
    audit.record(db.session, "evaluate", target=evaluation,
                 target_label=str(evaluation),
                 enterprise_id=evaluation.enterprise_id,
                 detail=f"{evaluation.channel} {evaluation.satisfaction} "
                        f"{mask_mobile(evaluation.mobile)}")
    db.session.commit()
    return evaluation


# ----- summary (the chart page) ---------------------------------------------------------------
@dataclass
class Summary:
    counts: dict[int, int]  # level -> count, every level present
    total: int
    satisfied: int

    @property
    def share(self) -> float | None:
        """Share satisfied (基本满意 or better), 0..1; None without evaluations."""
        return self.satisfied / self.total if self.total else None

    @property
    def average(self) -> float | None:
        if not self.total:
            return None
        return sum(level * n for level, n in self.counts.items()) / self.total


def summary(query) -> Summary:
    """Counts per level of the evaluations `query` selects (scoped: the session's criteria
    apply)."""
    rows = (query.with_entities(Evaluation.satisfaction, func.count(Evaluation.id))
            .order_by(None).group_by(Evaluation.satisfaction).all())
    counts = {level: 0 for level in SATISFACTION}
    for level, n in rows:
        if level in counts:
            counts[level] = int(n)
    total = sum(counts.values())
    satisfied = sum(n for level, n in counts.items() if level >= SATISFIED_FROM)
    return Summary(counts=counts, total=total, satisfied=satisfied)


def summary_rows(s: Summary) -> list[list]:
    """The summary as sheet rows: level, count, share of all."""
    rows = []
    for level, label in SATISFACTION.items():
        n = s.counts[level]
        rows.append([str(label), n, round(n / s.total, 4) if s.total else 0])
    rows.append([gettext("Total"), s.total, 1 if s.total else 0])
    rows.append([gettext("Satisfied (basically satisfied or better)"), s.satisfied,
                 round(s.share, 4) if s.share is not None else 0])
    return rows


__all__ = [
    "ENDED_STATES",
    "EVALUABLE_KINDS",
    "TODO_DAYS",
    "CodeRequest",
    "EvaluationCaseError",
    "EvaluationCodeError",
    "EvaluationExistsError",
    "EvaluationInvalidError",
    "EvaluationMobileLockedError",
    "Summary",
    "active_code",
    "case_for_evaluation",
    "cases_to_evaluate",
    "create_code",
    "evaluation_of_case",
    "locked_until",
    "normalise_mobile",
    "public_url",
    "set_code_active",
    "submit",
    "summary",
    "summary_rows",
    "take_mobile_lock",
    "todo_provider",
    "validate",
]
