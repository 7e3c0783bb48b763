"""Streaming, column-driven writers for table, JSON, NDJSON, CSV and TSV.

Writers take an iterable of records (plain dicts as CC returns them) and a :class:`OutputSpec`
and write to a text stream. All but the table stream: memory stays flat however many records
pass through. Values are data, never markup: the rich table uses ``Text`` cells and control
characters are shown escaped on terminals, so an app called ``[red]x`` or one containing
``\\x1b[2J`` prints literally.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TextIO, cast

from cfevents.output.columns import get_path, row_getter
from cfevents.output.table import HIDE_FIRST, fit_widths

__all__ = ["HIDE_FIRST", "fit_widths"]  # the table's rules, kept importable from here

FORMATS = ("table", "json", "ndjson", "csv", "tsv")

# What must never reach a terminal raw: C0 controls (ESC starts CSI/OSC sequences), DEL, C1
# controls (0x9b is a one-byte CSI) and the bidi marks, embeddings, overrides and isolates that
# reorder what a reader sees ("Trojan Source").
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f{_BIDI}]")
# JSON already escapes C0 controls inside strings; these are what it leaves raw.
_JSON_TERMINAL_UNSAFE = re.compile(f"[\\x7f-\\x9f{_BIDI}]")
# Spreadsheets run a cell starting with these as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# TSV has no quoting: these four are written as two-character escapes (README "Output formats").
_TSV_SPECIAL = re.compile(r"[\\\n\r]")
_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})

Record = Mapping[str, Any]


@dataclass(frozen=True)
class OutputSpec:
    """How to render records.

    ``columns`` is the default column set for csv/tsv/table; ``fields`` (from ``--fields``)
    overrides it for every format, JSON included.
    """

    fmt: str = "table"
    columns: Sequence[str] = ()
    fields: Sequence[str] | None = None
    headers: bool = True
    table_format: str | None = None
    tty: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    safe_csv: bool = False  # --safe-csv: neutralise spreadsheet formulas in csv/tsv cells
    wide: bool = False  # -o wide: a table with full GUIDs and every column, however wide
    local_time: bool = False  # --local-time: table timestamps in the local time zone
    age: bool = False  # a terminal table gets an "age" column after created_at (crashes)
    note: Callable[[str], None] | None = None  # where the table says which columns it hid
    hide: Sequence[str] = ()  # a terminal table too wide hides these first, in this order
    keep: Sequence[str] = ()  # ... and never these (the column a command exists to show)
    short_guids: bool = True  # a terminal table shows GUIDs' first 8 characters (not -o wide)

    @property
    def selected(self) -> Sequence[str]:
        return self.fields if self.fields else self.columns


def escape_control(text: str) -> str:
    """Show control characters as ``\\xNN`` (bidi controls as ``\\uNNNN``) so they cannot
    drive or reorder the terminal. The one escaping function for tables, csv/tsv on a terminal
    and every stderr line (``cfevents.cli`` errors, notes, warnings, the ``-v`` log)."""
    return _CONTROL.sub(_escape_char, text)


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def json_terminal_safe(text: str) -> str:
    """Encoded JSON with DEL, C1 and bidi controls as ``\\uNNNN``: the same JSON value, inert
    on a terminal (``json`` escapes C0 controls itself)."""
    return _JSON_TERMINAL_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def neutralise_formula(text: str) -> str:
    """``--safe-csv``: a leading ``'`` on cells a spreadsheet would run as a formula."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def tsv_escape(text: str) -> str:
    """TSV's rule: backslash, tab, LF and CR as ``\\\\``, ``\\t``, ``\\n``, ``\\r``."""
    return text.translate(_TSV_ESCAPES)


