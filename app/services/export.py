"""The one .xlsx exporter (SPEC X11) behind every list view and REST API.

A source is a list view or API with the export mixin (`app.views.base.ExportMixin`): it turns
saved request arguments (the list's query string, or the API's rison `q`) into its scoped,
filtered, ordered query, and names the columns and headers. This module:
- counts the rows; up to EXPORT_SYNC_MAX_ROWS it writes the workbook at once and the request
  downloads it; above, it creates a background job ("my downloads", with progress) that
  rebuilds the same query from the same arguments, under the owner's scope;
- writes every export to the audit trail with its filter, sync or job;
- reads rows in primary-key chunks (ids first, then 1,000 rows at a time) and writes them
  with openpyxl's write-only mode: flat memory, no cursor held open between chunks (progress
  can be committed meanwhile, even on SQLite), scope applied to every query.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext, ngettext
from sqlalchemy import inspect
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.services import audit, jobs, xlsx

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CHUNK = 1000


class ExportSourceError(jobs.JobRefusedError):
    """The list behind a saved export is gone, or the owner may not export it any more."""


@dataclass
class Outcome:
    """What an export request produced: a file to send now, or a queued job."""

    path: str | None = None
    download_name: str | None = None
    rows: int = 0
    job: object | None = None


def start(source, args: str, *, force_job: bool = False) -> Outcome:
    """Export the rows `source` selects for `args` (as the request gave them): a file now
    when they are few, else a background job. Audited either way (caller's request)."""
    query = source.export_query(args)
    count = query.order_by(None).count()
    name = f"{source.export_file_stem()}.xlsx"
    limit = current_app.config.get("EXPORT_SYNC_MAX_ROWS", 5000)
    if count <= limit and not force_job:
        path = xlsx.temp_path()
        try:
            rows = write(source, query, path)
        except BaseException:
            jobs.remove_file(path)
            raise
        _audit(source, args, rows)
        db.session.commit()
        return Outcome(path=path, download_name=name, rows=rows)
    params = {"source": type(source).__name__, "args": args, "name": name}
    title = gettext("Export: %(list)s", list=source.export_title_text())
    job = jobs.create("export", params, title=title)
    _audit(source, args, count, job_id=job.id)
    job_id = job.id
    db.session.commit()
    jobs.enqueue(job_id)
    return Outcome(rows=count, job=job)


def write(source, query, path: str, progress: Callable | None = None) -> int:
    """Write the rows of `query` to an .xlsx file at `path`; returns the row count."""
    columns = source.export_column_names()
    headers = source.export_headers()
    values = source.export_value

    def rows():
        for item in iter_items(query, columns, progress=progress):
            yield [values(item, c) for c in columns]

    return xlsx.write_rows(path, headers, rows(), sheet_title=source.export_title_text())


def iter_items(query, columns=(), chunk: int | None = None, progress: Callable | None = None
               ) -> Iterator:
    """The rows of an ORM query, in its order, in chunks by primary key: the ids first
    (8 bytes a row), then `chunk` rows at a time with their related collections. Every query
    goes through the session, so the tenant scope applies to each of them."""
    chunk = chunk or CHUNK
    model = query.column_descriptions[0]["entity"]
    mapper = inspect(model)
    if len(mapper.primary_key) != 1:
        yield from query.yield_per(chunk)
        return
    pk = mapper.primary_key[0]
    ids: array | list = array("q")
    for (ident,) in query.with_entities(pk).yield_per(10000):
        try:
            ids.append(ident)
        except TypeError:  # not an integer key
            ids = list(ids)
            ids.append(ident)
    total = len(ids)
    if progress:
        progress(0, total, force=True)
    options = [selectinload(getattr(model, name)) for name in
               {c.split(".")[0] for c in columns} if name in mapper.relationships]
    session = query.session
    key = pk.key
    for start_at in range(0, total, chunk):
        part = ids[start_at:start_at + chunk]
        loaded = {getattr(o, key): o for o in
                  session.query(model).filter(pk.in_(list(part))).options(*options)}
        for ident in part:
            item = loaded.get(ident)
            if item is not None:  # deleted meanwhile, or out of scope now
                yield item
        del loaded
        if progress:
            progress(min(start_at + chunk, total), total)


def column_value(item, column: str):
    """The raw value of a column, following dotted paths through relations and collections;
    callables (model methods) are called."""
    value = item
    for part in column.split("."):
        if value is None:
            return None
        if isinstance(value, (list, tuple, set)):
            value = [getattr(v, part, None) for v in value]
        else:
            value = getattr(value, part, None)
    if callable(value):
        value = value()
    return value


def flatten(value):
    """Collections become one cell: "a、b、c"."""
    if isinstance(value, (list, tuple, set)):
        return "、".join("" if v is None else str(v) for v in value)
    return value


@jobs.handler("export")
def _export_job(ctx: jobs.JobContext, params: dict) -> jobs.Result:
    sm = current_app.appbuilder.sm
    source = find_source(params.get("source"))
    if source is None:
        raise ExportSourceError(gettext("This list cannot be exported any more."))
    if not sm.has_access("can_export", source.class_permission_name):
        raise ExportSourceError(gettext("You may not export this list any more."))
    path = ctx.result_file(".xlsx")
    args = params.get("args") or ""
    # Base filters may read the request's arguments (e.g. the review queue's tab): rebuild
    # the request the export was asked from, not just its filters.
    with current_app.test_request_context(f"/?{args}" if args and not args.startswith("(")
                                          else "/"):
        rows = write(source, source.export_query(args), path, progress=ctx.progress)
    return jobs.Result(path, download_name=params.get("name") or "export.xlsx", mime=XLSX_MIME,
                       message=ngettext("%(num)d row exported.", "%(num)d rows exported.",
                                        rows))


def find_source(name: str | None):
    if not name:
        return None
    for view in current_app.appbuilder.baseviews:
        if type(view).__name__ == name and hasattr(view, "export_query"):
            return view
    return None


def _audit(source, args: str, rows: int, job_id: int | None = None) -> None:
    """detail: row count, the filter in words, the job, and the raw arguments (enough to
    rebuild the export exactly)."""
    parts = [ngettext("%(num)d row", "%(num)d rows", rows),
             gettext("filter: %(filter)s",
                     filter=source.export_filter_text(args) or gettext("none"))]
    if job_id is not None:
        parts.append(gettext("background job %(id)d", id=job_id))
    if args:
        parts.append(args)
    detail = "; ".join(parts)
    audit.record(db.session, "export", target_type=source.datamodel.obj.__tablename__,
                 target_label=source.export_title_text()[:255], detail=detail)




__all__ = ["XLSX_MIME", "ExportSourceError", "Outcome", "column_value", "find_source",
           "flatten", "iter_items", "start", "write"]
