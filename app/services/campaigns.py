"""Self-inspection campaigns (seed 002 "企业自查", SPEC P15): every operation on campaigns and
returns. Views (HTML and REST) only parse input and call these; each loads through the scoped
session, checks everything, mutates, audits and commits once.

Authority side: `save_campaign` (draft only: questions are a form definition, see
app/services/form_definitions.py), `delete_campaign`, `launch` (to every enterprise holding a
current licence in the authority's power jurisdiction; once), `close`, `review` (accept, or
return with an opinion). Enterprise side: `save_return` (draft answers and files), `submit`
(refused with every missing item listed, after the due date unless the authority returned
it). Reading: `visible_campaigns`, `return_of_campaign`, `missing_items`, the to-do
provider `todo_items`, export rows."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping

from flask import url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import false, func, insert, or_, select, update
from werkzeug.routing import BuildError

from app.errors import DomainError
from app.extensions import db
from app.models.base import AUTHORITY, current_scope, jurisdiction_enterprise_ids
from app.models.campaign import (
    ACCEPTED,
    CLOSED,
    DRAFT,
    EDITABLE_STATES,
    LAUNCHED,
    NOT_SUBMITTED_STATES,
    RETURNED,
    SUBMITTED,
    InspectionCampaign,
    InspectionReturn,
    InspectionReturnFile,
)
from app.models.licence import CURRENT, SECTOR, Licence
from app.services import attachments, audit, notify
from app.services import form_definitions as fd

TODO_KIND = "self_inspection"
TODO_LABEL = _l("Self-inspection")
# The seed's to-do line: "[承装（修、试）类自查] 承装修试2026年自查".
TODO_PREFIX = _l("Power-facility self-inspection")
REVIEW_TODO_LABEL = _l("Self-inspection review")

MAX_TITLE = 200
MAX_INSTRUCTIONS = 5000
MAX_OPINION = 2000
MAX_SLOTS = 20
MAX_FILES_PER_SLOT = 10
SLOT_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
YEARS = (2000, 2100)


# ----- errors ---------------------------------------------------------------------------------
class CampaignInvalidError(DomainError):
    """A campaign that cannot be saved or launched: `errors` {field: [messages]}."""

    code = 422

    def __init__(self, errors: Mapping[str, list]):
        self.errors = {k: [str(m) for m in v] for k, v in errors.items()}
        lines = [m for v in self.errors.values() for m in v]
        super().__init__(gettext("The campaign was not saved: %(problems)s",
                                 problems="; ".join(lines)))


class CampaignStateError(DomainError):
    """Launching twice, editing after launch, deleting a launched campaign..."""

    code = 409


class CampaignForbiddenError(DomainError):
    """A campaign of another authority: it can be read, never changed."""

    code = 403


class ReturnStateError(DomainError):
    """Changing a submitted or accepted return, reviewing one not submitted."""

    code = 409


class ReturnInvalidError(DomainError):
    """Answers or files that cannot be saved: `errors` {field or slot: [messages]}."""

    code = 422

    def __init__(self, errors: Mapping[str, list], message: str | None = None):
        self.errors = {k: [str(m) for m in v] for k, v in errors.items()}
        super().__init__(message or gettext(
            "Nothing was saved: correct the marked answers and files."))


class ReturnIncompleteError(DomainError):
    """Submit refused: `items` lists every missing answer and attachment by name."""

    code = 422

    def __init__(self, items: list[str]):
        self.items = [str(i) for i in items]
        super().__init__(gettext("The self-inspection cannot be submitted yet: %(items)s",
                                 items="; ".join(self.items)))


class ReturnLateError(DomainError):
    """Submit after the due date (a return sent back by the authority may still come)."""

    code = 422


def today() -> datetime.date:
    return datetime.date.today()


def _now() -> datetime.datetime:
    return datetime.datetime.now()


# ----- reading --------------------------------------------------------------------------------
def campaign_visibility():
    """Which campaigns the current user may read (a WHERE clause): a system admin all, an
    authority user those of its authority and those with a return in its jurisdiction (an
    auditor, a regional office), anyone else none. Enterprises reach a campaign only
    through their own return."""
    scope = current_scope()
    if scope is None or scope.unrestricted:
        return InspectionCampaign.id.isnot(None)
    if scope.kind != AUTHORITY:
        return false()
    in_jurisdiction = select(InspectionReturn.__table__.c.campaign_id).where(
        InspectionReturn.__table__.c.enterprise_id.in_(
            jurisdiction_enterprise_ids(scope.authority_id, SECTOR)))
    return or_(InspectionCampaign.authority_id == scope.authority_id,
               InspectionCampaign.id.in_(in_jurisdiction))


def visible_campaigns():
    return db.session.query(InspectionCampaign).filter(campaign_visibility())


def get_campaign(pk) -> InspectionCampaign | None:
    return visible_campaigns().filter(InspectionCampaign.id == pk).first()


def definition(campaign: InspectionCampaign) -> fd.FormDefinition:
    return fd.load(campaign.questions)


def return_of_campaign(campaign_id: int) -> InspectionReturn | None:
    """The current enterprise's return for a campaign (the scoped session holds no other):
    None for an enterprise the campaign was not launched to."""
    return db.session.query(InspectionReturn).filter(
        InspectionReturn.campaign_id == campaign_id).first()


def _own(campaign: InspectionCampaign, user) -> None:
    if getattr(user, "authority_id", None) != campaign.authority_id:
        raise CampaignForbiddenError(gettext(
            "This campaign belongs to another authority: only it can change it."))


# ----- campaign editing -----------------------------------------------------------------------
def _date(value, name: str, errors: dict, required: bool) -> datetime.date | None:
    if value in (None, ""):
        if required:
            errors.setdefault(name, []).append(gettext("Required."))
        return None
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value).strip())
    except ValueError:
        errors.setdefault(name, []).append(gettext("Enter a date as YYYY-MM-DD."))
        return None


def check_slots(slots) -> tuple[list[dict], list[str]]:
    """Attachment slots as stored ([{"key", "label", "help"?}]) and the problems found."""
    problems: list[str] = []
    clean: list[dict] = []
    if slots in (None, ""):
        return [], []
    if not isinstance(slots, list):
        return [], [gettext("The required attachments must be a list.")]
    if len(slots) > MAX_SLOTS:
        problems.append(gettext("At most %(max)d required attachments.", max=MAX_SLOTS))
    seen: set[str] = set()
    labels: set[str] = set()
    for n, slot in enumerate(slots[:MAX_SLOTS], start=1):
        if not isinstance(slot, Mapping):
            problems.append(gettext("Attachment %(n)d must be an object.", n=n))
            continue
        key = slot.get("key")
        if not isinstance(key, str) or not SLOT_KEY.match(key):
            problems.append(gettext("Attachment %(n)d: invalid key.", n=n))
            continue
        if key in seen:
            problems.append(gettext("Attachment %(n)d: the key %(key)s is used twice.", n=n,
                                    key=key))
            continue
        label = slot.get("label")
        label_text = fd.text(label).strip() if isinstance(label, (str, Mapping)) else ""
        if not label_text:
            problems.append(gettext("Attachment %(n)d: a name is required.", n=n))
            continue
        if len(label_text) > MAX_TITLE:
            problems.append(gettext("Attachment %(n)d: the name is longer than %(max)d "
                                    "characters.", n=n, max=MAX_TITLE))
            continue
        if label_text in labels:
            problems.append(gettext("Attachment %(n)d: the name %(name)s is used twice.", n=n,
                                    name=label_text))
            continue
        seen.add(key)
        labels.add(label_text)
        item = {"key": key, "label": label if isinstance(label, Mapping) else label_text}
        help_text = slot.get("help")
        if isinstance(help_text, str) and help_text.strip():
            item["help"] = help_text.strip()[:MAX_TITLE]
        clean.append(item)
    return clean, problems


def check_campaign(data: Mapping) -> tuple[dict, dict]:
    """(clean values, errors by field) of a campaign's editable data: title, year, opens_on,
    due_on, instructions, questions (a form definition), attachments (slots)."""
    errors: dict[str, list[str]] = {}
    clean: dict = {}
    title = " ".join(str(data.get("title") or "").split())
    if not title:
        errors.setdefault("title", []).append(gettext("Required."))
    elif len(title) > MAX_TITLE:
        errors.setdefault("title", []).append(gettext(
            "At most %(max)d characters (%(count)d given).", max=MAX_TITLE, count=len(title)))
    clean["title"] = title
    year = data.get("year")
    try:
        year = int(str(year).strip())
        if not YEARS[0] <= year <= YEARS[1]:
            raise ValueError
    except (TypeError, ValueError):
        errors.setdefault("year", []).append(gettext(
            "Enter a year from %(low)d to %(high)d.", low=YEARS[0], high=YEARS[1]))
        year = None
    clean["year"] = year
    clean["opens_on"] = _date(data.get("opens_on"), "opens_on", errors, required=False)
    clean["due_on"] = _date(data.get("due_on"), "due_on", errors, required=True)
    if clean["opens_on"] and clean["due_on"] and clean["due_on"] < clean["opens_on"]:
        errors.setdefault("due_on", []).append(gettext(
            "The due date is before the opening date."))
    instructions = str(data.get("instructions") or "").replace("\r\n", "\n").strip()
    if len(instructions) > MAX_INSTRUCTIONS:
        errors.setdefault("instructions", []).append(gettext(
            "At most %(max)d characters (%(count)d given).", max=MAX_INSTRUCTIONS,
            count=len(instructions)))
    clean["instructions"] = instructions or None
    try:
        clean["questions"] = fd.load(data.get("questions")).to_dict()
    except fd.FormDefinitionError as exc:
        errors.setdefault("questions", []).extend(exc.problems)
    slots, problems = check_slots(data.get("attachments"))
    if problems:
        errors.setdefault("attachments", []).extend(problems)
    clean["attachments"] = slots
    return clean, errors


def save_campaign(campaign: InspectionCampaign | None, data: Mapping,
                  user) -> InspectionCampaign:
    """Create (campaign None) or change a draft campaign of the user's authority."""
    if campaign is not None:
        _own(campaign, user)
        if campaign.state != DRAFT:
            raise CampaignStateError(gettext(
                "The campaign has been launched: its questions and attachments can no longer "
                "be changed."))
    elif not getattr(user, "authority_id", None):
        raise CampaignForbiddenError(gettext("Only an authority can define campaigns."))
    clean, errors = check_campaign(data)
    if errors:
        raise CampaignInvalidError(errors)
    if campaign is None:
        campaign = InspectionCampaign(authority_id=user.authority_id, sector=SECTOR,
                                      state=DRAFT, created_by_id=user.id)
        db.session.add(campaign)
    for key, value in clean.items():
        setattr(campaign, key, value)
    db.session.commit()
    return campaign


