"""Forms of the licence application (seed 002 §4, SPEC P3-P11): step 1 (category, level,
nature, submitter), and one form per section tab. Formats are checked here; completeness and
the licence conditions by app/services/licence_check.py; business rules by the workflow."""

from __future__ import annotations

import datetime
from decimal import Decimal

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from app.models.licence import (
    CATEGORIES,
    KEY_ROLES,
    LEVELS,
    NATURES,
    SUBMITTER_KINDS,
    TITLES,
    VOLTAGES,
)
from app.services import cn_codes


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _compact(value):
    return cn_codes.compact(value) if isinstance(value, str) else value


def validate_resident_id(form, field):
    if not cn_codes.resident_id_valid(field.data):
        raise ValidationError(gettext(
            "Not a valid resident ID number (18 characters; the check digit does not "
            "match)."))


def validate_mobile(form, field):
    value = cn_codes.mobile(field.data)
    if value is None:
        raise ValidationError(gettext("Enter a valid mainland mobile number, e.g. "
                                      "13800138000."))
    field.data = value


def validate_not_future(form, field):
    if field.data and field.data > datetime.date.today():
        raise ValidationError(gettext("The date cannot be in the future."))


LEVEL_CHOICES = [(str(k), v) for k, v in LEVELS.items()]


class StartForm(FlaskForm):
    """Step 1 of a licence matter: route, categories with levels, nature, submitter."""

    route = RadioField(_l("Route"), choices=[], validators=[InputRequired()])
    nature = RadioField(_l("Nature of the application"), default="new",
                        choices=list(NATURES.items()), validators=[Optional()])
    downgrade = BooleanField(_l("Downgrade a level on renewal"))
    submitter_kind = RadioField(_l("Submitted by"), default="legal",
                                choices=list(SUBMITTER_KINDS.items()),
                                validators=[InputRequired()])
    submitter_name = StringField(_l("Submitter's name"), filters=[_strip],
                                 validators=[DataRequired(), Length(max=64)])
    submitter_id_number = StringField(_l("Submitter's ID number"), filters=[_compact],
                                      validators=[DataRequired(), validate_resident_id])
    legal_statement = FileField(_l("Statement signed by the legal representative"))
    delegation = FileField(_l("Power of attorney"))
    delegate_id = FileField(_l("Delegate's identity card"))
    merger_docs = FileField(_l("Merger agreement and approval"))
    split_docs = FileField(_l("Split agreement and approval"))


# Category checkboxes and level selects are added per category: cat_install, level_install...
for _code, _label in CATEGORIES.items():
    setattr(StartForm, f"cat_{_code}", BooleanField(_label))
    setattr(StartForm, f"level_{_code}", SelectField(
        _l("Level"), choices=LEVEL_CHOICES, default="5", validators=[Optional()]))


def categories_from(form) -> dict:
    """{"install": 3, ...} from the checked categories of a StartForm."""
    out = {}
    for code in CATEGORIES:
        if form[f"cat_{code}"].data:
            try:
                level = int(form[f"level_{code}"].data)
            except (TypeError, ValueError):
                level = 0
            out[code] = level
    return out


class EquityForm(FlaskForm):
    name = StringField(_l("Shareholder"), filters=[_strip],
                       validators=[DataRequired(), Length(max=200)])
    kind = SelectField(_l("Kind"), choices=[("legal", _l("Legal person")),
                                           ("natural", _l("Natural person"))],
                       validators=[InputRequired()])
    amount = DecimalField(_l("Contribution (10k CNY)"), places=2,
                          validators=[InputRequired(), NumberRange(min=Decimal("0.01"),
                                                                   max=Decimal("100000000"))])
    share = DecimalField(_l("Share (%)"), places=2,
                         validators=[InputRequired(), NumberRange(min=Decimal("0.01"),
                                                                  max=Decimal(100))])


