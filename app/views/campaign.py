"""Self-inspection campaigns (seed 002 "企业自查", SPEC P15).

Authority (`/power/campaigns/`, permission InspectionCampaign): list and export, a campaign
editor (title, year, dates, instructions, questions as rows, required attachments as named
rows), preview, launch, close, and the tracking page (who has not submitted, with export;
returns to review; every return with its answers flattened to columns, exported).
Returns (`/power/self-inspections/`, permission InspectionReturn): the list in scope, the
return's page (review: accept, or return with an opinion), and for the enterprise the fill
page (draft, files per slot, submit with every missing item listed).
REST: `/api/v1/inspection_campaign/` and `/api/v1/inspection_return/` (read, export).

Views parse input and call app/services/campaigns.py; every refusal comes from there."""

from __future__ import annotations

import re

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import expose
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from app.errors import DomainError
from app.extensions import db
from app.models.campaign import (
    CAMPAIGN_STATES,
    DRAFT,
    LAUNCHED,
    RETURN_STATES,
    SUBMITTED,
    InspectionCampaign,
    InspectionReturn,
)
from app.security import PV_CAMPAIGN, PV_CAMPAIGN_RETURN
from app.services import campaigns as svc
from app.services import form_definitions as fd
from app.services import xlsx
from app.services.export import XLSX_MIME
from app.views.base import (
    AppModelRestApi,
    AppModelView,
    FilterInTenantScope,
    send_and_remove,
)

# Question types offered by the editor (attachments are the campaign's named slots).
QUESTION_TYPES = [
    (fd.BOOLEAN, _l("Yes / no")),
    (fd.TEXT, _l("Short text")),
    (fd.TEXTAREA, _l("Long text")),
    (fd.INTEGER, _l("Whole number")),
    (fd.NUMBER, _l("Decimal number")),
    (fd.DATE, _l("Date")),
    (fd.CHOICE, _l("Choice")),
]
MAX_QUESTION_ROWS = 100
_ROW = re.compile(r"^([qa])-(\d{1,4})-label$")
_OPTION_SPLIT = re.compile(r"[\n;；]+")

CAMPAIGN_LABELS = {
    "year": _l("Year"),
    "title": _l("Title"),
    "state": _l("State"),
    "opens_on": _l("Opens on"),
    "due_on": _l("Due date"),
    "launched_on": _l("Launched on"),
    "closed_on": _l("Closed on"),
    "authority.name": _l("Authority"),
    "instructions": _l("Instructions"),
    "questions": _l("Questions"),
    "attachments": _l("Required attachments"),
    "created_on": _l("Created on"),
}
RETURN_LABELS = {
    "campaign.year": _l("Year"),
    "campaign.title": _l("Campaign"),
    "campaign.due_on": _l("Due date"),
    "enterprise.name": _l("Enterprise"),
    "enterprise.uscc": _l("USCC"),
    "state": _l("State"),
    "submitted_on": _l("Submitted on"),
    "reviewed_on": _l("Reviewed on"),
    "opinion": _l("Opinion"),
    "answers": _l("Answers"),
    "campaign_id": _l("Campaign"),
    "enterprise_id": _l("Enterprise"),
}


def _campaign_state(value) -> str:
    return str(CAMPAIGN_STATES.get(value, value or ""))


def _return_state(value) -> str:
    return str(RETURN_STATES.get(value, value or ""))


class FilterCampaignVisible(BaseFilter):
    """base_filters of the campaign list and API: the campaigns the user may read
    (campaigns are the authority's, not a tenant table: the ORM hook does not scope them)."""

    name = "Visible"
    arg_name = "campaign_visible"

    def apply(self, query, value):
        return query.filter(svc.campaign_visibility())


# ----- the editor's rows -----------------------------------------------------------------------
def _row_indices(form, prefix: str) -> list[int]:
    found = set()
    for key in form:
        m = _ROW.match(key)
        if m and m.group(1) == prefix:
            found.add(int(m.group(2)))
    return sorted(found)


def _question_rows(form) -> list[dict]:
    rows = []
    for i in _row_indices(form, "q")[:MAX_QUESTION_ROWS + 1]:
        def get(name, i=i):
            return (form.get(f"q-{i}-{name}") or "").strip()

        row = {"key": get("key"), "label": get("label"), "type": get("type") or fd.BOOLEAN,
               "required": bool(form.get(f"q-{i}-required")), "options": get("options"),
               "unit": get("unit"), "min": get("min"), "max": get("max"),
               "places": get("places"), "help": get("help")}
        if not any(row[k] for k in ("label", "options", "unit", "min", "max", "help")):
            continue  # an empty row the user added and left
        rows.append(row)
    return rows


