"""``cfevents usage report``: chargeback figures (instance-, memory- and task-hours).

The accounting is ``Client.usage_report`` (cfevents.report: the engine, completeness checks and
state files); this command parses the flags, makes that one call and prints the rows (stdout)
and the summary (stderr). ``cfevents.cli.usage`` registers it in the ``usage`` group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, TextIO, cast

import typer

from cfevents.api import Grouping
from cfevents.cli.grouping import grouped, option_group
from cfevents.cli.options import (
    OUTPUT_PANEL,
    TIME_PANEL,
    NoHeadersOpt,
    OutputOpt,
    TableFormatOpt,
)
from cfevents.cli.runtime import Runtime
from cfevents.errors import UsageError

if TYPE_CHECKING:
    from cfevents.files import OutputTarget
    from cfevents.output.formatters import OutputSpec
    from cfevents.report import Report

REPORT_PANEL = "Accounting"
GROUPINGS = ("org", "space", "app", "process")
# -o table: names (the guids are in every other format, or with --fields), then the figures.
TABLE_NAMES = ("foundation", "org_name", "space_name", "app_name", "process_type", "day")
TABLE_FIGURES = (
    "instance_hours",
    "gb_hours",
    "avg_instances",
    "max_instances",
    "starts",
    "stops",
    "scales",
    "task_runs",
    "task_hours",
    "task_gb_hours",
    "cost",
    "flags",
)
# A terminal too narrow for a report's table hides these first, in order: the hours and the
# names stay (usage and service reports; a key a report lacks is skipped).
REPORT_HIDE = (
    "process_guid",
    "scales",
    "stops",
    "starts",
    "max_instances",
    "avg_instances",
    "task_seconds",
    "task_gb_hours",
    "task_hours",
    "task_runs",
    "service_instance_type",
    "updated",
    "created",
    "deleted",
    "service_plan_name",
)


MonthOpt = Annotated[
    str | None,
    typer.Option(
        "--month",
        metavar="YYYY-MM|last|this",
        help="The calendar month (UTC): YYYY-MM, last or this [default: this month so far].",
        rich_help_panel=TIME_PANEL,
    ),
]
ReportOutOpt = Annotated[
    str | None,
    typer.Option(
        "--out",
        metavar="FILE",
        help="Write the rows to FILE (format from -o or its extension: .csv, .tsv, .json, "
        ".ndjson; strftime patterns expand) only when the report is complete, atomically: "
        "nothing on an error or exit 7.",
        rich_help_panel=OUTPUT_PANEL,
    ),
]
ForceOpt = Annotated[
    bool,
    typer.Option("--force", help="Replace a non-empty --out FILE.", rich_help_panel=OUTPUT_PANEL),
]
LiveOpt = Annotated[
    bool,
    typer.Option(
        "--live",
        help="Read Cloud Controller even when CFEVENTS_STORE names a store.",
        rich_help_panel=REPORT_PANEL,
    ),
]
WindowStartOpt = Annotated[
    str | None,
    typer.Option(
        "--since",
        metavar="T",
        help="Window start T0 (RFC 3339, a date, or an age like 7d).",
        rich_help_panel=TIME_PANEL,
    ),
]
WindowEndOpt = Annotated[
    str | None,
    typer.Option(
        "--until",
        metavar="T",
        help="Window end T1, exclusive [default: now].",
        rich_help_panel=TIME_PANEL,
    ),
]
ReportMinAgeOpt = Annotated[
    str,
    typer.Option(
        "--min-age",
        metavar="DURATION",
        help="Count only up to now minus DURATION (younger events may still change).",
        rich_help_panel=REPORT_PANEL,
    ),
]
RatesOpt = Annotated[
    Path | None,
    typer.Option(
        "--rates",
        metavar="FILE",
        help="Prices (TOML: currency, [app], [task], [service_plans], [orgs]; README "
        '"Prices"): rows gain cost columns, rounded once per row to 0.01 half-even.',
        rich_help_panel=REPORT_PANEL,
    ),
]
AllowIncompleteOpt = Annotated[
    bool,
    typer.Option(
        "--allow-incomplete",
        help="Report even when events the window needs are gone (rows flagged incomplete) "
        "instead of exit 7.",
        rich_help_panel=REPORT_PANEL,
    ),
]


@option_group
@dataclass(frozen=True)
class ReportWindow:
    """--month, or --since/--until: a report's window."""

    month: MonthOpt = None
    since: WindowStartOpt = None
    until: WindowEndOpt = None


