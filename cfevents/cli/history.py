"""``cfevents history``: the billing front door — a store that keeps usage events past Cloud
Controller's 31-day retention (``init``), kept current by cron or a systemd timer (``sync``),
and what it covers (``status``). The work is ``Client.history_sync`` / ``history_status``."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cfevents.cli.grouping import grouped, option_group
from cfevents.cli.options import MARKUP_MODE, NoHeadersOpt, OutputOpt
from cfevents.cli.output import output_format
from cfevents.cli.runtime import Runtime
from cfevents.errors import UsageError

if TYPE_CHECKING:
    from cfevents.report.coverage import KindStatus

app = typer.Typer(
    help="History for billing: keep usage events past the 31-day retention, report any month.",
    no_args_is_help=True,
    rich_markup_mode=MARKUP_MODE,
)

StoreArg = Annotated[
    str | None,
    typer.Argument(
        metavar="STORE",
        envvar="CFEVENTS_STORE",
        show_envvar=True,
        help="The store: a SQLite file (usage.db, *.sqlite) or postgresql://user@host/db.",
    ),
]
SyncMinAgeOpt = Annotated[
    str | None,
    typer.Option(
        "--min-age",
        metavar="DURATION",
        help="Leave events younger than DURATION for the next sync [default: 60s].",
    ),
]
FoundationOpt = Annotated[
    str | None,
    typer.Option(
        "--foundation",
        metavar="NAME",
        help="The name this foundation's rows carry in the store [default: its API URL].",
    ),
]


@option_group
@dataclass(frozen=True)
class SyncFlags:
    """What ``history init`` and ``history sync`` take: the store, --min-age, --foundation."""

    store: StoreArg = None
    min_age: SyncMinAgeOpt = None
    foundation: FoundationOpt = None

    def sync(self, rt: Runtime) -> str:
        """Run ``Client.history_sync`` into the checked store, a note per kind; the store."""
        target, name = _store(self.store), self.foundation or _foundation(rt)
        for line in rt.cf().history_sync(target, min_age=self.min_age, foundation=name):
            rt.note(line)
        return target


STATUS_FIELDS = (
    "foundation",
    "kind",
    "rows",
    "first_event",
    "complete_until",
    "last_sync",
    "gaps",
    "reseeds",
    "first_month",
    "reportable_from",
    "months",
)


def _store(store: str | None) -> str:
    from cfevents.stores import is_store_target

    if not store:
        raise UsageError("name the store: cfevents history init usage.db (or set CFEVENTS_STORE)")
    if not is_store_target(store):
        raise UsageError(
            f"{store!r} is not a store: a SQLite file ending in .db, .sqlite or .sqlite3, "
            "sqlite:///PATH, or postgresql://user@host/db"
        )
    return store


@app.command("init")
@grouped
def history_init(ctx: typer.Context, given: SyncFlags = SyncFlags()) -> None:
    """Start here: create the store, backfill everything Cloud Controller still keeps (app and
    service usage events, the opening snapshot), then print what is covered, from when each
    month can be reported, and the cron line / systemd timer that keeps it current.

    Examples:

        cfevents history init /var/lib/cfevents/usage.db

        cfevents history init postgresql://billing@db.example/usage
    """
    rt: Runtime = ctx.obj
    target = given.sync(rt)
    statuses = rt.cf().history_status(target, given.foundation or _foundation(rt))
    rt.env.stdout.write(coverage_text(statuses) + "\n\n" + keep_current_text(rt, target) + "\n")
    rt.env.stdout.flush()


@app.command("sync")
@grouped
def history_sync(ctx: typer.Context, given: SyncFlags = SyncFlags()) -> None:
    """Bring the store up to date (run it hourly from cron or a systemd timer; a second sync
    while one runs exits 8 at once). Each kind records how far the store is complete.

    Examples:

        cfevents --quiet history sync /var/lib/cfevents/usage.db
    """
    given.sync(ctx.obj)


@app.command("status")
def history_status(
    ctx: typer.Context,
    store: StoreArg = None,
    foundation: Annotated[
        str | None,
        typer.Option("--foundation", metavar="NAME", help="Only this foundation."),
    ] = None,
    output: OutputOpt = None,
    no_headers: NoHeadersOpt = False,
) -> None:
    """Per foundation and kind: rows, first event, complete up to, last sync, gaps (holes in
    seq), reseeds, the first whole month it can report and the months it can report now. No
    request to Cloud Controller.

    Examples:

        cfevents history status /var/lib/cfevents/usage.db

        cfevents history status postgresql://billing@db.example/usage -o json
    """
    from cfevents.cli.output import emit

    rt: Runtime = ctx.obj
    statuses = rt.cf().history_status(_store(store), foundation)
    emit(rt, [status_row(s) for s in statuses], status_spec(rt, output, no_headers))


def status_row(status: KindStatus) -> dict[str, Any]:
    row = {name: getattr(status, name) for name in STATUS_FIELDS if name != "months"}
    row["months"] = ",".join(status.months)
    return row


def status_spec(rt: Runtime, output: str | None, no_headers: bool) -> Any:
    from cfevents.cli.output import safe_csv_setting
    from cfevents.output.formatters import OutputSpec

    return OutputSpec(
        fmt=output_format(output, rt.env.env),
        columns=STATUS_FIELDS,
        headers=not no_headers,
        tty=rt.env.stdout_isatty(),
        safe_csv=safe_csv_setting(),
    )


def _foundation(rt: Runtime) -> str | None:
    """The name the sync files this foundation under: the API URL (``demo:sandbox`` on
    --demo), as the export decides it."""
    from cfevents.cli.export import DEMO_FOUNDATION

    return DEMO_FOUNDATION if rt.demo else rt.cf().api


def coverage_text(statuses: list[KindStatus]) -> str:
    """What the store covers and from when each month can be reported (init's stdout)."""
    lines: list[str] = []
    for status in statuses:
        noun = status.kind.replace("_", " ")
        if not status.rows:
            lines.append(f"{status.foundation}: no {noun} yet")
            continue
        lines.append(
            f"{status.foundation}: {status.rows:,} {noun} from {status.first_event}, complete "
            f"up to {status.complete_until or 'an unrecorded point'}"
        )
    app_usage = next((s for s in statuses if s.kind == "app_usage_events" and s.rows), None)
    if app_usage is None:
        return "\n".join(lines)
    months = app_usage.months
    if months:
        lines.append(f"whole months it can report now: {', '.join(months)}")
    else:
        lines.append(
            f"the first whole month it can report is {app_usage.first_month}: "
            f"cfevents usage report --month {app_usage.first_month} works once a sync has run "
            f"after {app_usage.reportable_from} (earlier months began before the oldest event "
            "Cloud Controller still had)"
        )
    lines.append("this month so far: cfevents usage report --month this (partial until it ends)")
    return "\n".join(lines)


def keep_current_text(rt: Runtime, store: str) -> str:
    """The cron line and the systemd service + timer that keep the store current."""
    target = store if "://" in store else str(Path(store).resolve())
    command = f"cfevents --quiet history sync {shlex.quote(target)}"
    env = f"CFEVENTS_STORE={shlex.quote(target)}"
    return "\n".join(
        (
            "keep it current (hourly; the sync reads only what is new, and a second one while",
            "one runs exits 8 at once). The user running it needs this foundation's",
            "credentials (cf login, or CF_API with CF_USERNAME/CF_PASSWORD or a client).",
            "",
            "cron (crontab -e):",
            f"  7 * * * *  {command}",
            "",
            "or systemd: /etc/systemd/system/cfevents-history.service",
            "  [Unit]",
            "  Description=cfevents history sync",
            "  [Service]",
            "  Type=oneshot",
            f"  ExecStart={command}",
            "and /etc/systemd/system/cfevents-history.timer",
            "  [Unit]",
            "  Description=cfevents history sync, hourly",
            "  [Timer]",
            "  OnCalendar=*-*-* *:07:00",
            "  Persistent=true",
            "  [Install]",
            "  WantedBy=timers.target",
            "then: systemctl enable --now cfevents-history.timer",
            "",
            f"reports read the store when CFEVENTS_STORE names it: {env}",
            "  cfevents usage report --month last --by org --out usage-last-month.csv",
        )
    )
