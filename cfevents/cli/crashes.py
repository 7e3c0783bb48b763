"""``cfevents crashes``: app crashes across the foundation, each counted once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import typer

from cfevents.cli.events import OrderOpt, PerPageOpt, SourceOpt
from cfevents.cli.options import (
    OUTPUT_PANEL,
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
    import itertools

    from cfevents import audit
    from cfevents import fields as F
    from cfevents.cli.events import (
        check_order,
        choose_source,
        needs_names,
        page_size,
        read_events,
        resolve_scope,
        with_names,
    )
    from cfevents.cli.output import build_spec, emit
    from cfevents.pagination import PageInfo
    from cfevents.timeparse import utcnow

    rt: Runtime = ctx.obj
    columns = F.CRASH_SUMMARY_COLUMNS if summary else F.CRASH_COLUMNS
    spec = build_spec(
        output=output,
        fields=fields,
        no_headers=no_headers,
        table_format=table_format,
        columns=columns,
        table_columns=F.CRASH_SUMMARY_TABLE_COLUMNS if summary else F.CRASH_TABLE_COLUMNS,
        known=columns,
    )
    window = build_window(
        utcnow(),
        since=since,
        until=until,
        created_after=created_after,
        created_before=created_before,
    )
    lim, default_limit = effective_limit(limit, all_)
    direction = check_order(order)
    src = choose_source(source)
    audit.check_per_page(per_page, src)

    resolver, scope = resolve_scope(rt, org, space, app_)
    query = audit.EventQuery(
        types=audit.CRASH_TYPES,
        target_guids=tuple(sorted(scope.app_guids or ())),
        space_guids=tuple(sorted(scope.space_guids or ())),
        org_guids=tuple(sorted(scope.org_guids or ())),
        window=window,
        order=direction,
        # Two events per crash, so a page of 2N+1 usually completes N crashes.
        per_page=page_size(src, None if summary else lim, per_page, factor=2),
    )
    info = PageInfo()
    records: Iterator[dict[str, Any]] = audit.crash_records(
        read_events(rt, query, src, info), direction
    )
    if summary:
        rows = audit.summarise(records)
        shown: Iterator[dict[str, Any]] = iter(rows if lim is None else rows[:lim])
        if needs_names(spec):
            shown = with_names(shown, resolver)
        written = emit(shown, spec)
        if default_limit and len(rows) > written:
            rt.note(
                f"showing {written} of {len(rows):,} apps with crashes (the default limit); "
                "use --all for every one, or --limit N"
            )
        return
    shown = itertools.islice(records, lim) if lim is not None else records
    if needs_names(spec):
        shown = with_names(shown, resolver)
    written = emit(shown, spec)
    if default_limit and lim is not None and written >= lim:
        _note_more(rt, info, written, direction, records)


def _note_more(
    rt: Runtime, info: Any, written: int, direction: str, rest: Iterator[dict[str, Any]]
) -> None:
    """The default limit cut the list: say so when more crashes are left.

    ``rest`` is the crash stream after the last one shown; peeking at it costs at most one
    more page, and only when every event CC counted has already been read.
    """
    unread = (info.total_results or 0) > info.resources
    if not unread and next(rest, None) is None:
        return
    which = "newest" if direction == "desc" else "oldest"
    counted = (
        f" (Cloud Controller counts {info.total_results:,} crash events in this window, "
        "usually two per crash)"
        if info.total_results
        else ""
    )
    rt.note(
        f"showing the {which} {written} crashes (the default limit){counted}; "
        "use --all for every one, or --limit N"
    )
