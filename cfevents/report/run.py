"""The reports of the Python API, from its keyword arguments to a :class:`Report`: the work
behind ``Client.usage_report``, ``service_report`` and ``chargeback``.

Each takes the checked arguments (:mod:`cfevents.report.args`) and a function that builds the
Cloud Controller source only when it is read (stored history needs no API at all), picks the
source (the API, a store or NDJSON file, several foundations of a store), runs the pure report
and writes the closing state.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from cfevents.errors import UsageError
from cfevents.report.args import (
    ReportArgs,
    ServiceReportArgs,
    StatementArgs,
    check_months,
    report_window,
)

if TYPE_CHECKING:
    from cfevents.files import OutputTarget
    from cfevents.report.api import Report, ReportSource, Window
    from cfevents.report.rates import Rates
    from cfevents.report.services import ServiceReportSource

__all__ = ["chargeback", "service_report", "usage_report"]


def usage_report(args: ReportArgs, source: Callable[[], ReportSource]) -> Report:
    """``Client.usage_report``: one report, or one per month (``pivot``, ``compare``)."""
    from cfevents.report.rates import as_rates

    now, window, age = report_window(args)
    rates = as_rates(args.get("rates"))
    pivot, compare = args.get("pivot"), args.get("compare", False)
    if pivot is None and not compare:
        return _one_report(args, source, window, now, age, rates)
    from cfevents.report.pivot import check_value, compare_previous, pivot_months

    by, value = args.get("by", "app"), check_value(args.get("value"), rates is not None)
    check_months(args, pivot, compare)

    def run(month: Window) -> Report:
        return _one_report(args, source, month, now, age, rates)

    if compare:
        return compare_previous(run, str(args.get("month")), by=by, value=value)
    return pivot_months(run, window, by=by, value=value)


def _one_report(
    args: ReportArgs,
    source: Callable[[], ReportSource],
    window: Window,
    now: datetime,
    age: timedelta,
    rates: Rates | None,
) -> Report:
    """The report of one window from the source ``args`` name, and its closing state saved."""
    from cfevents.report import write_state

    state_target = _state_target(args)  # checked before the report runs: no work lost
    options: dict[str, Any] = {
        "rates": rates,
        "by": args.get("by", "app"),
        "daily": args.get("daily", False),
        "opening": args.get("opening", "snapshot"),
        "min_age": age,
        "allow_incomplete": args.get("allow_incomplete", False),
        "progress": args.get("progress"),
    }
    report = _read_report(args, source, window, now, options, several=state_target is not None)
    if state_target is not None:
        write_state(state_target, report.closing_state)
    return report


def _state_target(args: ReportArgs) -> OutputTarget | None:
    from cfevents.files import check_output

    save_state = args.get("save_state")
    if save_state is None:
        return None
    return check_output(save_state, param="save_state", force=args.get("force", False))


def _read_report(
    args: ReportArgs,
    source: Callable[[], ReportSource],
    window: Window,
    now: datetime,
    options: dict[str, Any],
    *,
    several: bool,
) -> Report:
    """From several foundations of a store, stored history (no request at all), or the API."""
    from cfevents.report.api import usage_report as report_of
    from cfevents.report.fleet import fleet_grouping, fleet_report
    from cfevents.report.history import history_report, history_source

    history, foundation = args.get("input"), args.get("foundation")
    if fleet_grouping(options["by"]) is not None:  # several foundations side by side
        if several:
            raise UsageError(
                "a state file holds one foundation: save each with --foundation NAME "
                "(and --by org|space|app|process)",
                param="save_state",
            )
        target = os.fspath(history) if history is not None else ""
        return fleet_report(target, window, foundation=foundation, clock=now, **options)
    if history is not None:
        incomplete = options["allow_incomplete"]
        stored = history_source(
            os.fspath(history), foundation=foundation, allow_incomplete=incomplete
        )
        with stored:
            return history_report(stored, window, clock=now, **options)
    return report_of(source(), window, now=now, **options)


def service_report(args: ServiceReportArgs, source: Callable[[], ServiceReportSource]) -> Report:
    """``Client.service_report``: the window and prices checked, then the report."""
    from cfevents.report.rates import as_rates
    from cfevents.report.services import service_report as report_of

    now, window, age = report_window(args)
    rates = as_rates(args.get("rates"))
    return report_of(
        source(),
        window,
        rates=rates,
        by=args.get("by", "plan"),
        include_user_provided=args.get("include_user_provided", False),
        min_age=age,
        now=now,
        allow_incomplete=args.get("allow_incomplete", False),
        progress=args.get("progress"),
    )


def chargeback(
    args: StatementArgs,
    usage: Callable[[], ReportSource],
    services: Callable[[], ServiceReportSource],
) -> Report:
    """``Client.chargeback``: the app usage report by app and the service report by space
    and plan, both priced, turned into one statement per org or space."""
    from cfevents.report.rates import as_rates
    from cfevents.report.statement import STATEMENT_PER, build_statement

    per = args.get("per", "org")
    if per not in STATEMENT_PER:
        raise UsageError(
            f"`per` must be one of {', '.join(STATEMENT_PER)}, not {per!r}", param="per"
        )
    rates = as_rates(args.get("rates"))
    if rates is None:
        raise UsageError("a chargeback statement needs prices: `rates` FILE")
    report_window(args)  # bad window values fail before any request
    usage_args: dict[str, Any] = {k: v for k, v in args.items() if k not in ("per", "daily")}
    usage_args |= {"by": "app", "rates": rates}
    apps = usage_report(cast("ReportArgs", usage_args), usage)
    if args.get("input") is not None:
        apps.warnings.append(
            "no service lines: stored history holds app usage only (run without --input "
            "for services)"
        )
        return build_statement(apps, None, per=per)
    service_args: dict[str, Any] = {
        k: v
        for k, v in args.items()
        if k in ("month", "since", "until", "min_age", "allow_incomplete", "now")
    }
    service_args |= {"by": "space,plan", "rates": rates}  # a line per plan and space
    progress = args.get("progress")
    if progress is not None:  # one count over both readings
        before = int(apps.meta.get("events_read") or 0)
        service_args["progress"] = lambda read: progress(before + read)
    priced = service_report(cast("ServiceReportArgs", service_args), services)
    return build_statement(apps, priced, per=per)
