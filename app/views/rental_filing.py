"""Enterprise side of the rental filing (seed 000 §4.3, SPEC R10-R11): filing change,
suspension, resumption and termination of the rental business, each opened as a case that a
regulator reviews; nothing changes on the enterprise until the approval applies the payload.

The enterprise is always the signed-in user's (never a form value); cases are loaded through
the scoped session and filtered by that enterprise, so another enterprise's case is a 404.
Permission: ("can_forms", PV_RENTAL)."""

from __future__ import annotations

import datetime

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from wtforms.validators import Optional

from app.errors import DomainError, GuardFailedError
from app.extensions import db
from app.models.org import Enterprise
from app.models.rental import OPERATING, STATE_LABELS, SUSPENDED, RentalFiling
from app.models.workflow import Application
from app.security import PV_RENTAL
from app.services.attachments import AttachmentRejectedError
from app.views.rental_forms import (
    FIELD_LABELS,
    BusinessStateForm,
    FilingChangeForm,
    change_payload,
    current_filing_values,
    discard_files,
    display,
    filing_diff,
    filing_payload,
    form_data_from_payload,
    store_uploads,
    uploads,
)
from app.workflows import engine
from app.workflows import rental as wf

# action → (case kind, filing states in which it is offered, page title)
STATE_ACTIONS = {
    "suspend": (wf.SUSPEND, (OPERATING,), _l("Suspend the rental business")),
    "resume": (wf.RESUME, (SUSPENDED,), _l("Resume the rental business")),
    "terminate": (wf.TERMINATE, (OPERATING, SUSPENDED), _l("Terminate the rental business")),
}
NOT_OFFERED = {
    "suspend": _l("Only an operating enterprise can suspend its rental business."),
    "resume": _l("Only a suspended enterprise can resume its rental business."),
    "terminate": _l("A terminated rental filing cannot be terminated again."),
    "change": _l("A terminated rental filing cannot be changed."),
}


def _iso_date(value) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


class _Context:
    """The signed-in user's enterprise, its rental filing and its open enterprise case."""

    def __init__(self):
        self.enterprise_id = getattr(g.user, "enterprise_id", None)
        self.enterprise = db.session.get(Enterprise, self.enterprise_id) \
            if self.enterprise_id else None
        self.filing = db.session.query(RentalFiling).filter_by(
            enterprise_id=self.enterprise_id).first() if self.enterprise else None
        self.open_case = db.session.query(Application).filter(
            Application.enterprise_id == self.enterprise_id,
            Application.kind.in_(wf.ENTERPRISE_KINDS),
            Application.state.in_(engine.OPEN_STATES)).order_by(
            Application.id.desc()).first() if self.enterprise else None

    @property
    def filed(self) -> bool:
        return self.filing is not None and bool(self.filing.certificate_no)

    def correcting(self, kind: str) -> Application | None:
        """The open case of this kind returned for correction (resubmitted, not re-created)."""
        case = self.open_case
        if case is not None and case.kind == kind and case.state == engine.RETURNED:
            return case
        return None


