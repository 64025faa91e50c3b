"""The workflow engine (SPEC X9, DESIGN.md "Workflows are declarative").

A `Workflow` is data: transitions with the roles that may fire them, guards that may refuse
with a reason, effects that do the domain work, and a statutory time limit in working days.
`create()` and `fire()` are the only code that assigns `Application.state`. Each call
validates, mutates, logs the transition, writes the audit row and commits once; the case row
carries a version column, so of two concurrent approvals exactly one wins and the other gets
CaseConflictError; an exception anywhere (an effect included) rolls the whole step back.
"""

from __future__ import annotations

import datetime
import functools
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.security import check_password_hash, generate_password_hash

from app.errors import (
    CaseConflictError,
    CaseStateError,
    GuardFailedError,
    OpinionRequiredError,
    TransitionForbiddenError,
    TransitionUnknownError,
)
from app.extensions import db
from app.models.base import authority_sectors, in_jurisdiction
from app.models.workflow import Application, TransitionLog
from app.security import PV_APPLICATION
from app.services import audit, notify, numbering
from app.workflows.calendar import WorkingDays

# Case states shared by every workflow.
SUBMITTED = "submitted"
# A staged review (acceptance -> examination -> decision, `staged_transitions`) adds two.
EXAMINATION = "examining"
DECISION = "deciding"
RETURNED = "returned"
APPROVED = "approved"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"
TERMINATED = "terminated"  # the applicant ended the business while it was in progress
# Waiting for the regulator's move: what review queues, overdue flags and dashboards count.
AWAITING_REVIEW = (SUBMITTED, EXAMINATION, DECISION)
OPEN_STATES = (*AWAITING_REVIEW, RETURNED)
CASE_STATES = (SUBMITTED, EXAMINATION, DECISION, RETURNED, APPROVED, REJECTED, WITHDRAWN,
               TERMINATED)
CASE_STATE_LABELS = {
    SUBMITTED: _l("Under review"),
    EXAMINATION: _l("Under examination"),
    DECISION: _l("Awaiting decision"),
    RETURNED: _l("Returned for correction"),
    APPROVED: _l("Approved"),
    REJECTED: _l("Rejected"),
    WITHDRAWN: _l("Withdrawn"),
    TERMINATED: _l("Terminated"),
}

# Actor roles. A transition without roles can be fired by nobody.
APPLICANT = "applicant"    # the public applicant, proven by the case's access code
ENTERPRISE = "enterprise"  # a user of the case's enterprise holding can_apply
REGULATOR = "regulator"    # an authority user holding can_review, case in jurisdiction

Guard = Callable[["Application", "Actor", dict], "tuple[bool, str | None]"]
Effect = Callable[["Application", "Actor", dict], None]


@dataclass(frozen=True)
class Actor:
    roles: frozenset
    name: str
    user: object | None = None

    @property
    def user_id(self):
        return getattr(self.user, "id", None)


def applicant(name: str) -> Actor:
    return Actor(frozenset({APPLICANT}), name=name)


def actor_for(user) -> Actor:
    """The roles a signed-in user holds for workflow purposes (permissions are data)."""
    sm = current_app.appbuilder.sm
    roles = set()
    if getattr(user, "enterprise_id", None) and sm.has_access("can_apply", PV_APPLICATION):
        roles.add(ENTERPRISE)
    if getattr(user, "authority_id", None) and sm.has_access("can_review", PV_APPLICATION):
        roles.add(REGULATOR)
    name = user.get_full_name() if hasattr(user, "get_full_name") else str(user)
    return Actor(frozenset(roles), name=name or user.username, user=user)


@dataclass(frozen=True)
class Transition:
    name: str
    sources: tuple  # states it may start from; None = the case does not exist yet
    target: str | None  # None: the case stays where it is (e.g. materials supplied)
    roles: frozenset
    label: object = None
    guards: tuple = ()
    effects: tuple = ()
    needs_opinion: bool = False
    takes_payload: bool = False  # submit / resubmit carry the (corrected) payload
    starts_clock: bool = False   # (re)starts the statutory time limit
    decides: bool = False        # a final decision (approve / reject)
    style: str = "default"       # button style in the UI
    listed: bool = True          # offered as a button on the case page (else fired elsewhere)

    def __post_init__(self):
        object.__setattr__(self, "roles", frozenset(self.roles))


