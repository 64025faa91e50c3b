"""Shared view machinery: page-size cap, xlsx export of the current filtered list (list views
and REST APIs alike), domain error mapping, a datamodel that counts cheaply."""

from __future__ import annotations

import copy
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
from flask_appbuilder.models.sqla.filters import (
    FilterStartsWith,
    SQLAFilterConverter,
    get_field_setup_query,
)
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access, permission_name, protect
from flask_appbuilder.widgets import ListWidget
from flask_babel import gettext, ngettext
from sqlalchemy import and_, false, func
from sqlalchemy.orm import joinedload
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest

from app.errors import DomainError
from app.extensions import db
from app.models.base import (
    AUTHORITY,
    ENTERPRISE,
    current_scope,
    unscoped,
)
from app.security import API_METHOD_PERMISSIONS
from app.services import export as export_service
from app.services.jobs import JobLimitError, remove_file


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
            # The ORM hook adds the (sector-aware) jurisdiction criteria to this very query,
            # count included; repeating thousands of ids here would only double the work.
            return query
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
        """Each side reads its own arguments: the list's query string (AppModelView) or the
        API's rison `q` (AppModelRestApi)."""
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


# A list counts at most this many rows and then shows "10,000+" (config LIST_COUNT_CAP).
COUNT_CAP = 10_000
MAX_PAGE = 10_000_000
# Pages starting past this row fetch their ids first from the narrowest index (deferred join).
DEFERRED_JOIN_FROM = 1_000


class FilterPrefix(FilterStartsWith):
    """FAB's "starts with" is `ilike('x%')`, which no index serves. This one is a prefix that a
    plain (SQLite) or text_pattern_ops (PostgreSQL) b-tree index serves: case-sensitive, as
    plates, VINs, USCCs and Chinese names are. A column whose `info` has `"upper": True`
    upper-cases the value first (plates, VINs)."""

    def apply(self, query, value):
        query, field = get_field_setup_query(query, self.model, self.column_name)
        value = value or ""
        column = getattr(self.model, self.column_name.split(".")[-1], None)
        info = getattr(getattr(column, "property", None), "columns", [None])[0]
        if info is not None and getattr(info, "info", {}).get("upper"):
            value = value.upper()
        if not value:
            return query
        if db.session.get_bind().dialect.name == "sqlite":
            # SQLite's LIKE is case-insensitive and skips the index; a BINARY range does not.
            return query.filter(and_(field >= value, field < value + "\U0010ffff"))
        return query.filter(field.startswith(value, autoescape=True))


class AppFilterConverter(SQLAFilterConverter):
    conversion_table = tuple(
        (kind, [FilterPrefix if f is FilterStartsWith else f for f in filters])
        for kind, filters in SQLAFilterConverter.conversion_table
    )


class AppSQLAInterface(SQLAInterface):
    """FAB's datamodel, made to stay fast on large tables (DESIGN.md, FAB facts):
    - the count stops at COUNT_CAP + 1 rows (a LIMITed subquery) instead of `count(*)` over
      the whole filtered table; the list shows "10,000+";
    - under the default id order, `after`/`before` keyset cursors fetch the next/previous
      page with an index range instead of an OFFSET walk, and deep page numbers fetch the
      boundary id from an id-only query first (deferred join);
    - related columns listed with dots (`enterprise.name`) are eager-loaded: no N+1;
    - "starts with" filters are index-served prefixes (FilterPrefix)."""

    filter_converter_class = AppFilterConverter

    def __init__(self, obj, session=None, eager: tuple[str, ...] = ()):
        super().__init__(obj, session)
        self.eager = tuple(eager)

    @property
    def count_cap(self) -> int:
        return int(current_app.config.get("LIST_COUNT_CAP", COUNT_CAP))

    def query_count(self, query, filters=None, select_columns=None) -> int:
        inner = self._apply_inner_all(query, filters, select_columns=select_columns,
                                      aliases_mapping={})
        # The primary key, not a bare `1`: with no filter naming the table, `SELECT 1` lost
        # its FROM (and the tenancy criteria with it) and every unfiltered list of an
        # authority or an admin counted one row.
        pk = getattr(self.obj, self.get_pk_name())
        capped = (inner.enable_eagerloads(False).with_entities(pk)
                  .order_by(None).limit(self.count_cap + 1).subquery())
        return self.session.query(func.count()).select_from(capped).scalar()

    def _keyset_order(self, order_column, order_direction) -> bool:
        return order_column in ("", self.get_pk_name())

    def query(self, filters=None, order_column="", order_direction="", page=None,
              page_size=None, select_columns=None, outer_default_load=False, after=None,
              before=None):
        pk = getattr(self.obj, self.get_pk_name(), None) if self.get_pk_name() else None
        # A forged page number beyond any table (2**63 overflows the database's integers)
        # is an empty page, not a server error.
        page = min(max(page or 0, 0), MAX_PAGE)
        offset = page * (page_size or 0)
        keyset = (pk is not None and page_size and not select_columns
                  and self._keyset_order(order_column, order_direction)
                  and (after is not None or before is not None or offset >= DEFERRED_JOIN_FROM))
        if not keyset:
            count, rows = super().query(filters, order_column, order_direction, page,
                                        page_size, select_columns, outer_default_load)
            return count, rows
        desc = order_direction != "asc"
        base = self.session.query(self.obj)
        count = self.query_count(base, filters)
        if after is not None or before is not None:
            bound = after if after is not None else before
            forward = after is not None
            older = forward == desc  # rows with smaller ids come next under id desc
            cond = pk < bound if older else pk > bound
            q = self._apply_inner_all(base, filters, aliases_mapping={}).filter(cond)
            q = q.order_by(pk.desc() if older else pk.asc()).limit(page_size)
            rows = q.options(*self._eager_options()).all()
            if not forward:
                rows.reverse()
            return count, rows
        # Deep page number: the boundary id from an id-only query, then an index range.
        ids = self._apply_inner_all(base, filters, order_column or self.get_pk_name(),
                                    "desc" if desc else "asc", aliases_mapping={})
        boundary = (ids.enable_eagerloads(False).with_entities(pk).offset(offset).limit(1)
                    .scalar())
        if boundary is None:
            return count, []
        cond = pk <= boundary if desc else pk >= boundary
        q = self._apply_inner_all(base, filters, aliases_mapping={}).filter(cond)
        rows = (q.order_by(pk.desc() if desc else pk.asc()).limit(page_size)
                .options(*self._eager_options()).all())
        return count, rows

    def _eager_options(self):
        return [joinedload(getattr(self.obj, rel)) for rel in self.eager
                if self.is_relation(rel)]

    def apply_all(self, query, filters=None, order_column="", order_direction="", page=None,
                  page_size=None, select_columns=None, outer_default_load=False):
        query = super().apply_all(query, filters, order_column, order_direction, page,
                                  page_size, select_columns, outer_default_load)
        if not select_columns:
            query = query.options(*self._eager_options())
        return query