class RentalFilingFormsView(BaseView):
    route_base = "/rental/forms"
    default_view = "index"
    class_permission_name = PV_RENTAL
    method_permission_name = {name: "forms" for name in (
        "index", "change", "suspend", "resume", "terminate", "case", "withdraw")}

    def _render(self, template, status=200, **kwargs):
        return self.render_template(f"rental/{template}", appbuilder=self.appbuilder,
                                    **kwargs), status

    def _not_filed(self, ctx: _Context):
        """ent.c (no rental filing), an application still under review, or a user of no
        enterprise: a clear page, never a crash."""
        return self._render("forms_not_filed.html", ctx=ctx)

    def _case_url(self, case: Application) -> str:
        return url_for(".case", reference=case.reference)

    # ----- overview ----------------------------------------------------------------------
    @expose("/")
    @has_access
    def index(self):
        ctx = _Context()
        if not ctx.filed:
            return self._not_filed(ctx)
        cases = db.session.query(Application).filter(
            Application.enterprise_id == ctx.enterprise_id,
            Application.kind.in_(wf.ENTERPRISE_KINDS)).order_by(
            Application.id.desc()).limit(20).all()
        offered = {action: ctx.filing.state in states
                   for action, (_k, states, _t) in STATE_ACTIONS.items()}
        return self._render("forms_index.html", ctx=ctx, cases=cases, offered=offered,
                            kind_labels=wf.KIND_LABELS, state_labels=engine.CASE_STATE_LABELS,
                            active="index")

    # ----- R10 filing change -------------------------------------------------------------
    @expose("/change", methods=["GET", "POST"])
    @has_access
    def change(self):
        ctx = _Context()
        if not ctx.filed:
            return self._not_filed(ctx)
        before = current_filing_values(ctx.enterprise, ctx.filing)
        correcting = ctx.correcting(wf.FILING_CHANGE)
        if request.method == "POST":
            form = FilingChangeForm(region_keep=ctx.enterprise.region_code)
        else:
            start = {**before, **{k: v for k, v in (correcting.payload if correcting else {})
                                  .items() if k in before}}
            form = FilingChangeForm(data=form_data_from_payload(start),
                                    region_keep=ctx.enterprise.region_code)
        error, reasons, status = None, [], 200
        if form.validate_on_submit():
            payload = change_payload(before, filing_payload(form))
            if not payload["changed"]:
                error = gettext("Nothing was changed: edit the fields that differ from the "
                                "filing, then submit.")
            else:
                payload.update(uscc=ctx.enterprise.uscc,
                               certificate_no=ctx.filing.certificate_no)
                result = self._open_or_resubmit(ctx, wf.FILING_CHANGE, correcting, payload,
                                                uploads(form.documents))
                if not isinstance(result, tuple):
                    return result
                error, reasons = result
            status = 422
        elif request.method == "POST":
            status = 422
        return self._render("forms_change.html", status, ctx=ctx, form=form, error=error,
                            reasons=reasons, correcting=correcting, active="change",
                            not_offered=None if ctx.filing.state != "terminated"
                            else NOT_OFFERED["change"])

    def _open_or_resubmit(self, ctx: _Context, kind: str, correcting, payload: dict, files):
        """Open a case (or resubmit the returned one) through the engine; a redirect to the
        case page, or (error, guard reasons) to show in the form."""
        saved = []
        try:
            saved = store_uploads(files, ctx.enterprise_id, g.user.id)
            actor = engine.actor_for(g.user)
            if correcting is not None:
                case = engine.fire(correcting, "resubmit", actor, payload=payload,
                                   attachments=saved)
            else:
                case = engine.create(kind, enterprise_id=ctx.enterprise_id, actor=actor,
                                     subject_id=ctx.filing.id, payload=payload,
                                     attachments=saved)
        except GuardFailedError as exc:
            discard_files(saved)
            return None, exc.reasons
        except (AttachmentRejectedError, DomainError) as exc:
            db.session.rollback()
            discard_files(saved)
            return str(exc), []
        flash(gettext("Submitted as case %(ref)s. The filing changes only when the filing "
                      "authority approves it.", ref=case.reference), "success")
        return redirect(self._case_url(case))

    # ----- R11 suspend / resume / terminate ----------------------------------------------
    @expose("/suspend", methods=["GET", "POST"])
    @has_access
    def suspend(self):
        return self._state_form("suspend")

    @expose("/resume", methods=["GET", "POST"])
    @has_access
    def resume(self):
        return self._state_form("resume")

    @expose("/terminate", methods=["GET", "POST"])
    @has_access
    def terminate(self):
        return self._state_form("terminate")

    def _state_form(self, action: str):
        ctx = _Context()
        if not ctx.filed:
            return self._not_filed(ctx)
        kind, states, title = STATE_ACTIONS[action]
        offered = ctx.filing.state in states
        correcting = ctx.correcting(kind)
        needs_notice = bool(ctx.filing.time_share) and action != "resume"
        if request.method == "POST":
            form = BusinessStateForm()
        else:
            data = {}
            if correcting is not None:
                p = correcting.payload or {}
                data = {"reason": p.get("reason"),
                        "effective_date": _iso_date(p.get("effective_date")),
                        "notice_date": _iso_date(p.get("notice_date"))}
            form = BusinessStateForm(data=data)
        if not needs_notice:
            del form.notice_date
        if correcting is not None and correcting.attachments:
            # The report already attached to the returned case still counts.
            form.report.validators = [Optional()]
            form.report.flags.required = False
        error, reasons, status = None, [], 200
        if form.validate_on_submit():
            payload = {"name": ctx.enterprise.name, "uscc": ctx.enterprise.uscc,
                       "certificate_no": ctx.filing.certificate_no,
                       "reason": form.reason.data,
                       "effective_date": form.effective_date.data.isoformat()}
            if needs_notice:
                payload["notice_date"] = form.notice_date.data.isoformat() \
                    if form.notice_date.data else None
            result = self._open_or_resubmit(ctx, kind, correcting, payload,
                                            uploads(form.report, form.documents))
            if not isinstance(result, tuple):
                return result
            error, reasons = result
            status = 422
        elif request.method == "POST":
            status = 422
        return self._render("forms_state.html", status, ctx=ctx, form=form, action=action,
                            title=title, offered=offered, correcting=correcting,
                            needs_notice=needs_notice, error=error, reasons=reasons,
                            not_offered=NOT_OFFERED[action], active=action,
                            report_days=wf.REPORT_WITHIN_DAYS,
                            notice_days=wf.TIME_SHARE_NOTICE_DAYS)

    # ----- the case page (confirmation, before/after) ------------------------------------
    def _own_case(self, reference: str) -> Application:
        enterprise_id = getattr(g.user, "enterprise_id", None)
        case = db.session.query(Application).filter(
            Application.reference == reference, Application.enterprise_id == enterprise_id,
            Application.kind.in_(wf.ENTERPRISE_KINDS)).first() if enterprise_id else None
        if case is None:
            abort(404)
        return case

    @expose("/case/<reference>")
    @has_access
    def case(self, reference):
        case = self._own_case(reference)
        payload = case.payload or {}
        details = []
        if case.kind in (wf.SUSPEND, wf.RESUME, wf.TERMINATE):
            for key in ("reason", "effective_date", "notice_date"):
                if payload.get(key):
                    details.append((FIELD_LABELS[key], display(key, payload[key])))
        workflow = engine.workflow_for(case.kind)
        actor = engine.actor_for(g.user)
        can_withdraw = any(t.name == "withdraw" for t in workflow.available(case, actor))
        return self._render(
            "forms_case.html", ctx=_Context(), case=case,
            kind_label=wf.KIND_LABELS.get(case.kind, case.kind),
            state_label=engine.CASE_STATE_LABELS.get(case.state, case.state),
            diff=filing_diff(payload) if case.kind == wf.FILING_CHANGE else [],
            details=details, can_withdraw=can_withdraw,
            transition_labels={t.name: t.label for t in workflow.transitions},
            filing_states=STATE_LABELS, state_labels=engine.CASE_STATE_LABELS,
            correct_url=self._correct_url(case), active="index")

    def _correct_url(self, case: Application) -> str | None:
        if case.state != engine.RETURNED:
            return None
        action = {wf.FILING_CHANGE: "change", wf.SUSPEND: "suspend", wf.RESUME: "resume",
                  wf.TERMINATE: "terminate"}.get(case.kind)
        return url_for(f".{action}") if action else None

    @expose("/case/<reference>/withdraw", methods=["POST"])
    @has_access
    def withdraw(self, reference):
        case = self._own_case(reference)
        try:
            engine.fire(case, "withdraw", engine.actor_for(g.user),
                        expected_version=request.form.get("version", type=int))
        except DomainError as exc:
            flash(str(exc), "danger")
        else:
            flash(gettext("Case %(ref)s has been withdrawn.", ref=case.reference), "info")
        return redirect(self._case_url(case))
