"""Used-car sales records (seed 001 §2.4, SPEC U5-U6): the entry form laid out as the seed's
(1 buyer, 2 seller, 3 agent, 4 vehicle, 5 transaction), edit and delete, the list with the
seed's "search type + keyword" box, export, the detail page, and the REST twin
`/api/v1/usedcarsale/`. Every write path checks the same rule (app.services.usedcar_sales.
clean_sale) and waits for the authority's confirmation of a filing (U4, ensure_confirmed)."""

from __future__ import annotations

import datetime
import re

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder.baseviews import expose
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import and_, false, or_
from wtforms import SelectField, StringField

from app.errors import DomainError, UsedCarNotConfirmedError
from app.extensions import db
from app.models.job import Job
from app.models.usedcar import CATEGORIES, UsedCarSale
from app.security import PV_USEDCAR_SALE
from app.services import vehicle_codes, xlsx
from app.services import xlsx_import as xi
from app.services.usedcar_sales import (
    BOOLEAN_FIELDS,
    FIELD_LABELS,
    FIELDS,
    IMPORT_KIND,
    PARTY_FIELDS,
    PARTY_LABELS,
    SALES_IMPORT,
    VEHICLE_TYPE_SUGGESTIONS,
    check_price,
    clean_sale,
    code_label,
    sale_values,
)
from app.views.base import AppModelRestApi, AppModelView, FilterInTenantScope, send_and_remove
from app.workflows.usedcar import ensure_confirmed

SALE_LABELS = {
    **FIELD_LABELS,
    "category_label": _l("Report category"),
    "price_in_words": _l("Total price in Chinese capitals"),
    "enterprise": _l("Enterprise"),
    "enterprise.name": _l("Enterprise"),
    "enterprise_id": _l("Enterprise"),
    "created_on": _l("Entered on"),
    "changed_on": _l("Changed on"),
}

# The seed's search types (搜索类型), in its order.
SEARCH_TYPES = {
    "all": _l("All"),
    "buyer": _l("Buyer name"),
    "seller": _l("Seller name"),
    "vin": _l("VIN"),
    "plate": _l("Plate number"),
    "vehicle_type": _l("Vehicle type"),
    "date": _l("Report date"),
}
KEYWORD_MAX = 100
_DATE_RE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")
_MONTH_RE = re.compile(r"^(\d{4})-(\d{1,2})$")
_RANGE_RE = re.compile(r"^(\S+)\s*(?:~|～|至|\.\.)\s*(\S+)$")
_VIN_LIKE = re.compile(r"^[A-HJ-NPR-Z0-9]{6,17}$")
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"


def _starts_with(field, value: str):
    """An index-served prefix condition (as app.views.base.FilterPrefix): a BINARY range on
    SQLite, LIKE 'x%' (text_pattern_ops) on PostgreSQL."""
    if db.session.get_bind().dialect.name == "sqlite":
        return and_(field >= value, field < value + "\U0010ffff")
    return field.startswith(value, autoescape=True)


def _date(text: str) -> datetime.date | None:
    if not _DATE_RE.match(text):
        return None
    try:
        return datetime.date(*(int(p) for p in text.split("-")))
    except ValueError:
        return None


def date_condition(text: str):
    """`YYYY-MM-DD` (that day), `YYYY-MM` (that month) or `from ~ to` (both days included):
    a range on report_date (served by the date indexes); None when the text is none of these."""
    text = text.strip()
    column = UsedCarSale.report_date
    day = _date(text)
    if day is not None:
        return column == day
    month = _MONTH_RE.match(text)
    if month and 1 <= int(month.group(2)) <= 12:
        first = datetime.date(int(month.group(1)), int(month.group(2)), 1)
        following = (first + datetime.timedelta(days=32)).replace(day=1)
        return and_(column >= first, column < following)
    span = _RANGE_RE.match(text)
    if span:
        start, end = _date(span.group(1)), _date(span.group(2))
        if start is not None and end is not None:
            return and_(column >= start, column <= end)
    return None


def search_args() -> tuple[str, str]:
    kind = request.args.get("search_type", "all")
    if kind not in SEARCH_TYPES:
        kind = "all"
    return kind, (request.args.get("keyword") or "").strip()[:KEYWORD_MAX]