def cell(value: Any) -> str:
    """One value as CSV/table text: nulls empty, objects as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


def project(record: Record, fields: Sequence[str]) -> dict[str, Any]:
    """The ``--fields`` view of a record for JSON output: ``{"app.name": ...}`` in order."""
    return {name: get_path(record, name) for name in fields}


def write_json(records: Iterable[Record], out: TextIO, spec: OutputSpec) -> int:
    """Stream one JSON array; it is closed even if the iterator fails midway."""
    indent = 2 if spec.tty else None
    ascii_only = not _utf(out)
    encode = json.JSONEncoder(
        indent=indent, ensure_ascii=ascii_only, default=json_default
    ).encode  # json.dumps, made once
    count = 0
    out.write("[")
    try:
        for record in records:
            obj = project(record, spec.fields) if spec.fields else record
            text = encode(obj)
            if spec.tty:
                text = json_terminal_safe(text)
            out.write((",\n" if count else "\n") + (_indent(text) if indent else text))
            count += 1
    except BrokenPipeError:
        raise
    finally:
        if not out.closed:
            with contextlib.suppress(BrokenPipeError):
                out.write("\n]\n" if count else "]\n")
    return count


def json_default(value: Any) -> Any:
    """Money (``Decimal``) as a JSON number: its shortest float text, which for amounts of
    up to 15 digits is the decimal itself (``12.3`` for ``12.30``)."""
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _utf(out: TextIO) -> bool:
    """Whether ``out`` can take any character (else JSON is written as pure ASCII, still valid)."""
    encoding = getattr(out, "encoding", None) or "utf-8"
    return encoding.lower().replace("_", "-").startswith("utf")


def _indent(text: str) -> str:
    return "  " + text.replace("\n", "\n  ")


def write_ndjson(records: Iterable[Record], out: TextIO, spec: OutputSpec) -> int:
    """One JSON object per line."""
    plain = json.JSONEncoder(
        ensure_ascii=not _utf(out), separators=(",", ":"), default=json_default
    ).encode
    encode: Callable[[Any], str] = (
        (lambda obj: json_terminal_safe(plain(obj))) if spec.tty else plain
    )
    count = 0
    for record in records:
        obj = project(record, spec.fields) if spec.fields else record
        out.write(encode(obj) + "\n")
        count += 1
    return count


class _LfRows:
    """Rows written with ``\\r\\n`` arrive as ``\\n``.

    The csv module quotes a value holding a character of the line terminator, so writing with
    ``\\r\\n`` is what makes it quote a lone CR (with ``\\n`` it would not, and a reader that
    splits lines on CR would see a broken row); the row's own terminator becomes ``\\n``.
    """

    __slots__ = ("write",)

    def __init__(self, out: TextIO) -> None:
        write = out.write
        self.write: Callable[[str], Any] = lambda row: write(row[:-2] + "\n")


def write_csv(records: Iterable[Record], out: TextIO, spec: OutputSpec) -> int:
    """RFC 4180 quoting (CR included), LF line ends, header row of dotted column names."""
    columns = list(spec.selected)
    writer = csv.writer(
        _LfRows(out), delimiter=",", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL
    )
    write = writer.writerow
    values = row_getter(columns)
    if spec.headers:
        write(columns)
    count = 0
    if spec.tty or spec.safe_csv:
        clean = _cleaner(spec)
        for record in records:
            write([clean(v) for v in values(record)])
            count += 1
        return count
    # The hot path of every CSV export: csv writes str, int and float as cell() would
    # (None as an empty field), so only booleans and objects go through cell().
    plain = _CSV_PLAIN
    for record in records:
        write([v if type(v) in plain else cell(v) for v in values(record)])
        count += 1
    return count


_CSV_PLAIN = frozenset({str, int, float, type(None)})


def _cleaner(spec: OutputSpec, escape: Callable[[str], str] | None = None) -> Callable[[Any], str]:
    """One value as a csv/tsv cell: ``--safe-csv`` (text values only: -5 stays a number), then
    the format's own ``escape``, then escaping for a terminal."""
    safe, tty = spec.safe_csv, spec.tty

    def clean(value: Any) -> str:
        text = cell(value)
        if safe and type(value) is str:
            text = neutralise_formula(text)
        if escape is not None:
            text = escape(text)
        return escape_control(text) if tty else text

    return clean


def write_tsv(records: Iterable[Record], out: TextIO, spec: OutputSpec) -> int:
    """Tab-separated, no quoting: backslash, tab, LF and CR are escaped (see tsv_escape)."""
    columns = list(spec.selected)
    values = row_getter(columns)
    write = out.write
    if spec.headers:
        write("\t".join(tsv_escape(c) for c in columns) + "\n")
    count = 0
    if spec.tty or spec.safe_csv:
        clean = _cleaner(spec, tsv_escape)
        for record in records:
            write("\t".join([clean(v) for v in values(record)]) + "\n")
            count += 1
        return count
    # The hot path: join first; escape cell by cell only when the row holds something to escape.
    tabs, special = len(columns) - 1, _TSV_SPECIAL.search
    for record in records:
        texts = [v if type(v) is str else cell(v) for v in values(record)]
        line = "\t".join(texts)
        if line.count("\t") != tabs or special(line):
            line = "\t".join([tsv_escape(t) for t in texts])
        write(line + "\n")
        count += 1
    return count


