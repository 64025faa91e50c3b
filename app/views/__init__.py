"""register_views(): every view, API and menu entry, in one place."""

from __future__ import annotations

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
    from app.views.identity import (
        EnterpriseRoleApi,
        EnterpriseRoleView,
        EnterpriseUserApi,
        EnterpriseUserView,
    )
    from app.views.org import AuthorityApi, AuthorityModelView, EnterpriseApi, EnterpriseModelView
    from app.views.rental_filing import RentalFilingFormsView
    from app.views.rental_public import RentalPublicView

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

    # Rental module: public services (R1-R4; menu for anonymous visitors) and the
    # enterprise's filing forms (R10-R11), the seed's four left-hand entries.
    appbuilder.add_view_no_menu(RentalPublicView)
    appbuilder.add_link(s.MENU_RENTAL_PUBLIC, href="RentalPublicView.index",
                        label=_l("Car rental filing"), icon="fa-car")
    rental_forms = appbuilder.add_view(
        RentalFilingFormsView, s.MENU_RENTAL_FORMS, href="RentalFilingFormsView.change",
        label=_l("Filing change"), icon="fa-edit", category=s.MENU_CAT_RENTAL,
        category_label=_l("Rental filing"), category_icon="fa-car")
    for endpoint, label, icon in (
            ("RentalFilingFormsView.suspend", _l("Suspend the business"), "fa-pause-circle"),
            ("RentalFilingFormsView.resume", _l("Resume the business"), "fa-play-circle"),
            ("RentalFilingFormsView.terminate", _l("Terminate the business"),
             "fa-stop-circle")):
        appbuilder.add_link(s.MENU_RENTAL_FORMS, href=endpoint, label=label, icon=icon,
                            category=s.MENU_CAT_RENTAL, baseview=rental_forms)

    for api in (EnterpriseApi, AuthorityApi, EnterpriseUserApi, EnterpriseRoleApi,
                AuditEventApi):
        appbuilder.add_api(api)