def search_condition(kind: str, keyword: str):
    """The seed's search box as one condition: prefixes and date ranges that the sales
    indexes serve (never '%x%'). "All" reads the keyword's shape: a date, a plate, a VIN
    (beginning), else a buyer, seller or vehicle-type name (beginning)."""
    if not keyword:
        return None
    m = UsedCarSale
    if kind == "date":
        return date_condition(keyword)
    if kind == "buyer":
        return _starts_with(m.buyer_name, keyword)
    if kind == "seller":
        return _starts_with(m.seller_name, keyword)
    if kind == "vehicle_type":
        return _starts_with(m.vehicle_type, keyword)
    if kind == "vin":
        return _starts_with(m.vin, vehicle_codes.normalise_vin(keyword))
    if kind == "plate":
        return _starts_with(m.plate, vehicle_codes.normalise_plate(keyword))
    # all
    if keyword[:1].isdigit():
        found = date_condition(keyword)
        if found is not None:
            return found
    plate = vehicle_codes.normalise_plate(keyword)
    if plate[:1] in _PROVINCES:
        return _starts_with(m.plate, plate)
    vin = vehicle_codes.normalise_vin(keyword)
    if _VIN_LIKE.match(vin) and any(ch.isdigit() for ch in vin):
        return _starts_with(m.vin, vin)
    return or_(_starts_with(m.buyer_name, keyword), _starts_with(m.seller_name, keyword),
               _starts_with(m.vehicle_type, keyword))


class FilterSaleSearch(BaseFilter):
    """Base filter reading the list's `?search_type=&keyword=` (the seed's search box), so
    the count, the pages and the export (which rebuilds the list's arguments) all apply it.
    A date search the box cannot read selects nothing (the page says why)."""

    name = "Search"
    arg_name = "sale_search"

    def apply(self, query, value):
        kind, keyword = search_args()
        if not keyword:
            return query
        condition = search_condition(kind, keyword)
        if condition is None:
            return query.filter(false())
        return query.filter(condition)


def not_confirmed_message(enterprise_id) -> str | None:
    """U4: None when the enterprise may enter sales, else the translated reason."""
    try:
        ensure_confirmed(enterprise_id)
    except UsedCarNotConfirmedError as exc:
        return str(exc)
    return None


# ----- the entry form -----------------------------------------------------------------------
def _yes_no():
    return [("0", _l("No")), ("1", _l("Yes"))]


def _party_fields(prefix: str) -> dict:
    return {
        f"{prefix}_name": StringField(PARTY_LABELS["name"]),
        f"{prefix}_is_enterprise": SelectField(PARTY_LABELS["is_enterprise"],
                                               choices=_yes_no(), validate_choice=False),
        f"{prefix}_has_uscc": SelectField(PARTY_LABELS["has_uscc"], choices=_yes_no(),
                                          validate_choice=False),
        f"{prefix}_code": StringField(PARTY_LABELS["code"]),
        f"{prefix}_address": StringField(PARTY_LABELS["address"]),
        f"{prefix}_mobile": StringField(PARTY_LABELS["mobile"]),
    }


class SaleForm(FlaskForm):
    """Field rendering and CSRF only: every check is clean_sale's, shown per field."""

    report_date = StringField(FIELD_LABELS["report_date"])
    has_agent = SelectField(FIELD_LABELS["has_agent"], choices=_yes_no(), validate_choice=False)
    plate = StringField(_l("Plate number"), description=_l(
        "e.g. 粤A12345, new-energy 粤AD12345, trailer 粤A1234挂"))
    registration_no = StringField(_l("Registration certificate no."), description=_l(
        "12 digits, as on the motor vehicle registration certificate."))
    vin = StringField(_l("Frame number / VIN"), description=_l(
        "17 characters; for vehicles made in China position 9 is the check digit."))
    brand_model = StringField(_l("Make and model"))
    vehicle_type = StringField(_l("Vehicle type"), description=_l(
        "As on the motor vehicle driving licence."))
    category = SelectField(FIELD_LABELS["category"], validate_choice=False,
                           choices=[("", "—"), *CATEGORIES.items()],
                           description=_l("The vehicle category of the monthly trade report."))
    transfer_office = StringField(_l("Transfer-in vehicle administration office"))
    price = StringField(_l("Total (figures, CNY)"))
    operator_name = StringField(_l("Operating / auction unit"))


for _prefix in ("buyer", "seller", "agent"):
    for _name, _field in _party_fields(_prefix).items():
        setattr(SaleForm, _name, _field)