def table_rows(records: Iterable[Record], columns: Sequence[str]) -> list[list[str]]:
    return [[_table_cell(r, c) for c in columns] for r in records]


def _table_cell(record: Record, column: str) -> str:
    value = get_path(record, column)
    if column == CONTEXT_COLUMN and isinstance(value, list):  # one line per change
        return "\n".join(escape_control(context_line(entry)) for entry in value)
    return escape_control(cell(value))


CONTEXT_COLUMN = "context"


def context_line(entry: Any) -> str:
    """One ``--context`` entry as a table line: ``<time> <type> by <actor>``."""
    if not isinstance(entry, dict):
        return cell(entry)
    actor = entry.get("actor")
    return " ".join(
        str(part)
        for part in (entry.get("created_at"), entry.get("type"), f"by {actor}" if actor else None)
        if part
    )


_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
SHORT_GUID = 8  # a GUID on a terminal table: its first 8 characters (full with -o wide)
AGE_COLUMN = "age"


def local_time(text: str) -> str:
    """An RFC 3339 timestamp in the local time zone, to the second (``cf events`` shows local
    time too); anything else unchanged."""
    if not _TIMESTAMP.fullmatch(text):
        return text
    from datetime import datetime

    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.astimezone().isoformat(timespec="seconds")


def age(text: str, now: float | None = None) -> str:
    """How long ago an RFC 3339 timestamp was: 42s, 5m, 3h, 12d."""
    if not _TIMESTAMP.fullmatch(text):
        return ""
    import time
    from datetime import datetime

    then = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    seconds = max(0, int((time.time() if now is None else now) - then))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def write_table(records: Iterable[Record], out: TextIO, spec: OutputSpec) -> int:
    """A table, streamed (cfevents.output.table): fitted to a terminal, plain aligned text when
    piped; a ``--table-format`` table is tabulate's, written when every row is in."""
    from cfevents.output import table

    columns = list(spec.selected)
    terminal = spec.tty and spec.table_format is None
    at = columns.index("created_at") if "created_at" in columns else -1
    with_age = terminal and spec.age and not spec.fields and at >= 0
    shown = [*columns[: at + 1], AGE_COLUMN, *columns[at + 1 :]] if with_age else columns
    headers = [spec.labels.get(c, c) for c in shown] if spec.headers else []
    make_row = _row_maker(columns, spec, terminal, at if with_age else -1)
    if spec.table_format is not None:
        rows = [make_row(r) for r in records]
        _write_tabulate(rows, headers, out, spec.table_format)
        return len(rows)
    if not terminal:
        plain = table.Layout
        return table.write_streamed(
            records,
            out,
            headers,
            make_row,
            lambda rows: plain(
                _piped_widths(rows, headers, len(shown)),
                range(len(shown)),
                cut=False,
                measure=len,
                right=numeric_columns(rows),
            ),
        )
    return table.write_streamed(
        records,
        out,
        headers,
        make_row,
        lambda rows: _terminal_layout(rows, headers, shown, out, spec),
        bold=_styled(out),
        rules=False,
        bare_header=False,
    )


def _row_maker(
    columns: Sequence[str], spec: OutputSpec, terminal: bool, age_after: int
) -> Callable[[Record], list[str]]:
    """One record as the table's cells: escaped, local time, short GUIDs, the age column."""
    values = row_getter(columns)
    short = terminal and not spec.wide and spec.short_guids
    convert = spec.local_time

    context = columns.index(CONTEXT_COLUMN) if CONTEXT_COLUMN in columns else -1

    def make_row(record: Record) -> list[str]:
        row = [escape_control(cell(v)) for v in values(record)]
        if context >= 0:  # one line per change
            row[context] = _table_cell(record, CONTEXT_COLUMN)
        if age_after >= 0:
            row.insert(age_after + 1, age(row[age_after]))
        if convert:
            row = [local_time(value) for value in row]
        if short:
            row = [_short_guid(value) for value in row]
        return row

    return make_row


