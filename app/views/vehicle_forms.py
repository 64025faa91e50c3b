"""Vehicle forms (R12, R13, R15): field checks here, business rules as workflow guards."""

from __future__ import annotations

import re

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from vininfo import Vin
from vininfo.exceptions import ValidationError as VinError
from wtforms import DateField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from app.models.rental import VEHICLE_TYPES, VEHICLE_USAGES

# Civil plates: province + issuing-office letter + 5 characters, or 6 for new-energy plates
# (GA 36-2018). I and O are never used.
PLATE_RE = re.compile(
    r"^[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼]"
    r"[A-HJ-NP-Z](?:[A-HJ-NP-Z0-9]{5}|[DFA-HJK][A-HJ-NP-Z0-9]{5})$")


def normalise_plate(value: str) -> str:
    return re.sub(r"[\s·•.\-]", "", value or "").upper()


def validate_plate(form, field):
    field.data = normalise_plate(field.data)
    if not PLATE_RE.match(field.data):
        raise ValidationError(gettext(
            "Not a valid plate number (e.g. 粤A12345, new-energy 粤AD12345)."))


def validate_vin(form, field):
    field.data = re.sub(r"\s", "", field.data or "").upper()
    try:
        ok = len(field.data) == 17 and Vin(field.data).verify_checksum()
    except VinError:
        ok = False
    if not ok:
        raise ValidationError(gettext(
            "Not a valid VIN: 17 characters without I, O or Q, with a correct check digit "
            "in position 9."))


class VehicleForm(FlaskForm):
    plate = StringField(_l("Plate number"), validators=[DataRequired(), validate_plate])
    vin = StringField(_l("VIN"), validators=[DataRequired(), validate_vin])
    brand = StringField(_l("Brand"), validators=[DataRequired(), Length(max=64)])
    model = StringField(_l("Model"), validators=[DataRequired(), Length(max=64)])
    vehicle_type = SelectField(_l("Vehicle type"), choices=list(VEHICLE_TYPES.items()))
    seats = IntegerField(_l("Seats"), validators=[DataRequired(), NumberRange(min=1, max=9)])
    colour = StringField(_l("Colour"), validators=[Optional(), Length(max=16)])
    usage = SelectField(_l("Usage"), choices=list(VEHICLE_USAGES.items()))
    owner_name = StringField(_l("Registered owner"), validators=[DataRequired(),
                                                                 Length(max=200)])
    registered_on = DateField(_l("Registration date"), validators=[DataRequired()])

    def payload(self) -> dict:
        return {"plate": self.plate.data, "vin": self.vin.data, "brand": self.brand.data.strip(),
                "model": self.model.data.strip(), "vehicle_type": self.vehicle_type.data,
                "seats": self.seats.data, "colour": (self.colour.data or "").strip(),
                "usage": self.usage.data, "owner_name": self.owner_name.data.strip(),
                "registered_on": self.registered_on.data.isoformat()}


class VehiclePickMixin:
    vehicle_id = HiddenField(validators=[DataRequired(message=_l("Choose a vehicle."))])


class VehicleChangeForm(VehiclePickMixin, VehicleForm):
    reason = TextAreaField(_l("Reason for the change"), validators=[Optional(),
                                                                    Length(max=1000)])


class VehicleStateForm(VehiclePickMixin, FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=1000)])
    effective_date = DateField(_l("Effective date"), validators=[DataRequired()])
