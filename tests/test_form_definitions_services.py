"""Data-driven forms (app/services/form_definitions.py, macros/data_form.html): loading and
checking definitions, validating values with every error collected, cross-field rules, the
export helpers and the renderer. No database, no application."""

from __future__ import annotations

import datetime
import json
import os
from decimal import Decimal

import jinja2
import pytest
from werkzeug.datastructures import MultiDict

from app.services import form_definitions as fd

BALANCE = {
    "code": "balance_sheet",
    "title": {"zh": "资产负债表", "en": "Balance sheet"},
    "fields": [
        {"key": "total_assets", "label": {"zh": "资产总计", "en": "Total assets"},
         "type": "number", "places": 2, "unit": "万元", "required": True, "min": 0},
        {"key": "liabilities", "label": {"zh": "负债合计", "en": "Total liabilities"},
         "type": "number", "required": True},
        {"key": "equity", "label": "所有者权益合计", "type": "number", "required": True},
        {"key": "current_liabilities", "label": "流动负债", "type": "number"},
    ],
    "rules": [
        {"rule": "equals_sum", "field": "total_assets", "of": ["liabilities", "equity"],
         "message": {"zh": "资产总计应等于负债与所有者权益之和",
                     "en": "Total assets must equal liabilities plus equity"}},
        {"rule": "lte", "field": "current_liabilities", "than": "liabilities"},
    ],
}

SURVEY = {
    "fields": [
        {"key": "ok", "label": "安全生产责任制是否落实", "type": "boolean", "required": True},
        {"key": "count", "label": "培训次数", "type": "integer", "min": 0, "max": 365,
         "unit": "次", "required": True},
        {"key": "rate", "label": "持证上岗率", "type": "number", "places": 1, "min": 0,
         "max": 100, "unit": "%"},
        {"key": "size", "label": "规模", "type": "choice",
         "options": ["大型", {"value": "m", "label": {"zh": "中型", "en": "Medium"}}]},
        {"key": "name", "label": "联系人", "type": "text", "max_length": 10},
        {"key": "notes", "label": "说明", "type": "textarea", "max_length": 20,
         "help": "可换行"},
        {"key": "on", "label": "自查日期", "type": "date", "min": "2026-01-01",
         "max": "2026-12-31"},
        {"key": "file", "label": "报告", "type": "attachment"},
    ],
    "rules": [{"rule": "required_if", "field": "notes", "when": "ok", "equals": False}],
}


def _problems(definition) -> list[str]:
    with pytest.raises(fd.FormDefinitionError) as info:
        fd.load(definition)
    return info.value.problems


def _one(field: dict, value, **kwargs):
    spec = {"key": "x", "label": "X", **field}
    return fd.validate({"fields": [spec]}, {"x": value}, **kwargs)


# ----- loading -------------------------------------------------------------------------------
def test_load_accepts_dict_json_and_loaded_and_round_trips():
    form = fd.load(BALANCE)
    assert form.keys == ["total_assets", "liabilities", "equity", "current_liabilities"]
    assert fd.load(json.dumps(BALANCE)) == form
    assert fd.load(form) is form
    stored = form.to_dict()
    assert fd.load(stored) == form and fd.load(form.to_json()) == form
    # Defaults written out.
    assert stored["fields"][1]["places"] == 2 and stored["fields"][1]["required"] is True
    assert fd.load(SURVEY).field("name").max_length == 10
    assert fd.load(SURVEY).field("notes").max_length == 20
    assert fd.load({"fields": [{"key": "t", "label": "T", "type": "text"}]}).field(
        "t").max_length == 200
    assert form.title_text in ("资产负债表", "Balance sheet")
    assert form.field("nope") is None


