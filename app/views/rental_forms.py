"""Rental filing forms shared by the public side (app/views/rental_public.py: R3 application,
R4 correction) and the enterprise side (app/views/rental_filing.py: R10 change, R11 suspend /
resume / terminate).

Forms check formats only (check digits, mobile numbers, dates, files present); the business
rules (already filed, one open case, the 15-day and 30-day rules) are guards of the workflows
in app/workflows/rental.py, so the counter entry and the API meet the same rules.
`filing_payload(form)` turns a validated filing form into the case payload (the keys of
app/demo_rental.py) and `filing_diff(payload)` gives reviewers the before/after rows that
app/templates/workflow/_diff.html renders."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired, MultipleFileField
from stdnum.cn import uscc as stdnum_uscc
from wtforms import (
    DateField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from app.extensions import db
from app.models.org import Region
from app.services import cn_codes

MAX_PREMISES = 50
MAX_FILES = 10

# Mainland mobile numbers: 11 digits, 1 then 3-9 (no landlines, no country prefix).
# Landline or mobile of a business premises: digits with an optional area code and extension.
PHONE = re.compile(r"^[0-9][0-9\- ]{4,18}[0-9]$")
USCC_SHAPE = re.compile(r"^[0-9A-Z]{18}$")

FIELD_LABELS = {
    "name": _l("Enterprise name"),
    "uscc": _l("Unified social credit code"),
    "certificate_no": _l("Filing certificate no."),
    "legal_representative": _l("Legal representative"),
    "contact_name": _l("Contact person"),
    "contact_mobile": _l("Contact mobile"),
    "contact_email": _l("Contact e-mail"),
    "address": _l("Registered address"),
    "region_code": _l("Region"),
    "time_share": _l("Time-share rental offered"),
    "premises": _l("Business premises"),
    "reason": _l("Reason"),
    "effective_date": _l("Effective date"),
    "notice_date": _l("Public notice date"),
}
# The fields of a filing that a change may alter, in display order (R10: all but the
# certificate number and the USCC).
CHANGEABLE_FIELDS = ("name", "legal_representative", "contact_name", "contact_mobile",
                     "address", "region_code", "time_share", "premises")


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _upper_compact(value):
    return re.sub(r"\s+", "", value).upper() if isinstance(value, str) else value


# ----- validators ------------------------------------------------------------------------
def validate_cn_mobile(form, field):
    value = cn_codes.mobile(field.data)
    if value is None:
        raise ValidationError(gettext("Enter an 11-digit mainland mobile number, e.g. "
                                      "13800138000."))
    field.data = value


def uscc_is_valid(value: str | None) -> bool:
    return bool(value) and stdnum_uscc.is_valid(value)


def validate_uscc_field(form, field):
    """Same rule as app.views.org.validate_uscc (python-stdnum check digit)."""
    from app.views.org import validate_uscc

    validate_uscc(form, field)


def looks_like_uscc(value: str) -> bool:
    return bool(USCC_SHAPE.match(_upper_compact(value or "")))


def _phone(form, field):
    if field.data and not PHONE.match(field.data):
        raise ValidationError(gettext("Enter a telephone number (digits, area code with "
                                      "a hyphen, e.g. 020-38880001)."))


validate_phone = _phone  # the same rule for other modules' forms (power registration)


# ----- choices ---------------------------------------------------------------------------
def region_choices(province: str = "44", keep: str | None = None) -> list[tuple[str, str]]:
    """County-level regions of the province, labelled with their city ("广州市 天河区")."""
    rows = db.session.query(Region.code, Region.name).filter(
        Region.code.startswith(province)).order_by(Region.code).all()
    names = dict(rows)
    choices = []
    for code, name in rows:
        if code.endswith("00") and code != keep:
            continue
        city = names.get(code[:4] + "00")
        label = f"{city} {name}" if city and city != name else name
        choices.append((code, label))
    if keep and keep not in {c for c, _ in choices}:
        region = db.session.get(Region, keep)
        if region is not None:
            choices.append((keep, region.name))
    return choices


def region_label(code: str | None) -> str:
    if not code:
        return ""
    region = db.session.get(Region, code)
    if region is None:
        return code
    city = db.session.get(Region, code[:4] + "00") if not code.endswith("00") else None
    return f"{city.name} {region.name}" if city is not None else region.name


YES_NO = [("1", _l("Yes")), ("0", _l("No"))]


# ----- filing forms ----------------------------------------------------------------------
class PremisesForm(Form):
    """One business premises row (经营场所); a sub-form without its own CSRF token."""

    address = StringField(_l("Premises address"), filters=[_strip],
                          validators=[DataRequired(), Length(max=255)])
    area = IntegerField(_l("Area (m²)"), validators=[Optional(), NumberRange(min=1,
                                                                             max=10_000_000)])
    parking_spaces = IntegerField(_l("Parking spaces"),
                                  validators=[Optional(), NumberRange(min=0, max=1_000_000)])
    phone = StringField(_l("Premises telephone"), filters=[_strip],
                        validators=[Optional(), Length(max=20), _phone])


def _at_least_one_premises(form, field):
    if not [entry for entry in field.entries if (entry.form.address.data or "").strip()]:
        raise ValidationError(gettext("Give at least one business premises."))


class FilingFieldsForm(FlaskForm):
    """The fields of a rental filing every filing form shares."""

    legal_representative = StringField(_l("Legal representative"), filters=[_strip],
                                       validators=[DataRequired(), Length(max=64)])
    contact_name = StringField(_l("Contact person"), filters=[_strip],
                               validators=[DataRequired(), Length(max=64)])
    contact_mobile = StringField(_l("Contact mobile"), filters=[_strip],
                                 validators=[DataRequired(), validate_cn_mobile],
                                 description=_l("11-digit mainland mobile number."))
    address = StringField(_l("Registered address"), filters=[_strip],
                          validators=[DataRequired(), Length(max=255)])
    region_code = SelectField(_l("Region"), validators=[DataRequired()],
                              description=_l("The county or district where the enterprise "
                                             "is registered."))
    time_share = RadioField(_l("Time-share rental offered"), choices=YES_NO,
                            validators=[InputRequired()],
                            description=_l("Time-share rental (分时租赁): cars rented by the "
                                           "minute or hour through an app."))
    premises = FieldList(FormField(PremisesForm), min_entries=1, max_entries=MAX_PREMISES,
                         validators=[_at_least_one_premises])
    documents = MultipleFileField(_l("Other documents"),
                                  description=_l("PDF, PNG or JPEG, at most 10 files."))

    def __init__(self, *args, region_keep: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.region_code.choices = [("", gettext("Please choose"))] + region_choices(
            keep=region_keep)

    def validate_documents(self, field):
        if len(uploads(field)) > MAX_FILES:
            raise ValidationError(gettext("At most %(n)d files.", n=MAX_FILES))


class PublicFilingForm(FilingFieldsForm):
    """R3 step 2: the enterprise name and USCC come from step 1 (signed token)."""

    token = HiddenField(validators=[DataRequired()])
    contact_email = StringField(_l("Contact e-mail"), filters=[_strip],
                                validators=[DataRequired(), Email(), Length(max=120)],
                                description=_l("The enterprise account is opened with this "
                                               "address once the filing is approved."))
    licence = FileField(_l("Business licence"),
                        validators=[FileRequired(_l("Attach a scan or photo of the business "
                                                    "licence."))],
                        description=_l("Scan or photo of the business licence (营业执照): "
                                       "PDF, PNG or JPEG."))


class ResubmitFilingForm(FilingFieldsForm):
    """R4 correction of a returned or rejected application (USCC fixed, name correctable);
    earlier attachments stay with the case."""

    name = StringField(_l("Enterprise name"), filters=[_strip],
                       validators=[DataRequired(), Length(max=200)])
    contact_email = StringField(_l("Contact e-mail"), filters=[_strip],
                                validators=[DataRequired(), Email(), Length(max=120)])
    licence = FileField(_l("Business licence"),
                        description=_l("Only if the earlier scan must be replaced."))


class FilingChangeForm(FilingFieldsForm):
    """R10: every field but the certificate number and the USCC (shown read-only)."""

    name = StringField(_l("Enterprise name"), filters=[_strip],
                       validators=[DataRequired(), Length(max=200)])


class ApplyStartForm(FlaskForm):
    """R3 step 1: name and USCC, checked before the full form is shown."""

    name = StringField(_l("Enterprise name"), filters=[_strip],
                       validators=[DataRequired(), Length(min=2, max=200)],
                       description=_l("The full name as on the business licence."))
    uscc = StringField(_l("Unified social credit code"), filters=[_upper_compact],
                       validators=[DataRequired(), validate_uscc_field],
                       description=_l("18 characters, as on the business licence."))
    captcha = StringField(_l("Verification code"), validators=[Length(max=8)])


# ----- lookups ---------------------------------------------------------------------------
class EnterpriseLookupForm(FlaskForm):
    q = StringField(_l("Full enterprise name or unified social credit code"),
                    filters=[_strip], validators=[DataRequired(), Length(min=2, max=200)])
    captcha = StringField(_l("Verification code"), validators=[Length(max=8)])


class VehicleLookupForm(FlaskForm):
    plate = StringField(_l("Plate number"), filters=[_upper_compact],
                        validators=[DataRequired(), Length(min=5, max=16)],
                        description=_l("e.g. 粤A3K8J2"))
    captcha = StringField(_l("Verification code"), validators=[Length(max=8)])


class StatusLookupForm(FlaskForm):
    # A lookup only finds what exists: the shape is checked, not the check digit (records
    # entered at the counter before digit checks existed stay reachable).
    uscc = StringField(_l("Unified social credit code"), filters=[_upper_compact],
                       validators=[DataRequired(), Regexp(USCC_SHAPE, message=_l(
                           "Enter the 18-character unified social credit code."))])
    captcha = StringField(_l("Verification code"), validators=[Length(max=8)])


class AccessCodeForm(FlaskForm):
    uscc = HiddenField(validators=[DataRequired(), Length(max=18)])
    access_code = StringField(_l("Access code"), filters=[_upper_compact],
                              validators=[DataRequired(), Length(min=6, max=16)],
                              description=_l("The code shown once when the application was "
                                             "submitted."))


# ----- business state (R11) --------------------------------------------------------------
class BusinessStateForm(FlaskForm):
    """Suspend / resume / terminate the rental business: reason, date, written report.
    `notice_date` is used only for time-share operators (the view removes it otherwise)."""

    reason = TextAreaField(_l("Reason"), filters=[_strip],
                           validators=[DataRequired(), Length(max=1000)])
    effective_date = DateField(_l("Effective date"), validators=[InputRequired(
        message=_l("Give the effective date."))])
    notice_date = DateField(_l("Public notice date"), validators=[Optional()],
                            description=_l("Date of the public notice to customers: at least "
                                           "30 days before the effective date."))
    report = FileField(_l("Written report"),
                       validators=[FileRequired(_l("Attach the written report "
                                                   "(原因说明附件)."))],
                       description=_l("The written report to the filing authority (原因说明)"
                                      ": PDF, PNG or JPEG."))
    documents = MultipleFileField(_l("Other documents"))

    def validate_documents(self, field):
        if len(uploads(field)) > MAX_FILES:
            raise ValidationError(gettext("At most %(n)d files.", n=MAX_FILES))


# ----- payloads --------------------------------------------------------------------------
def uploads(*fields) -> list:
    """The non-empty FileStorage objects of file fields (single or multiple)."""
    files = []
    for field in fields:
        if field is None:
            continue
        data = field.data
        for item in data if isinstance(data, list | tuple) else [data]:
            if item is not None and getattr(item, "filename", None):
                files.append(item)
    return files


def premises_payload(form) -> list[dict]:
    rows = []
    for entry in form.premises.entries:
        sub = entry.form
        if not (sub.address.data or "").strip():
            continue
        rows.append({"address": sub.address.data, "area": sub.area.data,
                     "parking_spaces": sub.parking_spaces.data, "phone": sub.phone.data or ""})
    return rows


def filing_payload(form, **fixed) -> dict:
    """The case payload of a validated filing form; `fixed` adds values the form does not
    carry (e.g. name and USCC from step 1)."""
    payload = {
        "legal_representative": form.legal_representative.data,
        "contact_name": form.contact_name.data,
        "contact_mobile": form.contact_mobile.data,
        "address": form.address.data,
        "region_code": form.region_code.data,
        "time_share": form.time_share.data == "1",
        "premises": premises_payload(form),
    }
    for key in ("name", "contact_email"):
        if key in form._fields:
            payload[key] = form[key].data
    payload.update(fixed)
    return payload


def form_data_from_payload(payload: dict) -> dict:
    """Prefill data for a filing form from a payload (or current values)."""
    data = {k: v for k, v in payload.items() if k not in ("premises", "time_share", "before")}
    data["time_share"] = "1" if payload.get("time_share") else "0"
    data["premises"] = [dict(p) for p in payload.get("premises") or []] or [{}]
    return data


def current_filing_values(enterprise, filing) -> dict:
    """Today's values of the changeable fields (the 'before' of a change)."""
    return {
        "name": enterprise.name,
        "legal_representative": enterprise.legal_representative or "",
        "contact_name": enterprise.contact_name or "",
        "contact_mobile": enterprise.contact_mobile or "",
        "address": enterprise.address or "",
        "region_code": enterprise.region_code,
        "time_share": bool(filing.time_share),
        "premises": [p.as_payload() for p in filing.premises],
    }


