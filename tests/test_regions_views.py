"""Administrative divisions: loading by setup, the region service, the public children
endpoint, RegionField / district_code_validator and the region-select macro."""

from __future__ import annotations

import time

import pytest
from flask import render_template_string
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import StringField
from wtforms.validators import DataRequired, Optional

from app.models.org import Region
from app.services import regions
from app.views.regions import RegionField, district_code_validator


def _count(db_session) -> int:
    return db_session.query(Region).count()


# ----- loading -----------------------------------------------------------------------------
def test_setup_loads_every_division_once(app, db_session):
    runner = app.test_cli_runner()
    from app.demo import REGIONS

    demo_codes = [code for code, _ in REGIONS]  # the demo's enterprises reference them
    db_session.query(Region).filter(~Region.code.in_(demo_codes)).delete(
        synchronize_session=False)
    db_session.commit()
    assert _count(db_session) == len(demo_codes)  # the demo's regions only
    started = time.perf_counter()
    result = runner.invoke(args=["regportal", "setup", "--no-demo"])
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    assert "Administrative divisions: " in result.output
    db_session.expire_all()
    first = _count(db_session)
    assert first > 3000
    result = runner.invoke(args=["regportal", "setup", "--no-demo"])
    assert result.exit_code == 0, result.output
    assert "Administrative divisions" not in result.output  # nothing added the second time
    db_session.expire_all()
    assert _count(db_session) == first
    assert elapsed < 30  # migrations, permissions and 3,200 rows in one bulk insert


def test_load_regions_keeps_existing_names_and_is_idempotent(app, db_session):
    db_session.get(Region, "440106").name = "天河区（演示）"
    db_session.commit()
    assert regions.load_regions() == 0
    db_session.commit()
    assert db_session.get(Region, "440106").name == "天河区（演示）"
    total = _count(db_session)
    db_session.query(Region).filter(Region.code.in_(["440103", "110100"])).delete(
        synchronize_session=False)
    db_session.commit()
    assert regions.load_regions() == 2
    db_session.commit()
    assert _count(db_session) == total


def test_division_rows_are_three_levels():
    rows = dict(regions.division_rows())
    assert len(rows) > 3000
    levels = {code: regions.level_of(code) for code in rows}
    assert None not in levels.values()
    for code, level in levels.items():
        if level == "district":
            assert code[:4] + "00" in rows and code[:2] + "0000" in rows, code
    assert sum(1 for lv in levels.values() if lv == "province") == 31
    assert rows["110100"] == "北京市" and rows["310100"] == "上海市"
    assert rows["500100"] == "重庆市" and rows["500200"] == "重庆市（县）"
    assert rows["419000"] == "省直辖县级行政区划" and rows["419001"] == "济源市"
    assert rows["441900"] == "东莞市"


# ----- the service -------------------------------------------------------------------------
def test_children_and_paths(db_session):
    provinces = regions.provinces()
    assert len(provinces) == 31
    assert regions.Division("440000", "广东省") in provinces
    assert [d.code for d in regions.children("")] == [d.code for d in provinces]
    assert regions.Division("440100", "广州市") in regions.children("440000")
    assert regions.Division("440106", "天河区") in regions.children("440100")
    assert regions.children("110000") == [regions.Division("110100", "北京市")]
    assert regions.Division("110105", "朝阳区") in regions.children("110100")
    assert [d.code for d in regions.children("500000")] == ["500100", "500200"]
    assert regions.children("440106") == []
    assert regions.children("441900") == []          # 东莞市: no districts
    assert regions.children("999999") is None
    assert regions.children("44") is None
    assert regions.path("440106") == ("广东省", "广州市", "天河区")
    assert regions.path("440100") == ("广东省", "广州市", None)
    assert regions.path("440000") == ("广东省", None, None)
    assert regions.path("110105") == ("北京市", "北京市", "朝阳区")
    assert regions.path("449999") is None
    assert regions.full_name("440106") == "广东省广州市天河区"
    assert regions.full_name("110105") == "北京市朝阳区"
    assert regions.full_name("419001") == "河南省济源市"
    assert regions.full_name("441900") == "广东省东莞市"
    assert regions.full_name("449999") == "449999"