@pytest.mark.parametrize("definition, expected", [
    ({"fields": [{"key": "a", "label": "A", "type": "money"}]}, "unknown type money"),
    ({"fields": [{"key": "a", "label": "A", "type": "text"},
                 {"key": "a", "label": "B", "type": "text"}]}, "The key a is used twice"),
    ({"fields": [{"key": "A-1", "label": "A", "type": "text"}]}, "the key must start"),
    ({"fields": [{"key": "a", "label": "A", "type": "text", "colour": "red"}]},
     "unknown property colour"),
    ({"fields": [{"key": "a", "type": "text"}]}, "a label is required"),
    ({"fields": [{"key": "a", "label": {"zh": ""}, "type": "text"}]}, "non-empty"),
    ({"fields": [{"key": "a", "label": "A", "type": "choice"}]}, "needs a list of options"),
    ({"fields": [{"key": "a", "label": "A", "type": "choice", "options": ["x", "x"]}]},
     "appears twice"),
    ({"fields": [{"key": "a", "label": "A", "type": "number", "places": 9}]}, "places"),
    ({"fields": [{"key": "a", "label": "A", "type": "integer", "min": 5, "max": 1}]},
     "min is greater than max"),
    ({"fields": [{"key": "a", "label": "A", "type": "integer", "places": 2}]},
     "places applies to numbers only"),
    ({"fields": [{"key": "a", "label": "A", "type": "integer", "max_length": 2}]},
     "max_length applies to texts only"),
    ({"fields": [{"key": "a", "label": "A", "type": "text", "min": 1}]},
     "applies to whole numbers, numbers and dates only"),
    ({"fields": [{"key": "a", "label": "A", "type": "date", "min": "2026-02-30"}]},
     "must be a date"),
    ({"fields": [{"key": "a", "label": "A", "type": "integer", "min": "1.5"}]},
     "must be a whole number"),
    ({"fields": [{"key": "a", "label": "A", "type": "boolean", "required": "yes"}]},
     "required must be true or false"),
    ({"fields": [{"key": "a", "label": "A", "type": "text"}], "rules": [{"rule": "eval",
                                                                          "x": "1"}]},
     "unknown rule"),
    ({"fields": [{"key": "a", "label": "A", "type": "number"}],
      "rules": [{"rule": "equals_sum", "field": "a", "of": ["b"]}]}, "no field b"),
    ({"fields": [{"key": "a", "label": "A", "type": "text"}, {"key": "b", "label": "B",
                                                               "type": "number"}],
      "rules": [{"rule": "equals_sum", "field": "a", "of": ["b"]}]}, "is not a number"),
    ({"fields": [{"key": "a", "label": "A", "type": "number"}],
      "rules": [{"rule": "lte", "field": "a", "than": "a", "value": 1}]}, "give either"),
    ({"fields": [{"key": "a", "label": "A", "type": "number"}, {"key": "d", "label": "D",
                                                                 "type": "date"}],
      "rules": [{"rule": "lt", "field": "a", "than": "d"}]}, "a date is compared"),
    ({"fields": [{"key": "a", "label": "A", "type": "boolean"}, {"key": "b", "label": "B",
                                                                  "type": "text"}],
      "rules": [{"rule": "required_if", "field": "b", "when": "a", "equals": "no"}]},
     "equals must be a single value"),
    ({"fields": [{"key": "a", "label": "A", "type": "number"}], "extra": 1},
     "Unknown property extra"),
    ({"fields": []}, "at least one field"),
    ("{not json", "not valid JSON"),
    ([1, 2], "must be an object"),
])
def test_load_refuses_with_a_clear_message(definition, expected):
    problems = _problems(definition)
    assert any(expected in p for p in problems), problems


def test_load_collects_every_problem():
    problems = _problems({"fields": [
        {"key": "a", "label": "A", "type": "foo"},
        {"key": "b", "label": "B", "type": "text", "bogus": 1},
        {"key": "b", "label": "C", "type": "text"},
        {"key": "c", "type": "choice"}],
        "rules": [{"rule": "lte", "field": "zz", "value": 1}]})
    assert len(problems) >= 6
    with pytest.raises(fd.FormDefinitionError) as info:
        fd.load({"fields": [{"key": "a", "label": "A", "type": "foo"}]})
    assert "unknown type foo" in str(info.value)
    assert info.value.code == 422


def test_limits_on_size():
    many = {"fields": [{"key": f"f{i}", "label": "x", "type": "text"}
                       for i in range(fd.MAX_FIELDS + 1)]}
    assert any("at most" in p for p in _problems(many))
    assert any("too large" in p for p in _problems("x" * (fd.MAX_DEFINITION_BYTES + 1)))


