"""``cfevents usage``: app usage events (``/v3/app_usage_events``, ``/v2/app_usage_events``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import typer

from cfevents.cli.options import (
    MARKUP_MODE,
    PAGING_PANEL,
    AllOpt,
    CreatedAfterOpt,
    CreatedAtOpt,
    CreatedBeforeOpt,
    FieldsOpt,
    GuidOpt,
    LimitOpt,
    NoHeadersOpt,
    OutputOpt,
    SinceOpt,
    StateOpt,
    TableFormatOpt,
    UntilOpt,
    UsageAppOpt,
    UsageOrgOpt,
    UsageSpaceOpt,
    build_window,
    effective_limit,
)
from cfevents.cli.runtime import Runtime
from cfevents.errors import UsageError

app = typer.Typer(
    help="App usage events: starts, stops, scaling, staging and tasks (for billing/chargeback).",
    no_args_is_help=True,
    rich_markup_mode=MARKUP_MODE,
)

USAGE_PATH = "/v3/app_usage_events"
NON_GLOBAL_HINT = (
    "no usage events visible: Cloud Controller only shows app usage events to admin, "
    "admin_read_only and global_auditor users, and your token has none of those scopes"
)


@app.command("list")
def list_usage(
    ctx: typer.Context,
    since: SinceOpt = None,
    until: UntilOpt = None,
    created_after: CreatedAfterOpt = None,
    created_before: CreatedBeforeOpt = None,
    created_at: CreatedAtOpt = None,
    guid: GuidOpt = None,
    after_guid: Annotated[
        str | None,
        typer.Option(
            "--after-guid",
            metavar="GUID",
            help="Only events recorded after this event (CC's id order).",
            rich_help_panel="Filters",
        ),
    ] = None,
    order_by: Annotated[
        str | None,
        typer.Option(
            "--order-by",
            metavar="created_at|-created_at",
            help="Sort by created_at (- for newest first). Default: CC's id order, the order events happened in.",
            rich_help_panel=PAGING_PANEL,
        ),
    ] = None,
    per_page: Annotated[
        int | None,
        typer.Option(
            "--per-page",
            metavar="N",
            help="Events per request, 1..5000 [default: follows --limit, 5000 with --all].",
            rich_help_panel=PAGING_PANEL,
        ),
    ] = None,
    page: Annotated[
        int | None,
        typer.Option(
            "--page",
            metavar="N",
            min=1,
            max=1_000_000_000,
            help="Fetch only page N (of --per-page events).",
            rich_help_panel=PAGING_PANEL,
        ),
    ] = None,
    limit: LimitOpt = None,
    all_: AllOpt = False,
    org: UsageOrgOpt = None,
    space: UsageSpaceOpt = None,
    app_: UsageAppOpt = None,
    state: StateOpt = None,
    output: OutputOpt = None,
    fields: FieldsOpt = None,
    no_headers: NoHeadersOpt = False,
    table_format: TableFormatOpt = None,
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
    import itertools

    from cfevents.cli.output import emit
    from cfevents.errors import LostCursorError
    from cfevents.export import keyset_pages, unknown_after_guid
    from cfevents.pagination import PageInfo, resources, v3_pages
    from cfevents.prefetch import prefetch
    from cfevents.query import USAGE_ORDERS, UsageQuery, build_usage_params, page_size_for
    from cfevents.resolve import split_values
    from cfevents.timeparse import utcnow

    rt: Runtime = ctx.obj
    spec = usage_spec(output, fields, no_headers, table_format)
    window = build_window(
        utcnow(),
        since=since,
        until=until,
        created_after=created_after,
        created_before=created_before,
        created_at=created_at or (),
    )
    lim, default_limit = effective_limit(limit, all_)
    if per_page is not None and not 1 <= per_page <= 5000:
        raise UsageError(f"--per-page must be between 1 and 5000 (got {per_page})")
    if order_by is not None and order_by not in USAGE_ORDERS:
        raise UsageError(f"--order-by must be created_at or -created_at (got {order_by!r})")
    if after_guid is not None and ("," in after_guid or not after_guid.strip()):
        raise UsageError("--after-guid takes exactly one event GUID")
    states = {s.upper() for s in split_values(state or [])}
    client_filtered = bool(org or space or app_ or states)
    size = page_size_for(lim, per_page, client_filtered=client_filtered)
    query = UsageQuery(
        window=window,
        guids=tuple(split_values(guid or [])),
        after_guid=after_guid.strip() if after_guid else None,
        order_by=order_by,
        per_page=size,
        page=page,
    )

    client = rt.client()
    scope = _scope(rt, org, space, app_)
    info = PageInfo()
    params = build_usage_params(query)
    # never a page past the limit; with several pages, fetch the next while writing this one
    max_pages = -(-lim // size) if lim is not None and not client_filtered else None
    several = lim is None or (lim > size and not client_filtered)
    pages: Iterator[dict[str, Any]]
    if page is not None:
        pages = itertools.islice(v3_pages(client, USAGE_PATH, params), 1)
    elif order_by is None:  # CC's id order: page by keyset, not OFFSET links
        pages = keyset_pages(
            client,
            USAGE_PATH,
            params,
            query.after_guid,
            size,
            max_pages=max_pages,
            read_ahead=several,
        )
    else:
        pages = v3_pages(client, USAGE_PATH, params)
        if max_pages is not None:
            pages = itertools.islice(pages, max_pages)
        if several:
            pages = prefetch(pages)
    events: Iterator[dict[str, Any]] = resources(pages, info)
    if client_filtered:
        events = (e for e in events if _keep(e, scope, states))
    if lim is not None:
        events = itertools.islice(events, lim)
    try:
        written = emit(events, spec)
    except LostCursorError as exc:
        raise unknown_after_guid(query.after_guid, exc) from None
    _after_listing(rt, client, info, written, lim if default_limit else None, client_filtered)


def usage_spec(
    output: str | None, fields: str | None, no_headers: bool, table_format: str | None
) -> Any:
    """The output spec for v3 usage events (the documented CSV column set)."""
    from cfevents import fields as F
    from cfevents.cli.output import build_spec

    return build_spec(
        output=output,
        fields=fields,
        no_headers=no_headers,
        table_format=table_format,
        columns=F.USAGE_COLUMNS,
        table_columns=F.USAGE_TABLE_COLUMNS,
        known=(*F.USAGE_COLUMNS, "links"),
    )


def _scope(
    rt: Runtime, org: list[str] | None, space: list[str] | None, app_: list[str] | None
) -> Any:
    from cfevents.resolve import Resolver, Scope

    if not (org or space or app_):
        return Scope()
    return Resolver(rt.client()).resolve_scope(org or [], space or [], app_ or [])


def _keep(event: dict[str, Any], scope: Any, states: set[str]) -> bool:
    from cfevents.fields import get_path

    if scope.org_guids is not None and get_path(event, "organization.guid") not in scope.org_guids:
        return False
    if scope.space_guids is not None and get_path(event, "space.guid") not in scope.space_guids:
        return False
    if scope.app_guids is not None and get_path(event, "app.guid") not in scope.app_guids:
        return False
    return not states or str(get_path(event, "state.current") or "").upper() in states


def _after_listing(
    rt: Runtime,
    client: Any,
    info: Any,
    written: int,
    default_limit: int | None,
    client_filtered: bool,
) -> None:
    """Stderr notes: the default limit cut the results; a non-admin sees nothing."""
    if written == 0 and info.total_results == 0:
        scopes = client.tokens.scopes()
        from cfevents.auth import GLOBAL_READ_SCOPES

        if scopes is not None and not scopes & GLOBAL_READ_SCOPES:
            rt.warn(NON_GLOBAL_HINT)
        return
    if default_limit is None or written < default_limit:
        return
    if client_filtered:
        rt.note(
            f"showing the first {written} matching events (the default limit); more may match: "
            "use --all, or --limit N"
        )
    elif info.total_results is not None and info.total_results > written:
        rt.note(
            f"showing {written} of {info.total_results:,} matching events (the default limit); "
            "use --all for every one, or --limit N"
        )


@app.command("get")
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
    output: OutputOpt = None,
    fields: FieldsOpt = None,
    no_headers: NoHeadersOpt = False,
    table_format: TableFormatOpt = None,
) -> None:
    """Show one app usage event (GET /v3/app_usage_events/:guid, or v2 with --v2).

    Example:

        cfevents usage get 20822a88-759b-4c64-8001-eb8a77db106b -o json
    """
    from urllib.parse import quote

    from cfevents import fields as F
    from cfevents.cli.output import build_spec, emit_one

    columns = F.USAGE_V2_COLUMNS if v2 else F.USAGE_COLUMNS
    known = (*columns, "metadata.url") if v2 else (*columns, "links")
    spec = build_spec(
        output=output,
        fields=fields,
        no_headers=no_headers,
        table_format=table_format,
        columns=columns,
        known=known,
    )
    if not guid.strip() or "/" in guid:
        raise UsageError(f"not an event GUID: {guid!r}")
    rt: Runtime = ctx.obj
    path = (
        f"/v2/app_usage_events/{quote(guid.strip())}"
        if v2
        else f"{USAGE_PATH}/{quote(guid.strip())}"
    )
    event = rt.client().get_json(path)
    emit_one(event, spec)
