"""Announcements (SPEC X18): authorities and system admins manage them (ModelView +
ModelRestApi twins; a regulator sees and changes only its own authority's), everyone reads the
published ones by category with search and paging, the public included (HTML pages and a
read-only JSON API)."""

from __future__ import annotations

from flask import abort, g, request
from flask_appbuilder import BaseView, expose
from flask_appbuilder.api import BaseApi, ModelRestApi
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.filters import FilterInFunction, get_field_setup_query
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import false
from wtforms import BooleanField, SelectField, TextAreaField, widgets
from wtforms.validators import DataRequired

from app.errors import DomainError
from app.extensions import db
from app.models.base import AUTHORITY, current_scope
from app.models.content import ANNOUNCEMENT_CATEGORIES, Announcement
from app.models.org import SECTOR_CODES, SECTOR_LABELS, Authority, Sector
from app.security import API_METHOD_PERMISSIONS, PV_ANNOUNCEMENT
from app.services import announcements as service
from app.services import richtext
from app.views.base import AppModelView


class AnnouncementCategoryError(DomainError):
    """A category outside ANNOUNCEMENT_CATEGORIES."""


class AnnouncementSectorError(DomainError):
    """A sector outside the publishing authority's sectors."""


class AnnouncementNotOwnedError(DomainError):
    """Another authority's announcement."""


class FilterOwnAuthority(BaseFilter):
    """Management lists: a regulator's own authority's announcements; all for system admins;
    nothing for anyone else. `base_filters = [["authority_id", FilterOwnAuthority, ...]]`;
    FAB's show/edit/delete and the API fetch through it, so another authority's id is 404."""

    name = "Own authority"
    arg_name = "own_authority"

    def apply(self, query, value):
        query, field = get_field_setup_query(query, self.model, self.column_name)
        scope = current_scope()
        if scope is None or scope.unrestricted:
            return query
        if scope.kind == AUTHORITY and scope.authority_id:
            return query.filter(field == scope.authority_id)
        return query.filter(false())


OWN_AUTHORITY = [["authority_id", FilterOwnAuthority, lambda: None]]


def _user_authority_id():
    scope = current_scope()
    if scope is None or scope.unrestricted:
        return None
    if scope.kind == AUTHORITY:
        return scope.authority_id
    raise AnnouncementNotOwnedError(gettext("Only authorities publish announcements."))


def allowed_sector_ids() -> list[int]:
    """Sectors a publisher may address: its authority's; every sector for system admins."""
    authority_id = _user_authority_id()
    if authority_id is None:
        return [s.id for s in db.session.query(Sector)]
    authority = db.session.get(Authority, authority_id)
    return [s.id for s in authority.sectors] if authority is not None else []


def _check(item: Announcement) -> None:
    if item.category not in ANNOUNCEMENT_CATEGORIES:
        raise AnnouncementCategoryError(gettext("Unknown announcement category."))
    if item.sector_id is not None and item.sector_id not in allowed_sector_ids():
        raise AnnouncementSectorError(gettext(
            "You may publish only for the sectors of your authority."))
    if not (item.title or "").strip():
        raise DomainError(gettext("A title is required."))
    item.title = item.title.strip()


def _ensure_own(item: Announcement) -> None:
    authority_id = _user_authority_id()
    if authority_id is not None and item.authority_id != authority_id:
        raise AnnouncementNotOwnedError(gettext("This announcement is another authority's."))


def _stamp_new(item: Announcement) -> None:
    authority_id = _user_authority_id()
    item.authority_id = authority_id
    authority = db.session.get(Authority, authority_id) if authority_id else None
    item.publisher_name = authority.name if authority is not None else None
    item.created_by_id = g.user.id
    if item.pinned is None:
        item.pinned = False


class AnnouncementManagement:
    """pre_* hooks shared by the view and the API."""

    def _sync_sector(self, item):
        """The form sets the `sector` relationship, the API the `sector_id` column."""

    def pre_add(self, item):
        self._sync_sector(item)
        _stamp_new(item)
        _check(item)

    def pre_update(self, item):
        self._sync_sector(item)
        _ensure_own(item)
        _check(item)

    def pre_delete(self, item):
        _ensure_own(item)


ANNOUNCEMENT_LABELS = {
    "title": _l("Title"),
    "body": _l("Text"),
    "category": _l("Category"),
    "category_label": _l("Category"),
    "sector": _l("Sector"),
    "sector_id": _l("Sector"),
    "sector_label": _l("Sector"),
    "publisher": _l("Publisher"),
    "published_on": _l("Publication date"),
    "pinned": _l("Pinned"),
    "status_label": _l("Status"),
    "created_on": _l("Created on"),
    "changed_on": _l("Changed on"),
}

CATEGORY_FIELD = SelectField(
    _l("Category"), choices=[(k, v) for k, v in ANNOUNCEMENT_CATEGORIES.items()])


class TallTextAreaWidget(widgets.TextArea):
    """FAB's text area widget is fixed at 3 rows: an announcement needs room."""

    def __call__(self, field, **kwargs):
        kwargs.update({"class": "form-control", "rows": 16})
        return super().__call__(field, **kwargs)


BODY_FIELD = TextAreaField(
    _l("Text"), validators=[DataRequired()], widget=TallTextAreaWidget(),
    description=_l("Plain text (a blank line starts a paragraph) or simple HTML: paragraphs, "
                   "lists, tables, links. Scripts, styles and images are removed."))
# FAB makes a non-nullable boolean a required checkbox (unticked = invalid).
PINNED_FIELD = BooleanField(_l("Pinned"), description=_l(
    "Pinned announcements stay at the top of the list."))