# ----- values --------------------------------------------------------------------------------
def test_validate_collects_every_error_and_ignores_unknown_keys():
    form = fd.load(SURVEY)
    clean, errors = fd.validate(form, {
        "ok": "maybe", "count": "abc", "rate": "100.5", "size": "huge", "name": "x" * 11,
        "notes": "y" * 21, "on": "2025-12-31", "file": "-3", "bogus": "forged",
        "__class__": "x"})
    assert clean == {}
    assert set(errors) == {"ok", "count", "rate", "size", "name", "notes", "on", "file"}
    assert errors["name"] == ["At most 10 characters (11 given)."]
    assert errors["on"] == ["Must be at least 2026-01-01."]


def test_validate_clean_values_are_json_ready():
    clean, errors = fd.validate(SURVEY, {
        "ok": "是", "count": "+12", "rate": "98.5", "size": "m", "name": "  张  三 ",
        "notes": "第一行\r\n第二行\x00", "on": "2026-06-01", "file": "17"})
    assert errors == {}
    assert clean == {"ok": True, "count": 12, "rate": "98.5", "size": "m", "name": "张 三",
                     "notes": "第一行\n第二行", "on": "2026-06-01", "file": 17}
    json.dumps(clean)
    typed = fd.typed_values(SURVEY, clean)
    assert typed["rate"] == Decimal("98.5") and typed["on"] == datetime.date(2026, 6, 1)


def test_required_and_partial():
    _clean, errors = fd.validate(SURVEY, {"ok": "", "count": "   "})
    assert errors == {"ok": ["Required."], "count": ["Required."]}
    clean, errors = fd.validate(SURVEY, {"ok": "", "count": "3"}, partial=True)
    assert errors == {} and clean == {"count": 3}
    # Malformed values are refused even in a draft.
    _clean, errors = fd.validate(SURVEY, {"count": "3.5"}, partial=True)
    assert errors == {"count": ["Enter a whole number."]}
    # Text that is only control characters is no answer.
    _clean, errors = fd.validate({"fields": [{"key": "t", "label": "T", "type": "text",
                                              "required": True}]}, {"t": "\x01\x02"})
    assert errors == {"t": ["Required."]}


@pytest.mark.parametrize("value, ok", [
    ("5", 5), ("-5", -5), ("+5", 5), (5, 5), (5.0, 5), ("5.0", None), ("1e3", None),
    ("", "blank"), (True, None), ("1" * 19, None), ("١٢", None), ([1], None), ("0x10", None),
])
def test_integer(value, ok):
    clean, errors = _one({"type": "integer"}, value)
    if ok is None:
        assert "x" in errors and "x" not in clean
    elif ok == "blank":
        assert clean == {} and errors == {}
    else:
        assert clean == {"x": ok} and errors == {}


@pytest.mark.parametrize("value, places, expected", [
    ("12.5", 2, "12.50"), ("12", 0, "12"), ("0.125", 3, "0.125"), ("1,234.5", 2, "1234.50"),
    (12.25, 2, "12.25"), (Decimal("3.1"), 1, "3.1"), ("-0.5", 1, "-0.5"), (".5", 1, "0.5"),
    ("12.345", 2, None), ("1.5", 0, None), ("1,23", 2, None), ("NaN", 2, None),
    ("Infinity", 2, None), ("1e5", 2, None), ("12%", 2, None), (False, 2, None),
    ("9" * 19, 2, None),
])
def test_number(value, places, expected):
    clean, errors = _one({"type": "number", "places": places}, value)
    if expected is None:
        assert "x" in errors, clean
    else:
        assert clean == {"x": expected}, errors


def test_number_bounds_and_messages():
    _clean, errors = _one({"type": "number", "places": 1, "min": 0, "max": 100}, "100.1")
    assert errors == {"x": ["Must be at most 100."]}
    _clean, errors = _one({"type": "number", "places": 2}, "1.234")
    assert errors == {"x": ["At most 2 decimal places."]}
    _clean, errors = _one({"type": "number", "places": 0}, "1.5")
    assert errors == {"x": ["Enter a whole number."]}


