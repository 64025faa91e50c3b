"""Shared view machinery: page-size cap, xlsx export of the current filtered list, domain
error mapping, a datamodel that counts cheaply."""

from __future__ import annotations

import os

from flask import after_this_request, current_app, request, send_file, url_for
from flask_appbuilder import ModelView
from flask_appbuilder.baseviews import expose
from flask_appbuilder.fields import QuerySelectMultipleField
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.filters import (
    FilterStartsWith,
    SQLAFilterConverter,
    get_field_setup_query,
)
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from flask_appbuilder.urltools import get_filter_args, get_order_args
from flask_appbuilder.widgets import ListWidget
from flask_babel import gettext
from sqlalchemy import and_, false, func, literal_column
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models.base import (
    AUTHORITY,
    ENTERPRISE,
    current_scope,
    jurisdiction_id_list,
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
            return query.filter(field.in_(jurisdiction_id_list(scope.authority_id)))
        return query.filter(false())


# A list counts at most this many rows and then shows "10,000+" (config LIST_COUNT_CAP).
COUNT_CAP = 10_000
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
        capped = (inner.enable_eagerloads(False).with_entities(literal_column("1"))
                  .order_by(None).limit(self.count_cap + 1).subquery())
        return self.session.query(func.count()).select_from(capped).scalar()

    def _keyset_order(self, order_column, order_direction) -> bool:
        return order_column in ("", self.get_pk_name())

    def query(self, filters=None, order_column="", order_direction="", page=None,
              page_size=None, select_columns=None, outer_default_load=False, after=None,
              before=None):
        pk = getattr(self.obj, self.get_pk_name(), None) if self.get_pk_name() else None
        offset = (page or 0) * (page_size or 0)
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


class AppModelView(ModelView):
    """ModelView with our defaults: capped page size, translated messages, export."""

    page_size = 25
    list_template = "regportal/list.html"
    list_widget = AppListWidget
    # FAB's file-column download route serves UPLOAD_FOLDER unscoped: we never use it.
    exclude_route_methods = {"download"}
    export_columns: list[str] | None = None  # default: list_columns
    export_title: str | None = None

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
                if raw.isdigit():
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
