"""Engine figures -> flat rows (the same keys in every output format) and a totals row."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cfevents.report.engine import TOTAL, EngineResult, Unit
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
    "flags",
)
TASK_PROCESS_TYPE = "task"  # --by process: an app's tasks are one row of this type


def row_fields(by: str, daily: bool) -> list[str]:
    """The keys of every row, in order."""
    return [*GROUP_FIELDS[by], *(["day"] if daily else []), *FIGURE_FIELDS]


def derive(row: dict[str, Any], seconds: int) -> None:
    """Fill the derived figures (hours, averages) from the exact integers."""
    row["instance_hours"] = row["instance_seconds"] / 3600
    row["gb_hours"] = row["memory_mb_seconds"] / 1024 / 3600
    row["avg_instances"] = row["instance_seconds"] / seconds if seconds > 0 else 0.0


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
) -> list[dict[str, Any]]:
    """One row per group (per UTC day with ``daily``), sorted by names then guids."""
    fields = row_fields(by, daily)
    grouped: dict[tuple[str | None, int | None], dict[str, Any]] = {}
    flags: dict[tuple[str | None, int | None], set[str]] = {}
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
    rows: list[dict[str, Any]] = []
    for key, row in grouped.items():
        row["max_instances"] = result.peaks.get(key, 0)
        derive(row, _span(key[1], t0, end))
        row["flags"] = sorted(flags[key])
        rows.append({name: row[name] for name in fields})
    rows.sort(key=_sort_key)
    return rows


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
    return {name: total[name] for name in FIGURE_FIELDS}
