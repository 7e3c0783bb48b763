"""Glue between the output options and the formatters: build the spec, write to stdout."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any

from cfevents.cli.options import output_format, stdout_is_tty
from cfevents.errors import UsageError


def build_spec(
    *,
    output: str | None,
    fields: str | None,
    no_headers: bool,
    table_format: str | None,
    columns: Sequence[str],
    known: Sequence[str],
    table_columns: Sequence[str] | None = None,
) -> Any:
    """The OutputSpec for these options; bad values are usage errors (exit 2)."""
    from cfevents.fields import LABELS, check_fields, parse_fields
    from cfevents.formatters import OutputSpec

    fmt = output_format(output)
    selected = parse_fields(fields) if fields is not None else None
    if fields is not None and not selected:
        raise UsageError("--fields: give at least one field name")
    if selected:
        problem = check_fields(selected, known)
        if problem:
            raise UsageError(f"--fields: {problem}")
    if table_format is not None:
        from tabulate import tabulate_formats

        if table_format not in tabulate_formats:
            raise UsageError(
                f"--table-format: unknown format {table_format!r}; choose one of {', '.join(sorted(tabulate_formats))}"
            )
        if fmt != "table":
            raise UsageError("--table-format only applies to -o table")
    default_columns = table_columns if (fmt == "table" and table_columns) else columns
    return OutputSpec(
        fmt=fmt,
        columns=tuple(default_columns),
        fields=tuple(selected) if selected else None,
        headers=not no_headers,
        table_format=table_format,
        tty=stdout_is_tty(),
        labels=LABELS if fmt == "table" else {},
        safe_csv=_SETTINGS["safe_csv"],
    )


def emit(records: Iterable[dict[str, Any]], spec: Any) -> int:
    """Stream records to stdout in the chosen format; returns the count written."""
    from cfevents.formatters import write

    out = sys.stdout
    count = write(records, out, spec)
    out.flush()
    return count


def emit_one(record: dict[str, Any], spec: Any) -> None:
    from cfevents.formatters import write_one

    write_one(record, sys.stdout, spec)
    sys.stdout.flush()


# Global output settings, set by the root callback at the start of every run (configure()).
_SETTINGS = {"safe_csv": False}


def configure(*, safe_csv: bool) -> None:
    """Record the global output options (``--safe-csv``) for every spec this run builds."""
    _SETTINGS["safe_csv"] = safe_csv
