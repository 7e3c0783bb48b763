"""``cfevents usage export``: every matching event in id order, optionally incremental.

The engine is ``Client.usage_export`` (cfevents.export.engine: paging, min-age; cfevents.export.checkpoint:
the cursor file and its guarantees). The command wires it to the output and the progress bar.
``cfevents.cli.usage`` registers it in the ``usage`` group.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cfevents.cli.flat import FlatOpt
from cfevents.cli.grouping import grouped, option_group
from cfevents.cli.options import (
    EventFilters,
    FieldsOpt,
    NoHeadersOpt,
    OutputFlags,
    OutputOpt,
    RequireCompleteOpt,
    StateOpt,
    UsageScope,
    Window,
    check_coverage,
)
from cfevents.cli.runtime import Runtime
from cfevents.events.filters import pick
from cfevents.shapes import LOST_CURSOR_CHOICES, ON_ROTATED_CHOICES

if TYPE_CHECKING:
    from cfevents.cli.progress import ExportProgress
    from cfevents.events.args import ServiceFilterArgs, UsageFilterArgs
    from cfevents.events.kinds import EventKind
    from cfevents.export.engine import ExportJob
    from cfevents.export.plan import ExportArgs
    from cfevents.output.formatters import OutputSpec

INCREMENTAL = "Incremental export"
# the demo sandbox listens on a new port each run: one name, so reruns add to one history
DEMO_FOUNDATION = "demo:sandbox"


CheckpointOpt = Annotated[
    Path | None,
    typer.Option(
        "--checkpoint",
        metavar="FILE",
        help="Incremental: start after the event recorded in FILE, record the new last event after each batch.",
        rich_help_panel=INCREMENTAL,
    ),
]
ExportMinAgeOpt = Annotated[
    str | None,
    typer.Option(
        "--min-age",
        metavar="DURATION",
        help="Leave events younger than this for the next run [default: 60s with --checkpoint/--follow].",
        rich_help_panel=INCREMENTAL,
    ),
]
OnLostCursorOpt = Annotated[
    str,
    typer.Option(
        "--on-lost-cursor",
        metavar="fail|restart",
        help="When CC no longer knows the checkpoint's cursor: fail (exit 5), or restart from the oldest event.",
        rich_help_panel=INCREMENTAL,
    ),
]
FollowOpt = Annotated[
    bool,
    typer.Option(
        "--follow",
        "-f",
        help="Keep polling for new events until interrupted.",
        rich_help_panel=INCREMENTAL,
    ),
]
IntervalOpt = Annotated[
    str,
    typer.Option(
        "--interval",
        metavar="DURATION",
        help="With --follow: time between polls.",
        rich_help_panel=INCREMENTAL,
    ),
]
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Overwrite a non-empty --out FILE (without --checkpoint it is replaced).",
        rich_help_panel=INCREMENTAL,
    ),
]
ProgressOpt = Annotated[
    bool | None,
    typer.Option(
        "--progress/--no-progress",
        help="Progress bar on stderr [default: on when stderr is a terminal].",
    ),
]


ParallelOpt = Annotated[
    int,
    typer.Option(
        "--parallel",
        metavar="N",
        help="Page the settled range (older than --min-age, up to --until) as N id-ordered "
        "sub-ranges at once; the same bytes as a serial export (a backfill: 4).",
        rich_help_panel="Paging",
    ),
]
ExportPerPageOpt = Annotated[
    int,
    typer.Option(
        "--per-page",
        metavar="N",
        help="Events per request (1..5000).",
        rich_help_panel="Paging",
    ),
]
OnRotatedOpt = Annotated[
    str,
    typer.Option(
        "--on-rotated",
        metavar="fail|new-file",
        help="When --out was rotated away or truncated under the checkpoint: fail (exit 9), or carry on in the file now there.",
        rich_help_panel=INCREMENTAL,
    ),
]
ExportAfterGuidOpt = Annotated[
    str | None,
    typer.Option(
        "--after-guid",
        metavar="GUID",
        help="Start after this event (ignored when the checkpoint has a cursor).",
        rich_help_panel="Filters",
    ),
]


@option_group
@dataclass(frozen=True)
class Incremental:
    """How an export runs again: its checkpoint, min-age, lost cursor, rotated file, follow."""

    checkpoint: CheckpointOpt = None
    min_age: ExportMinAgeOpt = None
    on_lost_cursor: OnLostCursorOpt = "fail"
    on_rotated: OnRotatedOpt = "fail"
    follow: FollowOpt = False
    interval: IntervalOpt = "60s"

    def args(self) -> ExportArgs:
        """The library's export arguments for them."""
        return {
            "checkpoint": self.checkpoint,
            "min_age": self.min_age,
            "on_lost_cursor": pick(
                self.on_lost_cursor, LOST_CURSOR_CHOICES, param="on_lost_cursor"
            ),
            "on_rotated": pick(self.on_rotated, ON_ROTATED_CHOICES, param="on_rotated"),
            "follow": self.follow,
            "interval": self.interval,
        }


@option_group
@dataclass(frozen=True)
class ExportFilters(EventFilters):
    """--created-at, --guid and --after-guid of an export (a checkpoint's cursor wins)."""

    after_guid: ExportAfterGuidOpt = None


