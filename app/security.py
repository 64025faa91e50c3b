"""AppSecurityManager: tenancy scope, 2FA policy, password policy, roles as data.

Role and permission names are constants here; the permissions of each built-in role are data
(ROLE_PERMISSIONS) applied by `flask regportal setup` / sync_roles().
"""

from __future__ import annotations

import datetime
import logging

from flask import current_app, g, has_request_context
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_babel import lazy_gettext as _l

from app.models.base import (
    ANONYMOUS,
    AUTHORITY,
    ENTERPRISE,
    INDIVIDUAL,
    UNRESTRICTED,
    TenantScope,
)
from app.models.identity import AppUser as User

log = logging.getLogger(__name__)

# Built-in roles (names are data keys; labels are translated in the UI).
ROLE_ADMIN = "System Admin"
ROLE_REGULATOR = "Regulator"
ROLE_AUDITOR = "Auditor"
ROLE_ENT_ADMIN = "Enterprise Admin"
ROLE_ENT_STAFF = "Enterprise Staff"
ROLE_INDIVIDUAL = "Individual"
ROLE_PUBLIC = "Public"

ROLE_LABELS = {
    ROLE_ADMIN: _l("System Admin"),
    ROLE_REGULATOR: _l("Regulator"),
    ROLE_AUDITOR: _l("Auditor"),
    ROLE_ENT_ADMIN: _l("Enterprise Admin"),
    ROLE_ENT_STAFF: _l("Enterprise Staff"),
    ROLE_INDIVIDUAL: _l("Individual"),
    ROLE_PUBLIC: _l("Public"),
}

BUILTIN_ROLES = (
    ROLE_ADMIN, ROLE_REGULATOR, ROLE_AUDITOR, ROLE_ENT_ADMIN, ROLE_ENT_STAFF, ROLE_INDIVIDUAL,
    ROLE_PUBLIC,
)
# Roles that must enrol in TOTP before doing anything else.
TOTP_MANDATORY_ROLES = frozenset({ROLE_ADMIN, ROLE_REGULATOR, ROLE_AUDITOR})
# Roles an enterprise admin may hand to its own users (besides its own enterprise roles).
ENTERPRISE_ASSIGNABLE_ROLES = (ROLE_ENT_ADMIN, ROLE_ENT_STAFF)
# Prefix of the FAB role behind an enterprise-defined role: "ent<enterprise_id>:<name>".
ENTERPRISE_ROLE_PREFIX = "ent"

# Permission-view names (class_permission_name of views and APIs).
PV_ENTERPRISE = "Enterprise"
PV_AUTHORITY = "Authority"
PV_ENTERPRISE_USER = "EnterpriseUser"
PV_ENTERPRISE_ROLE = "EnterpriseRole"
PV_AUDIT = "AuditEvent"
PV_ATTACHMENT = "Attachment"
PV_OUTBOX = "Outbox"
PV_ACCOUNT = "Account"
# Workflow cases of every module; can_apply = open / resubmit / withdraw one's own cases,
# can_review = approve / reject / return in the jurisdiction (app/workflows/engine.py).
PV_APPLICATION = "Application"
PV_REVIEW = "ReviewQueue"
PV_VEHICLE = "Vehicle"
PV_RENTAL_FILING = "RentalFiling"
PV_RENTAL = "Rental"  # the rental module's enterprise-side forms
PV_JOB = "Job"
PV_ANNOUNCEMENT = "Announcement"  # managing announcements (reading them is public)
PV_INBOX = "Inbox"
PV_DASHBOARD = "Dashboard"
# Used-car module (seed 001)
PV_USEDCAR_FILING = "UsedCarFiling"  # filing forms of the enterprise's business types (U3)
PV_USEDCAR_SALE = "UsedCarSale"  # sales records, their import (U5-U6)
PV_USEDCAR_REPORT = "UsedCarReport"  # monthly / quarterly trade reports (U7-U8)
PV_USEDCAR_OVERSIGHT = "UsedCarOversight"  # authority: missing reports, aggregates (U9)
# Power-facility licensing module (seed 002)
PV_POWER_PROFILE = "PowerProfile"  # P1-P2 the enterprise's registration data
PV_LICENCE = "Licence"  # licences and their versions, certificates (P16)
PV_LICENCE_REQUEST = "LicenceRequest"  # P3-P11 application drafts, tabs, check, submit
PV_POWER_STAFF = "PowerStaff"  # the staff roster and personnel changes (P12)
PV_POWER_ADMIN = "PowerAdmin"  # authority: licence conditions, credit register
PV_EVALUATION = "Evaluation"  # P14 service evaluations (好差评) and their QR codes
PV_CAMPAIGN = "InspectionCampaign"  # P15 self-inspection campaigns (authority)
PV_CAMPAIGN_RETURN = "InspectionReturn"  # P15 an enterprise's self-inspection