def delete_campaign(campaign: InspectionCampaign, user) -> None:
    _own(campaign, user)
    if campaign.state != DRAFT:
        raise CampaignStateError(gettext(
            "Only a draft campaign can be deleted; close a launched one instead."))
    db.session.delete(campaign)
    db.session.commit()


def licensed_enterprise_ids(authority_id: int) -> list[int]:
    """Enterprises holding a current licence in the authority's power jurisdiction (in a
    request the ORM scope of the authority's user gives the same set)."""
    return list(db.session.execute(
        select(Licence.enterprise_id).where(
            Licence.status == CURRENT,
            Licence.enterprise_id.in_(jurisdiction_enterprise_ids(authority_id, SECTOR)))
        .distinct().order_by(Licence.enterprise_id)).scalars())


def _return_link(campaign_id: int) -> str:
    try:
        return url_for("InspectionReturnView.campaign", pk=campaign_id)
    except (BuildError, RuntimeError):
        return f"/power/self-inspections/campaign/{campaign_id}"


def launch(campaign: InspectionCampaign, user, *, on: datetime.date | None = None) -> int:
    """Send the campaign to every licensed enterprise of the jurisdiction: a draft return
    each and a notice to its users. Once only; returns the number of enterprises."""
    _own(campaign, user)
    on = on or today()
    if campaign.state != DRAFT:
        raise CampaignStateError(gettext("The campaign has already been launched."))
    clean, errors = check_campaign({
        "title": campaign.title, "year": campaign.year, "opens_on": campaign.opens_on,
        "due_on": campaign.due_on, "instructions": campaign.instructions,
        "questions": campaign.questions, "attachments": campaign.attachments})
    if clean.get("due_on") and clean["due_on"] < on:
        errors.setdefault("due_on", []).append(gettext(
            "The due date has passed: choose a later one before launching."))
    enterprise_ids = licensed_enterprise_ids(campaign.authority_id)
    if not enterprise_ids:
        errors.setdefault("enterprises", []).append(gettext(
            "No enterprise in your jurisdiction holds a current licence."))
    if errors:
        raise CampaignInvalidError(errors)
    now = _now()
    # One conditional UPDATE decides between two launches at once: the second finds no
    # draft and is refused (the unique return per enterprise would refuse it anyway).
    won = db.session.execute(
        update(InspectionCampaign)
        .where(InspectionCampaign.id == campaign.id, InspectionCampaign.state == DRAFT)
        .values(state=LAUNCHED, launched_on=now, opens_on=campaign.opens_on or on,
                changed_on=now)
        .execution_options(synchronize_session=False)).rowcount
    if won != 1:
        db.session.rollback()
        raise CampaignStateError(gettext("The campaign has already been launched."))
    db.session.execute(insert(InspectionReturn), [
        {"campaign_id": campaign.id, "enterprise_id": eid, "answers": {}, "state": DRAFT,
         "created_on": now, "changed_on": now, "version": 1} for eid in enterprise_ids])
    audit.record(db.session, "launch", target=campaign, enterprise_id=None,
                 detail=gettext("Launched to %(count)d enterprises", count=len(enterprise_ids)))
    from app.models.identity import AppUser

    users = AppUser.__table__
    from app.models.base import unscoped

    with unscoped():
        user_ids = list(db.session.execute(
            select(users.c.id).where(users.c.enterprise_id.in_(enterprise_ids),
                                     users.c.active.is_(True))).scalars())
    notify.notify(user_ids, gettext("Self-inspection: %(title)s", title=campaign.title),
                  gettext("Please fill in and submit the self-inspection by %(date)s.",
                          date=campaign.due_on.isoformat()), _return_link(campaign.id))
    db.session.commit()
    db.session.refresh(campaign)
    return len(enterprise_ids)


