"""Service evaluations (好差评, seed 002 "好差评", SPEC P14).

- `EvaluationCode`: a QR code the authority generates, per service / window (一次一评,
  kind "service", e.g. "许可受理窗口") or per matter (一事一评, kind "matter": one licence
  matter kind, optionally one case). Its random `token` (unguessable, 32 characters) is the
  public page `/public/evaluate/<token>`; an inactive code answers 404 there.
- `Evaluation`: one evaluation, from the enterprise's to-do after a case ended (channel
  "todo": `case_id` and `enterprise_id` set, one per case: a unique constraint) or from a
  scanned code (channel "qr": `code_id` set, anonymous, no enterprise). Satisfaction 5..1
  (非常满意 ... 非常不满意), optional aspects and comment, the evaluator's mobile number.
- `EvaluationMobileLock`: the rule "one evaluation per mobile number per 5 days" (seed:
  同一手机号5天内只能填报一次), enforced by the database, not by the rate limiter.

The 5-day rule
--------------
One row per mobile number (its primary key) holding `until`, the moment the number may
evaluate again. Taking the lock is ONE statement, in the transaction that inserts the
evaluation (`app.services.evaluations.take_mobile_lock`):

    INSERT INTO evaluation_mobile_lock (mobile, until) VALUES (:m, :now + 5 days)
    ON CONFLICT (mobile) DO UPDATE SET until = excluded.until
        WHERE evaluation_mobile_lock.until <= :now
    RETURNING mobile

It returns the row it inserted or updated (taken: no row yet, or the old lock has run out)
or nothing (locked: the number evaluated less than 5 days ago; RETURNING rather than the
row count, which psycopg 3 reports as -1 for this statement). `until <= now` makes exactly
5 days enough and 4 days 23:59:59 too little. It is "a conditional UPDATE, else an INSERT
whose primary-key violation means locked" in a single statement, without a savepoint around
the INSERT (PostgreSQL aborts the transaction on a unique violation; pysqlite's savepoints
are unreliable) and atomic on both databases:
- PostgreSQL (READ COMMITTED): INSERT ... ON CONFLICT is guaranteed to end in an insert or
  a conflict, also under concurrency. Two transactions for one new number: the second
  waits on the first one's uncommitted key; when that commits, it takes the conflict path
  and re-reads the committed row, whose `until` is in the future: no update, nothing
  returned, refused. With an old, expired row, the first locks and updates it; the second waits for
  that row lock, re-checks `until <= now` on the new version (false) and changes nothing.
  If the first transaction rolls back (its evaluation failed), the second one wins.
- SQLite: one writer at a time for the whole database, and the statement is atomic; a
  second writer waits (busy timeout) and then sees the committed row.
A failed evaluation (a wrong field, a case already evaluated) rolls back with its lock, so
it does not use up the 5 days. The lock row outlives the evaluation it was taken for; an
expired row is simply overwritten by the next evaluation.

Scope
-----
These tables are not `TenantMixin` tables (a public evaluation has no enterprise; a code
belongs to an authority), so this module adds its own `do_orm_execute` criteria, built from
the same request scope (`app.models.base.current_scope`), to every ORM select of a request:
- system admins: everything;
- an authority user: the evaluations of cases of power enterprises in its jurisdiction
  (`jurisdiction_id_list(authority, "power")`, so a regulator without the power sector sees
  none) and the evaluations given through its own authority's codes; its own codes only;
- an enterprise user: its own enterprise's evaluations, no codes;
- anyone else (anonymous, individuals): nothing. The public page looks its code up with
  `unscoped()`.
Views and APIs also declare `base_filters` with `FilterEvaluationScope` (app/views/
evaluation.py) so counts agree; the ORM criteria make `session.get`, FAB's show / API get and
exports safe even without them.
"""

from __future__ import annotations

import datetime

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    exists,
    false,
    or_,
    select,
)
from sqlalchemy.orm import relationship, with_loader_criteria

from app.models.base import (
    AUTHORITY,
    ENTERPRISE,
    authority_shape,
    jurisdiction_aliases,
    register_scope_criteria,
)