def _slot_rows(form) -> list[dict]:
    rows = []
    for i in _row_indices(form, "a")[:svc.MAX_SLOTS + 1]:
        row = {"key": (form.get(f"a-{i}-key") or "").strip(),
               "label": (form.get(f"a-{i}-label") or "").strip(),
               "help": (form.get(f"a-{i}-help") or "").strip()}
        if row["label"] or row["help"]:
            rows.append(row)
    return rows


def _assign_keys(rows: list[dict], prefix: str, pattern) -> None:
    """Keep each row's key (stable across edits), give new or forged ones the next free
    q<n> / a<n>."""
    used = set()
    for row in rows:
        if row["key"] and pattern.match(row["key"]) and row["key"] not in used:
            used.add(row["key"])
        else:
            row["key"] = ""
    n = 1
    for row in rows:
        if not row["key"]:
            while f"{prefix}{n}" in used:
                n += 1
            row["key"] = f"{prefix}{n}"
            used.add(row["key"])


def _question_spec(row: dict) -> tuple[dict, list[str]]:
    spec = {"key": row["key"], "label": row["label"], "type": row["type"],
            "required": row["required"]}
    problems = []
    if row["unit"]:
        spec["unit"] = row["unit"]
    if row["help"]:
        spec["help"] = row["help"]
    if row["type"] == fd.CHOICE:
        spec["options"] = [o.strip() for o in _OPTION_SPLIT.split(row["options"]) if o.strip()]
    if row["type"] == fd.NUMBER:
        if row["places"] and not row["places"].isdigit():
            problems.append(gettext("Decimal places must be a whole number from 0 to 6."))
        elif row["places"]:
            spec["places"] = int(row["places"])
    for bound in ("min", "max"):
        if row[bound]:
            spec[bound] = row[bound]
    return spec, problems


def rows_to_definition(rows: list[dict], rules=()) -> tuple[dict, dict]:
    """The editor's question rows as a form definition, and the problems of each row
    ({row number: [messages]}, 0 for the whole list). `rules`: the cross-field rules of the
    definition being edited (the editor does not show them): those still valid for the new
    rows are kept."""
    errors: dict[int, list[str]] = {}
    if len(rows) > MAX_QUESTION_ROWS:
        errors[0] = [gettext("At most %(max)d questions.", max=MAX_QUESTION_ROWS)]
        rows = rows[:MAX_QUESTION_ROWS]
    _assign_keys(rows, "q", fd.KEY_PATTERN)
    fields = []
    for n, row in enumerate(rows, start=1):
        spec, problems = _question_spec(row)
        try:
            fd.load({"fields": [spec]})
        except fd.FormDefinitionError as exc:
            problems.extend(exc.problems)
        if problems:
            errors[n] = problems
        fields.append(spec)
    if not rows:
        errors.setdefault(0, []).append(gettext("Add at least one question."))
    kept = []
    for rule in rules or ():
        try:
            fd.load({"fields": fields, "rules": [rule]})
        except fd.FormDefinitionError:
            continue
        kept.append(rule)
    definition = {"fields": fields}
    if kept:
        definition["rules"] = kept
    return definition, errors


def definition_to_rows(questions) -> list[dict]:
    try:
        form = fd.load(questions)
    except fd.FormDefinitionError:
        return []
    rows = []
    for f in form.fields:
        rows.append({
            "key": f.key, "label": f.label_text, "type": f.type, "required": f.required,
            "options": "\n".join(o.label_text for o in f.options), "unit": f.unit_text,
            "min": "" if f.min is None else str(f.min),
            "max": "" if f.max is None else str(f.max),
            "places": "" if f.places is None else str(f.places), "help": f.help_text})
    return rows


def slots_to_rows(slots) -> list[dict]:
    return [{"key": s.get("key", ""), "label": fd.text(s.get("label")),
             "help": s.get("help", "")} for s in (slots or [])]


