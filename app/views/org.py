"""Enterprises and authorities: ModelView + ModelRestApi twins, scoped by the ORM hook and by
base_filters from the same scope."""

from __future__ import annotations

from flask_appbuilder.models.sqla.filters import FilterInFunction
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from stdnum.cn import uscc as stdnum_uscc
from wtforms import SelectField
from wtforms.validators import DataRequired, ValidationError

from app.errors import DomainError
from app.extensions import db
from app.models.locks import refuse_locked_changes
from app.models.org import (
    ENTERPRISE_STATUS_LABELS,
    ENTERPRISE_STATUSES,
    Authority,
    Enterprise,
    region_prefix,
)
from app.security import PV_AUTHORITY, PV_ENTERPRISE
from app.services import regions
from app.services.usedcar_accounts import is_usedcar_enterprise
from app.views.base import (
    AppModelRestApi,
    AppModelView,
    FilterInTenantScope,
    UniqueAcrossTenants,
)
from app.views.regions import RegionField


def validate_uscc(form, field):
    value = (field.data or "").strip().upper()
    if not stdnum_uscc.is_valid(value):
        raise ValidationError(gettext(
            "Not a valid unified social credit code (18 characters, check digit)."))
    field.data = stdnum_uscc.compact(value)


ENTERPRISE_LABELS = {
    "name": _l("Enterprise name"),
    "uscc": _l("Unified social credit code"),
    "region": _l("Region"),
    "region_code": _l("Region code"),
    "sectors": _l("Regulated sectors"),
    "sector_labels": _l("Regulated sectors"),
    "status": _l("Status"),
    "status_label": _l("Status"),
    "legal_representative": _l("Legal representative"),
    "contact_name": _l("Contact"),
    "contact_mobile": _l("Contact mobile"),
    "address": _l("Address"),
    "created_on": _l("Created on"),
}


class EnterpriseModelView(AppModelView):
    datamodel = SQLAInterface(Enterprise)
    class_permission_name = PV_ENTERPRISE
    route_base = "/enterprises"
    list_title = _l("Enterprises")
    show_title = _l("Enterprise")
    add_title = _l("Add enterprise")
    edit_title = _l("Edit enterprise")
    export_title = "enterprises"
    label_columns = ENTERPRISE_LABELS
    list_columns = ["name", "uscc", "region", "sector_labels", "status_label"]
    show_columns = ["name", "uscc", "region", "sector_labels", "status_label",
                    "legal_representative", "contact_name", "contact_mobile", "address",
                    "created_on"]
    add_columns = ["name", "uscc", "region_code", "sectors", "status", "legal_representative",
                   "contact_name", "contact_mobile", "address"]
    edit_columns = add_columns
    # region_code (a text filter), not the relation: FAB would list all 3,218 divisions.
    search_columns = ["name", "uscc", "region_code", "status"]
    order_columns = ["name", "uscc", "status"]
    base_order = ("name", "asc")
    base_filters = [["id", FilterInTenantScope, lambda: None]]
    validators_columns = {"uscc": [validate_uscc, UniqueAcrossTenants(
        Enterprise.uscc, _l("An enterprise with this unified social credit code exists."))]}
    add_form_extra_fields = {
        "status": SelectField(
            _l("Status"), choices=[(s, ENTERPRISE_STATUS_LABELS[s]) for s in ENTERPRISE_STATUSES]
        ),
        "region_code": RegionField(_l("Region"), validators=[DataRequired()]),
    }
    edit_form_extra_fields = add_form_extra_fields

    def pre_add(self, item):
        _normalise_uscc(item)
        if not item.uscc:
            raise DomainError(gettext("Enter the unified social credit code."))

    def pre_update(self, item):
        _normalise_uscc(item)
        # U1 / P2: a used-car enterprise keeps its name and USCC, a power enterprise its
        # name, legal representative and address (app/models/locks.py).
        refuse_locked_changes(item)


class EnterpriseApi(AppModelRestApi):
    resource_name = "enterprise"
    datamodel = SQLAInterface(Enterprise)
    class_permission_name = PV_ENTERPRISE
    list_columns = ["id", "name", "uscc", "region_code", "status"]
    show_columns = ["id", "name", "uscc", "region_code", "status", "legal_representative",
                    "contact_name", "contact_mobile", "address"]
    add_columns = ["name", "uscc", "region_code", "status", "legal_representative",
                   "contact_name", "contact_mobile", "address"]
    edit_columns = add_columns
    search_columns = ["name", "uscc", "region_code", "status"]
    base_filters = [["id", FilterInTenantScope, lambda: None]]

    def pre_add(self, item):
        _check_enterprise(item)

    def pre_update(self, item):
        # U1 / P2: a used-car enterprise keeps its name and USCC, a power enterprise its
        # name, legal representative and address (app/models/locks.py).
        refuse_locked_changes(item)
        _check_enterprise(item)

    def put_headless(self, pk):
        """Domain errors of the update (a locked field: a used-car enterprise's name or USCC,
        a power enterprise's name...) answer with their own status (422) and message."""
        try:
            return super().put_headless(pk)
        except DomainError as exc:
            db.session.rollback()
            return self.response(exc.code, message=str(exc))


def _normalise_uscc(item):
    item.uscc = stdnum_uscc.compact(item.uscc) if item.uscc else None


def _check_enterprise(item):
    from werkzeug.exceptions import BadRequest

    # A used-car enterprise registered without a USCC has none (it never gets one here).
    if not (item.uscc is None and is_usedcar_enterprise(item.id)) \
            and not stdnum_uscc.is_valid(item.uscc or ""):
        raise BadRequest(gettext(
            "Not a valid unified social credit code (18 characters, check digit)."))
    if item.status not in ENTERPRISE_STATUSES:
        raise BadRequest(gettext("Unknown status."))


AUTHORITY_LABELS = {
    "name": _l("Authority"),
    "region": _l("Region"),
    "region_code": _l("Region code"),
    "sectors": _l("Sectors"),
    "sector_labels": _l("Sectors"),
}


def scoped_authority_ids():
    return [row[0] for row in db.session.query(Authority.id)]


class AuthorityModelView(AppModelView):
    datamodel = SQLAInterface(Authority)
    class_permission_name = PV_AUTHORITY
    route_base = "/authorities"
    list_title = _l("Authorities")
    show_title = _l("Authority")
    add_title = _l("Add authority")
    edit_title = _l("Edit authority")
    label_columns = AUTHORITY_LABELS
    list_columns = ["name", "region", "sector_labels"]
    show_columns = list_columns
    add_columns = ["name", "region_code", "sectors"]
    edit_columns = add_columns
    search_columns = ["name", "region_code"]
    base_filters = [["id", FilterInFunction, scoped_authority_ids]]
    # A jurisdiction is a province, a city or a district.
    add_form_extra_fields = {"region_code": RegionField(
        _l("Region"), validators=[DataRequired()],
        levels=(regions.PROVINCE, regions.CITY, regions.DISTRICT))}
    edit_form_extra_fields = add_form_extra_fields

    def pre_add(self, item):
        item.region_prefix = region_prefix(item.region_code or "")

    pre_update = pre_add


class AuthorityApi(AppModelRestApi):
    resource_name = "authority"
    datamodel = SQLAInterface(Authority)
    class_permission_name = PV_AUTHORITY
    list_columns = ["id", "name", "region_code"]
    show_columns = list_columns
    add_columns = ["name", "region_code"]
    edit_columns = add_columns
    base_filters = [["id", FilterInFunction, scoped_authority_ids]]

    def pre_add(self, item):
        item.region_prefix = region_prefix(item.region_code)

    pre_update = pre_add
