"""``cfevents services``: service usage events (``/v3/service_usage_events``)."""

from __future__ import annotations

from typing import Annotated

import typer

from cfevents.cli.export import (
    INCREMENTAL,
    CheckpointOpt,
    ExportMinAgeOpt,
    FollowOpt,
    ForceOpt,
    IntervalOpt,
    OnLostCursorOpt,
    ProgressOpt,
    _env_format,
    run_export,
)
from cfevents.cli.options import (
    FILTER_PANEL,
    MARKUP_MODE,
    AfterGuidOpt,
    AllOpt,
    CreatedAfterOpt,
    CreatedAtOpt,
    CreatedBeforeOpt,
    FieldsOpt,
    GuidOpt,
    LimitOpt,
    NoHeadersOpt,
    OutputOpt,
    PageOpt,
    SinceOpt,
    TableFormatOpt,
    UntilOpt,
    UsageOrderOpt,
    V3PerPageOpt,
    effective_limit,
    window_args,
)
from cfevents.cli.report import report_services
from cfevents.cli.runtime import Runtime
from cfevents.events.filters import pick, pick_optional
from cfevents.report.flags import help_text as flag_help
from cfevents.shapes import LOST_CURSOR_CHOICES, ORDERS

app = typer.Typer(
    help="Service usage events: service instances created, updated (plan or name) and deleted.",
    no_args_is_help=True,
    rich_markup_mode=MARKUP_MODE,
)

TypeOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--type",
        metavar="TYPE",
        help="managed_service_instance or user_provided_service_instance (repeatable or comma list).",
        rich_help_panel=FILTER_PANEL,
    ),
]
OfferingOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--offering-guid",
        metavar="GUID",
        help="Only instances of these service offerings (repeatable or comma list).",
        rich_help_panel=FILTER_PANEL,
    ),
]


@app.command("list")
def list_services(
    ctx: typer.Context,
    since: SinceOpt = None,
    until: UntilOpt = None,
    created_after: CreatedAfterOpt = None,
    created_before: CreatedBeforeOpt = None,
    created_at: CreatedAtOpt = None,
    guid: GuidOpt = None,
    after_guid: AfterGuidOpt = None,
    type_: TypeOpt = None,
    offering_guid: OfferingOpt = None,
    order: UsageOrderOpt = None,
    per_page: V3PerPageOpt = None,
    page: PageOpt = None,
    limit: LimitOpt = None,
    all_: AllOpt = False,
    output: OutputOpt = None,
    fields: FieldsOpt = None,
    no_headers: NoHeadersOpt = False,
    table_format: TableFormatOpt = None,
) -> None:
    """List service usage events (GET /v3/service_usage_events).

    Examples:

        cfevents services list --since 7d

        cfevents services list --type managed_service_instance --all -o csv > services.csv
    """
    from cfevents.cli.output import build_spec, show

    rt: Runtime = ctx.obj
    spec = build_spec(
        rt,
        "services",
        output=output,
        fields=fields,
        no_headers=no_headers,
        table_format=table_format,
    )
    lim, default_limit = effective_limit(limit, all_)
    listing = rt.cf().service_usage_events(
        **window_args(since, until, created_after, created_before),
        created_at=created_at or (),
        guids=guid or (),
        after_guid=after_guid,
        service_instance_types=type_ or (),
        service_offering_guids=offering_guid or (),
        order=pick_optional(order, ORDERS, param="order"),
        per_page=per_page,
        page=page,
        limit=lim,
    )
    show(rt, listing, spec, default_limit=default_limit)


@app.command("get")
def get_service_event(
    ctx: typer.Context,
    guid: Annotated[str, typer.Argument(metavar="GUID", help="The service usage event GUID.")],
    output: OutputOpt = None,
    fields: FieldsOpt = None,
    no_headers: NoHeadersOpt = False,
    table_format: TableFormatOpt = None,
) -> None:
    """Show one service usage event (GET /v3/service_usage_events/:guid)."""
    from cfevents.cli.output import build_spec, emit_one

    rt: Runtime = ctx.obj
    spec = build_spec(
        rt,
        "services-one",
        output=output,
        fields=fields,
        no_headers=no_headers,
        table_format=table_format,
    )
    emit_one(rt, rt.cf().service_usage_event(guid), spec)


@app.command("export")
def export_services(
    ctx: typer.Context,
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            metavar="FILE",
            help="Write to FILE (format from its extension unless -o): appended with --checkpoint; "
            "strftime patterns make dated files: services-%Y-%m-%d.csv.",
            rich_help_panel=INCREMENTAL,
        ),
    ] = None,
    checkpoint: CheckpointOpt = None,
    min_age: ExportMinAgeOpt = None,
    on_lost_cursor: OnLostCursorOpt = "fail",
    follow: FollowOpt = False,
    interval: IntervalOpt = "60s",
    since: SinceOpt = None,
    until: UntilOpt = None,
    created_after: CreatedAfterOpt = None,
    created_before: CreatedBeforeOpt = None,
    created_at: CreatedAtOpt = None,
    guid: GuidOpt = None,
    after_guid: AfterGuidOpt = None,
    type_: TypeOpt = None,
    offering_guid: OfferingOpt = None,
    per_page: Annotated[
        int,
        typer.Option(
            "--per-page",
            metavar="N",
            help="Events per request (1..5000).",
            rich_help_panel="Paging",
        ),
    ] = 5000,
    output: OutputOpt = None,
    fields: FieldsOpt = None,
    no_headers: NoHeadersOpt = False,
    force: ForceOpt = False,
    progress: ProgressOpt = None,
) -> None:
    """Export every matching service usage event, in the order CC recorded them.

    Same engine as usage export: keyset paging, --checkpoint (exactly once across kills and
    reruns), --min-age.

    Example:

        cfevents services export --checkpoint services.ckpt --out services.ndjson
    """
    from cfevents.cli.output import build_spec

    rt: Runtime = ctx.obj
    job = rt.cf().service_usage_export(
        out=out,
        force=force,
        format=output,
        default_format=_env_format(rt),
        checkpoint=checkpoint,
        min_age=min_age,
        on_lost_cursor=pick(on_lost_cursor, LOST_CURSOR_CHOICES, param="on_lost_cursor"),
        follow=follow,
        interval=interval,
        **window_args(since, until, created_after, created_before),
        created_at=created_at or (),
        guids=guid or (),
        after_guid=after_guid,
        service_instance_types=type_ or (),
        service_offering_guids=offering_guid or (),
        per_page=per_page,
    )
    spec = build_spec(
        rt, "services", output=job.plan.fmt, fields=fields, no_headers=no_headers, table_format=None
    )
    run_export(rt, job, spec, progress)


app.command("report", epilog=flag_help())(report_services)
