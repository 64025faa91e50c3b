"""Data-driven forms (DESIGN.md "Data-driven forms and versions"): a form is a definition, plain
data (a dict, or its JSON), not code. One loader checks a definition, one validator checks the
values a user typed against it (collecting every error, translated), one Jinja macro renders
it (app/templates/macros/data_form.html) and the same definition gives the export columns.
Self-inspection questions (P15) and the finance report forms (F5-F9) are such definitions.

    definition = {
        "code": "balance_sheet",                       # optional, free text
        "title": {"zh": "资产负债表", "en": "Balance sheet"},   # optional
        "fields": [
            {"key": "total_assets", "label": {"zh": "资产总计", "en": "Total assets"},
             "type": "number", "places": 2, "unit": "万元", "required": True, "min": 0},
            {"key": "liabilities", "label": "负债合计", "type": "number", "places": 2},
            {"key": "equity", "label": "所有者权益合计", "type": "number", "places": 2},
        ],
        "rules": [
            {"rule": "equals_sum", "field": "total_assets", "of": ["liabilities", "equity"],
             "message": {"zh": "资产总计应等于负债与所有者权益之和",
                         "en": "Total assets must equal liabilities plus equity"}},
        ],
    }
    form = form_definitions.load(definition)          # FormDefinitionError if malformed
    clean, errors = form_definitions.validate(form, request.form)   # or a dict from JSON
    # clean: JSON-ready values {key: value}; errors: {key: [message, ...]} (every error)

Nothing in a definition is ever evaluated: rules are a closed vocabulary of named checks.
See docs/platform.md, "Data-driven forms", for the format in full.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import get_locale, gettext

from app.errors import DomainError

TEXT, TEXTAREA, INTEGER, NUMBER, DATE, CHOICE, BOOLEAN, ATTACHMENT = (
    "text", "textarea", "integer", "number", "date", "choice", "boolean", "attachment")
FIELD_TYPES = (TEXT, TEXTAREA, INTEGER, NUMBER, DATE, CHOICE, BOOLEAN, ATTACHMENT)
NUMERIC_TYPES = (INTEGER, NUMBER)
ORDERED_TYPES = (INTEGER, NUMBER, DATE)  # what the comparison rules compare

EQUALS_SUM, REQUIRED_IF = "equals_sum", "required_if"
COMPARISONS = {"lt": "<", "lte": "≤", "gt": ">", "gte": "≥", "eq": "="}
RULE_KINDS = (EQUALS_SUM, REQUIRED_IF, *COMPARISONS)

FIELD_PROPERTIES = {"key", "label", "type", "required", "unit", "help", "min", "max", "places",
                    "max_length", "options"}
DEFINITION_PROPERTIES = {"code", "title", "fields", "rules"}
RULE_PROPERTIES = {
    EQUALS_SUM: {"rule", "field", "of", "tolerance", "message"},
    REQUIRED_IF: {"rule", "field", "when", "equals", "message"},
    **{name: {"rule", "field", "than", "value", "message"} for name in COMPARISONS},
}

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_FIELDS = 300
MAX_RULES = 300
MAX_OPTIONS = 200
MAX_LABEL = 500
MAX_DEFINITION_BYTES = 1_000_000
DEFAULT_MAX_LENGTH = {TEXT: 200, TEXTAREA: 2000}
MAX_TEXT_LENGTH = 20_000
DEFAULT_PLACES = 2
MAX_PLACES = 6
MAX_DIGITS = 18  # integer digits of an integer or number value (beyond is a typo or abuse)
FORM_ERRORS = "__form__"  # errors_by_field key of a rule that names no field

# Characters never kept in text answers: C0 controls except tab and newline, DEL.
_CONTROL = {c: None for c in [*range(0, 9), 11, 12, *range(14, 32), 127]}
_TRUE = {"1", "true", "yes", "y", "on", "是", "√", "✓"}
_FALSE = {"0", "false", "no", "n", "off", "否", "×"}
# ASCII digits only (\d would also take ١٢ or １２ and int() would read them).
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_NUMBER = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


class FormDefinitionError(DomainError):
    """A definition that cannot be used: every problem found, in `problems`."""

    code = 422

    def __init__(self, problems: list[str]):
        self.problems = [str(p) for p in problems]
        super().__init__(gettext("The form definition is invalid: %(problems)s",
                                 problems="; ".join(self.problems)))


# ----- labels: one string, or one per language ------------------------------------------------
def _language() -> str:
    try:
        locale = get_locale()
    except RuntimeError:  # pragma: no cover - outside any context
        locale = None
    return getattr(locale, "language", None) or "zh"


def text(label, language: str | None = None) -> str:
    """A label in the UI language: a plain string as it is; {"zh": ..., "en": ...} the entry of
    the current language, else Chinese, else English, else the first one."""
    if label is None:
        return ""
    if isinstance(label, Mapping):
        language = language or _language()
        for key in (language, "zh", "en"):
            if label.get(key):
                return str(label[key])
        return next((str(v) for v in label.values() if v), "")
    return str(label)


def _label(value, what: str, problems: list, required: bool = True):
    """A label as stored: a non-empty string or a {language: string} dict."""
    if value is None or value == "" or value == {}:
        if required:
            problems.append(gettext("%(what)s: a label is required.", what=what))
        return None
    if isinstance(value, str):
        if len(value) > MAX_LABEL:
            problems.append(gettext("%(what)s: the label is longer than %(max)d characters.",
                                    what=what, max=MAX_LABEL))
        return value.strip() or None
    if isinstance(value, Mapping):
        out = {}
        for lang, item in value.items():
            if not isinstance(lang, str) or not re.fullmatch(r"[a-z]{2}([_-][A-Za-z]{2,4})?",
                                                             lang):
                problems.append(gettext("%(what)s: %(lang)s is not a language code.",
                                        what=what, lang=str(lang)[:20]))
                continue
            if not isinstance(item, str) or not item.strip():
                problems.append(gettext("%(what)s: the %(lang)s label must be a non-empty "
                                        "text.", what=what, lang=lang))
                continue
            if len(item) > MAX_LABEL:
                problems.append(gettext(
                    "%(what)s: the label is longer than %(max)d characters.", what=what,
                    max=MAX_LABEL))
            out[lang] = item.strip()
        if not out:
            if required:
                problems.append(gettext("%(what)s: a label is required.", what=what))
            return None
        return out
    problems.append(gettext("%(what)s: a label must be a text or a {language: text} "
                            "object.", what=what))
    return None


# ----- the definition -------------------------------------------------------------------------
@dataclass(frozen=True)
class Option:
    value: str
    label: Any

    @property
    def label_text(self) -> str:
        return text(self.label)


@dataclass(frozen=True)
class Field:
    key: str
    type: str
    label: Any
    required: bool = False
    unit: Any = None
    help: Any = None
    min: Any = None  # int (integer), Decimal (number), date (date)
    max: Any = None
    places: int | None = None  # number
    max_length: int | None = None  # text, textarea
    options: tuple[Option, ...] = ()  # choice

    # What templates read (in the UI language, at render time).
    @property
    def label_text(self) -> str:
        return text(self.label)

    @property
    def unit_text(self) -> str:
        return text(self.unit)

    @property
    def help_text(self) -> str:
        return text(self.help)

    @property
    def step(self) -> str:
        """The HTML number input's step."""
        if self.type == NUMBER:
            return "any" if not self.places else "0." + "0" * (self.places - 1) + "1"
        return "1"

    def option_label(self, value) -> str:
        for option in self.options:
            if option.value == value:
                return option.label_text
        return "" if value is None else str(value)

    def input_value(self, value) -> str:
        """What an input shows: a raw string typed earlier as it is, a stored value as text."""
        if value is None:
            return ""
        if isinstance(value, bool):
            return "1" if value else "0"
        return str(value)

    def display(self, value) -> str:
        """A stored value for reading (show pages, exports as text): 是/否, an option's
        label, a number with its places."""
        if value is None or value == "":
            return ""
        if self.type == BOOLEAN:
            flag = value if isinstance(value, bool) else str(value).strip().lower() in _TRUE
            return gettext("Yes") if flag else gettext("No")
        if self.type == CHOICE:
            return self.option_label(value)
        return str(value)

    def export_value(self, value):
        """A stored value for a spreadsheet cell: numbers as numbers, dates as dates."""
        if value is None or value == "":
            return None
        try:
            if self.type == INTEGER:
                return int(value)
            if self.type == NUMBER:
                return float(Decimal(str(value)))
            if self.type == DATE:
                return datetime.date.fromisoformat(str(value))
        except (ValueError, ArithmeticError):
            return str(value)
        if self.type in (BOOLEAN, CHOICE):
            return self.display(value)
        return value

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"key": self.key, "type": self.type, "label": self.label,
                               "required": self.required}
        if self.unit is not None:
            out["unit"] = self.unit
        if self.help is not None:
            out["help"] = self.help
        for name in ("min", "max"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value.isoformat() if isinstance(value, datetime.date) else (
                    str(value) if isinstance(value, Decimal) else value)
        if self.type == NUMBER:
            out["places"] = self.places
        if self.type in (TEXT, TEXTAREA):
            out["max_length"] = self.max_length
        if self.type == CHOICE:
            out["options"] = [{"value": o.value, "label": o.label} for o in self.options]
        return out


@dataclass(frozen=True)
class Rule:
    rule: str
    field: str
    of: tuple[str, ...] = ()
    than: str | None = None
    value: Any = None
    when: str | None = None
    equals: Any = None
    has_equals: bool = False
    tolerance: Decimal = Decimal(0)
    message: Any = None

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"rule": self.rule, "field": self.field}
        if self.rule == EQUALS_SUM:
            out["of"] = list(self.of)
            if self.tolerance:
                out["tolerance"] = str(self.tolerance)
        elif self.rule == REQUIRED_IF:
            out["when"] = self.when
            if self.has_equals:
                out["equals"] = self.equals
        elif self.than is not None:
            out["than"] = self.than
        else:
            out["value"] = (self.value.isoformat() if isinstance(self.value, datetime.date)
                            else str(self.value) if isinstance(self.value, Decimal)
                            else self.value)
        if self.message is not None:
            out["message"] = self.message
        return out


