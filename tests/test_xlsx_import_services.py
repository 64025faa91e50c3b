"""The shared .xlsx importer (SPEC X12, app/services/xlsx_import.py): real files built with
openpyxl (or by hand, as Excel writes them) in tmp_path; every malformed case; the error
workbook read back; the template round trip; the job helper, all or nothing."""

from __future__ import annotations

import datetime
import decimal
import io
import os
import time
import zipfile

import pytest
from flask import g
from flask_babel import force_locale
from openpyxl import Workbook, load_workbook
from werkzeug.datastructures import FileStorage

from app.errors import DomainError
from app.extensions import db
from app.models.audit import AuditEvent
from app.models.base import unscoped
from app.models.identity import AppUser
from app.models.job import DONE, FAILED, Job
from app.services import jobs
from app.services import xlsx_import as xi
from app.services.xlsx_import import (
    Boolean,
    CellValueError,
    Date,
    ImportColumn,
    ImportFileRejectedError,
    ImportSpec,
    Integer,
    Number,
)

# Used-car-like, but no module: a generic spec with every kind of column.
KINDS = [("sedan", "Basic passenger car"), ("suv", "SUV"), ("truck", "Truck")]


def _check_code(value: str) -> str:
    if not value.isalnum():
        raise CellValueError("letters and digits only")
    return value.upper()


def _clean_row(values: dict):
    """The 'form rules' of the spec: cross-field checks, messages per field."""
    errors = {}
    if values.get("price") is not None and values.get("price") > 1_000_000:
        errors["price"] = "Price above the limit."
    if values.get("name") == "forbidden":
        errors["__all__"] = "This row is refused as a whole."
    clean = dict(values)
    if clean.get("code"):
        clean["code_length"] = len(clean["code"])
    return clean, errors


def _no_duplicate_codes(rows):
    seen = {}
    for number, values in rows:
        if values["code"] is None:
            continue
        if values["code"] in seen:
            yield number, "code", f"Same code as row {seen[values['code']]}."
        else:
            seen[values["code"]] = number


def spec(**kw) -> ImportSpec:
    return ImportSpec(
        columns=[
            ImportColumn("name", "Name", example="张三"),
            ImportColumn("code", "Code", parse=_check_code, hint="Letters and digits"),
            ImportColumn("mobile", "Mobile", example="13800138000"),
            ImportColumn("count", "Count", kind=Integer(min_value=0)),
            ImportColumn("price", "Price", kind=Number(places=2, min_value=0)),
            ImportColumn("sold_on", "Date", kind=Date()),
            ImportColumn("kind", "Vehicle type", choices=KINDS),
            ImportColumn("enterprise", "Is enterprise", kind=Boolean(), required=False),
            ImportColumn("note", "Note", required=False),
        ],
        validate_row=kw.pop("validate_row", _clean_row),
        validate_rows=kw.pop("validate_rows", _no_duplicate_codes),
        sheet_title="Sales", **kw)


HEADERS = ["Name", "Code", "Mobile", "Count", "Price", "Date", "Vehicle type",
           "Is enterprise", "Note"]


def good_row(i: int = 0) -> list:
    return [f"张三{i}", f"ab{i}", 13800138000.0 + i, 3, 12345.5, datetime.date(2024, 1, 5),
            "SUV", "是", None]


def make_xlsx(path, rows, headers=HEADERS, title="Sales", write_only=False) -> str:
    wb = Workbook(write_only=write_only)
    ws = wb.create_sheet(title) if write_only else wb.active
    if not write_only:
        ws.title = title
    if headers is not None:
        ws.append(headers)
    for row in rows:
        ws.append(row)
    wb.save(path)
    return str(path)


@pytest.fixture()
def ctx(app):
    """A request in English (messages compared as written; the UI default is Chinese)."""
    with app.test_request_context(), force_locale("en"):
        yield app


# ----- valid files --------------------------------------------------------------------------
def test_valid_file_gives_clean_rows(ctx, tmp_path):
    rows = [good_row(0),
            ["  李四 ", "cd1", "13900139000", "1,204", "99.10", "2024/2/29", "truck", False,
             "  "],
            ["王五", "ef2", 13700137000, 0.0, 0, datetime.datetime(2024, 3, 1, 0, 0), "suv",
             "No", "x"]]
    result = xi.read(spec(), make_xlsx(tmp_path / "a.xlsx", rows))
    assert result.ok and result.errors == [] and result.total_rows == 3
    assert result.row_numbers == [2, 3, 4]
    first, second, third = result.rows
    assert first == {"name": "张三0", "code": "AB0", "mobile": "13800138000", "count": 3,
                     "price": decimal.Decimal("12345.50"),
                     "sold_on": datetime.date(2024, 1, 5), "kind": "suv",
                     "enterprise": True, "note": None, "code_length": 3}
    assert second["name"] == "李四" and second["count"] == 1204
    assert second["price"] == decimal.Decimal("99.10")
    assert second["sold_on"] == datetime.date(2024, 2, 29) and second["kind"] == "truck"
    assert second["enterprise"] is False and second["note"] is None
    assert third["mobile"] == "13700137000" and third["count"] == 0
    assert third["sold_on"] == datetime.date(2024, 3, 1) and third["enterprise"] is False