def _comparable(key, value):
    if key == "premises":
        return [{"address": p.get("address") or "", "area": p.get("area"),
                 "parking_spaces": p.get("parking_spaces"), "phone": p.get("phone") or ""}
                for p in value or []]
    if key == "time_share":
        return bool(value)
    return value if value not in (None,) else ""


def change_payload(before: dict, after: dict) -> dict:
    """R10 payload: the changed fields with their new values, `before` with the old ones
    and `changed` naming them; the name always travels (the case title)."""
    changed = [k for k in CHANGEABLE_FIELDS
               if _comparable(k, before.get(k)) != _comparable(k, after.get(k))]
    payload = {k: after[k] for k in changed}
    payload["name"] = after["name"]
    payload["before"] = {k: before.get(k) for k in changed}
    payload["changed"] = changed
    return payload


# ----- before/after rows for app/templates/workflow/_diff.html ---------------------------
@dataclass
class DiffRow:
    label: str
    before: object
    after: object
    changed: bool = True


def display(key: str, value):
    """A payload value as the UI shows it (strings, or a list of lines)."""
    if key == "time_share":
        return gettext("Yes") if value else gettext("No")
    if key == "region_code":
        return region_label(value)
    if key == "premises":
        lines = []
        for p in value or []:
            parts = [p.get("address") or ""]
            if p.get("area"):
                parts.append(gettext("%(n)s m²", n=p["area"]))
            if p.get("parking_spaces") not in (None, ""):
                parts.append(gettext("%(n)s parking spaces", n=p["parking_spaces"]))
            if p.get("phone"):
                parts.append(p["phone"])
            lines.append("，".join(str(x) for x in parts))
        return lines
    return "" if value is None else str(value)


