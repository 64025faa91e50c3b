"""Used-car enterprises (seed 001 §2.1, SPEC U1-U2): public self-registration and the
enterprise admin's registration profile.

- `/public/usedcar/register` (anonymous, captcha, rate-limited per IP, CSRF): the seed's
  registration form; on success one transaction creates the enterprise, its UsedCarProfile
  and its Enterprise Admin account (app/services/usedcar_accounts.py). The local commerce
  authority of the enterprise's region supervises it from then on (sector + region).
- `/usedcar/profile/` shows the registration data; `/usedcar/profile/edit` lets the
  enterprise admin correct the domicile, the licence / organisation / tax numbers, the
  business types and the filer. Name, USCC and enterprise type are shown read-only and never
  change: the form has no such fields and a forged post naming them changes nothing.

Sign-in with the USCC or the business licence number (U2) is
AppSecurityManager.login_name (app/security.py)."""

from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, RadioField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from app.errors import DomainError
from app.extensions import db
from app.models.usedcar import BUSINESS_TYPES, ENTERPRISE_TYPES, UsedCarProfile
from app.security import PV_USEDCAR_FILING
from app.services import captcha, cn_codes
from app.services import usedcar_accounts as accounts
from app.services.passwords import PasswordPolicy
from app.views.accounts import PASSWORD_RULE
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
from app.views.rental_forms import YES_NO, validate_cn_mobile

_DONE_KEY = "usedcar_registered"

# The seed's red notes (2.1.2), shown beside the fields they concern.
ENTERPRISE_TYPE_NOTES = {
    "supplier_domestic": _l(
        "Domestic OEM: the brand general distributor for new-car wholesale set up by a "
        "joint-venture or domestic-brand car manufacturer in China. Manufacturers and general "
        "distributors that are separate legal persons each register; the monthly sales data "
        "may be reported by the manufacturer or by the general distributor, not twice."),
    "supplier_import": _l(
        "Import general distributor: the general distributor set up in China by a foreign "
        "car manufacturer for the wholesale of its foreign-brand cars."),
    "dealer": _l(
        "Dealer: a business retailing new cars, including dealer groups, single-site "
        "dealerships and e-commerce platforms selling new cars."),
}
IMMUTABLE_NOTE = _l("Read the notes in red carefully and choose the enterprise type "
                    "accurately. The enterprise name, unified social credit code and "
                    "enterprise type cannot be changed once registered.")


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


# ----- forms -------------------------------------------------------------------------------
class ProfileFieldsForm(FlaskForm):
    """The registration fields an enterprise admin may correct later (the profile page) and
    that the registration form asks for too."""

    # Province / city / district (real administrative divisions, app/services/regions.py):
    # the district code; the province and city selects post region_code-province / -city.
    region_code = RegionField(_l("Domicile"), validators=[DataRequired(
        message=_l("Choose a province, a city and a district."))])
    street = StringField(_l("Street and number"), filters=[squeeze],
                         validators=[DataRequired(), Length(max=255)],
                         description=_l("The domicile must be the same as on the business "
                                        "licence."))
    licence_no = StringField(_l("Business licence number"), filters=[compact_code],
                             validators=[Length(max=20)],
                             description=_l("15 digits (工商营业执照注册号). Required without a "
                                            "unified social credit code."))
    org_code = StringField(_l("Organisation code"), filters=[compact_code],
                           validators=[Length(max=12)],
                           description=_l("9 characters, e.g. 12345678-9 (组织机构代码). "
                                          "Required without a unified social credit code; "
                                          "with one it is taken from it."))
    tax_no = StringField(_l("Tax registration number"), filters=[compact_code],
                         validators=[Length(max=24)],
                         description=_l("15 characters (region code + organisation code), "
                                        "or 18 or 20. Required without a unified social "
                                        "credit code."))
    business_types = MultiCheckboxField(_l("Used-car business types"),
                                        choices=list(BUSINESS_TYPES.items()),
                                        description=_l("One or more; each has its own filing "
                                                       "form."))
    filer_name = StringField(_l("Filer"), filters=[squeeze],
                             validators=[DataRequired(), Length(max=64)])
    filer_mobile = StringField(_l("Filer's mobile"), filters=[squeeze],
                               validators=[DataRequired(), validate_cn_mobile],
                               description=_l("11-digit mainland mobile number."))

    def with_uscc(self) -> bool:
        """Registered (or registering) with a USCC."""
        raise NotImplementedError

    def current_uscc(self) -> str | None:
        """The valid USCC the other codes are checked against (None: none or invalid)."""
        raise NotImplementedError

    def validate_business_types(self, field):
        unknown = set(field.data or ()) - set(BUSINESS_TYPES)
        if unknown:
            raise ValidationError(gettext("Unknown business type."))
        if not field.data:
            raise ValidationError(gettext("Choose at least one used-car business type."))

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        return self._check_codes(self.with_uscc(), self.current_uscc()) and ok

    def _error(self, field, message) -> bool:
        field.errors = [*field.errors, message]
        return False

    def _check_codes(self, with_uscc: bool, uscc: str | None) -> bool:
        """Licence, organisation and tax numbers: check digits, and without a USCC
        required; with one the organisation code is its characters 9-17."""
        ok = True
        lic, org, tax = self.licence_no, self.org_code, self.tax_no
        required = gettext("Required when the enterprise has no unified social credit code.")
        if lic.data and not cn_codes.licence_no_valid(lic.data):
            ok = self._error(lic, gettext("Not a valid business licence number (15 digits, "
                                          "the last a check digit)."))
        elif not lic.data and not with_uscc:
            ok = self._error(lic, required)
        if uscc:
            expected = cn_codes.org_code_from_uscc(uscc)
            if org.data and org.data != expected:
                ok = self._error(org, gettext(
                    "The organisation code is characters 9-17 of the unified social credit "
                    "code: %(code)s.", code=expected))
            org.data = expected
        elif with_uscc:
            pass  # the USCC has an error of its own: nothing to check the code against
        elif not org.data:
            ok = self._error(org, required)
        elif not cn_codes.org_code_valid(org.data):
            ok = self._error(org, gettext("Not a valid organisation code (8 digits or capital "
                                          "letters and a check character, e.g. 12345678-9)."))
        if tax.data:
            embedded = cn_codes.tax_no_org_code(tax.data)
            if not cn_codes.tax_no_valid(tax.data):
                ok = self._error(tax, gettext(
                    "Not a valid tax registration number (15 characters: region code and "
                    "organisation code; or 18 or 20 characters)."))
            elif embedded and not org.errors and embedded != org.data:
                ok = self._error(tax, gettext(
                    "The last 9 characters of the tax registration number must be the "
                    "organisation code."))
        elif not with_uscc:
            ok = self._error(tax, required)
        return ok

    def profile_data(self) -> dict:
        return {"region_code": self.region_code.data, "address": self.street.data,
                "licence_no": self.licence_no.data or None, "org_code": self.org_code.data,
                "tax_no": self.tax_no.data or None,
                "business_types": list(self.business_types.data or ()),
                "filer_name": self.filer_name.data, "filer_mobile": self.filer_mobile.data}


