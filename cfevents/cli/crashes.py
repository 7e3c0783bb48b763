"""``cfevents crashes``: app crashes across the foundation, each counted once."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cfevents.cli.grouping import grouped, option_group
from cfevents.cli.options import (
    FOLLOW_PANEL,
    OUTPUT_PANEL,
    AuditPaging,
    Follow,
    OutputFlags,
    Scope,
    Window,
)
from cfevents.cli.runtime import Runtime
from cfevents.events.filters import pick, pick_optional
from cfevents.shapes import ORDERS, SOURCES

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import timedelta

    from cfevents.api import CrashArgs, CrashFilterArgs
    from cfevents.events.hooks import Hook
    from cfevents.events.loops import LoopRule
    from cfevents.output.formatters import OutputSpec

WHY_PANEL = "Why it crashed"


@option_group
@dataclass(frozen=True)
class Watch(Follow):
    """The options of ``crashes --follow``: the poll, --exec and its supervision, --loop."""

    exec_: Annotated[
        str | None,
        typer.Option(
            "--exec",
            metavar="CMD",
            help="With --follow, run CMD (by /bin/sh) once per crash, or per loop record with "
            "--loop: the record as JSON on stdin, its fields in CFEVENTS_* variables "
            "(CFEVENTS_APP_NAME, CFEVENTS_STATE, ...) and PATH/HOME/LANG, nothing else; in its own "
            "process group, its output on stderr (or --exec-log).",
            rich_help_panel=FOLLOW_PANEL,
        ),
    ] = None
    exec_timeout: Annotated[
        str | None,
        typer.Option(
            "--exec-timeout",
            metavar="DURATION",
            help="Kill an --exec run (its whole process group) after this long [default: 60s].",
            rich_help_panel=FOLLOW_PANEL,
        ),
    ] = None
    exec_log: Annotated[
        str | None,
        typer.Option(
            "--exec-log",
            metavar="FILE",
            help="Append --exec's stdout and stderr to FILE instead of cfevents' stderr.",
            rich_help_panel=FOLLOW_PANEL,
        ),
    ] = None
    loop: Annotated[
        str | None,
        typer.Option(
            "--loop",
            metavar="N/PERIOD",
            help="With --follow, report crash loops instead of crashes: an app crashing N times "
            "within PERIOD (e.g. 5/10m) is one 'start' record, then a 'repeat' at most every "
            "--repeat while it goes on, and one 'resolved' once quiet for --resolve-after.",
            rich_help_panel=FOLLOW_PANEL,
        ),
    ] = None
    repeat: Annotated[
        str | None,
        typer.Option(
            "--repeat",
            metavar="DURATION",
            help="With --loop: remind at most this often while a loop goes on [default: 1h].",
            rich_help_panel=FOLLOW_PANEL,
        ),
    ] = None
    resolve_after: Annotated[
        str | None,
        typer.Option(
            "--resolve-after",
            metavar="DURATION",
            help="With --loop: a loop is resolved after this long without a crash "
            "[default: the loop's PERIOD].",
            rich_help_panel=FOLLOW_PANEL,
        ),
    ] = None

    @property
    def wanted(self) -> bool:
        """Whether the command follows (or was given an option only a follow takes)."""
        hooks = (self.exec_, self.exec_timeout, self.exec_log, self.loop)
        return self.follow or any(v is not None for v in hooks)


@grouped
def crashes(
    ctx: typer.Context,
    window: Window = Window(),
    scope: Scope = Scope(),
    summary: Annotated[
        bool,
        typer.Option(
            "--summary",
            help="One row per app: crash count, first and last crash, last exit description "
            "(reads every crash in the window; --limit counts apps).",
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = False,
    reason: Annotated[
        list[str] | None,
        typer.Option(
            "--reason",
            metavar="TEXT",
            help="Only crashes whose reason or exit description contains TEXT (any case; "
            "repeatable, any of them), e.g. --reason 'connection refused'.",
            rich_help_panel=WHY_PANEL,
        ),
    ] = None,
    exit_status: Annotated[
        list[str] | None,
        typer.Option(
            "--exit-status",
            metavar="N",
            help="Only crashes with exit status N (repeatable or comma-separated; from "
            "exit_status, else 'Exited with status N' in the description).",
            rich_help_panel=WHY_PANEL,
        ),
    ] = None,
    oom: Annotated[
        bool,
        typer.Option(
            "--oom",
            help="Only out-of-memory kills: exit status 137, or 'out of memory'/'OOM' in the "
            "reason or description.",
            rich_help_panel=WHY_PANEL,
        ),
    ] = False,
    context: Annotated[
        str | None,
        typer.Option(
            "--context",
            metavar="DURATION",
            help="Attach to each crash (and loop) the app's changes in the DURATION before it "
            "(deploys, restages, scales, starts/stops, env and droplet changes), e.g. 15m: a "
            "'context' list in JSON, lines in a table.",
            rich_help_panel=WHY_PANEL,
        ),
    ] = None,
    paging: AuditPaging = AuditPaging(),
    shape: OutputFlags = OutputFlags(),
    watch: Watch = Watch(),
) -> None:
    """List app crashes, newest first, across the foundation (or an org, space or app).

    A limit alone (no time window, no --order) shows the most recent, oldest to newest, like
    tail. Cloud Controller records every crash twice (audit.app.process.crash and app.crash); each
    crash is shown once, from audit.app.process.crash, with app.crash filling any gaps.
    Org and space names are looked up once per run.

    Examples:

        cfevents crashes --since 7d

        cfevents crashes --space prod --org acme --since 24h -o csv > crashes.csv

        cfevents crashes --since 30d --summary

        cfevents crashes --follow --loop 5/10m --repeat 30m --exec ./page.sh
    """
    from cfevents.cli.output import needs_names, nothing_found, show
    from cfevents.errors import UsageError

    rt: Runtime = ctx.obj
    args: CrashArgs = {
        **window.args(),
        **scope.args(),
        **why_args(reason, exit_status, oom, context),
        "source": pick(paging.source, SOURCES, param="source"),
        "per_page": paging.per_page,
        "order": "asc",
        "limit": None,
        "names": True,
    }
    if watch.wanted:
        return _follow(rt, watch, args, shape, summary=summary)
    spec = shape.spec(rt, "crash-summary" if summary else "crashes")
    if summary and context is not None:
        raise UsageError("--context attaches changes to each crash; --summary has no crashes")
    spec = with_context_column(spec, context)
    lim, default_limit = paging.limits()
    order = pick_optional(paging.order, ORDERS, param="order")
    args |= {"order": order, "limit": lim, "names": needs_names(spec)}
    cf = rt.cf()
    listing = (cf.crash_summary if summary else cf.crashes)(**args)
    nothing = nothing_found("crash summaries" if summary else "crashes", *window.bounds)
    filtered = _why_text(reason, exit_status, oom)
    show(rt, listing, spec, default_limit=default_limit, nothing=nothing, filtered=filtered)


def why_args(
    reason: list[str] | None, exit_status: list[str] | None, oom: bool, context: str | None
) -> CrashFilterArgs:
    """The library's arguments for --reason, --exit-status, --oom and --context."""
    return {
        "reasons": reason or [],
        "exit_statuses": exit_status or [],
        "oom": oom,
        "context": context,
    }


