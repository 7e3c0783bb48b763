"""``cfevents services``: service usage events (``/v3/service_usage_events``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cfevents.cli.export import (
    INCREMENTAL,
    ExportFilters,
    ExportOutput,
    ExportPaging,
    ForceOpt,
    Incremental,
    ProgressOpt,
    finish_export,
    start_export,
)
from cfevents.cli.grouping import grouped
from cfevents.cli.options import (
    FILTER_PANEL,
    MARKUP_MODE,
    EventFilters,
    OutputFlags,
    Paging,
    RequireCompleteOpt,
    UsageOrderOpt,
    Window,
    check_coverage,
    coverage_noted,
)
from cfevents.cli.report import report_services
from cfevents.cli.runtime import Runtime
from cfevents.events.filters import pick_optional
from cfevents.report.flags import help_text as flag_help
from cfevents.shapes import ORDERS

if TYPE_CHECKING:
    from cfevents.events.args import ServiceFilterArgs

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
@grouped
def list_services(
    ctx: typer.Context,
    window: Window = Window(),
    filters: EventFilters = EventFilters(),
    type_: TypeOpt = None,
    offering_guid: OfferingOpt = None,
    order: UsageOrderOpt = None,
    paging: Paging = Paging(),
    shape: OutputFlags = OutputFlags(),
    require_complete: RequireCompleteOpt = False,
) -> None:
    """List service usage events (GET /v3/service_usage_events).

    Examples:

        cfevents services list --since 7d

        cfevents services list --type managed_service_instance --all -o csv > services.csv
    """
    from cfevents.cli.output import show
    from cfevents.events.kinds import SERVICE_USAGE

    rt: Runtime = ctx.obj
    spec = shape.spec(rt, "services")
    lim, default_limit = paging.limits()
    listing = rt.cf().service_usage_events(
        **window.args(),
        **filters.args(),
        service_instance_types=type_ or (),
        service_offering_guids=offering_guid or (),
        order=pick_optional(order, ORDERS, param="order"),
        per_page=paging.per_page,
        page=paging.page,
        limit=lim,
    )
    with coverage_noted(rt, SERVICE_USAGE, window.args(), require_complete):
        show(rt, listing, spec, default_limit=default_limit)


@app.command("get")
@grouped
def get_service_event(
    ctx: typer.Context,
    guid: Annotated[str, typer.Argument(metavar="GUID", help="The service usage event GUID.")],
    shape: OutputFlags = OutputFlags(),
) -> None:
    """Show one service usage event (GET /v3/service_usage_events/:guid)."""
    from cfevents.cli.output import emit_one

    rt: Runtime = ctx.obj
    emit_one(rt, rt.cf().service_usage_event(guid), shape.spec(rt, "services-one"))


@app.command("export")
@grouped
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
    incremental: Incremental = Incremental(),
    window: Window = Window(),
    filters: ExportFilters = ExportFilters(),
    type_: TypeOpt = None,
    offering_guid: OfferingOpt = None,
    paging: ExportPaging = ExportPaging(),
    shape: ExportOutput = ExportOutput(),
    force: ForceOpt = False,
    progress: ProgressOpt = None,
    require_complete: RequireCompleteOpt = False,
) -> None:
    """Export every matching service usage event, in the order CC recorded them.

    Same engine as usage export: keyset paging, --checkpoint (exactly once across kills and
    reruns), --min-age.

    Example:

        cfevents services export --checkpoint services.ckpt --out services.ndjson
    """
    from cfevents.events.kinds import SERVICE_USAGE

    rt: Runtime = ctx.obj
    given: ServiceFilterArgs = {
        **window.args(),
        **filters.args(),
        "service_instance_types": type_ or (),
        "service_offering_guids": offering_guid or (),
    }
    job = start_export(rt, SERVICE_USAGE, given, out, incremental, paging, shape, force)
    check_coverage(rt, SERVICE_USAGE, window.args(), require_complete)
    finish_export(rt, SERVICE_USAGE, job, shape, progress)


app.command("report", epilog=flag_help())(report_services)