READ = ("can_list", "can_show")
WRITE = ("can_add", "can_edit", "can_delete")
EXPORT = ("can_export",)
MENU = "menu_access"

# Menu entries (FAB checks menu_access on the menu item name).
MENU_MY_ENTERPRISE = "My Enterprise"
MENU_ENTERPRISES = "Enterprises"
MENU_AUTHORITIES = "Authorities"
MENU_ENTERPRISE_USERS = "Enterprise Users"
MENU_ENTERPRISE_ROLES = "Enterprise Roles"
MENU_AUDIT = "Audit Trail"
MENU_OUTBOX = "Outbox"
MENU_MY_DOWNLOADS = "My Downloads"
MENU_CAT_ORG = "Organisations"
MENU_CAT_ADMIN = "Administration"
MENU_CAT_RENTAL = "Rental filing"
MENU_RENTAL_HOME = "Rental home"
MENU_RENTAL_FILING = "Rental filing details"
MENU_VEHICLES = "Vehicles"
MENU_CASES = "Cases"
MENU_RENTAL_FORMS = "Rental applications"
MENU_VEHICLE_FORMS = "Vehicle filing forms"
MENU_REVIEW = "Review queue"
MENU_COUNTER = "Counter entry"
MENU_INBOX = "Inbox"
MENU_DASHBOARD = "Dashboard"
MENU_ANNOUNCEMENTS = "Announcements"
MENU_MANAGE_ANNOUNCEMENTS = "Manage announcements"
MENU_CAT_CONTENT = "Announcements and notices"
MENU_RENTAL_PUBLIC = "Rental public services"  # R1-R4 for anonymous visitors
MENU_CAT_USEDCAR = "Used-car circulation"
# A module's menu shows only to enterprises and authorities of its sector (a used-car dealer
# has no use for the rental menu, even with the same Enterprise Admin role).
MENU_CAT_POWER = "Power licensing"
MENU_CATEGORY_SECTORS = {"Rental filing": "rental", "Used-car circulation": "usedcar",
                         MENU_CAT_POWER: "power"}
MENU_USEDCAR_FILING = "Used-car filing"
MENU_USEDCAR_SALE_ENTRY = "Sales entry"
MENU_USEDCAR_SALES = "Sales records"
MENU_USEDCAR_MONTHLY = "Monthly trade reports"
MENU_USEDCAR_QUARTERLY = "Appraisal quarterly reports"
MENU_USEDCAR_CONFIRM = "Filing confirmation queue"
MENU_USEDCAR_MISSING = "Missing reports"
MENU_USEDCAR_AGGREGATES = "Regional aggregates"
MENU_USEDCAR_EXTENSIONS = "Report window extensions"
MENU_USEDCAR_PROFILE = "Used-car registration profile"  # U1 data of the enterprise
MENU_USEDCAR_REGISTER = "Used-car registration"  # U1 for anonymous visitors
MENU_POWER_HOME = "Power licensing home"
MENU_POWER_PROFILE = "Power enterprise information"
MENU_LICENCES = "Licences"
MENU_LICENCE_REQUESTS = "Licence applications"
MENU_POWER_STAFF = "Staff roster"
MENU_POWER_PERSONNEL = "Personnel changes"  # P12 join / leave applications
MENU_POWER_CONDITIONS = "Licence conditions"
MENU_POWER_CREDIT = "Credit register"
MENU_EVALUATIONS = "Service evaluations"
MENU_EVALUATION_CODES = "Evaluation QR codes"
MENU_CAMPAIGNS = "Self-inspection campaigns"
MENU_CAMPAIGN_RETURNS = "Self-inspections"
MENU_POWER_REGISTER = "Power enterprise registration"  # P1 for anonymous visitors