def _piped_widths(rows: list[list[str]], headers: list[str], ncols: int) -> list[int]:
    """tabulate's ``simple`` widths: the longest value, and room for a header and two."""
    from cfevents.output.table import natural_widths

    widths = natural_widths(rows, [], len, ncols)
    if headers:
        widths = [max(w, len(h) + 2) for w, h in zip(widths, headers, strict=True)]
    return widths


def _styled(out: TextIO) -> bool:
    """Whether the header may be bold: ``out`` is a terminal, and not a dumb one."""
    import os

    try:
        terminal = out.isatty()
    except (AttributeError, ValueError):
        return False
    return terminal and os.environ.get("TERM", "") != "dumb"


def _terminal_layout(
    rows: list[list[str]], headers: list[str], shown: list[str], out: TextIO, spec: OutputSpec
) -> Any:
    """Widths from the first page, fitted to the terminal (unless -o wide); hidden columns are
    named in a note."""
    from rich.cells import cell_len

    from cfevents.output.table import MIN_CELL, Layout, natural_widths, terminal_width

    ncols = len(shown)
    names = headers or [spec.labels.get(c, c) for c in shown]
    natural = [max(w, 1) for w in natural_widths(rows, headers, cell_len, ncols)]
    right = numeric_columns(rows)
    if spec.wide:
        return Layout(natural, range(ncols), cut=False, measure=cell_len, right=right)
    minimum = []
    for index in range(ncols):
        values = [row[index] for row in rows]
        longest = max((cell_len(v) for v in values), default=0)
        whole = values and all(_TIMESTAMP.fullmatch(v) or not v for v in values)
        head = cell_len(headers[index]) if headers else 0
        minimum.append(max(head, longest if whole else min(longest, MIN_CELL), 1))
    width = terminal_width(out)
    hide = [shown.index(c) for c in spec.hide if c in shown] if spec.hide else None
    keep = [shown.index(c) for c in spec.keep if c in shown]
    widths, kept = fit_widths(natural, minimum, width, names, hide=hide, keep=keep)
    if len(kept) < ncols and rows and spec.note is not None:
        hidden = [names[i] or str(i) for i in range(ncols) if i not in kept]
        spec.note(f"hid {', '.join(hidden)} to fit {width} columns; -o wide or --fields shows them")
    layout = Layout(widths, kept, cut=True, measure=cell_len, right=right)
    if not _utf(out):
        layout.ellipsis = "~"
    return layout


def _short_guid(value: str) -> str:
    return value[:SHORT_GUID] if _GUID.fullmatch(value) else value


_NUMBER = re.compile(r"-?\d[\d,]*(\.\d+)?")


def numeric_columns(rows: Sequence[Sequence[str]]) -> list[bool]:
    """Per column: every non-empty cell below the header is a number (``1,234.56``; a TOTAL
    row's label aside), so the column is right-aligned."""
    ncols = len(rows[0]) if rows else 0
    return [
        any(_NUMBER.fullmatch(row[i]) for row in rows)
        and all(not row[i] or row[i] == "TOTAL" or _NUMBER.fullmatch(row[i]) for row in rows)
        for i in range(ncols)
    ]


def _write_tabulate(rows: list[list[str]], headers: list[str], out: TextIO, fmt: str) -> None:
    from tabulate import tabulate

    if not rows and not headers:
        return
    align = ["right" if n else "left" for n in numeric_columns(rows)] or None
    text = tabulate(
        rows, headers=headers or (), tablefmt=fmt, disable_numparse=True, colalign=align
    )
    out.write(text + "\n")


WRITERS: dict[str, Callable[[Iterable[Record], TextIO, OutputSpec], int]] = {
    "table": write_table,
    "json": write_json,
    "ndjson": write_ndjson,
    "csv": write_csv,
    "tsv": write_tsv,
}


def write(records: Iterable[Record], out: TextIO, spec: OutputSpec) -> int:
    """Write records in ``spec.fmt``; return how many were written."""
    return WRITERS[spec.fmt](records, out, spec)


@dataclass(frozen=True)
class FormattedPage:
    """A page already formatted (by :func:`page_formatter`, in another thread): the text it adds
    to the output and how many records that is. :func:`write_pages` writes the text as it is."""

    text: str
    count: int