def _form_data(values: dict) -> dict:
    """Stored values -> form strings."""
    data = {}
    for f in FIELDS:
        value = values.get(f)
        if f in BOOLEAN_FIELDS:
            data[f] = "1" if value else "0"
        elif value is None:
            data[f] = ""
        elif isinstance(value, datetime.date):
            data[f] = value.isoformat()
        else:
            data[f] = str(value)
    return data


def _posted_values(form: SaleForm) -> dict:
    """What the browser posted. Disabled inputs (agent fields without an agent, "has a
    USCC" of a person) are not posted at all: they count as empty / No."""
    return {f: (request.form.get(f) if f in BOOLEAN_FIELDS else form[f].data) for f in FIELDS}


def _show_errors(form: SaleForm, errors: dict) -> None:
    for field, message in errors.items():
        if field in form:
            form[field].errors = [message]


def _price_words(text) -> str:
    """The capitals of a typed price (the JS shows the same while typing), "" if unreadable."""
    from app.services.money import in_capitals

    price, problem = check_price(text)
    return "" if problem else in_capitals(price)


def _export_bool(value):
    if value is None:
        return ""
    return gettext("Yes") if value else gettext("No")


def _export_price(value):
    return float(value) if value is not None else None


EXPORT_COLUMNS = [*FIELDS[:-3], "category_label", "transfer_office", "price", "price_in_words",
                  "operator_name", "enterprise.name", "created_on"]
EXPORT_COLUMNS.remove("category")


def _import_max_rows() -> int:
    from flask import current_app

    return int(current_app.config.get("IMPORT_MAX_ROWS") or xi.DEFAULT_MAX_ROWS)


