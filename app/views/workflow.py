"""Workflow cases of every module (SPEC X9, R9, R15): the case list and detail page with its
full review trail and the transitions the user may fire, the regulators' review queue
(mine / all in jurisdiction / overdue, by deadline) and the REST twin with a transition route.
Every state change goes through app/workflows/engine.py."""

from __future__ import annotations

import datetime

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder.api import expose as api_expose
from flask_appbuilder.api import protect, safe
from flask_appbuilder.baseviews import expose
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_

from app.errors import DomainError
from app.extensions import db
from app.models.workflow import Application
from app.security import API_METHOD_PERMISSIONS, PV_APPLICATION, PV_REVIEW
from app.services.attachments import AttachmentRejectedError, save_upload
from app.views.base import AppModelRestApi, AppModelView, FilterInTenantScope
from app.workflows import engine

CASE_LABELS = {
    "reference": _l("Case number"),
    "title": _l("Subject"),
    "kind_label": _l("Kind of case"),
    "kind": _l("Kind of case"),
    "enterprise": _l("Enterprise"),
    "enterprise.name": _l("Enterprise"),
    "state_label": _l("State"),
    "state": _l("State"),
    "channel": _l("Channel"),
    "submitted_on": _l("Submitted on"),
    "deadline": _l("Deadline"),
    "overdue": _l("Overdue"),
    "decided_on": _l("Decided on"),
    "last_opinion": _l("Opinion"),
    "assignee": _l("Reviewer"),
}
CASE_LIST_COLUMNS = ["reference", "title", "kind_label", "enterprise.name", "state_label",
                     "submitted_on", "deadline", "overdue"]
CASE_SEARCH_COLUMNS = ["reference", "title", "kind", "state", "submitted_on", "deadline"]


def uploaded_attachments(enterprise_id: int) -> list:
    """Files posted as `attachments` (type and size checked); raises on a refused file."""
    user_id = getattr(g.user, "id", None)
    return [save_upload(f, enterprise_id, user_id)
            for f in request.files.getlist("attachments") if f and f.filename]


def fire_from_request(case: Application) -> None:
    """Parse a transition form (name, opinion, version, attachments) and fire it; flashes
    the outcome. The engine commits or rolls back."""
    try:
        attachments = uploaded_attachments(case.enterprise_id)
        engine.fire(case, request.form.get("name", ""), engine.actor_for(g.user),
                    opinion=request.form.get("opinion"), attachments=attachments,
                    expected_version=request.form.get("version") or None)
    except (DomainError, AttachmentRejectedError) as exc:
        db.session.rollback()
        flash(str(exc), "danger")
        return
    except ValueError:
        db.session.rollback()
        flash(gettext("The form was incomplete; nothing was changed."), "danger")
        return
    flash(gettext("Done: case %(ref)s is now “%(state)s”.", ref=case.reference,
                  state=case.state_label), "success")


class ApplicationView(AppModelView):
    """All cases in the user's scope; the detail page shows the review trail and actions."""

    datamodel = SQLAInterface(Application)
    class_permission_name = PV_APPLICATION
    route_base = "/applications"
    base_permissions = ["can_list", "can_show", "can_export", "can_transition", "can_apply",
                        "can_review", "can_counter"]
    method_permission_name = {"list": "list", "show": "show", "export": "export",
                              "transition": "transition", "claim": "review"}
    list_title = _l("Cases")
    show_title = _l("Case")
    export_title = "cases"
    label_columns = CASE_LABELS
    list_columns = CASE_LIST_COLUMNS
    search_columns = CASE_SEARCH_COLUMNS
    order_columns = ["reference", "submitted_on", "deadline"]
    base_order = ("id", "desc")
    base_filters = [["enterprise_id", FilterInTenantScope, lambda: None]]
    show_template = "workflow/show.html"
    formatters_columns = {"overdue": lambda v: gettext("Overdue") if v else ""}

    @expose("/show/<int:pk>")
    @has_access
    def show(self, pk):
        case = self.datamodel.get(pk, self._base_filters)
        if case is None:
            abort(404)
        workflow = engine.workflow_for(case.kind)
        actor = engine.actor_for(g.user)
        return self.render_template(
            self.show_template, case=case, workflow=workflow,
            transitions=workflow.available(case, actor),
            can_claim=engine.REGULATOR in actor.roles and case.state in engine.OPEN_STATES,
            reviewer=engine.REGULATOR in actor.roles,
            states=engine.CASE_STATE_LABELS, title=self.show_title)

    @expose("/transition/<int:pk>", methods=["POST"])
    @has_access
    def transition(self, pk):
        case = self.datamodel.get(pk, self._base_filters)
        if case is None:
            abort(404)
        fire_from_request(case)
        return redirect(url_for(".show", pk=case.id))

    @expose("/claim/<int:pk>", methods=["POST"])
    @has_access
    def claim(self, pk):
        """A regulator takes an open case into "my queue" (not a state change)."""
        case = self.datamodel.get(pk, self._base_filters)
        if case is None:
            abort(404)
        if engine.REGULATOR not in engine.actor_for(g.user).roles or \
                case.state not in engine.OPEN_STATES:
            abort(403)
        case.assignee_id = g.user.id
        db.session.commit()
        flash(gettext("Case %(ref)s is now in your queue.", ref=case.reference), "success")
        return redirect(url_for(".show", pk=case.id))


