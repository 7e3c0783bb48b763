"""Glue between the output options and the formatters: build the spec, write results to stdout,
and word what a listing left out ("showing N of M") on stderr.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from cfevents.cli.runtime import Runtime
from cfevents.errors import UsageError

if TYPE_CHECKING:
    from cfevents.events.listing import Listing, Truncation
    from cfevents.output.formatters import OutputSpec


def shows(spec: OutputSpec, path: str) -> bool:
    """Whether output with ``spec`` shows ``path`` (a whole-record JSON format shows all)."""
    if spec.fields is not None:
        names = spec.fields
    elif spec.fmt in ("json", "ndjson", "yaml"):
        return True
    else:
        names = spec.columns
    return any(path == name or path.startswith(name + ".") for name in names)


def build_spec(
    rt: Runtime,
    kind: str,
    *,
    output: str | None,
    fields: str | None,
    no_headers: bool,
    table_format: str | None,
) -> OutputSpec:
    """The OutputSpec for these options and column set (``COLUMN_SETS[kind]``); bad values are
    usage errors (exit 2)."""
    from cfevents.output.columns import COLUMN_SETS, LABELS, check_fields, parse_fields
    from cfevents.output.formatters import OutputSpec

    columns = COLUMN_SETS[kind]
    fmt, wide = format_choice(rt, output)
    selected = parse_fields(fields) if fields is not None else None
    if fields is not None and not selected:
        raise UsageError("--fields: give at least one field name")
    if selected:
        problem = check_fields(
            selected,
            columns.columns if columns.strict else columns.known,
            columns.extra if columns.strict else None,
        )
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
    default_columns = columns.table if (fmt == "table" and columns.table) else columns.columns
    return OutputSpec(
        fmt=fmt,
        columns=tuple(default_columns),
        fields=tuple(selected) if selected else None,
        headers=not no_headers,
        table_format=table_format,
        tty=rt.env.stdout_isatty(),
        labels=LABELS if fmt == "table" else {},
        safe_csv=bool(_SETTINGS["safe_csv"]),
        wide=wide,
        local_time=bool(_SETTINGS["local_time"]) and fmt == "table",
        age=kind == "crashes",
        note=rt.note,
        hide=columns.hide,
        keep=columns.keep,
    )


def output_format(value: str | None, env: Mapping[str, str]) -> str:
    from cfevents.output.formatters import FORMATS

    fmt = (value or env.get("CFEVENTS_OUTPUT") or "table").strip().lower()
    if fmt not in FORMATS:
        source = "--output" if value else "CFEVENTS_OUTPUT"
        raise UsageError(f"{source}: unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return fmt


def format_choice(rt: Runtime, output: str | None) -> tuple[str, bool]:
    """The format -o (or $CFEVENTS_OUTPUT) asks for, and whether it is ``wide``: the table
    with full GUIDs and every column, however wide (usage errors for unknown formats)."""
    requested = (output or rt.env.env.get("CFEVENTS_OUTPUT") or "").strip().lower()
    if requested == "wide":
        return "table", True
    return output_format(output, rt.env.env), False


def needs_names(spec: OutputSpec) -> bool:
    """Whether the output shows org/space names (then they are looked up)."""
    if spec.fields:
        selected = spec.fields
    elif spec.fmt in ("json", "ndjson"):
        return True
    else:
        selected = spec.columns
    return any(
        f.split(".")[0] in ("organization", "space") and not f.endswith(".guid") for f in selected
    )


def emit(rt: Runtime, records: Iterable[Any], spec: OutputSpec) -> int:
    """Stream records to stdout in the chosen format; returns the count written."""
    from cfevents.output.formatters import write

    out = rt.env.stdout
    count = write(records, out, spec)
    out.flush()
    return count


def emit_one(rt: Runtime, record: Any, spec: OutputSpec) -> None:
    from cfevents.output.formatters import write_one

    write_one(record, rt.env.stdout, spec)
    rt.env.stdout.flush()


def show(
    rt: Runtime,
    listing: Listing[Any],
    spec: OutputSpec,
    *,
    default_limit: bool,
    nothing: str | None = None,
    filtered: str = "",
    noun: str = "events",
) -> None:
    """Write a listing, then the stderr notes: why it is empty, or what the default limit cut.
    ``nothing`` is what an empty result on a terminal says ("no crashes since 7d"); ``filtered``
    names the filters applied after fetching, which an empty result reports as "scanned N.
    A long read shows its progress line meanwhile (cli/progress.read_progress), gone before
    the notes."""
    from cfevents.cli.progress import read_progress

    with read_progress(rt) as bar:
        listing.observe(bar.page)
        count = emit(rt, listing, spec)
    hint = listing.empty_hint()
    if hint:
        rt.warn(hint)
    elif count == 0 and filtered:  # a client-side scan: say how much it read
        rt.note(f"scanned {listing.info.resources:,} {noun}, none matched {filtered}")
    elif count == 0 and nothing and rt.env.stdout_isatty():
        rt.note(nothing)
    cut = listing.truncation() if default_limit else None
    if cut is not None:
        rt.note(showing(cut, "the default limit"))


def nothing_found(
    noun: str,
    since: str | None = None,
    until: str | None = None,
    created_after: str | None = None,
    created_before: str | None = None,
) -> str:
    """The empty-result line: ``no crashes since 7d``, ``no usage events before 2026-01-01``."""
    start = since or created_after
    end = until or created_before
    if start and end:
        return f"no {noun} between {start} and {end}"
    if start:
        return f"no {noun} since {start}"
    if end:
        return f"no {noun} before {end}"
    return f"no {noun} match"


def showing(cut: Truncation, why: str) -> str:
    """The one "showing N of M" wording."""
    advice = "use --all for every one, or --limit N"
    if cut.total is not None:
        which = "" if cut.end == "first" else f"the {cut.end} "
        return f"showing {which}{cut.shown} of {cut.total:,} {cut.noun} ({why}); {advice}"
    if cut.counted is None and cut.end == "first":
        return f"showing the first {cut.shown} {cut.noun} ({why}); more may match: use --all, or --limit N"
    counted = (
        f" (Cloud Controller counts {cut.counted:,} crash events in this window, usually two per crash)"
        if cut.counted
        else ""
    )
    return f"showing the {cut.end} {cut.shown} {cut.noun} ({why}){counted}; {advice}"


# Global output settings, set by the root callback at the start of every run (configure()).
_SETTINGS = {"safe_csv": False, "local_time": False}


def configure(*, safe_csv: bool, local_time: bool = False) -> None:
    """Record the global output options (``--safe-csv``, ``--local-time``) for every spec
    this run builds."""
    _SETTINGS["safe_csv"] = safe_csv
    _SETTINGS["local_time"] = local_time


def safe_csv_setting() -> bool:
    """Whether ``--safe-csv`` is on for this run (for specs built outside build_spec)."""
    return _SETTINGS["safe_csv"]
