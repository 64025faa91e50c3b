"""Enterprise self-administration (SPEC X8, seed 000 §4.5): the enterprise admin manages the
users and roles of its own enterprise only. Escalation is refused at three layers: the form
offers only assignable roles/grantable permissions, pre_add/pre_update re-check the data
(forged forms, API), and the ORM scope hides other enterprises' rows."""

from __future__ import annotations

import secrets
import string

from flask import abort, current_app, flash, g, redirect
from flask_appbuilder.actions import action
from flask_appbuilder.fieldwidgets import Select2ManyWidget
from flask_appbuilder.models.sqla.filters import FilterInFunction
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.sqla.models import Permission, PermissionView, Role, ViewMenu
from flask_appbuilder.security.views import UserDBModelView
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from werkzeug.security import generate_password_hash
from wtforms import PasswordField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional

from app.errors import (
    AccountOrganisationError,
    AccountSelfLockoutError,
    PermissionNotGrantableError,
    RoleNameTakenError,
    RoleNotAssignableError,
    UserNameTakenError,
)
from app.extensions import db
from app.models.base import unscoped
from app.models.identity import AppUser as User
from app.models.identity import EnterpriseRole
from app.security import (
    ENTERPRISE_ASSIGNABLE_ROLES,
    ENTERPRISE_GRANTABLE,
    ENTERPRISE_ROLE_PREFIX,
    PERMISSION_LABELS,
    PV_ENTERPRISE_ROLE,
    PV_ENTERPRISE_USER,
    ROLE_LABELS,
    SELF_SERVICE,
    VIEW_LABELS,
)
from app.services import audit
from app.services.passwords import PasswordPolicy, check_password
from app.views.base import (
    AppModelRestApi,
    AppModelView,
    FilterInTenantScope,
    StrictQuerySelectMultipleField,
    UniqueAcrossTenants,
    display_value,
)


# ----- what an enterprise admin may hand out ----------------------------------------------
def assignable_role_names() -> list[str]:
    eid = getattr(g.user, "enterprise_id", None)
    if not eid:
        return []
    with db.session.no_autoflush:  # called while a half-built user sits in the form
        own = [name for (name,) in db.session.query(Role.name).join(
            EnterpriseRole, EnterpriseRole.role_id == Role.id).filter(
            EnterpriseRole.enterprise_id == eid)]
    return list(ENTERPRISE_ASSIGNABLE_ROLES) + own


def assignable_roles_query():
    return db.session.query(Role).filter(Role.name.in_(assignable_role_names())).order_by(Role.name)


def grantable_permission_views_query():
    pairs = ENTERPRISE_GRANTABLE
    q = (db.session.query(PermissionView).join(Permission).join(ViewMenu)
         .order_by(ViewMenu.name, Permission.name))
    from sqlalchemy import and_, or_

    return q.filter(or_(*[and_(Permission.name == p, ViewMenu.name == v) for p, v in pairs]))


def _check_roles(roles) -> None:
    allowed = set(assignable_role_names())
    # Name only ids: the names of roles one may not assign (other enterprises') stay hidden.
    bad = [str(r.id) for r in roles if r.name not in allowed]
    if bad:
        raise RoleNotAssignableError(gettext("These roles cannot be assigned here: %(roles)s",
                                             roles=", ".join(bad)))


def _check_permissions(pvs) -> None:
    allowed = {(p, v) for p, v in ENTERPRISE_GRANTABLE}
    allowed |= set(SELF_SERVICE)
    bad = [str(pv) for pv in pvs if (pv.permission.name, pv.view_menu.name) not in allowed]
    if bad:
        raise PermissionNotGrantableError(gettext(
            "These permissions cannot be granted by an enterprise: %(perms)s",
            perms=", ".join(bad)))


def check_user_update(item) -> None:
    """Shared by the enterprise user view and API: roles in reach, no self-deactivation."""
    _check_roles(item.roles)
    if item.id == g.user.id and not item.active:
        raise AccountSelfLockoutError(gettext("You cannot deactivate your own account."))


def check_user_delete(item) -> None:
    if item.id == g.user.id:
        raise AccountSelfLockoutError(gettext("You cannot delete your own account."))


def role_label(role) -> str:
    if role.name.startswith(ENTERPRISE_ROLE_PREFIX) and ":" in role.name:
        return role.name.split(":", 1)[1]
    return str(ROLE_LABELS.get(role.name, role.name))