class UsedCarSaleView(AppModelView):
    """U5 entry (add), U6 list / search / edit / delete / export, the detail page."""

    datamodel = SQLAInterface(UsedCarSale)
    class_permission_name = PV_USEDCAR_SALE
    route_base = "/usedcar/sales"
    base_permissions = ["can_list", "can_show", "can_add", "can_edit", "can_delete",
                        "can_export", "can_import"]
    method_permission_name = {"import_template": "import", "import_form": "import",
                              "import_status": "import"}
    list_title = _l("Used-car sales records")
    show_title = _l("Used-car sales record")
    add_title = _l("Used-car sales entry")
    edit_title = _l("Edit used-car sales record")
    export_title = "usedcar_sales"
    label_columns = SALE_LABELS
    list_columns = ["report_date", "buyer_name", "seller_name", "vehicle_type", "plate", "vin",
                    "price", "enterprise.name"]
    show_columns = [*FIELDS, "price_in_words", "enterprise.name", "created_on", "changed_on"]
    formatters_columns = {"price": lambda value: f"{value:,.2f}" if value is not None else ""}
    export_columns = EXPORT_COLUMNS
    export_formatters = {**{f: _export_bool for f in BOOLEAN_FIELDS}, "price": _export_price}
    # Plain columns only (no relation <select> of every enterprise); prefixes, equalities
    # and date ranges are what the indexes serve.
    search_columns = ["report_date", "buyer_name", "seller_name", "vin", "plate",
                      "vehicle_type", "category", "brand_model", "price"]
    order_columns = ["report_date", "price"]
    base_order = ("id", "desc")
    base_filters = [["enterprise_id", FilterInTenantScope, lambda: None],
                    ["id", FilterSaleSearch, lambda: None]]
    list_template = "usedcar/sales_list.html"
    show_template = "usedcar/sales_show.html"
    form_template = "usedcar/sales_form.html"

    # ----- list ---------------------------------------------------------------------------
    def render_template(self, template, **kwargs):
        if template == self.list_template:
            kind, keyword = search_args()
            kwargs.update(
                search_types=SEARCH_TYPES, search_type=kind, keyword=keyword,
                search_unreadable=bool(keyword) and search_condition(kind, keyword) is None,
                may_add=self.appbuilder.sm.has_access("can_add", self.class_permission_name),
                may_import=self.appbuilder.sm.has_access("can_import",
                                                         self.class_permission_name),
                not_confirmed=None)
            if kwargs["may_add"] or kwargs["may_import"]:
                kwargs["not_confirmed"] = not_confirmed_message(
                    getattr(g.user, "enterprise_id", None))
        return super().render_template(template, **kwargs)

    # ----- detail -------------------------------------------------------------------------
    @expose("/show/<int:pk>")
    @has_access
    def show(self, pk):
        sale = self.datamodel.get(pk, self._base_filters)
        if sale is None:
            abort(404)
        sm = self.appbuilder.sm
        return self.render_template(
            self.show_template, sale=sale, labels=SALE_LABELS, party_labels=PARTY_LABELS,
            party_fields=PARTY_FIELDS, code_label=code_label, title=self.show_title,
            may_edit=sm.has_access("can_edit", self.class_permission_name),
            may_delete=sm.has_access("can_delete", self.class_permission_name))

    # ----- add / edit ---------------------------------------------------------------------
    def _refuse_unconfirmed(self, enterprise_id):
        message = not_confirmed_message(enterprise_id)
        if message is None:
            return None
        flash(message, "warning")
        return redirect(url_for(f"{self.endpoint}.list"))

    def _render_form(self, form, *, sale=None, title):
        return self.render_template(
            self.form_template, form=form, sale=sale, title=title,
            party_fields=PARTY_FIELDS, code_label=code_label, price_words=_price_words,
            vehicle_types=VEHICLE_TYPE_SUGGESTIONS)

    @expose("/add", methods=["GET", "POST"])
    @has_access
    def add(self):
        enterprise_id = getattr(g.user, "enterprise_id", None)
        refused = self._refuse_unconfirmed(enterprise_id)
        if refused is not None:
            return refused
        if request.method == "GET":
            from app.models.org import Enterprise

            enterprise = db.session.get(Enterprise, enterprise_id)
            form = SaleForm(data=_form_data({
                "report_date": datetime.date.today(),
                "operator_name": enterprise.name if enterprise else ""}))
        else:
            form = SaleForm()
        if request.method == "POST" and form.validate_on_submit():
            cleaned, errors = clean_sale(_posted_values(form))
            if errors:
                _show_errors(form, errors)
            else:
                sale = UsedCarSale(enterprise_id=enterprise_id, **cleaned)
                db.session.add(sale)
                db.session.commit()
                flash(gettext("Sales record saved."), "success")
                if request.form.get("next") == "add":
                    return redirect(url_for(f"{self.endpoint}.add"))
                return redirect(url_for(f"{self.endpoint}.show", pk=sale.id))
        return self._render_form(form, title=self.add_title)

    @expose("/edit/<int:pk>", methods=["GET", "POST"])
    @has_access
    def edit(self, pk):
        sale = self.datamodel.get(pk, self._base_filters)
        if sale is None:
            abort(404)
        refused = self._refuse_unconfirmed(sale.enterprise_id)
        if refused is not None:
            return refused
        form = SaleForm(data=_form_data(sale_values(sale))) if request.method == "GET" \
            else SaleForm()
        if request.method == "POST" and form.validate_on_submit():
            cleaned, errors = clean_sale(_posted_values(form))
            if errors:
                _show_errors(form, errors)
            else:
                for key, value in cleaned.items():
                    setattr(sale, key, value)
                db.session.commit()
                flash(gettext("Sales record saved."), "success")
                return redirect(url_for(f"{self.endpoint}.show", pk=sale.id))
        return self._render_form(form, sale=sale, title=self.edit_title)

    def pre_delete(self, item):
        ensure_confirmed(item.enterprise_id)

    # ----- import (U6, SPEC X12) ----------------------------------------------------------
    @expose("/import/template")
    @has_access
    def import_template(self):
        """The Excel template: the form's fields in its order, Chinese headers, lists."""
        path = xlsx.written(lambda path: xi.write_template(SALES_IMPORT, path))
        return send_and_remove(path, gettext("Used-car sales import template") + ".xlsx",
                               xi.XLSX_MIME)

    @expose("/import/", methods=["GET", "POST"])
    @has_access
    def import_form(self):
        """Upload: the file is checked at once (type, size), then a background job reads,
        validates (clean_sale, the same VIN twice) and saves every row or none."""
        refused = self._refuse_unconfirmed(getattr(g.user, "enterprise_id", None))
        if refused is not None:
            return refused
        status = 200
        if request.method == "POST":
            upload = request.files.get("file")
            try:
                job = xi.submit(IMPORT_KIND, upload, title=gettext(
                    "Used-car sales import: %(file)s",
                    file=getattr(upload, "filename", "") or "-"))
            except DomainError as exc:
                db.session.rollback()
                flash(str(exc), "danger")
                status = 422
            else:
                return redirect(url_for(f"{self.endpoint}.import_status", pk=job.id))
        return self.render_template("usedcar/sales_import.html", title=_l(
            "Import used-car sales records"), outcome=None, job=None,
            max_rows=_import_max_rows()), status

    @expose("/import/<int:pk>")
    @has_access
    def import_status(self, pk):
        """One import: progress while the job runs (the page polls the job's status), then
        the count imported, or the errors per row and column with the error workbook."""
        job = db.session.get(Job, pk)  # the ORM shows a job to its owner only
        if job is None or job.kind != IMPORT_KIND:
            abort(404)
        return self.render_template("usedcar/sales_import.html", title=_l(
            "Import used-car sales records"), outcome=xi.outcome(job), job=job,
            max_rows=_import_max_rows())


