"""``cfevents events``: audit events (``/v3/audit_events``, ``/v2/events``).

Also the plumbing ``cfevents crashes`` shares: choosing the API (``--source``), reading one
normalised event stream from either, and filling in org/space names.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cfevents.cli.options import (
    MARKUP_MODE,
    PAGING_PANEL,
    AllOpt,
    AppOpt,
    CreatedAfterOpt,
    CreatedBeforeOpt,
    FieldsOpt,
    LimitOpt,
    NoHeadersOpt,
    OrgOpt,
    OutputOpt,
    SinceOpt,
    SpaceOpt,
    TableFormatOpt,
    UntilOpt,
    build_window,
    effective_limit,
)
from cfevents.cli.runtime import Runtime
from cfevents.errors import UsageError

if TYPE_CHECKING:
    from cfevents.audit import EventQuery
    from cfevents.pagination import PageInfo
    from cfevents.resolve import Resolver, Scope

app = typer.Typer(
    help="Audit events: who did what to which app, space or org (incl. app crashes).",
    no_args_is_help=True,
    rich_markup_mode=MARKUP_MODE,
)

V3_PATH = "/v3/audit_events"
V2_PATH = "/v2/events"
FILTER_PANEL = "Filters"

SourceOpt = Annotated[
    str,
    typer.Option(
        "--source",
        metavar="auto|v3|v2",
        help="Which API to read: v3 /v3/audit_events, v2 /v2/events (max 100 per page; off on "
        "current Cloud Foundry), or auto (v3; v2 only for --q filters).",
        rich_help_panel=PAGING_PANEL,
    ),
]
OrderOpt = Annotated[
    str,
    typer.Option(
        "--order",
        metavar="desc|asc",
        help="desc: newest first; asc: oldest first.",
        rich_help_panel=PAGING_PANEL,
    ),
]
PerPageOpt = Annotated[
    int | None,
    typer.Option(
        "--per-page",
        metavar="N",
        help="Events per request: v3 1..5000, v2 1..100 [default: follows --limit].",
        rich_help_panel=PAGING_PANEL,
    ),
]


# -- shared with `cfevents crashes` ----------------------------------------------------------


def choose_source(source: str, *, raw_q: bool = False) -> str:
    """``v2`` or ``v3`` for ``--source`` (auto is v3, or v2 when raw v2 ``--q`` filters are given).

    Raises:
        UsageError: an unknown source, or ``--q`` with ``--source v3``.
    """
    from cfevents.audit import SOURCES

    value = source.strip().lower()
    if value not in SOURCES:
        raise UsageError(f"--source must be one of {', '.join(SOURCES)} (got {source!r})")
    if value == "v3" and raw_q:
        raise UsageError(
            "--q filters are v2 syntax and need --source v2; with v3 use --type, --actee, "
            "--org/--space/--app and --since/--until"
        )
    if value == "auto":
        return "v2" if raw_q else "v3"
    return value


def check_order(order: str) -> str:
    from cfevents.audit import ORDERS

    value = order.strip().lower()
    if value not in ORDERS:
        raise UsageError(f"--order must be desc or asc (got {order!r})")
    return value


def v2_off_message(raw_q: bool = False) -> str:
    hint = (
        "--q filters need v2: use --type, --actee, --org/--space/--app and --since/--until instead"
        if raw_q
        else "use --source v3"
    )
    return f"this foundation has the v2 API switched off; {hint}"


def require_v2(client: Any, raw_q: bool = False) -> None:
    """Stop early (exit 5) when ``GET /`` says v2 is off; a failing ``GET /`` proves nothing.

    Raises:
        V2DisabledError: ``GET /`` has no ``links.cloud_controller_v2``.
    """
    from cfevents.errors import CfEventsError, V2DisabledError

    try:
        available = client.v2_available()
    except CfEventsError:
        return  # the events request itself will tell (nginx's 'V2 endpoints disabled' 404)
    if not available:
        raise V2DisabledError(v2_off_message(raw_q))


def resolve_scope(
    rt: Runtime, org: Sequence[str] | None, space: Sequence[str] | None, app_: Sequence[str] | None
) -> tuple[Resolver, Scope]:
    """The run's Resolver (its cache also serves the name columns) and the GUID scope."""
    from cfevents.resolve import Resolver, Scope

    resolver = Resolver(rt.client())
    if not (org or space or app_):
        return resolver, Scope()
    return resolver, resolver.resolve_scope(org or [], space or [], app_ or [])


def read_events(
    rt: Runtime, query: EventQuery, source: str, info: PageInfo, *, raw_q: bool = False
) -> Iterator[dict[str, Any]]:
    """Normalised events from either API, each once, in time order.

    The first page is fetched here, before anything is written, so a refused request (v2
    off, a 400) is one error line and not a half-written document.
    """
    import itertools

    from cfevents import audit
    from cfevents.errors import V2DisabledError
    from cfevents.pagination import resources, v2_pages, v3_pages

    client = rt.client()
    if source == "v2":
        require_v2(client, raw_q)
        params = audit.build_v2_events_params(query)
        pages = v2_pages(client, V2_PATH, params)
        normalise = audit.normalise_v2
    else:
        pages = v3_pages(client, V3_PATH, audit.build_v3_audit_params(query))
        normalise = audit.normalise_v3
    try:
        first = next(pages)
    except V2DisabledError:
        raise V2DisabledError(v2_off_message(raw_q)) from None
    events = (normalise(r) for r in resources(itertools.chain([first], pages), info))
    return audit.unique(events)