@pytest.mark.parametrize("value, expected", [
    ("1", True), ("0", False), ("true", True), ("FALSE", False), ("是", True), ("否", False),
    ("yes", True), ("no", False), (True, True), (False, False), ("maybe", None), ("2", None),
])
def test_boolean(value, expected):
    clean, errors = _one({"type": "boolean"}, value)
    if expected is None:
        assert errors == {"x": ["Answer yes or no."]}
    else:
        assert clean == {"x": expected}


def test_choice_date_attachment_text():
    choice = {"type": "choice", "options": ["甲", {"value": "b", "label": "乙"}]}
    assert _one(choice, "甲")[0] == {"x": "甲"}
    assert _one(choice, "b")[0] == {"x": "b"}
    assert _one(choice, "乙")[1] == {"x": ["Choose one of the options."]}
    assert _one({"type": "date"}, "2026-02-29")[1] == {"x": ["Enter a date as YYYY-MM-DD."]}
    assert _one({"type": "date"}, "2028-02-29")[0] == {"x": "2028-02-29"}
    assert _one({"type": "date"}, datetime.date(2026, 5, 1))[0] == {"x": "2026-05-01"}
    assert _one({"type": "date"}, "01/05/2026")[1] == {"x": ["Enter a date as YYYY-MM-DD."]}
    assert _one({"type": "attachment"}, "12")[0] == {"x": 12}
    assert "x" in _one({"type": "attachment"}, "0")[1]
    clean, errors = _one({"type": "attachment"}, "12", attachment_ok=lambda i: i == 13)
    assert clean == {} and errors == {"x": ["Upload a file."]}
    assert _one({"type": "attachment"}, "13", attachment_ok=lambda i: i == 13)[0] == {"x": 13}
    # HTML is text: stored as typed (escaped by the renderer, never interpreted).
    assert _one({"type": "text"}, "<b>x</b>{{ 7*7 }}")[0] == {"x": "<b>x</b>{{ 7*7 }}"}
    assert _one({"type": "text"}, {"a": 1})[1] == {"x": ["A single value is expected."]}


def test_multidict_first_value():
    form = MultiDict([("count", "3"), ("count", "4"), ("ok", "1")])
    clean, errors = fd.validate(SURVEY, form)
    assert clean["count"] == 3 and clean["ok"] is True and errors == {}


# ----- cross-field rules -----------------------------------------------------------------------
def test_equals_sum():
    good = {"total_assets": "100", "liabilities": "60", "equity": "40"}
    assert fd.validate(BALANCE, good)[1] == {}
    _clean, errors = fd.validate(BALANCE, {**good, "equity": "40.01"})
    assert errors == {"total_assets": ["资产总计应等于负债与所有者权益之和"]}
    # The message follows the language asked for.
    rule = fd.load(BALANCE).rules[0]
    assert fd.text(rule.message, "en") == "Total assets must equal liabilities plus equity"
    # A missing operand: the rule waits (the required check speaks instead).
    _clean, errors = fd.validate(BALANCE, {"total_assets": "100", "liabilities": "60"})
    assert errors == {"equity": ["Required."]}
    # Tolerance.
    loose = {**BALANCE, "rules": [{"rule": "equals_sum", "field": "total_assets",
                                   "of": ["liabilities", "equity"], "tolerance": "0.05"}]}
    assert fd.validate(loose, {**good, "equity": "40.04"})[1] == {}
    _clean, errors = fd.validate(loose, {**good, "equity": "40.06"})
    assert "must equal the sum of" in errors["total_assets"][0]
    assert "100.06" in errors["total_assets"][0]