@option_group
@dataclass(frozen=True)
class Completeness:
    """--min-age and --allow-incomplete: how far a report counts, and whether it may be
    incomplete."""

    min_age: ReportMinAgeOpt = "5m"
    allow_incomplete: AllowIncompleteOpt = False


@grouped
def report_usage(
    ctx: typer.Context,
    window: ReportWindow = ReportWindow(),
    by: Annotated[
        str,
        typer.Option(
            "--by",
            metavar="org|space|app|process",
            help="One row per org, space, app or process; from a store of several foundations "
            "also foundation (one row each) or foundation,org (and so on).",
            rich_help_panel=REPORT_PANEL,
        ),
    ] = "app",
    daily: Annotated[
        bool,
        typer.Option(
            "--daily", help="One row per group and UTC day.", rich_help_panel=REPORT_PANEL
        ),
    ] = False,
    opening: Annotated[
        str,
        typer.Option(
            "--opening",
            metavar="snapshot|events|none|FILE",
            help="Where the state at the window start comes from: a snapshot of /v3/apps and "
            "/v3/processes, the events' previous fields, nothing, or a --save-state FILE "
            "whose end is the window start.",
            rich_help_panel=REPORT_PANEL,
        ),
    ] = "snapshot",
    save_state: Annotated[
        str | None,
        typer.Option(
            "--save-state",
            metavar="FILE",
            help="Write the state at the window end, for the next report's --opening "
            "(strftime patterns expand: state-%Y-%m.json).",
            rich_help_panel=REPORT_PANEL,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace a non-empty --out or --save-state FILE.",
            rich_help_panel=REPORT_PANEL,
        ),
    ] = False,
    completeness: Completeness = Completeness(),
    rates: RatesOpt = None,
    pivot: Annotated[
        str | None,
        typer.Option(
            "--pivot",
            metavar="month",
            help="One row per group, one column per calendar month of the window (and a total): "
            "each column is that month's own report.",
            rich_help_panel=REPORT_PANEL,
        ),
    ] = None,
    compare: Annotated[
        bool,
        typer.Option(
            "--compare",
            help="With --month: the previous month's figure, the delta and the percent change.",
            rich_help_panel=REPORT_PANEL,
        ),
    ] = False,
    value: Annotated[
        str | None,
        typer.Option(
            "--value",
            metavar="FIELD",
            help="The figure of --pivot/--compare [default: cost with --rates, else gb_hours].",
            rich_help_panel=REPORT_PANEL,
        ),
    ] = None,
    input_: Annotated[
        str | None,
        typer.Option(
            "--input",
            metavar="STORE|FILE",
            envvar="CFEVENTS_STORE",
            show_envvar=True,
            help="Report from stored history instead of the API: a store kept by cfevents "
            "history sync or usage export --out (usage.db, postgresql://...) or an NDJSON "
            "export [default: the store CFEVENTS_STORE names, unless --live].",
            rich_help_panel=REPORT_PANEL,
        ),
    ] = None,
    live: LiveOpt = False,
    foundation: Annotated[
        str | None,
        typer.Option(
            "--foundation",
            metavar="API",
            help="With --input: the foundation (API URL) of a store that holds several.",
            rich_help_panel=REPORT_PANEL,
        ),
    ] = None,
    output: OutputOpt = None,
    out: ReportOutOpt = None,
    fields: Annotated[
        str | None,
        typer.Option(
            "--fields",
            metavar="A,B",
            help="Comma-separated row keys (org_name, gb_hours, ...); selects and orders "
            "columns in every format.",
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = None,
    no_headers: NoHeadersOpt = False,
    table_format: TableFormatOpt = None,
) -> None:
    """Chargeback: app-instance-hours, memory GB-hours and task hours per org, space, app or process.

    Exact to the second from usage events: apps running all window long are counted from a
    snapshot, rolling deploys, restarts and scales are followed per process. Exits 7 when
    events the window needs were pruned (31 days) or purged. README "Chargeback".

    Examples:

        cfevents usage report --month 2024-05 --by org

        cfevents usage report --month 2024-05 --by process --daily -o csv > may.csv

        cfevents usage report --month 2024-06 --opening may.json --save-state june.json

        CFEVENTS_STORE=usage.db cfevents usage report --month last --by org --out last.csv
    """
    from cfevents.cli.progress import read_progress

    rt: Runtime = ctx.obj
    if (pivot is not None or compare) and fields is not None:
        raise UsageError("--fields cannot go with --pivot or --compare")
    target = out_target(out, force)
    spec = report_spec(rt, by, daily, out_format(target, output), fields, no_headers,
                       table_format, rates is not None, target)  # fmt: skip
    with read_progress(rt) as bar:
        report = rt.cf().usage_report(
            pivot=pivot,
            compare=compare,
            value=value,
            rates=rates,
            month=window.month,
            since=window.since,
            until=window.until,
            by=cast("Grouping", by),  # checked above (report_spec) and by the library
            daily=daily,
            opening=opening,
            save_state=save_state,
            force=force,
            min_age=completeness.min_age,
            allow_incomplete=completeness.allow_incomplete,
            input=None if live else input_,
            foundation=foundation,
            progress=bar.events,
        )
    spec = pivot_spec(spec, report, pivot, compare)
    show_report(rt, report, spec, "months" if pivot else "usage", target)


def report_spec(
    rt: Runtime,
    by: str,
    daily: bool,
    output: str | None,
    fields: str | None,
    no_headers: bool,
    table_format: str | None,
    priced: bool = False,
    out: OutputTarget | None = None,
) -> OutputSpec:
    """The output spec for a usage report's rows (bad values are usage errors, before any
    request)."""
    from cfevents.report.fleet import fleet_fields, fleet_grouping
    from cfevents.report.rows import row_fields

    if by not in GROUPINGS and fleet_grouping(by) is None:
        raise UsageError(
            f"--by must be one of {', '.join(GROUPINGS)} or foundation[,GROUPING], not {by!r}"
        )
    known = (
        fleet_fields(by, daily) if fleet_grouping(by) is not None else row_fields(by, daily, priced)
    )
    table = [c for c in known if c in TABLE_NAMES or c in TABLE_FIGURES]
    if by.endswith("process"):
        table.insert(table.index("process_type") + 1, "process_guid")
    return rows_spec(rt, known, table, output, fields, no_headers, table_format, out)


def out_target(out: str | None, force: bool) -> OutputTarget | None:
    """``--out`` checked before any work (cfevents.files: strftime patterns expand; an
    existing non-empty file is refused unless --force)."""
    if out is None:
        return None
    from cfevents.files import check_output

    return check_output(out, param="out", force=force)


def out_format(target: OutputTarget | None, output: str | None) -> str | None:
    """-o, else the --out file's extension (.csv, .tsv, .json, .ndjson), else CSV."""
    if target is None:
        return output
    from cfevents.export.plan import EXPORT_EXTENSIONS

    suffix = target.path.suffix.lower()
    return output or ("xlsx" if suffix == ".xlsx" else EXPORT_EXTENSIONS.get(suffix)) or "csv"


def rows_spec(
    rt: Runtime,
    known: Sequence[str],
    table: Sequence[str],
    output: str | None,
    fields: str | None,
    no_headers: bool,
    table_format: str | None,
    out: OutputTarget | None = None,
) -> OutputSpec:
    """A report's output spec: every ``known`` key in machine formats, ``table`` on a table."""
    from cfevents.cli.output import format_choice, safe_csv_setting
    from cfevents.output.columns import check_fields, parse_fields
    from cfevents.output.formatters import OutputSpec

    wide = False
    if (output or "").strip().lower() == "xlsx":
        fmt = "xlsx"
    else:
        fmt, wide = format_choice(rt, output)
    if fmt == "xlsx" and out is None and rt.env.stdout_isatty():
        raise UsageError("-o xlsx writes a binary workbook: redirect it to a file (> report.xlsx)")
    selected = parse_fields(fields) if fields is not None else None
    if fields is not None and not selected:
        raise UsageError("--fields: give at least one field name")
    if selected and (problem := check_fields(selected, known)):
        raise UsageError(f"--fields: {problem}")
    if table_format is not None:
        from tabulate import tabulate_formats

        if table_format not in tabulate_formats:
            raise UsageError(f"--table-format: unknown format {table_format!r}")
        if fmt != "table":
            raise UsageError("--table-format only applies to -o table")
    return OutputSpec(
        fmt=fmt,
        columns=tuple(table if fmt == "table" else known),
        fields=tuple(selected) if selected else None,
        headers=not no_headers,
        table_format=table_format,
        tty=out is None and rt.env.stdout_isatty(),
        safe_csv=safe_csv_setting(),
        wide=wide,
        note=rt.note,
        hide=REPORT_HIDE,
    )


def show_report(
    rt: Runtime,
    report: Report,
    spec: OutputSpec,
    view: str = "usage",
    out: OutputTarget | None = None,
) -> None:
    """Rows on stdout or, complete, in ``out`` (a table rounds hours and ends with a totals
    row; ``-o xlsx`` a workbook with a ``view`` sheet and a summary sheet), the summary on
    stderr."""
    from cfevents.cli.output import emit
    from cfevents.report import summary_lines, table_rows

    if spec.fmt == "xlsx":
        write_workbook(rt, report, spec, view, out)
        spec, out = replace(spec, fmt="none"), None
    if spec.fmt == "table" and "rates" in report.meta:  # money shows its currency
        currency = report.meta["rates"]["currency"]
        money = [c for c in spec.selected if isinstance(report.totals.get(c), Decimal)]
        labels = {c: f"{c} ({currency})" for c in money}
        spec = replace(spec, labels={**spec.labels, **labels})
    rows: list[dict[str, Any]] = (
        table_rows(report, list(spec.selected)) if spec.fmt == "table" else report.rows
    )
    if spec.fmt == "table" and not report.rows:
        rt.note("no usage in this window: nothing ran or existed to count")
    if out is not None:
        write_report_file(out, rows, spec)
        rt.note(f"wrote {len(report.rows)} row(s) to {out.path}")
    elif spec.fmt != "none":
        emit(rt, rows, spec)
    if spec.fmt == "table":  # a legend for the flags the table shows
        from cfevents.report.flags import legend

        for line in legend(report.rows if "flags" in spec.selected else ()):
            rt.note(f"flag {line}")
    warnings = [f"warning: {w}" for w in report.warnings]
    for line in summary_lines(report):
        if line in warnings:
            rt.warn(line.removeprefix("warning: "))
        else:
            rt.note(line)


def write_report_file(out: OutputTarget, rows: list[dict[str, Any]], spec: OutputSpec) -> None:
    """A report file: whole and atomic, only once the report is complete (cfevents.files)."""
    from cfevents.files import atomic_output
    from cfevents.output.formatters import write

    with atomic_output(out) as handle:
        write(rows, cast("TextIO", handle), spec)


def pivot_spec(spec: OutputSpec, report: Report, pivot: str | None, compare: bool) -> OutputSpec:
    """With --pivot or --compare the columns are known once the report ran: the months, the
    delta."""
    if pivot is None and not compare:
        return spec
    names = [f for f in report.fields if not f.endswith("_guid") or f == "process_guid"]
    return replace(spec, columns=tuple(names if spec.fmt == "table" else report.fields))


def write_workbook(
    rt: Runtime, report: Report, spec: OutputSpec, view: str, target: OutputTarget | None = None
) -> None:
    """``-o xlsx``: the rows on a ``view`` sheet (a statement adds its total lines on a
    ``totals`` sheet), then a ``summary`` sheet, written to stdout's bytes or, whole and
    atomically, to ``target`` (--out)."""
    from cfevents.output.xlsx import Sheet, summary_sheet, write_xlsx
    from cfevents.report.present import summary_pairs

    columns = list(spec.selected)
    sheets = [Sheet(view, columns, report.rows)]
    if view == "statement":
        totals = [r for r in report.rows if r.get("line") == "total"]
        sheets.append(Sheet("totals", columns, totals))
    sheets.append(summary_sheet(summary_pairs(report)))
    if target is not None:
        from cfevents.files import atomic_output

        with atomic_output(target, binary=True) as handle:
            write_xlsx(sheets, cast("IO[bytes]", handle))
        return
    rt.env.stdout.flush()
    out: IO[bytes] | None = getattr(rt.env.stdout, "buffer", None)
    if out is None:
        raise UsageError("-o xlsx writes a binary workbook: redirect stdout to a file")
    write_xlsx(sheets, out)
    out.flush()


SERVICE_GROUPINGS = ("org", "space", "offering", "plan", "instance")
SERVICE_TABLE = (
    "org_name",
    "space_name",
    "service_offering_name",
    "service_plan_name",
    "service_instance_name",
    "service_instance_type",
    "service_hours",
    "created",
    "updated",
    "deleted",
    "cost",
    "flags",
)


@grouped
def report_services(
    ctx: typer.Context,
    window: ReportWindow = ReportWindow(),
    by: Annotated[
        str,
        typer.Option(
            "--by",
            metavar="org|space|offering|plan|instance",
            help="One row per org, space, service offering, plan or service instance.",
            rich_help_panel=REPORT_PANEL,
        ),
    ] = "plan",
    include_user_provided: Annotated[
        bool,
        typer.Option(
            "--include-user-provided",
            help="Count user-provided service instances too (they have no plan).",
            rich_help_panel=REPORT_PANEL,
        ),
    ] = False,
    completeness: Completeness = Completeness(),
    rates: RatesOpt = None,
    output: OutputOpt = None,
    out: ReportOutOpt = None,
    force: ForceOpt = False,
    fields: Annotated[
        str | None,
        typer.Option(
            "--fields",
            metavar="A,B",
            help="Comma-separated row keys (service_plan_name, service_hours, ...).",
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = None,
    no_headers: NoHeadersOpt = False,
    table_format: TableFormatOpt = None,
) -> None:
    """Chargeback for services: service-instance-hours per org, space, offering, plan or instance.

    Follows each instance from service usage events (CREATED, UPDATED on a plan change,
    DELETED); instances that existed all window long come from /v3/service_instances. Exits 7
    when events the window needs were pruned or purged. README "Service usage events".

    Examples:

        cfevents services report --month 2024-05

        cfevents services report --month 2024-05 --by instance -o csv > services-may.csv
    """
    from cfevents.cli.progress import read_progress
    from cfevents.report.services import row_fields

    rt: Runtime = ctx.obj
    known = row_fields(by, rates is not None)
    table = [c for c in known if c in SERVICE_TABLE]
    target = out_target(out, force)
    output = out_format(target, output)
    spec = rows_spec(rt, known, table, output, fields, no_headers, table_format, target)
    with read_progress(rt) as bar:
        report = rt.cf().service_report(
            rates=rates,
            month=window.month,
            since=window.since,
            until=window.until,
            by=by,
            include_user_provided=include_user_provided,
            min_age=completeness.min_age,
            allow_incomplete=completeness.allow_incomplete,
            progress=bar.events,
        )
    show_report(rt, report, spec, "services", target)