class UsedCarSaleApi(AppModelRestApi):
    """`/api/v1/usedcarsale/`: list, show, add, edit, delete, export; the same rule as the
    form (clean_sale: 422 with {field: message}), the same gating (403 before confirmation),
    rows always in the caller's own enterprise."""

    resource_name = "usedcarsale"
    datamodel = SQLAInterface(UsedCarSale)
    class_permission_name = PV_USEDCAR_SALE
    list_columns = ["id", *FIELDS, "enterprise_id", "created_on", "changed_on"]
    show_columns = list_columns
    add_columns = list(FIELDS)
    edit_columns = list(FIELDS)
    search_columns = ["report_date", "buyer_name", "seller_name", "vin", "plate",
                      "vehicle_type", "category", "price", "enterprise_id"]
    order_columns = ["id", "report_date", "price"]
    base_order = ("id", "desc")
    base_filters = [["enterprise_id", FilterInTenantScope, lambda: None]]
    export_columns = EXPORT_COLUMNS
    export_formatters = UsedCarSaleView.export_formatters

    def pre_get(self, data):
        result = data.get("result") or {}
        if "price" in result:
            from app.services.money import in_capitals

            result["price_in_words"] = in_capitals(result["price"])

    def _body(self):
        """(JSON object, None) or (None, error response)."""
        if not request.is_json:
            return None, self.response_400(message=gettext("Send a JSON object."))
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return None, self.response_400(message=gettext("Send a JSON object."))
        unknown = sorted(set(body) - set(FIELDS))
        if unknown:
            return None, self.response_422(message={k: [gettext("Unknown field.")]
                                                    for k in unknown})
        return body, None

    def _saved(self, status: int, sale):
        return self.response(status, id=sale.id,
                             result=self.show_model_schema.dump(sale, many=False))

    def post_headless(self):
        enterprise_id = getattr(g.user, "enterprise_id", None)
        message = not_confirmed_message(enterprise_id)
        if message is not None:
            return self.response(403, message=message)
        body, refused = self._body()
        if refused is not None:
            return refused
        cleaned, errors = clean_sale(body)
        if errors:
            return self.response_422(message=errors)
        sale = UsedCarSale(enterprise_id=enterprise_id, **cleaned)
        db.session.add(sale)
        db.session.commit()
        return self._saved(201, sale)

    def _writable(self, pk):
        """(the caller's sale, None), or (None, the refusal: 404 foreign or unknown, 403
        before the filing is confirmed)."""
        sale = self.datamodel.get(pk, self._base_filters)
        if sale is None:
            return None, self.response_404()
        message = not_confirmed_message(sale.enterprise_id)
        if message is not None:
            return None, self.response(403, message=message)
        return sale, None

    def put_headless(self, pk):
        sale, refused = self._writable(pk)
        if refused is not None:
            return refused
        body, refused = self._body()
        if refused is not None:
            return refused
        values = sale_values(sale)
        values.update(body)  # PUT may send only the fields that change
        cleaned, errors = clean_sale(values)
        if errors:
            return self.response_422(message=errors)
        for key, value in cleaned.items():
            setattr(sale, key, value)
        db.session.commit()
        return self._saved(200, sale)

    def delete_headless(self, pk):
        sale, refused = self._writable(pk)
        if refused is not None:
            return refused
        db.session.delete(sale)
        db.session.commit()
        return self.response(200, message="OK")


__all__ = ["FilterSaleSearch", "SEARCH_TYPES", "SaleForm", "UsedCarSaleApi", "UsedCarSaleView",
           "search_condition"]