def test_empty_rows_are_skipped_and_row_numbers_kept(ctx, tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.title = "Sales"
    ws.append(HEADERS)
    ws.append(good_row(0))
    ws.append([None, "  ", None])  # blank in the middle
    ws.append(good_row(1))
    for r in range(5, 40):  # formatted, empty trailing rows
        ws.cell(row=r, column=1).number_format = "@"
        ws.cell(row=r, column=2, value="")
    path = tmp_path / "gaps.xlsx"
    wb.save(path)
    result = xi.read(spec(), str(path))
    assert result.ok and result.total_rows == 2 and result.row_numbers == [2, 4]


def test_headers_by_key_translation_order_and_required_marker(ctx, tmp_path):
    # English headers, reordered, with a '*' marker, by key, and full-width spaces.
    headers = ["Code *", "name", "Mobile", "COUNT", "Price", "Date", "Vehicle　type",
               "Is enterprise"]
    row = good_row(0)
    reordered = [row[1], row[0], *row[2:8]]
    result = xi.read(spec(), make_xlsx(tmp_path / "h.xlsx", [reordered], headers=headers))
    assert result.ok, result.errors
    assert result.rows[0]["name"] == "张三0" and result.rows[0]["code"] == "AB0"
    assert result.rows[0]["note"] is None  # an optional column left out: every key is there


def test_translated_headers_match_in_every_language(ctx, tmp_path):
    from flask_babel import gettext, lazy_gettext

    # A real msgid of the catalog: its Chinese and English forms both match.
    s = ImportSpec(columns=[ImportColumn("state", lazy_gettext("State")),
                            ImportColumn("name", "Name")], sheet_title="S")
    with force_locale("zh"):
        zh = gettext("State")
    assert zh != "State"
    for header in (zh, "State", "state"):
        result = xi.read(s, make_xlsx(tmp_path / "t.xlsx", [["x", "y"]],
                                      headers=[header, "Name"], title="S"))
        assert result.ok and result.rows == [{"state": "x", "name": "y"}]


def test_the_data_sheet_is_found_by_name_else_the_first(ctx, tmp_path):
    wb = Workbook()
    wb.active.title = "Notes"
    wb.active.append(["just notes"])
    ws = wb.create_sheet("Sales")
    ws.append(HEADERS)
    ws.append(good_row(0))
    path = tmp_path / "two.xlsx"
    wb.save(path)
    assert xi.read(spec(), str(path)).ok
    other = make_xlsx(tmp_path / "other.xlsx", [good_row(0)], title="Whatever")
    assert xi.read(spec(), other).ok


# ----- malformed files ---------------------------------------------------------------------
def _refused(path_or_data) -> str:
    with pytest.raises(ImportFileRejectedError) as info:
        xi.read(spec(), path_or_data)
    return str(info.value)


def test_not_an_xlsx_is_refused_with_a_clear_message(ctx, tmp_path):
    csv = tmp_path / "data.xlsx"
    csv.write_text("Name,Code\n张三,ab1\n", encoding="utf-8")
    assert ".xlsx" in _refused(str(csv))

    from PIL import Image

    png = tmp_path / "photo.xlsx"
    Image.new("RGB", (4, 4)).save(png, format="PNG")
    message = _refused(str(png))
    assert "PNG" in message and ".xlsx" in message

    empty = tmp_path / "empty.xlsx"
    empty.write_bytes(b"")
    assert _refused(str(empty)) == "The file is empty."

    plain_zip = tmp_path / "plain.xlsx"
    with zipfile.ZipFile(plain_zip, "w") as z:
        z.writestr("readme.txt", "hello")
    assert ".xlsx" in _refused(str(plain_zip))

    docx = tmp_path / "letter.xlsx"
    with zipfile.ZipFile(docx, "w") as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"><Override PartName="/word/document.xml" '
                   'ContentType="application/vnd.openxmlformats-officedocument.'
                   'wordprocessingml.document.main+xml"/></Types>')
        z.writestr("word/document.xml", "<w:document/>")
    assert ".xlsx" in _refused(str(docx))

    xls = tmp_path / "old.xlsx"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    assert ".xls" in _refused(str(xls))