@dataclass(frozen=True)
class FormDefinition:
    fields: tuple[Field, ...]
    rules: tuple[Rule, ...] = ()
    code: str | None = None
    title: Any = None

    def __post_init__(self):
        object.__setattr__(self, "_index", {f.key: f for f in self.fields})

    @property
    def keys(self) -> list[str]:
        return [f.key for f in self.fields]

    @property
    def title_text(self) -> str:
        return text(self.title)

    def field(self, key: str) -> Field | None:
        return self._index.get(key)

    def required_fields(self) -> list[Field]:
        return [f for f in self.fields if f.required]

    def to_dict(self) -> dict:
        """The definition as stored (JSON-ready, normalised: defaults written out)."""
        out: dict[str, Any] = {"fields": [f.to_dict() for f in self.fields],
                               "rules": [r.to_dict() for r in self.rules]}
        if self.code is not None:
            out["code"] = self.code
        if self.title is not None:
            out["title"] = self.title
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)


def _bound(value, ftype: str, what: str, name: str, problems: list):
    """A min / max of a field as its typed value."""
    if value is None:
        return None
    if ftype == INTEGER:
        if isinstance(value, bool) or not isinstance(value, (int, str)) or (
                isinstance(value, str) and not _INTEGER.match(value.strip())):
            problems.append(gettext("%(what)s: %(name)s must be a whole number.", what=what,
                                    name=name))
            return None
        return int(value)
    if ftype == NUMBER:
        if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
            problems.append(gettext("%(what)s: %(name)s must be a number.", what=what,
                                    name=name))
            return None
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            problems.append(gettext("%(what)s: %(name)s must be a number.", what=what,
                                    name=name))
            return None
        return number
    if ftype == DATE:
        if isinstance(value, str) and _DATE.match(value):
            try:
                return datetime.date.fromisoformat(value)
            except ValueError:
                pass
        problems.append(gettext("%(what)s: %(name)s must be a date (YYYY-MM-DD).",
                                what=what, name=name))
        return None
    problems.append(gettext("%(what)s: %(name)s applies to whole numbers, numbers and dates "
                            "only.", what=what, name=name))
    return None


