"""The inbox (SPEC X15): to-do, submitted and processed cases, and the user's notifications,
as a page (/inbox/) and an API (/api/v1/inbox/). Notifications are the user's own: another
user's id answers 404."""

from __future__ import annotations

from flask import abort, current_app, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.api import BaseApi
from flask_appbuilder.security.decorators import has_access, protect

from app.extensions import db
from app.security import PV_INBOX
from app.services import inbox, notify

LIST_LIMIT = 20
NOTICE_PAGE_SIZE = 20

_PERMISSIONS = {"index": "list", "mark_read": "list", "mark_all_read": "list"}


def _page_arg() -> int:
    try:
        return max(1, int(request.args.get("npage", 1)))
    except (TypeError, ValueError):
        return 1


class InboxView(BaseView):
    route_base = "/inbox"
    default_view = "index"
    class_permission_name = PV_INBOX
    method_permission_name = _PERMISSIONS

    @expose("/")
    @has_access
    def index(self):
        user = g.user
        page = _page_arg()
        total = notify.count_for(user.id)
        pages = max(1, -(-total // NOTICE_PAGE_SIZE))
        page = min(page, pages)
        reviewer = inbox.is_reviewer(user)
        return self.render_template(
            "inbox/index.html",
            reviewer=reviewer,
            enterprise=bool(user.enterprise_id),
            todo=inbox.todo_items(LIST_LIMIT, user),
            other_todos=inbox.other_todos(LIST_LIMIT, user),
            submitted=[] if reviewer else inbox.submitted_items(LIST_LIMIT, user),
            processed=inbox.processed_items(LIST_LIMIT, user),
            notices=notify.notifications_for(user.id, NOTICE_PAGE_SIZE,
                                             (page - 1) * NOTICE_PAGE_SIZE),
            notice_page=page, notice_pages=pages,
            counts=inbox.counts(user),
            unread=notify.unread_count(user.id),
            appbuilder=self.appbuilder)

    @expose("/notifications/<int:pk>/read", methods=["POST"])
    @has_access
    def mark_read(self, pk):
        item = notify.get_own(g.user.id, pk)
        if item is None or not notify.mark_read(g.user.id, pk):
            abort(404)
        link = item.link
        db.session.commit()
        if request.form.get("go") and link:
            return redirect(notify.check_link(link))
        return redirect(url_for("InboxView.index") + "#notices")

    @expose("/notifications/read-all", methods=["POST"])
    @has_access
    def mark_all_read(self):
        notify.mark_all_read(g.user.id)
        db.session.commit()
        return redirect(url_for("InboxView.index") + "#notices")


class InboxApi(BaseApi):
    resource_name = "inbox"
    class_permission_name = PV_INBOX
    method_permission_name = {"get": "list", "mark_read": "list", "mark_all_read": "list"}
    allow_browser_login = False
    openapi_spec_tag = "Inbox"

    @expose("/", methods=["GET"])
    @protect()
    def get(self):
        """The user's to-do, submitted and processed cases, latest notifications and counts.
        ---
        get:
          parameters:
          - {in: query, name: limit, schema: {type: integer, maximum: 100}}
          responses:
            200:
              description: the inbox
            401:
              $ref: '#/components/responses/401'
        """
        try:
            limit = min(100, max(1, int(request.args.get("limit", LIST_LIMIT))))
        except (TypeError, ValueError):
            limit = LIST_LIMIT
        user = g.user
        cases = inbox.case_dict
        return self.response(
            200,
            counts=inbox.counts(user),
            todo=[cases(c) for c in inbox.todo_items(limit, user)],
            other_todos=[inbox.todo_dict(t) for t in inbox.other_todos(limit, user)],
            submitted=[cases(c) for c in inbox.submitted_items(limit, user)],
            processed=[cases(c) for c in inbox.processed_items(limit, user)],
            notifications=[notify.to_dict(n) for n in notify.notifications_for(user.id,
                                                                               limit)])

    @expose("/notifications/<int:pk>/read", methods=["POST"])
    @protect()
    def mark_read(self, pk):
        """Mark one of the user's notifications read.
        ---
        post:
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          responses:
            200:
              description: marked read
            404:
              $ref: '#/components/responses/404'
        """
        if not notify.mark_read(g.user.id, pk):
            db.session.rollback()
            return self.response_404()
        db.session.commit()
        return self.response(200, message="OK")

    @expose("/notifications/read-all", methods=["POST"])
    @protect()
    def mark_all_read(self):
        """Mark all of the user's notifications read.
        ---
        post:
          responses:
            200:
              description: how many were unread
        """
        count = notify.mark_all_read(g.user.id)
        db.session.commit()
        return self.response(200, count=count)


def _unread_for_navbar() -> int | None:
    """The navbar badge: None when the user has no inbox (anonymous, no permission)."""
    user = getattr(g, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if not current_app.appbuilder.sm.has_access("can_list", PV_INBOX):
        return None
    return notify.unread_count(user.id)


def register_jinja_globals(app) -> None:
    """Helpers the inbox macros (app/templates/inbox/_lists.html) and the navbar use."""
    app.jinja_env.globals.update(
        inbox_unread_count=_unread_for_navbar,
        case_url=inbox.case_url,
        case_list_url=inbox.case_list_url,
        case_state_label=inbox.case_state_label,
        case_is_overdue=inbox.is_overdue,
    )