SECTOR = "power"

# Code kinds: 一次一评 (a service / window) and 一事一评 (a matter).
SERVICE, MATTER = "service", "matter"
CODE_KINDS = {SERVICE: _l("Per service (一次一评)"), MATTER: _l("Per matter (一事一评)")}

# Channels: the enterprise's to-do after a case, or a scanned QR code.
CHANNEL_TODO, CHANNEL_QR = "todo", "qr"
CHANNELS = {CHANNEL_TODO: _l("To-do after a case"), CHANNEL_QR: _l("QR code")}

# Satisfaction levels, stored as 5..1.
SATISFACTION = {
    5: _l("Very satisfied"),
    4: _l("Satisfied"),
    3: _l("Basically satisfied"),
    2: _l("Dissatisfied"),
    1: _l("Very dissatisfied"),
}
# "Satisfied" in the share of the chart: 基本满意 and better (差评 = 不满意, 非常不满意).
SATISFIED_FROM = 3

# What the evaluation is about (optional, several).
ASPECTS = {
    "attitude": _l("Service attitude"),
    "efficiency": _l("Efficiency"),
    "procedure": _l("Procedure and materials"),
    "guidance": _l("Guidance and explanations"),
    "integrity": _l("Integrity"),
    "online": _l("Online service"),
}

COMMENT_MAX = 500
NAME_MAX = 32
TITLE_MAX = 100
LOCK_DAYS = 5  # one evaluation per mobile number per 5 days


def satisfaction_label(value) -> str:
    return str(SATISFACTION.get(value, value if value is not None else ""))


def aspects_text(codes) -> str:
    return "、".join(str(ASPECTS.get(c, c)) for c in codes or ())


def mask_mobile(value: str | None) -> str:
    """13912341234 -> 139****1234 (lists, exports, the API)."""
    value = value or ""
    if len(value) < 8:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


class EvaluationCode(Model):
    """A QR code of the authority leading to the public evaluation page."""

    __tablename__ = "evaluation_code"
    __table_args__ = (
        CheckConstraint("kind IN ('service', 'matter')", name="ck_evaluation_code_kind"),
    )
    id = Column(Integer, primary_key=True)
    token = Column(String(64), nullable=False, unique=True)
    kind = Column(String(8), nullable=False)
    title = Column(String(TITLE_MAX), nullable=False)
    # 一事一评: the case kind of the matter (e.g. "power_new"), and optionally one case.
    matter = Column(String(40))
    case_id = Column(Integer, ForeignKey("application.id", ondelete="SET NULL"), index=True)
    authority_id = Column(Integer, ForeignKey("authority.id", ondelete="RESTRICT"),
                          nullable=False, index=True)
    created_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_on = Column(DateTime, nullable=False, default=datetime.datetime.now)
    active = Column(Boolean, nullable=False, default=True)

    authority = relationship("Authority", lazy="joined")
    case = relationship("Application", lazy="select")
    created_by = relationship("AppUser", foreign_keys=[created_by_id], lazy="select")

    @property
    def kind_label(self) -> str:
        return str(CODE_KINDS.get(self.kind, self.kind))

    @property
    def matter_label(self) -> str:
        if not self.matter:
            return ""
        from app.workflows.engine import kind_label

        return kind_label(self.matter)

    @property
    def path(self) -> str:
        return f"/public/evaluate/{self.token}"

    def __str__(self) -> str:
        return self.title


