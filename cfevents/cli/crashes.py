"""``cfevents crashes``: app crashes across the foundation, each counted once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from cfevents.cli.options import (
    OUTPUT_PANEL,
    AllOpt,
    AppOpt,
    CreatedAfterOpt,
    CreatedBeforeOpt,
    FieldsOpt,
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

if TYPE_CHECKING:
    from cfevents.api import CrashArgs

FOLLOW_PANEL = "Follow"


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
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Keep watching: print new crashes as they arrive (from now, or --since), each "
            "once, until Ctrl-C or SIGTERM.",
            rich_help_panel=FOLLOW_PANEL,
        ),
    ] = False,
    interval: Annotated[
        str,
        typer.Option(
            "--interval",
            metavar="DURATION",
            help="How often --follow asks Cloud Controller, e.g. 30s, 2m (1s to 1d).",
            rich_help_panel=FOLLOW_PANEL,
        ),
    ] = "30s",
    exec_: Annotated[
        str | None,
        typer.Option(
            "--exec",
            metavar="CMD",
            help="With --follow, run CMD (by the shell) once per crash: the crash as JSON on "
            "stdin, its fields in CFEVENTS_* variables (CFEVENTS_APP_NAME, CFEVENTS_CREATED_AT, ...).",
            rich_help_panel=FOLLOW_PANEL,
        ),
    ] = None,
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
    from cfevents.cli.output import build_spec, needs_names, nothing_found, show

    rt: Runtime = ctx.obj
    if follow or exec_ is not None:
        return _follow(rt, ctx.params)
    kind = "crash-summary" if summary else "crashes"
    spec = build_spec(
        rt, kind, output=output, fields=fields, no_headers=no_headers, table_format=table_format
    )
    lim, default_limit = effective_limit(limit, all_)
    cf = rt.cf()
    listing = (cf.crash_summary if summary else cf.crashes)(
        **window_args(since, until, created_after, created_before),
        **scope_args(org, space, app_),
        order=order,  # type: ignore[arg-type]  # checked by the library
        source=source,  # type: ignore[arg-type]
        per_page=per_page,
        limit=lim,
        names=needs_names(spec),
    )
    nothing = nothing_found(
        ("crash summaries" if summary else "crashes"), since, until, created_after, created_before
    )
    show(rt, listing, spec, default_limit=default_limit, nothing=nothing)


class _Stopped(Exception):
    """SIGTERM while following."""


def _follow(rt: Runtime, params: dict[str, Any]) -> None:
    """crashes --follow: each new crash printed (and --exec run) as it arrives. ``params`` are
    the command's parameters (click's ``ctx.params``)."""
    import dataclasses
    import signal
    import threading

    from cfevents.cli.output import build_spec, emit, needs_names
    from cfevents.errors import UsageError

    p = params
    follow, interval, command, summary = p["follow"], p["interval"], p["exec_"], p["summary"]
    args: CrashArgs = {
        **window_args(p["since"], p["until"], p["created_after"], p["created_before"]),
        **scope_args(p["org"], p["space"], p["app_"]),
        "source": p["source"],
        "per_page": p["per_page"],
        "order": "asc",
        "limit": None,
        "names": True,
    }
    if not follow:
        raise UsageError("--exec runs once per new crash: it needs --follow")
    if summary:
        raise UsageError("--follow prints crashes as they arrive; --summary cannot follow")
    spec = build_spec(
        rt,
        "crashes",
        output=p["output"],
        fields=p["fields"],
        no_headers=p["no_headers"],
        table_format=p["table_format"],
    )
    if spec.fmt == "json":  # an endless stream: one JSON object per line
        spec = dataclasses.replace(spec, fmt="ndjson")
    args["names"] = needs_names(spec) or command is not None
    stop = threading.Event()

    def on_term(signum: int, frame: Any) -> None:
        stop.set()
        raise _Stopped

    previous = signal.signal(signal.SIGTERM, on_term)
    shown = 0
    from cfevents.events.bounds import check_interval

    check_interval(interval)  # before the note: a refused interval prints only its error
    rt.note(f"following crashes every {interval} (Ctrl-C to stop)")
    try:
        for crash in rt.cf().follow_crashes(interval=interval, stop=stop, **args):
            emit(rt, [crash], spec)
            if shown == 0:  # one header, before the first crash
                spec = dataclasses.replace(spec, headers=False)
            shown += 1
            if command is not None:
                _run_exec(rt, command, crash)
    except (KeyboardInterrupt, _Stopped):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    rt.note(f"stopped following ({shown} crash{'es' if shown != 1 else ''} shown)")


def exec_environment(crash: Any) -> dict[str, str]:
    """A crash's fields as CFEVENTS_* variables: CFEVENTS_APP_NAME, CFEVENTS_EXIT_STATUS, ..."""
    from cfevents.output.columns import COLUMN_SETS, get_path
    from cfevents.output.formatters import cell

    env = {}
    for column in COLUMN_SETS["crashes"].columns:
        name = "CFEVENTS_" + "".join(c if c.isalnum() else "_" for c in column).upper()
        env[name] = cell(get_path(crash, column)).replace("\0", "")
    return env


def _run_exec(rt: Runtime, command: str, crash: Any) -> None:
    """Run --exec for one crash; a failing command is a warning, and following goes on."""
    import json
    import os
    import subprocess

    try:
        done = subprocess.run(
            command,
            shell=True,
            input=json.dumps(crash, sort_keys=True).encode(),
            env={**os.environ, **exec_environment(crash)},
            check=False,
        )
    except OSError as exc:
        rt.warn(f"--exec could not run: {exc}")
        return
    if done.returncode != 0:
        rt.warn(f"--exec exited {done.returncode} for the crash at {crash.get('created_at')}")
