"""Vehicle forms (R12, R13, R15): field checks here, business rules as workflow guards."""

from __future__ import annotations

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from app.models.rental import VEHICLE_TYPES, VEHICLE_USAGES
from app.services.vehicle_codes import (
    is_valid_plate,
    is_valid_vin,
    normalise_plate,
    normalise_vin,
)


def validate_plate(form, field):
    field.data = normalise_plate(field.data)
    if not is_valid_plate(field.data):
        raise ValidationError(gettext(
            "Not a valid plate number (e.g. 粤A12345, new-energy 粤AD12345)."))


def validate_vin(form, field):
    field.data = normalise_vin(field.data)
    if not is_valid_vin(field.data):
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
