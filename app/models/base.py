"""Tenancy enforcement at the ORM layer (DESIGN.md "Tenancy: one mechanism, everywhere").

The scope of the current request is computed by AppSecurityManager.tenant_scope() and stored
on flask.g. A `do_orm_execute` hook adds `with_loader_criteria` for every ORM SELECT so that
`session.get()`, relationship loads, FAB actions (which fetch by pk without base_filters),
exports and hand-written queries are all scoped. System jobs opt out with `unscoped()`.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field

from flask import current_app, g, has_app_context, has_request_context
from flask_appbuilder import Model
from sqlalchemy import ForeignKey, Integer, bindparam, event, false, select
from sqlalchemy.orm import Session, declared_attr, mapped_column, with_loader_criteria

# Scope kinds
UNRESTRICTED = "all"  # system admins, CLI, jobs
ENTERPRISE = "enterprise"
AUTHORITY = "authority"
INDIVIDUAL = "individual"
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class TenantScope:
    kind: str
    user_id: int | None = None
    enterprise_id: int | None = None
    authority_id: int | None = None
    sectors: tuple = field(default_factory=tuple)

    @property
    def unrestricted(self) -> bool:
        return self.kind == UNRESTRICTED


class TenantMixin:
    """Every enterprise-owned table: a non-null enterprise_id, scoped on every SELECT."""

    @declared_attr
    def enterprise_id(cls):  # noqa: N805 - SQLAlchemy declared_attr
        return mapped_column(
            Integer, ForeignKey("enterprise.id", ondelete="RESTRICT"), nullable=False, index=True
        )


class OwnerMixin:
    """Rows that belong to one user (background jobs, download baskets): the ORM hook shows
    them to their owner only; system admins (unrestricted scope) see every row."""

    @declared_attr
    def owner_id(cls):  # noqa: N805 - SQLAlchemy declared_attr
        return mapped_column(
            Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False, index=True
        )


_SCOPE_KEY = "_tenant_scope"
_UNSCOPED_KEY = "_tenant_unscoped"
_COMPUTING_KEY = "_tenant_scope_computing"


_EXPLICIT_KEY = "_tenant_scope_explicit"


def set_scope(scope: TenantScope | None) -> None:
    """Scope a block of work for one user (a background job acting for its owner). Lasts as
    long as the current app context and wins over the scope of the request context (a job
    running inside a test or in Huey's immediate mode pushes its own app context)."""
    setattr(g, _EXPLICIT_KEY, scope)


def forget_request_scope() -> None:
    """Called at the end of every request: nothing of one request's scope survives it."""
    for key in (_SCOPE_KEY, _COMPUTING_KEY, _UNSCOPED_KEY, _EXPLICIT_KEY, _JURISDICTION_KEY):
        g.pop(key, None)


def current_scope() -> TenantScope | None:
    """The scope of the current user; None outside a request (CLI, migrations, jobs).

    Computed lazily from the logged-in user (session cookie or, for the API, the JWT that
    FAB resolves inside the view) and recomputed when the user changes within a request.
    While it is being computed (loading the user and their roles) queries run unscoped."""
    if not has_request_context():
        if not has_app_context() or getattr(g, _UNSCOPED_KEY, 0):
            return None
        return getattr(g, _EXPLICIT_KEY, None)
    if getattr(g, _UNSCOPED_KEY, 0) or getattr(g, _COMPUTING_KEY, False):
        return None
    explicit = getattr(g, _EXPLICIT_KEY, None)
    if explicit is not None:
        return explicit
    setattr(g, _COMPUTING_KEY, True)
    try:
        user = getattr(g, "user", None)
        if user is None:
            from flask_login import current_user

            user = current_user
        authenticated = bool(user is not None and getattr(user, "is_authenticated", False))
        uid = user.id if authenticated else None
        cached = getattr(g, _SCOPE_KEY, None)
        if cached is not None and cached.user_id == uid:
            return cached
        scope = current_app.appbuilder.sm.tenant_scope(user if authenticated else None)
        setattr(g, _SCOPE_KEY, scope)
        return scope
    finally:
        setattr(g, _COMPUTING_KEY, False)


@contextlib.contextmanager
def unscoped():
    """Explicit opt-out for system work inside a request (public lookups, login by USCC)."""
    if not has_app_context():
        yield
        return
    depth = getattr(g, _UNSCOPED_KEY, 0)
    setattr(g, _UNSCOPED_KEY, depth + 1)
    try:
        yield
    finally:
        setattr(g, _UNSCOPED_KEY, depth)


def jurisdiction_enterprise_ids(authority_id: int, sector: str | None = None):
    """Enterprise ids inside an authority's jurisdiction: a shared sector (or, given
    `sector`, that one sector held by both), region under its region code. Built on Core
    tables so the ORM criteria are not applied recursively."""
    from app.models.org import (
        Authority,
        Enterprise,
        Sector,
        authority_sector,
        enterprise_sector,
    )

    ent = Enterprise.__table__
    auth = Authority.__table__
    query = (
        select(ent.c.id)
        .select_from(ent)
        .join(enterprise_sector, enterprise_sector.c.enterprise_id == ent.c.id)
        .join(authority_sector, authority_sector.c.sector_id == enterprise_sector.c.sector_id)
        .join(auth, auth.c.id == authority_sector.c.authority_id)
        .where(auth.c.id == authority_id)
        .where(ent.c.region_code.startswith(auth.c.region_prefix))
        .distinct()
    )
    if sector is not None:
        sec = Sector.__table__
        query = query.join(sec, sec.c.id == authority_sector.c.sector_id).where(
            sec.c.code == sector)
    return query


def authority_sectors(authority_id: int) -> list[str]:
    """Codes of the sectors an authority supervises (cached for the request)."""
    from app.models.org import Sector, authority_sector

    def load():
        sec = Sector.__table__
        return list(_session().execute(
            select(sec.c.code).join(authority_sector, authority_sector.c.sector_id == sec.c.id)
            .where(authority_sector.c.authority_id == authority_id),
            execution_options={"skip_tenant_scope": True}).scalars())

    return _request_cached(("sectors", authority_id), load)


@functools.cache
def tenant_models() -> tuple[type, ...]:
    """Every mapped tenant table. Read once (every model is imported with app.models before
    the first request)."""
    found, todo = [], list(TenantMixin.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if hasattr(cls, "__table__"):
            found.append(cls)
    return tuple(found)


@functools.cache
def sector_models() -> tuple[type, ...]:
    """Tenant tables that belong to one regulated sector (`regulated_sector = "rental"`):
    an authority sees their rows only for enterprises it supervises in that sector."""
    return tuple(cls for cls in tenant_models() if getattr(cls, "regulated_sector", None))


def _criteria(entity, where):
    """Scope criteria for one entity. Not propagated to lazy loads of the loaded objects:
    the hook scopes those itself with the scope current when they run (a user loaded while
    the scope was being computed must not carry the anonymous scope into its relations)."""
    return with_loader_criteria(entity, where, include_aliases=True,
                                propagate_to_loaders=False)


_JURISDICTION_KEY = "_tenant_jurisdiction_ids"


def _session():
    from app.extensions import db

    return db.session


def _request_cached(key, load):
    """Per-request (or per-job) cache of jurisdiction lookups; none outside an app context."""
    if not has_app_context():
        return load()
    cache = getattr(g, _JURISDICTION_KEY, None)
    if cache is None:
        cache = {}
        setattr(g, _JURISDICTION_KEY, cache)
    if key not in cache:
        cache[key] = load()
    return cache[key]


@event.listens_for(Session, "after_commit")
def _forget_jurisdictions(session):
    """A commit may have added an enterprise or a sector: look jurisdictions up again."""
    if has_app_context():
        g.pop(_JURISDICTION_KEY, None)


def jurisdiction_id_list(authority_id: int, sector: str | None = None) -> list[int]:
    """The jurisdiction's enterprise ids as a list, fetched once per request. Scoping by a
    literal id list instead of the subquery lets the query planner see how large the
    jurisdiction is: with `IN (SELECT ...)` SQLite walks the enterprise_id index and sorts a
    million rows for a 25-row page (bench/rental.py); with the list it scans in id order.
    A sector the authority does not supervise is empty without a query, and an authority of
    one sector has one list (the whole jurisdiction is that sector's): a provincial
    jurisdiction of 20,000 enterprises is fetched once, not twice (bench/licence.py)."""
    def load():
        sectors = authority_sectors(authority_id)
        if sector is not None and sector not in sectors:
            return []
        if sector is None and len(sectors) == 1:
            return jurisdiction_id_list(authority_id, sectors[0])
        return _session().execute(
            jurisdiction_enterprise_ids(authority_id, sector),
            execution_options={"skip_tenant_scope": True}).scalars().all()

    return _request_cached(("ids", authority_id, sector), load)


# Jurisdictions up to this many enterprises are scoped by their id list (the planner scans
# the table in id order and the list is cheap); larger ones by a correlated EXISTS on
# enterprise_sector + enterprise (a provincial jurisdiction of 20,000 enterprises: no 20,000
# bound parameters per statement, a 25-row page in under a millisecond; bench/licence.py).
JURISDICTION_LIST_MAX = 2000


_SIZE_CACHE: dict = {}
_SIZE_TTL = 300.0  # seconds


def jurisdiction_size(authority_id: int, sector: str | None = None) -> int:
    """Roughly how many enterprises the jurisdiction holds. It only chooses between two
    equally correct SQL forms, so it is cached per process for a few minutes (a count over
    a provincial jurisdiction costs more than the page it decides)."""
    import time

    from sqlalchemy import func

    key = (authority_id, sector)
    hit = _SIZE_CACHE.get(key)
    now = time.monotonic()
    if hit is not None and hit[1] > now:
        return hit[0]
    sectors = authority_sectors(authority_id)
    if sector is not None and sector not in sectors:
        size = 0
    elif sector is None and len(sectors) == 1:
        size = jurisdiction_size(authority_id, sectors[0])
    else:
        inner = jurisdiction_enterprise_ids(authority_id, sector).subquery()
        size = _session().execute(select(func.count()).select_from(inner),
                                  execution_options={"skip_tenant_scope": True}).scalar_one()
    _SIZE_CACHE[key] = (size, now + _SIZE_TTL)
    return size


def authority_shape(authority_id: int, sector: str | None):
    """(region prefix, sector ids) of an authority's jurisdiction, for the EXISTS form."""
    from app.models.org import Authority, Sector, authority_sector

    def load():
        auth = Authority.__table__
        sec = Sector.__table__
        prefix = _session().execute(select(auth.c.region_prefix).where(
            auth.c.id == authority_id), execution_options={"skip_tenant_scope": True}
        ).scalar_one()
        query = (select(sec.c.id).join(authority_sector,
                                       authority_sector.c.sector_id == sec.c.id)
                 .where(authority_sector.c.authority_id == authority_id))
        if sector is not None:
            query = query.where(sec.c.code == sector)
        ids = _session().execute(query, execution_options={"skip_tenant_scope": True}
                                 ).scalars().all()
        return prefix or "", list(ids)

    return _request_cached(("shape", authority_id, sector), load)


@functools.cache
def jurisdiction_aliases():
    """enterprise_sector and enterprise as aliases: never auto-correlated with the same
    tables of the outer query."""
    from app.models.org import Enterprise, enterprise_sector

    return enterprise_sector.alias("jur_es"), Enterprise.__table__.alias("jur_ent")


def jurisdiction_filter(column, authority_id: int, sector: str | None = None):
    """SQL criterion: the enterprise id `column` lies in the authority's jurisdiction (in
    `sector`, or in any sector it supervises)."""
    if jurisdiction_size(authority_id, sector) <= JURISDICTION_LIST_MAX:
        return column.in_(_id_list(jurisdiction_id_list(authority_id, sector)))
    from sqlalchemy import exists

    prefix, sector_ids = authority_shape(authority_id, sector)
    es, ent = jurisdiction_aliases()
    return exists().where(es.c.enterprise_id == column, es.c.sector_id.in_(sector_ids),
                          ent.c.id == column, ent.c.region_code.startswith(prefix))


def in_jurisdiction(enterprise_id: int | None, authority_id: int,
                    sector: str | None = None) -> bool:
    """One enterprise inside the jurisdiction? (a case's reach, a report's authority)"""
    if enterprise_id is None:
        return False
    if jurisdiction_size(authority_id, sector) <= JURISDICTION_LIST_MAX:
        return enterprise_id in jurisdiction_id_list(authority_id, sector)
    query = jurisdiction_enterprise_ids(authority_id, sector)
    query = query.where(query.selected_columns[0] == enterprise_id)
    return _session().execute(query.limit(1), execution_options={
        "skip_tenant_scope": True}).first() is not None


def _enterprise_criteria(model, authority_id: int, sector: str | None):
    """`model` rows of the jurisdiction's enterprises only. A plain expression, not a lambda:
    one lambda used for several models in the same statement binds its closure variable
    under one parameter name, so the last model's id list would silently apply to all of
    them (a used-car regulator saw no used-car rows because the rental list, empty for it,
    came last)."""
    return with_loader_criteria(model, jurisdiction_filter(model.enterprise_id, authority_id,
                                                           sector),
                                include_aliases=True, propagate_to_loaders=False)


def _id_list(ids):
    """One expanding parameter for a list of ids: `in_(list)` would coerce every element into
    its own bound value, thousands of objects for a large jurisdiction on every query."""
    return bindparam(None, ids, type_=Integer, expanding=True)


def _application_criteria(authority_id: int):
    """Cases: for each sector the authority supervises, the kinds of that sector's workflows
    in that sector's jurisdiction (a used-car regulator never reaches a rental case, even of
    an enterprise in both sectors)."""
    from sqlalchemy import and_, or_

    from app.models.workflow import Application
    from app.workflows.engine import kinds_by_sector

    kinds = kinds_by_sector()
    parts = [and_(Application.kind.in_(kinds[sector]),
                  jurisdiction_filter(Application.enterprise_id, authority_id, sector))
             for sector in authority_sectors(authority_id) if kinds.get(sector)]
    # Kinds of no particular sector: the jurisdiction at large.
    every_sector_kind = [kind for sector_kinds in kinds.values() for kind in sector_kinds]
    parts.append(and_(Application.kind.notin_(every_sector_kind),
                      jurisdiction_filter(Application.enterprise_id, authority_id)))
    where = or_(*parts)
    return with_loader_criteria(Application, where, include_aliases=True,
                                propagate_to_loaders=False)


def _tenant_criteria(scope: TenantScope):
    """Loader criteria for a scope. Closure variables are plain ints so that SQLAlchemy's
    lambda cache turns them into bound parameters (never cached values)."""
    from app.models.audit import AuditEvent
    from app.models.identity import AppUser as User
    from app.models.org import Authority, Enterprise

    uid = scope.user_id
    if uid is None:
        options = [_criteria(OwnerMixin, lambda cls: false())]
    else:
        options = [_criteria(OwnerMixin, lambda cls: cls.owner_id == uid)]
    if scope.kind == ENTERPRISE:
        eid = scope.enterprise_id
        options += [
            _criteria(TenantMixin, lambda cls: cls.enterprise_id == eid),
            _criteria(Enterprise, lambda cls: cls.id == eid),
            _criteria(User, lambda cls: cls.enterprise_id == eid),
            _criteria(AuditEvent, lambda cls: cls.enterprise_id == eid),
        ]
    elif scope.kind == AUTHORITY:
        aid = scope.authority_id
        sectoral = sector_models()
        options += [
            # Each tenant table once: a sector table by its sector's jurisdiction (a subset),
            # the others by the whole one (two IN lists of thousands of ids cost a query
            # twice the parameters).
            *(_enterprise_criteria(model, aid, None) for model in tenant_models()
              if model not in sectoral),
            with_loader_criteria(Enterprise, jurisdiction_filter(Enterprise.id, aid),
                                 include_aliases=True, propagate_to_loaders=False),
            _criteria(User, lambda cls: cls.authority_id == aid),
            _criteria(Authority, lambda cls: cls.id == aid),
            with_loader_criteria(AuditEvent, jurisdiction_filter(AuditEvent.enterprise_id, aid),
                                 include_aliases=True, propagate_to_loaders=False),
            _application_criteria(aid),
            *(_enterprise_criteria(model, aid, model.regulated_sector)
              for model in sector_models()),
        ]
    elif scope.kind == INDIVIDUAL:
        options += [
            _criteria(TenantMixin, lambda cls: false()),
            _criteria(Enterprise, lambda cls: false()),
            _criteria(User, lambda cls: cls.id == uid),
            _criteria(Authority, lambda cls: false()),
            _criteria(AuditEvent, lambda cls: false()),
        ]
    else:  # ANONYMOUS: no tenant rows at all. Users stay visible for the login flows.
        options += [
            _criteria(TenantMixin, lambda cls: false()),
            _criteria(Enterprise, lambda cls: false()),
            _criteria(Authority, lambda cls: false()),
            _criteria(AuditEvent, lambda cls: false()),
        ]
    return options


# Tables scoped otherwise than by TenantMixin / OwnerMixin (e.g. evaluations, which a public
# visitor may give without an enterprise) add their criteria here: fn(scope) -> options,
# applied by the one hook below, cached with the rest per request and scope.
_EXTRA_CRITERIA: dict = {}


def register_scope_criteria(key: str, fn) -> None:
    _EXTRA_CRITERIA[key] = fn


def _all_criteria(scope) -> tuple:
    options = list(_tenant_criteria(scope))
    for fn in _EXTRA_CRITERIA.values():
        options.extend(fn(scope))
    return tuple(options)


@event.listens_for(Session, "do_orm_execute")
def _apply_tenant_scope(state):
    if not state.is_select or state.is_column_load:
        return
    if state.execution_options.get("skip_tenant_scope"):
        return
    scope = current_scope()
    if scope is None or scope.unrestricted:
        return
    # Built once per request (or job) and scope: the jurisdiction lists do not change
    # within it (the cache is cleared after a commit).
    options = _request_cached(("criteria", scope), lambda: _all_criteria(scope))
    state.statement = state.statement.options(*options)


__all__ = [
    "JURISDICTION_LIST_MAX",
    "Model",
    "OwnerMixin",
    "TenantMixin",
    "TenantScope",
    "current_scope",
    "in_jurisdiction",
    "jurisdiction_filter",
    "register_scope_criteria",
    "set_scope",
    "unscoped",
]