def _positive_int(value, what: str, name: str, low: int, high: int, problems: list):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.append(gettext("%(what)s: %(name)s must be a whole number from %(low)d to "
                                "%(high)d.", what=what, name=name, low=low, high=high))
        return None
    return value


def _field(spec, position: int, problems: list) -> Field | None:
    if not isinstance(spec, Mapping):
        problems.append(gettext("Field %(n)d must be an object.", n=position))
        return None
    key = spec.get("key")
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        problems.append(gettext(
            "Field %(n)d: the key must start with a lower-case letter and hold only "
            "lower-case letters, digits and _ (at most 40).", n=position))
        return None
    what = gettext("Field %(key)s", key=key)
    for name in spec:
        if name not in FIELD_PROPERTIES:
            problems.append(gettext("%(what)s: unknown property %(name)s.", what=what,
                                    name=str(name)[:40]))
    ftype = spec.get("type")
    if ftype not in FIELD_TYPES:
        problems.append(gettext("%(what)s: unknown type %(type)s (known: %(types)s).",
                                what=what, type=str(ftype)[:40], types=", ".join(FIELD_TYPES)))
        return None
    label = _label(spec.get("label"), what, problems)
    required = spec.get("required", False)
    if not isinstance(required, bool):
        problems.append(gettext("%(what)s: required must be true or false.", what=what))
        required = False
    unit = _label(spec.get("unit"), what, problems, required=False)
    help_ = _label(spec.get("help"), what, problems, required=False)
    low = high = places = max_length = None
    options: list[Option] = []
    if "min" in spec or "max" in spec:
        low = _bound(spec.get("min"), ftype, what, "min", problems)
        high = _bound(spec.get("max"), ftype, what, "max", problems)
        if low is not None and high is not None and low > high:
            problems.append(gettext("%(what)s: min is greater than max.", what=what))
    if ftype == NUMBER:
        places = _positive_int(spec.get("places", DEFAULT_PLACES), what, "places", 0,
                               MAX_PLACES, problems)
    elif "places" in spec:
        problems.append(gettext("%(what)s: places applies to numbers only.", what=what))
    if ftype in (TEXT, TEXTAREA):
        max_length = _positive_int(spec.get("max_length", DEFAULT_MAX_LENGTH[ftype]), what,
                                   "max_length", 1, MAX_TEXT_LENGTH, problems)
    elif "max_length" in spec:
        problems.append(gettext("%(what)s: max_length applies to texts only.", what=what))
    if ftype == CHOICE:
        raw_options = spec.get("options")
        if not isinstance(raw_options, list) or not raw_options:
            problems.append(gettext("%(what)s: a choice needs a list of options.", what=what))
        elif len(raw_options) > MAX_OPTIONS:
            problems.append(gettext("%(what)s: more than %(max)d options.", what=what,
                                    max=MAX_OPTIONS))
        else:
            seen = set()
            for item in raw_options:
                if isinstance(item, str):
                    value, olabel = item.strip(), item.strip()
                elif isinstance(item, Mapping) and isinstance(item.get("value"), str):
                    value = item["value"].strip()
                    olabel = _label(item.get("label", value), what, problems)
                else:
                    problems.append(gettext("%(what)s: an option must be a text or an object "
                                            "with a value and a label.", what=what))
                    continue
                if not value or len(value) > 100:
                    problems.append(gettext("%(what)s: an option value must have 1 to 100 "
                                            "characters.", what=what))
                    continue
                if value in seen:
                    problems.append(gettext("%(what)s: the option %(value)s appears twice.",
                                            what=what, value=value))
                    continue
                seen.add(value)
                options.append(Option(value, olabel))
    elif "options" in spec:
        problems.append(gettext("%(what)s: options apply to choices only.", what=what))
    return Field(key=key, type=ftype, label=label, required=required, unit=unit, help=help_,
                 min=low, max=high, places=places, max_length=max_length,
                 options=tuple(options))