def close(campaign: InspectionCampaign, user) -> None:
    """No more submissions (returned ones included); reviews stay possible."""
    _own(campaign, user)
    if campaign.state != LAUNCHED:
        raise CampaignStateError(gettext("Only a launched campaign can be closed."))
    campaign.state = CLOSED
    campaign.closed_on = _now()
    audit.record(db.session, "close", target=campaign, enterprise_id=None)
    db.session.commit()


# ----- returns: the enterprise --------------------------------------------------------------
def _editable(ret: InspectionReturn) -> None:
    if ret.campaign.state == CLOSED:
        raise ReturnStateError(gettext("The campaign is closed: the self-inspection can no "
                                       "longer be changed."))
    if ret.campaign.state != LAUNCHED:
        raise ReturnStateError(gettext("The campaign has not been launched."))
    if not ret.editable:
        raise ReturnStateError(gettext(
            "The self-inspection has been submitted (%(state)s): it can be changed only if "
            "the authority returns it.", state=ret.state_label))
    opens = ret.campaign.opens_on
    if opens is not None and opens > today():
        raise ReturnStateError(gettext("The self-inspection opens on %(date)s.",
                                       date=opens.isoformat()))


def slot_keys(campaign: InspectionCampaign) -> list[str]:
    return [s["key"] for s in campaign.attachment_slots]


