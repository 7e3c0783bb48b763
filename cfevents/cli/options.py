"""Shared option declarations (Annotated aliases) and their parsing into query objects."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cfevents.errors import UsageError

if TYPE_CHECKING:
    from cfevents.query import TimeWindow

# Typer's rich help costs start-up time; use it on terminals only.
MARKUP_MODE: Any = "rich" if getattr(sys.stdout, "isatty", lambda: False)() else None

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
        min=1,
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
        help="table, json, ndjson, csv or tsv [default: table, or $CFEVENTS_OUTPUT].",
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
MAX_LIMIT = 1_000_000_000  # more than any foundation keeps; beyond it, --all is what was meant


def effective_limit(limit: int | None, all_: bool) -> tuple[int | None, bool]:
    """(limit or None for all, whether the default limit applies)."""
    if all_ and limit is not None:
        raise UsageError("use either --limit N or --all, not both")
    if all_:
        return None, False
    if limit is None:
        return DEFAULT_LIMIT, True
    if limit > MAX_LIMIT:
        raise UsageError(f"--limit: {limit} is out of range (at most {MAX_LIMIT:,}; or use --all)")
    return limit, False


def parse_time_flag(flag: str, value: str, now: datetime) -> datetime:
    """Parse one time flag, naming the flag in the error."""
    from cfevents.timeparse import TimeParseError, parse_time

    try:
        return parse_time(value, now)
    except TimeParseError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def stdout_is_tty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def output_format(value: str | None) -> str:
    from cfevents.formatters import FORMATS

    fmt = (value or os.environ.get("CFEVENTS_OUTPUT") or "table").strip().lower()
    if fmt not in FORMATS:
        source = "--output" if value else "CFEVENTS_OUTPUT"
        raise UsageError(f"{source}: unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return fmt


def build_window(
    now: datetime,
    *,
    since: str | None,
    until: str | None,
    created_after: str | None,
    created_before: str | None,
    created_at: Sequence[str] = (),
) -> TimeWindow:
    """Parse the time flags into a server-side window (usage errors name the flag)."""
    from cfevents.query import TimeWindow

    if until is not None and created_before is not None:
        raise UsageError(
            "--until and --created-before are the same bound (created_ats[lt]); give one"
        )
    relational = [since, until, created_after, created_before]
    if created_at and any(v is not None for v in relational):
        raise UsageError(
            "--created-at (exact seconds) cannot be combined with --since/--until/"
            "--created-after/--created-before: Cloud Controller rejects that mix"
        )
    equals = tuple(parse_time_flag("--created-at", v, now) for v in _split_commas(created_at))
    window = TimeWindow(
        gte=parse_time_flag("--since", since, now) if since is not None else None,
        gt=parse_time_flag("--created-after", created_after, now)
        if created_after is not None
        else None,
        lt=_lt(now, until, created_before),
        equals=equals,
    )
    lower = window.gte or window.gt
    if lower is not None and window.lt is not None and lower >= window.lt:
        raise UsageError("the time window is empty: the start is not before the end")
    return window


def _lt(now: datetime, until: str | None, created_before: str | None) -> datetime | None:
    if until is not None:
        return parse_time_flag("--until", until, now)
    if created_before is not None:
        return parse_time_flag("--created-before", created_before, now)
    return None


def _split_commas(values: Sequence[str]) -> list[str]:
    return [p.strip() for v in values for p in v.split(",") if p.strip()]