class FilterQueueTab(BaseFilter):
    """The queue's tab (?tab=mine|overdue|all) as a base filter, so counts, paging and the
    export agree with what is shown."""

    name = "Queue tab"
    arg_name = "queue_tab"

    def apply(self, query, value):
        tab = request.args.get("tab", "all")
        query = query.filter(Application.state.in_(engine.AWAITING_REVIEW))
        if tab == "mine":
            return query.filter(Application.assignee_id == getattr(g.user, "id", None))
        if tab == "overdue":
            today = datetime.date.today()
            return query.filter(or_(Application.deadline < today,
                                    Application.stage_deadline < today))
        return query


class ReviewQueueView(ApplicationView):
    """Cases awaiting review in the jurisdiction, most urgent first."""

    route_base = "/review"
    class_permission_name = PV_REVIEW
    base_permissions = ["can_list", "can_show", "can_export"]
    method_permission_name = {"list": "list", "show": "show", "export": "export"}
    list_title = _l("Review queue")
    list_template = "workflow/queue.html"
    export_title = "review-queue"
    # The state names the stage of a staged review (待受理 / 审查中 / 待决定).
    list_columns = ["reference", "title", "kind_label", "enterprise.name", "state_label",
                    "submitted_on", "deadline", "overdue", "assignee"]
    base_order = ("deadline", "asc")
    base_filters = [["enterprise_id", FilterInTenantScope, lambda: None],
                    ["state", FilterQueueTab, lambda: None]]

    def render_template(self, template, **kwargs):
        kwargs["queue_tab"] = request.args.get("tab", "all")
        return super().render_template(template, **kwargs)

    @expose("/show/<int:pk>")
    @has_access
    def show(self, pk):
        """The row's open icon: the case page (where the transitions are)."""
        return redirect(url_for("ApplicationView.show", pk=pk))


class ApplicationApi(AppModelRestApi):
    """Cases with their history; POST /<id>/transition fires a transition through the
    engine (same roles, guards and scope as the UI)."""

    resource_name = "application"
    datamodel = SQLAInterface(Application)
    class_permission_name = PV_APPLICATION
    method_permission_name = {**API_METHOD_PERMISSIONS, "transition": "transition"}
    include_route_methods = {"get", "get_list", "info", "transition"}
    list_columns = ["id", "reference", "kind", "title", "state", "enterprise_id",
                    "subject_id", "channel", "submitted_on", "deadline", "decided_on",
                    "last_opinion", "version"]
    show_columns = [*list_columns, "payload", "history.name", "history.from_state",
                    "history.to_state", "history.actor_name", "history.at",
                    "history.opinion", "history.on_behalf"]
    search_columns = ["reference", "kind", "state", "submitted_on", "deadline"]
    order_columns = ["id", "reference", "submitted_on", "deadline"]
    base_filters = [["enterprise_id", FilterInTenantScope, lambda: None]]

    @api_expose("/<int:pk>/transition", methods=["POST"])
    @protect()
    @safe
    def transition(self, pk):
        """Fire a transition.
        ---
        post:
          parameters:
          - in: path
            schema:
              type: integer
            name: pk
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    name: {type: string, example: approve}
                    opinion: {type: string}
                    version: {type: integer}
          responses:
            200:
              description: the case after the transition
            403:
              $ref: '#/components/responses/401'
            404:
              $ref: '#/components/responses/404'
            409:
              description: not possible in this state, or changed by someone else
            422:
              description: opinion missing or a guard refused
        """
        case = self.datamodel.get(pk, self._base_filters)
        if case is None:
            return self.response_404()
        body = request.get_json(silent=True) or {}
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            return self.response_400(message=gettext("Give the transition name."))
        try:
            engine.fire(case, body["name"], engine.actor_for(g.user),
                        opinion=body.get("opinion") if isinstance(body.get("opinion"), str)
                        else None, expected_version=body.get("version"))
        except DomainError as exc:
            return self.response(exc.code, message=str(exc),
                                 reasons=getattr(exc, "reasons", None))
        except (TypeError, ValueError):
            return self.response_400(message=gettext("The version must be a number."))
        return self.response(200, id=case.id, state=case.state, version=case.version,
                             reference=case.reference)
