"""Engine figures -> flat rows (the same keys in every output format) and a totals row."""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from cfevents.report.engine import TOTAL, EngineResult, Unit
from cfevents.report.rates import Rates, app_cost, task_cost
from cfevents.report.timeutil import DAY, day_label

GROUP_FIELDS: dict[str, tuple[str, ...]] = {
    "org": ("org_guid", "org_name"),
    "space": ("org_guid", "org_name", "space_guid", "space_name"),
    "app": ("org_guid", "org_name", "space_guid", "space_name", "app_guid", "app_name"),
    "process": (
        "org_guid",
        "org_name",
        "space_guid",
        "space_name",
        "app_guid",
        "app_name",
        "process_type",
        "process_guid",
    ),
}
SUM_FIELDS = (
    "instance_seconds",
    "memory_mb_seconds",
    "running_seconds",
    "starts",
    "stops",
    "scales",
    "task_runs",
    "task_seconds",
    "task_memory_mb_seconds",
)
FIGURE_FIELDS = (
    "instance_seconds",
    "memory_mb_seconds",
    "instance_hours",
    "gb_hours",
    "running_seconds",
    "avg_instances",
    "max_instances",
    "starts",
    "stops",
    "scales",
    "task_runs",
    "task_seconds",
    "task_memory_mb_seconds",
    "task_hours",
    "task_gb_hours",
    "flags",
)
TASK_PROCESS_TYPE = "task"  # --by process: an app's tasks are one row of this type
COST_FIELDS = ("app_cost", "task_cost", "cost", "currency")  # with --rates, before flags


def row_fields(by: str, daily: bool, priced: bool = False) -> list[str]:
    """The keys of every row, in order (``priced``: with the cost columns)."""
    figures = [*FIGURE_FIELDS[:-1], *(COST_FIELDS if priced else ()), FIGURE_FIELDS[-1]]
    return [*GROUP_FIELDS[by], *(["day"] if daily else []), *figures]


def derive(row: dict[str, Any], seconds: int) -> None:
    """Fill the derived figures (hours, averages) from the exact integers."""
    row["instance_hours"] = row["instance_seconds"] / 3600
    row["gb_hours"] = row["memory_mb_seconds"] / 1024 / 3600
    row["avg_instances"] = row["instance_seconds"] / seconds if seconds > 0 else 0.0
    row["task_hours"] = row["task_seconds"] / 3600
    row["task_gb_hours"] = row["task_memory_mb_seconds"] / 1024 / 3600


def _span(day: int | None, t0: int, end: int) -> int:
    if day is None:
        return end - t0
    return max(0, min(end, (day + 1) * DAY) - max(t0, day * DAY))


def build_rows(
    result: EngineResult,
    *,
    by: str,
    daily: bool,
    t0: int,
    end: int,
    org_names: Mapping[str, str],
    extra_flags: Sequence[str] = (),
    rates: Rates | None = None,
) -> list[dict[str, Any]]:
    """One row per group (per UTC day with ``daily``), sorted by names then guids; with
    ``rates``, each row is priced (:func:`price_row`)."""
    fields = row_fields(by, daily, rates is not None)
    grouped: dict[tuple[str | None, int | None], dict[str, Any]] = {}
    flags: dict[tuple[str | None, int | None], set[str]] = {}
    parts: dict[tuple[str | None, int | None], dict[int, list[int]]] = {}
    for unit in result.units:  # one per group: its keys' figures summed, their flags per day
        days: list[int | None] = list(unit.accs)
        if not days:
            if not unit.flags or daily:
                continue
            days = [None]
        for day in days:
            key = (unit.group, day)
            row = grouped.get(key)
            if row is None:
                row = grouped[key] = _new_row(unit, by, day, result, org_names)
                flags[key] = set(extra_flags) | _label_deleted(row, by)
            flags[key] |= unit.day_flags.get(day, set())
            acc = unit.accs.get(day)
            if acc is not None:
                for name in SUM_FIELDS:
                    row[name] += getattr(acc, name)
        for (day, period), part in unit.parts.items():
            sums = parts.setdefault((unit.group, day), {}).setdefault(period, [0, 0, 0, 0])
            for i, value in enumerate(part):
                sums[i] += value
    rows: list[dict[str, Any]] = []
    for key, row in grouped.items():
        row["max_instances"] = result.peaks.get(key, 0)
        derive(row, _span(key[1], t0, end))
        row["flags"] = sorted(flags[key])
        if rates is not None:
            price_row(row, rates, parts.get(key), t0)
        rows.append({name: row[name] for name in fields})
    rows.sort(key=_sort_key)
    return rows


