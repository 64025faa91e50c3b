"""Power enterprises (seed 002 §3, SPEC P1-P2): public self-registration, the parent-enterprise
popup, "my information", and the power profiles for the authority.

- `/public/power/register` (anonymous, captcha, CSRF, rate-limited per address): the seed's
  registration form (§3.1); one transaction creates the enterprise (sector power), its
  PowerProfile and its Enterprise Admin account, user name = the USCC
  (app/services/power_accounts.py). Linked from the login page.
- `/public/power/parents/?q=&page=` (anonymous too: the registration needs it; rate-limited
  per address): the 【选择】 popup's search, JSON `{"items": [{"id", "name"}], "page",
  "has_next", "has_previous"}`: names only, 10 a page, `q` at most 50 characters. The page's
  modal and static/js/power-parent-picker.js put the chosen id and name into the form; the
  server checks the posted id (it exists and is selectable, and is not the enterprise
  itself).
- `/power/profile/` and `/power/profile/edit` (P2, "我的信息 - 企业信息修改"): the signed-in
  power enterprise's record; its admin (can_edit) changes the postal address, postcode,
  capital, founding date, contact, mobile, telephone, e-mail and parent enterprise. Enterprise
  type, name, legal representative and business-licence address are shown read-only with a
  link to the registration-item change; a forged post naming one of them with another value
  is refused with that message and changes nothing. Authorities are sent to the list.
- `/power/profiles/` (AppModelView: list, show, export) and `/api/v1/power_profile/` (get,
  list, export, PUT for the enterprise admin: the P2 rules, 422 for a locked field), scoped by
  the tenancy hook (an enterprise its own, a power regulator its jurisdiction, other sectors'
  regulators nothing)."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

from flask import abort, current_app, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from flask_appbuilder.utils.limit import Limit
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from flask_wtf import FlaskForm
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from wtforms import DateField, DecimalField, IntegerField, PasswordField, SelectField, StringField
from wtforms.validators import (
    DataRequired,
    Email,
    EqualTo,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import HiddenInput

from app.errors import DomainError
from app.extensions import db
from app.models.licence import ENTERPRISE_TYPES, PowerProfile, locked_message
from app.security import PV_POWER_PROFILE
from app.services import captcha, cn_codes
from app.services import power_accounts as accounts
from app.services.passwords import PasswordPolicy
from app.views.accounts import PASSWORD_RULE
from app.views.base import AppModelRestApi, AppModelView, FilterInTenantScope
from app.views.regions import RegionField
from app.views.registration import (
    compact_code,
    flash_errors,
    registration_limit,
    remember_registration,
    shown_registration,
    squeeze,
    submit_registration,
)
from app.views.rental_forms import validate_cn_mobile, validate_phone

_DONE_KEY = "power_registered"
# Where a registration-item change is started (the licence views of the module build it).
REGISTRATION_CHANGE_URL = "/power/requests/new/registration_change"
EARLIEST_FOUNDING = datetime.date(1900, 1, 1)
MAX_CAPITAL = Decimal("99999999.99")  # 10k CNY: about a trillion yuan

LABELS = {
    "name": _l("Enterprise name"),
    "uscc": _l("Unified social credit code"),
    "enterprise_type": _l("Type of enterprise"),
    "legal_representative": _l("Legal representative"),
    "region_code": _l("Business-licence address (district)"),
    "street": _l("Business-licence address (street and number)"),
    "address": _l("Business-licence address"),
    "postal_address": _l("Postal address"),
    "postcode": _l("Postcode"),
    "registered_capital": _l("Registered capital (10k CNY)"),
    "founded_on": _l("Date of establishment"),
    "contact_name": _l("Contact person"),
    "contact_mobile": _l("Mobile"),
    "telephone": _l("Telephone"),
    "email": _l("E-mail"),
    "parent_id": _l("Parent enterprise"),
    "parent_name": _l("Parent enterprise"),
}


def _lower(value):
    return value.strip().lower() if isinstance(value, str) else value


# ----- forms -------------------------------------------------------------------------------
class ProfileFieldsForm(FlaskForm):
    """What P2 may change and P1 asks for too; also the rule set of the API's PUT."""

    postal_address = StringField(LABELS["postal_address"], filters=[squeeze],
                                 validators=[DataRequired(), Length(max=255)])
    postcode = StringField(LABELS["postcode"], filters=[compact_code], validators=[
        DataRequired(), Regexp(r"^\d{6}$", message=_l("Enter the 6-digit postcode."))])
    registered_capital = DecimalField(
        LABELS["registered_capital"], places=2,
        validators=[DataRequired(message=_l("Enter the registered capital.")),
                    NumberRange(min=Decimal("0.01"), max=MAX_CAPITAL,
                                message=_l("Enter an amount between 0.01 and 99,999,999.99 "
                                           "(10k CNY)."))],
        description=_l("In units of 10,000 yuan, as on the business licence."))
    founded_on = DateField(LABELS["founded_on"], validators=[
        DataRequired(message=_l("Enter the date of establishment (YYYY-MM-DD)."))])
    contact_name = StringField(LABELS["contact_name"], filters=[squeeze],
                               validators=[DataRequired(), Length(max=64)])
    contact_mobile = StringField(LABELS["contact_mobile"], filters=[squeeze],
                                 validators=[DataRequired(), validate_cn_mobile],
                                 description=_l("11-digit mainland mobile number."))
    telephone = StringField(LABELS["telephone"], filters=[squeeze],
                            validators=[Optional(), Length(max=20), validate_phone],
                            description=_l("Optional; area code with a hyphen, e.g. "
                                           "020-38880001."))
    email = StringField(LABELS["email"], filters=[_lower], validators=[
        DataRequired(), Length(max=120), Email(message=_l("Not a valid e-mail address."))])
    # 上级企业: chosen in the popup; only the id is posted and trusted (checked on the server).
    parent_id = IntegerField(LABELS["parent_id"], widget=HiddenInput(), validators=[
        Optional()], description=_l("Optional. Choose it from the registered enterprises."))

    def __init__(self, *args, enterprise_id: int | None = None, **kwargs):
        self._enterprise_id = enterprise_id
        super().__init__(*args, **kwargs)

    def validate_founded_on(self, field):
        if field.data and not EARLIEST_FOUNDING <= field.data <= datetime.date.today():
            raise ValidationError(gettext("The date of establishment cannot be in the future "
                                          "or before 1900."))

    def validate_parent_id(self, field):
        problem = accounts.parent_problem(field.data, self._enterprise_id)
        if problem:
            raise ValidationError(problem)

    def parent_name(self) -> str:
        """The chosen parent's name as the server knows it (never the posted text)."""
        if self.parent_id.errors:
            return ""
        return accounts.parent_name(self.parent_id.data) or ""

    def profile_data(self) -> dict:
        return {key: self[key].data for key in (*accounts.PROFILE_FIELDS,
                                                 *accounts.CONTACT_FIELDS)}