@dataclass
class DiffLine:
    text: str
    changed: bool


def _lines(mine: list, theirs: list) -> list[DiffLine]:
    return [DiffLine(line, line not in theirs) for line in mine]


def filing_diff(payload: dict) -> list[DiffRow]:
    """Before/after rows of a filing change case (payload built by change_payload); list
    values (premises) mark only the lines that differ."""
    before = payload.get("before") or {}
    keys = payload.get("changed") or [k for k in CHANGEABLE_FIELDS if k in before]
    rows = []
    for key in keys:
        old, new = display(key, before.get(key)), display(key, payload.get(key))
        if isinstance(old, list) and isinstance(new, list):
            old, new = _lines(old, new), _lines(new, old)
        rows.append(DiffRow(str(FIELD_LABELS.get(key, key)), old, new))
    return rows


# ----- attachments -------------------------------------------------------------------------
def store_uploads(files, enterprise_id: int, user_id: int | None) -> list:
    """Save uploads through the attachment service (type by content, size limit); on a
    refused file, the ones already written are removed and AttachmentRejectedError raised
    with the file's name in the message."""
    from app.services.attachments import AttachmentRejectedError, save_upload

    saved = []
    for storage in files:
        try:
            saved.append(save_upload(storage, enterprise_id, user_id))
        except AttachmentRejectedError as exc:
            discard_files(saved)
            raise AttachmentRejectedError(f"{storage.filename}: {exc}") from None
    return saved


def discard_files(rows) -> None:
    """Remove the stored bytes of attachments whose rows were rolled back."""
    from app.services.attachments import file_path
    from app.services.jobs import remove_file

    for row in rows:
        remove_file(file_path(row))
