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
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from cfevents.output.columns import get_path, row_getter

FORMATS = ("table", "json", "ndjson", "csv", "tsv")

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

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

    @property
    def selected(self) -> Sequence[str]:
        return self.fields if self.fields else self.columns


def escape_control(text: str) -> str:
    """Show control characters as ``\\xNN`` so they cannot drive the terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


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
    encode = json.JSONEncoder(indent=indent, ensure_ascii=False).encode  # as json.dumps, made once
    count = 0
    out.write("[")
    try:
        for record in records:
            obj = project(record, spec.fields) if spec.fields else record
            text = encode(obj)
            out.write((",\n" if count else "\n") + (_indent(text) if indent else text))
            count += 1
    except BrokenPipeError:
        raise
    finally:
        if not out.closed:
            with contextlib.suppress(BrokenPipeError):
                out.write("\n]\n" if count else "]\n")
    return count


def _indent(text: str) -> str:
    return "  " + text.replace("\n", "\n  ")


def write_ndjson(records: Iterable[Record], out: TextIO, spec: OutputSpec) -> int:
    """One JSON object per line."""
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    count = 0
    for record in records:
        obj = project(record, spec.fields) if spec.fields else record
        out.write(encode(obj) + "\n")
        count += 1
    return count


def _write_delimited(records: Iterable[Record], out: TextIO, spec: OutputSpec, delim: str) -> int:
    columns = list(spec.selected)
    writer = csv.writer(out, delimiter=delim, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    write = writer.writerow
    values = row_getter(columns)
    if spec.headers:
        write(columns)
    count = 0
    if spec.tty:
        for record in records:
            write([escape_control(cell(v)) for v in values(record)])
            count += 1
        return count
    # The hot path of every CSV/TSV export: csv writes str, int and float as cell() would
    # (None as an empty field), so only booleans and objects go through cell().
    plain = _CSV_PLAIN
    for record in records:
        write([v if type(v) in plain else cell(v) for v in values(record)])
        count += 1
    return count


_CSV_PLAIN = frozenset({str, int, float, type(None)})


def write_csv(records: Iterable[Record], out: TextIO, spec: OutputSpec) -> int:
    """RFC 4180 quoting, LF line ends, header row of dotted column names."""
    return _write_delimited(records, out, spec, ",")


def write_tsv(records: Iterable[Record], out: TextIO, spec: OutputSpec) -> int:
    """Tab-separated; values holding tabs, quotes or newlines are quoted as in CSV."""
    return _write_delimited(records, out, spec, "\t")


def table_rows(records: Iterable[Record], columns: Sequence[str]) -> list[list[str]]:
    return [[escape_control(cell(get_path(r, c))) for c in columns] for r in records]


def write_table(records: Iterable[Record], out: TextIO, spec: OutputSpec) -> int:
    """A table: rich on a terminal, plain untruncated tabulate when piped or with a format."""
    columns = list(spec.selected)
    rows = table_rows(records, columns)
    headers = [spec.labels.get(c, c) for c in columns] if spec.headers else []
    if spec.tty and spec.table_format is None:
        _write_rich(rows, headers, out)
    else:
        _write_tabulate(rows, headers, out, spec.table_format or "simple")
    return len(rows)


def _write_tabulate(rows: list[list[str]], headers: list[str], out: TextIO, fmt: str) -> None:
    from tabulate import tabulate

    if not rows and not headers:
        return
    text = tabulate(rows, headers=headers or (), tablefmt=fmt, disable_numparse=True)
    out.write(text + "\n")


def _write_rich(rows: list[list[str]], headers: list[str], out: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(show_header=bool(headers), header_style="bold", box=None, pad_edge=False)
    for name in headers or [""] * (len(rows[0]) if rows else 0):
        table.add_column(Text(name), overflow="fold")
    for row in rows:
        table.add_row(*(Text(value) for value in row))
    Console(file=out, markup=False, highlight=False, emoji=False).print(table)


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


def write_one(record: Record, out: TextIO, spec: OutputSpec) -> None:
    """Write a single object: JSON as the object itself, tables as field/value pairs."""
    if spec.fmt == "json":
        obj = project(record, spec.fields) if spec.fields else record
        out.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
    elif spec.fmt == "table":
        pairs = [{"field": c, "value": get_path(record, c)} for c in spec.selected]
        vertical = OutputSpec(
            fmt="table",
            columns=("field", "value"),
            headers=spec.headers,
            table_format=spec.table_format,
            tty=spec.tty,
        )
        write_table(pairs, out, vertical)
    else:
        write([record], out, spec)