def _rule(spec, position: int, index: dict, problems: list) -> Rule | None:
    if not isinstance(spec, Mapping):
        problems.append(gettext("Rule %(n)d must be an object.", n=position))
        return None
    kind = spec.get("rule")
    what = gettext("Rule %(n)d (%(rule)s)", n=position, rule=str(kind)[:40])
    if kind not in RULE_KINDS:
        problems.append(gettext("%(what)s: unknown rule (known: %(rules)s).", what=what,
                                rules=", ".join(RULE_KINDS)))
        return None
    for name in spec:
        if name not in RULE_PROPERTIES[kind]:
            problems.append(gettext("%(what)s: unknown property %(name)s.", what=what,
                                    name=str(name)[:40]))
    message = _label(spec.get("message"), what, problems, required=False)

    def known(key, types=None) -> Field | None:
        target = index.get(key) if isinstance(key, str) else None
        if target is None:
            problems.append(gettext("%(what)s: no field %(key)s.", what=what,
                                    key=str(key)[:40]))
            return None
        if types and target.type not in types:
            problems.append(gettext("%(what)s: field %(key)s is not a number.", what=what,
                                    key=key) if types == NUMERIC_TYPES else gettext(
                "%(what)s: field %(key)s is not a number or a date.", what=what, key=key))
            return None
        return target

    key = spec.get("field")
    if kind == EQUALS_SUM:
        known(key, NUMERIC_TYPES)
        of = spec.get("of")
        if not isinstance(of, list) or not of:
            problems.append(gettext("%(what)s: of must list the fields to add up.", what=what))
            of = []
        for item in of:
            known(item, NUMERIC_TYPES)
        tolerance = _bound(spec.get("tolerance", 0), NUMBER, what, "tolerance", problems)
        if tolerance is not None and tolerance < 0:
            problems.append(gettext("%(what)s: tolerance must not be negative.", what=what))
        return Rule(EQUALS_SUM, key, of=tuple(str(i) for i in of),
                    tolerance=tolerance or Decimal(0), message=message)
    if kind == REQUIRED_IF:
        known(key)
        when = index.get(spec.get("when")) if isinstance(spec.get("when"), str) else None
        if when is None:
            known(spec.get("when"))
        has_equals = "equals" in spec
        equals = spec.get("equals")
        if has_equals and (isinstance(equals, (list, dict)) or (
                when is not None and when.type == BOOLEAN and not isinstance(equals, bool))):
            problems.append(gettext("%(what)s: equals must be a single value (true or false "
                                    "for a yes/no field).", what=what))
        if has_equals and when is not None and when.type == CHOICE and equals not in {
                o.value for o in when.options}:
            problems.append(gettext("%(what)s: %(value)s is not an option of %(key)s.",
                                    what=what, value=str(equals)[:40], key=when.key))
        return Rule(REQUIRED_IF, key, when=spec.get("when"), equals=equals,
                    has_equals=has_equals, message=message)
    # Comparisons: field <op> than (a field) or value (a constant).
    target = known(key, ORDERED_TYPES)
    than = spec.get("than")
    value = None
    if ("than" in spec) == ("value" in spec):
        problems.append(gettext("%(what)s: give either than (a field) or value (a constant).",
                                what=what))
    elif "than" in spec:
        other = known(than, ORDERED_TYPES)
        if target is not None and other is not None and (
                (target.type == DATE) != (other.type == DATE)):
            problems.append(gettext("%(what)s: a date is compared with a number.", what=what))
    elif target is not None:
        value = _bound(spec.get("value"), target.type, what, "value", problems)
    return Rule(kind, key, than=than if "than" in spec else None, value=value,
                message=message)