class RegisterForm(ProfileFieldsForm):
    """P1, the seed's registration form (§3.1)."""

    name = StringField(LABELS["name"], filters=[squeeze],
                       validators=[DataRequired(), Length(min=2, max=200)],
                       description=_l("Fill in the name as on the business licence."))
    uscc = StringField(LABELS["uscc"], filters=[compact_code],
                       validators=[DataRequired(), Length(max=24)],
                       description=_l("18 characters; it is your user name."))
    enterprise_type = SelectField(
        LABELS["enterprise_type"], choices=[("", _l("Choose…")), *ENTERPRISE_TYPES.items()],
        validators=[DataRequired(message=_l("Choose the enterprise type."))])
    legal_representative = StringField(LABELS["legal_representative"], filters=[squeeze],
                                       validators=[DataRequired(), Length(max=64)])
    region_code = RegionField(LABELS["region_code"], validators=[DataRequired(
        message=_l("Choose a province, a city and a district."))])
    street = StringField(LABELS["street"], filters=[squeeze],
                         validators=[DataRequired(), Length(max=255)],
                         description=_l("As on the business licence (营业场所)."))
    password = PasswordField(_l("Password"), validators=[
        DataRequired(), Length(max=128),
        PasswordPolicy(username_field=lambda form: form.uscc.data or "")],
        description=PASSWORD_RULE)
    confirm = PasswordField(_l("Confirm password"), validators=[
        DataRequired(), EqualTo("password", message=_l("The passwords do not match."))])
    captcha = StringField(_l("Verification code"), validators=[Length(max=8)])

    def validate_uscc(self, field):
        if field.data and not cn_codes.uscc_valid(field.data):
            raise ValidationError(gettext(
                "Not a valid unified social credit code (18 characters, check digit)."))

    def registration(self) -> accounts.Registration:
        data = self.profile_data()
        return accounts.Registration(
            name=self.name.data, uscc=self.uscc.data,
            enterprise_type=self.enterprise_type.data,
            legal_representative=self.legal_representative.data,
            region_code=self.region_code.data, address=self.street.data,
            password=self.password.data, **data)


