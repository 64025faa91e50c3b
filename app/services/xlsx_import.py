"""The one .xlsx importer (SPEC X12): template, validation with a row/column error report,
all-or-nothing saving, background jobs with progress. Every module reuses it; a module
declares its columns and its row rules, nothing else.

    SALES = ImportSpec(
        columns=[ImportColumn("vin", _l("VIN"), parse=check_vin),
                 ImportColumn("price", _l("Price"), kind=Number(places=2, min_value=0)),
                 ImportColumn("sold_on", _l("Date"), kind=Date()),
                 ImportColumn("type", _l("Vehicle type"), choices=VEHICLE_TYPES)],
        validate_row=clean_sale,           # the form's rules: (clean values, {key: message})
        validate_rows=no_duplicate_vins,   # cross-row checks
        sheet_title=_l("Sales records"))

    write_template(SALES, path)                       # the download
    result = read(SALES, path_or_stream, progress)    # ImportResult(rows, errors, ...)
    write_error_workbook(SALES, result, path)         # errors + the rows, bad cells marked

    import_job("sales_import", SALES, save=save_sales, target_type="sales_record")
    job = submit("sales_import", request.files["file"], title=...)   # in the view
    outcome(job)                   # what the page shows: imported / rejected (errors) / ...

Reading: the file must be an .xlsx by its content (zip magic, an OOXML package with a
workbook part), within IMPORT_MAX_BYTES (checked before anything is parsed, also for a stream
without a length) and IMPORT_MAX_UNPACKED_BYTES (zip bombs). The sheet and the shared strings
are parsed here with expat (DTDs and entity declarations refused), not with openpyxl's
read-only reader, which alone reads 10,000 rows of 25 columns at 550-2,400 rows/s on the
reference machine before any validation (`python -m bench.xlsx_import`); this parser is
2-5 times faster and is checked against openpyxl cell by cell in the tests. A cell holding a
formula (`<f>`, what openpyxl reports as data_type "f" with data_only=False) is refused.
Writing (template, error workbook) uses openpyxl and `app.services.xlsx.safe_value`.
"""

from __future__ import annotations

import datetime
import decimal
import io
import os
import posixpath
import re
import secrets
import shutil
import tempfile
import time
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat

import filetype
from flask import current_app, has_app_context
from flask_babel import force_locale, gettext, ngettext
from flask_babel import lazy_gettext as _l
from lxml import etree
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.comments import Comment
from openpyxl.packaging.custom import IntProperty
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH, from_excel, from_ISO8601
from openpyxl.worksheet.datavalidation import DataValidation

from app.errors import DomainError
from app.services import jobs
from app.services.xlsx import _sheet_title, safe_value

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_UNPACKED_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_ROWS = 10_000
DEFAULT_MAX_ERRORS = 1_000
MAX_PARTS = 2_000  # zip members; a workbook has a dozen

_MB = 1024 * 1024


def _config(name: str, default):
    if has_app_context():
        value = current_app.config.get(name)
        if value is not None:
            return value
    return default


class ImportFileRejectedError(DomainError):
    """The file as a whole cannot be imported (not an .xlsx, too large, too many rows)."""

    code = 422


class CellValueError(ValueError):
    """Raised by a converter or a column's `parse`: str() is the translated message."""


# ----- converters: a column's kind (how a cell becomes a value, how the template looks) ------
_BLANKS = "\u200b\ufeff"


