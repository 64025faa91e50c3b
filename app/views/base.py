"""Shared view machinery: page-size cap, xlsx export of the current filtered list (list views
and REST APIs alike), domain error mapping, a datamodel that counts cheaply."""

from __future__ import annotations

import copy
import os
import re
from urllib.parse import parse_qsl

import prison
from flask import (
    after_this_request,
    current_app,
    flash,
    redirect,
    request,
    send_file,
    url_for,
)
from flask_appbuilder import ModelView
from flask_appbuilder.api import ModelRestApi, get_list_schema, rison, safe
from flask_appbuilder.baseviews import expose
from flask_appbuilder.const import API_FILTERS_RIS_KEY, API_URI_RIS_KEY
from flask_appbuilder.exceptions import FABException
from flask_appbuilder.fields import QuerySelectMultipleField
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.filters import get_field_setup_query
from flask_appbuilder.security.decorators import has_access, permission_name, protect
from flask_babel import gettext, ngettext
from sqlalchemy import false
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest

from app.errors import DomainError
from app.extensions import db
from app.models.base import (
    AUTHORITY,
    ENTERPRISE,
    current_scope,
    jurisdiction_enterprise_ids,
    unscoped,
)
from app.security import API_METHOD_PERMISSIONS
from app.services import export as export_service
from app.services.jobs import JobLimitError


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


class ExportMixin:
    """X11 export shared by list views and APIs: the list's scoped, filtered, ordered query
    rebuilt from saved request arguments, columns, headers in the UI language and values.
    `app.services.export` does the rest (sync or background job, audit).

    A view or API may set `export_columns` (default: list_columns), `export_title` (file
    name stem) and `export_formatters` ({column: fn(value)} for raw values needing one)."""

    export_columns: list[str] | None = None
    export_title: str | None = None
    export_formatters: dict = {}

    def _export_criteria(self, args: str):  # -> (user filters, order column, direction)
        raise NotImplementedError

    def export_query(self, args: str = ""):
        """The rows the list shows for `args` (all pages), in its order, in scope."""
        filters, order_column, order_direction = self._export_criteria(args)
        joined = filters.get_joined_filters(self._base_filters)
        query = self.datamodel.session.query(self.datamodel.obj)
        return self.datamodel._apply_inner_all(query, joined, order_column, order_direction,
                                                aliases_mapping={})

    def export_filter_text(self, args: str) -> str:
        """The user's filters in words, for the audit trail: "Actor contains ent.a"."""
        filters, _oc, _od = self._export_criteria(args)
        parts = []
        for flt, value in filters.get_filters_values():
            label = self.export_label(flt.column_name)
            if isinstance(value, list):
                value = ", ".join(str(v) for v in value)
            parts.append(f"{label} {flt.name} {value}")
        return "; ".join(parts)

    def export_column_names(self) -> list[str]:
        return list(self.export_columns or self.list_columns)

    def export_label(self, column: str) -> str:
        return self.label_columns.get(column, column)

    def export_headers(self) -> list[str]:
        return [str(self.export_label(c)) for c in self.export_column_names()]

    def export_value(self, item, column: str):
        value = export_service.column_value(item, column)
        formatter = (self.export_formatters or {}).get(column)
        if formatter:
            value = formatter(value)
        return export_service.flatten(value)

    def export_title_text(self) -> str:
        return str(self.list_title or self.export_title or self.datamodel.obj.__tablename__)

    def export_file_stem(self) -> str:
        return self.export_title or self.datamodel.obj.__tablename__


class AppModelView(ExportMixin, ModelView):
    """ModelView with our defaults: capped page size, translated messages, export."""

    page_size = 25
    list_template = "regportal/list.html"
    # FAB's file-column download route serves UPLOAD_FOLDER unscoped: we never use it.
    exclude_route_methods = {"download"}

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
    def _export_criteria(self, args: str):
        """The list's own filters and order, read from a saved query string (what
        get_filter_args/get_order_args read from the request)."""
        params = MultiDict(parse_qsl(args or "", keep_blank_values=True))
        filters = copy.copy(self._filters)
        filters.clear_filters()
        allowed = filters.get_search_filters()
        for arg in params:
            match = re.fullmatch(r"_flt_(\d)_(.*)", arg)
            if match and match.group(2) in allowed and int(match.group(1)) < len(
                    filters._all_filters.get(match.group(2), ())):
                filters.add_filter_index(match.group(2), int(match.group(1)),
                                         params.getlist(arg))
        name = self.__class__.__name__
        order_column = params.get(f"_oc_{name}", "")
        order_direction = params.get(f"_od_{name}", "")
        if order_column not in (self.order_columns or []) or order_direction not in (
                "asc", "desc"):
            order_column, order_direction = self.base_order or ("", "")
        return filters, order_column, order_direction

    @expose("/export/")
    @has_access
    def export(self):
        try:
            outcome = export_service.start(self, request.query_string.decode(errors="replace"))
        except DomainError as exc:
            flash(str(exc), "warning")
            return redirect(url_for("JobView.list"))
        if outcome.job is not None:
            flash(ngettext("%(num)d row is being exported in the background. The file will "
                           "be ready in My downloads.",
                           "%(num)d rows are being exported in the background. The file will "
                           "be ready in My downloads.", outcome.rows), "info")
            return redirect(url_for("JobView.list"))
        return send_and_remove(outcome.path, outcome.download_name, export_service.XLSX_MIME)


