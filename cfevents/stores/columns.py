"""Flat snake_case columns for usage events: one mapping per event kind, one pure ``flatten``.

A usage event nests its fields (``state.current``, ``organization.guid``); SQL and spreadsheet
users want flat names that need no quoting. Each :class:`EventKind` lists its columns in order,
with the path of each one inside the v3 event, so the SQL stores (one table per kind) and the
``--flat`` file formats share one schema. Adding ``service_usage_events`` is a second
:class:`EventKind`, not new code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

ColumnType = Literal["text", "integer", "timestamp"]


@dataclass(frozen=True)
class Column:
    """One flat column: its name, where it sits in the event, and its SQL type."""

    name: str
    path: tuple[str, ...]
    type: ColumnType = "text"


@dataclass(frozen=True)
class EventKind:
    """One kind of usage event: its API path, its table and its flat columns in order.

    ``reseed_column`` names the column that equals ``guid`` on the events a
    ``destructively_purge_all_and_reseed`` wrote (CC reuses the process or service instance
    guid as the event guid), so reports can tell a reseed from a real state change.
    """

    name: str
    path: str
    table: str
    columns: tuple[Column, ...]
    reseed_column: str

    def __post_init__(self) -> None:
        # the stores read the key (schema.EVENT_KEY) from row[0] and row[1]
        if [column.name for column in self.columns[:2]] != ["guid", "created_at"]:
            raise ValueError(f"{self.name}: the first columns must be guid and created_at")

    def is_reseeded(self, event: Mapping[str, Any]) -> bool:
        """A purge-and-reseed's event: CC gives it the guid of what it reseeds, the value of
        ``reseed_column`` (docs/accounting.md §1.4, §2.5)."""
        guid = event.get("guid")
        path = next(column.path for column in self.columns if column.name == self.reseed_column)
        return bool(guid) and _get(event, path) == guid

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)


APP_USAGE = EventKind(
    name="app_usage",
    path="/v3/app_usage_events",
    table="app_usage_events",
    # the order of the documented CSV columns (cfevents.output.columns.USAGE_COLUMNS), snake_case
    columns=(
        Column("guid", ("guid",)),
        Column("created_at", ("created_at",), "timestamp"),
        Column("updated_at", ("updated_at",), "timestamp"),
        Column("state_current", ("state", "current")),
        Column("state_previous", ("state", "previous")),
        Column("app_guid", ("app", "guid")),
        Column("app_name", ("app", "name")),
        Column("process_guid", ("process", "guid")),
        Column("process_type", ("process", "type")),
        Column("space_guid", ("space", "guid")),
        Column("space_name", ("space", "name")),
        Column("org_guid", ("organization", "guid")),
        Column("org_name", ("organization", "name")),  # as CC named the org (looked up)
        Column("buildpack_guid", ("buildpack", "guid")),
        Column("buildpack_name", ("buildpack", "name")),
        Column("task_guid", ("task", "guid")),
        Column("task_name", ("task", "name")),
        Column(
            "memory_in_mb_per_instance_current", ("memory_in_mb_per_instance", "current"), "integer"
        ),
        Column(
            "memory_in_mb_per_instance_previous",
            ("memory_in_mb_per_instance", "previous"),
            "integer",
        ),
        Column("instance_count_current", ("instance_count", "current"), "integer"),
        Column("instance_count_previous", ("instance_count", "previous"), "integer"),
    ),
    reseed_column="process_guid",
)

SERVICE_USAGE = EventKind(
    name="service_usage",
    path="/v3/service_usage_events",
    table="service_usage_events",
    columns=(
        Column("guid", ("guid",)),
        Column("created_at", ("created_at",), "timestamp"),
        Column("updated_at", ("updated_at",), "timestamp"),
        Column("state", ("state",)),
        Column("org_guid", ("organization", "guid")),
        Column("org_name", ("organization", "name")),  # as CC named the org (looked up)
        Column("space_guid", ("space", "guid")),
        Column("space_name", ("space", "name")),
        Column("service_instance_guid", ("service_instance", "guid")),
        Column("service_instance_name", ("service_instance", "name")),
        Column("service_instance_type", ("service_instance", "type")),
        Column("service_plan_guid", ("service_plan", "guid")),
        Column("service_plan_name", ("service_plan", "name")),
        Column("service_offering_guid", ("service_offering", "guid")),
        Column("service_offering_name", ("service_offering", "name")),
        Column("service_broker_guid", ("service_broker", "guid")),
        Column("service_broker_name", ("service_broker", "name")),
    ),
    reseed_column="service_instance_guid",
)

KINDS: dict[str, EventKind] = {kind.name: kind for kind in (APP_USAGE, SERVICE_USAGE)}


def kind_named(name: str) -> EventKind:
    """The kind called ``name`` (``app_usage``, or its table name ``app_usage_events``)."""
    for kind in KINDS.values():
        if name in (kind.name, kind.table):
            return kind
    raise KeyError(name)


def kind_for_path(path: str) -> EventKind:
    """The kind an API list path returns (``/v3/app_usage_events``)."""
    for kind in KINDS.values():
        if path.rstrip("/") == kind.path:
            return kind
    raise KeyError(path)


def _get(event: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = event
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return None if isinstance(value, dict | list) else value


def flatten(event: dict[str, Any], kind: EventKind = APP_USAGE) -> dict[str, Any]:
    """The event's flat columns, in ``kind.columns`` order; a missing or null field is None."""
    return {column.name: _get(event, column.path) for column in kind.columns}