def _text(value) -> str:
    """A cell as text: 13800138000.0 (a number in Excel) is '13800138000'."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer():
            if abs(value) >= 1e15:
                raise CellValueError(gettext(
                    "Excel stored this as a number and dropped digits: format the column as "
                    "text and enter the value again."))
            return str(int(value))
        return f"{value:.15g}"
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)


def _display(value) -> str:
    """A cell as text, never failing ("" for an empty cell)."""
    if _blank(value):
        return ""
    try:
        return _text(value).strip()
    except CellValueError:
        return repr(value)


class Kind:
    """Base of converters. `convert(value)` gets a non-empty cell value (a stripped str, int,
    float, bool, date or datetime) and returns the clean value or raises CellValueError."""

    number_format = "General"

    def compile(self) -> Callable[[Any], Any]:
        """The converter for one read (may precompute per-locale tables)."""
        return self.convert

    def convert(self, value):
        return value

    def describe(self) -> str:
        return ""

    def list_labels(self) -> list[str] | None:
        """Values offered as a drop-down list in the template."""
        return None


class Text(Kind):
    number_format = "@"  # Excel keeps what is typed (leading zeros, 18-digit numbers)

    def __init__(self, max_length: int | None = None):
        self.max_length = max_length

    def convert(self, value):
        text = _text(value)
        if self.max_length is not None and len(text) > self.max_length:
            raise CellValueError(gettext("At most %(num)d characters.", num=self.max_length))
        return text

    def describe(self):
        if self.max_length:
            return gettext("Text, at most %(num)d characters", num=self.max_length)
        return gettext("Text value")


def _range_check(value, min_value, max_value):
    if min_value is not None and value < min_value:
        raise CellValueError(gettext("At least %(num)s.", num=min_value))
    if max_value is not None and value > max_value:
        raise CellValueError(gettext("At most %(num)s.", num=max_value))
    return value


_INT_RE = re.compile(r"[+-]?\d+(\.0*)?")


class Integer(Kind):
    number_format = "0"

    def __init__(self, min_value: int | None = None, max_value: int | None = None):
        self.min_value, self.max_value = min_value, max_value

    def convert(self, value):
        if isinstance(value, bool):
            raise CellValueError(gettext("Enter a whole number."))
        if isinstance(value, float):
            if not value.is_integer():
                raise CellValueError(gettext("Enter a whole number."))
            value = int(value)
        elif isinstance(value, str):
            text = value.replace(",", "").replace(" ", "")
            if not _INT_RE.fullmatch(text):
                raise CellValueError(gettext("Enter a whole number."))
            value = int(text.split(".")[0])
        elif not isinstance(value, int):
            raise CellValueError(gettext("Enter a whole number."))
        return _range_check(value, self.min_value, self.max_value)

    def describe(self):
        return gettext("Whole number")


class Number(Kind):
    """A decimal.Decimal with at most `places` decimals (float noise from Excel is rounded)."""

    def __init__(self, places: int | None = 2, min_value=None, max_value=None):
        self.places, self.min_value, self.max_value = places, min_value, max_value
        self.number_format = "0" if places == 0 else ("0." + "0" * places if places else
                                                       "General")
        self._quantum = decimal.Decimal(1).scaleb(-places) if places is not None else None

    def convert(self, value):
        from_float = isinstance(value, float)
        if isinstance(value, bool):
            raise CellValueError(gettext("Enter a number."))
        if isinstance(value, (int, float)):
            number = decimal.Decimal(repr(value)) if from_float else decimal.Decimal(value)
        elif isinstance(value, str):
            text = value.replace(",", "").replace("，", "").replace(" ", "").lstrip("¥￥")
            try:
                number = decimal.Decimal(text)
            except decimal.InvalidOperation:
                raise CellValueError(gettext("Enter a number.")) from None
        else:
            raise CellValueError(gettext("Enter a number."))
        if not number.is_finite():
            raise CellValueError(gettext("Enter a number."))
        if self._quantum is not None:
            rounded = number.quantize(self._quantum, rounding=decimal.ROUND_HALF_UP)
            if rounded != number and not (from_float and abs(rounded - number) < 1e-9):
                raise CellValueError(ngettext("At most %(num)d decimal place.",
                                            "At most %(num)d decimal places.", self.places))
            number = rounded
        return _range_check(number, self.min_value, self.max_value)

    def describe(self):
        if self.places is None:
            return gettext("Numeric value")
        return ngettext("Number with at most %(num)d decimal place",
                        "Number with at most %(num)d decimal places", self.places)


_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y%m%d")


class Date(Kind):
    number_format = "yyyy-mm-dd"

    def convert(self, value):
        if isinstance(value, datetime.datetime):
            return value.date()
        if isinstance(value, datetime.date):
            return value
        if isinstance(value, bool):
            raise CellValueError(gettext("Enter a date as YYYY-MM-DD."))
        if isinstance(value, (int, float)):
            if isinstance(value, int) and 19000101 <= value <= 29991231:
                value = str(value)
            elif 1 <= value < 2958466:  # an Excel serial number without a date format
                return from_excel(value).date()
            else:
                raise CellValueError(gettext("Enter a date as YYYY-MM-DD."))
        if not isinstance(value, str):  # a time or a duration
            raise CellValueError(gettext("Enter a date as YYYY-MM-DD."))
        text = value.strip().split(" ")[0].split("T")[0]
        for fmt in _DATE_FORMATS:
            try:
                return datetime.datetime.strptime(text, fmt).date()
            except ValueError:
                continue
        raise CellValueError(gettext("Enter a date as YYYY-MM-DD."))

    def describe(self):
        return gettext("Date, e.g. 2024-01-31")


def _norm(text) -> str:
    """Header / choice matching: width-folded (NFKC), case-folded, without spaces or a
    trailing required-marker '*'."""
    text = unicodedata.normalize("NFKC", str(text)).casefold()
    return "".join(text.split()).strip(_BLANKS).rstrip("*")


def _locales() -> list[str]:
    if has_app_context():
        return list(current_app.config.get("LANGUAGES") or ["zh", "en"])
    return []


def _all_translations(text) -> list[str]:
    """A lazy string in the current language and in every configured one."""
    out = [str(text)]
    for locale in _locales():
        with force_locale(locale):
            out.append(str(text))
    return out


class Choice(Kind):
    """One of `choices` ((value, label) pairs or a {value: label} dict): the cell may hold
    the label in any UI language or the value itself."""

    number_format = "@"

    def __init__(self, choices):
        self.choices = list(choices.items()) if isinstance(choices, dict) else list(choices)

    def compile(self):
        table = {}
        for value, label in self.choices:
            table.setdefault(_norm(value), value)
            for text in _all_translations(label):
                table.setdefault(_norm(text), value)
        labels = [str(label) for _, label in self.choices]
        memo: dict = {}

        def convert(cell):
            seen = (type(cell), cell)  # True == 1, but "TRUE" != "1"
            if seen in memo:
                return memo[seen]
            key = _norm(_text(cell))
            if key in table:
                memo[seen] = table[key]
                return table[key]
            shown = "、".join(labels[:20]) + ("…" if len(labels) > 20 else "")
            raise CellValueError(gettext("Choose one of: %(choices)s.", choices=shown))

        return convert

    def describe(self):
        return gettext("One of the list")

    def list_labels(self):
        return [str(label) for _, label in self.choices]


_YES, _NO = _l("Yes"), _l("No")
_TRUE = {"是", "y", "yes", "true", "1", "✓", "√", "对"}
_FALSE = {"否", "n", "no", "false", "0", "×", "✗", "错"}


class Boolean(Kind):
    number_format = "@"

    def compile(self):
        true = set(_TRUE) | {_norm(t) for t in _all_translations(_YES)}
        false = set(_FALSE) | {_norm(t) for t in _all_translations(_NO)}

        def convert(cell):
            if isinstance(cell, bool):
                return cell
            key = _norm(_text(cell))
            if key in true:
                return True
            if key in false:
                return False
            raise CellValueError(gettext("Enter %(yes)s or %(no)s.", yes=_YES, no=_NO))

        return convert

    def describe(self):
        return gettext("%(yes)s or %(no)s", yes=_YES, no=_NO)

    def list_labels(self):
        return [str(_YES), str(_NO)]


# ----- the declaration a module writes ---------------------------------------------------
@dataclass
class ImportColumn:
    """One template column. `kind` converts the cell (default Text()); `choices` is a
    shortcut for kind=Choice(choices); `parse(value)` is an optional extra check on the
    converted value (raise CellValueError with a translated message, or return the clean
    value). `hint` and `example` go into the template."""

    key: str
    header: Any  # a lazy string
    required: bool = True
    parse: Callable[[Any], Any] | None = None
    kind: Kind | None = None
    choices: Any = None
    example: Any = None
    hint: Any = None
    width: int | None = None

    def __post_init__(self):
        if self.kind is None:
            self.kind = Choice(self.choices) if self.choices is not None else Text()


@dataclass
class ImportSpec:
    """What a module imports. validate_row(values) -> (clean values, {key: message}) applies
    the module's form rules to one row (values of cells that failed conversion are None; an
    error on a key that is no column is reported for the whole row). validate_rows(list of
    (row number, values) of every data row, bad ones included with None for their bad
    cells) -> iterable of (row number, key, message) does cross-row checks (the same VIN
    twice, a VIN already recorded)."""

    columns: Sequence[ImportColumn]
    validate_row: Callable[[dict], tuple[dict | None, dict]] | None = None
    validate_rows: Callable[[list[tuple[int, dict]]], Iterable[tuple[int, str, Any]]] | None \
        = None
    sheet_title: Any = "Sheet1"
    max_rows: int | None = None  # default: IMPORT_MAX_ROWS
    strict_order: bool = False  # True: the columns must also be in the template's order

    def column(self, key: str) -> ImportColumn | None:
        return next((c for c in self.columns if c.key == key), None)


@dataclass
class RowError:
    """One problem: sheet row number (1 = the header row), the column's header as in the
    file ("" for the whole row), the cell's value as read, the translated message."""

    row: int
    column: str
    value: Any
    message: str
    col: int | None = None  # 0-based position of the cell in the file (for highlighting)

    def as_dict(self) -> dict:
        value = self.value
        if isinstance(value, (datetime.date, datetime.time)):
            value = value.isoformat()
        elif value is not None and not isinstance(value, (int, float, str)):
            value = str(value)
        return {"row": self.row, "column": self.column, "value": value,
                "message": self.message}