class AppListWidget(ListWidget):
    """FAB's list table with our header: the capped count ("10,000+") and pagination that
    follows keyset cursors past the counted rows."""

    template = "regportal/widgets/list.html"


def _page_url(view_name: str):
    """URL builder for the list's pagination: page number plus an optional keyset cursor;
    other arguments (filters, order, page size) are kept, stale cursors dropped."""

    def build(page: int, after=None, before=None) -> str:
        args = request.args.to_dict()
        for key in ("page", "after", "before"):
            args.pop(f"{key}_{view_name}", None)
        if page:
            args[f"page_{view_name}"] = page
            if after is not None:
                args[f"after_{view_name}"] = after
            if before is not None:
                args[f"before_{view_name}"] = before
        return url_for(request.endpoint, **(request.view_args or {}), **args)

    return build


def _list_relations(columns) -> tuple[str, ...]:
    return tuple(dict.fromkeys(c.split(".")[0] for c in columns or [] if "." in c))


class AppModelView(ExportMixin, ModelView):
    """ModelView with our defaults: capped page size, translated messages, export, a fast
    datamodel for large tables."""

    page_size = 25
    list_template = "regportal/list.html"
    list_widget = AppListWidget
    # FAB's file-column download route serves UPLOAD_FOLDER unscoped: we never use it.
    exclude_route_methods = {"download"}

    def __init__(self, **kwargs):
        # Every list gets the fast datamodel (capped count, keyset pages, eager relations,
        # index-served prefix filters), whatever the view declared.
        dm = self.datamodel
        if dm is not None and type(dm) is SQLAInterface:
            self.datamodel = AppSQLAInterface(dm.obj, dm.session,
                                              eager=_list_relations(self.list_columns))
        super().__init__(**kwargs)
        # Lists and detail pages show blanks and 是/否, never "None" / "True".
        for column in {*(self.list_columns or []), *(self.show_columns or [])}:
            self.formatters_columns.setdefault(column, display_value)

    def _get_list_widget(self, filters, actions=None, order_column="", order_direction="",
                         page=None, page_size=None, widgets=None, **kwargs):
        """FAB's list widget, plus a page-size cap, a capped count and keyset cursors
        (`after_<View>=<id>` / `before_<View>=<id>`) for the next/previous links."""
        if order_column and order_column not in (self.order_columns or []):
            order_column, order_direction = "", ""  # `_oc_` must name a sortable column
        cap = current_app.config.get("FAB_MAX_PAGE_SIZE", 100)
        if page_size is not None and (page_size <= 0 or page_size > cap):
            page_size = cap
        widgets = widgets or {}
        actions = actions or self.actions
        page_size = page_size or self.page_size
        if not order_column and self.base_order:
            order_column, order_direction = self.base_order
        joined_filters = filters.get_joined_filters(self._base_filters)
        name = self.__class__.__name__
        cursor = {}
        if isinstance(self.datamodel, AppSQLAInterface):
            for key in ("after", "before"):
                raw = request.args.get(f"{key}_{name}", "")
                if raw.isdigit() and len(raw) <= 18:  # an id, not an overflow
                    cursor[key] = int(raw)
        count, lst = self.datamodel.query(joined_filters, order_column, order_direction,
                                          page=page, page_size=page_size, **cursor)
        pks = [self._serialize_pk_if_composite(pk) for pk in self.datamodel.get_keys(lst)]
        count_cap = getattr(self.datamodel, "count_cap", None)
        keyset = bool(count_cap) and self.datamodel._keyset_order(order_column,
                                                                   order_direction)
        widgets["list"] = self.list_widget(
            label_columns=self.label_columns,
            include_columns=self.list_columns,
            value_columns=self.datamodel.get_values(lst, self.list_columns),
            order_columns=self.order_columns,
            formatters_columns=self.formatters_columns,
            page=page,
            page_size=page_size,
            count=count,
            count_capped=bool(count_cap) and count > count_cap,
            count_cap=count_cap,
            keyset=keyset,
            first_pk=pks[0] if pks and keyset else None,
            last_pk=pks[-1] if pks and keyset else None,
            full_page=len(pks) == page_size,
            page_url=_page_url(name),
            pks=pks,
            actions=actions,
            filters=filters,
            modelview_name=name,
            **kwargs,
        )
        return widgets

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
        remove_file(path)
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