def load(definition) -> FormDefinition:
    """A checked definition from a dict, its JSON text or an already loaded definition.
    Raises FormDefinitionError listing every problem (unknown type, duplicate key, unknown
    property, a rule naming no field...)."""
    if isinstance(definition, FormDefinition):
        return definition
    if isinstance(definition, (bytes, str)):
        if len(definition) > MAX_DEFINITION_BYTES:
            raise FormDefinitionError([gettext("The definition is too large.")])
        try:
            definition = json.loads(definition)
        except ValueError as exc:
            raise FormDefinitionError([gettext("The definition is not valid JSON: %(error)s",
                                               error=str(exc)[:200])]) from None
    if not isinstance(definition, Mapping):
        raise FormDefinitionError([gettext("A definition must be an object with fields.")])
    problems: list[str] = []
    for name in definition:
        if name not in DEFINITION_PROPERTIES:
            problems.append(gettext("Unknown property %(name)s.", name=str(name)[:40]))
    raw_fields = definition.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        problems.append(gettext("A definition needs at least one field."))
        raw_fields = []
    if len(raw_fields) > MAX_FIELDS:
        problems.append(gettext("A definition has at most %(max)d fields.", max=MAX_FIELDS))
        raw_fields = raw_fields[:MAX_FIELDS]
    fields: list[Field] = []
    index: dict[str, Field] = {}
    for position, spec in enumerate(raw_fields, start=1):
        item = _field(spec, position, problems)
        if item is None:
            continue
        if item.key in index:
            problems.append(gettext("The key %(key)s is used twice.", key=item.key))
            continue
        index[item.key] = item
        fields.append(item)
    raw_rules = definition.get("rules") or []
    if not isinstance(raw_rules, list):
        problems.append(gettext("rules must be a list."))
        raw_rules = []
    if len(raw_rules) > MAX_RULES:
        problems.append(gettext("A definition has at most %(max)d rules.", max=MAX_RULES))
        raw_rules = raw_rules[:MAX_RULES]
    rules = [r for position, spec in enumerate(raw_rules, start=1)
             if (r := _rule(spec, position, index, problems)) is not None]
    code = definition.get("code")
    if code is not None and (not isinstance(code, str) or len(code) > 64):
        problems.append(gettext("code must be a text of at most 64 characters."))
    title = _label(definition.get("title"), gettext("Title"), problems, required=False)
    if problems:
        raise FormDefinitionError(problems)
    return FormDefinition(fields=tuple(fields), rules=tuple(rules), code=code, title=title)


