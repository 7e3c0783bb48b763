"""``cfevents chargeback``: the statement finance sends to a tenant (``Client.chargeback``).

One line per app, per app's tasks and per service plan in a space, with costs, and one total
line per org (or space); the rows on stdout, the summary on stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cfevents.cli.grouping import grouped
from cfevents.cli.options import NoHeadersOpt, OutputOpt, TableFormatOpt
from cfevents.cli.report import REPORT_PANEL, Completeness, ReportWindow, rows_spec, show_report
from cfevents.cli.runtime import Runtime

STATEMENT_TABLE = ("org_name", "space_name", "line", "item_name", "hours", "gb_hours", "cost")


@grouped
def chargeback(
    ctx: typer.Context,
    rates: Annotated[
        Path,
        typer.Option(
            "--rates",
            metavar="FILE",
            help='Prices (TOML; README "Prices"). Required.',
            rich_help_panel=REPORT_PANEL,
        ),
    ],
    window: ReportWindow = ReportWindow(),
    per: Annotated[
        str,
        typer.Option(
            "--per",
            metavar="org|space",
            help="One total per org (default) or per space.",
            rich_help_panel=REPORT_PANEL,
        ),
    ] = "org",
    input_: Annotated[
        str | None,
        typer.Option(
            "--input",
            metavar="STORE|FILE",
            help="App usage from stored history (usage.db, NDJSON) instead of the API; "
            "no service lines then.",
            rich_help_panel=REPORT_PANEL,
        ),
    ] = None,
    completeness: Completeness = Completeness(),
    output: OutputOpt = None,
    no_headers: NoHeadersOpt = False,
    table_format: TableFormatOpt = None,
) -> None:
    """One chargeback statement per org: app, task and service lines with costs, and a total.

    Each line's cost is rounded once to the cent (half-even); an org's total is the sum of its
    lines. README "Chargeback statement".

    Examples:

        cfevents chargeback --month 2026-11 --rates rates.toml

        cfevents chargeback --month 2026-11 --rates rates.toml --per space -o csv > nov.csv
    """
    from cfevents.cli.progress import read_progress
    from cfevents.report.statement import STATEMENT_FIELDS

    rt: Runtime = ctx.obj
    spec = rows_spec(rt, STATEMENT_FIELDS, STATEMENT_TABLE, output, None, no_headers, table_format)
    with read_progress(rt) as bar:
        statement = rt.cf().chargeback(
            month=window.month,
            since=window.since,
            until=window.until,
            per=per,
            rates=rates,
            input=input_,
            min_age=completeness.min_age,
            allow_incomplete=completeness.allow_incomplete,
            progress=bar.events,
        )
    show_report(rt, statement, spec, "statement")
