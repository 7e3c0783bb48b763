"""Shared option declarations (Annotated aliases) and their parsing into query objects."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cfevents.cli import MARKUP_MODE as MARKUP_MODE  # lives where start-up needs it
from cfevents.cli.grouping import option_group
from cfevents.errors import UsageError
from cfevents.events.bounds import check_limit

if TYPE_CHECKING:
    from cfevents.api import ScopeArgs, TimeArgs
    from cfevents.cli.runtime import Runtime
    from cfevents.events.args import GuidArgs
    from cfevents.events.kinds import EventKind
    from cfevents.output.formatters import OutputSpec

OUTPUT_PANEL = "Output"
TIME_PANEL = "Time window"
SCOPE_PANEL = "Scope (names or GUIDs)"
PAGING_PANEL = "Paging"

TIME_VALUE = "T"
_TIME_HELP = "T: RFC 3339 (Z or offset), a date, an age like 7d/24h/30m, or now."

SinceOpt = Annotated[
    str | None,
    typer.Option(
        "--since",
        metavar=TIME_VALUE,
        help=f"Events at or after T (created_ats[gte]). {_TIME_HELP}",
        rich_help_panel=TIME_PANEL,
    ),
]
UntilOpt = Annotated[
    str | None,
    typer.Option(
        "--until",
        metavar=TIME_VALUE,
        help="Events before T (created_ats[lt]); --since A --until B is the half-open window [A, B).",
        rich_help_panel=TIME_PANEL,
    ),
]
CreatedAfterOpt = Annotated[
    str | None,
    typer.Option(
        "--created-after",
        metavar=TIME_VALUE,
        help="Events after T (created_ats[gt]; CC counts whole seconds, so from T+1s).",
        rich_help_panel=TIME_PANEL,
    ),
]
CreatedBeforeOpt = Annotated[
    str | None,
    typer.Option(
        "--created-before",
        metavar=TIME_VALUE,
        help="Events before T (created_ats[lt]).",
        rich_help_panel=TIME_PANEL,
    ),
]

OrgOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--org",
        metavar="NAME|GUID",
        help="Only this org (repeatable).",
        rich_help_panel=SCOPE_PANEL,
    ),
]
SpaceOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--space",
        metavar="NAME|GUID",
        help="Only this space (repeatable; add --org if the name is in several orgs).",
        rich_help_panel=SCOPE_PANEL,
    ),
]
AppOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--app",
        metavar="NAME|GUID",
        help="Only this app (repeatable; add --space if the name is in several spaces).",
        rich_help_panel=SCOPE_PANEL,
    ),
]

LimitOpt = Annotated[
    int | None,
    typer.Option(
        "--limit",
        "-n",
        metavar="N",
        help="Stop after N results [default: 50].",
        rich_help_panel=PAGING_PANEL,
    ),
]
AllOpt = Annotated[
    bool,
    typer.Option(
        "--all", help="Fetch every matching result (no limit).", rich_help_panel=PAGING_PANEL
    ),
]

OutputOpt = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        metavar="FORMAT",
        help="table, wide (a table with full GUIDs), json, ndjson, csv or tsv [default: table, or $CFEVENTS_OUTPUT].",
        rich_help_panel=OUTPUT_PANEL,
    ),
]
FieldsOpt = Annotated[
    str | None,
    typer.Option(
        "--fields",
        metavar="A,B.C",
        help="Comma-separated dotted paths into the event; selects and orders columns in every format.",
        rich_help_panel=OUTPUT_PANEL,
    ),
]
NoHeadersOpt = Annotated[
    bool,
    typer.Option(
        "--no-headers",
        help="Leave out the header row (table, csv, tsv).",
        rich_help_panel=OUTPUT_PANEL,
    ),
]
TableFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--table-format",
        metavar="FMT",
        help="Any tabulate format (simple, github, grid, psql, rst, ...); forces a plain table.",
        rich_help_panel=OUTPUT_PANEL,
    ),
]


# -- options shared by `events list` and `crashes` ---------------------------------------------

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
    str | None,
    typer.Option(
        "--order",
        metavar="desc|asc",
        help="desc: newest first; asc: oldest first. Default: newest first; with a limit and no window, the most recent, printed oldest to newest (like tail).",
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


# -- options shared by `usage list` and `usage export` ------------------------------------------

FILTER_PANEL = "Filters"
_AFTER_FETCH = "Filtered after fetching: the usage endpoint cannot filter on it."

CreatedAtOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--created-at",
        metavar="T",
        help="Events in the whole second T (repeatable; OR).",
        rich_help_panel=TIME_PANEL,
    ),
]
GuidOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--guid",
        metavar="GUID",
        help="Only these event GUIDs (repeatable or comma list).",
        rich_help_panel=FILTER_PANEL,
    ),
]
StateOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--state",
        metavar="STATE",
        help=f"Only events whose state.current is STATE (STARTED, STOPPED, TASK_STARTED, ...; repeatable). {_AFTER_FETCH}",
        rich_help_panel=FILTER_PANEL,
    ),
]
UsageOrgOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--org",
        metavar="NAME|GUID",
        help=f"Only this org (repeatable). {_AFTER_FETCH}",
        rich_help_panel=SCOPE_PANEL,
    ),
]
UsageSpaceOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--space",
        metavar="NAME|GUID",
        help=f"Only this space (repeatable; add --org if the name is in several orgs). {_AFTER_FETCH}",
        rich_help_panel=SCOPE_PANEL,
    ),
]
UsageAppOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--app",
        metavar="NAME|GUID",
        help=f"Only this app (repeatable; add --space if the name is in several spaces). {_AFTER_FETCH}",
        rich_help_panel=SCOPE_PANEL,
    ),
]

DEFAULT_LIMIT = 50


def effective_limit(limit: int | None, all_: bool) -> tuple[int | None, bool]:
    """(limit or None for all, whether the default limit applies)."""
    if all_ and limit is not None:
        raise UsageError("use either --limit N or --all, not both")
    if all_:
        return None, False
    if limit is None:
        return DEFAULT_LIMIT, True
    return check_limit(limit), False


def window_args(
    since: str | None, until: str | None, created_after: str | None, created_before: str | None
) -> TimeArgs:
    """The time flags as the library's time arguments."""
    return {
        "since": since,
        "until": until,
        "created_after": created_after,
        "created_before": created_before,
    }