@option_group
@dataclass(frozen=True)
class ExportPaging:
    """--per-page and --parallel of an export."""

    per_page: ExportPerPageOpt = 5000
    parallel: ParallelOpt = 1


@option_group
@dataclass(frozen=True)
class ExportOutput:
    """-o, --fields, --no-headers and --flat of an export."""

    output: OutputOpt = None
    fields: FieldsOpt = None
    no_headers: NoHeadersOpt = False
    flat: FlatOpt = False


@grouped
def export_usage(
    ctx: typer.Context,
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            metavar="FILE|DB",
            help="Write to FILE (format from its extension unless -o): appended with --checkpoint; "
            "strftime patterns make dated files: usage-%Y-%m-%d.csv. A database (usage.db, "
            "*.sqlite, sqlite:///PATH, postgresql://…) keeps every event and its own cursor: "
            "rerun it to add new events.",
            rich_help_panel=INCREMENTAL,
        ),
    ] = None,
    incremental: Incremental = Incremental(),
    window: Window = Window(),
    filters: ExportFilters = ExportFilters(),
    state: StateOpt = None,
    scope: UsageScope = UsageScope(),
    paging: ExportPaging = ExportPaging(),
    shape: ExportOutput = ExportOutput(),
    require_complete: RequireCompleteOpt = False,
    force: ForceOpt = False,
    progress: ProgressOpt = None,
) -> None:
    """Export every matching app usage event, in the order CC recorded them.

    Pages by keyset (after_guid) at 5000 events per request and fetches the next page while
    writing the current one. With --checkpoint it is incremental and safe to rerun: every
    event is written exactly once to --out FILE, even if a run is killed.

    Examples:

        cfevents usage export --since 2024-05-01 --until 2024-06-01 --out may.csv

        cfevents usage export --checkpoint usage.ckpt --out usage.ndjson     # hourly cron

        cfevents usage export --out usage.db       # hourly cron: history past 31 days

        cfevents usage export --checkpoint usage.ckpt --follow -o ndjson | my-loader
    """
    from cfevents.events.kinds import APP_USAGE

    rt: Runtime = ctx.obj
    given: UsageFilterArgs = {
        **window.args(),
        **filters.args(),
        **scope.args(),
        "state": state or (),
        "names": _shows_org_name(shape.fields),  # org names only when they are written
    }
    job = start_export(rt, APP_USAGE, given, out, incremental, paging, shape, force)
    check_coverage(rt, APP_USAGE, window.args(), require_complete)
    finish_export(rt, APP_USAGE, job, shape, progress)


def start_export(
    rt: Runtime,
    kind: EventKind,
    filters: UsageFilterArgs | ServiceFilterArgs,
    out: str | None,
    incremental: Incremental,
    paging: ExportPaging,
    shape: ExportOutput,
    force: bool,
) -> ExportJob:
    """The export job of ``kind`` for the export options every kind shares (checked by the
    library's ExportPlan.build) and the kind's own ``filters``."""
    options: ExportArgs = {
        "out": out,
        "force": force,
        "format": shape.output,
        "default_format": _env_format(rt),
        **incremental.args(),
        "per_page": paging.per_page,
        "parallel": paging.parallel,
        "foundation": DEMO_FOUNDATION if rt.demo else None,
        "flat": shape.flat,
    }
    return rt.cf().export(kind, **options, **filters)


def finish_export(
    rt: Runtime, kind: EventKind, job: ExportJob, shape: ExportOutput, progress: bool | None
) -> None:
    """Run an export job to its output (the kind's columns, or its flat ones) with its
    progress bar, then say what it did."""
    from cfevents.cli.flat import kind_spec

    flags = OutputFlags(job.plan.fmt, shape.fields, shape.no_headers)
    run_export(rt, job, kind_spec(rt, kind, flags, flat=shape.flat), progress)


def run_export(rt: Runtime, job: ExportJob, spec: OutputSpec, progress: bool | None) -> None:
    """Run an export job with its progress bar (stderr), then say what it did."""
    with job, _progress_bar(rt, progress) as bar:
        written = job.run(spec, stdout=rt.env.stdout, on_batch=bar.update)
    rt.note(job.summary(written))


def _shows_org_name(fields: str | None) -> bool:
    """Whether the export's output shows organization.name (every format does by default)."""
    from cfevents.output.columns import parse_fields

    if fields is None:
        return True
    return any(f in ("organization.name", "organization", "org_name") for f in parse_fields(fields))


def _env_format(rt: Runtime) -> str:
    """CFEVENTS_OUTPUT when it names a format an export can stream, else NDJSON."""
    env = (rt.env.env.get("CFEVENTS_OUTPUT") or "").strip().lower()
    return env if env and env != "table" else "ndjson"


def _progress_bar(rt: Runtime, forced: bool | None, verb: str = "exporting") -> ExportProgress:
    """A progress bar on stderr: when forced, or on a terminal unless --quiet/--no-progress."""
    from cfevents.cli.progress import ExportProgress

    enabled = bool(forced) or (forced is None and not rt.quiet and rt.env.stderr_isatty())
    return ExportProgress(enabled, rt.env.stderr, rt.env.stderr_isatty(), verb)
