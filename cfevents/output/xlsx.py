"""``-o xlsx``: a workbook a spreadsheet opens ready to use (openpyxl, the ``xlsx`` extra).

Numbers are numeric cells (integers ``#,##0``, fractions ``#,##0.00``, money ``#,##0.00``),
text is always a text cell: a value starting with ``=``, ``+``, ``-`` or ``@`` is stored as a
string (``data_type "s"``), never as a formula, and control characters are shown escaped. Each
sheet has a bold, frozen header row and an autofilter; a workbook is one sheet per view and a
summary sheet of key/value pairs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

from cfevents.errors import UsageError
from cfevents.output.formatters import escape_control

INTEGER = "#,##0"
FRACTION = "#,##0.00"
MAX_WIDTH = 60


@dataclass
class Sheet:
    """One sheet: ``rows`` (dicts) under ``columns`` (keys, headed by ``labels`` or the key)."""

    title: str
    columns: Sequence[str]
    rows: Iterable[Mapping[str, Any]]
    labels: Mapping[str, str] = field(default_factory=dict)


def summary_sheet(pairs: Iterable[tuple[str, Any]], title: str = "summary") -> Sheet:
    """A two-column sheet (``item``, ``value``) of key/value pairs."""
    return Sheet(title, ("item", "value"), [{"item": k, "value": v} for k, v in pairs])


def write_xlsx(sheets: Sequence[Sheet], out: IO[bytes]) -> int:
    """Write the workbook to ``out``; returns the number of data rows of the first sheet."""
    try:
        from openpyxl import Workbook
    except ImportError:
        raise UsageError(
            "-o xlsx needs openpyxl: pip install 'cfevents[xlsx]' (or use -o csv with --safe-csv)"
        ) from None
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)
    counts = []
    for sheet in sheets:
        ws = book.create_sheet(_title(sheet.title))
        headers = [sheet.labels.get(c, c) for c in sheet.columns]
        widths = [len(h) for h in headers]
        for col, text in enumerate(headers, 1):
            _put(ws.cell(row=1, column=col), text).font = Font(bold=True)
        count = 0
        for count, record in enumerate(sheet.rows, 1):
            for col, name in enumerate(sheet.columns, 1):
                target = _put(ws.cell(row=count + 1, column=col), record.get(name))
                widths[col - 1] = max(widths[col - 1], len(str(target.value or "")))
        ws.freeze_panes = "A2"
        if count:
            ws.auto_filter.ref = ws.dimensions
        for col, width in enumerate(widths, 1):
            ws.column_dimensions[ws.cell(row=1, column=col).column_letter].width = min(
                width + 2, MAX_WIDTH
            )
        counts.append(count)
    book.save(out)
    return counts[0] if counts else 0


def _title(text: str) -> str:
    """A legal sheet title (31 characters, none of ``[]:*?/\\``)."""
    return "".join("_" if ch in "[]:*?/\\" else ch for ch in text)[:31] or "sheet"


def _put(cell: Any, value: Any) -> Any:
    """One value as a typed cell: numbers numeric, everything else text (never a formula)."""
    if value is None:
        return cell
    if isinstance(value, bool):
        cell.value = value
    elif isinstance(value, int):
        cell.value = value
        cell.number_format = INTEGER
    elif isinstance(value, (float, Decimal)):
        cell.value = value
        cell.number_format = FRACTION
    else:
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, dict):
            import json

            value = json.dumps(value, sort_keys=True, default=str)
        cell.value = escape_control(str(value))
        cell.data_type = "s"  # a leading = + - @ stays text: never a formula
    return cell