@dataclass
class Workflow:
    kind: str
    label: object
    transitions: list
    time_limit: WorkingDays
    variants: dict = field(default_factory=dict)
    # Builds the case title from the payload, e.g. "粤A12345 车辆备案".
    title: Callable[[dict], str] = lambda payload: ""
    # Payload key -> label, in display order (the case page shows the payload with these).
    fields: dict = field(default_factory=dict)
    # Payload key -> {stored code: label} for coded values (vehicle type, usage, ...).
    choices: dict = field(default_factory=dict)
    # The regulated sector: only authorities supervising it reach these cases.
    sector: str | None = None
    # Endpoint (taking `pk`) of the record an approved case is about, linked from its page.
    subject_endpoint: str | None = None
    # Endpoint (taking `pk` = subject_id) of the case's typed detail (a licence request with
    # its staff and project tables), linked from the case page in every state.
    detail_endpoint: str | None = None
    # Staged review: the statutory limit of each stage (state -> WorkingDays), per variant
    # ("" = the default route); entering a stage sets the case's stage deadline.
    stage_limits: dict = field(default_factory=dict)
    # Variant code -> label, shown on the case (容缺受理, 自贸区).
    variant_labels: dict = field(default_factory=dict)
    # State -> label where this workflow names a state differently (待受理 for "submitted").
    state_labels: dict = field(default_factory=dict)

    def state_label(self, state: str) -> str:
        return str(self.state_labels.get(state) or CASE_STATE_LABELS.get(state, state or "-"))

    def variant_label(self, variant: str | None) -> str:
        return str(self.variant_labels.get(variant, variant)) if variant else ""

    def stage_limit_for(self, variant: str | None, state: str) -> WorkingDays | None:
        configured = current_app.config.get("WORKFLOW_STAGE_LIMITS", {}).get(
            f"{self.kind}:{variant or ''}:{state}")
        if configured is not None:
            return WorkingDays(int(configured))
        limits = self.stage_limits.get(variant or "") or self.stage_limits.get("", {})
        return limits.get(state)

    def display(self, key: str, value):
        """A payload value as the case page shows it (codes as their labels)."""
        labels = self.choices.get(key)
        if callable(labels):
            return labels(value)
        if labels and value in labels:
            return str(labels[value])
        return value

    def __post_init__(self):
        self._by_name = {t.name: t for t in self.transitions}

    def transition(self, name: str) -> Transition:
        try:
            return self._by_name[name]
        except KeyError:
            raise TransitionUnknownError(
                gettext("Unknown action “%(name)s” for this case.", name=name)) from None

    def time_limit_for(self, variant: str | None) -> WorkingDays:
        configured = current_app.config.get("WORKFLOW_TIME_LIMITS", {}).get(
            f"{self.kind}:{variant}" if variant else self.kind)
        if configured is not None:
            return WorkingDays(int(configured))
        if variant and variant in self.variants:
            return self.variants[variant]
        return self.time_limit

    def available(self, case: Application, actor: Actor) -> list[Transition]:
        """Transitions this actor could fire now (guards not evaluated)."""
        return [t for t in self.transitions
                if case.state in t.sources and t.roles & _reach(case, actor) and t.listed]


REGISTRY: dict[str, Workflow] = {}


def register(workflow: Workflow) -> Workflow:
    REGISTRY[workflow.kind] = workflow
    return workflow


def load_all() -> None:
    from app.workflows import load_definitions

    load_definitions()


def workflow_for(kind: str) -> Workflow:
    load_all()
    return REGISTRY[kind]