# ModelRestApi twins use the ModelView permission names, so one grant covers UI and API.
API_METHOD_PERMISSIONS = {"get_list": "list", "get": "show", "post": "add", "put": "edit",
                          "delete": "delete", "info": "list", "export": "export"}


# Human labels for permission and view-menu names (enterprise role form, role lists).
PERMISSION_LABELS = {
    "can_list": _l("list"),
    "can_show": _l("view details"),
    "can_add": _l("add"),
    "can_edit": _l("edit"),
    "can_delete": _l("delete"),
    "can_export": _l("export"),
    "can_upload": _l("upload"),
    "can_download": _l("download"),
    "menu_access": _l("menu entry"),
    "reset_password": _l("reset password"),
    "can_apply": _l("submit applications"),
    "can_review": _l("review applications"),
    "can_certificate": _l("print certificates"),
    "can_transition": _l("process cases"),
    "can_counter": _l("counter entry"),
    "can_forms": _l("fill in application forms"),
    "can_print": _l("print"),
    "can_import": _l("import"),
    "can_extend": _l("extend report windows"),
    "can_codes": _l("generate evaluation QR codes"),
    "can_launch": _l("launch campaigns"),
}
VIEW_LABELS = {
    PV_ENTERPRISE: _l("Enterprise information"),
    PV_AUTHORITY: _l("Authorities"),
    PV_ENTERPRISE_USER: _l("Users of my enterprise"),
    PV_ENTERPRISE_ROLE: _l("Roles of my enterprise"),
    PV_AUDIT: _l("Audit trail"),
    PV_ATTACHMENT: _l("Attachments"),
    PV_JOB: _l("My downloads"),
    MENU_MY_DOWNLOADS: _l("My downloads"),
    MENU_MY_ENTERPRISE: _l("My enterprise"),
    MENU_CAT_ORG: _l("Organisations"),
    PV_APPLICATION: _l("Applications and cases"),
    PV_VEHICLE: _l("Filed vehicles"),
    PV_RENTAL_FILING: _l("Rental filing"),
    PV_RENTAL: _l("Rental application forms"),
    MENU_CAT_RENTAL: _l("Rental filing"),
    MENU_RENTAL_HOME: _l("Rental home"),
    MENU_RENTAL_FILING: _l("Rental filing details"),
    MENU_VEHICLES: _l("Vehicles"),
    MENU_CASES: _l("Cases"),
    MENU_RENTAL_FORMS: _l("Rental applications"),
    PV_ANNOUNCEMENT: _l("Announcements"),
    PV_INBOX: _l("Inbox"),
    PV_DASHBOARD: _l("Dashboard"),
    MENU_ANNOUNCEMENTS: _l("Announcements"),
    MENU_CAT_CONTENT: _l("Announcements and notices"),
    PV_USEDCAR_FILING: _l("Used-car filing"),
    PV_USEDCAR_SALE: _l("Used-car sales records"),
    PV_USEDCAR_REPORT: _l("Used-car trade reports"),
    MENU_CAT_USEDCAR: _l("Used-car circulation"),
    PV_POWER_PROFILE: _l("Power enterprise information"),
    PV_LICENCE: _l("Power-facility licences"),
    PV_LICENCE_REQUEST: _l("Licence applications"),
    PV_POWER_STAFF: _l("Staff roster and personnel changes"),
    MENU_POWER_STAFF: _l("Staff roster"),
    MENU_POWER_PERSONNEL: _l("Personnel changes"),
    PV_EVALUATION: _l("Service evaluations"),
    PV_CAMPAIGN_RETURN: _l("Self-inspections"),
    MENU_CAT_POWER: _l("Power licensing"),
}