def price_row(
    row: dict[str, Any], rates: Rates, parts: Mapping[int, list[int]] | None, t0: int
) -> None:
    """``app_cost``, ``task_cost`` (each rounded once), ``cost`` (their sum), ``currency``.

    ``parts``: the row's figures per price period (the engine splits them where a price
    changes); without any change, the row's totals are all in the period in force at T0."""
    if not parts:
        period = bisect.bisect_right(rates.cuts(), t0)
        parts = {
            period: [
                row["instance_seconds"],
                row["memory_mb_seconds"],
                row["task_seconds"],
                row["task_memory_mb_seconds"],
            ]
        }
    factor = rates.multiplier(row.get("org_guid"), row.get("org_name"))
    apps = app_cost(rates, {p: (v[0], v[1]) for p, v in parts.items()}, factor)
    tasks = task_cost(rates, {p: (v[2], v[3]) for p, v in parts.items()}, factor)
    row["app_cost"], row["task_cost"] = apps, tasks
    row["cost"] = apps + tasks
    row["currency"] = rates.currency


def _new_row(
    unit: Unit,
    by: str,
    day: int | None,
    result: EngineResult,
    org_names: Mapping[str, str],
) -> dict[str, Any]:
    _seq, kind, guid, a = unit.day_src.get(day, (0, unit.kind, unit.guid, unit.attrs))
    row: dict[str, Any] = {
        "org_guid": a.org_guid,
        "org_name": org_names.get(a.org_guid or ""),
        "space_guid": a.space_guid,
        "space_name": result.names["space"].get(a.space_guid or "", a.space_name),
        "app_guid": a.app_guid,
        "app_name": result.names["app"].get(a.app_guid or "", a.app_name),
        "process_type": a.process_type if kind == "process" else TASK_PROCESS_TYPE,
        "process_guid": guid if kind == "process" else None,
        "day": day_label(day) if day is not None else None,
        "max_instances": 0,
        "flags": [],
    }
    for name in SUM_FIELDS:
        row[name] = 0
    return row


DELETED_LEVELS = {"org": ("org",), "space": ("org", "space")}


def _label_deleted(row: dict[str, Any], by: str) -> set[str]:
    """A group whose org, space or app has no name (deleted: Cloud Controller no longer
    names it) is labelled with its guid and flagged ``org_deleted`` / ``space_deleted`` /
    ``app_deleted``: never a blank row."""
    flags: set[str] = set()
    for level in DELETED_LEVELS.get(by, ("org", "space", "app")):
        guid = row[f"{level}_guid"]
        if guid and row[f"{level}_name"] is None:
            row[f"{level}_name"] = guid
            flags.add(f"{level}_deleted")
    return flags


def _sort_key(row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(
        str(row.get(k) or "")
        for k in (
            "org_name",
            "org_guid",
            "space_name",
            "space_guid",
            "app_name",
            "app_guid",
            "process_type",
            "process_guid",
            "day",
        )
    )


def totals(
    rows: Sequence[Mapping[str, Any]], result: EngineResult, *, t0: int, end: int
) -> dict[str, Any]:
    """The totals row of a table: sums, and the peak of everything together."""
    total: dict[str, Any] = {name: sum(int(r[name]) for r in rows) for name in SUM_FIELDS}
    total["max_instances"] = max(
        (level for (group, _day), level in result.peaks.items() if group == TOTAL), default=0
    )
    derive(total, end - t0)
    total["flags"] = sorted({f for r in rows for f in r["flags"]})
    names = list(FIGURE_FIELDS)
    if rows and "cost" in rows[0]:  # the sum of the printed (rounded) rows, to the cent
        for name in ("app_cost", "task_cost", "cost"):
            total[name] = sum((r[name] for r in rows), Decimal(0))
        total["currency"] = rows[0]["currency"]
        names[-1:-1] = COST_FIELDS
    return {name: total[name] for name in names}