# ----- authority: campaigns --------------------------------------------------------------------
class InspectionCampaignView(AppModelView):
    datamodel = SQLAInterface(InspectionCampaign)
    class_permission_name = PV_CAMPAIGN
    route_base = "/power/campaigns"
    base_permissions = ["can_list", "can_show", "can_add", "can_edit", "can_delete",
                        "can_export", "can_launch"]
    method_permission_name = {
        "list": "list", "show": "show", "add": "add", "edit": "edit", "delete": "delete",
        "export": "export", "launch": "launch", "close": "launch", "preview": "show",
        "tracking": "show", "tracking_missing": "export", "tracking_export": "export"}
    exclude_route_methods = {"download", "action", "action_post"}
    list_title = _l("Self-inspection campaigns")
    show_title = _l("Self-inspection campaign")
    add_title = _l("New self-inspection campaign")
    edit_title = _l("Edit self-inspection campaign")
    export_title = "self_inspection_campaigns"
    label_columns = CAMPAIGN_LABELS
    list_columns = ["year", "title", "state", "opens_on", "due_on", "launched_on",
                    "authority.name"]
    export_columns = ["year", "title", "state", "opens_on", "due_on", "launched_on",
                      "closed_on", "authority.name"]
    export_formatters = {"state": _campaign_state}
    formatters_columns = {"state": _campaign_state}
    search_columns = ["year", "title", "state"]
    order_columns = ["year", "due_on", "launched_on"]
    base_order = ("id", "desc")
    base_filters = [["id", FilterCampaignVisible, lambda: None]]

    # ----- helpers ---------------------------------------------------------------------------
    def _campaign(self, pk) -> InspectionCampaign:
        campaign = svc.get_campaign(pk)
        if campaign is None:
            abort(404)
        return campaign

    def _may(self, permission: str) -> bool:
        return self.appbuilder.sm.has_access(permission, self.class_permission_name)

    def _page(self, template, status=200, **kwargs):
        return self.render_template(f"power_campaign/{template}", view=self,
                                    appbuilder=self.appbuilder, **kwargs), status

    def _show_page(self, campaign, status=200, error=None):
        own = campaign.authority_id == getattr(g.user, "authority_id", None)
        return self._page(
            "campaign_show.html", status=status, campaign=campaign, title=self.show_title,
            form=svc.definition(campaign), error=error, own=own,
            types=dict(QUESTION_TYPES),
            counts=svc.state_counts(campaign) if campaign.state != DRAFT else None,
            may_edit=own and campaign.state == DRAFT and self._may("can_edit"),
            may_delete=own and campaign.state == DRAFT and self._may("can_delete"),
            may_launch=own and campaign.state == DRAFT and self._may("can_launch"),
            may_close=own and campaign.state == LAUNCHED and self._may("can_launch"))

    def _editor(self, *, campaign=None, values=None, rows=None, slots=None, errors=None,
                row_errors=None, status=200):
        if values is None:
            values = ({"title": campaign.title, "year": campaign.year,
                       "opens_on": campaign.opens_on or "", "due_on": campaign.due_on,
                       "instructions": campaign.instructions or ""} if campaign else
                      {"title": "", "year": svc.today().year, "opens_on": "",
                       "due_on": "", "instructions": ""})
        if rows is None:
            rows = definition_to_rows(campaign.questions) if campaign else []
        if slots is None:
            slots = slots_to_rows(campaign.attachments) if campaign else []
        return self._page(
            "campaign_form.html", status=status, campaign=campaign, values=values,
            rows=rows or [{"key": "", "label": "", "type": fd.BOOLEAN, "required": True,
                           "options": "", "unit": "", "min": "", "max": "", "places": "",
                           "help": ""}],
            slots=slots or [{"key": "", "label": "", "help": ""}],
            errors=errors or {}, row_errors=row_errors or {}, types=QUESTION_TYPES,
            title=self.edit_title if campaign else self.add_title)

    def _save(self, campaign):
        form = request.form
        values = {k: (form.get(k) or "").strip() for k in ("title", "year", "opens_on",
                                                            "due_on", "instructions")}
        rows = _question_rows(form)
        slots = _slot_rows(form)
        _assign_keys(slots, "a", svc.SLOT_KEY)
        rules = (campaign.questions or {}).get("rules", []) if campaign else []
        questions, row_errors = rows_to_definition(rows, rules if isinstance(rules, list)
                                                   else [])
        data = {**values, "questions": questions,
                "attachments": [{k: v for k, v in s.items() if v} for s in slots]}
        _clean, errors = svc.check_campaign(data)
        if row_errors:
            # Per-row messages are shown beside the rows; the other fields are checked too,
            # so every problem shows at once.
            errors["questions"] = row_errors.get(0) or [
                gettext("Correct the marked questions.")]
        if errors:
            flash(gettext("The campaign was not saved: correct the marked fields."), "danger")
            return self._editor(campaign=campaign, values=values, rows=rows, slots=slots,
                                errors=errors, row_errors=row_errors, status=422)
        try:
            saved = svc.save_campaign(campaign, data, g.user)
        except DomainError as exc:
            db.session.rollback()
            if campaign is None:
                abort(exc.code)
            return self._show_page(campaign, status=exc.code, error=str(exc))
        flash(gettext("Campaign saved."), "success")
        return redirect(url_for(f"{self.endpoint}.show", pk=saved.id))

    # ----- pages -----------------------------------------------------------------------------
    @expose("/add", methods=["GET", "POST"])
    @has_access
    def add(self):
        if not getattr(g.user, "authority_id", None):
            abort(403)
        if request.method == "POST":
            return self._save(None)
        return self._editor()

    @expose("/edit/<int:pk>", methods=["GET", "POST"])
    @has_access
    def edit(self, pk):
        campaign = self._campaign(pk)
        if campaign.authority_id != getattr(g.user, "authority_id", None):
            return self._show_page(campaign, status=403, error=str(svc.CampaignForbiddenError(
                gettext("This campaign belongs to another authority: only it can change "
                        "it."))))
        if campaign.state != DRAFT:
            return self._show_page(campaign, status=409, error=gettext(
                "The campaign has been launched: its questions and attachments can no longer "
                "be changed."))
        if request.method == "POST":
            return self._save(campaign)
        return self._editor(campaign=campaign)

    @expose("/show/<int:pk>")
    @has_access
    def show(self, pk):
        return self._show_page(self._campaign(pk))

    @expose("/preview/<int:pk>")
    @has_access
    def preview(self, pk):
        campaign = self._campaign(pk)
        return self._page("campaign_preview.html", campaign=campaign,
                          form=svc.definition(campaign), title=gettext("Preview"))

    def pre_delete(self, item):
        svc._own(item, g.user)
        if item.state != DRAFT:
            raise svc.CampaignStateError(gettext(
                "Only a draft campaign can be deleted; close a launched one instead."))

    @expose("/launch/<int:pk>", methods=["POST"])
    @has_access
    def launch(self, pk):
        campaign = self._campaign(pk)
        try:
            count = svc.launch(campaign, g.user)
        except DomainError as exc:
            db.session.rollback()
            error = str(exc)
            if isinstance(exc, svc.CampaignInvalidError):
                error = gettext("The campaign cannot be launched: %(problems)s",
                                problems="; ".join(m for v in exc.errors.values() for m in v))
            return self._show_page(self._campaign(pk), status=exc.code, error=error)
        flash(gettext("The campaign was launched to %(count)d enterprises.", count=count),
              "success")
        return redirect(url_for(f"{self.endpoint}.tracking", pk=pk))

    @expose("/close/<int:pk>", methods=["POST"])
    @has_access
    def close(self, pk):
        campaign = self._campaign(pk)
        try:
            svc.close(campaign, g.user)
        except DomainError as exc:
            db.session.rollback()
            return self._show_page(self._campaign(pk), status=exc.code, error=str(exc))
        flash(gettext("The campaign is closed: no more submissions."), "success")
        return redirect(url_for(f"{self.endpoint}.show", pk=pk))

    @expose("/tracking/<int:pk>")
    @has_access
    def tracking(self, pk):
        campaign = self._campaign(pk)
        limit = 500
        return self._page(
            "campaign_tracking.html", campaign=campaign, title=gettext("Tracking"),
            counts=svc.state_counts(campaign),
            outstanding=svc.not_submitted(campaign).limit(limit).all(),
            to_review=svc.returns_of(campaign, [SUBMITTED]).limit(limit).all(),
            decided=svc.returns_of(campaign, ["accepted"]).limit(limit).all(), limit=limit,
            may_export=self._may("can_export"))

    def _xlsx(self, campaign, headers, rows, name: str):
        path = xlsx.written(lambda p: xlsx.write_rows(p, headers, rows, sheet_title=name))
        from app.services import audit

        audit.record(db.session, "export", target=campaign, enterprise_id=None, detail=name)
        db.session.commit()
        return send_and_remove(path, f"{campaign.title}-{name}.xlsx", XLSX_MIME)

    @expose("/tracking/<int:pk>/missing")
    @has_access
    def tracking_missing(self, pk):
        campaign = self._campaign(pk)
        headers, rows = svc.missing_export(campaign)
        return self._xlsx(campaign, headers, rows, gettext("Not submitted"))

    @expose("/tracking/<int:pk>/export")
    @has_access
    def tracking_export(self, pk):
        campaign = self._campaign(pk)
        headers, rows = svc.returns_export(campaign)
        return self._xlsx(campaign, headers, rows, gettext("Returns"))