def test_comparisons():
    base = {"total_assets": "100", "liabilities": "60", "equity": "40"}
    assert fd.validate(BALANCE, {**base, "current_liabilities": "60"})[1] == {}
    _clean, errors = fd.validate(BALANCE, {**base, "current_liabilities": "60.5"})
    assert errors == {"current_liabilities": ["流动负债 must be ≤ 负债合计."]}
    dates = {"fields": [{"key": "a", "label": "开始", "type": "date"},
                        {"key": "b", "label": "结束", "type": "date"},
                        {"key": "n", "label": "N", "type": "integer"}],
             "rules": [{"rule": "lt", "field": "a", "than": "b"},
                       {"rule": "gte", "field": "n", "value": 3},
                       {"rule": "eq", "field": "n", "value": 4},
                       {"rule": "gt", "field": "b", "value": "2026-01-01"}]}
    assert fd.validate(dates, {"a": "2026-01-01", "b": "2026-02-01", "n": "4"})[1] == {}
    _clean, errors = fd.validate(dates, {"a": "2026-02-01", "b": "2026-01-01", "n": "2"})
    assert set(errors) == {"a", "n", "b"} and len(errors["n"]) == 2


def test_required_if():
    form = fd.load(SURVEY)
    _clean, errors = fd.validate(form, {"ok": "0", "count": "1"})
    assert "notes" in errors and "Required when" in errors["notes"][0]
    assert fd.validate(form, {"ok": "1", "count": "1"})[1] == {}
    assert fd.validate(form, {"ok": "0", "count": "1", "notes": "整改中"})[1] == {}
    assert fd.validate(form, {"ok": "0"}, partial=True)[1] == {}
    any_value = {"fields": [{"key": "a", "label": "A", "type": "text"},
                            {"key": "b", "label": "B", "type": "text"}],
                 "rules": [{"rule": "required_if", "field": "b", "when": "a"}]}
    assert "b" in fd.validate(any_value, {"a": "x"})[1]
    assert fd.validate(any_value, {})[1] == {}


def test_no_expression_is_evaluated(monkeypatch):
    """A definition is data: a rule is one of the named checks, never code."""
    import builtins

    called = []
    monkeypatch.setattr(builtins, "eval", lambda *a, **k: called.append(a))
    monkeypatch.setattr(builtins, "exec", lambda *a, **k: called.append(a))
    assert _problems({"fields": [{"key": "a", "label": "A", "type": "number"}],
                      "rules": [{"rule": "expression", "field": "a",
                                 "expr": "__import__('os').system('id')"}]})
    form = fd.load({"fields": [{"key": "a", "label": "__import__('os')", "type": "text"}]})
    fd.validate(form, {"a": "__import__('os').system('id')"})
    assert called == []


# ----- summaries and exports -------------------------------------------------------------------
def test_error_items_raw_from_form_columns_and_rows():
    form = fd.load(SURVEY)
    _clean, errors = fd.validate(form, {"count": "x", "rate": "200"})
    assert fd.error_items(form, errors) == [
        "安全生产责任制是否落实: Required.", "培训次数: Enter a whole number.",
        "持证上岗率: Must be at most 100."]
    posted = MultiDict([("f-count", "3"), ("f-bogus", "1"), ("count", "9"), ("csrf", "t")])
    raw = fd.raw_from_form(form, posted, "f-")
    assert raw["count"] == "3" and "bogus" not in raw and raw["ok"] is None
    assert fd.columns(form)[:3] == [("ok", "安全生产责任制是否落实"), ("count", "培训次数（次）"),
                                    ("rate", "持证上岗率（%）")]
    row = fd.export_row(form, {"ok": True, "count": 3, "rate": "98.5", "size": "m",
                               "on": "2026-06-01", "zz": "ignored"})
    assert row[:5] == ["Yes", 3, 98.5, "中型", None]
    assert row[6] == datetime.date(2026, 6, 1)
    assert fd.export_row(form, None) == [None] * 8
    f = form.field("size")
    assert f.display("m") == "中型" and f.display("unknown") == "unknown"
    assert form.field("ok").display(False) == "No" and form.field("ok").display(None) == ""
    assert form.field("rate").step == "0.1" and form.field("count").step == "1"


def test_labels_in_the_language_asked():
    assert fd.text({"zh": "资产", "en": "Assets"}, "en") == "Assets"
    assert fd.text({"zh": "资产", "en": "Assets"}, "fr") == "资产"
    assert fd.text({"en": "Assets"}, "zh") == "Assets"
    assert fd.text({"de": "Vermögen"}, "zh") == "Vermögen"
    assert fd.text("资产") == "资产" and fd.text(None) == ""