@pytest.mark.parametrize("code, city, province, ok", [
    ("440106", None, None, True),
    ("440106", "440100", "440000", True),
    ("110105", "110100", "110000", True),
    ("441900", "441900", "440000", True),     # a city without districts is its own district
    ("440000", None, None, False),            # a province
    ("440100", None, None, False),            # a city with districts
    ("110100", None, None, False),
    ("449999", None, None, False),            # unknown
    ("4401", None, None, False),
    ("", None, None, False),
    ("440106", "440300", None, False),        # not in the chosen city
    ("440106", None, "110000", False),        # not in the chosen province
    ("440304", "440100", "440000", False),
])
def test_validate_district(db_session, code, city, province, ok):
    if ok:
        assert regions.validate_district(code, city=city, province=province) == code
    else:
        with pytest.raises(regions.RegionInvalidError):
            regions.validate_district(code, city=city, province=province)


# ----- the endpoint ------------------------------------------------------------------------
def _names(resp) -> dict:
    return {r["code"]: r["name"] for r in resp.get_json()}


def test_children_endpoint_anonymous(client):
    r = client.get("/public/regions/children/")
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert _names(r)["440000"] == "广东省" and len(r.get_json()) == 31
    assert client.get("/public/regions/children/000000").get_json() == r.get_json()
    assert _names(client.get("/public/regions/children/440000"))["440100"] == "广州市"
    assert _names(client.get("/public/regions/children/440100"))["440106"] == "天河区"
    beijing = client.get("/public/regions/children/110000").get_json()
    assert beijing == [{"code": "110100", "name": "北京市"}]
    assert _names(client.get("/public/regions/children/110100"))["110105"] == "朝阳区"
    assert client.get("/public/regions/children/440106").get_json() == []


@pytest.mark.parametrize("code", ["999999", "449999", "44", "abcdef", "4401000"])
def test_children_endpoint_unknown_code(client, code):
    r = client.get(f"/public/regions/children/{code}")
    assert r.status_code == 404
    assert r.get_json()["message"]


def test_children_endpoint_for_a_signed_in_user(as_user):
    r = as_user("ent.a").get("/public/regions/children/440100")
    assert r.status_code == 200 and "440106" in _names(r)