def _perms(view: str, names) -> list[tuple[str, str]]:
    return [(name, view) for name in names]


def _menus(*names) -> list[tuple[str, str]]:
    return [(MENU, name) for name in names]


# Permissions an enterprise admin may put into an enterprise-defined role. Modules extend this
# with their own enterprise-side views; admin, authority and user-management permissions are
# never in it.
ENTERPRISE_GRANTABLE: list[tuple[str, str]] = [
    *_perms(PV_ENTERPRISE, READ),
    *_perms(PV_ATTACHMENT, ("can_upload", "can_download")),
    *_menus(MENU_MY_ENTERPRISE, MENU_CAT_ORG),
    # rental module (seed 000)
    *_perms(PV_APPLICATION, READ + EXPORT + ("can_apply", "can_transition")),
    *_perms(PV_VEHICLE, READ + EXPORT + ("can_certificate",)),
    *_perms(PV_RENTAL_FILING, READ + ("can_certificate",)),
    *_perms(PV_RENTAL, ("can_forms",)),
    *_menus(MENU_CAT_RENTAL, MENU_RENTAL_HOME, MENU_RENTAL_FILING, MENU_VEHICLES, MENU_CASES,
            MENU_RENTAL_FORMS, MENU_VEHICLE_FORMS),
    # used-car module (seed 001)
    *_perms(PV_USEDCAR_FILING, READ + EXPORT + ("can_edit", "can_print")),
    *_perms(PV_USEDCAR_SALE, READ + WRITE + EXPORT + ("can_import",)),
    *_perms(PV_USEDCAR_REPORT, READ + EXPORT + ("can_add", "can_edit")),
    *_menus(MENU_CAT_USEDCAR, MENU_USEDCAR_FILING, MENU_USEDCAR_SALE_ENTRY, MENU_USEDCAR_SALES,
            MENU_USEDCAR_MONTHLY, MENU_USEDCAR_QUARTERLY, MENU_USEDCAR_PROFILE),
    # power-facility licensing module (seed 002)
    *_perms(PV_POWER_PROFILE, READ + ("can_edit",)),
    *_perms(PV_LICENCE, READ + EXPORT + ("can_certificate",)),
    *_perms(PV_LICENCE_REQUEST, READ + WRITE + EXPORT),
    *_perms(PV_POWER_STAFF, READ + EXPORT + ("can_apply",)),
    *_perms(PV_CAMPAIGN_RETURN, READ + ("can_edit",)),
    ("can_add", PV_EVALUATION),
    *_menus(MENU_CAT_POWER, MENU_POWER_HOME, MENU_POWER_PROFILE, MENU_LICENCES,
            MENU_LICENCE_REQUESTS, MENU_POWER_STAFF, MENU_CAMPAIGN_RETURNS),
    *_menus(MENU_POWER_PERSONNEL),
    # Inbox (own cases and notices), dashboard of the enterprise, announcements.
    ("can_list", PV_INBOX),
    ("can_list", PV_DASHBOARD),
    *_menus(MENU_INBOX, MENU_DASHBOARD, MENU_ANNOUNCEMENTS, MENU_CAT_CONTENT),
]

# The OpenAPI document and Swagger UI, for every signed-in role that has an API.
API_DOCS = [("can_get", "OpenApi"), ("can_show", "SwaggerView"), ("can_get", "MenuApi")]
# Every signed-in user: change own password, see own profile.
SELF_SERVICE = [
    ("can_this_form_get", "ChangePasswordView"),
    ("can_this_form_post", "ChangePasswordView"),
    ("can_userinfo", "UserDBModelView"),
    ("resetmypassword", "UserDBModelView"),
    # Own background jobs and their files ("my downloads"); the ORM shows a job to its owner.
    *_perms(PV_JOB, ("can_list", "can_show", "can_download", "can_delete")),
    (MENU, MENU_MY_DOWNLOADS),
]