@dataclass
class ImportResult:
    rows: list[dict] = field(default_factory=list)  # clean values of the rows without errors
    row_numbers: list[int] = field(default_factory=list)  # their sheet row numbers
    errors: list[RowError] = field(default_factory=list)  # the first IMPORT_MAX_ERRORS
    error_count: int = 0  # all errors found
    total_rows: int = 0  # non-empty data rows
    header_row: int = 1
    headers: list[str] = field(default_factory=list)  # the header row as in the file
    source_rows: list[tuple[int, dict]] = field(default_factory=list)  # (row, {col: raw})

    @property
    def ok(self) -> bool:
        return self.error_count == 0 and self.total_rows > 0

    @property
    def errors_not_listed(self) -> int:
        return self.error_count - len(self.errors)

    @property
    def rows_with_errors(self) -> int:
        return len({e.row for e in self.errors})


# ----- the package: size, type, zip bomb, then our own sheet parser -----------------------
_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
_WORKBOOK_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
    "application/vnd.ms-excel.template.macroEnabled.main+xml",
}
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# East Asian built-in number formats (ECMA-376 18.8.30: 27-36 and 50-58 are locale dates
# and times, e.g. 31 = yyyy"年"m"月"d"日" in zh-CN); openpyxl does not list them.
_CJK_DATE_FORMAT_IDS = set(range(27, 37)) | set(range(50, 59))
_ESCAPE_RE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                           load_dtd=False)


def _unescape(text: str) -> str:
    if "_x" in text:
        return _ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 16)), text)
    return text


class Formula(str):
    """A cell holding a formula ("=SUM(A1:A3)")."""


class CellErrorValue(str):
    """A cell holding an Excel error (#N/A, #VALUE!)."""


# Parts read into a tree (not streamed) are capped (styles of a real workbook: a few KB).
MAX_TREE_PART_BYTES = 4 * 1024 * 1024


def _rejected(message) -> ImportFileRejectedError:
    return ImportFileRejectedError(str(message))


def _too_large(limit: int) -> ImportFileRejectedError:
    return _rejected(gettext("The file is larger than the limit of %(mb)s MB.",
                             mb=f"{limit / _MB:g}"))


def _not_xlsx(head: bytes = b"") -> ImportFileRejectedError:
    kind = filetype.guess(head) if head else None
    if kind is not None and kind.extension not in ("zip", "xlsx"):
        return _rejected(gettext(
            "This file is not an Excel workbook (.xlsx) but a %(type)s file. Download the "
            "template, fill it in and upload it.", type=kind.extension.upper()))
    return _rejected(gettext("This file is not an Excel workbook (.xlsx). Download the "
                             "template, fill it in and upload it."))


def _spool(stream, limit: int):
    """Copy a stream (a length may be unknown) into a temporary file, refusing it as soon
    as it passes `limit` bytes."""
    out = tempfile.SpooledTemporaryFile(max_size=limit + 1)
    copied = 0
    while True:
        chunk = stream.read(min(1024 * 1024, limit + 1 - copied))
        if not chunk:
            break
        copied += len(chunk)
        if copied > limit:
            out.close()
            raise _too_large(limit)
        out.write(chunk)
    out.seek(0)
    return out, copied