def flat_records(
    events: Iterable[dict[str, Any]], kind: EventKind = APP_USAGE
) -> Iterator[dict[str, Any]]:
    """:func:`flatten` for a stream of events (what ``--flat`` writes), lazily."""
    names = kind.column_names
    for event in events:
        yield dict(zip(names, flat_row(event, kind), strict=True))


def flat_row(event: dict[str, Any], kind: EventKind = APP_USAGE) -> tuple[Any, ...]:
    """The same values as :func:`flatten`, as a tuple (what the stores insert)."""
    row = row_getter(kind)(event)
    if dict in map(type, row) or list in map(type, row):  # not a documented shape
        return tuple(_get(event, column.path) for column in kind.columns)
    return row


_EMPTY: dict[str, Any] = {}


_GETTERS: dict[str, Callable[[dict[str, Any]], tuple[Any, ...]]] = {}


def row_getter(kind: EventKind) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A compiled ``event -> row`` for the hot path: each nested object is looked up once.

    A nested value that is not a scalar comes back as is (callers that need :func:`flatten`'s
    None for it check, as :func:`flat_row` does)."""
    getter = _GETTERS.get(kind.name)
    if getter is None:
        getter = _GETTERS[kind.name] = _compile(kind)
    return getter


_NAMED: dict[str, Callable[[dict[str, Any], Mapping[str, str]], tuple[Any, ...]]] = {}


def named_row_getter(
    kind: EventKind,
) -> Callable[[dict[str, Any], Mapping[str, str]], tuple[Any, ...]]:
    """:func:`row_getter` whose ``org_name`` cell, when the event names no org, is the name
    ``names`` gives its org guid (what the stores insert: CC's events never name the org)."""
    getter = _NAMED.get(kind.name)
    if getter is None:
        getter = _NAMED[kind.name] = _compile(kind, named=True)
    return getter


def _compile(kind: EventKind, *, named: bool = False) -> Any:
    groups: dict[str, str] = {}
    lines = ["def row(event, names):" if named else "def row(event):", "    get = event.get"]
    cells = []
    for column in kind.columns:
        head, *rest = column.path
        if not rest:
            cells.append(f"get({head!r})")
            continue
        if len(rest) != 1:  # pragma: no cover - no kind nests deeper today
            raise ValueError(column.path)
        group = groups.get(head)
        if group is None:
            group = groups[head] = f"g{len(groups)}"
            lines.append(f"    {group} = get({head!r})")
            lines.append(f"    {group} = {group} if type({group}) is dict else EMPTY")
        cells.append(f"{group}.get({rest[0]!r})")
        if named and column.name == "org_name":  # a str guid: the names' keys are str
            lines += [
                f"    name = {cells[-1]}",
                "    if name is None:",
                f"        org = {group}.get('guid')",
                "        name = names.get(org) if type(org) is str else None",
            ]
            cells[-1] = "name"
    lines.append(f"    return ({', '.join(cells)},)")
    namespace: dict[str, Any] = {"EMPTY": _EMPTY}
    exec("\n".join(lines), namespace)
    return namespace["row"]