def with_context_column(spec: OutputSpec, context: str | timedelta | None) -> OutputSpec:
    """With --context, tables and CSV/TSV show the ``context`` column last (JSON has it
    anyway; --fields chooses for itself)."""
    import dataclasses

    if context is None or spec.fields is not None or spec.fmt not in ("table", "csv", "tsv"):
        return spec
    return dataclasses.replace(spec, columns=(*spec.columns, "context"))


def _why_text(reason: list[str] | None, exit_status: list[str] | None, oom: bool) -> str:
    parts = [f"--reason {r!r}" for r in reason or []]
    parts += [f"--exit-status {s}" for s in exit_status or []]
    return " ".join([*parts, *(["--oom"] if oom else [])])


def _follow(
    rt: Runtime, watch: Watch, args: CrashArgs, shape: OutputFlags, *, summary: bool
) -> None:
    """crashes --follow: each new crash (or, with --loop, each loop record) printed and
    --exec run as it arrives, until SIGTERM (exit 143) or Ctrl-C (130)."""
    from cfevents.cli.follow import run_follow, stream_spec
    from cfevents.cli.output import needs_names
    from cfevents.events.loops import is_loop

    pause, rule = _follow_plan(watch, args, summary)
    kind = "crash-loops" if rule is not None else "crashes"
    spec = with_context_column(stream_spec(shape.spec(rt, kind)), args.get("context"))
    args["names"] = needs_names(spec) or watch.exec_ is not None
    loops = f", loops of {rule} crashes" if rule is not None else ""
    rt.note(f"following crashes every {watch.interval}{loops} (Ctrl-C to stop)")
    nouns = ("loop record", "loop records") if rule is not None else ("crash", "crashes")
    with _exec_hook(rt, watch) as hook:
        records = rt.cf().follow_crashes(interval=pause, loop=rule, **args)
        shown = (r for r in records if rule is None or is_loop(dict(r)))
        each = None if hook is None else (lambda record: _run_exec(rt, hook, record, kind))
        run_follow(rt, shown, spec, nouns=nouns, each=each)