def test_a_damaged_xlsx_is_refused(ctx, tmp_path):
    good = make_xlsx(tmp_path / "good.xlsx", [good_row(0)])
    broken = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(broken, "w") as out:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.startswith("xl/worksheets/"):
                data = data[: len(data) // 2]  # cut in the middle of the XML
            out.writestr(item, data)
    assert _refused(str(broken))
    truncated = tmp_path / "truncated.xlsx"
    truncated.write_bytes(open(good, "rb").read()[:300])
    assert _refused(str(truncated))


def test_a_strict_open_xml_workbook_is_named(ctx, tmp_path):
    good = make_xlsx(tmp_path / "good.xlsx", [good_row(0)])
    strict = tmp_path / "strict.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(strict, "w") as out:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "xl/workbook.xml":
                data = data.replace(b"http://schemas.openxmlformats.org/spreadsheetml/2006/main",
                                    b"http://purl.oclc.org/ooxml/spreadsheetml/main")
            out.writestr(item, data)
    assert "Strict Open XML" in _refused(str(strict))


def test_entities_and_dtds_are_refused(ctx, tmp_path):
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol2;</t></is></c></row>'
            '</sheetData></worksheet>')
    path = _raw_xlsx(tmp_path / "dtd.xlsx", bomb)
    assert "damaged" in _refused(path) or "损坏" in _refused(path)


def test_a_50_mb_file_is_refused_before_parsing(ctx, tmp_path, monkeypatch):
    big = tmp_path / "big.xlsx"
    with open(big, "wb") as fh:  # sparse: 50 MB on paper, nothing written
        fh.truncate(50 * 1024 * 1024)
    opened = []
    monkeypatch.setattr(xi, "Package", lambda *a: opened.append(a))
    assert "MB" in _refused(str(big))
    assert opened == []  # never opened as a package

    class Endless(io.RawIOBase):
        """A 50 MB upload streamed without a Content-Length."""

        def __init__(self):
            self.served = 0

        def readable(self):
            return True

        def readinto(self, buffer):
            n = min(len(buffer), 50 * 1024 * 1024 - self.served)
            buffer[:n] = b"\0" * n
            self.served += n
            return n

    stream = Endless()
    assert "MB" in _refused(FileStorage(stream=stream, filename="big.xlsx"))
    assert stream.served <= 10 * 1024 * 1024 + 1024 * 1024 and opened == []
    assert "MB" in _refused(b"PK\x03\x04" + b"\0" * (10 * 1024 * 1024))


def test_limits_come_from_the_config(ctx, tmp_path):
    path = make_xlsx(tmp_path / "a.xlsx", [good_row(0)])
    ctx.config["IMPORT_MAX_BYTES"] = 1000
    try:
        assert "MB" in _refused(path)
    finally:
        ctx.config["IMPORT_MAX_BYTES"] = 10 * 1024 * 1024


def test_a_zip_bomb_is_refused(ctx, tmp_path):
    bomb = tmp_path / "bomb.xlsx"
    good = make_xlsx(tmp_path / "good.xlsx", [good_row(0)])
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        for item in src.infolist():
            z.writestr(item.filename, src.read(item))
        z.writestr("xl/media/zeros.bin", b"\0" * (3 * 1024 * 1024))
    assert os.path.getsize(bomb) < 50_000
    ctx.config["IMPORT_MAX_UNPACKED_BYTES"] = 2 * 1024 * 1024
    try:
        assert "MB" in _refused(str(bomb))
    finally:
        del ctx.config["IMPORT_MAX_UNPACKED_BYTES"]
    assert xi.read(spec(), str(bomb)).ok  # within the default 100 MB


def test_header_problems_are_named(ctx, tmp_path):
    headers = ["Name", "Code", "Mobile", "Count", "Price", "Date", "Colour", "Name"]
    result = xi.read(spec(), make_xlsx(tmp_path / "h.xlsx", [good_row(0)], headers=headers))
    assert not result.ok and result.rows == []
    found = {(e.row, e.column): e.message for e in result.errors}
    assert "not in the template" in found[(1, "Colour")]
    assert "twice" in found[(1, "Name")]
    assert "missing" in found[(1, "Vehicle type")]
    assert ("Is enterprise" not in {e.column for e in result.errors})  # optional: may be absent


def test_strict_order_names_the_misplaced_column(ctx, tmp_path):
    headers = ["Code", "Name", *HEADERS[2:]]
    row = good_row(0)
    result = xi.read(spec(strict_order=True),
                     make_xlsx(tmp_path / "o.xlsx", [[row[1], row[0], *row[2:]]],
                               headers=headers))
    assert {e.column for e in result.errors} == {"Code", "Name"}
    assert all("order" in e.message for e in result.errors)


def test_a_sheet_without_rows_is_refused(ctx, tmp_path):
    assert _refused(make_xlsx(tmp_path / "e.xlsx", [], headers=None))
    assert "no data rows" in _refused(make_xlsx(tmp_path / "h.xlsx", []))


# ----- cell errors -------------------------------------------------------------------------
def test_formula_cells_are_refused_cell_by_cell(ctx, tmp_path):
    rows = [good_row(0), good_row(1)]
    rows[0][3] = "=1+2"  # openpyxl writes it as a formula (<f>)
    rows[1][1] = '=HYPERLINK("http://evil.example","click")'
    result = xi.read(spec(), make_xlsx(tmp_path / "f.xlsx", rows))
    assert not result.ok and result.rows == []
    assert [(e.row, e.column, e.value) for e in result.errors] == [
        (2, "Count", "=1+2"), (3, "Code", '=HYPERLINK("http://evil.example","click")')]
    assert all("Formulas are not accepted" in e.message for e in result.errors)