# ----- the renderer ----------------------------------------------------------------------------
@pytest.fixture()
def render():
    root = os.path.join(os.path.dirname(__file__), "..", "app", "templates")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(root), autoescape=True,
                             extensions=["jinja2.ext.i18n"])
    env.install_null_translations(newstyle=True)
    env.globals["url_for"] = lambda endpoint, **kw: f"/{endpoint}/{kw.get('pk', '')}"
    macros = env.get_template("macros/data_form.html").module

    def run(macro, *args, **kwargs):
        return str(getattr(macros, macro)(*args, **kwargs))

    return run


def test_macro_renders_fields_values_units_and_errors(render):
    form = fd.load(SURVEY)
    html = render("data_form_fields", form, {"count": 3, "ok": True, "size": "m",
                                             "name": "<script>x</script>", "file": 9},
                  {"rate": ["Must be at most 100."], "count": ["Bad & wrong"]}, prefix="f-")
    assert 'name="f-count" value="3"' in html
    assert html.count('<span class="req"') == 2  # ok, count
    assert '<span class="input-group-addon">次</span>' in html
    assert '<span class="input-group-addon">%</span>' in html
    assert 'step="0.1"' in html and 'min="0"' in html and 'max="100"' in html
    assert 'value="1" checked' in html
    assert '<option value="m" selected>中型</option>' in html
    assert "Must be at most 100." in html and "Bad &amp; wrong" in html
    assert 'id="group-f-rate"' in html and "has-error" in html
    assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert 'maxlength="10"' in html and 'maxlength="20"' in html and 'type="date"' in html
    assert 'name="f-file" value="9"' in html and 'name="f-file-file"' in html
    assert 'id="f-notes-help"' in html
    read = render("data_form_values", form, {"ok": False, "rate": "98.5",
                                             "notes": "<b>a</b>\nb"})
    assert "No" in read and "98.5 %" in read and "&lt;b&gt;a&lt;/b&gt;" in read
    assert read.count("Not answered") == 5


# ----- the shared importer ---------------------------------------------------------------------
def test_import_spec_template_and_rows(tmp_path):
    from openpyxl import Workbook

    from app.services import xlsx_import as xi

    spec = fd.import_spec(BALANCE, sheet_title="资产负债表")
    assert [c.key for c in spec.columns] == ["total_assets", "liabilities", "equity",
                                             "current_liabilities"]
    assert [c.required for c in spec.columns] == [True, True, True, False]
    template = str(tmp_path / "template.xlsx")
    xi.write_template(spec, template)
    from openpyxl import load_workbook

    headers = [c.value for c in load_workbook(template).worksheets[0][1]]
    assert headers[:2] == ["资产总计（万元）", "负债合计"]
    wb = Workbook()
    ws = wb.active
    ws.append(headers)
    ws.append([100, 60, 40, 10])
    ws.append([100, 60, 41, 70])       # two rules broken
    ws.append(["abc", None, 40, 1])    # a cell that fails, a required one empty
    path = str(tmp_path / "data.xlsx")
    wb.save(path)
    result = xi.read(spec, path)
    assert result.rows == [{"total_assets": "100.00", "liabilities": "60.00",
                            "equity": "40.00", "current_liabilities": "10.00"}]
    errors = [(e.row, e.column, e.message) for e in result.errors]
    assert (3, "资产总计（万元）", "资产总计应等于负债与所有者权益之和") in errors
    assert (3, "流动负债", "流动负债 must be ≤ 负债合计.") in errors
    assert [e for e in errors if e[0] == 4 and e[1] == "资产总计（万元）"] == [
        (4, "资产总计（万元）", "Enter a number.")]
    assert len([e for e in errors if e[0] == 4 and e[1] == "负债合计"]) == 1
    # A choice and a yes/no column take their labels.
    survey = fd.import_spec(SURVEY)
    assert "file" not in [c.key for c in survey.columns]
    assert survey.column("size").kind.list_labels() == ["大型", "中型"]
