"""``cfevents usage export``: every matching event in id order, optionally incremental.

See cfevents.export (paging, min-age) and cfevents.checkpoint (the cursor file and its
guarantees). The command wires them to the output and the stderr progress bar.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from cfevents.cli.options import (
    CreatedAfterOpt,
    CreatedAtOpt,
    CreatedBeforeOpt,
    FieldsOpt,
    GuidOpt,
    NoHeadersOpt,
    OutputOpt,
    SinceOpt,
    StateOpt,
    UntilOpt,
    UsageAppOpt,
    UsageOrgOpt,
    UsageSpaceOpt,
    build_window,
)
from cfevents.cli.runtime import Runtime
from cfevents.cli.usage import USAGE_PATH, app, usage_spec
from cfevents.errors import CfEventsError, UsageError

MAX_MIN_AGE = timedelta(days=3650)  # ten years; longer would reach back before the year 1
MAX_INTERVAL_S = 86400.0  # --follow polls at least daily (and time.sleep cannot take 1e12 s)
INCREMENTAL = "Incremental export"
STREAM_FORMATS = ("csv", "tsv", "ndjson")
EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "json",
}


@app.command("export")
def export_usage(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="FILE",
            help="Write to FILE (format from its extension unless -o): appended with --checkpoint.",
            rich_help_panel=INCREMENTAL,
        ),
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            metavar="FILE",
            help="Incremental: start after the event recorded in FILE, record the new last event after each batch.",
            rich_help_panel=INCREMENTAL,
        ),
    ] = None,
    min_age: Annotated[
        str | None,
        typer.Option(
            "--min-age",
            metavar="DURATION",
            help="Leave events younger than this for the next run [default: 60s with --checkpoint/--follow].",
            rich_help_panel=INCREMENTAL,
        ),
    ] = None,
    on_lost_cursor: Annotated[
        str,
        typer.Option(
            "--on-lost-cursor",
            metavar="fail|restart",
            help="When CC no longer knows the checkpoint's cursor: fail (exit 5), or restart from the oldest event.",
            rich_help_panel=INCREMENTAL,
        ),
    ] = "fail",
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Keep polling for new events until interrupted.",
            rich_help_panel=INCREMENTAL,
        ),
    ] = False,
    interval: Annotated[
        str,
        typer.Option(
            "--interval",
            metavar="DURATION",
            help="With --follow: time between polls.",
            rich_help_panel=INCREMENTAL,
        ),
    ] = "60s",
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
            help="Start after this event (ignored when the checkpoint has a cursor).",
            rich_help_panel="Filters",
        ),
    ] = None,
    state: StateOpt = None,
    org: UsageOrgOpt = None,
    space: UsageSpaceOpt = None,
    app_: UsageAppOpt = None,
    per_page: Annotated[
        int,
        typer.Option(
            "--per-page",
            metavar="N",
            min=1,
            max=5000,
            help="Events per request.",
            rich_help_panel="Paging",
        ),
    ] = 5000,
    output: OutputOpt = None,
    fields: FieldsOpt = None,
    no_headers: NoHeadersOpt = False,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Progress bar on stderr [default: on when stderr is a terminal].",
        ),
    ] = None,
) -> None:
    """Export every matching app usage event, in the order CC recorded them.

    Pages by keyset (after_guid) at 5000 events per request and fetches the next page while
    writing the current one. With --checkpoint it is incremental and safe to rerun: every
    event is written exactly once to --out FILE, even if a run is killed.

    Examples:

        cfevents usage export --since 2024-05-01 --until 2024-06-01 --out may.csv

        cfevents usage export --checkpoint usage.ckpt --out usage.ndjson     # hourly cron

        cfevents usage export --checkpoint usage.ckpt --follow -o ndjson | my-loader
    """
    from dataclasses import replace

    from cfevents.cli.usage import _keep, _scope
    from cfevents.export import ExportJob
    from cfevents.formatters import write
    from cfevents.query import UsageQuery, build_usage_params
    from cfevents.resolve import split_values
    from cfevents.timeparse import TimeParseError, parse_duration, utcnow

    rt: Runtime = ctx.obj
    if out is not None and str(out) == "-":  # --out - is stdout, as for any Unix tool
        out = None
    fmt = output or (EXTENSIONS.get(out.suffix.lower()) if out else None) or _env_format()
    if checkpoint is not None and fmt not in STREAM_FORMATS:
        raise UsageError(f"--checkpoint appends, so it needs -o csv, tsv or ndjson (not {fmt})")
    if on_lost_cursor not in ("fail", "restart"):
        raise UsageError("--on-lost-cursor must be fail or restart")
    try:
        age = parse_duration(min_age) if min_age is not None else None
        pause = parse_duration(interval).total_seconds()
    except TimeParseError as exc:
        raise UsageError(f"--min-age/--interval: {exc}") from None
    if age is not None and age > MAX_MIN_AGE:
        raise UsageError(f"--min-age: {min_age!r} is out of range (at most {MAX_MIN_AGE.days}d)")
    if pause > MAX_INTERVAL_S:
        raise UsageError(f"--interval: {interval!r} is out of range (at most 1d)")
    if age is None and (checkpoint is not None or follow):
        age = parse_duration("60s")
    if age is not None and not age:  # --min-age 0s: no guard at all
        age = None
    spec = usage_spec(fmt, fields, no_headers, None)
    window = build_window(
        utcnow(),
        since=since,
        until=until,
        created_after=created_after,
        created_before=created_before,
        created_at=created_at or (),
    )
    states = {s.upper() for s in split_values(state or [])}

    params = build_usage_params(UsageQuery(window=window, guids=tuple(split_values(guid or []))))
    client = rt.client()
    scope = _scope(rt, org, space, app_)
    job = ExportJob(
        client,
        USAGE_PATH,
        params,
        per_page=per_page,
        min_age=age,
        pause=pause,
        follow=follow,
        restart_lost=on_lost_cursor == "restart",
        note=rt.note,
        warn=rt.warn,
    )
    job.open_cursor(checkpoint, after_guid)
    sink, fresh = job.open_sink(out, spec.fmt)
    spec = replace(spec, headers=fresh and not no_headers)
    bar = _progress_bar(rt, progress)
    job.on_batch = bar.update
    events: Iterator[dict[str, Any]] = job.stream()
    if not scope.is_empty() or states:
        events = (e for e in events if _keep(e, scope, states))
    try:
        written = write(events, sink, spec)
        job.commit()
    except CfEventsError as exc:
        exc.message = f"{exc.message}; {job.stopped_note()}"
        raise
    finally:
        bar.close()
        job.close_sink()
    rt.note(job.summary(written))


def _env_format() -> str:
    """CFEVENTS_OUTPUT when it names a format an export can stream, else NDJSON."""
    import os

    env = (os.environ.get("CFEVENTS_OUTPUT") or "").strip().lower()
    return env if env and env != "table" else "ndjson"


def _progress_bar(rt: Runtime, forced: bool | None) -> Any:
    """A progress bar on stderr: when forced, or on a terminal unless --quiet/--no-progress."""
    from cfevents.cli.progress import ExportProgress, stderr_is_tty

    enabled = bool(forced) or (forced is None and not rt.quiet and stderr_is_tty())
    return ExportProgress(enabled)