LOCKED_LABELS = {"enterprise_type": LABELS["enterprise_type"], "name": LABELS["name"],
                 "legal_representative": LABELS["legal_representative"],
                 "address": LABELS["address"], "region_code": LABELS["address"]}


def locked_notice() -> Markup:
    """The locked-field message with the link to the registration-item change."""
    return Markup('{} <a href="{}" id="registration-change-link">{}</a>').format(
        locked_message(), REGISTRATION_CHANGE_URL, gettext("Apply for a registration-item "
                                                           "change"))


# ----- P1 public registration ----------------------------------------------------------------
class _PublicPage:
    def _render(self, template, status=200, **kwargs):
        return self.render_template(f"power/{template}", appbuilder=self.appbuilder,
                                    captcha_enabled=captcha.enabled(), labels=LABELS,
                                    **kwargs), status


class PowerRegisterView(_PublicPage, BaseView):
    """P1 for anonymous visitors (seed §3.1 “企业注册”)."""

    route_base = "/public/power"
    default_view = "register"
    limits = [registration_limit("POWER_REGISTER_RATE_LIMIT", "power-register")]

    @expose("/register", methods=["GET", "POST"])
    def register(self):
        form = RegisterForm()
        user, status = submit_registration(
            form, lambda: accounts.register(form.registration()))
        if user is not None:
            return remember_registration(_DONE_KEY, user, form.name.data, url_for(".done"))
        return self._render("register.html", status, form=form,
                            parent_name=form.parent_name())

    @expose("/register/done")
    def done(self):
        done = shown_registration(_DONE_KEY)
        if not done:
            return redirect(url_for(".register"))
        return self._render("register_done.html", done=done)


def _parents_limit() -> str:
    return current_app.config.get("POWER_PARENT_SEARCH_RATE_LIMIT", "60 per minute")


def _json(body, status=200):
    return current_app.response_class(json.dumps(body, ensure_ascii=False), status=status,
                                      mimetype="application/json")


class PowerParentSearchView(BaseView):
    """The 【选择】 popup's search (seed §3.1, §3.2): names of registered power enterprises,
    paged; public for the registration page, rate-limited per address."""

    route_base = "/public/power/parents"
    default_view = "search"
    limits = [Limit(_parents_limit, lambda: "power-parents:" + get_remote_address())]

    @expose("/")
    def search(self):
        text = request.args.get("q", "")
        if len(text) > accounts.PARENT_QUERY_MAX:
            return _json({"message": gettext("Search with at most %(n)d characters.",
                                             n=accounts.PARENT_QUERY_MAX)}, 400)
        raw_page = request.args.get("page", "0")
        if not raw_page.isdigit() or int(raw_page) > accounts.PARENT_MAX_PAGE:
            return _json({"message": gettext("No such page: refine the search.")}, 400)
        user = getattr(g, "user", None)
        own = getattr(user, "enterprise_id", None) if getattr(
            user, "is_authenticated", False) else None
        found = accounts.search_parents(text, int(raw_page), exclude_id=own)
        resp = _json({"items": found.items, "page": found.page, "has_next": found.has_next,
                      "has_previous": found.has_previous})
        resp.headers["Cache-Control"] = "no-store"
        return resp


# ----- P2 my information ---------------------------------------------------------------------
def _own_profile() -> PowerProfile:
    """The signed-in user's power profile (the ORM scope keeps it to the own enterprise)."""
    found = accounts.own_profile(getattr(g.user, "enterprise_id", None))
    if found is None:
        abort(404)
    return found