class Evaluation(Model):
    """One evaluation (好差评)."""

    __tablename__ = "evaluation"
    __table_args__ = (
        UniqueConstraint("case_id", name="uq_evaluation_case"),  # one per case
        CheckConstraint("satisfaction BETWEEN 1 AND 5", name="ck_evaluation_satisfaction"),
        CheckConstraint("channel IN ('todo', 'qr')", name="ck_evaluation_channel"),
        Index("ix_evaluation_created_on", "created_on"),
    )
    id = Column(Integer, primary_key=True)
    code_id = Column(Integer, ForeignKey("evaluation_code.id", ondelete="RESTRICT"),
                     index=True)
    case_id = Column(Integer, ForeignKey("application.id", ondelete="SET NULL"))
    enterprise_id = Column(Integer, ForeignKey("enterprise.id", ondelete="RESTRICT"),
                           index=True)
    channel = Column(String(8), nullable=False)
    mobile = Column(String(16), nullable=False, index=True)
    name = Column(String(NAME_MAX))
    satisfaction = Column(Integer, nullable=False)
    aspects = Column(JSON, nullable=False, default=list)
    comment = Column(Text)
    submitted_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_on = Column(DateTime, nullable=False, default=datetime.datetime.now)

    code = relationship("EvaluationCode", lazy="joined")
    case = relationship("Application", lazy="select")
    enterprise = relationship("Enterprise", lazy="select")

    @property
    def satisfaction_label(self) -> str:
        return satisfaction_label(self.satisfaction)

    @property
    def channel_label(self) -> str:
        return str(CHANNELS.get(self.channel, self.channel))

    @property
    def masked_mobile(self) -> str:
        return mask_mobile(self.mobile)

    @property
    def aspects_text(self) -> str:
        return aspects_text(self.aspects)

    @property
    def subject(self) -> str:
        """What was evaluated: the case, or the code's service / matter."""
        if self.case_id and self.case is not None:
            return f"{self.case.reference} {self.case.title}"
        if self.code is not None:
            return self.code.title
        return ""

    def __str__(self) -> str:
        return f"{self.channel} {self.satisfaction} {self.masked_mobile}"


class EvaluationMobileLock(Model):
    """Until when a mobile number may not evaluate again (the 5-day rule, see above)."""

    __tablename__ = "evaluation_mobile_lock"
    mobile = Column(String(16), primary_key=True)
    until = Column(DateTime, nullable=False)


# ----- scope --------------------------------------------------------------------------------
def _criteria(entity, where):
    return with_loader_criteria(entity, where, include_aliases=True,
                                propagate_to_loaders=False)


def scope_criteria(scope) -> tuple:
    """Loader criteria of the evaluation tables for a (non-admin) scope. Lambdas, so that
    they apply to aliases too (FAB's API joins `code.title` as an alias); their closure
    variables are plain values (ints, a string, a short list), bound as parameters. The
    jurisdiction is the EXISTS form of app.models.base (no id list of a provincial
    jurisdiction fetched per request: the evaluation table is small)."""
    if scope.kind == AUTHORITY:
        aid = scope.authority_id
        prefix, sector_ids = authority_shape(aid, SECTOR)
        es, ent = jurisdiction_aliases()
        return (
            _criteria(Evaluation, lambda cls: or_(
                cls.case_id.isnot(None) & exists().where(
                    es.c.enterprise_id == cls.enterprise_id, es.c.sector_id.in_(sector_ids),
                    ent.c.id == cls.enterprise_id, ent.c.region_code.startswith(prefix)),
                cls.code_id.in_(select(EvaluationCode.__table__.c.id).where(
                    EvaluationCode.__table__.c.authority_id == aid)))),
            _criteria(EvaluationCode, lambda cls: cls.authority_id == aid),
        )
    if scope.kind == ENTERPRISE:
        eid = scope.enterprise_id
        return (_criteria(Evaluation, lambda cls: cls.enterprise_id == eid),
                _criteria(EvaluationCode, lambda cls: false()))
    return (_criteria(Evaluation, lambda cls: false()),
            _criteria(EvaluationCode, lambda cls: false()))


# Applied by the one scope hook of app/models/base.py.
register_scope_criteria("evaluation", scope_criteria)


__all__ = [
    "ASPECTS",
    "CHANNELS",
    "CHANNEL_QR",
    "CHANNEL_TODO",
    "CODE_KINDS",
    "COMMENT_MAX",
    "LOCK_DAYS",
    "MATTER",
    "SATISFACTION",
    "SATISFIED_FROM",
    "SERVICE",
    "Evaluation",
    "EvaluationCode",
    "EvaluationMobileLock",
    "mask_mobile",
]
