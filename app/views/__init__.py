"""register_views(): every view, API and menu entry, in one place."""

from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l

from app import security as s


def register_views(appbuilder) -> None:
    from app.views.accounts import (
        ForgotPasswordView,
        OutboxView,
        PasswordResetView,
        TwoFactorView,
    )
    from app.views.attachment import AttachmentView
    from app.views.audit import AuditEventApi, AuditEventView
    from app.views.content import (
        AnnouncementApi,
        AnnouncementBrowseView,
        AnnouncementModelView,
        PublicAnnouncementApi,
    )
    from app.views.dashboard import DashboardApi, DashboardView
    from app.views.identity import (
        EnterpriseRoleApi,
        EnterpriseRoleView,
        EnterpriseUserApi,
        EnterpriseUserView,
    )
    from app.views.inbox import InboxApi, InboxView, register_jinja_globals
    from app.views.org import AuthorityApi, AuthorityModelView, EnterpriseApi, EnterpriseModelView

    appbuilder.add_view_no_menu(ForgotPasswordView)
    appbuilder.add_view_no_menu(PasswordResetView)
    appbuilder.add_view_no_menu(TwoFactorView)
    appbuilder.add_view_no_menu(AttachmentView)

    enterprises = appbuilder.add_view(
        EnterpriseModelView, s.MENU_ENTERPRISES, label=_l("Enterprises"), icon="fa-building",
        category=s.MENU_CAT_ORG, category_label=_l("Organisations"), category_icon="fa-sitemap")
    appbuilder.add_link(s.MENU_MY_ENTERPRISE, href="/enterprises/list/",
                        label=_l("My enterprise"), icon="fa-id-card", category=s.MENU_CAT_ORG,
                        baseview=enterprises)
    appbuilder.add_view(AuthorityModelView, s.MENU_AUTHORITIES, label=_l("Authorities"),
                        icon="fa-landmark", category=s.MENU_CAT_ORG)
    appbuilder.add_view(EnterpriseUserView, s.MENU_ENTERPRISE_USERS, label=_l("Users"),
                        icon="fa-users", category=s.MENU_CAT_ADMIN,
                        category_label=_l("Administration"), category_icon="fa-cogs")
    appbuilder.add_view(EnterpriseRoleView, s.MENU_ENTERPRISE_ROLES, label=_l("Roles"),
                        icon="fa-user-tag", category=s.MENU_CAT_ADMIN)
    appbuilder.add_view(AuditEventView, s.MENU_AUDIT, label=_l("Audit trail"),
                        icon="fa-history", category=s.MENU_CAT_ADMIN)
    appbuilder.add_view(OutboxView, s.MENU_OUTBOX, label=_l("Outbox"), icon="fa-envelope",
                        category=s.MENU_CAT_ADMIN)

    for api in (EnterpriseApi, AuthorityApi, EnterpriseUserApi, EnterpriseRoleApi,
                AuditEventApi):
        appbuilder.add_api(api)

    # Inbox, dashboard, announcements (SPEC X15, X17, X18).
    appbuilder.add_view(InboxView, s.MENU_INBOX, label=_l("Inbox"), icon="fa-inbox")
    appbuilder.add_view(DashboardView, s.MENU_DASHBOARD, label=_l("Dashboard"),
                        icon="fa-chart-bar")
    appbuilder.add_view(
        AnnouncementBrowseView, s.MENU_ANNOUNCEMENTS, label=_l("Announcements"),
        icon="fa-bullhorn", category=s.MENU_CAT_CONTENT,
        category_label=_l("Announcements and notices"), category_icon="fa-bullhorn")
    appbuilder.add_view(AnnouncementModelView, s.MENU_MANAGE_ANNOUNCEMENTS,
                        label=_l("Manage announcements"), icon="fa-edit",
                        category=s.MENU_CAT_CONTENT)
    for api in (AnnouncementApi, PublicAnnouncementApi, InboxApi, DashboardApi):
        appbuilder.add_api(api)
    register_jinja_globals(current_app)