@functools.cache
def kinds_by_sector() -> dict[str, tuple[str, ...]]:
    """Workflow kinds per sector, read once (the ORM scope asks on every query)."""
    load_all()
    out: dict[str, list[str]] = {}
    for kind, workflow in REGISTRY.items():
        if workflow.sector:
            out.setdefault(workflow.sector, []).append(kind)
    return {sector: tuple(kinds) for sector, kinds in out.items()}


def kind_label(kind: str) -> str:
    load_all()
    workflow = REGISTRY.get(kind)
    return str(workflow.label) if workflow else kind


def is_overdue(case: Application, today: datetime.date | None = None) -> bool:
    """Waiting for the regulator past the statutory limit, or past its stage's limit."""
    today = today or datetime.date.today()
    return case.state in AWAITING_REVIEW and any(
        d is not None and d < today for d in (case.deadline, case.stage_deadline))


def new_access_code() -> str:
    """Shown once to a public applicant; only its hash is stored."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(10))


def check_access_code(case: Application, code: str) -> bool:
    return bool(case.access_code_hash and code
                and check_password_hash(case.access_code_hash, code.strip().upper()))


def _reach(case: Application, actor: Actor) -> frozenset:
    """The actor's roles that apply to this particular case."""
    roles = set()
    if APPLICANT in actor.roles:
        roles.add(APPLICANT)
    user = actor.user
    if ENTERPRISE in actor.roles and getattr(user, "enterprise_id", None) == case.enterprise_id:
        roles.add(ENTERPRISE)
    if REGULATOR in actor.roles and getattr(user, "authority_id", None):
        # Jurisdiction in the workflow's own sector: sharing another sector with the
        # enterprise gives no power over this case.
        sector = workflow_for(case.kind).sector
        if sector is None or sector in authority_sectors(user.authority_id):
            if in_jurisdiction(case.enterprise_id, user.authority_id, sector):
                roles.add(REGULATOR)
    return frozenset(roles)


def create(kind: str, *, enterprise_id: int, actor: Actor, payload: dict,
           subject_id: int | None = None, variant: str | None = None,
           attachments: Iterable = (), opinion: str | None = None,
           access_code: str | None = None, commit: bool = True) -> Application:
    """Open a case by firing the workflow's transition from no state ("submit")."""
    workflow = workflow_for(kind)
    case = Application(kind=kind, enterprise_id=enterprise_id, subject_id=subject_id,
                       payload={}, variant=variant, state="", title="")
    case.channel = "counter" if REGULATOR in actor.roles and APPLICANT not in actor.roles \
        and ENTERPRISE not in actor.roles else "online"
    if access_code:
        case.access_code_hash = generate_password_hash(access_code.upper())
    start = next((t for t in workflow.transitions if None in t.sources), None)
    if start is None:
        raise TransitionUnknownError(gettext("This kind of case cannot be opened."))
    try:
        _fire(workflow, case, start, actor, opinion=opinion, attachments=attachments,
              payload=payload, new=True)
        if commit:
            db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return case


def fire(case: Application, name: str, actor: Actor, *, opinion: str | None = None,
         attachments: Iterable = (), payload: dict | None = None,
         expected_version: int | None = None, commit: bool = True) -> Application:
    """Fire transition `name` on a case loaded through the (scoped) session."""
    workflow = workflow_for(case.kind)
    transition = workflow.transition(name)
    try:
        if expected_version is not None and int(expected_version) != case.version:
            raise CaseConflictError(_conflict_message())
        _fire(workflow, case, transition, actor, opinion=opinion, attachments=attachments,
              payload=payload, new=False)
        if commit:
            db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise CaseConflictError(_conflict_message()) from None
    except Exception:
        db.session.rollback()
        raise
    return case


def _conflict_message() -> str:
    return gettext("Someone else has just processed this case. Reload it to see its current "
                   "state; nothing was changed.")


