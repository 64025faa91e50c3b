"""Shared view machinery: page-size cap, xlsx export of the current filtered list, domain
error mapping, a datamodel that counts cheaply."""

from __future__ import annotations

import os

from flask import after_this_request, current_app, request, send_file, url_for
from flask_appbuilder import ModelView
from flask_appbuilder.baseviews import expose
from flask_appbuilder.fields import QuerySelectMultipleField
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.filters import get_field_setup_query
from flask_appbuilder.security.decorators import has_access
from flask_appbuilder.urltools import get_filter_args, get_order_args
from flask_babel import gettext
from sqlalchemy import false

from app.extensions import db
from app.models.base import (
    AUTHORITY,
    ENTERPRISE,
    current_scope,
    jurisdiction_enterprise_ids,
    unscoped,
)
from app.services import audit, xlsx


class FilterInTenantScope(BaseFilter):
    """base_filters twin of the ORM loader criteria, so counts and filters agree:
    `base_filters = [["enterprise_id", FilterInTenantScope, lambda: None]]`."""

    name = "In scope"
    arg_name = "tenant_scope"

    def apply(self, query, value):
        query, field = get_field_setup_query(query, self.model, self.column_name)
        scope = current_scope()
        if scope is None or scope.unrestricted:
            return query
        if scope.kind == ENTERPRISE:
            return query.filter(field == scope.enterprise_id)
        if scope.kind == AUTHORITY:
            return query.filter(field.in_(jurisdiction_enterprise_ids(scope.authority_id)))
        return query.filter(false())


class AppModelView(ModelView):
    """ModelView with our defaults: capped page size, translated messages, export."""

    page_size = 25
    list_template = "regportal/list.html"
    # FAB's file-column download route serves UPLOAD_FOLDER unscoped: we never use it.
    exclude_route_methods = {"download"}
    export_columns: list[str] | None = None  # default: list_columns
    export_title: str | None = None

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # Lists and detail pages show blanks and 是/否, never "None" / "True".
        for column in {*(self.list_columns or []), *(self.show_columns or [])}:
            self.formatters_columns.setdefault(column, display_value)

    def _get_list_widget(self, filters, actions=None, order_column="", order_direction="",
                         page=None, page_size=None, widgets=None, **kwargs):
        if order_column and order_column not in (self.order_columns or []):
            order_column, order_direction = "", ""  # `_oc_` must name a sortable column
        cap = current_app.config.get("FAB_MAX_PAGE_SIZE", 100)
        if page_size is not None and (page_size <= 0 or page_size > cap):
            page_size = cap
        return super()._get_list_widget(filters, actions=actions, order_column=order_column,
                                         order_direction=order_direction, page=page,
                                         page_size=page_size, widgets=widgets, **kwargs)

    def render_template(self, template, **kwargs):
        if template == self.list_template and "can_export" in (self.base_permissions or []) \
                and self.appbuilder.sm.has_access("can_export", self.class_permission_name):
            query = request.query_string.decode()
            kwargs["export_url"] = url_for(f"{self.endpoint}.export") + (
                f"?{query}" if query else "")
        return super().render_template(template, **kwargs)

    # ---- export (X11): exactly the rows of the current filters, within the user's scope --
    def export_query(self):
        get_filter_args(self._filters)
        joined = self._filters.get_joined_filters(self._base_filters)
        order_column, order_direction = get_order_args().get(
            self.__class__.__name__, self.base_order or ("", "")
        )
        if order_column not in (self.order_columns or []):
            order_column, order_direction = self.base_order or ("", "")
        query = self.datamodel.session.query(self.datamodel.obj)
        query = self.datamodel._apply_inner_all(query, joined, order_column, order_direction,
                                                aliases_mapping={})
        return query

    @expose("/export/")
    @has_access
    def export(self):
        columns = self.export_columns or self.list_columns
        headers = [self.label_columns.get(c, c) for c in columns]

        def rows():
            for item in self.export_query().yield_per(1000):
                yield [_column_value(self, item, c) for c in columns]

        path = xlsx.write_workbook(headers, rows(), sheet_title=str(self.list_title or "")[:31])
        audit.record(db.session, "export", target_type=self.datamodel.obj.__tablename__,
                     detail=request.query_string.decode(errors="replace")[:500])
        db.session.commit()

        @after_this_request
        def _cleanup(response):
            try:
                os.remove(path)
            except OSError:
                pass
            return response

        name = f"{self.export_title or self.datamodel.obj.__tablename__}.xlsx"
        return send_file(path, as_attachment=True, download_name=name,
                         mimetype="application/vnd.openxmlformats-officedocument"
                                  ".spreadsheetml.sheet")


def display_value(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return gettext("Yes") if value else gettext("No")
    if hasattr(value, "strftime") and hasattr(value, "hour"):
        return value.strftime("%Y-%m-%d %H:%M")
    return value


def _column_value(view, item, column):
    """Raw value for the spreadsheet (HTML formatters of the list page do not apply);
    a view may give `export_formatters` for columns that need one."""
    formatter = getattr(view, "export_formatters", {}).get(column)
    value = getattr(item, column, None)
    if "." in column:
        value = item
        for part in column.split("."):
            value = getattr(value, part, None) if value is not None else None
    if callable(value):
        value = value()
    if formatter:
        value = formatter(value)
    if hasattr(value, "__iter__") and not isinstance(value, (str, bytes)):
        value = "、".join(str(v) for v in value)
    return value



class StrictQuerySelectMultipleField(QuerySelectMultipleField):
    """FAB's field checks its 'invalid submitted id' flag before computing it, so a forged id
    outside the query is silently dropped. Compute first, then refuse with a message."""

    def pre_validate(self, form):
        _ = self.data  # resolves the submitted ids and sets _invalid_formdata
        super().pre_validate(form)


class UniqueAcrossTenants:
    """WTForms validator: the value is unique in the whole table, not just in the caller's
    scope (the scoped session would miss other tenants' rows and leave the database to
    refuse with an integrity error instead of a clear message)."""

    def __init__(self, column, message, case_insensitive: bool = False):
        self.column = column
        self.message = message
        self.case_insensitive = case_insensitive

    def __call__(self, form, field):
        from sqlalchemy import func
        from wtforms.validators import ValidationError

        model = self.column.class_
        value = field.data or ""
        condition = (func.lower(self.column) == value.lower()) if self.case_insensitive else (
            self.column == value)
        with unscoped(), db.session.no_autoflush:
            q = db.session.query(model.id).filter(condition)
            pk = request.view_args.get("pk") if request.view_args else None
            if pk is not None:
                q = q.filter(model.id != int(pk))
            exists = q.first() is not None
        if exists:
            raise ValidationError(str(self.message))


__all__ = ["AppModelView", "FilterInTenantScope", "StrictQuerySelectMultipleField",
           "UniqueAcrossTenants", "display_value"]
