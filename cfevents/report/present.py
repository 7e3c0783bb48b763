"""What a table and the stderr summary show: hours rounded to two decimals, a totals row.

JSON, NDJSON and CSV print ``Report.rows`` as they are (exact integers, unrounded floats).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from cfevents.report.api import Report

ROUNDED = (
    "instance_hours",
    "gb_hours",
    "avg_instances",
    "service_hours",
    "task_hours",
    "task_gb_hours",
    "hours",
)
TOTAL_LABEL = "TOTAL"


def _display(row: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """A table row: hours to two decimals, money to the cent, thousands separated."""
    shown = {name: row.get(name) for name in fields}
    for name, value in shown.items():
        if (name in ROUNDED and value is not None) or isinstance(value, (float, Decimal)):
            shown[name] = f"{value:,.2f}"
        elif isinstance(value, int) and not isinstance(value, bool):
            shown[name] = f"{value:,}"
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
    rates = meta.get("rates")
    if rates is not None:
        total = report.totals.get("cost")
        shown = f"; cost TOTAL {total:,.2f} {rates['currency']}" if total is not None else ""
        lines.append(
            f"prices: {rates['file']} ({rates['currency']}){shown} (each row rounded to 0.01 "
            "half-even, TOTAL = sum of rows)"
        )
    lines.extend(f"warning: {w}" for w in report.warnings)
    return lines


def summary_pairs(report: Report) -> list[tuple[str, Any]]:
    """The summary as (item, value) pairs (a spreadsheet's summary sheet): the window, the
    source, the prices, then every total."""
    meta = report.meta
    pairs: list[tuple[str, Any]] = [
        ("window start", meta["window"]["start"]),
        ("window end", meta["window"]["end"]),
        ("counted to", meta.get("effective_end")),
        ("partial", meta.get("partial")),
        ("opening", meta.get("opening_source")),
        ("events read", meta.get("events_read")),
        ("foundation", meta.get("foundation")),
    ]
    rates = meta.get("rates")
    if rates:
        pairs += [
            ("rates file", rates["file"]),
            ("currency", rates["currency"]),
            ("rounding", rates["rounding"]),
        ]
    pairs += [
        (f"TOTAL {k}", v)
        for k, v in report.totals.items()
        if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool)
    ]
    pairs += [("warning", w) for w in report.warnings]
    return pairs