# Inbox and announcements for every signed-in role; the dashboard for those who supervise.
CONTENT_READER = [("can_list", PV_INBOX), *_menus(MENU_INBOX, MENU_ANNOUNCEMENTS,
                                                   MENU_CAT_CONTENT)]
DASHBOARD = [("can_list", PV_DASHBOARD), *_menus(MENU_DASHBOARD)]

ROLE_PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    ROLE_REGULATOR: [
        *CONTENT_READER,
        *DASHBOARD,
        *_perms(PV_ANNOUNCEMENT, READ + WRITE + EXPORT),
        *_menus(MENU_MANAGE_ANNOUNCEMENTS),
        *SELF_SERVICE,
        *API_DOCS,
        *_perms(PV_ENTERPRISE, READ + EXPORT),
        *_perms(PV_AUTHORITY, READ),
        *_perms(PV_ATTACHMENT, ("can_download",)),
        *_menus(MENU_ENTERPRISES, MENU_AUTHORITIES, MENU_CAT_ORG),
        *_perms(PV_APPLICATION, READ + EXPORT + ("can_review", "can_transition",
                                                 "can_counter")),
        *_perms(PV_REVIEW, READ + EXPORT),
        *_perms(PV_VEHICLE, READ + EXPORT + ("can_certificate",)),
        *_perms(PV_RENTAL_FILING, READ + EXPORT + ("can_certificate",)),
        *_menus(MENU_CAT_RENTAL, MENU_REVIEW, MENU_COUNTER, MENU_VEHICLES, MENU_CASES,
                MENU_RENTAL_FILING),
        *_perms(PV_USEDCAR_FILING, READ + EXPORT + ("can_print",)),
        *_perms(PV_USEDCAR_SALE, READ + EXPORT),
        *_perms(PV_USEDCAR_REPORT, READ + EXPORT),
        *_perms(PV_USEDCAR_OVERSIGHT, ("can_list", "can_export", "can_extend")),
        *_menus(MENU_CAT_USEDCAR, MENU_USEDCAR_CONFIRM, MENU_USEDCAR_FILING, MENU_USEDCAR_SALES,
                MENU_USEDCAR_MONTHLY, MENU_USEDCAR_QUARTERLY, MENU_USEDCAR_MISSING,
                MENU_USEDCAR_AGGREGATES, MENU_USEDCAR_EXTENSIONS),
        *_perms(PV_POWER_PROFILE, READ + EXPORT),
        *_perms(PV_LICENCE, READ + EXPORT + ("can_certificate",)),
        *_perms(PV_LICENCE_REQUEST, READ + EXPORT),
        *_perms(PV_POWER_STAFF, READ + EXPORT),
        *_perms(PV_POWER_ADMIN, READ + WRITE + EXPORT),
        *_perms(PV_EVALUATION, READ + EXPORT + ("can_codes",)),
        *_perms(PV_CAMPAIGN, READ + WRITE + EXPORT + ("can_launch",)),
        *_perms(PV_CAMPAIGN_RETURN, READ + EXPORT + ("can_review",)),
        *_menus(MENU_CAT_POWER, MENU_POWER_PROFILE, MENU_LICENCES, MENU_LICENCE_REQUESTS,
                MENU_POWER_STAFF, MENU_POWER_CONDITIONS, MENU_POWER_CREDIT, MENU_EVALUATIONS,
                MENU_EVALUATION_CODES, MENU_CAMPAIGNS, MENU_CAMPAIGN_RETURNS),
    ],
    ROLE_AUDITOR: [
        *CONTENT_READER,
        *DASHBOARD,
        *SELF_SERVICE,
        *API_DOCS,
        *_perms(PV_ENTERPRISE, READ + EXPORT),
        *_perms(PV_AUTHORITY, READ),
        *_perms(PV_AUDIT, READ + EXPORT),
        *_menus(MENU_ENTERPRISES, MENU_AUTHORITIES, MENU_AUDIT, MENU_CAT_ORG,
                MENU_CAT_ADMIN),
        *_perms(PV_APPLICATION, READ + EXPORT),
        *_perms(PV_VEHICLE, READ + EXPORT),
        *_perms(PV_RENTAL_FILING, READ + EXPORT),
        *_menus(MENU_CAT_RENTAL, MENU_VEHICLES, MENU_CASES, MENU_RENTAL_FILING),
        # Auditors read and export; they change nothing (U9).
        *_perms(PV_USEDCAR_FILING, READ + EXPORT + ("can_print",)),
        *_perms(PV_USEDCAR_SALE, READ + EXPORT),
        *_perms(PV_USEDCAR_REPORT, READ + EXPORT),
        *_perms(PV_USEDCAR_OVERSIGHT, ("can_list", "can_export")),
        *_menus(MENU_CAT_USEDCAR, MENU_USEDCAR_FILING, MENU_USEDCAR_SALES, MENU_USEDCAR_MONTHLY,
                MENU_USEDCAR_QUARTERLY, MENU_USEDCAR_MISSING, MENU_USEDCAR_AGGREGATES),
        *_perms(PV_POWER_PROFILE, READ + EXPORT),
        *_perms(PV_LICENCE, READ + EXPORT + ("can_certificate",)),
        *_perms(PV_LICENCE_REQUEST, READ + EXPORT),
        *_perms(PV_POWER_STAFF, READ + EXPORT),
        *_perms(PV_POWER_ADMIN, READ + EXPORT),
        *_perms(PV_EVALUATION, READ + EXPORT),
        *_perms(PV_CAMPAIGN, READ + EXPORT),
        *_perms(PV_CAMPAIGN_RETURN, READ + EXPORT),
        *_menus(MENU_CAT_POWER, MENU_POWER_PROFILE, MENU_LICENCES, MENU_LICENCE_REQUESTS,
                MENU_POWER_STAFF, MENU_POWER_CONDITIONS, MENU_POWER_CREDIT, MENU_EVALUATIONS,
                MENU_CAMPAIGNS, MENU_CAMPAIGN_RETURNS),
    ],
    ROLE_ENT_ADMIN: [
        *SELF_SERVICE,
        *API_DOCS,
        *ENTERPRISE_GRANTABLE,
        *_perms(PV_ENTERPRISE_USER, READ + WRITE + EXPORT + ("reset_password",)),
        *_perms(PV_ENTERPRISE_ROLE, READ + WRITE + EXPORT),
        *_perms(PV_AUDIT, READ),
        *_menus(MENU_ENTERPRISE_USERS, MENU_ENTERPRISE_ROLES, MENU_AUDIT, MENU_CAT_ADMIN),
    ],
    ROLE_ENT_STAFF: [
        *SELF_SERVICE,
        *CONTENT_READER,
        *DASHBOARD,
        *_perms(PV_ENTERPRISE, READ),
        *_perms(PV_ATTACHMENT, ("can_upload", "can_download")),
        *_menus(MENU_MY_ENTERPRISE, MENU_CAT_ORG),
        *_perms(PV_APPLICATION, READ),
        *_perms(PV_VEHICLE, READ + ("can_certificate",)),
        *_perms(PV_RENTAL_FILING, READ),
        *_menus(MENU_CAT_RENTAL, MENU_RENTAL_HOME, MENU_RENTAL_FILING, MENU_VEHICLES,
                MENU_CASES),
        *_perms(PV_USEDCAR_FILING, READ + ("can_print",)),
        *_perms(PV_USEDCAR_SALE, READ),
        *_perms(PV_USEDCAR_REPORT, READ),
        *_menus(MENU_CAT_USEDCAR, MENU_USEDCAR_FILING, MENU_USEDCAR_SALES, MENU_USEDCAR_MONTHLY,
                MENU_USEDCAR_QUARTERLY, MENU_USEDCAR_PROFILE),
        *_perms(PV_POWER_PROFILE, READ),
        *_perms(PV_LICENCE, READ + ("can_certificate",)),
        *_perms(PV_LICENCE_REQUEST, READ),
        *_perms(PV_POWER_STAFF, READ),
        *_perms(PV_CAMPAIGN_RETURN, READ),
        *_menus(MENU_CAT_POWER, MENU_POWER_HOME, MENU_POWER_PROFILE, MENU_LICENCES,
                MENU_LICENCE_REQUESTS, MENU_POWER_STAFF, MENU_CAMPAIGN_RETURNS),
    ],
    ROLE_INDIVIDUAL: [*SELF_SERVICE, *CONTENT_READER],
    # Anonymous visitors: the public announcement pages need no permission, only the menu.
    ROLE_PUBLIC: [*_menus(MENU_ANNOUNCEMENTS, MENU_CAT_CONTENT, MENU_RENTAL_PUBLIC,
                          MENU_USEDCAR_REGISTER, MENU_POWER_REGISTER)],
}


