"""The used-car filing form (seed 001 §2.3, SPEC U3): one form, the fields of the chosen
business type, a branch sub-table. Formats are checked here; business rules (registered
type, one open case per type) are workflow guards (app/workflows/usedcar.py)."""

from __future__ import annotations

import datetime
from decimal import Decimal

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    DecimalField,
    FieldList,
    FormField,
    IntegerField,
    StringField,
    TextAreaField,
)
from wtforms import Form as SubForm
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from app.models.usedcar import MARKET
from app.services import cn_codes
from app.views.regions import RegionField
from app.views.rental_forms import validate_cn_mobile
from app.workflows.usedcar import FILING_LABELS, MARKET_ONLY, NOT_MARKET

MAX_BRANCHES = 200


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _compact(value):
    return cn_codes.compact(value) if isinstance(value, str) else value



def validate_licence_or_uscc(form, field):
    if not (cn_codes.uscc_valid(field.data) or cn_codes.licence_no_valid(field.data)):
        raise ValidationError(gettext(
            "Enter the 18-character USCC or the 15-digit business licence number; the check "
            "digit does not match."))



class BranchForm(SubForm):
    """One branch (分支机构) row; a sub-form without its own CSRF token."""

    name = StringField(_l("Branch name"), filters=[_strip],
                       validators=[DataRequired(), Length(max=200)])
    licence_no = StringField(_l("Business licence number"), filters=[_compact],
                             validators=[DataRequired(), validate_licence_or_uscc])
    address = StringField(_l("Business address"), filters=[_strip],
                          validators=[DataRequired(), Length(max=255)])
    scope = StringField(_l("Business scope"), filters=[_strip],
                        validators=[DataRequired(), Length(max=500)])


BRANCH_FIELDS = ("name", "licence_no", "address", "scope")


def _filled(branch) -> bool:
    return any((branch[k].data or "").strip() for k in BRANCH_FIELDS)


def _label(key):
    return FILING_LABELS[key]


class FilingForm(FlaskForm):
    foreign_trade_code = StringField(_label("foreign_trade_code"), filters=[_compact],
                                     validators=[Optional(), Length(max=32)],
                                     description=_l("Only foreign-invested enterprises."))
    share_cn = DecimalField(_label("share_cn"), places=2, default=Decimal(100),
                            validators=[InputRequired(), NumberRange(min=0, max=100)])
    share_foreign = DecimalField(_label("share_foreign"), places=2, default=Decimal(0),
                                 validators=[InputRequired(), NumberRange(min=0, max=100)])
    legal_representative = StringField(_label("legal_representative"), filters=[_strip],
                                       validators=[DataRequired(), Length(max=64)])
    registered_capital = DecimalField(_label("registered_capital"), places=2,
                                      validators=[InputRequired(),
                                                  NumberRange(min=Decimal("0.01"),
                                                              max=Decimal("100000000"))])
    founded_on = DateField(_label("founded_on"), validators=[InputRequired()])
    floor_area = DecimalField(_label("floor_area"), places=2,
                              validators=[InputRequired(),
                                          NumberRange(min=0, max=Decimal("100000000"))])
    operating_from = DateField(_label("operating_from"), validators=[InputRequired()])
    operating_to = DateField(_label("operating_to"), validators=[Optional()],
                             description=_l("Leave empty for an unlimited operating period."))
    merchant_count = IntegerField(_label("merchant_count"),
                                  validators=[InputRequired(), NumberRange(min=0, max=100000)])
    management_staff = IntegerField(_label("management_staff"),
                                    validators=[InputRequired(),
                                                NumberRange(min=0, max=100000)])
    professional_staff = IntegerField(_label("professional_staff"),
                                      validators=[InputRequired(),
                                                  NumberRange(min=0, max=100000)])
    domicile_region = RegionField(_label("domicile_region"), validators=[DataRequired()])
    domicile_street = StringField(_label("domicile_street"), filters=[_strip],
                                  validators=[DataRequired(), Length(max=255)],
                                  description=_l("As on the business licence."))
    scope = TextAreaField(_label("scope"), filters=[_strip],
                          validators=[DataRequired(), Length(max=2000)])
    business_region = RegionField(_label("business_region"), validators=[DataRequired()])
    business_street = StringField(_label("business_street"), filters=[_strip],
                                  validators=[DataRequired(), Length(max=255)],
                                  description=_l("Where the business is actually run."))
    filer_name = StringField(_label("filer_name"), filters=[_strip],
                             validators=[DataRequired(), Length(max=64)])
    filer_mobile = StringField(_label("filer_mobile"), validators=[DataRequired(),
                                                                   validate_cn_mobile])
    filer_email = StringField(_label("filer_email"), filters=[_strip],
                              validators=[Optional(), Email(), Length(max=120)])
    branches = FieldList(FormField(BranchForm), min_entries=0, max_entries=MAX_BRANCHES)

    def __init__(self, *args, business_type: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.business_type = business_type
        for name in (NOT_MARKET if business_type == MARKET else MARKET_ONLY):
            delattr(self, name)

    def validate(self, extra_validators=None) -> bool:
        # An empty branch row (added, then left blank) is no branch, not an error.
        self.branches.entries = [e for e in self.branches.entries if _filled(e.form)]
        ok = super().validate(extra_validators)
        if self.share_cn.data is not None and self.share_foreign.data is not None \
                and self.share_cn.data + self.share_foreign.data != 100:
            self.share_foreign.errors.append(gettext(
                "The Chinese and foreign shares must add up to 100%."))
            ok = False
        today = datetime.date.today()
        if self.founded_on.data and self.founded_on.data > today:
            self.founded_on.errors.append(gettext("The founding date cannot be in the future."))
            ok = False
        if self.operating_from.data and self.operating_to.data \
                and self.operating_to.data < self.operating_from.data:
            self.operating_to.errors.append(gettext(
                "The operating period cannot end before it starts."))
            ok = False
        return ok

    def payload(self) -> dict:
        """The case payload: JSON-safe (dates ISO, decimals as strings), branch count from
        the rows."""
        out = {"business_type": self.business_type}
        for name in FILING_LABELS:
            if name in ("business_type", "branches", "branch_count") or name not in self:
                continue
            value = self[name].data
            if isinstance(value, datetime.date):
                value = value.isoformat()
            elif isinstance(value, Decimal):
                value = format(value.normalize(), "f")
            out[name] = value if value not in ("",) else None
        out["branches"] = [{k: entry.form[k].data for k in BRANCH_FIELDS}
                           for entry in self.branches.entries if _filled(entry.form)]
        out["branch_count"] = len(out["branches"])
        return out


def form_data(payload: dict) -> dict:
    """A payload (or a confirmed filing's data) as form `data=` (dates and decimals typed)."""
    data = dict(payload)
    for key in ("founded_on", "operating_from", "operating_to"):
        if data.get(key):
            data[key] = datetime.date.fromisoformat(data[key])
    for key in ("share_cn", "share_foreign", "registered_capital", "floor_area"):
        if data.get(key) not in (None, ""):
            data[key] = Decimal(str(data[key]))
    data["branches"] = [dict(b) for b in data.get("branches") or []]
    return data
