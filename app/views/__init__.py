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
    from app.views.jobs import JobApi, JobView
    from app.views.org import AuthorityApi, AuthorityModelView, EnterpriseApi, EnterpriseModelView
    from app.views.regions import RegionView
    from app.views.regions import register_jinja_globals as register_region_globals
    from app.views.rental import (
        CounterEntryView,
        RentalHomeView,
        VehicleApi,
        VehicleFormsView,
        VehicleView,
    )
    from app.views.rental_filing import RentalFilingFormsView
    from app.views.rental_public import RentalPublicView
    from app.views.usedcar_register import UsedCarProfileView, UsedCarRegisterView
    from app.views.verify import VerifyView
    from app.views.workflow import ApplicationApi, ApplicationView, ReviewQueueView

    appbuilder.add_view_no_menu(ForgotPasswordView)
    appbuilder.add_view_no_menu(PasswordResetView)
    appbuilder.add_view_no_menu(TwoFactorView)
    appbuilder.add_view_no_menu(AttachmentView)
    appbuilder.add_view_no_menu(VerifyView)  # public: /verify/<token>
    # Public: /public/regions/children/<code> for the province / city / district selects.
    appbuilder.add_view_no_menu(RegionView)
    register_region_globals(current_app)

    # Documents whose QR code leads to /verify/<token> (app.services.verification).
    from app.services.certificates import register_documents as register_rental_documents

    register_rental_documents()
    from app.services.usedcar_documents import register_documents as register_usedcar_documents

    register_usedcar_documents()

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

    # Rental filing (seed 000) and the shared case views.
    appbuilder.add_view(ReviewQueueView, s.MENU_REVIEW, label=_l("Review queue"),
                        icon="fa-tasks", category=s.MENU_CAT_RENTAL,
                        category_label=_l("Rental filing"), category_icon="fa-car")
    appbuilder.add_view(CounterEntryView, s.MENU_COUNTER, label=_l("Counter entry"),
                        icon="fa-keyboard", category=s.MENU_CAT_RENTAL)
    appbuilder.add_view(RentalHomeView, s.MENU_RENTAL_HOME, label=_l("Rental home"),
                        icon="fa-home", category=s.MENU_CAT_RENTAL)
    appbuilder.add_link(s.MENU_RENTAL_FILING, href="/rental/filing",
                        label=_l("Rental filing details"), icon="fa-id-card",
                        category=s.MENU_CAT_RENTAL, baseview=RentalHomeView)
    appbuilder.add_view(VehicleView, s.MENU_VEHICLES, label=_l("Vehicles"), icon="fa-car",
                        category=s.MENU_CAT_RENTAL)
    appbuilder.add_view(ApplicationView, s.MENU_CASES, label=_l("Cases"), icon="fa-folder-open",
                        category=s.MENU_CAT_RENTAL)
    vehicle_forms = appbuilder.add_view(
        VehicleFormsView, s.MENU_VEHICLE_FORMS, label=_l("Vehicle filing registration"),
        icon="fa-plus-square", category=s.MENU_CAT_RENTAL)
    # R14: the enterprise's users and roles (platform views) from the module's menu too.
    appbuilder.add_link(s.MENU_ENTERPRISE_USERS, href="/enterprise/users/list/",
                        label=_l("Users"), icon="fa-users", category=s.MENU_CAT_RENTAL)
    appbuilder.add_link(s.MENU_ENTERPRISE_ROLES, href="/enterprise/roles/list/",
                        label=_l("Roles"), icon="fa-user-tag", category=s.MENU_CAT_RENTAL)
    for op, label, icon in (("change", _l("Vehicle filing change"), "fa-edit"),
                            ("suspend", _l("Vehicle suspension"), "fa-pause"),
                            ("resume", _l("Vehicle resumption"), "fa-play"),
                            ("terminate", _l("Vehicle termination"), "fa-stop"),
                            ("scrap", _l("Vehicle scrapping"), "fa-trash")):
        appbuilder.add_link(s.MENU_VEHICLE_FORMS, href=f"/rental/vehicles/{op}", label=label,
                            icon=icon, category=s.MENU_CAT_RENTAL, baseview=vehicle_forms)
    appbuilder.add_view(JobView, s.MENU_MY_DOWNLOADS, label=_l("My downloads"),
                        icon="fa-download")
    appbuilder.add_api(JobApi)
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

    # Used-car module (seed 001): self-registration (U1, public) and the enterprise's
    # registration profile.
    appbuilder.add_view_no_menu(UsedCarRegisterView)
    appbuilder.add_link(s.MENU_USEDCAR_REGISTER, href="UsedCarRegisterView.register",
                        label=_l("Used-car enterprise registration"), icon="fa-user-plus")
    appbuilder.add_view(UsedCarProfileView, s.MENU_USEDCAR_PROFILE,
                        label=_l("Registration profile"), icon="fa-id-card",
                        category=s.MENU_CAT_USEDCAR, category_label=_l("Used-car circulation"),
                        category_icon="fa-car-side")

    # Power licensing (seed 002): self-registration (P1, public) with the parent-enterprise
    # popup's search, "my information" (P2; authorities land on the profile list) and the
    # power profiles' list and API.
    from app.views.power_register import (
        PowerInformationView,
        PowerParentSearchView,
        PowerProfileApi,
        PowerProfileModelView,
        PowerRegisterView,
    )

    appbuilder.add_view_no_menu(PowerRegisterView)
    appbuilder.add_view_no_menu(PowerParentSearchView)
    appbuilder.add_link(s.MENU_POWER_REGISTER, href="PowerRegisterView.register",
                        label=_l("Power enterprise registration"), icon="fa-user-plus")
    appbuilder.add_view_no_menu(PowerProfileModelView)
    appbuilder.add_view(PowerInformationView, s.MENU_POWER_PROFILE,
                        label=_l("Enterprise information"), icon="fa-id-card",
                        category=s.MENU_CAT_POWER, category_label=_l("Power licensing"),
                        category_icon="fa-bolt")
    appbuilder.add_api(PowerProfileApi)

    for api in (EnterpriseApi, AuthorityApi, EnterpriseUserApi, EnterpriseRoleApi,
                AuditEventApi, ApplicationApi, VehicleApi):
        appbuilder.add_api(api)

    # Used-car circulation (seed 001): filings confirmed by the local commerce authority.
    from app.views.usedcar import UsedCarFilingFormsView, UsedCarFilingView

    appbuilder.add_link(s.MENU_USEDCAR_CONFIRM, href="/review/list/?_flt_0_kind=usedcar_filing",
                        label=_l("Filing confirmation queue"), icon="fa-tasks",
                        category=s.MENU_CAT_USEDCAR, category_label=_l("Used-car circulation"),
                        category_icon="fa-car-side")
    appbuilder.add_view(UsedCarFilingFormsView, s.MENU_USEDCAR_FILING,
                        label=_l("Enterprise filing"), icon="fa-id-card",
                        category=s.MENU_CAT_USEDCAR)
    appbuilder.add_view_no_menu(UsedCarFilingView)

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

    # Used-car module (seed 001): sales records (U5-U6).
    from app.views.usedcar_sales import UsedCarSaleApi, UsedCarSaleView

    # The seed's order: entry, then the list.
    sales = appbuilder.add_view_no_menu(UsedCarSaleView)
    appbuilder.add_link(s.MENU_USEDCAR_SALE_ENTRY, href="UsedCarSaleView.add",
                        label=_l("Used-car sales entry"), icon="fa-plus-square",
                        category=s.MENU_CAT_USEDCAR, category_label=_l("Used-car circulation"),
                        category_icon="fa-car-side", baseview=sales)
    appbuilder.add_link(s.MENU_USEDCAR_SALES, href="UsedCarSaleView.list",
                        label=_l("Used-car sales records"), icon="fa-list",
                        category=s.MENU_CAT_USEDCAR, baseview=sales)
    appbuilder.add_api(UsedCarSaleApi)

    # Used-car trade reports (U7-U8) and the authority's oversight of them (U9).
    from app.views.usedcar_reports import (
        MonthlyReportView,
        QuarterlyReportView,
        ReportExtensionView,
        UsedCarOversightView,
        UsedCarReportApi,
    )

    appbuilder.add_view(MonthlyReportView, s.MENU_USEDCAR_MONTHLY,
                        label=_l("Monthly trade reports"), icon="fa-calendar",
                        category=s.MENU_CAT_USEDCAR, category_label=_l("Used-car circulation"),
                        category_icon="fa-car-side")
    appbuilder.add_view(QuarterlyReportView, s.MENU_USEDCAR_QUARTERLY,
                        label=_l("Appraisal quarterly reports"), icon="fa-calendar-alt",
                        category=s.MENU_CAT_USEDCAR)
    oversight = appbuilder.add_view(
        UsedCarOversightView, s.MENU_USEDCAR_MISSING, label=_l("Missing reports"),
        icon="fa-exclamation-circle", category=s.MENU_CAT_USEDCAR)
    appbuilder.add_link(s.MENU_USEDCAR_AGGREGATES, href="/usedcar/oversight/aggregates/",
                        label=_l("Regional aggregates"), icon="fa-chart-bar",
                        category=s.MENU_CAT_USEDCAR, baseview=oversight)
    appbuilder.add_view(ReportExtensionView, s.MENU_USEDCAR_EXTENSIONS,
                        label=_l("Report window extensions"), icon="fa-clock",
                        category=s.MENU_CAT_USEDCAR)
    appbuilder.add_api(UsedCarReportApi)

    # Power-facility licensing (seed 002): the module home, licence matters (P3-P11), the
    # licences and their certificates (P16), the authority's conditions and credit register.
    from app.services.licences import register_documents as register_licence_documents
    from app.views.licence import (
        CreditRecordView,
        LicenceApi,
        LicenceConditionView,
        LicenceRequestView,
        LicenceView,
        PowerHomeView,
    )

    register_licence_documents()
    appbuilder.add_view(PowerHomeView, s.MENU_POWER_HOME, label=_l("Licensing home"),
                        icon="fa-bolt", category=s.MENU_CAT_POWER,
                        category_label=_l("Power licensing"), category_icon="fa-bolt")
    appbuilder.add_view(LicenceRequestView, s.MENU_LICENCE_REQUESTS,
                        label=_l("Licence applications"), icon="fa-file-text-o",
                        category=s.MENU_CAT_POWER)
    appbuilder.add_view(LicenceView, s.MENU_LICENCES, label=_l("Licences"),
                        icon="fa-certificate", category=s.MENU_CAT_POWER)
    appbuilder.add_view(LicenceConditionView, s.MENU_POWER_CONDITIONS,
                        label=_l("Licence conditions"), icon="fa-list-ol",
                        category=s.MENU_CAT_POWER)
    appbuilder.add_view(CreditRecordView, s.MENU_POWER_CREDIT, label=_l("Credit register"),
                        icon="fa-shield", category=s.MENU_CAT_POWER)
    appbuilder.add_api(LicenceApi)
    # Power-facility licensing (seed 002): the staff roster and personnel changes (P12).
    from app.views.staff import ElectricianView, PersonnelView, PowerStaffApi, TechnicalStaffView

    appbuilder.add_view(TechnicalStaffView, s.MENU_POWER_STAFF, label=_l("Staff roster"),
                        icon="fa-users", category=s.MENU_CAT_POWER,
                        category_label=_l("Power licensing"), category_icon="fa-bolt")
    appbuilder.add_view_no_menu(ElectricianView)
    appbuilder.add_view(PersonnelView, s.MENU_POWER_PERSONNEL, label=_l("Personnel changes"),
                        icon="fa-user-edit", category=s.MENU_CAT_POWER)
    appbuilder.add_api(PowerStaffApi)
    # Power-facility licensing (seed 002): self-inspection campaigns (P15).
    from app.views.campaign import (
        InspectionCampaignApi,
        InspectionCampaignView,
        InspectionReturnApi,
        InspectionReturnView,
    )
    from app.views.campaign import register_todos as register_campaign_todos

    appbuilder.add_view(InspectionCampaignView, s.MENU_CAMPAIGNS,
                        label=_l("Self-inspection campaigns"), icon="fa-clipboard-check",
                        category=s.MENU_CAT_POWER, category_label=_l("Power licensing"),
                        category_icon="fa-bolt")
    appbuilder.add_view(InspectionReturnView, s.MENU_CAMPAIGN_RETURNS,
                        label=_l("Self-inspections"), icon="fa-clipboard-list",
                        category=s.MENU_CAT_POWER)
    appbuilder.add_api(InspectionCampaignApi)
    appbuilder.add_api(InspectionReturnApi)
    register_campaign_todos()
    # Power licensing (seed 002) P14: service evaluations (好差评): the enterprise's
    # evaluation of an ended case (its inbox to-do), the public page of a QR code, the
    # authority's codes and results.
    from app.services import evaluations as evaluation_service
    from app.services import inbox as inbox_service
    from app.views.evaluation import (
        EvaluationApi,
        EvaluationCaseView,
        EvaluationCodeApi,
        EvaluationCodeView,
        EvaluationView,
        PublicEvaluationView,
    )

    appbuilder.add_view_no_menu(EvaluationCaseView)
    appbuilder.add_view_no_menu(PublicEvaluationView)  # public: /public/evaluate/<token>
    appbuilder.add_view(EvaluationView, s.MENU_EVALUATIONS, label=_l("Service evaluations"),
                        icon="fa-star-half-alt", category=s.MENU_CAT_POWER,
                        category_label=_l("Power licensing"), category_icon="fa-bolt")
    appbuilder.add_view(EvaluationCodeView, s.MENU_EVALUATION_CODES,
                        label=_l("Evaluation QR codes"), icon="fa-qrcode",
                        category=s.MENU_CAT_POWER)
    appbuilder.add_api(EvaluationApi)
    appbuilder.add_api(EvaluationCodeApi)
    inbox_service.register_todo_provider("evaluation", evaluation_service.todo_provider)