def _fire(workflow: Workflow, case: Application, t: Transition, actor: Actor, *,
          opinion, attachments, payload, new: bool) -> None:
    current = None if new else case.state
    if current not in t.sources:
        raise CaseStateError(gettext(
            "“%(action)s” is not possible while the case is “%(state)s”.",
            action=t.label or t.name, state=workflow.state_label(current)))
    if not (t.roles & _reach(case, actor)):
        raise TransitionForbiddenError(gettext("You may not “%(action)s” this case.",
                                               action=t.label or t.name))
    opinion = (opinion or "").strip() or None
    if t.needs_opinion and not opinion:
        if REGULATOR in actor.roles:
            raise OpinionRequiredError(gettext("Please give an opinion: the applicant will "
                                               "read it."))
        raise OpinionRequiredError(gettext("Please give a reason: the authority will read "
                                           "it."))
    attachments = list(attachments)
    context = {"payload": payload if payload is not None else dict(case.payload or {}),
               "transition": t, "new": new, "attachments": attachments}
    reasons = []
    for guard in t.guards:
        ok, reason = guard(case, actor, context)
        if not ok:
            reasons.append(reason)
    if reasons:
        raise GuardFailedError(reasons)

    now = datetime.datetime.now()
    if t.takes_payload:
        case.payload = context["payload"]
        case.title = workflow.title(case.payload)[:200] or str(workflow.label)
    if new:
        case.reference = numbering.next_number(db.session, "case", now.year)
        case.submitted_by_id = actor.user_id
        db.session.add(case)
    if t.starts_clock:
        case.submitted_on = now
        case.deadline = workflow.time_limit_for(case.variant).deadline(now.date())
        case.decided_on = None
    if t.decides:
        case.decided_on = now
    if opinion:
        case.last_opinion = opinion
    target = current if t.target is None else t.target
    if target != current and workflow.stage_limits:
        stage_limit = workflow.stage_limit_for(case.variant, target)
        case.stage_deadline = stage_limit.deadline(now.date()) if stage_limit else None
    case.state = target
    # Flush the case first: a concurrent approval fails here (stale version) before any
    # effect runs or any number is drawn.
    db.session.flush()
    log = TransitionLog(application_id=case.id, enterprise_id=case.enterprise_id, name=t.name,
                        from_state=current, to_state=target, actor_id=actor.user_id,
                        actor_name=actor.name[:128],
                        on_behalf=bool(REGULATOR in actor.roles and case.channel == "counter"
                                       and None in t.sources),
                        at=now, opinion=opinion)
    log.attachments = list(attachments)
    if attachments and t.takes_payload:
        case.attachments = list({a.id: a for a in [*case.attachments, *attachments]}.values())
    case.history.append(log)
    for effect in t.effects:
        effect(case, actor, context)
    if t.decides or t.needs_opinion:
        # The enterprise learns the outcome in its inbox (X15), in the same transaction.
        db.session.flush()
        notify.notify_enterprise(
            case.enterprise_id,
            gettext("Case %(ref)s: %(state)s", ref=case.reference,
                    state=workflow.state_label(target)),
            body=opinion, link=f"/applications/show/{case.id}", exclude=actor.user_id)
    audit.record(db.session, "transition", target=case,
                 actor_name=None if actor.user is not None else actor.name[:64],
                 detail=f"{case.kind}.{t.name}: {current or '-'} → {target}"
                        + (f" ({opinion[:200]})" if opinion else ""))
    db.session.flush()