def test_every_bad_value_is_reported_with_row_and_column(ctx, tmp_path):
    rows = [good_row(i) for i in range(6)]
    rows[0][0] = None  # required
    rows[0][3] = 2.5  # not a whole number
    rows[1][4] = "12.345"  # 3 decimals
    rows[1][5] = "31/12/2024"  # not a date format we read
    rows[2][6] = "Bus"  # not a choice
    rows[2][7] = "maybe"  # not yes/no
    rows[3][1] = "a-b"  # the column's parse refuses
    rows[3][4] = 2_000_000  # validate_row refuses
    rows[4][0] = "forbidden"  # validate_row refuses the row as a whole
    rows[5][1] = "ab0"  # the same code as row 2 (validate_rows)
    rows[5].append("extra")  # a value beyond the last header
    result = xi.read(spec(), make_xlsx(tmp_path / "bad.xlsx", rows))
    assert result.total_rows == 6 and result.rows == []
    got = [(e.row, e.column, e.message) for e in result.errors]
    assert got == [
        (2, "Name", "This value is required."),
        (2, "Count", "Enter a whole number."),
        (3, "Price", "At most 2 decimal places."),
        (3, "Date", "Enter a date as YYYY-MM-DD."),
        (4, "Vehicle type", "Choose one of: Basic passenger car、SUV、Truck."),
        (4, "Is enterprise", "Enter Yes or No."),
        (5, "Code", "letters and digits only"),
        (5, "Price", "Price above the limit."),
        (6, "", "This row is refused as a whole."),
        (7, "Code", "Same code as row 2."),
        (7, "J", "This column has no header: it is not in the template."),
    ]
    assert result.errors[0].value is None and result.errors[1].value == 2.5
    assert result.error_count == 11 and result.rows_with_errors == 6


def test_numbers_excel_stored_as_floats_become_text(ctx, tmp_path):
    rows = [good_row(0), good_row(1)]
    rows[0][2] = 13800138000.0
    rows[1][2] = 110101199003071234.0  # an 18-digit ID typed as a number: digits lost
    result = xi.read(spec(), make_xlsx(tmp_path / "n.xlsx", rows))
    assert result.rows[0]["mobile"] == "13800138000"
    assert [(e.row, e.column) for e in result.errors] == [(3, "Mobile")]
    assert "text" in result.errors[0].message


def test_errors_are_capped_but_all_counted(ctx, tmp_path):
    rows = [[None, f"c{i}", "1", 1, 1, "2024-01-01", "SUV"] for i in range(30)]
    ctx.config["IMPORT_MAX_ERRORS"] = 10
    try:
        result = xi.read(spec(), make_xlsx(tmp_path / "many.xlsx", rows))
    finally:
        del ctx.config["IMPORT_MAX_ERRORS"]
    assert len(result.errors) == 10 and result.error_count == 30
    assert result.errors_not_listed == 20


def test_10000_rows_are_accepted_and_10001_refused(ctx, tmp_path):
    rows = [good_row(i) for i in range(10_000)]
    path = make_xlsx(tmp_path / "10k.xlsx", rows, write_only=True)
    seen = []
    started = time.perf_counter()
    result = xi.read(spec(), path, progress=lambda done, total: seen.append((done, total)))
    elapsed = time.perf_counter() - started
    assert result.ok and len(result.rows) == 10_000, result.errors[:3]
    assert seen[-1] == (10_000, 10_000) and len(seen) >= 50
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:], strict=False))
    print(f"10,000 rows in {elapsed:.2f} s")  # timing is measured by bench/, not asserted
    path = make_xlsx(tmp_path / "10k1.xlsx", [*rows, good_row(10_000)], write_only=True)
    assert "10,000" in _refused(path)
    ctx.config["IMPORT_MAX_ROWS"] = 20_000
    try:
        assert xi.read(spec(), path).total_rows == 10_001
    finally:
        ctx.config["IMPORT_MAX_ROWS"] = 10_000
    with pytest.raises(ImportFileRejectedError):
        xi.read(spec(max_rows=5), make_xlsx(tmp_path / "6.xlsx", rows[:6]))