class AppSecurityManager(SecurityManager):
    user_model = User

    def __init__(self, appbuilder):
        # Our account views replace FAB's; imported here to avoid an import cycle.
        from app.views.accounts import (
            AppAuthDBView,
            AppSecurityApi,
            ChangePasswordView,
            ScopedResetPasswordView,
        )
        from app.views.identity import AppUserDBModelView

        self.authdbview = AppAuthDBView
        self.security_api = AppSecurityApi
        self.resetmypasswordview = ChangePasswordView
        self.resetpasswordview = ScopedResetPasswordView
        self.userdbmodelview = AppUserDBModelView
        super().__init__(appbuilder)

    # ----- sessions and tokens: a changed credential ends older logins ---------------
    def load_user(self, pk):
        from flask import session

        from app.services import sessions

        user = super().load_user(pk)
        if user is not None and has_request_context() and not sessions.matches(
                user, session.get(sessions.SESSION_KEY)):
            return None  # logged out elsewhere, password or 2FA changed, deactivated
        return user

    def load_user_jwt(self, _jwt_header, jwt_data):
        from app.services import sessions
        from app.views.accounts import api_refusal

        user = self.get_user_by_id(int(jwt_data["sub"]))
        if user is None or not user.is_active:
            return None
        if not sessions.matches(user, jwt_data.get(sessions.JWT_CLAIM)):
            return None
        if api_refusal(user):
            return None
        g.user = user
        return user

    def role_names(self, user) -> set[str]:
        """Roles held directly and through FAB groups."""
        return {r.name for r in self.get_user_roles(user)}

    # ----- tenancy --------------------------------------------------------------------
    def tenant_scope(self, user) -> TenantScope:
        if user is None or not getattr(user, "is_authenticated", False):
            return TenantScope(ANONYMOUS)
        role_names = self.role_names(user)
        if ROLE_ADMIN in role_names:
            return TenantScope(UNRESTRICTED, user_id=user.id)
        if user.enterprise_id:
            return TenantScope(ENTERPRISE, user_id=user.id, enterprise_id=user.enterprise_id)
        if user.authority_id:
            return TenantScope(AUTHORITY, user_id=user.id, authority_id=user.authority_id)
        return TenantScope(INDIVIDUAL, user_id=user.id)

    # ----- permission checks: one query per request, not one per menu entry -----------
    def exist_permission_on_roles(self, view_name, permission_name, role_ids) -> bool:
        """FAB asks the database once per menu entry and button (45 queries for a list
        page); the pairs of the user's roles are read once per request instead. Permission
        changes take effect on the next request."""
        if not has_request_context():
            return super().exist_permission_on_roles(view_name, permission_name, role_ids)
        key = tuple(sorted(role_ids))
        cache = g.setdefault("_permission_pairs", {})
        if key not in cache:
            from flask_appbuilder.security.sqla.models import assoc_permissionview_role

            pv = self.permissionview_model
            rows = (self.session.query(self.permission_model.name, self.viewmenu_model.name)
                    .select_from(pv)
                    .join(assoc_permissionview_role,
                          assoc_permissionview_role.c.permission_view_id == pv.id)
                    .join(self.permission_model, pv.permission_id == self.permission_model.id)
                    .join(self.viewmenu_model, pv.view_menu_id == self.viewmenu_model.id)
                    .filter(assoc_permissionview_role.c.role_id.in_(key))
                    .all())
            cache[key] = frozenset((perm, view) for perm, view in rows)
        return (permission_name, view_name) in cache[key]

    # ----- menus of other sectors are hidden ---------------------------------------------
    def _menu_sectors(self) -> set[str] | None:
        """The sectors whose module menus the signed-in user sees; None = all."""
        user = getattr(g, "user", None)
        if user is None or not getattr(user, "is_authenticated", False):
            return None
        from app.models.base import authority_sectors

        if getattr(user, "enterprise_id", None):
            from app.models.org import Enterprise

            ent = self.session.get(Enterprise, user.enterprise_id)
            return {s.code for s in ent.sectors} if ent is not None else set()
        if getattr(user, "authority_id", None):
            return set(authority_sectors(user.authority_id))
        return None

    def has_access(self, permission_name, view_name) -> bool:
        sector = MENU_CATEGORY_SECTORS.get(view_name) if permission_name == MENU else None
        if sector is not None and has_request_context():
            sectors = self._menu_sectors()
            if sectors is not None and sector not in sectors:
                return False
        return super().has_access(permission_name, view_name)

    def get_user_menu_access(self, menu_names=None):
        allowed = super().get_user_menu_access(menu_names)
        sectors = self._menu_sectors() if has_request_context() else None
        if sectors is None:
            return allowed
        return {name for name in allowed
                if name not in MENU_CATEGORY_SECTORS or MENU_CATEGORY_SECTORS[name] in sectors}

    # ----- 2FA policy -----------------------------------------------------------------
    def totp_required(self, user) -> bool:
        return bool(self.role_names(user) & TOTP_MANDATORY_ROLES)

    # ----- login names: registration codes (used-car U2, power P1) ----------------------
    def login_name(self, name):
        """The user name a typed login name stands for: the registration account's user
        name when it is the USCC of a used-car or power enterprise or a used-car
        enterprise's business licence number (any case; enterprise_accounts.
        username_for_code), else the name itself. The HTML and API logins and the
        per-account rate limit all go through here, so both names of one account share one
        counter; the lookup is one query whatever the answer (no timing difference between
        known and unknown names)."""
        from app.services.enterprise_accounts import username_for_code

        return username_for_code(name) or name

    def auth_user_db(self, username, password):
        return super().auth_user_db(self.login_name(username), password)

    # ----- passwords: one validator for every path ------------------------------------
    def add_user(self, username, first_name, last_name, email, role, password="",
                 hashed_password="", groups=None, **kwargs):
        from app.services.passwords import PasswordPolicyError, check_password

        if password:
            try:
                check_password(password, username)
            except PasswordPolicyError as exc:
                log.error("Refused to create user %s: %s", username, exc)
                if has_request_context():
                    raise
                return None
        return super().add_user(username, first_name, last_name, email, role,
                                password=password, hashed_password=hashed_password,
                                groups=groups)

    def reset_password(self, userid, password, by_owner: bool | None = None):
        """Every password change ends here (change-my-password, admin reset, forgot).
        A change by anyone but the user forces another change at next login."""
        from werkzeug.security import generate_password_hash

        from app.services.passwords import check_password

        user = self.get_user_by_id(userid)
        check_password(password, user.username)
        user.password = generate_password_hash(
            password,
            method=current_app.config.get("FAB_PASSWORD_HASH_METHOD", "scrypt"),
            salt_length=current_app.config.get("FAB_PASSWORD_HASH_SALT_LENGTH", 16),
        )
        actor = getattr(g, "user", None) if has_request_context() else None
        if by_owner is None:
            by_owner = bool(actor is not None and getattr(actor, "is_authenticated", False)
                            and actor.id == user.id)
        user.must_change_password = not by_owner
        user.password_changed_on = datetime.datetime.now()
        self.session.merge(user)
        self.session.commit()
        return user