def permission_label(pv) -> str:
    view = VIEW_LABELS.get(pv.view_menu.name, pv.view_menu.name)
    perm = PERMISSION_LABELS.get(pv.permission.name, pv.permission.name)
    return f"{view} · {perm}"


def random_initial_password() -> str:
    """A policy-conformant one-time password for resets (shown once to the admin)."""
    alphabet = string.ascii_letters + string.digits
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(12))
        if any(c.isupper() for c in pw) and any(c.islower() for c in pw) and any(
                c.isdigit() for c in pw):
            return pw


USER_LABELS = {
    "username": _l("User name"),
    "first_name": _l("Given name"),
    "last_name": _l("Family name"),
    "email": _l("E-mail"),
    "mobile": _l("Mobile"),
    "active": _l("Active"),
    "roles": _l("Roles"),
    "last_login": _l("Last login"),
    "password": _l("Initial password"),
    "conf_password": _l("Confirm password"),
    "must_change_password": _l("Must change password"),
}


class EnterpriseUserView(AppModelView):
    datamodel = SQLAInterface(User)
    class_permission_name = PV_ENTERPRISE_USER
    route_base = "/enterprise/users"
    list_title = _l("Users of my enterprise")
    show_title = _l("User")
    add_title = _l("Add user")
    edit_title = _l("Edit user")
    label_columns = USER_LABELS
    list_columns = ["username", "last_name", "first_name", "email", "mobile", "active",
                    "roles"]
    show_columns = ["username", "last_name", "first_name", "email", "mobile", "active",
                    "roles", "last_login", "must_change_password"]
    add_columns = ["username", "last_name", "first_name", "email", "mobile", "roles",
                   "password", "conf_password"]
    edit_columns = ["last_name", "first_name", "email", "mobile", "active", "roles"]
    search_columns = ["username", "last_name", "first_name", "email", "active"]
    base_order = ("username", "asc")
    base_filters = [["enterprise_id", FilterInTenantScope, lambda: None]]
    formatters_columns = {"roles": lambda roles: "、".join(role_label(r) for r in roles)}
    export_formatters = formatters_columns
    validators_columns = {
        "username": [UniqueAcrossTenants(User.username, _l("This user name is already taken."),
                                         case_insensitive=True),
                     Length(min=3, max=64)],
        "email": [Email(message=_l("Not a valid e-mail address.")),
                  UniqueAcrossTenants(User.email, _l("This e-mail address is already used."),
                                      case_insensitive=True)],
        "mobile": [Optional(), Length(min=11, max=20)],
    }
    add_form_extra_fields = {
        "roles": StrictQuerySelectMultipleField(
            _l("Roles"), query_func=assignable_roles_query, get_label=role_label,
            get_pk_func=lambda role: role.id,
            widget=Select2ManyWidget(), validators=[DataRequired()]),
        "password": PasswordField(_l("Initial password"),
                                  validators=[DataRequired(), PasswordPolicy("username")],
                                  description=_l("The user must change it at first login.")),
        "conf_password": PasswordField(
            _l("Confirm password"),
            validators=[EqualTo("password", message=_l("The passwords do not match."))]),
    }
    edit_form_extra_fields = {"roles": add_form_extra_fields["roles"]}

    def pre_add(self, item):
        _check_roles(item.roles)
        item.enterprise_id = g.user.enterprise_id
        item.authority_id = None
        item.password = generate_password_hash(item.password)
        item.must_change_password = True
        item.active = True

    def pre_update(self, item):
        check_user_update(item)

    def pre_delete(self, item):
        check_user_delete(item)

    @action("reset_password", _l("Reset password"),
            _l("Set a new one-time password for this user?"), "fa-key", multiple=False)
    def reset_password(self, items):
        # FAB fetched the rows by pk without base_filters; the ORM scope already turned a
        # foreign pk into None: refuse the whole request.
        items = items if isinstance(items, list) else [items]
        if not items or any(item is None for item in items):
            abort(404)
        for item in items:
            password = random_initial_password()
            item.password = generate_password_hash(password)
            item.must_change_password = True
            audit.record(db.session, "password_reset", target=item)
            flash(gettext("New one-time password for %(user)s: %(pw)s (shown once; the user "
                          "must change it at next login).", user=item.username, pw=password),
                  "info")
        db.session.commit()
        return redirect(self.get_redirect())


