"""``cfevents usage``: app usage events (``/v3/app_usage_events``, ``/v2/app_usage_events``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from cfevents.cli.export import export_usage
from cfevents.cli.flat import FlatOpt
from cfevents.cli.grouping import grouped
from cfevents.cli.options import (
    MARKUP_MODE,
    EventFilters,
    OutputFlags,
    Paging,
    RequireCompleteOpt,
    StateOpt,
    UsageOrderOpt,
    UsageScope,
    Window,
    coverage_noted,
    window_args,
)
from cfevents.cli.report import report_usage
from cfevents.cli.runtime import Runtime
from cfevents.events.filters import pick_optional
from cfevents.report.flags import help_text as flag_help
from cfevents.shapes import ORDERS, USAGE_ORDERS

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from cfevents.events.listing import Listing
    from cfevents.output.formatters import OutputSpec

app = typer.Typer(
    help="App usage events: starts, stops, scaling, staging and tasks (for billing/chargeback).",
    no_args_is_help=True,
    rich_markup_mode=MARKUP_MODE,
)


@app.command("list")
@grouped
def list_usage(
    ctx: typer.Context,
    window: Window,
    filters: EventFilters,
    order: UsageOrderOpt = None,
    order_by: Annotated[
        str | None,
        typer.Option(
            "--order-by", hidden=True, help="CC's spelling of --order: created_at|-created_at."
        ),
    ] = None,
    paging: Paging = Paging(),
    scope: UsageScope = UsageScope(),
    state: StateOpt = None,
    shape: OutputFlags = OutputFlags(),
    flat: FlatOpt = False,
    require_complete: RequireCompleteOpt = False,
) -> None:
    """List app usage events (GET /v3/app_usage_events).

    The v3 endpoint cannot filter by org, space, app or state: --org, --space, --app and
    --state filter after fetching (names are resolved once through /v3/organizations,
    /v3/spaces and /v3/apps).

    Examples:

        cfevents usage list --since 7d

        cfevents usage list --since 2024-05-01 --until 2024-06-01 --all -o csv > may.csv

        cfevents usage list --space prod --org acme --state STARTED -o ndjson
    """
    from cfevents.cli.flat import flat_listing, usage_spec
    from cfevents.cli.output import shows

    rt: Runtime = ctx.obj
    spec = usage_spec(rt, shape, flat=flat)
    lim, default_limit = paging.limits()
    listing = rt.cf().usage_events(
        **window.args(),
        **filters.args(),
        order=pick_optional(order, ORDERS, param="order"),
        order_by=pick_optional(order_by, USAGE_ORDERS, param="order_by"),
        per_page=paging.per_page,
        page=paging.page,
        limit=lim,
        **scope.args(),
        state=state or (),
        names=shows(spec, "org_name" if flat else "organization.name"),  # only when shown
    )
    scan = {"--org": scope.org, "--space": scope.space, "--app": scope.app_, "--state": state}
    shown = flat_listing(listing) if flat else listing
    _show(rt, shown, spec, default_limit, window.bounds, scan, require_complete)


def _show(
    rt: Runtime,
    listing: Listing[Any],
    spec: OutputSpec,
    default_limit: bool,
    bounds: tuple[str | None, str | None, str | None, str | None],
    scan: Mapping[str, Sequence[str] | None],
    require_complete: bool,
) -> None:
    """usage list's output and notes: the rows; an empty result worded (for the time
    ``bounds``; with a ``scan`` flag given, how much the client-side scan read); a window CC
    has partly pruned warned about after the rows, or with --require-complete refused (exit 7)
    before any."""
    from cfevents.cli.output import nothing_found, show
    from cfevents.events.kinds import APP_USAGE

    with coverage_noted(rt, APP_USAGE, window_args(*bounds), require_complete):
        show(
            rt,
            listing,
            spec,
            default_limit=default_limit,
            nothing=nothing_found("usage events", *bounds),
            filtered="/".join(flag for flag, value in scan.items() if value),
            noun="usage events",
        )


@app.command("get")
@grouped
def get_usage(
    ctx: typer.Context,
    guid: Annotated[str, typer.Argument(metavar="GUID", help="The app usage event GUID.")],
    v2: Annotated[
        bool,
        typer.Option(
            "--v2",
            help="Use GET /v2/app_usage_events/:guid and show the v2 shape (package_state etc.).",
        ),
    ] = False,
    shape: OutputFlags = OutputFlags(),
) -> None:
    """Show one app usage event (GET /v3/app_usage_events/:guid, or v2 with --v2).

    Example:

        cfevents usage get 20822a88-759b-4c64-8001-eb8a77db106b -o json
    """
    from cfevents.cli.output import emit_one, shows

    rt: Runtime = ctx.obj
    spec = shape.spec(rt, "usage-v2" if v2 else "usage-one")
    event = rt.cf().usage_event(guid, v2=v2, names=shows(spec, "organization.name"))
    emit_one(rt, event, spec)


# `usage export` lives in its own module; it is one more command of this group.
app.command("export")(export_usage)
app.command("report", epilog=flag_help())(report_usage)