def _form_data(profile: PowerProfile) -> dict:
    ent = profile.enterprise
    return {"postal_address": profile.postal_address, "postcode": profile.postcode,
            "registered_capital": profile.registered_capital,
            "founded_on": profile.founded_on, "contact_name": ent.contact_name,
            "contact_mobile": ent.contact_mobile, "telephone": profile.telephone,
            "email": profile.email, "parent_id": profile.parent_id}


class PowerInformationView(BaseView):
    """P2 (seed §3.2 “我的信息 - 企业信息修改”)."""

    route_base = "/power/profile"
    default_view = "show"
    class_permission_name = PV_POWER_PROFILE
    method_permission_name = {"show": "list", "edit": "edit"}

    @expose("/")
    @has_access
    def show(self):
        profile = accounts.own_profile(getattr(g.user, "enterprise_id", None))
        if profile is None:
            if getattr(g.user, "enterprise_id", None):
                abort(404)  # an enterprise of another sector
            return redirect(url_for("PowerProfileModelView.list"))  # authorities, admins
        return self.render_template(
            "power/profile.html", appbuilder=self.appbuilder, profile=profile,
            ent=profile.enterprise, labels=LABELS, notice=locked_notice(),
            can_edit=self.appbuilder.sm.has_access("can_edit", self.class_permission_name))

    @expose("/edit", methods=["GET", "POST"])
    @has_access
    def edit(self):
        profile = _own_profile()
        form = ProfileFieldsForm(data=None if request.method == "POST" else
                                 _form_data(profile), enterprise_id=profile.enterprise_id)
        status = 200
        if request.method == "POST":
            status = 422
            locked = accounts.locked_fields_changed(profile, request.form)
            if locked:
                # A forged post: refused as a whole, nothing is saved.
                flash(locked_notice() + " " + gettext(
                    "Refused: %(fields)s.", fields="、".join(
                        dict.fromkeys(str(LOCKED_LABELS[k]) for k in locked))), "danger")
            elif form.validate_on_submit():
                try:
                    changed = accounts.update_profile(profile, form.profile_data())
                except DomainError as exc:
                    db.session.rollback()
                    flash_errors(exc, form)
                else:
                    flash(gettext("The enterprise information has been saved.") if changed
                          else gettext("Nothing was changed."),
                          "success" if changed else "info")
                    return redirect(url_for(".show"))
        return self.render_template(
            "power/profile_edit.html", appbuilder=self.appbuilder, form=form, profile=profile,
            ent=profile.enterprise, labels=LABELS, notice=locked_notice(),
            parent_name=form.parent_name()), status


# ----- the authority's list and the REST API -------------------------------------------------
def _type_label(value) -> str:
    return str(ENTERPRISE_TYPES.get(value, value or ""))


PROFILE_LABELS = {
    "enterprise.name": LABELS["name"], "enterprise.uscc": LABELS["uscc"],
    "enterprise_type": LABELS["enterprise_type"],
    "enterprise_type_label": LABELS["enterprise_type"],
    "enterprise.legal_representative": LABELS["legal_representative"],
    "enterprise.region": _l("Region"), "enterprise.address": LABELS["address"],
    "registered_capital": LABELS["registered_capital"], "founded_on": LABELS["founded_on"],
    "enterprise.contact_name": LABELS["contact_name"],
    "enterprise.contact_mobile": LABELS["contact_mobile"],
    "telephone": LABELS["telephone"], "email": LABELS["email"],
    "postal_address": LABELS["postal_address"], "postcode": LABELS["postcode"],
    "parent_name": LABELS["parent_name"], "parent_id": LABELS["parent_id"],
    "enterprise_id": _l("Enterprise"), "id": "ID",
}