# ----- returns ---------------------------------------------------------------------------------
FILE_FIELD = "file-"
ANSWER_PREFIX = "f-"


class InspectionReturnView(AppModelView):
    datamodel = SQLAInterface(InspectionReturn)
    class_permission_name = PV_CAMPAIGN_RETURN
    route_base = "/power/self-inspections"
    base_permissions = ["can_list", "can_show", "can_edit", "can_export", "can_review"]
    method_permission_name = {
        "list": "list", "show": "show", "export": "export", "fill": "edit",
        "campaign": "show", "review": "review"}
    exclude_route_methods = {"download", "add", "edit", "delete", "action", "action_post"}
    list_title = _l("Self-inspections")
    show_title = _l("Self-inspection")
    export_title = "self_inspections"
    label_columns = RETURN_LABELS
    list_columns = ["campaign.year", "campaign.title", "enterprise.name", "state",
                    "campaign.due_on", "submitted_on", "reviewed_on"]
    export_columns = ["campaign.year", "campaign.title", "enterprise.name", "enterprise.uscc",
                      "state", "campaign.due_on", "submitted_on", "reviewed_on", "opinion"]
    export_formatters = {"state": _return_state}
    formatters_columns = {"state": _return_state}
    search_columns = ["state", "submitted_on"]
    order_columns = ["submitted_on", "reviewed_on"]
    base_order = ("id", "desc")
    base_filters = [["enterprise_id", FilterInTenantScope, lambda: None]]

    def _return(self, pk) -> InspectionReturn:
        ret = self.datamodel.get(pk, self._base_filters)
        if ret is None:
            abort(404)
        return ret

    def _page(self, template, status=200, **kwargs):
        return self.render_template(f"power_campaign/{template}", view=self,
                                    appbuilder=self.appbuilder, **kwargs), status

    def _show_page(self, ret, status=200, error=None, review_errors=None):
        campaign = ret.campaign
        sm = self.appbuilder.sm
        own_enterprise = ret.enterprise_id == getattr(g.user, "enterprise_id", None)
        return self._page(
            "return_show.html", status=status, ret=ret, campaign=campaign,
            form=svc.definition(campaign), title=self.show_title, error=error,
            review_errors=review_errors or {},
            may_fill=own_enterprise and ret.editable and campaign.state == LAUNCHED
            and sm.has_access("can_edit", self.class_permission_name),
            may_review=ret.state == SUBMITTED
            and campaign.authority_id == getattr(g.user, "authority_id", None)
            and sm.has_access("can_review", self.class_permission_name))

    def _fill_page(self, ret, status=200, values=None, errors=None, missing=None,
                   error=None):
        campaign = ret.campaign
        return self._page(
            "return_fill.html", status=status, ret=ret, campaign=campaign,
            form=svc.definition(campaign), values=ret.answers if values is None else values,
            errors=errors or {}, missing=missing or [], error=error, prefix=ANSWER_PREFIX,
            late=svc.is_late(ret), title=campaign.title)

    @expose("/show/<int:pk>")
    @has_access
    def show(self, pk):
        return self._show_page(self._return(pk))

    @expose("/campaign/<int:pk>")
    @has_access
    def campaign(self, pk):
        """A campaign's link (notices): the enterprise's own return, 404 for an enterprise
        the campaign was not launched to."""
        if getattr(g.user, "enterprise_id", None):
            ret = svc.return_of_campaign(pk)
            if ret is None:
                abort(404)
            endpoint = "fill" if ret.editable and ret.campaign.state == LAUNCHED else "show"
            return redirect(url_for(f"{self.endpoint}.{endpoint}", pk=ret.id))
        if svc.get_campaign(pk) is None:
            abort(404)
        return redirect(url_for("InspectionCampaignView.tracking", pk=pk))

    @expose("/fill/<int:pk>", methods=["GET", "POST"])
    @has_access
    def fill(self, pk):
        ret = self._return(pk)
        if ret.enterprise_id != getattr(g.user, "enterprise_id", None):
            abort(403)  # an authority or admin reads returns, never fills them
        if request.method == "GET":
            if not ret.editable or ret.campaign.state != LAUNCHED:
                return redirect(url_for(f"{self.endpoint}.show", pk=pk))
            return self._fill_page(ret)
        form = svc.definition(ret.campaign)
        raw = fd.raw_from_form(form, request.form, ANSWER_PREFIX)
        uploads = {key: request.files.getlist(FILE_FIELD + key)
                   for key in svc.slot_keys(ret.campaign)}
        remove = [int(v) for v in request.form.getlist("remove-file")
                  if v.isdigit() and len(v) < 18]
        try:
            svc.save_return(ret, raw, g.user, uploads=uploads, remove_files=remove)
        except svc.ReturnInvalidError as exc:
            return self._fill_page(self._return(pk), status=exc.code, values=raw,
                                   errors=exc.errors, error=str(exc))
        except DomainError as exc:
            db.session.rollback()
            return self._show_page(self._return(pk), status=exc.code, error=str(exc))
        if request.form.get("action") != "submit":
            flash(gettext("Draft saved."), "success")
            return redirect(url_for(f"{self.endpoint}.fill", pk=pk))
        try:
            svc.submit(ret, g.user)
        except svc.ReturnIncompleteError as exc:
            db.session.rollback()
            ret = self._return(pk)
            _clean, errors = fd.validate(svc.definition(ret.campaign), ret.answers or {})
            return self._fill_page(ret, status=exc.code, errors=errors, missing=exc.items,
                                   error=gettext("The draft was saved, but it cannot be "
                                                 "submitted yet."))
        except DomainError as exc:
            db.session.rollback()
            return self._fill_page(self._return(pk), status=exc.code, error=str(exc))
        flash(gettext("Self-inspection submitted."), "success")
        return redirect(url_for(f"{self.endpoint}.show", pk=pk))

    @expose("/review/<int:pk>", methods=["POST"])
    @has_access
    def review(self, pk):
        ret = self._return(pk)
        version = request.form.get("version", "")
        try:
            svc.review(ret, g.user, request.form.get("decision", ""),
                       request.form.get("opinion"),
                       expected_version=int(version) if version.isdigit() and len(
                           version) < 10 else None)
        except svc.ReturnInvalidError as exc:
            db.session.rollback()
            return self._show_page(self._return(pk), status=exc.code, error=str(exc),
                                   review_errors=exc.errors)
        except DomainError as exc:
            db.session.rollback()
            return self._show_page(self._return(pk), status=exc.code, error=str(exc))
        flash(gettext("Self-inspection accepted.") if ret.state == "accepted" else
              gettext("Self-inspection returned to the enterprise."), "success")
        return redirect(url_for(f"{self.endpoint}.show", pk=pk))


