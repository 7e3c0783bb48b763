"""Dotted field paths into records, and the documented column sets (COLUMN_SETS).

``get_path({"app": {"name": "x"}}, "app.name") == "x"``. Missing keys and nulls on the way are
``None``, never a ``KeyError``: every nested CC field may be null.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cfevents.shapes import CRASH_DATA_KEYS

# The stable CSV/TSV column set for v3 app usage events (README "CSV columns").
USAGE_COLUMNS: tuple[str, ...] = (
    "guid",
    "created_at",
    "updated_at",
    "state.current",
    "state.previous",
    "app.guid",
    "app.name",
    "process.guid",
    "process.type",
    "space.guid",
    "space.name",
    "organization.guid",
    "organization.name",  # not CC's: cfevents looks it up (cfevents.api.org_names)
    "buildpack.guid",
    "buildpack.name",
    "task.guid",
    "task.name",
    "memory_in_mb_per_instance.current",
    "memory_in_mb_per_instance.previous",
    "instance_count.current",
    "instance_count.previous",
)

USAGE_TABLE_COLUMNS: tuple[str, ...] = (
    "created_at",
    "state.current",
    "state.previous",
    "app.name",
    "process.type",
    "organization.name",
    "space.name",
    "instance_count.current",
    "memory_in_mb_per_instance.current",
    "guid",
)

# v2 app usage events keep CC's v2 shape: metadata + entity (entity keys in CC's order).
USAGE_V2_COLUMNS: tuple[str, ...] = (
    "metadata.guid",
    "metadata.created_at",
    *(
        "entity." + key
        for key in (
            "state",
            "previous_state",
            "memory_in_mb_per_instance",
            "previous_memory_in_mb_per_instance",
            "instance_count",
            "previous_instance_count",
            "app_guid",
            "app_name",
            "space_guid",
            "space_name",
            "org_guid",
            "buildpack_guid",
            "buildpack_name",
            "package_state",
            "previous_package_state",
            "parent_app_guid",
            "parent_app_name",
            "process_type",
            "task_name",
            "task_guid",
        )
    ),
)

LABELS: dict[str, str] = {
    "created_at": "time",
    "state.current": "state",
    "state.previous": "previous",
    "app.name": "app",
    "process.type": "process",
    "space.name": "space",
    "instance_count.current": "instances",
    "memory_in_mb_per_instance.current": "memory_mb",
}


def get_path(obj: Any, path: str) -> Any:
    """Follow ``a.b.c`` through nested mappings; ``None`` where anything is missing."""
    current = obj
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
        if current is None:
            return None
    return current


def row_getter(paths: Sequence[str]) -> Callable[[Any], list[Any]]:
    """A function giving ``[get_path(record, p) for p in paths]``, several times faster.

    Made once per output, called once per record (the CSV/TSV hot path): the paths become one
    compiled function of ``dict.get`` calls in which each nested object is looked up once
    (``app.guid`` and ``app.name`` share ``record.get("app")``), so a row costs one Python call.
    Decoded JSON holds only dicts, lists, strings, numbers, booleans and nulls; a list, string
    or number in the middle of a path raises AttributeError and that record takes the careful
    path, :func:`get_path`. The keys reach the compiled code as values, never as source text.
    """
    keys: list[str] = []
    names: dict[tuple[str, ...], str] = {}
    lines = ["def values(record):", "    try:", "        get = record.get"]
    cells = []

    def const(key: str) -> str:
        keys.append(key)
        return f"k{len(keys) - 1}"

    for path in paths:
        *parents, last = path.split(".")
        holder = "record"
        for depth in range(len(parents)):
            prefix = tuple(parents[: depth + 1])
            if prefix not in names:
                names[prefix] = f"g{len(names)}"
                getter = "get" if holder == "record" else f"{holder}.get"
                lines.append(f"        {names[prefix]} = {getter}({const(prefix[-1])}) or EMPTY")
            holder = names[prefix]
        getter = "get" if holder == "record" else f"{holder}.get"
        cells.append(f"{getter}({const(last)})")
    lines.append(f"        return [{', '.join(cells)}]")
    lines.append("    except AttributeError:")
    lines.append("        return [get_path(record, path) for path in PATHS]")
    namespace: dict[str, Any] = {f"k{i}": key for i, key in enumerate(keys)}
    namespace.update(EMPTY=_EMPTY, get_path=get_path, PATHS=tuple(paths))
    exec("\n".join(lines), namespace)  # the source holds only names made above
    values: Callable[[Any], list[Any]] = namespace["values"]
    return values


# Falsy values on the way (null, "", 0, [], {}) become {}: get_path gives None for them.
_EMPTY: Mapping[str, Any] = {}


def parse_fields(text: str) -> list[str]:
    """Split ``--fields a,b.c`` into paths, dropping blanks and duplicates, keeping order."""
    seen: dict[str, None] = {}
    for part in text.split(","):
        name = part.strip()
        if name:
            seen.setdefault(name, None)
    return list(seen)


def check_fields(
    fields: Sequence[str], known: Sequence[str], open_: Sequence[str] | None = None
) -> str | None:
    """Return an error message if a field's first segment is not a key these events have.

    With ``open_`` (the paths whose contents are free-form, such as ``links``) the check is
    whole-path: a field must be a column, a parent of columns (``state``) or lie under an
    ``open_`` path (``links.self.href``); anything else can never exist in these records.
    """
    if open_ is not None:
        return _check_paths(fields, known, open_)
    roots = {name.split(".")[0] for name in known}
    bad = [f for f in fields if f.split(".")[0] not in roots]
    if not bad:
        return None
    valid = ", ".join(sorted(roots))
    return f"unknown field(s) {', '.join(repr(b) for b in bad)}; fields start with one of: {valid}"


def _check_paths(fields: Sequence[str], known: Sequence[str], open_: Sequence[str]) -> str | None:
    def exists(path: str) -> bool:
        return (
            path in known
            or any(name.startswith(path + ".") for name in known)
            or any(path == o or path.startswith(o + ".") for o in open_)
        )

    bad = [f for f in fields if not exists(f)]
    if not bad:
        return None
    valid = ", ".join([*(n for n in known if n not in open_), *(f"{o}.*" for o in open_)])
    return f"no such field {', '.join(repr(b) for b in bad)} in these events; valid: {valid}"


# -- audit events and crashes (cfevents events / cfevents crashes) ---------------------------

# The normalised audit event (cfevents.events.audit.normalise_v2/normalise_v3): the same columns
# whichever API answered. ``data`` is one JSON cell in CSV; pick keys with --fields data.x.
EVENT_COLUMNS: tuple[str, ...] = (
    "guid",
    "created_at",
    "type",
    "actor.guid",
    "actor.type",
    "actor.name",
    "target.guid",
    "target.type",
    "target.name",
    "organization.guid",
    "organization.name",
    "space.guid",
    "space.name",
    "data",
)

EVENT_TABLE_COLUMNS: tuple[str, ...] = (
    "created_at",
    "type",
    "actor.type",
    "actor.name",
    "target.type",
    "target.name",
    "organization.name",
    "space.name",
)

# Where a crash happened: its org, space and app.
_CRASH_PLACE = (
    "organization.guid",
    "organization.name",
    "space.guid",
    "space.name",
    "app.guid",
    "app.name",
)

# One crash (cfevents.events.audit.crash_records): the stable CSV/TSV/--fields column set.
CRASH_COLUMNS: tuple[str, ...] = (
    "created_at",
    *_CRASH_PLACE,
    "process.guid",
    "process.type",
    "instance.guid",
    "instance.index",
    *CRASH_DATA_KEYS,
    "process_crash_guid",
    "app_crash_guid",
)

CRASH_TABLE_COLUMNS: tuple[str, ...] = (
    "created_at",
    "organization.name",
    "space.name",
    "app.name",
    "instance.index",
    "cell_id",
    "reason",
    "exit_description",
)

# One row per app (cfevents crashes --summary).
CRASH_SUMMARY_COLUMNS: tuple[str, ...] = (
    *_CRASH_PLACE,
    "crashes",
    "first",
    "last",
    "per_hour",
    "last_reason",
    "last_exit_description",
)

CRASH_SUMMARY_TABLE_COLUMNS: tuple[str, ...] = (
    "organization.name",
    "space.name",
    "app.name",
    "crashes",
    "per_hour",
    "last",
    "last_exit_description",
)

# A crash loop record (cfevents crashes --follow --loop N/PERIOD; cfevents.events.loops).
CRASH_LOOP_COLUMNS: tuple[str, ...] = (
    "at",
    "state",
    *_CRASH_PLACE,
    "rule",
    "crashes",
    "first_crash",
    "last_crash",
    "last_reason",
    "last_exit_status",
    "last_exit_description",
)

CRASH_LOOP_TABLE_COLUMNS: tuple[str, ...] = (
    "at",
    "state",
    "organization.name",
    "space.name",
    "app.name",
    "crashes",
    "last_exit_description",
)

LABELS.update(
    {
        "first_crash": "first crash",
        "per_hour": "per hour",
        "context": "changes before",
        "last_crash": "last crash",
        "organization.name": "org",
        "actor.type": "actor type",
        "actor.name": "actor",
        "target.type": "target type",
        "target.name": "target",
        "instance.index": "index",
        "cell_id": "cell",
        "exit_description": "exit description",
        "first": "first crash",
        "last": "last crash",
        "last_exit_description": "last exit description",
        "service_instance.name": "instance",
        "service_instance.type": "instance type",
        "service_offering.name": "offering",
        "service_plan.name": "plan",
    }
)


@dataclass(frozen=True)
class ColumnSet:
    """The columns one kind of record shows: every format's, the table's, and what --fields
    may name (the columns' roots plus ``extra``)."""

    columns: tuple[str, ...]
    table: tuple[str, ...] | None = None  # the table's default columns; None: all of them
    extra: tuple[str, ...] = ()
    strict: bool = False  # --fields must name whole paths that exist (``extra`` is free-form)
    # A terminal too narrow for the table: ``hide`` lists the table's columns it gives up
    # first, in order (what matters least at 80 columns); ``keep`` the ones it never hides
    # (the column the command exists for). Values that still do not fit get an ellipsis.
    hide: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()

    @property
    def known(self) -> tuple[str, ...]:
        return (*self.columns, *self.extra)


# The stable CSV/TSV column set for v3 service usage events (README "Service usage events").
SERVICE_USAGE_COLUMNS: tuple[str, ...] = (
    "guid",
    "created_at",
    "updated_at",
    "state",
    "service_instance.guid",
    "service_instance.name",
    "service_instance.type",
    "service_plan.guid",
    "service_plan.name",
    "service_offering.guid",
    "service_offering.name",
    "service_broker.guid",
    "service_broker.name",
    "space.guid",
    "space.name",
    "organization.guid",
)

SERVICE_USAGE_TABLE_COLUMNS: tuple[str, ...] = (
    "created_at",
    "state",
    "service_instance.name",
    "service_instance.type",
    "service_offering.name",
    "service_plan.name",
    "space.name",
)

COLUMN_SETS: dict[str, ColumnSet] = {
    "usage": ColumnSet(
        USAGE_COLUMNS,
        USAGE_TABLE_COLUMNS,
        ("links",),
        strict=True,
        hide=(
            "guid",
            "memory_in_mb_per_instance.current",
            "instance_count.current",
            "state.previous",
            "process.type",
            "space.name",
            "organization.name",
        ),
        keep=("state.current",),
    ),
    "usage-one": ColumnSet(USAGE_COLUMNS, None, ("links",), strict=True),
    "usage-v2": ColumnSet(USAGE_V2_COLUMNS, None, ("metadata.url",)),
    "services": ColumnSet(
        SERVICE_USAGE_COLUMNS,
        SERVICE_USAGE_TABLE_COLUMNS,
        ("links",),
        hide=("service_instance.type", "service_plan.name", "space.name"),
        keep=("state",),
    ),
    "services-one": ColumnSet(SERVICE_USAGE_COLUMNS, None, ("links",)),
    "events": ColumnSet(
        EVENT_COLUMNS,
        EVENT_TABLE_COLUMNS,
        hide=("actor.type", "target.type", "space.name", "organization.name", "actor.name"),
        keep=("type",),
    ),
    "event": ColumnSet(EVENT_COLUMNS),
    "crashes": ColumnSet(
        CRASH_COLUMNS,
        CRASH_TABLE_COLUMNS,
        ("context",),
        hide=("cell_id", "instance.index", "reason", "organization.name", "space.name"),
        keep=("app.name", "exit_description"),
    ),
    "crash-summary": ColumnSet(
        CRASH_SUMMARY_COLUMNS,
        CRASH_SUMMARY_TABLE_COLUMNS,
        hide=("first", "organization.name", "space.name"),
        keep=("app.name", "last_exit_description"),
    ),
    "crash-loops": ColumnSet(CRASH_LOOP_COLUMNS, CRASH_LOOP_TABLE_COLUMNS, ("context",)),
}
