"""`python -m bench.xlsx_import`: the X12 importer reading and validating a 10,000-row sheet
of 25 columns, against openpyxl's read-only reader doing nothing but reading the same file.

Two files of the same rows (BENCH_IMPORT_ROWS, default 10000):
  excel     as Excel and LibreOffice write it: shared strings, a dimension, date styles
  openpyxl  as openpyxl writes it: inline strings, no dimension
For each, median of BENCH_REPEAT (default 3) runs of:
  floor     openpyxl load_workbook(read_only=True, data_only=False), every cell's value and
            data_type read (what telling a formula from a value needs), nothing else
  import    xlsx_import.read(): size/type/zip checks, header matching, every cell converted
            (text, integers, decimals, dates, choices, yes/no), a column parse, a cheap
            validate_row (cross-field check) and validate_rows (the same VIN twice)
prints seconds and rows/s (target: import >= 2,000 rows/s) and the error workbook for a
file with 1 % bad rows.
"""

from __future__ import annotations

import datetime
import os
import statistics
import tempfile
import time
import zipfile
from xml.sax.saxutils import escape

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "10000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))

TYPES = [("sedan", "基本型乘用车"), ("mpv", "多用途乘用车"), ("suv", "运动型多用途乘用车"),
         ("cross", "交叉型乘用车"), ("truck", "货车"), ("other", "其他")]


def _spec():
    from app.services.xlsx_import import (
        Boolean,
        CellValueError,
        Date,
        ImportColumn,
        ImportSpec,
        Integer,
        Number,
    )

    def vin(value: str) -> str:
        value = value.upper()
        if len(value) != 17 or not value.isalnum():
            raise CellValueError("VIN: 17 letters and digits")
        return value

    def validate_row(values):
        errors = {}
        if values["buyer_is_enterprise"] and not values["buyer_id"]:
            errors["buyer_id"] = "required for an enterprise"
        if values["price"] is not None and values["price"] > 100_000_000:
            errors["price"] = "too high"
        return values, errors

    def validate_rows(rows):
        seen = {}
        for number, values in rows:
            key = values.get("vin")
            if key in seen:
                yield number, "vin", f"same VIN as row {seen[key]}"
            elif key:
                seen[key] = number

    text = [("buyer", "买方名称"), ("buyer_id", "买方证件号码"), ("buyer_address", "买方地址"),
            ("buyer_mobile", "买方手机"), ("seller", "卖方名称"), ("seller_id", "卖方证件号码"),
            ("seller_address", "卖方地址"), ("seller_mobile", "卖方手机"), ("plate", "车牌号码"),
            ("certificate", "登记证书编号"), ("brand", "品牌型号"), ("office", "转入地车管所"),
            ("unit", "经营单位"), ("agent", "经办人"), ("agent_mobile", "经办人手机"),
            ("remark", "备注")]
    columns = [ImportColumn(k, h, required=k not in ("agent", "agent_mobile", "remark"))
               for k, h in text]
    columns += [
        ImportColumn("vin", "车辆识别代号", parse=vin),
        ImportColumn("type", "车辆类型", choices=TYPES),
        ImportColumn("price", "成交价格（元）", kind=Number(places=2, min_value=0)),
        ImportColumn("sold_on", "交易日期", kind=Date()),
        ImportColumn("mileage", "表显里程（公里）", kind=Integer(min_value=0)),
        ImportColumn("buyer_is_enterprise", "买方是否企业", kind=Boolean()),
        ImportColumn("seller_is_enterprise", "卖方是否企业", kind=Boolean()),
        ImportColumn("registered_on", "初次登记日期", kind=Date()),
        ImportColumn("transfers", "过户次数", kind=Integer(min_value=0)),
    ]
    assert len(columns) == 25
    return ImportSpec(columns=columns, validate_row=validate_row, validate_rows=validate_rows,
                      sheet_title="交易记录")


def _rows(n: int, bad_every: int = 0):
    base = datetime.date(2024, 1, 1)
    for i in range(n):
        row = [f"张三{i}", f"44010119900307{i % 10000:04d}", f"广州市天河区体育西路{i}号",
               13800000000.0 + i, f"广州市二手车经销有限公司{i % 97}", f"91440101MA5{i:07d}",
               f"广州市越秀区中山路{i}号", f"1390000{i % 10000:04d}", f"粤A{i % 100000:05d}",
               f"44000{i:07d}", f"大众朗逸 {1.4 + (i % 3) / 10:.1f}T", "广州市车管所",
               "广州二手车交易市场", "" if i % 3 else f"李四{i}", "" if i % 3 else "13700000000",
               "" if i % 5 else "无",
               f"LSVAU2180N2{i:06d}", TYPES[i % len(TYPES)][1], 50000 + (i % 1000) * 10.5,
               base + datetime.timedelta(days=i % 300), 10000 + i, "否" if i % 4 else "是",
               "是", base - datetime.timedelta(days=365 * 3 + i % 700), i % 4]
        if bad_every and i % bad_every == 0:
            row[16] = "BAD VIN"
        yield row


def write_openpyxl(path: str, spec, rows) -> None:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(str(spec.sheet_title))
    ws.append([str(c.header) for c in spec.columns])
    for row in rows:
        ws.append(row)
    wb.save(path)