class RegisterForm(ProfileFieldsForm):
    """U1, the seed's registration form (2.1.2)."""

    name = StringField(_l("Enterprise name"), filters=[squeeze],
                       validators=[DataRequired(), Length(min=2, max=200)],
                       description=_l("Fill in the name as on the business licence."))
    has_uscc = RadioField(_l("Has a unified social credit code"), choices=YES_NO, default="1",
                          validators=[InputRequired()])
    uscc = StringField(_l("Unified social credit code"), filters=[compact_code],
                       validators=[Length(max=24)],
                       description=_l("18 characters; it cannot be changed once submitted."))
    password = PasswordField(_l("Password"), validators=[
        DataRequired(), Length(max=128),
        PasswordPolicy(username_field=lambda form: form.login_name())],
        description=PASSWORD_RULE)
    confirm = PasswordField(_l("Confirm password"), validators=[
        DataRequired(), EqualTo("password", message=_l("The passwords do not match."))])
    enterprise_type = RadioField(_l("Car sales enterprise type"),
                                 choices=list(ENTERPRISE_TYPES.items()),
                                 validators=[InputRequired(message=_l(
                                     "Choose the enterprise type."))])
    captcha = StringField(_l("Verification code"), validators=[Length(max=8)])

    def with_uscc(self) -> bool:
        return self.has_uscc.data == "1"

    def current_uscc(self) -> str | None:
        if self.with_uscc() and self.uscc.data and not self.uscc.errors:
            return self.uscc.data
        return None

    def login_name(self) -> str:
        name = self.uscc.data if self.with_uscc() else self.licence_no.data
        return (name or "").strip()

    def validate_uscc(self, field):
        if self.has_uscc.data != "1":
            field.data = ""  # "no USCC": whatever was typed is not kept
            return
        if not field.data:
            raise ValidationError(gettext("Enter the unified social credit code."))
        if not cn_codes.uscc_valid(field.data):
            raise ValidationError(gettext(
                "Not a valid unified social credit code (18 characters, check digit)."))

    def registration(self) -> accounts.Registration:
        data = self.profile_data()
        return accounts.Registration(
            name=self.name.data, region_code=data["region_code"], address=data["address"],
            uscc=self.current_uscc() or None, licence_no=data["licence_no"],
            org_code=data["org_code"] or None, tax_no=data["tax_no"],
            password=self.password.data, enterprise_type=self.enterprise_type.data,
            business_types=data["business_types"], filer_name=data["filer_name"],
            filer_mobile=data["filer_mobile"])