def test_children_endpoint_is_cacheable(client):
    r = client.get("/public/regions/children/440000")
    assert "public" in r.headers["Cache-Control"] and "max-age=" in r.headers["Cache-Control"]
    etag = r.headers["ETag"]
    again = client.get("/public/regions/children/440000", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    other = client.get("/public/regions/children/440100", headers={"If-None-Match": etag})
    assert other.status_code == 200


def test_children_endpoint_is_rate_limited(app, client):
    app.config["REGIONS_RATE_LIMIT"] = "5 per minute"
    try:
        codes = [client.get("/public/regions/children/440000").status_code for _ in range(6)]
    finally:
        app.config.pop("REGIONS_RATE_LIMIT")
    assert codes == [200] * 5 + [429]


# ----- forms -------------------------------------------------------------------------------
class DomicileForm(FlaskForm):
    domicile = RegionField("Domicile", validators=[DataRequired()])


class OptionalDomicileForm(FlaskForm):
    domicile = RegionField("Domicile", validators=[Optional()])


class JurisdictionForm(FlaskForm):
    region = RegionField("Region", validators=[DataRequired()],
                         levels=("province", "city", "district"))


class PlainForm(FlaskForm):
    code = StringField("Code", validators=[district_code_validator()])


def _form(app, cls, data):
    with app.test_request_context("/", method="POST", data=data):
        form = cls(formdata=MultiDict(data))
        return form.validate(), form.errors


@pytest.mark.parametrize("data, ok", [
    ({"domicile": "440106", "domicile-city": "440100", "domicile-province": "440000"}, True),
    ({"domicile": "440106"}, True),
    ({"domicile": "441900", "domicile-city": "441900", "domicile-province": "440000"}, True),
    ({"domicile": "440100", "domicile-city": "440100", "domicile-province": "440000"}, False),
    ({"domicile": "440000"}, False),
    ({"domicile": "449999"}, False),
    ({"domicile": ""}, False),
    ({}, False),
    # a forged or stale combination: district outside the chosen city / province
    ({"domicile": "440106", "domicile-city": "440300", "domicile-province": "440000"}, False),
    ({"domicile": "110105", "domicile-city": "110100", "domicile-province": "440000"}, False),
])
def test_region_field(app, data, ok):
    valid, errors = _form(app, DomicileForm, data)
    assert valid is ok, errors
    if not ok:
        assert errors["domicile"]


def test_optional_region_field(app):
    assert _form(app, OptionalDomicileForm, {"domicile": ""})[0] is True
    assert _form(app, OptionalDomicileForm, {"domicile": "440100"})[0] is False


@pytest.mark.parametrize("data, code", [
    ({"region-province": "440000"}, "440000"),
    ({"region-province": "440000", "region-city": "440100"}, "440100"),
    ({"region-province": "440000", "region-city": "440100", "region": "440106"}, "440106"),
    ({"region-province": "110000", "region-city": "110100"}, "110100"),
    ({"region": "440300"}, "440300"),
    ({}, None),
    ({"region-province": "449900"}, None),
    ({"region-province": "440000", "region-city": "110100"}, None),
    ({"region-province": "440000", "region-city": "440100", "region": "440304"}, None),
])
def test_region_field_of_any_level(app, data, code):
    with app.test_request_context("/", method="POST", data=data):
        form = JurisdictionForm(formdata=MultiDict(data))
        valid = form.validate()
        assert valid is (code is not None), form.errors
        if code:
            assert form.region.data == code


def test_region_field_levels_are_checked(app):
    class Bad(FlaskForm):
        region = RegionField("x", levels=("county",))

    with app.test_request_context("/"), pytest.raises(ValueError):
        Bad(formdata=None)


@pytest.mark.parametrize("code, ok", [("440106", True), ("110105", True), ("440000", False),
                                      ("440100", False), ("999999", False), ("x", False)])
def test_district_code_validator(app, code, ok):
    valid, errors = _form(app, PlainForm, {"code": code})
    assert valid is ok, errors


def test_region_select_macro_preselects_the_value(app):
    with app.test_request_context("/"):
        form = DomicileForm(formdata=None, data={"domicile": "440106"})
        html = render_template_string(
            '{% from "macros/region_select.html" import region_select %}'
            "{{ region_select(form.domicile) }}{{ region_select(none, name='other') }}",
            form=form)
    assert 'name="domicile-province"' in html and 'name="domicile-city"' in html
    assert '<option value="440000" selected>广东省</option>' in html
    assert '<option value="440100" selected>广州市</option>' in html
    assert '<option value="440106" selected>天河区</option>' in html
    assert '<option value="440111">白云区</option>' in html
    assert 'id="domicile"' in html and 'name="domicile"' in html
    assert 'name="other"' in html
    assert 'data-children-url="/public/regions/children/000000"' in html
    assert html.count("js/region-select.js") == 1  # one script for several selects
    assert "<script>" not in html  # no inline script (CSP)


def test_region_field_renders_itself(app):
    with app.test_request_context("/"):
        form = DomicileForm(formdata=None, data={"domicile": "441900"})
        html = str(form.domicile(class_="form-control"))  # as generic form templates do
    # a city without districts: the city is its own district choice
    assert '<option value="441900" selected>东莞市</option>' in html
    assert html.count('value="441900" selected') == 2