def scope_args(
    org: Sequence[str] | None, space: Sequence[str] | None, app: Sequence[str] | None
) -> ScopeArgs:
    """--org/--space/--app as the library's scope arguments."""
    return {"org": org or (), "space": space or (), "app": app or ()}


RequireCompleteOpt = Annotated[
    bool,
    typer.Option(
        "--require-complete",
        help="Exit 7 when the window starts before the oldest event of its kind Cloud "
        "Controller still holds (by default that is a warning naming the span covered).",
    ),
]


@contextmanager
def coverage_noted(
    rt: Any, kind: EventKind, time: TimeArgs, require_complete: bool
) -> Iterator[None]:
    """Around a listing's rows: with --require-complete a window CC has partly pruned is
    refused before any row (exit 7), else it is warned about after them."""
    if require_complete:
        check_coverage(rt, kind, time, True)
    yield
    if not require_complete:
        check_coverage(rt, kind, time, False)


def check_coverage(rt: Any, kind: EventKind, time: TimeArgs, require_complete: bool) -> None:
    """Warn (or with --require-complete fail, exit 7) when CC has pruned part of the window
    of ``kind``'s events."""
    if time.get("since") is None and time.get("created_after") is None:
        return
    gap = rt.cf().coverage(kind, **time)
    if gap is None:
        return
    if require_complete:
        from cfevents.errors import IncompleteDataError

        raise IncompleteDataError(f"{gap} (--require-complete)")
    rt.warn(gap)


AfterGuidOpt = Annotated[
    str | None,
    typer.Option(
        "--after-guid",
        metavar="GUID",
        help="Only events recorded after this event (CC's id order).",
        rich_help_panel=FILTER_PANEL,
    ),
]
# v3 event lists (usage and service usage events): order, page size, one page
UsageOrderOpt = Annotated[
    str | None,
    typer.Option(
        "--order",
        metavar="desc|asc",
        help="Sort by created_at: desc newest first, asc oldest first. Default: CC's id order, the order events happened in.",
        rich_help_panel=PAGING_PANEL,
    ),
]
V3PerPageOpt = Annotated[
    int | None,
    typer.Option(
        "--per-page",
        metavar="N",
        help="Events per request, 1..5000 [default: follows --limit, 5000 with --all].",
        rich_help_panel=PAGING_PANEL,
    ),
]
PageOpt = Annotated[
    int | None,
    typer.Option(
        "--page",
        metavar="N",
        min=1,
        max=1_000_000_000,
        help="Fetch only page N (of --per-page events).",
        rich_help_panel=PAGING_PANEL,
    ),
]