# ----- values ---------------------------------------------------------------------------------
def _raw_get(raw, key):
    """One submitted value: the first of a form's list, a JSON value as it is."""
    if raw is None:
        return None
    getlist = getattr(raw, "getlist", None)
    if getlist is not None:
        values = getlist(key)
        return values[0] if values else None
    return raw.get(key)


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _parse(f: Field, value):
    """(JSON-ready clean value, typed value) of one non-blank value, or raises ValueError
    with the translated message."""
    if isinstance(value, (list, dict, tuple, set)):
        raise ValueError(gettext("A single value is expected."))
    if f.type in (TEXT, TEXTAREA):
        if not isinstance(value, str):
            value = str(value)
        value = value.replace("\r\n", "\n").replace("\r", "\n").translate(_CONTROL).strip()
        if f.type == TEXT:
            value = " ".join(value.split())
        if len(value) > f.max_length:
            raise ValueError(gettext("At most %(max)d characters (%(count)d given).",
                                     max=f.max_length, count=len(value)))
        return value, value
    if f.type == BOOLEAN:
        if isinstance(value, bool):
            return value, value
        word = str(value).strip().lower()
        if word in _TRUE:
            return True, True
        if word in _FALSE:
            return False, False
        raise ValueError(gettext("Answer yes or no."))
    if f.type == CHOICE:
        word = str(value).strip()
        if word not in {o.value for o in f.options}:
            raise ValueError(gettext("Choose one of the options."))
        return word, word
    if f.type == DATE:
        if isinstance(value, datetime.datetime):
            value = value.date()
        if not isinstance(value, datetime.date):
            word = str(value).strip()
            try:
                if not _DATE.match(word):
                    raise ValueError
                value = datetime.date.fromisoformat(word)
            except ValueError:
                raise ValueError(gettext("Enter a date as YYYY-MM-DD.")) from None
        _check_range(f, value, value.isoformat())
        return value.isoformat(), value
    if f.type == INTEGER or f.type == ATTACHMENT:
        if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
            raise ValueError(gettext("Enter a whole number."))
        word = str(int(value)) if isinstance(value, (int, float)) else str(value).strip()
        if not _INTEGER.match(word) or len(word.lstrip("+-")) > MAX_DIGITS:
            raise ValueError(gettext("Enter a whole number."))
        number = int(word)
        if f.type == ATTACHMENT:
            if number <= 0:
                raise ValueError(gettext("Upload a file."))
            return number, number
        _check_range(f, number, str(number))
        return number, number
    # NUMBER
    if isinstance(value, bool):
        raise ValueError(gettext("Enter a number."))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(gettext("Enter a number."))
        word = format(value, "f")
    else:
        word = repr(value) if isinstance(value, float) else str(value).strip()
    word = word.replace(",", "") if re.fullmatch(r"[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?", word) \
        else word
    if not _NUMBER.match(word) or len(word.split(".")[0].lstrip("+-")) > MAX_DIGITS:
        raise ValueError(gettext("Enter a number."))
    number = Decimal(word)
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > f.places:
        if f.places == 0:
            raise ValueError(gettext("Enter a whole number."))
        raise ValueError(gettext("At most %(places)d decimal places.", places=f.places))
    number = number.quantize(Decimal(1).scaleb(-f.places))
    _check_range(f, number, str(number))
    return str(number), number


