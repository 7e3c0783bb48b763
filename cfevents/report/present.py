"""What a table and the stderr summary show: hours rounded to two decimals, a totals row.

JSON, NDJSON and CSV print ``Report.rows`` as they are (exact integers, unrounded floats).
"""

from __future__ import annotations

from typing import Any

from cfevents.report.api import Report

ROUNDED = ("instance_hours", "gb_hours", "avg_instances", "service_hours")
TOTAL_LABEL = "TOTAL"


def _display(row: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    shown = {name: row.get(name) for name in fields}
    for name in ROUNDED:
        if name in shown and shown[name] is not None:
            shown[name] = f"{shown[name]:.2f}"
    if "flags" in shown and isinstance(shown["flags"], list):  # a table joins the list
        shown["flags"] = ",".join(shown["flags"] or [])
    return shown


def table_rows(report: Report, columns: list[str] | None = None) -> list[dict[str, Any]]:
    """The rows for ``-o table``, then a totals row (its first column says TOTAL).

    ``columns``: the columns shown (default every row field); the label goes in the first.
    """
    fields = columns or report.fields
    rows = [_display(r, fields) for r in report.rows]
    total = _display({**report.totals}, fields)
    total[fields[0]] = TOTAL_LABEL
    return [*rows, total]


def summary_lines(report: Report) -> list[str]:
    """The stderr summary: window, E, opening source, events read, flag counts, warnings."""
    meta = report.meta
    window = meta["window"]
    partial = " (partial: never extrapolated)" if meta["partial"] else ""
    lines = [
        f"window {window['start']} .. {window['end']}, counted to {meta['effective_end']}{partial}",
        f"opening: {meta['opening_source']}; events read: {meta.get('events_read', '?')}",
    ]
    counts = dict(meta.get("flags", {}))
    skew = meta.get("counters", {}).get("clock_skew_adjustments", 0)
    if skew:
        counts["clock_skew_adjustments"] = skew
    if counts:
        lines.append("flags: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    lines.extend(f"warning: {w}" for w in report.warnings)
    return lines
