"""Streaming .xlsx export (SPEC X11): write-only workbook (flat memory), rows from any
iterable, formula injection neutralised. Views pass their own scoped, filtered query."""

from __future__ import annotations

import contextlib
import datetime
import os
import tempfile
from collections.abc import Iterable, Sequence

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

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


# Excel's last row is 1,048,576: a larger export continues on another sheet.
MAX_SHEET_ROWS = 1_048_575


def temp_path(suffix: str = ".xlsx") -> str:
    fd, path = tempfile.mkstemp(suffix=suffix)
    os.close(fd)
    return path


def write_rows(path: str, headers: Sequence[str], rows: Iterable[Sequence],
               sheet_title: str = "Sheet1") -> int:
    """Stream rows into a write-only workbook saved at `path`; returns the row count.
    Memory stays flat: openpyxl spills each sheet to a temporary file as rows arrive."""
    wb = Workbook(write_only=True)
    title = _sheet_title(sheet_title)
    ws = _new_sheet(wb, title, headers)
    count = in_sheet = 0
    for row in rows:
        if in_sheet == MAX_SHEET_ROWS:
            ws = _new_sheet(wb, _sheet_title(f"{title[:27]} ({len(wb.worksheets) + 1})"),
                            headers)
            in_sheet = 0
        ws.append([safe_value(v) for v in row])
        count += 1
        in_sheet += 1
    wb.save(path)
    return count


def written(write, suffix: str = ".xlsx") -> str:
    """A temporary file filled by `write(path)`; removed again if writing fails. The caller
    sends it (app.views.base.send_and_remove) or removes it."""
    path = temp_path(suffix)
    try:
        write(path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(path)
        raise
    return path


def write_workbook(headers: Sequence[str], rows: Iterable[Sequence], sheet_title: str = "Sheet1",
                   path: str | None = None) -> str:
    """Write rows to `path` (default: a temporary file the caller removes); returns it."""
    path = path or temp_path()
    write_rows(path, headers, rows, sheet_title)
    return path


_SHEET_TITLE_FORBIDDEN = str.maketrans({c: " " for c in "[]:*?/\\"})


def _sheet_title(title: str) -> str:
    return (str(title or "").translate(_SHEET_TITLE_FORBIDDEN).strip()[:31]) or "Sheet1"


def _new_sheet(wb, title: str, headers: Sequence[str]):
    ws = wb.create_sheet(title=title)
    header_cells = []
    for h in headers:
        cell = WriteOnlyCell(ws, value=safe_value(str(h)))
        cell.font = Font(bold=True)
        header_cells.append(cell)
    ws.append(header_cells)
    return ws