class AnnouncementModelView(AnnouncementManagement, AppModelView):
    datamodel = SQLAInterface(Announcement)
    class_permission_name = PV_ANNOUNCEMENT
    route_base = "/manage/announcements"
    list_title = _l("Manage announcements")
    show_title = _l("Announcement")
    add_title = _l("New announcement")
    edit_title = _l("Edit announcement")
    export_title = "announcements"
    label_columns = ANNOUNCEMENT_LABELS
    list_columns = ["title", "category_label", "sector_label", "status_label", "published_on",
                    "pinned", "publisher"]
    show_columns = ["title", "category_label", "sector_label", "status_label", "published_on",
                    "pinned", "publisher", "body", "created_on", "changed_on"]
    add_columns = ["title", "category", "sector", "published_on", "pinned", "body"]
    edit_columns = add_columns
    search_columns = ["title", "body", "category", "published_on", "pinned"]
    order_columns = ["title", "published_on", "pinned"]
    base_order = ("published_on", "desc")
    base_filters = OWN_AUTHORITY
    add_form_extra_fields = {"category": CATEGORY_FIELD, "pinned": PINNED_FIELD,
                             "body": BODY_FIELD}
    edit_form_extra_fields = add_form_extra_fields
    add_form_query_rel_fields = {"sector": [["id", FilterInFunction, allowed_sector_ids]]}
    edit_form_query_rel_fields = add_form_query_rel_fields
    description_columns = {
        "published_on": _l("Leave empty to keep a draft; a future date schedules it."),
        "sector": _l("Leave empty for all sectors."),
    }
    formatters_columns = {"body": richtext.render}

    def _sync_sector(self, item):
        item.sector_id = item.sector.id if item.sector is not None else None


class AnnouncementApi(AnnouncementManagement, ModelRestApi):
    resource_name = "announcement"
    datamodel = SQLAInterface(Announcement)
    class_permission_name = PV_ANNOUNCEMENT
    allow_browser_login = False
    method_permission_name = API_METHOD_PERMISSIONS
    list_columns = ["id", "title", "category", "sector_id", "published_on", "pinned",
                    "authority_id", "publisher_name"]
    show_columns = list_columns + ["body", "created_on", "changed_on"]
    add_columns = ["title", "body", "category", "sector_id", "published_on", "pinned"]
    edit_columns = add_columns
    search_columns = ["title", "body", "category", "published_on", "pinned"]
    order_columns = ["title", "published_on", "pinned"]
    base_order = ("published_on", "desc")
    base_filters = OWN_AUTHORITY


# ----- reading: everyone, the public included ----------------------------------------------
def _int_arg(name: str, default: int = 1) -> int:
    try:
        return max(1, int(request.args.get(name, default)))
    except (TypeError, ValueError):
        return default


def _browse_args():
    category = request.args.get("category") or None
    if category not in ANNOUNCEMENT_CATEGORIES:
        category = None
    sector = request.args.get("sector") or None
    if sector not in SECTOR_CODES:
        sector = None
    q = (request.args.get("q") or "").strip()[:service.QUERY_MAX]
    return q, category, sector, _int_arg("page")


class AnnouncementBrowseView(BaseView):
    """/announcements/: published announcements by category and sector, searched and paged;
    /announcements/<id>: one of them. No sign-in needed."""

    route_base = "/announcements"
    default_view = "index"

    @expose("/")
    def index(self):
        q, category, sector, page = _browse_args()
        result = service.search(q=q, category=category, sector=sector, page=page)
        if page > result.pages:
            result = service.search(q=q, category=category, sector=sector,
                                    page=result.pages)
        return self.render_template(
            "content/announcements.html", result=result, q=q, category=category,
            sector=sector, categories=ANNOUNCEMENT_CATEGORIES, sectors=SECTOR_LABELS,
            summary=lambda body: richtext.plain_text(body, 140), appbuilder=self.appbuilder)

    @expose("/<int:announcement_id>")
    def show(self, announcement_id):
        item = service.get_published(announcement_id)
        if item is None:
            abort(404)
        return self.render_template(
            "content/announcement.html", item=item, body=richtext.render(item.body),
            categories=ANNOUNCEMENT_CATEGORIES, appbuilder=self.appbuilder)


class PublicAnnouncementApi(BaseApi):
    """Published announcements as JSON, without sign-in."""

    resource_name = "public_announcement"
    route_base = "/api/v1/public/announcements"
    openapi_spec_tag = "Announcements"

    @expose("/", methods=["GET"])
    def search(self):
        """Published announcements, pinned first, newest first.
        ---
        get:
          parameters:
          - {in: query, name: q, schema: {type: string}, description: words in title or text}
          - {in: query, name: category, schema: {type: string}}
          - {in: query, name: sector, schema: {type: string}}
          - {in: query, name: page, schema: {type: integer}}
          responses:
            200:
              description: a page of announcements
        """
        q, category, sector, page = _browse_args()
        result = service.search(q=q, category=category, sector=sector, page=page)
        return self.response(200, count=result.total, page=result.page,
                             page_size=result.page_size,
                             result=[service.to_dict(a) for a in result.items])

    @expose("/<int:announcement_id>", methods=["GET"])
    def detail(self, announcement_id):
        """One published announcement, with its text (sanitised HTML).
        ---
        get:
          parameters:
          - {in: path, name: announcement_id, required: true, schema: {type: integer}}
          responses:
            200:
              description: the announcement
            404:
              description: not found or not published
        """
        item = service.get_published(announcement_id)
        if item is None:
            return self.response_404()
        return self.response(200, result=service.to_dict(item, with_body=True))