def save_return(ret: InspectionReturn, raw_answers: Mapping | None, user, *,
                uploads: Mapping[str, Iterable] | None = None,
                remove_files: Iterable[int] = ()) -> InspectionReturn:
    """Save a draft: answers (malformed values refused, missing ones allowed), new files per
    slot (checked by content), files removed. All or nothing; commits once.
    `raw_answers` None keeps the answers as they are (an upload alone)."""
    _editable(ret)
    form = definition(ret.campaign)
    errors: dict[str, list[str]] = {}
    clean = None
    if raw_answers is not None:
        clean, errors = fd.validate(form, raw_answers, partial=True)
    slots = slot_keys(ret.campaign)
    removing = {int(i) for i in remove_files}
    known_files = {f.id: f for f in ret.files}
    for file_id in removing:
        if file_id not in known_files:
            errors.setdefault("files", []).append(gettext("That file is not part of this "
                                                          "self-inspection."))
    new_rows = []
    for slot, files in (uploads or {}).items():
        files = [f for f in files if f is not None and getattr(f, "filename", "")]
        if not files:
            continue
        if slot not in slots:
            continue  # a forged slot name: ignored like any unknown field
        kept = len([f for f in ret.files_in(slot) if f.id not in removing])
        if kept + len(files) > MAX_FILES_PER_SLOT:
            errors.setdefault(f"file-{slot}", []).append(gettext(
                "At most %(max)d files per attachment.", max=MAX_FILES_PER_SLOT))
            continue
        for upload in files:
            try:
                attachment = attachments.save_upload(upload, ret.enterprise_id, user.id)
            except attachments.AttachmentRejectedError as exc:
                errors.setdefault(f"file-{slot}", []).append(
                    f"{upload.filename[:100]}: {exc}")
                continue
            new_rows.append(InspectionReturnFile(enterprise_id=ret.enterprise_id,
                                                 slot=slot, attachment=attachment))
    if errors:
        for row in new_rows:  # files written for uploads that will not be kept
            _remove_stored(row.attachment)
        db.session.rollback()
        raise ReturnInvalidError(errors)
    if clean is not None:
        ret.answers = clean
    for file_id in removing:
        ret.files.remove(known_files[file_id])
    for row in new_rows:
        ret.files.append(row)
    ret.changed_on = _now()
    db.session.commit()
    return ret


