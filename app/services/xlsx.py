"""Streaming .xlsx export (SPEC X11): write-only workbook (flat memory), rows from any
iterable, formula injection neutralised. Views pass their own scoped, filtered query."""

from __future__ import annotations

import datetime
import os
import tempfile
from collections.abc import Iterable, Sequence

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

# A cell starting with one of these is run as a formula by Excel/LibreOffice (CSV/DDE
# injection); prefix a quote so it is shown as text.
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "|", "%")
_ILLEGAL = {c: None for c in range(0, 32) if c not in (9, 10, 13)}


def safe_value(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "✓" if value else ""
    if isinstance(value, (int, float, datetime.date, datetime.datetime)):
        return value
    text = str(value).translate(_ILLEGAL)
    if text.startswith(_FORMULA_TRIGGERS):
        text = "'" + text
    return text


def write_workbook(headers: Sequence[str], rows: Iterable[Sequence], sheet_title: str = "Sheet1"
                   ) -> str:
    """Write rows to a temporary .xlsx file and return its path (caller removes it)."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=sheet_title[:31] or "Sheet1")
    header_cells = []
    for h in headers:
        cell = WriteOnlyCell(ws, value=safe_value(str(h)))
        cell.font = cell.font.copy(bold=True)
        header_cells.append(cell)
    ws.append(header_cells)
    count = 0
    for row in rows:
        ws.append([safe_value(v) for v in row])
        count += 1
    fd, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(fd)
    wb.save(path)
    return path