def write_excel_like(path: str, spec, rows) -> None:
    """Shared strings, a dimension, a date style: the way Excel writes a workbook."""
    from openpyxl.utils import get_column_letter
    from openpyxl.utils.datetime import to_excel

    strings: dict[str, int] = {}

    def sst(text: str) -> int:
        return strings.setdefault(text, len(strings))

    letters = [get_column_letter(i + 1) for i in range(25)]
    body = []
    all_rows = [[str(c.header) for c in spec.columns], *rows]
    for r, row in enumerate(all_rows, start=1):
        cells = []
        for col, value in enumerate(row):
            ref = f"{letters[col]}{r}"
            if value is None or value == "":
                continue
            if isinstance(value, str):
                cells.append(f'<c r="{ref}" t="s"><v>{sst(value)}</v></c>')
            elif isinstance(value, datetime.date):
                cells.append(f'<c r="{ref}" s="1"><v>{to_excel(value)}</v></c>')
            else:
                cells.append(f'<c r="{ref}"><v>{value}</v></c>')
        body.append(f'<row r="{r}">{"".join(cells)}</row>')
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = "http://schemas.openxmlformats.org/package/2006/relationships"
    ct_sheet = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    sheet = (f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{main}"><dimension '
             f'ref="A1:Y{len(all_rows)}"/><sheetData>{"".join(body)}</sheetData></worksheet>')
    shared = "".join(f"<si><t>{escape(s)}</t></si>" for s in strings)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats'
            '.org/package/2006/content-types"><Default Extension="rels" ContentType="'
            'application/vnd.openxmlformats-package.relationships+xml"/><Default Extension='
            f'"xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
            f'ContentType="{ct_sheet}.sheet.main+xml"/><Override PartName="/xl/worksheets/'
            f'sheet1.xml" ContentType="{ct_sheet}.worksheet+xml"/><Override PartName="/xl/'
            f'sharedStrings.xml" ContentType="{ct_sheet}.sharedStrings+xml"/><Override '
            f'PartName="/xl/styles.xml" ContentType="{ct_sheet}.styles+xml"/></Types>'))
        z.writestr("_rels/.rels", (
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{pkg}"><Relationship '
            f'Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>'))
        z.writestr("xl/workbook.xml", (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{main}" xmlns:r="{rel}">'
            f'<sheets><sheet name="{spec.sheet_title}" sheetId="1" r:id="rId1"/></sheets>'
            '</workbook>'))
        z.writestr("xl/_rels/workbook.xml.rels", (
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{pkg}">'
            f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{rel}/sharedStrings" Target="sharedStrings.xml"/>'
            f'<Relationship Id="rId3" Type="{rel}/styles" Target="styles.xml"/>'
            '</Relationships>'))
        z.writestr("xl/worksheets/sheet1.xml", sheet)
        z.writestr("xl/sharedStrings.xml", (
            f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{main}" count="{len(strings)}" '
            f'uniqueCount="{len(strings)}">{shared}</sst>'))
        z.writestr("xl/styles.xml", (
            f'<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="{main}"><fonts count="1">'
            '<font/></fonts><fills count="1"><fill><patternFill patternType="none"/></fill>'
            '</fills><borders count="1"><border/></borders><cellStyleXfs count="1"><xf '
            'numFmtId="0"/></cellStyleXfs><cellXfs count="2"><xf numFmtId="0"'
            '/><xf numFmtId="14" applyNumberFormat="1"/></cellXfs><cellStyles count="1">'
            '<cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'))


def floor(path: str) -> int:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=False)
    n = 0
    for row in wb.worksheets[0].iter_rows(min_row=2):
        for cell in row:
            cell.value, cell.data_type  # noqa: B018 (what a formula check needs)
        n += 1
    wb.close()
    return n


def _median(fn, repeat: int) -> tuple[float, object]:
    samples, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples), out


def main() -> None:
    os.environ.setdefault("REGPORTAL_INSTANCE", tempfile.mkdtemp(prefix="regportal-bench-"))
    os.environ["CAPTCHA_ENABLED"] = "0"
    from flask_babel import force_locale

    from app import create_app
    from app.services import xlsx_import

    app = create_app({"TESTING": True})
    folder = tempfile.mkdtemp(prefix="regportal-bench-import-")
    with app.test_request_context(), force_locale("zh"):
        spec = _spec()
        files = {"excel": os.path.join(folder, "excel.xlsx"),
                 "openpyxl": os.path.join(folder, "openpyxl.xlsx")}
        write_excel_like(files["excel"], spec, _rows(ROWS))
        write_openpyxl(files["openpyxl"], spec, _rows(ROWS))
        print(f"{ROWS:,} rows x 25 columns; median of {REPEAT}")
        worst = None
        for name, path in files.items():
            size = os.path.getsize(path) / 2**20
            t_floor, n_floor = _median(lambda p=path: floor(p), REPEAT)
            t_import, result = _median(lambda p=path: xlsx_import.read(spec, p), REPEAT)
            assert result.ok and len(result.rows) == ROWS == n_floor, result.errors[:3]
            rate = ROWS / t_import
            worst = rate if worst is None else min(worst, rate)
            print(f"{name:8} {size:5.1f} MiB  openpyxl read-only floor {t_floor:5.2f} s "
                  f"({ROWS / t_floor:6,.0f} rows/s)  import {t_import:5.2f} s "
                  f"({rate:6,.0f} rows/s, {t_floor / t_import:.1f}x the floor)")
        bad = os.path.join(folder, "bad.xlsx")
        write_excel_like(bad, spec, _rows(ROWS, bad_every=100))
        t_read, result = _median(lambda: xlsx_import.read(spec, bad), 1)
        t_write, _ = _median(lambda: xlsx_import.write_error_workbook(
            spec, result, os.path.join(folder, "errors.xlsx")), 1)
        print(f"1 % bad rows: {result.error_count} errors found in {t_read:.2f} s, error "
              f"workbook ({ROWS:,} rows, bad cells marked) written in {t_write:.2f} s")
        print(f"import speed {worst:,.0f} rows/s (target >= 2,000 rows/s including validation)")
    for name in os.listdir(folder):
        os.remove(os.path.join(folder, name))
    os.rmdir(folder)


if __name__ == "__main__":
    main()