def page_formatter(out: TextIO, spec: OutputSpec) -> Callable[[Sequence[Record]], str] | None:
    """The text one page adds to ``out`` mid-stream (no header row), or None where
    :func:`write_pages` goes record by record (a terminal, ``--safe-csv``, a table). Each call
    makes a new formatter: one per thread."""
    if spec.tty or spec.safe_csv or spec.fmt not in _PAGE_FORMATS:
        return None
    return _PAGE_FORMATS[spec.fmt](out, spec)


def write_pages(
    pages: Iterable[Sequence[Record] | FormattedPage], out: TextIO, spec: OutputSpec
) -> int:
    """Write records that come in pages (an export); return how many were written.

    The same bytes as :func:`write` over the pages' records. CSV, TSV, NDJSON and JSON (not on
    a terminal, no ``--safe-csv``) format each page into one string and write it with one call:
    the per-row work left is the row itself, and each page is in ``out`` before the next one is
    asked for (an export commits its checkpoint then). A :class:`FormattedPage` is written as
    it is. Other formats go record by record.
    """
    page_text = page_formatter(out, spec)
    if page_text is None:
        # a FormattedPage comes only from a page_formatter, which these formats do not have
        records = itertools.chain.from_iterable(cast(Iterable[Sequence[Record]], pages))
        return write(records, out, spec)
    if spec.headers and spec.fmt in ("csv", "tsv"):
        write([], out, spec)  # the header row
    count = 0
    write_text = out.write
    json_array = spec.fmt == "json"
    if json_array:
        write_text("[")
    try:
        for page in pages:
            if isinstance(page, FormattedPage):
                text, size = page.text, page.count
            else:
                text, size = page_text(page), len(page)
            if json_array and not count and text:
                text = "\n" + text[2:]  # the first record: no comma before it
            write_text(text)
            count += size
            del page, text  # not kept alive while the next page is fetched and decoded
    finally:
        if json_array and not out.closed:
            with contextlib.suppress(BrokenPipeError):
                write_text("\n]\n" if count else "]\n")
    return count


def _csv_page(out: TextIO, spec: OutputSpec) -> Callable[[Sequence[Record]], str]:
    rows: list[str] = []
    writer = csv.writer(_Collect(rows.append), lineterminator="\r\n")  # as write_csv
    columns = list(spec.selected)
    values, plain, width = row_getter(columns), _CSV_PLAIN, len(columns)

    def text(page: Sequence[Record]) -> str:
        if width > 1:  # one value per row would be ambiguous: a lone empty value is ""
            joined = _plain_csv_page(page, values, width)
            if joined is not None:
                return joined
        table = list(map(values, page))
        if not set(map(type, itertools.chain.from_iterable(table))) <= plain:
            table = [[v if type(v) in plain else cell(v) for v in row] for row in table]
        writer.writerows(table)
        del table
        joined = "".join(rows)
        if joined.count("\r") == len(rows):  # every CR ends a row: LF line ends at once
            joined = joined.replace("\r\n", "\n")
        else:  # a value holds a CR: only each row's own terminator changes
            joined = "".join([row[:-2] + "\n" for row in rows])
        rows.clear()
        return joined

    return text


_NULL_AS_EMPTY: dict[Any, str] = {None: ""}
_CHUNK = 500  # rows joined at a time: their values are still in the CPU cache when joined


def _plain_csv_page(
    page: Sequence[Record], values: Callable[[Any], list[Any]], width: int
) -> str | None:
    """:func:`_plain_csv` over a page, ``_CHUNK`` rows at a time; None if any chunk is not
    plain (the page then goes through the csv module)."""
    parts = []
    for start in range(0, len(page), _CHUNK):
        rows = page[start : start + _CHUNK]
        part = _plain_csv(list(itertools.chain.from_iterable(map(values, rows))), width, len(rows))
        if part is None:
            return None
        parts.append(part)
    return "".join(parts)


