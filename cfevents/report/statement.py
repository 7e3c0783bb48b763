"""One chargeback statement per org (or space): app, task and service lines with their costs,
and one total line per org, from a priced usage report (by app) and a priced service report
(by plan). The rows are flat and typed: the same keys in every output format.

A line's cost is the priced report's row cost (rounded once, :mod:`cfevents.report.rates`);
an org's total is the sum of its printed lines, and the statement's TOTAL the sum of the org
totals, to the cent.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from cfevents.errors import UsageError
from cfevents.report.api import Report

STATEMENT_PER = ("org", "space")
LINES = ("app", "task", "service", "total")  # in this order within an org (or space)
STATEMENT_FIELDS = (
    "org_guid",
    "org_name",
    "space_guid",
    "space_name",
    "line",
    "item_guid",
    "item_name",
    "seconds",
    "mb_seconds",
    "hours",
    "gb_hours",
    "cost",
    "currency",
)
#: What each column of a statement line holds, per kind of line (README "Chargeback statement").
LINE_MEANINGS = {
    "app": "an app's instances: seconds = instance-seconds, mb_seconds = memory MB-seconds",
    "task": "an app's tasks: seconds = task-seconds, mb_seconds = task memory MB-seconds",
    "service": "a service plan in a space: seconds = service-instance-seconds",
    "total": "the org's (space's) total: the sum of its lines' costs",
}


def build_statement(usage: Report, services: Report | None, *, per: str = "org") -> Report:
    """The statement from ``usage`` (``by="app"``, priced) and ``services``
    (``by="space,plan"``, priced; None: app and task lines only)."""
    if per not in STATEMENT_PER:
        raise UsageError(f"--per must be one of {', '.join(STATEMENT_PER)}, not {per!r}")
    if "rates" not in usage.meta or (services is not None and "rates" not in services.meta):
        raise ValueError("a statement needs priced reports (rates=...)")
    currency = usage.meta["rates"]["currency"]
    lines = [*_usage_lines(usage.rows, currency)]
    if services is not None:
        lines.extend(_service_lines(services.rows, currency))
    rows: list[dict[str, Any]] = []
    totals: dict[tuple[Any, ...], Decimal] = {}
    keys = ("org_guid", "space_guid") if per == "space" else ("org_guid",)
    for line in sorted(lines, key=lambda r: _order(r, per)):
        key = tuple(line[k] for k in keys)
        if rows and key not in totals:
            rows.append(_total(rows[-1], per, totals[_key(rows[-1], keys)], currency))
        totals[key] = totals.get(key, Decimal(0)) + line["cost"]
        rows.append(line)
    if rows:
        rows.append(_total(rows[-1], per, totals[_key(rows[-1], keys)], currency))
    grand = sum(totals.values(), Decimal(0))
    meta = dict(usage.meta)
    meta["per"] = per
    meta["services"] = services.meta if services is not None else None
    warnings = [*usage.warnings, *(services.warnings if services is not None else [])]
    total_row = dict.fromkeys(STATEMENT_FIELDS) | {
        "line": "total",
        "cost": grand,
        "currency": currency,
    }
    return Report(rows, total_row, meta, usage.closing_state, list(STATEMENT_FIELDS), warnings)


def _key(row: dict[str, Any], keys: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(row[k] for k in keys)


def _order(row: dict[str, Any], per: str) -> tuple[str, ...]:
    org = (str(row["org_name"] or ""), str(row["org_guid"] or ""))
    space = (str(row["space_name"] or ""), str(row["space_guid"] or ""))
    kind = str(LINES.index(row["line"]))
    item = (str(row["item_name"] or ""), str(row["item_guid"] or ""))
    return (*org, *space, kind, *item) if per == "space" else (*org, kind, *space, *item)


def _line(source: dict[str, Any], line: str, **figures: Any) -> dict[str, Any]:
    row = {name: source.get(name) for name in ("org_guid", "org_name", "space_guid", "space_name")}
    row["line"] = line
    return row | figures


def _usage_lines(rows: Iterable[dict[str, Any]], currency: str) -> Iterable[dict[str, Any]]:
    for r in rows:
        app = {"item_guid": r.get("app_guid"), "item_name": r.get("app_name")}
        if r["instance_seconds"] or r["app_cost"]:
            yield _line(
                r,
                "app",
                **app,
                seconds=r["instance_seconds"],
                mb_seconds=r["memory_mb_seconds"],
                hours=r["instance_hours"],
                gb_hours=r["gb_hours"],
                cost=r["app_cost"],
                currency=currency,
            )
        if r["task_seconds"] or r["task_cost"]:
            yield _line(
                r,
                "task",
                **app,
                seconds=r["task_seconds"],
                mb_seconds=r["task_memory_mb_seconds"],
                hours=r["task_hours"],
                gb_hours=r["task_gb_hours"],
                cost=r["task_cost"],
                currency=currency,
            )


def _service_lines(rows: Iterable[dict[str, Any]], currency: str) -> Iterable[dict[str, Any]]:
    for r in rows:
        if not r["service_seconds"] and not r["cost"]:
            continue
        offering, plan = r.get("service_offering_name"), r.get("service_plan_name")
        yield _line(
            r,
            "service",
            item_guid=r.get("service_plan_guid"),
            item_name="/".join(n for n in (offering, plan) if n) or "unknown",
            seconds=r["service_seconds"],
            mb_seconds=None,
            hours=r["service_hours"],
            gb_hours=None,
            cost=r["cost"],
            currency=currency,
        )


def _total(last: dict[str, Any], per: str, cost: Decimal, currency: str) -> dict[str, Any]:
    row = _line(last, "total", item_guid=None, item_name=None)
    if per == "org":
        row["space_guid"] = row["space_name"] = None
    return row | {
        "seconds": None,
        "mb_seconds": None,
        "hours": None,
        "gb_hours": None,
        "cost": cost,
        "currency": currency,
    }