class EnterpriseUserApi(AppModelRestApi):
    resource_name = "enterprise_user"
    datamodel = SQLAInterface(User)
    class_permission_name = PV_ENTERPRISE_USER
    list_columns = ["id", "username", "first_name", "last_name", "email", "mobile", "active",
                    "roles.id", "roles.name"]
    show_columns = list_columns
    add_columns = ["username", "first_name", "last_name", "email", "mobile", "roles"]
    edit_columns = ["first_name", "last_name", "email", "mobile", "active", "roles"]
    search_columns = ["username", "email", "active"]
    export_columns = ["id", "username", "last_name", "first_name", "email", "mobile", "active",
                      "roles"]
    export_formatters = {"roles": lambda roles: "、".join(role_label(r) for r in roles)}
    base_filters = [["enterprise_id", FilterInTenantScope, lambda: None]]
    add_query_rel_fields = {"roles": [["name", FilterInFunction, assignable_role_names]]}
    edit_query_rel_fields = add_query_rel_fields

    def pre_add(self, item):
        _check_roles(item.roles)
        from sqlalchemy import func

        with unscoped(), db.session.no_autoflush:
            taken = db.session.query(User.id).filter(
                (func.lower(User.username) == (item.username or "").lower())
                | (func.lower(User.email) == (item.email or "").lower())).first()
        if taken:
            raise UserNameTakenError(gettext("This user name or e-mail address is already taken."))
        item.enterprise_id = g.user.enterprise_id
        item.authority_id = None
        # No password over the API: the admin resets it in the UI (one-time password).
        item.password = None
        item.must_change_password = True
        item.active = False

    def pre_update(self, item):
        check_user_update(item)

    def pre_delete(self, item):
        check_user_delete(item)


# ----- enterprise-defined roles ------------------------------------------------------------
ENTERPRISE_ROLE_LABELS = {
    "name": _l("Role name"),
    "description": _l("Description"),
    "permissions": _l("Permissions"),
}


def _self_service_permission_views():
    sm = current_app.appbuilder.sm
    return [pv for pv in (sm.find_permission_view_menu(p, v) for p, v in SELF_SERVICE) if pv]


def _check_role_name(item: EnterpriseRole) -> None:
    name = (item.name or "").strip()
    if not name:
        raise RoleNameTakenError(gettext("Give the role a name."))
    with db.session.no_autoflush:
        clash = db.session.query(EnterpriseRole.id).filter(
            EnterpriseRole.enterprise_id == g.user.enterprise_id, EnterpriseRole.name == name,
            EnterpriseRole.id != (item.id or 0)).first()
    if clash:
        raise RoleNameTakenError(gettext("Your enterprise already has a role named %(name)s.",
                                         name=name))
    item.name = name


def _sync_fab_role(item: EnterpriseRole, permissions) -> None:
    """Create/update the FAB role behind an enterprise role. Self-service permissions (change
    own password) are always added so a user holding only this role is never locked out."""
    _check_role_name(item)
    _check_permissions(permissions)
    fab_name = f"{ENTERPRISE_ROLE_PREFIX}{g.user.enterprise_id}:{item.name}"
    if item.role is None:
        item.role = Role(name=fab_name)
        db.session.add(item.role)
    else:
        item.role.name = fab_name
    granted = list(permissions)
    item.role.permissions = granted + [pv for pv in _self_service_permission_views()
                                       if pv not in granted]


class EnterpriseRoleView(AppModelView):
    datamodel = SQLAInterface(EnterpriseRole)
    class_permission_name = PV_ENTERPRISE_ROLE
    route_base = "/enterprise/roles"
    list_title = _l("Roles of my enterprise")
    show_title = _l("Role")
    add_title = _l("Add role")
    edit_title = _l("Edit role")
    label_columns = ENTERPRISE_ROLE_LABELS
    list_columns = ["name", "description", "permissions"]
    show_columns = list_columns
    add_columns = ["name", "description", "permissions"]
    edit_columns = add_columns
    search_columns = ["name"]
    base_filters = [["enterprise_id", FilterInTenantScope, lambda: None]]
    formatters_columns = {"permissions": lambda pvs: "、".join(
        permission_label(p) for p in pvs
        if (p.permission.name, p.view_menu.name) not in set(SELF_SERVICE))}
    validators_columns = {"name": [DataRequired(), Length(max=40)]}
    add_form_extra_fields = {
        "permissions": StrictQuerySelectMultipleField(
            _l("Permissions"), query_func=grantable_permission_views_query,
            get_label=permission_label, get_pk_func=lambda pv: pv.id,
            widget=Select2ManyWidget()),
    }
    edit_form_extra_fields = add_form_extra_fields

    def pre_add(self, item):
        item.enterprise_id = g.user.enterprise_id
        _sync_fab_role(item, item.permissions)

    def pre_update(self, item):
        _sync_fab_role(item, item.permissions)

    def post_delete(self, item):
        if item.role is not None:
            db.session.delete(item.role)
            db.session.commit()