# --follow of audit listings (crashes, events list): the same keyset follow, the same bounds
FOLLOW_PANEL = "Follow"
FollowOpt = Annotated[
    bool,
    typer.Option(
        "--follow",
        "-f",
        help="Keep watching: print new records as they arrive (from now, or --since), each "
        "once, oldest first, until Ctrl-C (exit 130) or SIGTERM (exit 143).",
        rich_help_panel=FOLLOW_PANEL,
    ),
]
FollowIntervalOpt = Annotated[
    str,
    typer.Option(
        "--interval",
        metavar="DURATION",
        help="How often --follow asks Cloud Controller, e.g. 30s, 2m (5s to 1d).",
        rich_help_panel=FOLLOW_PANEL,
    ),
]


# -- option groups: the options above, declared once per group (cfevents.cli.grouping) ---------


@option_group
@dataclass(frozen=True)
class Window:
    """--since/--until/--created-after/--created-before."""

    since: SinceOpt = None
    until: UntilOpt = None
    created_after: CreatedAfterOpt = None
    created_before: CreatedBeforeOpt = None

    @property
    def bounds(self) -> tuple[str | None, str | None, str | None, str | None]:
        return (self.since, self.until, self.created_after, self.created_before)

    def args(self) -> TimeArgs:
        """The library's time arguments."""
        return window_args(*self.bounds)


@option_group
@dataclass(frozen=True)
class Scope:
    """--org/--space/--app, by name or GUID (the server filters audit events by them)."""

    org: OrgOpt = None
    space: SpaceOpt = None
    app_: AppOpt = None

    def args(self) -> ScopeArgs:
        """The library's scope arguments."""
        return scope_args(self.org, self.space, self.app_)


@option_group
@dataclass(frozen=True)
class UsageScope(Scope):
    """--org/--space/--app of app usage events (filtered after fetching)."""

    org: UsageOrgOpt = None
    space: UsageSpaceOpt = None
    app_: UsageAppOpt = None


@option_group
@dataclass(frozen=True)
class OutputFlags:
    """The output options every listing takes (-o, --fields, --no-headers, --table-format)."""

    output: OutputOpt = None
    fields: FieldsOpt = None
    no_headers: NoHeadersOpt = False
    table_format: TableFormatOpt = None

    def spec(self, rt: Runtime, kind: str) -> OutputSpec:
        """The output spec for these options and the column set ``kind`` (usage errors for
        bad values)."""
        from cfevents.cli.output import build_spec

        return build_spec(
            rt,
            kind,
            output=self.output,
            fields=self.fields,
            no_headers=self.no_headers,
            table_format=self.table_format,
        )


@option_group
@dataclass(frozen=True)
class EventFilters:
    """--created-at, --guid and --after-guid of the usage kinds' listings."""

    created_at: CreatedAtOpt = None
    guid: GuidOpt = None
    after_guid: AfterGuidOpt = None

    def args(self) -> GuidArgs:
        """The library's arguments for them."""
        return {
            "created_at": self.created_at or (),
            "guids": self.guid or (),
            "after_guid": self.after_guid,
        }


@option_group
@dataclass(frozen=True)
class Paging:
    """--per-page, --page, --limit and --all of the usage kinds' listings."""

    per_page: V3PerPageOpt = None
    page: PageOpt = None
    limit: LimitOpt = None
    all_: AllOpt = False

    def limits(self) -> tuple[int | None, bool]:
        """(the limit, None for all; whether the default limit applies)."""
        return effective_limit(self.limit, self.all_)


@option_group
@dataclass(frozen=True)
class AuditPaging:
    """--order, --source, --per-page, --limit and --all of the audit listings."""

    order: OrderOpt = None
    source: SourceOpt = "auto"
    per_page: PerPageOpt = None
    limit: LimitOpt = None
    all_: AllOpt = False

    def limits(self) -> tuple[int | None, bool]:
        """(the limit, None for all; whether the default limit applies)."""
        return effective_limit(self.limit, self.all_)


@option_group
@dataclass(frozen=True)
class Follow:
    """--follow and --interval of the audit listings (the keyset follow)."""

    follow: FollowOpt = False
    interval: FollowIntervalOpt = "30s"