def _follow_plan(watch: Watch, args: CrashArgs, summary: bool) -> tuple[float, LoopRule | None]:
    """The follow's poll interval (seconds) and loop rule; usage errors for options that
    cannot follow."""
    from cfevents.errors import UsageError
    from cfevents.events.bounds import check_interval
    from cfevents.events.loops import parse_loop

    if not watch.follow:
        hooks = {"--exec": watch.exec_, "--loop": watch.loop}
        hooks |= {"--exec-timeout": watch.exec_timeout, "--exec-log": watch.exec_log}
        for name, value in hooks.items():
            if value is not None:
                raise UsageError(f"{name} works on new crashes as they arrive: it needs --follow")
    if summary:
        raise UsageError("--follow prints crashes as they arrive; --summary cannot follow")
    if args.get("until") or args.get("created_before"):
        raise UsageError("--follow has no end: drop --until/--created-before")
    if watch.loop is None and (watch.repeat is not None or watch.resolve_after is not None):
        raise UsageError(
            "--repeat and --resolve-after shape loop records: they need --loop N/PERIOD"
        )
    pause = check_interval(watch.interval)  # before the note: a refused one prints only its error
    rule = parse_loop(watch.loop, watch.repeat, watch.resolve_after) if watch.loop else None
    return pause, rule


@contextlib.contextmanager
def _exec_hook(rt: Runtime, watch: Watch) -> Iterator[Hook | None]:
    """The --exec supervisor (None without --exec): its timeout, and its output to stderr or
    appended to --exec-log (opened once, closed at the end)."""
    import os

    from cfevents.errors import OutputIOError, UsageError
    from cfevents.events.hooks import MAX_TIMEOUT_S, Hook
    from cfevents.timeparse import TimeParseError, parse_duration

    if watch.exec_ is None:
        if watch.exec_timeout is not None or watch.exec_log is not None:
            raise UsageError(
                "--exec-timeout and --exec-log shape --exec runs: they need --exec CMD"
            )
        yield None
        return
    timeout = 60.0
    if watch.exec_timeout is not None:
        try:
            timeout = parse_duration(watch.exec_timeout).total_seconds()
        except TimeParseError as exc:
            raise UsageError(f"--exec-timeout: {exc}") from None
        if not 1 <= timeout <= MAX_TIMEOUT_S:
            raise UsageError(f"--exec-timeout: {watch.exec_timeout!r} is out of range (1s to 1d)")
    log = 2
    if watch.exec_log is not None:
        try:
            log = os.open(watch.exec_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as exc:
            raise OutputIOError(f"--exec-log {watch.exec_log}: {exc.strerror}") from None
    try:
        yield Hook(watch.exec_, timeout=timeout, log=log, parent_env=rt.env.env)
    finally:
        if log != 2:
            os.close(log)


def exec_environment(record: Any, kind: str = "crashes") -> dict[str, str]:
    """A record's fields as CFEVENTS_* variables (CFEVENTS_APP_NAME, CFEVENTS_EXIT_STATUS, ...),
    plus CFEVENTS_KIND: ``crash``, or ``loop`` for a loop record (CFEVENTS_STATE says which)."""
    from cfevents.output.columns import COLUMN_SETS, get_path
    from cfevents.output.formatters import cell

    env = {"CFEVENTS_KIND": "loop" if kind == "crash-loops" else "crash"}
    for column in COLUMN_SETS[kind].columns:
        name = "CFEVENTS_" + "".join(c if c.isalnum() else "_" for c in column).upper()
        env[name] = cell(get_path(record, column)).replace("\0", "")
    return env


def _run_exec(rt: Runtime, hook: Hook, record: dict[str, Any], kind: str) -> None:
    """Run --exec for one record; a failing or stuck command is one warning, and the follow
    goes on."""
    import json

    outcome = hook.run(json.dumps(record, sort_keys=True).encode(), exec_environment(record, kind))
    problem = outcome.problem()
    if problem is None:
        return
    app = (record.get("app") or {}).get("name") or (record.get("app") or {}).get("guid")
    if kind == "crash-loops":
        about = f"loop {record.get('state')} of app {app} at {record.get('at')}"
    else:
        about = f"the crash of app {app} at {record.get('created_at')}"
    rt.warn(f"--exec {problem} (for {about}); following goes on")