def _remove_stored(attachment) -> None:
    import contextlib
    import os

    with contextlib.suppress(OSError):
        os.remove(attachments.file_path(attachment))


def missing_items(ret: InspectionReturn) -> list[str]:
    """Every answer and attachment still missing or wrong, by name, in the form's order."""
    form = definition(ret.campaign)
    _clean, errors = fd.validate(form, ret.answers or {})
    items = []
    for n, f in enumerate(form.fields, start=1):
        for message in errors.get(f.key, ()):
            items.append(gettext("Question %(n)d, %(label)s: %(message)s", n=n,
                                 label=f.label_text, message=message))
    for slot in ret.campaign.attachment_slots:
        if not ret.files_in(slot["key"]):
            items.append(gettext("Attachment missing: %(name)s", name=fd.text(slot["label"])))
    return items


def is_late(ret: InspectionReturn, on: datetime.date | None = None) -> bool:
    """Past the due date for a first submission (a returned one may still come)."""
    return ret.state != RETURNED and (on or today()) > ret.campaign.due_on


def submit(ret: InspectionReturn, user) -> InspectionReturn:
    _editable(ret)
    if is_late(ret):
        raise ReturnLateError(gettext(
            "The due date (%(date)s) has passed: the self-inspection can no longer be "
            "submitted. Contact the authority.", date=ret.campaign.due_on.isoformat()))
    items = missing_items(ret)
    if items:
        raise ReturnIncompleteError(items)
    was = ret.state
    ret.state = SUBMITTED
    ret.submitted_on = _now()
    ret.submitted_by_id = user.id
    audit.record(db.session, "transition", target=ret, changes={"state": [was, SUBMITTED]},
                 detail="submit")
    notify.notify_regulators(
        ret.enterprise_id, gettext("Self-inspection submitted: %(title)s",
                                   title=ret.campaign.title),
        ret.enterprise.name if ret.enterprise else None, _review_link(ret.id))
    db.session.commit()
    return ret