# ----- our parser against openpyxl --------------------------------------------------------
def _raw_xlsx(path, sheet_xml, strings_xml=None, styles_xml=None, date1904=False) -> str:
    """An .xlsx written by hand, as Excel writes it (shared strings, styles)."""
    ct = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats'
          '.org/package/2006/content-types"><Default Extension="rels" ContentType="'
          'application/vnd.openxmlformats-package.relationships+xml"/><Default Extension='
          '"xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
          'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.'
          'main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="'
          'application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
          '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.'
          'openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/><Override '
          'PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-'
          'officedocument.spreadsheetml.styles+xml"/></Types>')
    rels = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="'
            'http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            'officeDocument" Target="xl/workbook.xml"/></Relationships>')
    wb = ('<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.'
          'openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxml'
          'formats.org/officeDocument/2006/relationships">'
          + ('<workbookPr date1904="1"/>' if date1904 else '<workbookPr/>') +
          '<sheets><sheet name="Sales" sheetId="1" r:id="rId1"/></sheets></workbook>')
    wb_rels = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
               'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" '
               'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
               'worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="'
               'http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
               'sharedStrings" Target="sharedStrings.xml"/><Relationship Id="rId3" Type="'
               'http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles"'
               ' Target="styles.xml"/></Relationships>')
    styles = styles_xml or (
        '<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="http://schemas.openxml'
        'formats.org/spreadsheetml/2006/main"><numFmts count="1"><numFmt numFmtId="176" '
        'formatCode="yyyy&quot;年&quot;m&quot;月&quot;d&quot;日&quot;"/></numFmts>'
        '<fonts count="1"><font/></fonts><fills count="1"><fill><patternFill patternType="none"/>'
        '</fill></fills><borders count="1">'
        '<border/></borders><cellStyleXfs count="1"><xf numFmtId="0"/></cellStyleXfs>'
        '<cellXfs count="5"><xf numFmtId="0"/><xf numFmtId="14"/>'
        '<xf numFmtId="176"/><xf numFmtId="49"/><xf numFmtId="31"/></cellXfs><cellStyles '
        'count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>')
    strings = strings_xml or (
        '<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
        'spreadsheetml/2006/main" count="6" uniqueCount="6"><si><t>Name</t></si><si><t>Code'
        '</t></si><si><t xml:space="preserve"> 张三 &amp; 李四 </t></si><si><r><t>粗体</t></r>'
        '<r><rPr><b/></rPr><t>部分</t></r><rPh sb="0" eb="1"><t>ふりがな</t></rPh></si>'
        '<si><t>line_x000D_break</t></si><si><t>=not a formula</t></si></sst>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", ct)
        z.writestr("_rels/.rels", rels)
        z.writestr("xl/workbook.xml", wb)
        z.writestr("xl/_rels/workbook.xml.rels", wb_rels)
        z.writestr("xl/worksheets/sheet1.xml", sheet_xml)
        z.writestr("xl/sharedStrings.xml", strings)
        z.writestr("xl/styles.xml", styles)
    return str(path)


EXCEL_SHEET = (
    '<?xml version="1.0" encoding="UTF-8"?><x:worksheet xmlns:x="http://schemas.openxml'
    'formats.org/spreadsheetml/2006/main"><x:dimension ref="A1:H3"/><x:sheetData>'
    '<x:row r="1"><x:c r="A1" t="s"><x:v>0</x:v></x:c><x:c r="B1" t="s"><x:v>1</x:v></x:c>'
    '</x:row>'
    '<x:row r="2"><x:c r="A2" t="s"><x:v>2</x:v></x:c><x:c r="B2" t="s"><x:v>3</x:v></x:c>'
    '<x:c r="C2" s="1"><x:v>45296</x:v></x:c><x:c r="D2" s="2"><x:v>45296.5</x:v></x:c>'
    '<x:c r="E2"><x:v>13800138000</x:v></x:c><x:c r="F2"><x:v>1.5E-3</x:v></x:c>'
    '<x:c r="G2" t="b"><x:v>1</x:v></x:c><x:c r="H2" t="e"><x:v>#N/A</x:v></x:c></x:row>'
    '<x:row r="3"><x:c r="A3" t="s"><x:v>4</x:v></x:c><x:c r="B3" t="s"><x:v>5</x:v></x:c>'
    '<x:c r="C3"><x:f>SUM(E3:F3)</x:f><x:v>3</x:v></x:c><x:c r="D3" t="str"><x:f>"a"&amp;"b"'
    '</x:f><x:v>ab</x:v></x:c><x:c r="E3" t="inlineStr"><x:is><x:t>inline &lt;x&gt;</x:t>'
    '</x:is></x:c><x:c r="F3" s="3"><x:v>-42</x:v></x:c><x:c r="G3" s="4"><x:v>45296</x:v>'
    '</x:c><x:c r="H3" t="d"><x:v>2024-01-05T10:30:00</x:v></x:c></x:row>'
    '</x:sheetData></x:worksheet>')


def test_our_parser_reads_what_openpyxl_reads(ctx, tmp_path):
    path = _raw_xlsx(tmp_path / "excel.xlsx", EXCEL_SHEET)
    with xi.open_package(path) as package:
        ours = {(r, c): v for r, cells in package.iter_rows(package.sheets[0])
                for c, v in cells.items()}
    wb = load_workbook(path, read_only=True, data_only=False)
    theirs = {(cell.row, cell.column - 1): cell.value
              for row in wb.worksheets[0].iter_rows() for cell in row
              if cell.value is not None}
    wb.close()
    # East Asian built-in date format 31 (yyyy"年"m"月"d"日"): a date for us, a number for
    # openpyxl, which does not know the locale formats.
    assert ours.pop((3, 6)) == datetime.datetime(2024, 1, 5) and theirs.pop((3, 6)) == 45296
    # Excel's escape of a control character (_x000D_ is a CR): openpyxl keeps it as is.
    assert ours.pop((3, 0)) == "line\rbreak" and theirs.pop((3, 0)) == "line_x000D_break"
    assert ours == theirs
    assert ours[(2, 0)] == " 张三 & 李四 " and ours[(2, 1)] == "粗体部分"
    assert ours[(3, 1)] == "=not a formula"
    assert isinstance(ours[(3, 2)], xi.Formula) and ours[(3, 3)] == '="a"&"b"'
    assert not isinstance(ours[(3, 1)], xi.Formula)  # a text starting with "=" is text
    assert ours[(2, 2)] == datetime.datetime(2024, 1, 5)
    assert ours[(2, 4)] == 13800138000 and isinstance(ours[(2, 7)], xi.CellErrorValue)


def test_an_excel_file_with_shared_strings_and_1904_dates(ctx, tmp_path):
    path = _raw_xlsx(tmp_path / "mac.xlsx", EXCEL_SHEET, date1904=True)
    with xi.open_package(path) as package:
        rows = dict(package.iter_rows(package.sheets[0]))
    assert rows[2][2] == datetime.datetime(2028, 1, 6)  # 45296 days after 1904-01-01


# ----- the error workbook -----------------------------------------------------------------
def test_error_workbook_lists_errors_and_marks_cells(ctx, tmp_path):
    rows = [good_row(0), good_row(1), good_row(2)]
    rows[1][1] = '=HYPERLINK("http://evil.example","click")'
    rows[2][0] = "@SUM(1+1)"  # text that a spreadsheet would run: neutralised on output
    rows[2][3] = "many"
    path = make_xlsx(tmp_path / "in.xlsx", rows)
    wb = load_workbook(path)
    wb.active["A4"].data_type = "s"
    wb.save(path)
    result = xi.read(spec(), path)
    out = xi.write_error_workbook(spec(), result, str(tmp_path / "errors.xlsx"))

    wb = load_workbook(out)
    assert wb.sheetnames == ["Errors", "Sales"]
    errors = [[c.value for c in row] for row in wb["Errors"].iter_rows()]
    assert errors[0] == ["Row", "Column", "Value", "Error message"]
    assert errors[1][:3] == [3, "Code", "'=HYPERLINK(\"http://evil.example\",\"click\")"]
    assert wb["Errors"]["C2"].data_type == "s"  # text, not a formula
    assert errors[2][:3] == [4, "Count", "many"]
    data = wb["Sales"]
    assert [c.value for c in data[1]] == HEADERS  # the header row as in the file
    assert data["B3"].value.startswith("'=HYPERLINK") and data["B3"].data_type == "s"
    assert data["B3"].fill.fgColor.rgb.endswith("FFC7CE")
    assert "Formulas are not accepted" in data["B3"].comment.text
    assert data["A4"].value == "'@SUM(1+1)" and data["D4"].comment is not None
    assert data["A2"].comment is None and data["A2"].value == "张三0"
    assert wb.custom_doc_props["regportal_import_errors"].value == 2

    listed, total = xi.read_error_report(out, limit=1)
    assert total == 2 and len(listed) == 1
    assert listed[0].as_dict() == {"row": 3, "column": "Code",
                                   "value": '=HYPERLINK("http://evil.example","click")',
                                   "message": result.errors[0].message}


def test_error_workbook_says_how_many_errors_are_not_listed(ctx, tmp_path):
    rows = [[None, f"c{i}", "1", 1, 1, "2024-01-01", "SUV"] for i in range(12)]
    ctx.config["IMPORT_MAX_ERRORS"] = 5
    try:
        result = xi.read(spec(), make_xlsx(tmp_path / "m.xlsx", rows))
    finally:
        del ctx.config["IMPORT_MAX_ERRORS"]
    out = xi.write_error_workbook(spec(), result, str(tmp_path / "e.xlsx"))
    sheet = load_workbook(out)["Errors"]
    assert sheet.max_row == 1 + 5 + 1 and "7 more errors" in sheet.cell(7, 4).value
    assert xi.read_error_report(out)[1] == 12


def test_a_corrected_error_workbook_can_be_uploaded_again(ctx, tmp_path):
    rows = [good_row(0), good_row(1)]
    rows[1][3] = "x"
    result = xi.read(spec(), make_xlsx(tmp_path / "in.xlsx", rows))
    out = xi.write_error_workbook(spec(), result, str(tmp_path / "e.xlsx"))
    wb = load_workbook(out)
    wb["Sales"]["D3"] = 4
    wb.save(out)
    fixed = xi.read(spec(), out)
    assert fixed.ok and [r["count"] for r in fixed.rows] == [3, 4]


# ----- the template -----------------------------------------------------------------------
def test_template_round_trip(ctx, tmp_path):
    path = xi.write_template(spec(), str(tmp_path / "template.xlsx"))
    wb = load_workbook(path)
    assert wb.sheetnames[:2] == ["Sales", "Instructions"]
    assert wb["Lists"].sheet_state == "hidden"
    ws = wb["Sales"]
    assert [c.value for c in ws[1]] == HEADERS
    assert ws.freeze_panes == "A2" and ws["A1"].font.b
    assert ws["A1"].font.color.rgb.endswith("C00000")  # required
    assert not ws["H1"].font.color or not ws["H1"].font.color.rgb.endswith("C00000")
    assert "Required" in ws["A1"].comment.text and "张三" in ws["A1"].comment.text
    assert "Date" in ws["F1"].comment.text
    assert ws.column_dimensions["C"].number_format == "@"  # phone numbers stay text
    assert ws.column_dimensions["F"].number_format == "yyyy-mm-dd"
    validations = {str(dv.sqref): dv.formula1 for dv in ws.data_validations.dataValidation}
    assert validations == {"G2:G10001": "Lists!$G$1:$G$3", "H2:H10001": "Lists!$H$1:$H$2"}
    assert [wb["Lists"].cell(r, 7).value for r in (1, 2, 3)] == [k[1] for k in KINDS]
    instructions = [[c.value for c in row] for row in wb["Instructions"].iter_rows()]
    assert any(r[0] == "Vehicle type" and "SUV" in (r[4] or "") for r in instructions)

    # Fill it in as a user would, and read it back.
    ws.append(good_row(0))
    ws.append(["李四", "zz9", "13900139000", 1, 1, "2024-05-06", "Truck", None, "备注"])
    wb.save(path)
    result = xi.read(spec(), path)
    assert result.ok and len(result.rows) == 2, result.errors
    assert result.rows[1]["kind"] == "truck" and result.rows[1]["enterprise"] is None


def test_template_in_chinese(app, tmp_path):
    from flask_babel import lazy_gettext

    s = ImportSpec(columns=[ImportColumn("state", lazy_gettext("State"))], sheet_title="S")
    with app.test_request_context(), force_locale("zh"):
        path = xi.write_template(s, str(tmp_path / "zh.xlsx"))
        from flask_babel import gettext

        expected = gettext("State")
    assert load_workbook(path)["S"]["A1"].value == expected


# ----- converters ------------------------------------------------------------------------
@pytest.mark.parametrize("kind, value, expected", [
    (Integer(), "12", 12), (Integer(), 12.0, 12), (Integer(), " 1,000 ", 1000),
    (Number(places=2), 0.1 + 0.2, decimal.Decimal("0.30")),
    (Number(places=2), "￥1,234.5", decimal.Decimal("1234.50")),
    (Number(places=0), 7, decimal.Decimal("7")),
    (Date(), "2024年1月5日", datetime.date(2024, 1, 5)),
    (Date(), 20240105, datetime.date(2024, 1, 5)),
    (Date(), 45296, datetime.date(2024, 1, 5)),
    (Date(), "2024-01-05 00:00:00", datetime.date(2024, 1, 5)),
    (xi.Text(), 1.5, "1.5"), (xi.Text(), datetime.date(2024, 1, 5), "2024-01-05"),
])
def test_converters(ctx, kind, value, expected):
    assert kind.compile()(value) == expected


@pytest.mark.parametrize("kind, value", [
    (Integer(), "1.5"), (Integer(min_value=0), -1), (Integer(), True),
    (Number(places=2), "1.005"), (Number(), "abc"), (Number(), "NaN"),
    (Number(max_value=10), 11), (Date(), "2024-02-30"), (Date(), -3),
    (Date(), datetime.time(10, 30)), (Integer(), datetime.timedelta(hours=1)),
    (xi.Text(max_length=3), "abcd"), (Boolean(), "perhaps"),
])
def test_converters_refuse(ctx, kind, value):
    with pytest.raises(CellValueError):
        kind.compile()(value)


# ----- saving ------------------------------------------------------------------------------
def test_save_all_flushes_in_batches(ctx):
    class Session:
        def __init__(self):
            self.added, self.flushes = [], 0

        def add(self, obj):
            self.added.append(obj)

        def add_all(self, objs):
            self.added.extend(objs)

        def flush(self):
            self.flushes += 1

    session = Session()
    rows = [{"n": i} for i in range(25)]
    saved = xi.save_all(session, rows, lambda v: None if v["n"] == 3 else
                        ([v, v] if v["n"] == 4 else v), batch=10)
    assert saved == 24 and len(session.added) == 25 and session.flushes == 3


# ----- the background job: all or nothing ------------------------------------------------
SAVED: list = []


def _save_probe(rows, params):
    """Records the rows, and adds one audit row per data row (an existing table) so the
    test sees what was committed; params['fail'] raises after adding them."""
    SAVED.append([r["code"] for r in rows])
    xi.save_all(db.session, rows, lambda v: AuditEvent(action="probe_import",
                                                       detail=v["code"]), batch=2)
    if params.get("fail"):
        raise DomainError("refused while saving")
    return None


xi.import_job("test_xlsx_import", lambda params: spec(), save=_save_probe,
              target_type="probe")


def _submit(app, data: bytes, username="ent.a", **params):
    with app.test_request_context():
        with unscoped():
            user = db.session.query(AppUser).filter_by(username=username).one()
        g.user = user
        job = xi.submit("test_xlsx_import", FileStorage(io.BytesIO(data), filename="销售.xlsx"),
                        title="Import probe", params=params, user=user)
        job_id = job.id
    with app.app_context(), unscoped():
        job = db.session.get(Job, job_id)
        db.session.expunge(job)
    return job


def _probe_rows(app) -> list[str]:
    with app.app_context(), unscoped():
        return sorted(d for (d,) in db.session.query(AuditEvent.detail)
                      .filter_by(action="probe_import"))


def _bytes(path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def test_import_job_commits_every_row_on_success(app, tmp_path):
    SAVED.clear()
    data = _bytes(make_xlsx(tmp_path / "ok.xlsx", [good_row(i) for i in range(5)]))
    job = _submit(app, data)
    assert job.state == DONE, job.error
    assert job.result_path is None and "5" in job.message
    assert SAVED == [["AB0", "AB1", "AB2", "AB3", "AB4"]]
    assert _probe_rows(app) == ["AB0", "AB1", "AB2", "AB3", "AB4"]
    with app.app_context(), unscoped():
        event = db.session.query(AuditEvent).filter_by(action="import").one()
        assert event.target_type == "probe" and "销售.xlsx" in event.detail
        assert os.listdir(xi.upload_dir()) == []  # the upload is gone
    with app.test_request_context():
        g.user = None
        data = xi.outcome(job)
    assert data["state"] == xi.IMPORTED and data["rows"] == 5 and data["errors"] == []


def test_import_job_saves_nothing_when_a_row_is_bad(app, tmp_path):
    SAVED.clear()
    rows = [good_row(i) for i in range(5)]
    rows[3][5] = "not a date"
    job = _submit(app, _bytes(make_xlsx(tmp_path / "bad.xlsx", rows)))
    assert job.state == DONE and job.result_path and job.result_name.endswith(".xlsx")
    assert "Nothing was imported" in job.message or "未导入" in job.message
    assert SAVED == [] and _probe_rows(app) == []
    with app.test_request_context():
        data = xi.outcome(job, limit=10)
        assert data["state"] == xi.REJECTED and data["error_count"] == 1
        assert data["errors"][0]["row"] == 5 and data["errors"][0]["column"] == "Date"
        assert data["download_url"].endswith(f"/jobs/{job.id}/download")
        path = jobs.result_path(job)
        assert path and os.path.dirname(path) == app.config["JOB_DIR"]
        assert os.listdir(xi.upload_dir()) == []


def test_import_job_rolls_back_when_saving_fails(app, tmp_path):
    SAVED.clear()
    data = _bytes(make_xlsx(tmp_path / "ok.xlsx", [good_row(i) for i in range(5)]))
    job = _submit(app, data, fail=True)
    assert job.state == FAILED and job.message == "refused while saving"
    assert len(SAVED) == 1 and _probe_rows(app) == []  # flushed in batches, then rolled back
    with app.app_context(), unscoped():
        assert db.session.query(AuditEvent).filter_by(action="import").count() == 0
    with app.test_request_context():
        assert xi.outcome(job)["state"] == xi.FAILED
        assert os.listdir(xi.upload_dir()) == []


def test_a_wrong_file_is_refused_in_the_request_and_nothing_is_kept(app, tmp_path):
    with pytest.raises(ImportFileRejectedError):
        _submit(app, b"Name,Code\n1,2\n")
    with app.app_context(), unscoped():
        assert db.session.query(Job).filter_by(kind="test_xlsx_import").count() == 0
        assert os.listdir(xi.upload_dir()) == []


def test_upload_names_cannot_leave_the_upload_folder(ctx):
    assert xi.upload_path("../../etc/passwd") is None
    assert xi.upload_path("a" * 32 + ".xlsx").startswith(xi.upload_dir() + os.sep)


def test_stale_uploads_are_purged(ctx):
    stale = os.path.join(xi.upload_dir(), "b" * 32 + ".xlsx")
    fresh = os.path.join(xi.upload_dir(), "c" * 32 + ".xlsx")
    for path in (stale, fresh):
        open(path, "wb").close()
    old = time.time() - 7 * 3600
    os.utime(stale, (old, old))
    assert xi.purge_import_uploads() == 1
    assert not os.path.exists(stale) and os.path.exists(fresh)
    os.remove(fresh)