def _check_range(f: Field, value, shown: str) -> None:
    if f.min is not None and value < f.min:
        raise ValueError(gettext("Must be at least %(min)s.", min=_shown(f.min)))
    if f.max is not None and value > f.max:
        raise ValueError(gettext("Must be at most %(max)s.", max=_shown(f.max)))


def _shown(value) -> str:
    return value.isoformat() if isinstance(value, datetime.date) else str(value)


def _rule_message(rule: Rule, default: str) -> str:
    return text(rule.message) if rule.message is not None else default


def _apply_rules(form: FormDefinition, typed: dict, errors: dict, partial: bool) -> None:
    for rule in form.rules:
        target = form.field(rule.field)
        label = target.label_text if target is not None else rule.field
        if rule.rule == REQUIRED_IF:
            if partial or typed.get(rule.field) is not None or rule.field in errors:
                continue
            condition = typed.get(rule.when)
            if condition is None:
                continue
            if rule.has_equals and condition != rule.equals:
                continue
            when = form.field(rule.when)
            errors.setdefault(rule.field, []).append(_rule_message(rule, gettext(
                "Required when %(when)s is answered %(answer)s.",
                when=when.label_text, answer=when.display(condition))))
            continue
        if rule.rule == EQUALS_SUM:
            operands = [typed.get(k) for k in (rule.field, *rule.of)]
            if any(v is None for v in operands):
                continue
            total = sum((Decimal(v) for v in operands[1:]), Decimal(0))
            if abs(Decimal(operands[0]) - total) > rule.tolerance:
                names = "、".join(form.field(k).label_text for k in rule.of)
                errors.setdefault(rule.field, []).append(_rule_message(rule, gettext(
                    "%(field)s must equal the sum of %(of)s (%(total)s).", field=label,
                    of=names, total=str(total))))
            continue
        left = typed.get(rule.field)
        if rule.than is not None:
            right = typed.get(rule.than)
            right_text = form.field(rule.than).label_text
        else:
            right = rule.value
            right_text = _shown(rule.value) if rule.value is not None else ""
        if left is None or right is None:
            continue
        if isinstance(left, datetime.date) != isinstance(right, datetime.date):
            continue
        if not isinstance(left, datetime.date):
            left, right = Decimal(left), Decimal(right)
        ok = {"lt": left < right, "lte": left <= right, "gt": left > right,
              "gte": left >= right, "eq": left == right}[rule.rule]
        if not ok:
            errors.setdefault(rule.field, []).append(_rule_message(rule, gettext(
                "%(field)s must be %(op)s %(other)s.", field=label,
                op=COMPARISONS[rule.rule], other=right_text)))


def validate(definition, raw_values, *, partial: bool = False,
             attachment_ok: Callable[[int], bool] | None = None) -> tuple[dict, dict]:
    """Check submitted values against a definition.

    `raw_values`: a mapping (request.form, a dict decoded from JSON) keyed by field key;
    keys the definition does not know are ignored. Returns (clean_values, errors_by_field):
    clean values are JSON-ready (text, int, a number as a string with the field's places,
    a date as YYYY-MM-DD, true/false, an option's value, an attachment id) for the fields
    that have a value; errors_by_field holds every message of every field (a rule naming
    no field would go under FORM_ERRORS). `partial=True` (a draft) skips the required and
    required_if checks but still refuses malformed values. `attachment_ok(id)` may refuse
    an attachment id the caller cannot use (e.g. not the user's enterprise's)."""
    form = load(definition)
    clean: dict[str, Any] = {}
    typed: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for f in form.fields:
        value = _raw_get(raw_values, f.key)
        if _blank(value):
            if f.required and not partial:
                errors.setdefault(f.key, []).append(gettext("Required."))
            continue
        try:
            clean_value, typed_value = _parse(f, value)
        except ValueError as exc:
            errors.setdefault(f.key, []).append(str(exc))
            continue
        if f.type == ATTACHMENT and attachment_ok is not None and not attachment_ok(
                clean_value):
            errors.setdefault(f.key, []).append(gettext("Upload a file."))
            continue
        if clean_value == "" and f.type in (TEXT, TEXTAREA):
            if f.required and not partial:
                errors.setdefault(f.key, []).append(gettext("Required."))
            continue
        clean[f.key] = clean_value
        typed[f.key] = typed_value
    _apply_rules(form, typed, errors, partial)
    return clean, errors


