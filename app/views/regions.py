"""Administrative divisions for cascading province / city / district selects.

`GET /public/regions/children/<code>` ("000000", or `.../children/` for the provinces) answers
`[{"code", "name"}]`: public (the registration page uses it before any account exists),
rate-limited per address like the other public endpoints, and cached by the browser and
proxies (ETag, Cache-Control). An unknown or malformed code answers 404, a district [].

The form side: `RegionField` (a district code, validated) rendered by the
`macros/region_select.html` macro with `static/js/region-select.js`."""

from __future__ import annotations

import json

from flask import current_app, g, request
from flask_appbuilder import BaseView, expose
from flask_appbuilder.utils.limit import Limit
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from markupsafe import Markup
from wtforms import StringField, ValidationError

from app.services import regions


def _regions_limit() -> str:
    return current_app.config.get("REGIONS_RATE_LIMIT", "300 per minute")


class RegionView(BaseView):
    route_base = "/public/regions"
    default_view = "children"
    limits = [Limit(_regions_limit, lambda: "regions:" + get_remote_address())]

    @expose("/children/")
    @expose("/children/<code>")
    def children(self, code: str = regions.NATIONAL):
        rows = regions.children(code)
        if rows is None:
            resp = current_app.response_class(
                json.dumps({"message": gettext("Unknown administrative division code.")},
                           ensure_ascii=False),
                status=404, mimetype="application/json")
            resp.headers["Cache-Control"] = "public, max-age=300"
            return resp
        body = json.dumps([r.as_json() for r in rows], ensure_ascii=False,
                          separators=(",", ":"))
        resp = current_app.response_class(body, mimetype="application/json")
        # The divisions change only when `flask regportal setup` loads a new edition.
        resp.headers["Cache-Control"] = "public, max-age=" + str(
            current_app.config.get("REGIONS_MAX_AGE", 86400))
        resp.add_etag()
        return resp.make_conditional(request)


# ----- forms -------------------------------------------------------------------------------
def district_code_validator(message: str | None = None):
    """WTForms validator: the field holds an existing district-level code (6 digits, in the
    `region` table, not a province or a city with districts; a city without districts such as
    东莞市 441900 counts as its own district)."""

    def _validate(form, field):
        try:
            regions.validate_district(field.data)
        except regions.RegionInvalidError as exc:
            raise ValidationError(message or str(exc)) from None

    return _validate


class RegionSelectWidget:
    """Renders the field with the `region_select` macro (three selects)."""

    def __call__(self, field, **kwargs):
        from flask import get_template_attribute

        macro = get_template_attribute("macros/region_select.html", "region_select")
        # Generic form templates pass class_ and the like: the macro styles its own selects.
        known = {k: v for k, v in kwargs.items() if k in ("id", "required", "disabled")}
        return Markup(macro(field, **known))


class RegionField(StringField):
    """A region code chosen with three cascading selects. The district select carries the
    field's name; the province and city selects post `<name>-province` / `<name>-city`, and a
    code outside them (a forged form, or a browser without JavaScript that changed only the
    province) is refused.

    `levels`: what may be chosen, default ("district",): a district (or a city without
    districts, 东莞市). With ("province", "city", "district") (an authority's jurisdiction)
    the deepest select with a value gives the code. Validation: `regions.validate_region`."""

    widget = RegionSelectWidget()

    def __init__(self, label=None, validators=None, levels=(regions.DISTRICT,), **kwargs):
        if not levels or set(levels) - {regions.PROVINCE, regions.CITY, regions.DISTRICT}:
            raise ValueError(f"levels must be among province / city / district: {levels}")
        if set(levels) == {regions.DISTRICT}:
            kwargs.setdefault("description", _l("Province, city and district (county)."))
        super().__init__(label, validators, **kwargs)
        self.levels = tuple(levels)
        self.province_data = None
        self.city_data = None

    def process(self, formdata, data=None, **kwargs):
        super().process(formdata, data, **kwargs)
        if formdata is None:
            return
        self.province_data = (formdata.get(self.name + "-province") or "").strip() or None
        self.city_data = (formdata.get(self.name + "-city") or "").strip() or None
        self.data = (self.data or "").strip()
        if not self.data:
            if regions.CITY in self.levels and self.city_data:
                self.data = self.city_data
            elif regions.PROVINCE in self.levels and self.province_data and not self.city_data:
                self.data = self.province_data

    def pre_validate(self, form):
        if not self.data:
            if self.flags.required:
                return  # DataRequired / InputRequired say it
            if not (self.province_data or self.city_data):
                return  # optional and left empty
        try:
            regions.validate_region(self.data, self.levels, city=self.city_data,
                                    province=self.province_data)
        except regions.RegionInvalidError as exc:
            raise ValidationError(str(exc)) from None


def _script_once() -> bool:
    """True the first time a page asks (one <script> for several region selects)."""
    if getattr(g, "_region_select_script", False):
        return False
    g._region_select_script = True
    return True


def register_jinja_globals(app) -> None:
    """Helpers of the region-select macro (app/templates/macros/region_select.html)."""
    app.jinja_env.globals.update(
        region_choice=regions.choice_of,
        region_full_name=regions.full_name,
        region_select_script_once=_script_once,
    )
