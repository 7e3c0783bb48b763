"""``cfevents events``: audit events (``/v3/audit_events``, ``/v2/events``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, cast

import typer

from cfevents.cli.options import (
    MARKUP_MODE,
    AllOpt,
    AppOpt,
    CreatedAfterOpt,
    CreatedBeforeOpt,
    FieldsOpt,
    FollowIntervalOpt,
    FollowOpt,
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
from cfevents.events.filters import pick, pick_optional
from cfevents.shapes import ORDERS, SOURCES

if TYPE_CHECKING:
    from cfevents.api import AuditArgs
    from cfevents.output.formatters import OutputSpec

app = typer.Typer(
    help="Audit events: who did what to which app, space or org (incl. app crashes).",
    no_args_is_help=True,
    rich_markup_mode=MARKUP_MODE,
)

FILTER_PANEL = "Filters"


# -- commands --------------------------------------------------------------------------------


@app.command("list")
def list_events(
    ctx: typer.Context,
    type_: Annotated[
        list[str] | None,
        typer.Option(
            "--type",
            metavar="TYPE",
            help="Only this event type, e.g. audit.app.update, app.crash (repeatable or comma list; any type CC knows).",
            rich_help_panel=FILTER_PANEL,
        ),
    ] = None,
    actee: Annotated[
        list[str] | None,
        typer.Option(
            "--actee",
            metavar="GUID",
            help="Only events about this app/space/... GUID (v3 target_guids; repeatable).",
            rich_help_panel=FILTER_PANEL,
        ),
    ] = None,
    q: Annotated[
        list[str] | None,
        typer.Option(
            "--q",
            metavar="FILTER",
            help="Raw v2 q filter, e.g. 'type IN app.crash,audit.app.update' or "
            "'timestamp>=2024-05-01T00:00:00Z' (repeatable; ANDed; implies v2). Keys: "
            "timestamp, type, actee, space_guid, organization_guid.",
            rich_help_panel=FILTER_PANEL,
        ),
    ] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    created_after: CreatedAfterOpt = None,
    created_before: CreatedBeforeOpt = None,
    org: OrgOpt = None,
    space: SpaceOpt = None,
    app_: AppOpt = None,
    order: OrderOpt = None,
    source: SourceOpt = "auto",
    per_page: PerPageOpt = None,
    limit: LimitOpt = None,
    all_: AllOpt = False,
    output: OutputOpt = None,
    fields: FieldsOpt = None,
    no_headers: NoHeadersOpt = False,
    table_format: TableFormatOpt = None,
    follow: FollowOpt = False,
    interval: FollowIntervalOpt = "30s",
) -> None:
    """List audit events, newest first (GET /v3/audit_events, or /v2/events).

    Both APIs give the same columns; org and space names are looked up once per run.
    Crashes show up twice here, as CC writes them (app.crash and audit.app.process.crash);
    'cfevents crashes' counts each once.

    Examples:

        cfevents events list --since 24h --type audit.app.delete-request

        cfevents events list --app api --space prod --org acme -o csv

        cfevents events list --source v2 --q 'type IN app.crash,audit.app.restage'

        cfevents events list --follow --type audit.app.deployment.create --space prod --org acme
    """
    from cfevents.cli.output import build_spec, needs_names, nothing_found, show

    rt: Runtime = ctx.obj
    spec = build_spec(
        rt, "events", output=output, fields=fields, no_headers=no_headers, table_format=table_format
    )
    lim, default_limit = effective_limit(limit, all_)
    args = cast(
        "AuditArgs",
        {
            "types": type_ or (),
            "actees": actee or (),
            "q": q or (),
            **window_args(since, until, created_after, created_before),
            **scope_args(org, space, app_),
            "order": pick_optional(order, ORDERS, param="order"),
            "source": pick(source, SOURCES, param="source"),
            "per_page": per_page,
            "limit": lim,
            "names": needs_names(spec),
        },
    )
    if follow:
        return _follow(rt, args, spec, interval)
    listing = rt.cf().audit_events(**args)
    if q and source.strip().lower() == "auto":
        rt.note("--q filters are v2 syntax: read /v2/events")
    nothing = nothing_found("audit events", since, until, created_after, created_before)
    show(rt, listing, spec, default_limit=default_limit, nothing=nothing)


def _follow(rt: Runtime, args: AuditArgs, spec: OutputSpec, interval: str) -> None:
    """events list --follow: each new event printed as it arrives (the crashes' keyset follow)."""
    from cfevents.cli.follow import run_follow, stream_spec
    from cfevents.errors import UsageError
    from cfevents.events.bounds import check_interval

    if args.get("until") or args.get("created_before"):
        raise UsageError("--follow has no end: drop --until/--created-before")
    pause = check_interval(interval)  # before the note: a refused one prints only its error
    rt.note(f"following audit events every {interval} (Ctrl-C to stop)")
    events = rt.cf().follow_events(interval=pause, **args)
    run_follow(rt, events, stream_spec(spec), nouns=("event", "events"))


@app.command("get")
def get_event(
    ctx: typer.Context,
    guid: Annotated[str, typer.Argument(metavar="GUID", help="The audit event GUID.")],
    source: SourceOpt = "auto",
    output: OutputOpt = None,
    fields: FieldsOpt = None,
    no_headers: NoHeadersOpt = False,
    table_format: TableFormatOpt = None,
) -> None:
    """Show one audit event (GET /v3/audit_events/:guid, or /v2/events/:guid).

    Example:

        cfevents events get 8f3c3a1e-6c59-4a1e-9d39-0f3c2f7b1a2d -o json
    """
    from cfevents.cli.output import build_spec, emit_one, needs_names

    rt: Runtime = ctx.obj
    spec = build_spec(
        rt, "event", output=output, fields=fields, no_headers=no_headers, table_format=table_format
    )
    choice = pick(source, SOURCES, param="source")
    event = rt.cf().audit_event(guid, source=choice, names=needs_names(spec))
    emit_one(rt, event, spec)