class ProfileForm(ProfileFieldsForm):
    """The profile page: what may change, checked against the registered USCC."""

    def __init__(self, *args, profile: UsedCarProfile, **kwargs):
        self._profile = profile
        super().__init__(*args, **kwargs)

    def with_uscc(self) -> bool:
        return bool(self._profile.has_uscc)

    def current_uscc(self) -> str | None:
        return self._profile.enterprise.uscc if self._profile.has_uscc else None

    def validate_licence_no(self, field):
        # Without a USCC the licence number is the user name: it stays as registered.
        if not self._profile.has_uscc and field.data != self._profile.licence_no:
            raise ValidationError(gettext(
                "Without a unified social credit code the business licence number is the "
                "user name and cannot be changed."))


# ----- public registration -------------------------------------------------------------------
class UsedCarRegisterView(BaseView):
    """U1 for anonymous visitors (seed 2.1.2 “备案企业，点此注册”)."""

    route_base = "/public/usedcar"
    default_view = "register"
    limits = [registration_limit("USEDCAR_REGISTER_RATE_LIMIT", "usedcar-register")]

    def _render(self, template, status=200, **kwargs):
        return self.render_template(f"usedcar/{template}", appbuilder=self.appbuilder,
                                    captcha_enabled=captcha.enabled(), **kwargs), status

    @expose("/register", methods=["GET", "POST"])
    def register(self):
        form = RegisterForm()
        user, status = submit_registration(
            form, lambda: accounts.register(form.registration()))
        if user is not None:
            return remember_registration(_DONE_KEY, user, form.name.data, url_for(".done"))
        return self._render("register.html", status, form=form,
                            type_notes=ENTERPRISE_TYPE_NOTES, immutable_note=IMMUTABLE_NOTE)

    @expose("/register/done")
    def done(self):
        done = shown_registration(_DONE_KEY)
        if not done:
            return redirect(url_for(".register"))
        return self._render("register_done.html", done=done)


# ----- the enterprise's registration profile -----------------------------------------------
def _own_profile() -> UsedCarProfile:
    """The signed-in user's used-car profile (the ORM scope keeps it to the own enterprise);
    404 for anyone else (a rental enterprise, an authority, a system admin)."""
    enterprise_id = getattr(g.user, "enterprise_id", None)
    found = db.session.query(UsedCarProfile).filter_by(
        enterprise_id=enterprise_id).first() if enterprise_id else None
    if found is None:
        abort(404)
    return found


def _profile_form_data(profile: UsedCarProfile) -> dict:
    ent = profile.enterprise
    return {"region_code": ent.region_code, "street": ent.address,
            "licence_no": profile.licence_no,
            "org_code": profile.org_code, "tax_no": profile.tax_no,
            "business_types": profile.business_type_codes, "filer_name": ent.contact_name,
            "filer_mobile": ent.contact_mobile}


class UsedCarProfileView(BaseView):
    """U1 data of the signed-in used-car enterprise; its admin corrects what may change."""

    route_base = "/usedcar/profile"
    default_view = "show"
    class_permission_name = PV_USEDCAR_FILING
    method_permission_name = {"show": "list", "edit": "edit"}

    @expose("/")
    @has_access
    def show(self):
        profile = _own_profile()
        return self.render_template("usedcar/profile.html", appbuilder=self.appbuilder,
                                    profile=profile, ent=profile.enterprise,
                                    can_edit=self.appbuilder.sm.has_access(
                                        "can_edit", self.class_permission_name))

    @expose("/edit", methods=["GET", "POST"])
    @has_access
    def edit(self):
        profile = _own_profile()
        ent = profile.enterprise
        form = ProfileForm(data=None if request.method == "POST" else
                           _profile_form_data(profile), profile=profile)
        status = 200
        if request.method == "POST":
            status = 422
            if form.validate_on_submit():
                ignored = _forged_identity(profile)
                try:
                    changed = accounts.update_profile(profile, form.profile_data())
                except DomainError as exc:
                    db.session.rollback()
                    flash_errors(exc, form)
                else:
                    if ignored:
                        flash(accounts.immutable_message() + " " + gettext(
                            "The submitted %(fields)s were ignored.",
                            fields="、".join(ignored)), "warning")
                    flash(gettext("The registration profile has been saved.") if changed
                          else gettext("Nothing was changed."), "success" if changed
                          else "info")
                    return redirect(url_for(".show"))
        return self.render_template("usedcar/profile_edit.html", appbuilder=self.appbuilder,
                                    form=form, profile=profile, ent=ent), status


_IMMUTABLE_FORM_FIELDS = {"name": _l("Enterprise name"),
                          "uscc": _l("Unified social credit code"),
                          "enterprise_type": _l("Car sales enterprise type")}


def _forged_identity(profile: UsedCarProfile) -> list[str]:
    """Labels of the never-changing fields a (forged) post gives with another value."""
    ent = profile.enterprise
    current = {"name": ent.name or "", "uscc": ent.uscc or "",
               "enterprise_type": profile.enterprise_type or ""}
    return [str(label) for key, label in _IMMUTABLE_FORM_FIELDS.items()
            if key in request.form and request.form[key].strip() != current[key]]
