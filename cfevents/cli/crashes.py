"""``cfevents crashes``: app crashes across the foundation, each counted once."""

from __future__ import annotations

from typing import Annotated

import typer

from cfevents.cli.options import (
    OUTPUT_PANEL,
    AllOpt,
    AppOpt,
    CreatedAfterOpt,
    CreatedBeforeOpt,
    FieldsOpt,
    LimitOpt,
    NoHeadersOpt,
    OrderOpt,
    OrgOpt,
    OutputOpt,
    PerPageOpt,
    SinceOpt,
    SourceOpt,
    SpaceOpt,
    TableFormatOpt,
    UntilOpt,
    effective_limit,
    scope_args,
    window_args,
)
from cfevents.cli.runtime import Runtime


def crashes(
    ctx: typer.Context,
    since: SinceOpt = None,
    until: UntilOpt = None,
    created_after: CreatedAfterOpt = None,
    created_before: CreatedBeforeOpt = None,
    org: OrgOpt = None,
    space: SpaceOpt = None,
    app_: AppOpt = None,
    summary: Annotated[
        bool,
        typer.Option(
            "--summary",
            help="One row per app: crash count, first and last crash, last exit description "
            "(reads every crash in the window; --limit counts apps).",
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = False,
    order: OrderOpt = "desc",
    source: SourceOpt = "auto",
    per_page: PerPageOpt = None,
    limit: LimitOpt = None,
    all_: AllOpt = False,
    output: OutputOpt = None,
    fields: FieldsOpt = None,
    no_headers: NoHeadersOpt = False,
    table_format: TableFormatOpt = None,
) -> None:
    """List app crashes, newest first, across the foundation (or an org, space or app).

    Cloud Controller records every crash twice (audit.app.process.crash and app.crash); each
    crash is shown once, from audit.app.process.crash, with app.crash filling any gaps.
    Org and space names are looked up once per run.

    Examples:

        cfevents crashes --since 7d

        cfevents crashes --space prod --org acme --since 24h -o csv > crashes.csv

        cfevents crashes --since 30d --summary
    """
    from cfevents.cli.output import build_spec, needs_names, nothing_found, show

    rt: Runtime = ctx.obj
    kind = "crash-summary" if summary else "crashes"
    spec = build_spec(
        rt, kind, output=output, fields=fields, no_headers=no_headers, table_format=table_format
    )
    lim, default_limit = effective_limit(limit, all_)
    cf = rt.cf()
    listing = (cf.crash_summary if summary else cf.crashes)(
        **window_args(since, until, created_after, created_before),
        **scope_args(org, space, app_),
        order=order,  # type: ignore[arg-type]  # checked by the library
        source=source,  # type: ignore[arg-type]
        per_page=per_page,
        limit=lim,
        names=needs_names(spec),
    )
    nothing = nothing_found(
        ("crash summaries" if summary else "crashes"), since, until, created_after, created_before
    )
    show(rt, listing, spec, default_limit=default_limit, nothing=nothing)