class LeadForm(FlaskForm):
    name = StringField(_l("Name"), filters=[_strip], validators=[DataRequired(), Length(max=64)])
    id_number = StringField(_l("ID number"), filters=[_compact],
                            validators=[DataRequired(), validate_resident_id])
    title = SelectField(_l("Professional title"), choices=list(TITLES.items()),
                        validators=[InputRequired()])
    specialty = StringField(_l("Specialty"), filters=[_strip],
                            validators=[DataRequired(), Length(max=64)])
    years = IntegerField(_l("Years in power engineering"),
                         validators=[InputRequired(), NumberRange(min=0, max=60)])
    mobile = StringField(_l("Mobile"), validators=[DataRequired(), validate_mobile])


class _HistoryForm(FlaskForm):
    start_on = DateField(_l("From"), validators=[InputRequired(), validate_not_future])
    end_on = DateField(_l("To"), validators=[Optional(), validate_not_future],
                       description=_l("Leave empty if ongoing."))
    organisation = StringField(_l("Organisation"), filters=[_strip],
                               validators=[DataRequired(), Length(max=200)])

    def validate_end_on(self, field):
        if field.data and self.start_on.data and field.data < self.start_on.data:
            raise ValidationError(gettext("The end cannot be before the start."))


class WorkForm(_HistoryForm):
    detail = StringField(_l("Position held"), filters=[_strip],
                         validators=[DataRequired(), Length(max=200)])
    certifier = StringField(_l("Certifier"), filters=[_strip],
                            validators=[DataRequired(), Length(max=64)])
    certifier_mobile = StringField(_l("Certifier's mobile"),
                                   validators=[DataRequired(), validate_mobile])


class TrainingForm(_HistoryForm):
    detail = StringField(_l("Course"), filters=[_strip],
                         validators=[DataRequired(), Length(max=200)])


class ProjectForm(FlaskForm):
    name = StringField(_l("Project"), filters=[_strip],
                       validators=[DataRequired(), Length(max=200)])
    category = SelectField(_l("Category"), choices=list(CATEGORIES.items()),
                           validators=[InputRequired()])
    voltage_kv = SelectField(_l("Voltage level"), coerce=int,
                             choices=[(kv, f"{kv} kV") for kv in VOLTAGES],
                             validators=[InputRequired()])
    client = StringField(_l("Client"), filters=[_strip],
                         validators=[DataRequired(), Length(max=200)])
    amount = DecimalField(_l("Contract amount (10k CNY)"), places=2,
                          validators=[Optional(), NumberRange(min=0, max=Decimal("100000000"))])
    started_on = DateField(_l("Started on"), validators=[Optional(), validate_not_future])
    completed_on = DateField(_l("Completed on"), validators=[InputRequired(),
                                                             validate_not_future])

    def validate_completed_on(self, field):
        if field.data and self.started_on.data and field.data < self.started_on.data:
            raise ValidationError(gettext("Completion cannot be before the start."))


class ChangesForm(FlaskForm):
    """P7: the after values of the registration items (prefilled with the record)."""

    name = StringField(_l("Enterprise name"), filters=[_strip],
                       validators=[DataRequired(), Length(max=200)])
    legal_representative = StringField(_l("Legal representative"), filters=[_strip],
                                       validators=[DataRequired(), Length(max=64)])
    legal_representative_id = StringField(
        _l("ID number of the legal representative"), filters=[_compact],
        validators=[Optional(), validate_resident_id],
        description=_l("Required when the legal representative changes."))
    address = StringField(_l("Address (business licence)"), filters=[_strip],
                          validators=[DataRequired(), Length(max=255)])


class ReplacementForm(FlaskForm):
    reason = RadioField(_l("Reason"), choices=[("lost", _l("Lost")), ("damaged", _l("Damaged"))],
                        validators=[InputRequired()])
    explanation = TextAreaField(_l("Explanation"), filters=[_strip],
                                validators=[DataRequired(), Length(max=2000)])


class CancellationForm(FlaskForm):
    matters = TextAreaField(_l("Cancellation matters"), filters=[_strip],
                            validators=[DataRequired(), Length(max=4000)],
                            description=_l("Why the licence is cancelled and how ongoing "
                                           "projects are handed over."))


class ToleranceForm(FlaskForm):
    """容缺: the date by which the named missing materials will be supplied."""

    deadline = DateField(_l("Missing materials supplied by"), validators=[InputRequired()])


ROLE_LABELS = KEY_ROLES