def _review_link(return_id: int) -> str:
    try:
        return url_for("InspectionReturnView.show", pk=return_id)
    except (BuildError, RuntimeError):
        return f"/power/self-inspections/show/{return_id}"


# ----- returns: the authority ---------------------------------------------------------------
ACCEPT, RETURN = "accept", "return"


def review(ret: InspectionReturn, user, decision: str, opinion: str | None = None,
           expected_version: int | None = None) -> InspectionReturn:
    """Accept a submitted return, or send it back with an opinion (the enterprise may then
    change and submit it again, even after the due date)."""
    _own(ret.campaign, user)
    if decision not in (ACCEPT, RETURN):
        raise ReturnInvalidError({"decision": [gettext("Choose accept or return.")]})
    opinion = (opinion or "").replace("\r\n", "\n").strip()
    if len(opinion) > MAX_OPINION:
        raise ReturnInvalidError({"opinion": [gettext(
            "At most %(max)d characters (%(count)d given).", max=MAX_OPINION,
            count=len(opinion))]}, gettext("The opinion is too long."))
    if decision == RETURN and not opinion:
        raise ReturnInvalidError({"opinion": [gettext("Required.")]}, gettext(
            "Say what must be corrected: an opinion is required to return it."))
    if ret.state != SUBMITTED:
        raise ReturnStateError(gettext("Only a submitted self-inspection can be reviewed "
                                       "(this one is: %(state)s).", state=ret.state_label))
    if expected_version is not None and expected_version != ret.version:
        raise ReturnStateError(gettext("Someone else changed this self-inspection first: "
                                       "reload the page."))
    was = ret.state
    ret.state = ACCEPTED if decision == ACCEPT else RETURNED
    ret.reviewed_by_id = user.id
    ret.reviewed_on = _now()
    ret.opinion = opinion or None
    audit.record(db.session, "transition", target=ret, changes={"state": [was, ret.state]},
                 detail=decision)
    title = (gettext("Self-inspection accepted: %(title)s", title=ret.campaign.title)
             if decision == ACCEPT else
             gettext("Self-inspection returned for correction: %(title)s",
                     title=ret.campaign.title))
    notify.notify_enterprise(ret.enterprise_id, title, opinion or None,
                             _return_link(ret.campaign_id))
    db.session.commit()
    return ret


# ----- tracking and exports -------------------------------------------------------------------
def state_counts(campaign: InspectionCampaign) -> dict:
    rows = db.session.execute(
        select(InspectionReturn.state, func.count(InspectionReturn.id))
        .where(InspectionReturn.campaign_id == campaign.id)
        .group_by(InspectionReturn.state)).all()
    counts = {state: 0 for state in (DRAFT, SUBMITTED, RETURNED, ACCEPTED)}
    counts.update({state: n for state, n in rows})
    counts["total"] = sum(n for _s, n in rows)
    return counts


def returns_of(campaign: InspectionCampaign, states: Iterable[str] | None = None):
    q = db.session.query(InspectionReturn).filter(
        InspectionReturn.campaign_id == campaign.id)
    if states is not None:
        q = q.filter(InspectionReturn.state.in_(list(states)))
    from app.models.org import Enterprise

    return q.join(Enterprise, Enterprise.id == InspectionReturn.enterprise_id).order_by(
        Enterprise.name, InspectionReturn.id)


def not_submitted(campaign: InspectionCampaign):
    return returns_of(campaign, NOT_SUBMITTED_STATES)


def _dt(value):
    return value.replace(microsecond=0) if value is not None else None