class PowerProfileModelView(AppModelView):
    """Power enterprises' registration data: the power regulators of their jurisdiction list,
    show and export them (an enterprise sees its own). Changes go through P2 or P7."""

    datamodel = SQLAInterface(PowerProfile)
    class_permission_name = PV_POWER_PROFILE
    route_base = "/power/profiles"
    base_permissions = ["can_list", "can_show", "can_export"]
    # Read-only: no add / edit / delete routes at all (an enterprise admin holds can_edit
    # on this permission for P2).
    include_route_methods = {"list", "show", "export"}
    list_title = _l("Power enterprises")
    show_title = _l("Power enterprise")
    export_title = "power_enterprises"
    label_columns = PROFILE_LABELS
    list_columns = ["enterprise.name", "enterprise.uscc", "enterprise_type_label",
                    "enterprise.legal_representative", "registered_capital", "founded_on",
                    "enterprise.contact_name", "enterprise.contact_mobile"]
    show_columns = ["enterprise.name", "enterprise.uscc", "enterprise_type_label",
                    "enterprise.legal_representative", "enterprise.region",
                    "enterprise.address", "registered_capital", "founded_on", "parent_name",
                    "postal_address", "postcode", "enterprise.contact_name",
                    "enterprise.contact_mobile", "telephone", "email"]
    export_columns = ["enterprise.name", "enterprise.uscc", "enterprise_type",
                      "enterprise.legal_representative", "enterprise.address",
                      "registered_capital", "founded_on", "postal_address", "postcode",
                      "enterprise.contact_name", "enterprise.contact_mobile", "telephone",
                      "email"]
    export_formatters = {"enterprise_type": _type_label}
    search_columns = ["enterprise_type", "founded_on", "postcode"]
    base_order = ("id", "desc")
    base_filters = [["enterprise_id", FilterInTenantScope, lambda: None]]


def _api_values(profile: PowerProfile) -> dict:
    """The form's fields as posted text (the API's PUT runs the form's rules)."""
    values = {}
    for key, value in _form_data(profile).items():
        values[key] = "" if value is None else (
            value.isoformat() if isinstance(value, datetime.date) else str(value))
    return values


class PowerProfileApi(AppModelRestApi):
    """`/api/v1/power_profile/`: get, list, export; PUT by the enterprise admin with the P2
    rules (the form's, 422 {field: [messages]}); a locked field with another value answers
    422 with the registration-item-change message."""

    resource_name = "power_profile"
    datamodel = SQLAInterface(PowerProfile)
    class_permission_name = PV_POWER_PROFILE
    include_route_methods = {"get", "get_list", "put", "info"}
    list_columns = ["id", "enterprise_id", "enterprise.name", "enterprise.uscc",
                    "enterprise_type", "registered_capital", "founded_on", "postal_address",
                    "postcode", "telephone", "email", "parent_id"]
    show_columns = [*list_columns, "enterprise.legal_representative", "enterprise.address",
                    "enterprise.region_code", "enterprise.contact_name",
                    "enterprise.contact_mobile"]
    edit_columns = ["postal_address", "postcode", "registered_capital", "founded_on",
                    "telephone", "email", "parent_id"]
    label_columns = PROFILE_LABELS
    search_columns = ["enterprise_type", "founded_on", "postcode"]
    base_filters = [["enterprise_id", FilterInTenantScope, lambda: None]]
    export_formatters = {"enterprise_type": _type_label}

    EDITABLE = (*accounts.PROFILE_FIELDS, *accounts.CONTACT_FIELDS)

    def put_headless(self, pk):
        profile = self.datamodel.get(pk, self._base_filters)
        if profile is None:
            return self.response_404()
        body = request.get_json(silent=True) if request.is_json else None
        if not isinstance(body, dict):
            return self.response_400(message=gettext("Send a JSON object."))
        if accounts.locked_fields_changed(profile, body):
            return self.response_422(message=locked_message())
        unknown = sorted(set(body) - set(self.EDITABLE) - set(LOCKED_LABELS))
        if unknown:
            return self.response_422(message={k: [gettext("Unknown field.")]
                                              for k in unknown})
        values = _api_values(profile)
        values.update({k: "" if body[k] is None else str(body[k])
                       for k in self.EDITABLE if k in body})
        form = ProfileFieldsForm(formdata=MultiDict(values), meta={"csrf": False},
                                 enterprise_id=profile.enterprise_id)
        if not form.validate():
            return self.response_422(message={k: [str(m) for m in v]
                                              for k, v in form.errors.items()})
        try:
            accounts.update_profile(profile, form.profile_data())
        except DomainError as exc:
            db.session.rollback()
            return self.response(exc.code, message=getattr(exc, "errors", None) or str(exc))
        return self.response(200, result=self.show_model_schema.dump(profile, many=False))
