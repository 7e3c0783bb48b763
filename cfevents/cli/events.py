"""``cfevents events``: audit events (``/v3/audit_events``, ``/v2/events``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, cast

import typer

from cfevents.cli.grouping import grouped
from cfevents.cli.options import (
    MARKUP_MODE,
    AuditPaging,
    Follow,
    OutputFlags,
    Scope,
    SourceOpt,
    Window,
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
@grouped
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
    window: Window = Window(),
    scope: Scope = Scope(),
    paging: AuditPaging = AuditPaging(),
    shape: OutputFlags = OutputFlags(),
    follow: Follow = Follow(),
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
    from cfevents.cli.output import needs_names, nothing_found, show

    rt: Runtime = ctx.obj
    spec = shape.spec(rt, "events")
    lim, default_limit = paging.limits()
    args = cast(
        "AuditArgs",
        {
            "types": type_ or (),
            "actees": actee or (),
            "q": q or (),
            **window.args(),
            **scope.args(),
            "order": pick_optional(paging.order, ORDERS, param="order"),
            "source": pick(paging.source, SOURCES, param="source"),
            "per_page": paging.per_page,
            "limit": lim,
            "names": needs_names(spec),
        },
    )
    if follow.follow:
        return _follow(rt, args, spec, follow.interval)
    listing = rt.cf().audit_events(**args)
    if q and paging.source.strip().lower() == "auto":
        rt.note("--q filters are v2 syntax: read /v2/events")
    nothing = nothing_found("audit events", *window.bounds)
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
@grouped
def get_event(
    ctx: typer.Context,
    guid: Annotated[str, typer.Argument(metavar="GUID", help="The audit event GUID.")],
    source: SourceOpt = "auto",
    shape: OutputFlags = OutputFlags(),
) -> None:
    """Show one audit event (GET /v3/audit_events/:guid, or /v2/events/:guid).

    Example:

        cfevents events get 8f3c3a1e-6c59-4a1e-9d39-0f3c2f7b1a2d -o json
    """
    from cfevents.cli.output import emit_one, needs_names

    rt: Runtime = ctx.obj
    spec = shape.spec(rt, "event")
    choice = pick(source, SOURCES, param="source")
    event = rt.cf().audit_event(guid, source=choice, names=needs_names(spec))
    emit_one(rt, event, spec)