class EnterpriseRoleApi(AppModelRestApi):
    resource_name = "enterprise_role"
    datamodel = SQLAInterface(EnterpriseRole)
    class_permission_name = PV_ENTERPRISE_ROLE
    list_columns = ["id", "name", "description"]
    show_columns = list_columns
    add_columns = ["name", "description"]
    edit_columns = add_columns
    base_filters = [["enterprise_id", FilterInTenantScope, lambda: None]]

    def pre_add(self, item):
        item.enterprise_id = g.user.enterprise_id
        _sync_fab_role(item, [])

    def pre_update(self, item):
        _sync_fab_role(item, item.role.permissions if item.role else [])

    def post_delete(self, item):
        if item.role is not None:
            db.session.delete(item.role)
            db.session.commit()



# ----- system admin's user administration -------------------------------------------------
class AppUserDBModelView(UserDBModelView):
    """FAB's user admin for system admins, plus the organisation a user belongs to, the
    forced first-login change and a 'reset two-factor' action for a lost phone."""

    class_permission_name = "UserDBModelView"  # FAB's name: SELF_SERVICE grants refer to it

    list_columns = ["username", "last_name", "first_name", "email", "active", "roles",
                    "enterprise", "authority"]
    add_columns = ["username", "last_name", "first_name", "email", "mobile", "active", "roles",
                   "enterprise", "authority", "password", "conf_password"]
    edit_columns = ["username", "last_name", "first_name", "email", "mobile", "active",
                    "roles", "enterprise", "authority"]
    show_fieldsets = [
        (_l("User info"), {"fields": ["username", "active", "roles", "enterprise", "authority",
                                      "must_change_password", "totp_enabled", "login_count"]}),
        (_l("Personal Info"), {"fields": ["last_name", "first_name", "email", "mobile"]}),
        (_l("Audit Info"), {"fields": ["last_login", "fail_login_count", "created_on",
                                       "changed_on"]}),
    ]
    label_columns = {**UserDBModelView.label_columns, "enterprise": _l("Enterprise"),
                     "authority": _l("Authority"), "mobile": _l("Mobile"),
                     "must_change_password": _l("Must change password"),
                     "totp_enabled": _l("Two-factor authentication")}

    formatters_columns = {
        "roles": lambda roles: "、".join(role_label(r) for r in roles),
        "active": display_value,
        "enterprise": display_value,
        "authority": display_value,
        "must_change_password": display_value,
        "totp_enabled": display_value,
        "mobile": display_value,
        "last_login": display_value,
    }

    def _check_organisation(self, item):
        if item.enterprise is not None and item.authority is not None:
            raise AccountOrganisationError(gettext(
                "A user belongs to an enterprise or to an authority, not both."))

    validators_columns = {
        "username": [UniqueAcrossTenants(User.username, _l("This user name is already taken."),
                                         case_insensitive=True)],
        "email": [UniqueAcrossTenants(User.email, _l("This e-mail address is already used."),
                                      case_insensitive=True)],
    }

    def pre_add(self, item):
        self._check_organisation(item)
        check_password(item.password, item.username)  # before FAB hashes it
        super().pre_add(item)
        item.must_change_password = True

    def pre_update(self, item):
        self._check_organisation(item)
        super().pre_update(item)

    @action("reset_totp", _l("Reset two-factor"),
            _l("Remove this user's authenticator and recovery codes? They must enrol again."),
            "fa-mobile", multiple=False)
    def reset_totp(self, items):
        items = items if isinstance(items, list) else [items]
        if not items or any(item is None for item in items):
            abort(404)
        from app.services import totp

        for item in items:
            totp.remove(item)
            audit.record(db.session, "totp", target=item, detail="reset by admin")
            flash(gettext("Two-factor authentication of %(user)s was reset.",
                          user=item.username), "info")
        db.session.commit()
        return redirect(self.get_redirect())
