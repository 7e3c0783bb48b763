"""Months side by side (``--pivot month``) and the previous-month comparison (``--compare``).

Both run the ordinary report once per calendar month (through an injected ``run``), so a month
column is exactly that month's single report; rows are joined by their group's guids.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC
from decimal import Decimal
from typing import Any

from cfevents.errors import UsageError
from cfevents.report.api import Report, Window, month_window
from cfevents.report.rows import GROUP_FIELDS
from cfevents.report.rows import _sort_key as row_order

#: Figures a month column can hold (they add up over months, so a total column is honest).
PIVOT_VALUES = (
    "cost",
    "app_cost",
    "task_cost",
    "gb_hours",
    "instance_hours",
    "task_hours",
    "task_gb_hours",
    "instance_seconds",
    "memory_mb_seconds",
    "running_seconds",
    "task_seconds",
    "task_memory_mb_seconds",
    "starts",
    "stops",
    "scales",
    "task_runs",
)
COMPARE_FIELDS = ("previous", "delta", "delta_percent")

Run = Callable[[Window], Report]


def months_of(window: Window) -> list[tuple[str, Window]]:
    """The calendar months (UTC) ``window`` touches, each clipped to it, labelled YYYY-MM."""
    out: list[tuple[str, Window]] = []
    start = window.start
    while start < window.end:
        month = month_window(start.astimezone(UTC).strftime("%Y-%m"))
        out.append((month.start.strftime("%Y-%m"), Window(start, min(month.end, window.end))))
        start = month.end
    return out


def check_value(value: str | None, priced: bool) -> str:
    """The pivoted figure: ``value``, or cost when priced, else gb_hours."""
    chosen = value or ("cost" if priced else "gb_hours")
    if chosen not in PIVOT_VALUES:
        raise UsageError(
            f"`value` must be one of {', '.join(PIVOT_VALUES)}, not {chosen!r}", param="value"
        )
    if chosen.endswith("cost") and not priced:
        raise UsageError(f"`value` {chosen} needs `rates` FILE", param="value")
    return chosen


def pivot_months(run: Run, window: Window, *, by: str, value: str) -> Report:
    """One row per group, a column per month of ``value`` and a ``total`` column."""
    months = months_of(window)
    if len(months) > 36:
        raise UsageError(f"`pivot` month: {len(months)} months is more than 36", param="pivot")
    reports = [(label, run(w)) for label, w in months]
    labels = [label for label, _ in months]
    rows = _join(reports, by, value)
    for row in rows:
        row["total"] = sum((row[label] for label in labels), _zero(value))
    fields = [*GROUP_FIELDS[by], *labels, "total"]
    totals = {label: sum((r[label] for r in rows), _zero(value)) for label in labels}
    totals["total"] = sum((r["total"] for r in rows), _zero(value))
    meta = _meta(reports)
    meta["pivot"] = {"by": "month", "value": value, "months": labels}
    warnings = [f"{label}: {w}" for label, rep in reports for w in rep.warnings]
    return Report(rows, totals, meta, reports[-1][1].closing_state, fields, warnings)


def compare_previous(run: Run, month: str, *, by: str, value: str) -> Report:
    """``month``'s rows with the previous month's ``value``, the delta and the percent change
    (None when the previous month had none)."""
    current = month_window(month)
    before = month_window(_previous(month))
    reports = [("current", run(current)), ("previous", run(before))]
    rows = _join(reports, by, value)
    for row in rows:
        _delta(row, value)
    base = reports[0][1]
    totals = {
        value: sum((r["current"] for r in rows), _zero(value)),
        "previous": sum((r["previous"] for r in rows), _zero(value)),
    }
    _delta_totals(totals, value)
    for row in rows:
        row[value] = row.pop("current")
    fields = [*GROUP_FIELDS[by], value, *COMPARE_FIELDS]
    rows = [{f: row[f] for f in fields} for row in rows]
    meta = dict(base.meta)
    meta["compare"] = {"value": value, "previous_month": _previous(month)}
    warnings = [*base.warnings, *(f"previous month: {w}" for w in reports[1][1].warnings)]
    return Report(rows, totals, meta, base.closing_state, fields, warnings)


def _previous(month: str) -> str:
    start = month_window(month).start
    year, number = (start.year, start.month - 1) if start.month > 1 else (start.year - 1, 12)
    return f"{year:04d}-{number:02d}"


def _zero(value: str) -> Any:
    if value.endswith("cost"):
        return Decimal(0)
    return 0.0 if value.endswith("hours") else 0


def _join(reports: Sequence[tuple[str, Report]], by: str, value: str) -> list[dict[str, Any]]:
    """Rows keyed by the group's guids (names from the latest month that has the group)."""
    names = GROUP_FIELDS[by]
    keys = [f for f in names if f.endswith("_guid") or f == "process_type"]
    joined: dict[tuple[Any, ...], dict[str, Any]] = {}
    for label, report in reports:
        for r in report.rows:
            key = tuple(r.get(k) for k in keys)
            row = joined.get(key)
            if row is None:
                row = joined[key] = {f: r.get(f) for f in names}
                row.update({lab: _zero(value) for lab, _ in reports})
            row.update({f: r.get(f) or row[f] for f in names})
            row[label] += r[value]
    return sorted(joined.values(), key=row_order)


def _delta(row: dict[str, Any], value: str) -> None:
    row["delta"] = row["current"] - row["previous"]
    row["delta_percent"] = (
        round(float(row["delta"]) / float(row["previous"]) * 100, 2) if row["previous"] else None
    )


def _delta_totals(totals: dict[str, Any], value: str) -> None:
    totals["delta"] = totals[value] - totals["previous"]
    totals["delta_percent"] = (
        round(float(totals["delta"]) / float(totals["previous"]) * 100, 2)
        if totals["previous"]
        else None
    )


def _meta(reports: Sequence[tuple[str, Report]]) -> dict[str, Any]:
    first, last = reports[0][1].meta, reports[-1][1].meta
    meta = dict(last)
    meta["window"] = {"start": first["window"]["start"], "end": last["window"]["end"]}
    meta["events_read"] = sum(int(r.meta.get("events_read") or 0) for _, r in reports)
    meta["partial"] = bool(last.get("partial"))
    meta["flags"] = {}
    return meta