def _open_source(source):
    """(binary file object, size) for a path, bytes or a stream; size limit applied before
    any byte is parsed."""
    limit = int(_config("IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))
    if isinstance(source, (str, os.PathLike)):
        size = os.path.getsize(source)
        if size > limit:
            raise _too_large(limit)
        return open(source, "rb"), size
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) > limit:
            raise _too_large(limit)
        return io.BytesIO(source), len(source)
    stream = getattr(source, "stream", source)  # werkzeug FileStorage
    return _spool(stream, limit)


@dataclass
class _Sheet:
    title: str
    part: str
    visible: bool


class Package:
    """An opened, checked .xlsx: its worksheets, shared strings, date styles."""

    def __init__(self, fh, size: int):
        self._fh = fh
        if size == 0:
            raise _rejected(gettext("The file is empty."))
        head = fh.read(512)
        fh.seek(0)
        if head.startswith(_OLE2):
            raise _rejected(gettext(
                "This is an Excel 97-2003 workbook (.xls) or a password-protected file. "
                "Save it as an Excel workbook (.xlsx) without a password and upload it "
                "again."))
        if not head.startswith(b"PK\x03\x04"):
            raise _not_xlsx(head)
        try:
            self.zip = zipfile.ZipFile(fh)
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            raise _not_xlsx() from None
        unpacked_limit = int(_config("IMPORT_MAX_UNPACKED_BYTES", DEFAULT_MAX_UNPACKED_BYTES))
        if len(infos) > MAX_PARTS or sum(i.file_size for i in infos) > unpacked_limit:
            raise _rejected(gettext(
                "The workbook unpacks to more than %(mb)s MB and cannot be imported.",
                mb=f"{unpacked_limit / _MB:g}"))
        if any(i.flag_bits & 0x1 for i in infos):
            raise _rejected(gettext("The workbook is encrypted. Save it without a password "
                                    "and upload it again."))
        self.names = {i.filename.lower(): i.filename for i in infos}
        try:
            self._read_structure(head)
        except ImportFileRejectedError:
            raise
        except (etree.XMLSyntaxError, KeyError, ValueError, IndexError, OSError,
                zipfile.BadZipFile, EOFError, zlib.error):
            raise _damaged() from None

    def close(self):
        try:
            self.zip.close()
        finally:
            self._fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- structure --
    def _part(self, name: str) -> str | None:
        return self.names.get(name.lstrip("/").lower())

    def _xml(self, name: str):
        """A small part (workbook, relations, styles) as a tree. The sheet and the shared
        strings are streamed; these are read whole, so their size is capped: a styles part
        of a million formats is an attack, not a spreadsheet."""
        real = self._part(name)
        if real is None:
            raise KeyError(name)
        if self.zip.getinfo(real).file_size > MAX_TREE_PART_BYTES:
            raise _rejected(gettext("The file has an unusually large internal part (%(part)s): "
                                    "save it again as a plain .xlsx workbook and upload that.",
                                    part=name))
        return etree.fromstring(self.zip.read(real), _parser())

    def _rels(self, part: str) -> dict[str, tuple[str, str]]:
        """{rId: (type, target part)} of a part."""
        folder, base = posixpath.split(part.lstrip("/"))
        rels_name = posixpath.join(folder, "_rels", base + ".rels")
        if self._part(rels_name) is None:
            return {}
        out = {}
        for rel in self._xml(rels_name).iter(f"{{{_PKG_REL_NS}}}Relationship"):
            target = rel.get("Target") or ""
            if rel.get("TargetMode") == "External":
                continue
            path = target.lstrip("/") if target.startswith("/") else \
                posixpath.normpath(posixpath.join(folder, target))
            out[rel.get("Id")] = (rel.get("Type") or "", path)
        return out

    def _read_structure(self, head: bytes) -> None:
        if self._part("[Content_Types].xml") is None:
            raise _not_xlsx(head)
        types = self._xml("[Content_Types].xml")
        workbook = None
        for override in types.iter(f"{{{_CT_NS}}}Override"):
            if override.get("ContentType") in _WORKBOOK_TYPES:
                workbook = override.get("PartName")
                break
        if workbook is None or self._part(workbook) is None:
            raise _not_xlsx(head)
        root = self._xml(workbook)
        if root.tag.startswith("{http://purl.oclc.org/ooxml/"):
            raise _rejected(gettext(
                "This workbook is saved as \"Strict Open XML\". Save it as an Excel workbook "
                "(.xlsx) and upload it again."))
        props = root.find(f"{{{_NS}}}workbookPr")
        date1904 = props is not None and props.get("date1904") in ("1", "true")
        self.epoch = MAC_EPOCH if date1904 else WINDOWS_EPOCH
        rels = self._rels(workbook)
        self.sheets: list[_Sheet] = []
        for sheet in root.iter(f"{{{_NS}}}sheet"):
            rel = rels.get(sheet.get(f"{{{_REL_NS}}}id"))
            if rel and rel[0].endswith("/worksheet") and self._part(rel[1]):
                self.sheets.append(_Sheet(sheet.get("name") or "", rel[1],
                                          sheet.get("state", "visible") == "visible"))
        if not self.sheets:
            raise _rejected(gettext("The workbook has no worksheet."))
        self.strings: list[str] = []
        self.date_styles: set[int] = set()
        self.timedelta_styles: set[int] = set()
        for rel_type, target in rels.values():
            if rel_type.endswith("/sharedStrings"):
                self.strings = self._read_strings(target)
            elif rel_type.endswith("/styles"):
                self._read_styles(target)

    def _read_strings(self, part: str) -> list[str]:
        parser = _StringsParser()
        with self.zip.open(self._part(part)) as src:
            while True:
                chunk = src.read(_CHUNK)
                parser.feed(chunk, final=not chunk)
                if not chunk:
                    return parser.strings

    def _read_styles(self, part: str) -> None:
        root = self._xml(part)
        custom = {int(n.get("numFmtId")): n.get("formatCode") or ""
                  for n in root.iter(f"{{{_NS}}}numFmt")}
        xfs = root.find(f"{{{_NS}}}cellXfs")
        for index, xf in enumerate(xfs if xfs is not None else ()):
            if xf.tag != f"{{{_NS}}}xf":
                continue
            fmt_id = int(xf.get("numFmtId", 0))
            code = custom.get(fmt_id, BUILTIN_FORMATS.get(fmt_id))
            if code is None and fmt_id in _CJK_DATE_FORMAT_IDS:
                self.date_styles.add(index)
            elif code and is_date_format(code):
                self.date_styles.add(index)
                if is_timedelta_format(code):
                    self.timedelta_styles.add(index)

    # -- data --
    def choose_sheet(self, titles: Iterable[str]) -> _Sheet:
        """The sheet named like the template's data sheet, else the first visible one."""
        wanted = {_norm(t) for t in titles}
        for sheet in self.sheets:
            if _norm(sheet.title) in wanted:
                return sheet
        return next((s for s in self.sheets if s.visible), self.sheets[0])

    def iter_rows(self, sheet: _Sheet, estimate: Callable | None = None
                  ) -> Iterator[tuple[int, dict[int, Any]]]:
        """(row number, {0-based column: value}) for every row with a cell; values are str,
        int, float, bool, datetime/date/time/timedelta, Formula or CellErrorValue."""
        info = self.zip.getinfo(self._part(sheet.part))
        parser = _SheetParser(self)
        with self.zip.open(info) as src:
            consumed = 0
            try:
                while True:
                    chunk = src.read(_CHUNK)
                    consumed += len(chunk)
                    parser.feed(chunk, final=not chunk)
                    if estimate is not None:
                        if parser.dimension:
                            estimate(dimension=parser.dimension)
                            parser.dimension = None
                        estimate(row=parser.row, consumed=consumed, size=info.file_size)
                    if parser.done:
                        yield from parser.done
                        parser.done.clear()
                    if not chunk:
                        break
            except (expat.ExpatError, ValueError, IndexError, OSError, EOFError,
                    zipfile.BadZipFile, zlib.error):
                raise _damaged() from None


_X = _NS + " "  # expat names are "namespace localname"
_ROW, _C, _V, _F, _IS, _T, _RPH, _SI, _DIMENSION = (
    _X + t for t in ("row", "c", "v", "f", "is", "t", "rPh", "si", "dimension"))
_CHUNK = 256 * 1024


def _refuse_dtd(*_args):
    raise ValueError("a DTD or entity declaration in a workbook part")


def _expat():
    """A namespace-aware expat parser that refuses DTDs and entity declarations (no
    entity expansion at all; expat never loads external entities)."""
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    return parser


class _StringsParser:
    """sharedStrings.xml: the text of each <si> (plain or rich runs, without phonetic
    runs)."""

    def __init__(self):
        self.strings: list[str] = []
        self.parts: list[str] = []
        self.buf: list[str] = []
        self.in_phonetic = False
        p = self.p = _expat()
        p.StartElementHandler = self.start
        p.EndElementHandler = self.end
        p.CharacterDataHandler = self.buf.append  # emptied where a <t> starts

    def feed(self, chunk: bytes, final: bool) -> None:
        self.p.Parse(chunk, final)

    def start(self, name, attrs):
        if name == _T:
            self.buf.clear()
        elif name == _SI:
            self.parts = []
        elif name == _RPH:
            self.in_phonetic = True

    def end(self, name):
        if name == _T:
            if not self.in_phonetic:
                self.parts.append("".join(self.buf))
        elif name == _SI:
            self.strings.append(_unescape("".join(self.parts)))
        elif name == _RPH:
            self.in_phonetic = False


class _SheetParser:
    """A worksheet part, fed in chunks: completed rows collect in `done` as (row number,
    {0-based column: value}). Values are typed as openpyxl types them with
    data_only=False (a cell with <f> is a Formula whatever its cached value)."""

    def __init__(self, package: Package):
        self.strings = package.strings
        self.date_styles = package.date_styles
        self.timedelta_styles = package.timedelta_styles
        self.epoch = package.epoch
        self.done: list[tuple[int, dict[int, Any]]] = []
        self.dimension: str | None = None
        self.letters: dict[str, int] = {}
        self.row = 0
        self.col = -1
        self.cells: dict[int, Any] = {}
        self.buf: list[str] = []
        self.parts: list[str] = []
        self.type = self.style = self.value = self.formula = None
        self.in_phonetic = False
        p = self.p = _expat()
        p.StartElementHandler = self.start
        p.EndElementHandler = self.end
        # Always collecting: the buffer is emptied where a <v>, <t> or <f> starts.
        p.CharacterDataHandler = self.buf.append

    def feed(self, chunk: bytes, final: bool) -> None:
        self.p.Parse(chunk, final)

    def start(self, name, attrs):
        if name == _C:
            ref = attrs.get("r")
            if ref:
                letters = ref.rstrip("0123456789")
                col = self.letters.get(letters)
                if col is None:
                    col = self.letters[letters] = _column_index(letters)
                self.col = col
            else:
                self.col += 1
            self.type = attrs.get("t")
            self.style = attrs.get("s")
            self.value = self.formula = None
        elif name == _V or name == _T:
            self.buf.clear()
        elif name == _ROW:
            r = attrs.get("r")
            self.row = int(r) if r else self.row + 1
            self.cells = {}
            self.col = -1
        elif name == _F:
            self.formula = ""
            self.buf.clear()
        elif name == _IS:
            self.parts = []
        elif name == _RPH:
            self.in_phonetic = True
        elif name == _DIMENSION:
            self.dimension = attrs.get("ref")

    def end(self, name):
        if name == _V:
            self.value = "".join(self.buf)
        elif name == _C:
            self.cells[self.col] = value = self._value()
            if value is None:
                del self.cells[self.col]
        elif name == _T:
            if not self.in_phonetic:
                self.parts.append("".join(self.buf))
        elif name == _ROW:
            if self.cells:
                self.done.append((self.row, self.cells))
        elif name == _F:
            self.formula = "".join(self.buf)
        elif name == _RPH:
            self.in_phonetic = False
        elif name == _IS:
            self.value = "".join(self.parts)

    def _value(self):
        if self.formula is not None:
            return Formula("=" + self.formula)
        v, t = self.value, self.type
        if v is None:
            return None
        if t is None or t == "n":
            value = int(v) if v.isdigit() else (
                float(v) if ("." in v or "E" in v or "e" in v) else int(v))
            s = self.style
            if s is not None and int(s) in self.date_styles:
                try:
                    return from_excel(value, self.epoch,
                                      timedelta=int(s) in self.timedelta_styles)
                except (OverflowError, ValueError):
                    return CellErrorValue("#VALUE!")
            return value
        if t == "s":
            return self.strings[int(v)]
        if t == "inlineStr" or t == "str":
            return _unescape(v)
        if t == "b":
            return v.strip() in ("1", "true")
        if t == "e":
            return CellErrorValue(v)
        if t == "d":
            return from_ISO8601(v)
        return v


def _damaged() -> ImportFileRejectedError:
    return _rejected(gettext("The workbook is damaged or not a valid .xlsx file. Open it in "
                             "Excel, save it again and upload it."))


def _column_index(letters: str) -> int:
    index = 0
    for ch in letters.upper():
        index = index * 26 + (ord(ch) - 64)
    return index - 1


def open_package(source) -> Package:
    """Open and check an .xlsx (size, type by content, zip bomb, structure); raises
    ImportFileRejectedError with a translated message. Close it (a context manager)."""
    fh, size = _open_source(source)
    try:
        return Package(fh, size)
    except BaseException:
        fh.close()
        raise


def check_file(source) -> None:
    """Refuse what is not an importable .xlsx (size, content, structure) without reading
    its rows: called at upload time, so the user hears at once."""
    with open_package(source):
        pass


# ----- reading -----------------------------------------------------------------------------
def _blank(value) -> bool:
    return value is None or (type(value) is str and not value.strip().strip(_BLANKS))


class _Progress:
    """Rows done and an estimate of the total (the sheet's dimension, else the bytes read)."""

    def __init__(self, callback, every: int = 200):
        self.callback = callback
        self.every = every
        self.total_rows: int | None = None
        self.ratio: float | None = None
        self.last_row = 0

    def estimate(self, dimension=None, row=None, consumed=None, size=None):
        if dimension:
            match = re.search(r"(\d+)$", dimension)
            if match and ":" in dimension:
                self.total_rows = int(match.group(1))
        elif row is not None:
            self.last_row = row
            if consumed and size:
                self.ratio = consumed / size

    def report(self, done: int, header_row: int):
        if self.callback is None or done % self.every:
            return
        total = None
        if self.total_rows and self.total_rows >= self.last_row:
            total = self.total_rows - header_row
        elif self.ratio:
            total = int(done / self.ratio)
        self.callback(done, max(total or done, done))


def _header_titles(spec: ImportSpec) -> list[str]:
    return _all_translations(spec.sheet_title) if spec.sheet_title else []


def read(spec: ImportSpec, source, progress: Callable | None = None) -> ImportResult:
    """Read and validate every row of an .xlsx against `spec`. File-level refusals (not an
    .xlsx, too large, no data, too many rows) raise ImportFileRejectedError; every other
    problem is a RowError in the result (all rows are read; the first IMPORT_MAX_ERRORS are
    kept, `error_count` counts them all). `progress(done, total)` is called every 200 rows.
    Nothing is saved here."""
    max_rows = spec.max_rows or int(_config("IMPORT_MAX_ROWS", DEFAULT_MAX_ROWS))
    max_errors = int(_config("IMPORT_MAX_ERRORS", DEFAULT_MAX_ERRORS))
    result = ImportResult()
    tracker = _Progress(progress)

    def add_error(row, column, value, message, col=None):
        result.error_count += 1
        if len(result.errors) < max_errors:
            result.errors.append(RowError(row, column, value, str(message), col))

    with open_package(source) as package:
        sheet = package.choose_sheet(_header_titles(spec))
        rows = package.iter_rows(sheet, estimate=tracker.estimate)
        header = None
        for row_number, cells in rows:
            if any(not _blank(v) for v in cells.values()):
                header = (row_number, cells)
                break
        if header is None:
            raise _rejected(gettext("The sheet is empty: fill in the template's header row "
                                    "and the rows below it."))
        result.header_row, header_cells = header
        mapping = _match_headers(spec, result, header_cells, add_error)
        if result.error_count:
            return result
        compiled = [(col.key, pos, col.required, col.kind.compile(), col.parse)
                    for pos, col in mapping]
        positions = {pos for pos, _ in mapping}
        absent = [c.key for c in spec.columns if c.key not in {col.key for _, col in mapping}]
        headers = result.headers
        validate_row = spec.validate_row
        required_msg = gettext("This value is required.")
        formula_msg = gettext("Formulas are not accepted: enter the value itself.")
        invalid_msg = gettext("This value is not valid.")
        every_row: list[tuple[int, dict]] = []  # for cross-row checks, bad rows included
        for row_number, cells in rows:
            if all(_blank(v) for v in cells.values()):
                continue
            result.total_rows += 1
            if result.total_rows > max_rows:
                raise _rejected(gettext(
                    "The sheet has more than %(num)s data rows. Split it into files of at "
                    "most %(num)s rows.", num=f"{max_rows:,}"))
            result.source_rows.append((row_number, cells))
            values: dict[str, Any] = dict.fromkeys(absent)  # optional columns left out
            bad: dict[str, str] = {}
            for key, pos, required, convert, parse in compiled:
                value = cells.get(pos)
                if type(value) is str:
                    value = value.strip()
                    if value and value[0] in _BLANKS or value and value[-1] in _BLANKS:
                        value = value.strip(_BLANKS).strip()
                    if not value:
                        value = None
                if value is None:
                    values[key] = None
                    if required:
                        bad[key] = required_msg
                    continue
                kind = type(value)
                if kind is Formula:
                    values[key] = None
                    bad[key] = formula_msg
                    continue
                if kind is CellErrorValue:
                    values[key] = None
                    bad[key] = gettext("The cell holds an error (%(value)s): enter a value.",
                                       value=value)
                    continue
                try:
                    value = convert(value)
                    if parse is not None:
                        value = parse(value)
                except CellValueError as exc:
                    values[key] = None
                    bad[key] = str(exc)
                    continue
                except (ValueError, TypeError, ArithmeticError):
                    values[key] = None
                    bad[key] = invalid_msg
                    continue
                values[key] = value
            if validate_row is not None:
                clean, problems = validate_row(values)
                for key, message in (problems or {}).items():
                    bad.setdefault(key, str(message))
                if clean is not None:
                    values = clean
            failed = bool(bad)
            for pos in cells.keys() - positions:
                if not _blank(cells[pos]):
                    failed = True
                    add_error(row_number, get_column_letter(pos + 1), cells[pos],
                              gettext("This column has no header: it is not in the "
                                      "template."), pos)
            if bad:
                _row_errors(spec, result, row_number, cells, mapping, headers, bad, add_error)
            every_row.append((row_number, values))
            if not failed:
                result.rows.append(values)
                result.row_numbers.append(row_number)
            tracker.report(result.total_rows, result.header_row)
    if result.total_rows == 0:
        raise _rejected(gettext("The sheet has no data rows below the header."))
    if spec.validate_rows is not None:
        failed_rows: set[int] = set()
        source = dict(result.source_rows)
        for row_number, key, message in spec.validate_rows(every_row) or ():
            _row_errors(spec, result, row_number, source.get(row_number, {}), mapping,
                        headers, {key: str(message)}, add_error)
            failed_rows.add(row_number)
        if failed_rows:
            keep = [i for i, n in enumerate(result.row_numbers) if n not in failed_rows]
            result.rows = [result.rows[i] for i in keep]
            result.row_numbers = [result.row_numbers[i] for i in keep]
    result.errors.sort(key=lambda e: (e.row, -1 if e.col is None else e.col))
    if progress is not None:
        progress(result.total_rows, result.total_rows)
    return result


def _row_errors(spec, result, row_number, cells, mapping, headers, bad, add_error):
    position = {col.key: pos for pos, col in mapping}
    for key, message in bad.items():
        pos = position.get(key)
        if pos is not None:
            add_error(row_number, headers[pos], cells.get(pos), message, pos)
        else:
            column = spec.column(key)
            add_error(row_number, str(column.header) if column else "", None, message)


def _match_headers(spec: ImportSpec, result: ImportResult, cells: dict[int, Any],
                   add_error) -> list[tuple[int, ImportColumn]]:
    """[(position in the file, column)] by header (key, or the header in any UI language);
    unknown, duplicate, missing and (strict_order) misplaced headers are RowErrors."""
    row = result.header_row
    aliases: dict[str, ImportColumn] = {}
    for column in spec.columns:
        aliases.setdefault(_norm(column.key), column)
        for text in _all_translations(column.header):
            aliases.setdefault(_norm(text), column)
    width = max(cells) + 1 if cells else 0
    result.headers = [_display(cells.get(i)) for i in range(width)]
    mapping: list[tuple[int, ImportColumn]] = []
    seen: dict[str, int] = {}
    for pos in range(width):
        value = cells.get(pos)
        if _blank(value):
            continue
        if isinstance(value, Formula):
            add_error(row, result.headers[pos], value,
                      gettext("Formulas are not accepted: enter the value itself."), pos)
            continue
        column = aliases.get(_norm(result.headers[pos]))
        if column is None:
            add_error(row, result.headers[pos], value,
                      gettext("Unknown column: it is not in the template."), pos)
        elif column.key in seen:
            add_error(row, result.headers[pos], value,
                      gettext("This column appears twice."), pos)
        else:
            seen[column.key] = pos
            mapping.append((pos, column))
    for column in spec.columns:
        if column.key not in seen and column.required:
            add_error(row, str(column.header), None,
                      gettext("This column of the template is missing."))
    if spec.strict_order and not result.error_count:
        expected = [c.key for c in spec.columns if c.key in seen]
        for (pos, column), key in zip(mapping, expected, strict=True):
            if column.key != key:
                add_error(row, result.headers[pos], cells.get(pos),
                          gettext("This column is not where the template has it: keep the "
                                  "template's order."), pos)
    return mapping


# ----- writing: the template and the error workbook --------------------------------------
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_ERROR_FILL = PatternFill("solid", fgColor="FFC7CE")
_REQUIRED_FONT = Font(bold=True, color="C00000")
_BOLD = Font(bold=True)


def _width(column: ImportColumn) -> float:
    if column.width:
        return column.width
    text = str(column.header)
    return min(50, max(10, sum(2 if ord(ch) > 0x2E80 else 1 for ch in text) + 4))


def _hint_text(column: ImportColumn) -> str:
    lines = [str(column.hint)] if column.hint else []
    lines.append(gettext("Required") if column.required else gettext("Optional"))
    if column.kind.describe():
        lines.append(column.kind.describe())
    if column.example not in (None, ""):
        lines.append(gettext("Example: %(value)s", value=_text(column.example)))
    return "\n".join(lines)


def write_template(spec: ImportSpec, path: str) -> str:
    """The downloadable template: the data sheet (header row bold and frozen, required
    headers red, a comment on each header saying the format, column formats, drop-down
    lists), an instructions sheet and a hidden sheet holding the lists."""
    max_rows = spec.max_rows or int(_config("IMPORT_MAX_ROWS", DEFAULT_MAX_ROWS))
    wb = Workbook()
    ws = wb.active
    ws.title = _sheet_title(str(spec.sheet_title))
    lists = None
    for index, column in enumerate(spec.columns, start=1):
        letter = get_column_letter(index)
        cell = ws.cell(row=1, column=index, value=safe_value(str(column.header)))
        cell.font = _REQUIRED_FONT if column.required else _BOLD
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(vertical="center", wrap_text=True)
        comment = Comment(_hint_text(column), "RegPortal")
        comment.width, comment.height = 240, 110
        cell.comment = comment
        dim = ws.column_dimensions[letter]
        dim.width = _width(column)
        dim.number_format = column.kind.number_format
        labels = column.kind.list_labels()
        if labels:
            if lists is None:
                lists = wb.create_sheet("Lists")
                lists.sheet_state = "hidden"
            for i, label in enumerate(labels, start=1):
                lists.cell(row=i, column=index, value=safe_value(label))
            validation = DataValidation(
                type="list", allow_blank=not column.required, showErrorMessage=True,
                formula1=f"Lists!${letter}$1:${letter}${len(labels)}",
                errorTitle=str(column.header)[:32],
                error=gettext("Choose a value from the list.")[:255])
            validation.add(f"{letter}2:{letter}{max_rows + 1}")
            ws.add_data_validation(validation)
    ws.freeze_panes = "A2"
    ws.row_dimensions[1].height = 30
    _instructions(wb.create_sheet(_sheet_title(gettext("Instructions")), 1), spec, max_rows)
    wb.active = 0
    wb.save(path)
    return path


def _instructions(ws, spec: ImportSpec, max_rows: int) -> None:
    notes = [
        gettext("How to fill in the sheet \"%(sheet)s\"", sheet=str(spec.sheet_title)),
        gettext("Enter one record per row, from row 2. Do not change the header row; "
                "columns with a red header are required."),
        gettext("Enter values, not formulas. At most %(num)s rows per file.",
                num=f"{max_rows:,}"),
        gettext("Every row is checked; if any row has an error, nothing is imported and "
                "you get the list of errors."),
    ]
    for text in notes:
        ws.append([safe_value(text)])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append([])
    header = [gettext("Column"), gettext("Required"), gettext("Format"), gettext("Example"),
              gettext("Allowed values"), gettext("Notes")]
    ws.append(header)
    for cell in ws[ws.max_row]:
        cell.font = _BOLD
        cell.fill = _HEADER_FILL
    for column in spec.columns:
        labels = column.kind.list_labels() or []
        ws.append([safe_value(str(column.header)),
                   gettext("Yes") if column.required else gettext("No"),
                   safe_value(column.kind.describe()),
                   safe_value(_text(column.example)) if column.example not in (None, "")
                   else "",
                   safe_value("、".join(labels)),
                   safe_value(str(column.hint)) if column.hint else ""])
    for letter, width in zip("ABCDEF", (24, 10, 30, 24, 40, 40), strict=True):
        ws.column_dimensions[letter].width = width


_ERROR_COUNT_PROPERTY = "regportal_import_errors"


def write_error_workbook(spec: ImportSpec, result: ImportResult, path: str,
                         progress: Callable | None = None) -> str:
    """A workbook for the user: sheet 1 lists row, column, value, message of every error
    kept (values through safe_value: a formula is shown as text); sheet 2 (the template's
    sheet name) holds the rows as read, at their original row numbers, bad cells in red
    with the message as a comment, so it can be corrected and uploaded again.
    `progress(done, total)` is called every 500 rows of the second sheet."""
    wb = Workbook(write_only=True)
    wb.custom_doc_props.append(IntProperty(name=_ERROR_COUNT_PROPERTY,
                                           value=result.error_count))
    errors_ws = wb.create_sheet(_sheet_title(gettext("Errors")))
    for letter, width in zip("ABCD", (8, 24, 30, 70), strict=True):
        errors_ws.column_dimensions[letter].width = width
    errors_ws.freeze_panes = "A2"
    errors_ws.append(_bold_row(errors_ws, [gettext("Row"), gettext("Column"), gettext("Value"),
                                           gettext("Error message")]))
    for error in result.errors:
        errors_ws.append([error.row, safe_value(error.column), safe_value(error.value),
                          safe_value(error.message)])
    if result.errors_not_listed:
        errors_ws.append(["", "", "", safe_value(ngettext(
            "%(num)d more error is not listed.", "%(num)d more errors are not listed.",
            result.errors_not_listed))])

    data_ws = wb.create_sheet(_sheet_title(str(spec.sheet_title)))
    for index in range(1, len(result.headers) + 1):
        data_ws.column_dimensions[get_column_letter(index)].width = 18
    data_ws.freeze_panes = f"A{result.header_row + 1}"
    marks: dict[tuple[int, int], list[str]] = {}
    row_marks: dict[int, list[str]] = {}
    for error in result.errors:
        if error.col is None:
            row_marks.setdefault(error.row, []).append(error.message)
        else:
            marks.setdefault((error.row, error.col), []).append(error.message)
    header_cells = {i: h for i, h in enumerate(result.headers) if h}
    rows = [(result.header_row, header_cells), *result.source_rows]
    written = 0
    for row_number, cells in rows:
        while written < row_number - 1:
            data_ws.append([])
            written += 1
        width = max(cells) + 1 if cells else 0
        if row_number in row_marks:
            width = max(width, 1)
        out = []
        for col in range(width):
            value = cells.get(col)
            messages = marks.get((row_number, col), [])
            if col == 0:
                messages = row_marks.get(row_number, []) + messages
            if not messages and row_number != result.header_row:
                out.append(safe_value(value))
                continue
            cell = WriteOnlyCell(data_ws, value=safe_value(value))
            if row_number == result.header_row:
                cell.font = _BOLD
            if messages:
                cell.fill = _ERROR_FILL
                comment = Comment("\n".join(messages), "RegPortal")
                comment.width, comment.height = 240, 90
                cell.comment = comment
            out.append(cell)
        data_ws.append(out)
        written += 1
        if progress is not None and written % 500 == 0:
            progress(written, result.source_rows[-1][0] if result.source_rows else written)
    wb.save(path)
    return path


def _bold_row(ws, values):
    cells = []
    for value in values:
        cell = WriteOnlyCell(ws, value=safe_value(value))
        cell.font = _BOLD
        cells.append(cell)
    return cells


def read_error_report(path: str, limit: int = 100) -> tuple[list[RowError], int]:
    """The first `limit` errors of an error workbook written by write_error_workbook, and
    the number of errors found in all (what an import page shows after a rejected job)."""
    errors: list[RowError] = []
    total = None
    with open(path, "rb") as fh:
        package = Package(fh, os.path.getsize(path))
        try:
            custom = package._part("docProps/custom.xml")
            if custom:
                root = package._xml(custom)
                for prop in root:
                    if prop.get("name") == _ERROR_COUNT_PROPERTY and len(prop):
                        total = int(prop[0].text)
            listed = 0
            for row_number, cells in package.iter_rows(package.sheets[0]):
                if row_number == 1 or not isinstance(cells.get(0), int):
                    continue
                listed += 1
                if len(errors) < limit:
                    errors.append(RowError(cells[0], _unquote(cells.get(1, "")),
                                           _unquote(cells.get(2)), _unquote(cells.get(3, ""))))
        finally:
            package.zip.close()
    return errors, total if total is not None else listed


def _unquote(value):
    """Undo safe_value's quote for display on a web page (the page escapes HTML)."""
    if isinstance(value, str) and value.startswith("'") and value[1:2] in (
            "=", "+", "-", "@", "\t", "\r", "|", "%"):
        return value[1:]
    return value


# ----- saving: all or nothing ------------------------------------------------------------
def save_all(session, rows: Iterable[dict], make_object: Callable[[dict], Any],
             batch: int = 1000) -> int:
    """Add `make_object(values)` for every row to `session`, flushing every `batch` rows
    (a database error surfaces near its row); the caller commits once, or rolls back.
    make_object may return None (skip) or a list of objects. Returns the rows saved."""
    count = 0
    for values in rows:
        made = make_object(values)
        if made is None:
            continue
        if isinstance(made, (list, tuple)):
            session.add_all(made)
        else:
            session.add(made)
        count += 1
        if count % batch == 0:
            session.flush()
    session.flush()
    return count


# ----- uploads and background jobs -------------------------------------------------------
_UPLOAD_RE = re.compile(r"[0-9a-f]{32}\.xlsx")


def upload_dir() -> str:
    """Where uploads wait for their job: IMPORT_DIR (default instance/imports), outside the
    web root."""
    path = _config("IMPORT_DIR", None) or os.path.join(
        current_app.config.get("INSTANCE_DIR") or current_app.instance_path, "imports")
    os.makedirs(path, exist_ok=True)
    return path


def upload_path(name: str | None) -> str | None:
    if not name or not _UPLOAD_RE.fullmatch(name):
        return None
    return os.path.join(upload_dir(), name)


def save_upload(upload) -> str:
    """Store an uploaded file (werkzeug FileStorage, stream, bytes or path) under
    upload_dir() with a random name after the size and type checks; returns the name."""
    if upload is None or (hasattr(upload, "filename") and not upload.filename):
        raise _rejected(gettext("Choose a file to upload."))
    fh, _size = _open_source(upload)
    name = secrets.token_hex(16) + ".xlsx"
    path = os.path.join(upload_dir(), name)
    try:
        with fh, open(path, "wb") as out:
            shutil.copyfileobj(fh, out)
        check_file(path)
    except BaseException:
        jobs.remove_file(path)
        raise
    return name


def submit(kind: str, upload, *, title: str, params: dict | None = None, user=None):
    """Start an import job of `kind` (registered with import_job) for an upload: the file is
    checked (size, type) and stored now, so a wrong file is refused in the request; the
    rows are read, validated and saved by the job. Returns the Job (committed, enqueued;
    in immediate mode already finished)."""
    from app.extensions import db

    name = save_upload(upload)
    file_name = os.path.basename(str(getattr(upload, "filename", "") or "").replace("\\", "/"))
    job_params = dict(params or {}, upload=name, file_name=file_name[:200])
    try:
        job = jobs.create(kind, job_params, title=title, user=user)
        job_id = job.id
        db.session.commit()
    except BaseException:
        db.session.rollback()
        jobs.remove_file(os.path.join(upload_dir(), name))
        raise
    jobs.enqueue(job_id)
    return job


def import_job(kind: str, spec: ImportSpec | Callable[[dict], ImportSpec],
               save: Callable[[list[dict], dict], int | None], *,
               target_type: str | None = None, error_file_name: Callable | None = None):
    """Register the background job `kind`: read the upload with `spec` (or spec(params)),
    with progress; on any error nothing is saved, the error workbook becomes the job's
    result file and the message says how many errors; else `save(rows, params)` adds every
    row to db.session (e.g. with save_all), one audit event `import` is added and the job
    commits once (all or nothing: an exception in save rolls everything back and fails the
    job with its DomainError message). The upload is removed in every case."""

    @jobs.handler(kind)
    def run(ctx: jobs.JobContext, params: dict) -> jobs.Result:
        return _run_import(ctx, params, spec, save, target_type or kind, error_file_name)

    return run


def _run_import(ctx, params, spec, save, target_type, error_file_name) -> jobs.Result:
    from app.extensions import db
    from app.services import audit

    path = upload_path(params.get("upload"))
    try:
        if path is None or not os.path.isfile(path):
            raise _rejected(gettext("The uploaded file is no longer available. Please upload "
                                    "it again."))
        the_spec = spec if isinstance(spec, ImportSpec) else spec(params)
        result = read(the_spec, path, progress=ctx.progress)
        file_name = params.get("file_name") or "import.xlsx"
        if not result.ok:
            db.session.rollback()  # whatever validate_row/validate_rows may have touched
            out = ctx.result_file(".xlsx")
            writing = gettext("Writing the error report…")
            write_error_workbook(the_spec, result, out,
                                 progress=lambda done, total: ctx.progress(done, total,
                                                                           message=writing))
            stem = os.path.splitext(file_name)[0] or "import"
            download = (error_file_name(params) if error_file_name else
                        gettext("%(name)s - errors", name=stem) + ".xlsx")
            return jobs.Result(out, download_name=download, mime=XLSX_MIME,
                               message=rejected_message(result))
        ctx.progress(result.total_rows, result.total_rows, message=gettext("Saving…"),
                     force=True)
        try:
            saved = save(result.rows, params)
            saved = len(result.rows) if saved is None else saved
            audit.record(db.session, "import", target_type=target_type,
                         target_label=str(_job_title(ctx))[:255],
                         detail=ngettext("%(num)d row imported from %(file)s",
                                         "%(num)d rows imported from %(file)s", saved,
                                         file=file_name))
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
        return jobs.Result(None, message=ngettext("%(num)d row imported.",
                                                  "%(num)d rows imported.", saved))
    finally:
        if path:
            jobs.remove_file(path)


def _job_title(ctx) -> str:
    from app.extensions import db
    from app.models.job import Job

    job = db.session.get(Job, ctx.job_id)
    return job.title if job is not None else ""


def rejected_message(result: ImportResult) -> str:
    return ngettext(
        "Nothing was imported: %(num)d error in %(rows)s. Download the error report, "
        "correct the file and upload it again.",
        "Nothing was imported: %(num)d errors in %(rows)s. Download the error report, "
        "correct the file and upload it again.", result.error_count,
        rows=ngettext("%(num)d row", "%(num)d rows", max(result.rows_with_errors, 1)))


IMPORTED, REJECTED, FAILED, WAITING = "imported", "rejected", "failed", "waiting"


def outcome(job, limit: int = 100) -> dict:
    """What an import page shows for its job (loaded through the scoped session, so only
    the owner's): state "waiting" (queued or running, with progress), "imported" (count in
    `rows`), "rejected" (nothing saved: `errors` = the first `limit` errors as dicts,
    `error_count`, `download_url` of the error workbook) or "failed" (`message`)."""
    from flask import url_for

    from app.models.job import DONE
    from app.models.job import FAILED as JOB_FAILED

    data = {"job_id": job.id, "state": WAITING, "message": job.message,
            "progress": job.progress, "done": job.done, "total": job.total,
            "errors": [], "error_count": 0, "download_url": None, "rows": 0}
    if job.state == JOB_FAILED:
        data["state"] = FAILED
    elif job.state == DONE:
        path = jobs.result_path(job)
        if job.result_path:
            data["state"] = REJECTED
            if path:
                errors, total = read_error_report(path, limit)
                data["errors"] = [e.as_dict() for e in errors]
                data["error_count"] = total
                data["download_url"] = url_for("JobView.download", pk=job.id)
        else:
            data["state"] = IMPORTED
            data["rows"] = job.done or 0
    return data


def purge_import_uploads() -> int:
    """Uploads whose job never ran (worker stopped, job purged) are removed after
    JOB_STALE_HOURS. Idempotent."""
    directory = upload_dir()
    cutoff = time.time() - int(_config("JOB_STALE_HOURS", 6)) * 3600
    removed = 0
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if _UPLOAD_RE.fullmatch(name) and os.path.getmtime(path) < cutoff:
            jobs.remove_file(path)
            removed += 1
    return removed


jobs.periodic(jobs.crontab(minute="43"))(purge_import_uploads)


__all__ = ["XLSX_MIME", "Boolean", "CellErrorValue", "Choice", "Date", "Formula",
           "ImportColumn", "ImportFileRejectedError", "ImportResult", "ImportSpec", "Integer",
           "CellValueError", "Kind", "Number", "Package", "RowError", "Text", "check_file",
           "import_job", "open_package", "outcome", "purge_import_uploads", "read",
           "read_error_report", "rejected_message", "save_all", "save_upload", "submit",
           "upload_dir", "upload_path", "write_error_workbook", "write_template"]