def needs_names(spec: Any) -> bool:
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


def with_names(
    records: Iterable[dict[str, Any]], resolver: Resolver, chunk: int = 200
) -> Iterator[dict[str, Any]]:
    """Fill ``space.name`` and ``organization.name``: one lookup per chunk of new GUIDs."""
    import itertools

    it = iter(records)
    while batch := list(itertools.islice(it, chunk)):
        resolver.prefetch("spaces", (r["space"]["guid"] for r in batch if r["space"]["guid"]))
        resolver.prefetch(
            "organizations",
            (r["organization"]["guid"] for r in batch if r["organization"]["guid"]),
        )
        for record in batch:
            record["space"]["name"] = resolver.name("spaces", record["space"]["guid"])
            record["organization"]["name"] = resolver.name(
                "organizations", record["organization"]["guid"]
            )
            yield record


def page_size(source: str, limit: int | None, per_page: int | None, factor: int = 1) -> int:
    """``--per-page``, else enough for ``limit`` results (``factor`` events each) plus one to
    look ahead, else the endpoint's maximum."""
    from cfevents.audit import max_per_page

    top = max_per_page(source)
    if per_page is not None:
        return per_page
    if limit is None:
        return top
    return max(1, min(top, limit * factor + 1))


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
    """List audit events, newest first (GET /v3/audit_events, or /v2/events).

    Both APIs give the same columns; org and space names are looked up once per run.
    Crashes show up twice here, as CC writes them (app.crash and audit.app.process.crash);
    'cfevents crashes' counts each once.

    Examples:

        cfevents events list --since 24h --type audit.app.delete-request

        cfevents events list --app api --space prod --org acme -o csv

        cfevents events list --source v2 --q 'type IN app.crash,audit.app.restage'
    """
    import itertools

    from cfevents import audit
    from cfevents import fields as F
    from cfevents.cli.output import build_spec, emit
    from cfevents.pagination import PageInfo
    from cfevents.timeparse import utcnow

    rt: Runtime = ctx.obj
    spec = build_spec(
        output=output,
        fields=fields,
        no_headers=no_headers,
        table_format=table_format,
        columns=F.EVENT_COLUMNS,
        table_columns=F.EVENT_TABLE_COLUMNS,
        known=F.EVENT_COLUMNS,
    )
    now = utcnow()
    window = build_window(
        now, since=since, until=until, created_after=created_after, created_before=created_before
    )
    lim, default_limit = effective_limit(limit, all_)
    direction = check_order(order)
    raw_q = tuple(audit.parse_q(value, now) for value in q or ())
    src = choose_source(source, raw_q=bool(raw_q))
    audit.check_per_page(per_page, src)

    resolver, scope = resolve_scope(rt, org, space, app_)
    targets = audit.split_flag_values(actee) + tuple(sorted(scope.app_guids or ()))
    query = audit.EventQuery(
        types=audit.split_flag_values(type_),
        target_guids=tuple(dict.fromkeys(targets)),
        space_guids=tuple(sorted(scope.space_guids or ())),
        org_guids=tuple(sorted(scope.org_guids or ())),
        window=window,
        order=direction,
        per_page=page_size(src, lim, per_page),
        raw_q=raw_q,
    )
    info = PageInfo()
    events = audit.settle_ties(read_events(rt, query, src, info, raw_q=bool(raw_q)), direction)
    if raw_q and source.strip().lower() == "auto":
        rt.note("--q filters are v2 syntax: read /v2/events")
    if lim is not None:
        events = itertools.islice(events, lim)
    if needs_names(spec):
        events = with_names(events, resolver)
    written = emit(events, spec)
    if default_limit and written >= (lim or 0) and (info.total_results or 0) > written:
        rt.note(
            f"showing {written} of {info.total_results:,} matching events (the default limit); "
            "use --all for every one, or --limit N"
        )


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
    from urllib.parse import quote

    from cfevents import audit
    from cfevents import fields as F
    from cfevents.cli.output import build_spec, emit_one
    from cfevents.errors import V2DisabledError
    from cfevents.resolve import Resolver

    spec = build_spec(
        output=output,
        fields=fields,
        no_headers=no_headers,
        table_format=table_format,
        columns=F.EVENT_COLUMNS,
        known=F.EVENT_COLUMNS,
    )
    src = choose_source(source)
    if not guid.strip() or "/" in guid:
        raise UsageError(f"not an event GUID: {guid!r}")
    rt: Runtime = ctx.obj
    client = rt.client()
    if src == "v2":
        require_v2(client)
        try:
            body = client.get_json(f"{V2_PATH}/{quote(guid.strip())}")
        except V2DisabledError:
            raise V2DisabledError(v2_off_message()) from None
        event = audit.normalise_v2(body)
    else:
        event = audit.normalise_v3(client.get_json(f"{V3_PATH}/{quote(guid.strip())}"))
    if needs_names(spec):
        event = next(with_names([event], Resolver(client)))
    emit_one(event, spec)