class AppModelRestApi(ExportMixin, ModelRestApi):
    """ModelRestApi with our defaults: no cookie login, permissions shared with the twin
    ModelView (one grant covers UI and API), and `GET /api/v1/<resource>/export?q=` (X11)."""

    allow_browser_login = False
    method_permission_name = API_METHOD_PERMISSIONS

    def __init__(self):
        # FAB fills label_columns with prettified names for every column: remember the ones
        # the class declares (translated), the rest come from the twin ModelView.
        self._declared_label_columns = dict(type(self).label_columns or {})
        if self.include_route_methods is not None:
            self.include_route_methods = set(self.include_route_methods) | {"export"}
        super().__init__()

    def _export_criteria(self, args: str):
        rison_args = prison.loads(args) if args else {}
        if not isinstance(rison_args, dict):
            raise BadRequest(gettext("Invalid export arguments."))
        filters = copy.copy(self._filters)
        filters.clear_filters()
        filters.rest_add_filters(rison_args.get(API_FILTERS_RIS_KEY, []))
        order_column, order_direction = self._handle_order_args(rison_args)
        return filters, order_column, order_direction

    def export_label(self, column: str) -> str:
        declared = self._declared_label_columns.get(column)
        if declared:
            return declared
        twin = self._export_twin()
        if twin is not None:
            label = twin.label_columns.get(column) or twin.label_columns.get(
                column.split(".")[0])
            if label:
                return label
        return self.label_columns.get(column, column)

    def export_title_text(self) -> str:
        twin = self._export_twin()
        if twin is not None:
            return twin.export_title_text()
        return str(self.list_title or self.resource_name)

    def export_file_stem(self) -> str:
        twin = self._export_twin()
        return self.export_title or (twin.export_file_stem() if twin is not None
                                     else self.resource_name)

    def _export_twin(self):
        """The ModelView over the same model and permission (labels, titles)."""
        if not hasattr(self, "_export_twin_view"):
            self._export_twin_view = next(
                (v for v in self.appbuilder.baseviews if isinstance(v, AppModelView)
                 and v.class_permission_name == self.class_permission_name
                 and v.datamodel.obj is self.datamodel.obj), None)
        return self._export_twin_view

    @expose("/export", methods=["GET"])
    @protect()
    @safe
    @permission_name("export")
    @rison(get_list_schema)
    def export(self, **kwargs):
        """Export the filtered list to .xlsx
        ---
        get:
          description: >-
            The rows `get_list` would return for the same rison `q` (filters and order;
            paging ignored), within the caller's scope, as an .xlsx workbook with headers in
            the UI language. Larger exports (above EXPORT_SYNC_MAX_ROWS rows) run as a
            background job: the answer is 202 with the job's id; poll
            `/api/v1/job/{id}` and fetch `/api/v1/job/{id}/download` when it is done.
          parameters:
          - in: query
            name: q
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/get_list_schema'
          responses:
            200:
              description: The workbook
              content:
                application/vnd.openxmlformats-officedocument.spreadsheetml.sheet:
                  schema:
                    type: string
                    format: binary
            202:
              description: A background job was queued
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      job_id:
                        type: integer
                      rows:
                        type: integer
                      state:
                        type: string
                      status_url:
                        type: string
                      download_url:
                        type: string
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
            429:
              description: Too many of the caller's jobs are waiting or running
        """
        try:
            outcome = export_service.start(self, request.args.get(API_URI_RIS_KEY, ""))
        except FABException as exc:
            return self.response_400(message=str(exc))
        except JobLimitError as exc:
            return self.response(429, message=str(exc))
        if outcome.job is not None:
            job_id = outcome.job.id
            return self.response(202, job_id=job_id, rows=outcome.rows,
                                 state=outcome.job.state,
                                 status_url=url_for("JobApi.get", pk=job_id),
                                 download_url=url_for("JobApi.download", pk=job_id))
        return send_and_remove(outcome.path, outcome.download_name, export_service.XLSX_MIME)


def send_and_remove(path: str, download_name: str, mimetype: str):
    """Send a temporary file and remove it once the response is sent."""

    @after_this_request
    def _cleanup(response):
        try:
            os.remove(path)
        except OSError:
            pass
        return response

    return send_file(path, as_attachment=True, download_name=download_name, mimetype=mimetype,
                     max_age=0)


def display_value(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return gettext("Yes") if value else gettext("No")
    if hasattr(value, "strftime") and hasattr(value, "hour"):
        return value.strftime("%Y-%m-%d %H:%M")
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


__all__ = ["AppModelRestApi", "AppModelView", "ExportMixin", "FilterInTenantScope",
           "StrictQuerySelectMultipleField", "UniqueAcrossTenants", "display_value",
           "send_and_remove"]