def _plain_csv(flat: list[Any], width: int, rows: int) -> str | None:
    """A page's CSV text (LF line ends) when no value needs quoting, else None.

    ``flat`` holds the page's values row after row, ``width`` to a row. Strings, integers,
    floats and nulls are written as the csv module writes them (``str``; None as an empty
    field), joined in C. Whether a value needed quoting is read off the result: a comma, quote,
    CR or LF inside a value adds one that the counts below do not expect, and the page then
    goes through the csv module instead."""
    if not rows:
        return ""
    if not set(map(type, flat)) <= _CSV_PLAIN:
        return None  # booleans and objects: cell()
    texts = iter(list(map(str, map(_NULL_AS_EMPTY.get, flat, flat))))
    joined = "\n".join(map(",".join, zip(*[texts] * width, strict=True)))
    joined += "\n"
    if '"' in joined or "\r" in joined:
        return None
    if joined.count("\n") != rows or joined.count(",") != rows * (width - 1):
        return None
    return joined


def _tsv_page(out: TextIO, spec: OutputSpec) -> Callable[[Sequence[Record]], str]:
    columns = list(spec.selected)
    values, tabs, special = row_getter(columns), len(columns) - 1, _TSV_SPECIAL.search

    def line(record: Record) -> str:
        texts = [v if type(v) is str else cell(v) for v in values(record)]
        joined = "\t".join(texts)
        if joined.count("\t") != tabs or special(joined):
            joined = "\t".join([tsv_escape(t) for t in texts])
        return joined

    return lambda page: "".join([line(r) + "\n" for r in page])


def _ndjson_page(out: TextIO, spec: OutputSpec) -> Callable[[Sequence[Record]], str]:
    encode = json.JSONEncoder(ensure_ascii=not _utf(out), separators=(",", ":")).encode
    fields = spec.fields
    if fields:
        return lambda page: "".join([encode(project(r, fields)) + "\n" for r in page])
    return lambda page: "".join([encode(r) + "\n" for r in page])


def _json_page(out: TextIO, spec: OutputSpec) -> Callable[[Sequence[Record]], str]:
    """As write_json (not on a terminal): each record after ``,\\n`` (write_pages drops the
    first comma)."""
    encode = json.JSONEncoder(ensure_ascii=not _utf(out), default=json_default).encode
    fields = spec.fields
    if fields:
        return lambda page: "".join([",\n" + encode(project(r, fields)) for r in page])
    return lambda page: "".join([",\n" + encode(r) for r in page])


class _Collect:
    """A csv writer's target that keeps each row's text (``write`` is ``list.append``)."""

    __slots__ = ("write",)

    def __init__(self, write: Callable[[str], Any]) -> None:
        self.write = write


_PAGE_FORMATS: dict[str, Callable[[TextIO, OutputSpec], Callable[[Sequence[Record]], str]]] = {
    "csv": _csv_page,
    "tsv": _tsv_page,
    "ndjson": _ndjson_page,
    "json": _json_page,
}


def write_one(record: Record, out: TextIO, spec: OutputSpec) -> None:
    """Write a single object: JSON as the object itself, tables as field/value pairs."""
    if spec.fmt == "json":
        obj = project(record, spec.fields) if spec.fields else record
        text = json.dumps(obj, indent=2, ensure_ascii=not _utf(out), default=json_default)
        out.write((json_terminal_safe(text) if spec.tty else text) + "\n")
    elif spec.fmt == "table":
        pairs = [{"field": c, "value": get_path(record, c)} for c in spec.selected]
        vertical = OutputSpec(
            fmt="table",
            columns=("field", "value"),
            headers=spec.headers,
            table_format=spec.table_format,
            tty=spec.tty,
            wide=spec.wide,
            local_time=spec.local_time,
            short_guids=False,
            keep=("field", "value"),
        )
        write_table(pairs, out, vertical)
        if spec.tty and not spec.wide and spec.note is not None:
            _note_shortened(pairs, out, spec.note)
    else:
        write([record], out, spec)


def _note_shortened(pairs: list[dict[str, Any]], out: TextIO, note: Callable[[str], None]) -> None:
    """The field/value view on a terminal: say when a value was cut to fit."""
    from rich.cells import cell_len

    from cfevents.output.table import GAP, terminal_width

    width = terminal_width(out)
    room = width - GAP - max((len(p["field"]) for p in pairs), default=0)
    cut = [p["field"] for p in pairs if cell_len(escape_control(cell(p["value"]))) > room]
    if cut:
        note(f"shortened {', '.join(cut)} to fit {width} columns; -o wide or -o json shows all")