# ----- REST ------------------------------------------------------------------------------------
class InspectionCampaignApi(AppModelRestApi):
    """`/api/v1/inspection_campaign/`: the campaigns the caller may read (its authority's, or
    with returns in its jurisdiction); enterprises read none. Changes go through the UI."""

    resource_name = "inspection_campaign"
    datamodel = SQLAInterface(InspectionCampaign)
    class_permission_name = PV_CAMPAIGN
    include_route_methods = {"get", "get_list", "info"}
    base_filters = [["id", FilterCampaignVisible, lambda: None]]
    list_columns = ["id", "year", "title", "state", "opens_on", "due_on", "launched_on",
                    "closed_on", "authority.name"]
    show_columns = [*list_columns, "instructions", "questions", "attachments"]
    search_columns = ["year", "title", "state"]
    order_columns = ["id", "year", "due_on"]
    base_order = ("id", "desc")
    export_formatters = {"state": _campaign_state}


class InspectionReturnApi(AppModelRestApi):
    """`/api/v1/inspection_return/`: an enterprise its own returns, an authority those of its
    power jurisdiction. Changes go through the UI (the same service operations)."""

    resource_name = "inspection_return"
    datamodel = SQLAInterface(InspectionReturn)
    class_permission_name = PV_CAMPAIGN_RETURN
    include_route_methods = {"get", "get_list", "info"}
    base_filters = [["enterprise_id", FilterInTenantScope, lambda: None]]
    list_columns = ["id", "campaign_id", "campaign.title", "enterprise_id", "enterprise.name",
                    "state", "submitted_on", "reviewed_on"]
    show_columns = [*list_columns, "answers", "opinion"]
    search_columns = ["state", "campaign_id"]
    order_columns = ["id", "submitted_on"]
    base_order = ("id", "desc")
    export_formatters = {"state": _return_state}


def register_todos() -> None:
    from app.services import inbox

    inbox.register_todo_provider(svc.TODO_KIND, svc.todo_items)
