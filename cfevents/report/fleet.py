"""Several foundations, one report: ``--by foundation`` and ``--by foundation,org|space|app|
process`` over a store that several collectors feed (one PostgreSQL database, rows keyed by
foundation).

Each foundation is reported on its own, exactly as :func:`history_report` does (its own
snapshot, completeness and horizon); the rows are then put side by side with a ``foundation``
column (``--by foundation``: one row per foundation, its totals). Any foundation that cannot
be reported fails the whole report (exit 7 names it), unless ``allow_incomplete``.
"""

from __future__ import annotations

from typing import Any

from cfevents.errors import CfEventsError, UsageError
from cfevents.report.api import Report, Window
from cfevents.report.engine import GROUPINGS
from cfevents.report.history import StoreSource, history_report
from cfevents.report.rows import FIGURE_FIELDS, SUM_FIELDS, derive, row_fields
from cfevents.report.timeutil import epoch
from cfevents.stores import APP_USAGE, is_store_target, open_store

FOUNDATION = "foundation"


def fleet_grouping(by: str) -> str | None:
    """``foundation`` -> "" (one row per foundation), ``foundation,org`` -> "org", else None."""
    parts = [part.strip() for part in by.split(",")]
    if parts[0] != FOUNDATION:
        return None
    if len(parts) == 1:
        return ""
    if len(parts) == 2 and parts[1] in GROUPINGS:
        return parts[1]
    raise UsageError(f"--by {by!r}: use foundation or foundation,{'|'.join(GROUPINGS)}")


def fleet_fields(by: str, daily: bool) -> list[str]:
    inner = fleet_grouping(by)
    if inner is None:
        return row_fields(by, daily)
    if not inner:
        return [FOUNDATION, *FIGURE_FIELDS]
    return [FOUNDATION, *row_fields(inner, daily)]


def fleet_report(
    target: str,
    window: Window,
    *,
    by: str,
    foundation: str | None = None,
    daily: bool = False,
    **options: Any,
) -> Report:
    """The report of every foundation in the store at ``target`` (or ``foundation``), side by
    side. ``options`` are :func:`history_report`'s (min_age, allow_incomplete, clock, ...)."""
    inner = fleet_grouping(by)
    if inner is None:
        raise UsageError(f"--by {by!r} is not a fleet grouping")
    if not is_store_target(target):
        raise UsageError("--by foundation reads a store (--input or CFEVENTS_STORE)")
    if daily and not inner:
        raise UsageError("--daily needs --by foundation,org|space|app|process")
    store = open_store(target, readonly=True)
    try:
        names = [foundation] if foundation else store.foundations(APP_USAGE)
        if not names:
            raise UsageError(f"{store.display} holds no app usage events yet")
        reports = []
        for name in names:
            source = StoreSource(
                store, name, allow_incomplete=options.get("allow_incomplete", False)
            )
            try:
                report = history_report(source, window, by=inner or "org", daily=daily, **options)
            except CfEventsError as exc:
                exc.message = f"{name}: {exc.message}"
                raise
            reports.append((name, report))
    finally:
        store.close()
    return _combine(reports, by, inner, daily)


def _combine(reports: list[tuple[str, Report]], by: str, inner: str, daily: bool) -> Report:
    rows: list[dict[str, Any]] = []
    for name, report in reports:
        if inner:
            rows.extend({FOUNDATION: name, **row} for row in report.rows)
        else:
            rows.append({FOUNDATION: name, **report.totals})
    total: dict[str, Any] = {
        name: sum(int(report.totals[name]) for _, report in reports) for name in SUM_FIELDS
    }
    # the peak of the fleet together is not the sum of peaks at different times: the largest
    total["max_instances"] = max((int(r.totals["max_instances"]) for _, r in reports), default=0)
    seconds = max(
        (epoch(r.meta["effective_end"]) - epoch(r.meta["window"]["start"]) for _, r in reports),
        default=0,
    )
    derive(total, seconds)
    total["flags"] = sorted({f for _, r in reports for f in r.totals["flags"]})
    warnings = [f"{name}: {w}" for name, r in reports for w in r.warnings]
    first = reports[0][1].meta
    end = min(r.meta["effective_end"] for _, r in reports)  # the earliest a foundation counted to
    meta: dict[str, Any] = {
        "window": first["window"],
        "effective_end": end,
        "as_of": end,
        "opening_source": first["opening_source"],
        "partial": any(r.meta["partial"] for _, r in reports),
        "by": by,
        "daily": daily,
        "events_read": sum(r.meta["events_read"] for _, r in reports),
        "flags": {},
        "foundations": {name: r.meta for name, r in reports},
        "incomplete": [f"{n}: {p}" for n, r in reports for p in r.meta.get("incomplete", [])],
    }
    return Report(
        rows=rows,
        totals={name: total[name] for name in FIGURE_FIELDS},
        meta=meta,
        closing_state={name: r.closing_state for name, r in reports},
        fields=fleet_fields(by, daily),
        warnings=warnings,
    )