def typed_values(definition, stored: Mapping | None) -> dict:
    """Stored (JSON) values as Python values: Decimal numbers, dates. Unknown keys and values
    that no longer fit are left out."""
    form = load(definition)
    out = {}
    for f in form.fields:
        value = (stored or {}).get(f.key)
        if value is None:
            continue
        try:
            out[f.key] = _parse(f, value)[1]
        except ValueError:
            continue
    return out


def error_items(definition, errors: Mapping) -> list[str]:
    """errors_by_field as "label: message" lines in the definition's order (a summary)."""
    form = load(definition)
    lines = []
    for f in form.fields:
        for message in errors.get(f.key, ()):
            lines.append(f"{f.label_text}: {message}")
    lines.extend(str(m) for m in errors.get(FORM_ERRORS, ()))
    return lines


def raw_from_form(definition, form_data, prefix: str = "") -> dict:
    """The definition's values out of a posted form whose inputs are named prefix + key
    (what the macro renders). Other inputs, forged or not, are not read."""
    form = load(definition)
    return {f.key: _raw_get(form_data, prefix + f.key) for f in form.fields}


def columns(definition) -> list[tuple[str, str]]:
    """(key, header) per field for flat exports: the label, with its unit in brackets."""
    form = load(definition)
    return [(f.key, f"{f.label_text}（{f.unit_text}）" if f.unit_text else f.label_text)
            for f in form.fields]


def export_row(definition, stored: Mapping | None) -> list:
    """Stored values in the order of columns(), as spreadsheet cells."""
    form = load(definition)
    return [f.export_value((stored or {}).get(f.key)) for f in form.fields]


class _Label:
    """A label shown in the language current when str() is called (the importer matches
    headers and choices in every UI language by rendering them under each locale)."""

    def __init__(self, label, unit=None):
        self.label, self.unit = label, unit

    def __str__(self) -> str:
        unit = text(self.unit)
        return f"{text(self.label)}（{unit}）" if unit else text(self.label)

    def __repr__(self) -> str:
        return repr(str(self))


def import_spec(definition, **spec_kwargs):
    """An `app.services.xlsx_import.ImportSpec` for records of this form, one per row: the
    shared importer's template (headers with units, required ones marked, drop-down lists),
    reading, per-cell conversion and error report, then every row checked by `validate`
    (bounds, rules). Attachment fields are left out. `spec_kwargs` go to ImportSpec
    (sheet_title, validate_rows, max_rows...)."""
    from app.services import xlsx_import as xi

    form = load(definition)
    columns = []
    for f in form.fields:
        if f.type == ATTACHMENT:
            continue
        kind = {
            TEXT: lambda f: xi.Text(f.max_length),
            TEXTAREA: lambda f: xi.Text(f.max_length),
            INTEGER: lambda f: xi.Integer(f.min, f.max),
            NUMBER: lambda f: xi.Number(f.places, f.min, f.max),
            DATE: lambda f: xi.Date(),
            CHOICE: lambda f: xi.Choice([(o.value, _Label(o.label)) for o in f.options]),
            BOOLEAN: lambda f: xi.Boolean(),
        }[f.type](f)
        columns.append(xi.ImportColumn(f.key, _Label(f.label, f.unit), required=f.required,
                                       kind=kind, hint=_Label(f.help) if f.help else None))

    def validate_row(values):
        clean, errors = validate(form, values)
        # A required cell left empty, or one that failed conversion (None here), is already
        # reported by the importer for its column.
        for f in form.fields:
            if f.required and values.get(f.key) is None and errors.get(f.key):
                errors[f.key] = [m for m in errors[f.key] if m != gettext("Required.")]
                if not errors[f.key]:
                    del errors[f.key]
        return clean, {key: "; ".join(messages) for key, messages in errors.items()}

    return xi.ImportSpec(columns=columns, validate_row=validate_row, **spec_kwargs)


__all__ = [
    "ATTACHMENT", "BOOLEAN", "CHOICE", "DATE", "FIELD_TYPES", "FORM_ERRORS", "INTEGER",
    "NUMBER", "RULE_KINDS", "TEXT", "TEXTAREA", "Field", "FormDefinition",
    "FormDefinitionError", "Option", "Rule", "columns", "error_items", "export_row",
    "import_spec", "load",
    "raw_from_form", "text", "typed_values", "validate",
]