def missing_export(campaign: InspectionCampaign) -> tuple[list[str], Iterable[list]]:
    headers = [gettext("Enterprise"), gettext("USCC"), gettext("Contact"), gettext("Mobile"),
               gettext("State"), gettext("Due date"), gettext("Opinion")]
    rows = ([r.enterprise.name, r.enterprise.uscc, r.enterprise.contact_name,
             r.enterprise.contact_mobile, r.state_label, campaign.due_on, r.opinion]
            for r in not_submitted(campaign).yield_per(500))
    return headers, rows


def returns_export(campaign: InspectionCampaign) -> tuple[list[str], Iterable[list]]:
    """Every return of the campaign in scope, answers flattened to one column per question
    and the files to one column per attachment slot."""
    form = definition(campaign)
    headers = [gettext("Enterprise"), gettext("USCC"), gettext("State"),
               gettext("Submitted on"), gettext("Reviewed on"), gettext("Opinion"),
               *(header for _key, header in fd.columns(form)),
               *(fd.text(s["label"]) for s in campaign.attachment_slots)]

    def rows():
        for r in returns_of(campaign).yield_per(500):
            yield [r.enterprise.name, r.enterprise.uscc, r.state_label, _dt(r.submitted_on),
                   _dt(r.reviewed_on), r.opinion, *fd.export_row(form, r.answers),
                   *("、".join(f.attachment.original_name for f in r.files_in(s["key"]))
                     for s in campaign.attachment_slots)]

    return headers, rows()


# ----- to-do (app.services.inbox) ---------------------------------------------------------------
def todo_items(user, limit: int) -> list:
    """Enterprise users: their open self-inspections (not submitted, or returned). Authority
    users: campaigns of their authority with returns awaiting review."""
    from app.services.inbox import TodoItem

    if getattr(user, "enterprise_id", None):
        on = today()
        rows = (db.session.query(InspectionReturn)
                .join(InspectionCampaign, InspectionCampaign.id == InspectionReturn.campaign_id)
                .filter(InspectionReturn.state.in_(EDITABLE_STATES),
                        InspectionCampaign.state == LAUNCHED,
                        or_(InspectionCampaign.opens_on.is_(None),
                            InspectionCampaign.opens_on <= on))
                .order_by(InspectionCampaign.due_on, InspectionReturn.id).limit(limit).all())
        items = []
        for r in rows:
            title = f"[{TODO_PREFIX}] {r.campaign.title}"
            if r.state == RETURNED:
                title += " " + gettext("(returned for correction)")
            items.append(TodoItem(kind=TODO_KIND, label=str(TODO_LABEL), title=title,
                                  url=_fill_link(r.id), due=r.campaign.due_on))
        return items
    if getattr(user, "authority_id", None):
        rows = db.session.execute(
            select(InspectionCampaign.id, InspectionCampaign.title, InspectionCampaign.due_on,
                   func.count(InspectionReturn.id))
            .join(InspectionReturn, InspectionReturn.campaign_id == InspectionCampaign.id)
            .where(InspectionCampaign.authority_id == user.authority_id,
                   InspectionReturn.state == SUBMITTED)
            .group_by(InspectionCampaign.id, InspectionCampaign.title,
                      InspectionCampaign.due_on)
            .order_by(InspectionCampaign.due_on).limit(limit)).all()
        return [TodoItem(kind=TODO_KIND, label=str(REVIEW_TODO_LABEL),
                         title=gettext("%(title)s: %(count)d to review", title=title,
                                       count=count),
                         url=_tracking_link(cid)) for cid, title, _due, count in rows]
    return []


def _fill_link(return_id: int) -> str:
    try:
        return url_for("InspectionReturnView.fill", pk=return_id)
    except (BuildError, RuntimeError):
        return f"/power/self-inspections/fill/{return_id}"


def _tracking_link(campaign_id: int) -> str:
    try:
        return url_for("InspectionCampaignView.tracking", pk=campaign_id)
    except (BuildError, RuntimeError):
        return f"/power/campaigns/tracking/{campaign_id}"