def review_transitions(*, submit_roles, guards=(), submit_guards=(), effects=(),
                       approve_label=None, can_reject: bool = True, submit_effects=(),
                       end_effects=()) -> list:
    """The usual review cycle: submit → approve / reject / return; resubmit after a return
    or a rejection; withdraw while open. `guards` run on submit, resubmit and approve (the
    world may have changed since submission); `submit_guards` only when the applicant acts.
    A confirmation (used-car filings) is approve labelled "Confirm", without reject.
    `submit_effects` run when the case opens; `end_effects` when it ends without approval
    (rejected, withdrawn), e.g. to release what the application had reserved."""
    submit_roles = frozenset(submit_roles)
    applicant_roles = submit_roles - {REGULATOR}
    reject = [Transition("reject", (SUBMITTED,), REJECTED, {REGULATOR}, label=_l("Reject"),
                         needs_opinion=True, decides=True, style="danger",
                         effects=tuple(end_effects))]
    return [
        Transition("submit", (None,), SUBMITTED, submit_roles, label=_l("Submit"),
                   guards=(*guards, *submit_guards), takes_payload=True, starts_clock=True,
                   effects=tuple(submit_effects)),
        Transition("approve", (SUBMITTED,), APPROVED, {REGULATOR},
                   label=approve_label or _l("Approve"), guards=tuple(guards),
                   effects=tuple(effects), decides=True, style="success"),
        *(reject if can_reject else []),
        Transition("return", (SUBMITTED,), RETURNED, {REGULATOR},
                   label=_l("Return for correction"), needs_opinion=True, style="warning"),
        Transition("resubmit", (RETURNED, REJECTED), SUBMITTED, applicant_roles,
                   label=_l("Resubmit"), guards=(*guards, *submit_guards), takes_payload=True,
                   starts_clock=True),
        Transition("withdraw", (SUBMITTED, RETURNED), WITHDRAWN, applicant_roles,
                   label=_l("Withdraw"), effects=tuple(end_effects)),
    ]


def staged_transitions(*, submit_roles, guards=(), submit_guards=(), effects=(),
                       decide_guards=(), submit_effects=(), end_effects=(),
                       withdraw_effects=(), extra=()) -> list:
    """A staged administrative review (行政许可: 受理 -> 审查 -> 决定): the regulator accepts
    the submission (or returns it for correction, or refuses to accept it), examines it, and
    decides. Each stage has its own limit (`Workflow.stage_limits`). The applicant may
    withdraw before acceptance, correct a returned case, and terminate the business at any
    open stage (P13: the case ends as "terminated", its history kept). `guards` run on
    submit and resubmit; `decide_guards` before approval (e.g. 容缺 materials supplied);
    `submit_effects` run when the case opens, `end_effects` when it ends without approval
    (refused, rejected, terminated), `withdraw_effects` on withdrawal; `extra` transitions
    are appended (e.g. supplying materials)."""
    submit_roles = frozenset(submit_roles)
    applicant_roles = submit_roles - {REGULATOR}
    return [
        Transition("submit", (None,), SUBMITTED, submit_roles, label=_l("Submit"),
                   guards=(*guards, *submit_guards), takes_payload=True, starts_clock=True,
                   effects=tuple(submit_effects)),
        Transition("accept", (SUBMITTED,), EXAMINATION, {REGULATOR}, label=_l("Accept"),
                   style="success"),
        Transition("return", (SUBMITTED,), RETURNED, {REGULATOR},
                   label=_l("Return for correction"), needs_opinion=True, style="warning"),
        Transition("refuse", (SUBMITTED,), REJECTED, {REGULATOR}, label=_l("Refuse to accept"),
                   needs_opinion=True, decides=True, style="danger", effects=tuple(end_effects)),
        Transition("examine", (EXAMINATION,), DECISION, {REGULATOR},
                   label=_l("Examination passed"), style="success"),
        Transition("approve", (DECISION,), APPROVED, {REGULATOR}, label=_l("Approve"),
                   guards=tuple(decide_guards), effects=tuple(effects), decides=True,
                   style="success"),
        Transition("reject", (EXAMINATION, DECISION), REJECTED, {REGULATOR},
                   label=_l("Reject"), needs_opinion=True, decides=True, style="danger",
                   effects=tuple(end_effects)),
        Transition("resubmit", (RETURNED,), SUBMITTED, applicant_roles, label=_l("Resubmit"),
                   guards=(*guards, *submit_guards), takes_payload=True, starts_clock=True),
        Transition("withdraw", (SUBMITTED, RETURNED), WITHDRAWN, applicant_roles,
                   label=_l("Withdraw"), effects=tuple(withdraw_effects)),
        Transition("terminate", OPEN_STATES, TERMINATED, applicant_roles,
                   label=_l("Terminate the application"), needs_opinion=True, decides=True,
                   style="danger", effects=tuple(end_effects)),
        *extra,
    ]
