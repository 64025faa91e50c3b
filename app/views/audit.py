"""Audit trail (SPEC X10): searchable, filterable, exportable; never editable or deletable
(no such route, no such permission)."""

from __future__ import annotations

import json

from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from app.models.audit import AuditEvent
from app.security import PV_AUDIT
from app.views.base import AppModelRestApi, AppModelView, FilterInTenantScope

AUDIT_LABELS = {
    "created_on": _l("Time"),
    "action": _l("Action"),
    "action_label": _l("Action"),
    "actor_name": _l("Actor"),
    "ip": _l("IP address"),
    "target_type": _l("Object type"),
    "target_id": _l("Object id"),
    "target_label": _l("Object"),
    "changes": _l("Changes"),
    "detail": _l("Detail"),
    "enterprise_id": _l("Enterprise id"),
}


TARGET_TYPE_LABELS = {
    "ab_user": _l("User"),
    "ab_role": _l("Role"),
    "enterprise": _l("Enterprise"),
    "authority": _l("Authority"),
    "enterprise_role": _l("Enterprise role"),
    "attachment": _l("Attachment"),
    "region": _l("Region"),
    "sector": _l("Sector"),
}


def _format_target_type(value):
    return str(TARGET_TYPE_LABELS.get(value, value or ""))


def _format_actor(value):
    return value or _l("System")


def _format_time(value):
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _format_changes(value):
    if not value:
        return ""
    try:
        data = json.loads(value)
    except ValueError:
        return value
    rows = "".join(
        f"<tr><td>{escape(k)}</td><td>{escape(v[0])}</td><td>{escape(v[1])}</td></tr>"
        for k, v in data.items() if isinstance(v, list) and len(v) == 2
    )
    return Markup(f'<table class="table table-condensed">{rows}</table>')


class AuditEventView(AppModelView):
    datamodel = SQLAInterface(AuditEvent)
    class_permission_name = PV_AUDIT
    route_base = "/audit"
    base_permissions = ["can_list", "can_show", "can_export"]
    # Append-only: no add/edit/delete/action routes exist at all.
    include_route_methods = {"list", "show", "export"}
    list_title = _l("Audit trail")
    show_title = _l("Audit event")
    export_title = "audit-trail"
    label_columns = AUDIT_LABELS
    list_columns = ["created_on", "action_label", "actor_name", "ip", "target_type",
                    "target_label", "detail"]
    show_columns = ["created_on", "action_label", "actor_name", "ip", "target_type",
                    "target_id", "target_label", "detail", "changes"]
    export_columns = ["created_on", "action", "actor_name", "ip", "target_type", "target_id",
                      "target_label", "detail", "changes"]
    search_columns = ["created_on", "action", "actor_name", "ip", "target_type", "target_id",
                      "target_label"]
    order_columns = ["created_on", "actor_name", "ip"]
    base_order = ("created_on", "desc")
    base_filters = [["enterprise_id", FilterInTenantScope, lambda: None]]
    formatters_columns = {
        "changes": _format_changes,
        "target_type": _format_target_type,
        "actor_name": _format_actor,
        "created_on": _format_time,
        "ip": lambda v: v or "",
        "detail": lambda v: v or "",
        "target_id": lambda v: v or "",
    }


class AuditEventApi(AppModelRestApi):
    resource_name = "audit_event"
    datamodel = SQLAInterface(AuditEvent)
    class_permission_name = PV_AUDIT
    include_route_methods = {"get", "get_list", "info"}
    list_columns = ["id", "created_on", "action", "actor_name", "ip", "target_type",
                    "target_id", "target_label", "detail"]
    show_columns = list_columns + ["changes"]
    search_columns = ["created_on", "action", "actor_name", "ip", "target_type", "target_id"]
    order_columns = ["created_on", "actor_name"]
    base_order = ("created_on", "desc")
    base_filters = [["enterprise_id", FilterInTenantScope, lambda: None]]
