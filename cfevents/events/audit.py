"""Audit events and crashes, pure: query builders, ``q`` validation, one event shape, crashes.

Nothing here talks to the network; the CLI feeds it CC resources and writes what it yields.

- :class:`EventQuery` → :func:`build_v3_audit_params` (``GET /v3/audit_events``) or
  :func:`build_v2_events_params` (``GET /v2/events``, repeated ``q``).
- :func:`parse_q` checks a raw v2 ``q`` filter against CC's grammar before any request.
- :func:`normalise_v2` / :func:`normalise_v3` turn either API's event into one shape (v3's).
- :func:`crash_records` turns the two events CC writes per crash into one crash record;
  :func:`summarise` makes one row per app of them.

The normalised event (every key always present; missing values are ``None``). One rule for
both APIs: an empty string in ``actor``, ``target``, ``space`` or ``organization`` (v2 writes
``""`` where v3 writes ``""`` or null) is ``None``, so JSON shows ``null`` whichever API answered;
``data`` is passed through as the server sent it::

    {"guid", "created_at", "type",
     "actor": {"guid", "type", "name"}, "target": {"guid", "type", "name"},
     "data": {...},  # v2 entity.metadata
     "space": {"guid", "name"}, "organization": {"guid", "name"}}

``name`` of space and organization is ``None`` here: events carry only their GUIDs, and the
CLI looks the names up (cached per run). v2's ``actor_username`` has no v3 counterpart and is
not kept; ``updated_at`` is always ``created_at`` in v3 and absent in v2, so it is left out.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cfevents.cc.paging import Params
from cfevents.errors import UsageError
from cfevents.events.query import TimeWindow, created_ats_params
from cfevents.shapes import CRASH_DATA_KEYS
from cfevents.timeparse import TimeParseError, cc_epoch, format_cc, parse_time

# Cloud Controller's common audit event types (what `events list --type` completes to).
AUDIT_TYPES: tuple[str, ...] = (
    "app.crash",
    "audit.app.create",
    "audit.app.update",
    "audit.app.delete-request",
    "audit.app.start",
    "audit.app.stop",
    "audit.app.restage",
    "audit.app.process.crash",
    "audit.app.process.scale",
    "audit.app.process.update",
    "audit.app.ssh-authorized",
    "audit.app.ssh-unauthorized",
    "audit.app.droplet.create",
    "audit.app.package.create",
    "audit.app.map-route",
    "audit.app.unmap-route",
    "audit.app.deployment.create",
    "audit.organization.create",
    "audit.organization.update",
    "audit.organization.delete-request",
    "audit.space.create",
    "audit.space.update",
    "audit.space.delete-request",
    "audit.route.create",
    "audit.route.delete-request",
    "audit.service_instance.create",
    "audit.service_instance.update",
    "audit.service_instance.delete",
    "audit.service_binding.create",
    "audit.service_binding.delete",
)

Event = dict[str, Any]

APP_CRASH = "app.crash"
PROCESS_CRASH = "audit.app.process.crash"
CRASH_TYPES: tuple[str, ...] = (APP_CRASH, PROCESS_CRASH)

ORDERS = ("desc", "asc")
SOURCES = ("auto", "v3", "v2")

# CC's v2 q grammar (lib/vcap/rest_api/query.rb): split once on the leftmost operator.
Q_OPERATOR = re.compile(r"(:|>=|<=|<|>| IN )")
Q_KEYS: tuple[str, ...] = ("timestamp", "type", "actee", "space_guid", "organization_guid")

# The two events of one crash are written in one CC request; allow for a slow transaction.
PAIR_WINDOW_SECONDS = 5.0
# Recently seen event GUIDs kept to drop repeats (OFFSET paging shifts while events arrive).
DEDUPE_MEMORY = 20_000


# -- queries ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventQuery:
    """Everything cfevents filters audit events by, for either API.

    ``target_guids`` are v3 ``target_guids`` / v2 ``actee``. ``raw_q`` holds already
    validated v2 ``q`` filters (v2 only). ``per_page`` None leaves the server's default.
    """

    types: tuple[str, ...] = ()
    target_guids: tuple[str, ...] = ()
    space_guids: tuple[str, ...] = ()
    org_guids: tuple[str, ...] = ()
    window: TimeWindow = field(default_factory=TimeWindow)
    order: str = "desc"
    per_page: int | None = None
    raw_q: tuple[str, ...] = ()


def build_v3_audit_params(q: EventQuery) -> Params:
    """Query parameters for ``GET /v3/audit_events`` (lists are comma-joined, ORed)."""
    if q.raw_q:
        raise UsageError("--q filters are v2 syntax; they need --source v2")
    params: Params = []
    for key, values in (
        ("types", q.types),
        ("target_guids", q.target_guids),
        ("space_guids", q.space_guids),
        ("organization_guids", q.org_guids),
    ):
        if values:
            params.append((key, ",".join(values)))
    params.extend(created_ats_params(q.window))
    params.append(("order_by", "-created_at" if q.order == "desc" else "created_at"))
    if q.per_page is not None:
        params.append(("per_page", str(q.per_page)))
    return params


def build_v2_events_params(q: EventQuery) -> Params:
    """Query parameters for ``GET /v2/events``: one ``q`` per filter (CC ANDs them).

    Time bounds keep v3's meaning: ``--since`` is ``timestamp>=T``, ``--until`` is
    ``timestamp<T``, and ``--created-after`` is ``timestamp>T``, which v2 (like v3's
    ``[gt]``) widens to the whole second, i.e. from T+1s.
    """
    params: Params = []
    for key, values in (
        ("type", q.types),
        ("actee", q.target_guids),
        ("space_guid", q.space_guids),
        ("organization_guid", q.org_guids),
    ):
        if len(values) == 1:
            params.append(("q", f"{key}:{values[0]}"))
        elif values:
            params.append(("q", f"{key} IN {','.join(values)}"))
    window = q.window
    if window.equals:
        times = ",".join(format_cc(t) for t in window.equals)
        params.append(
            ("q", f"timestamp IN {times}" if len(window.equals) > 1 else f"timestamp:{times}")
        )
    if window.gte is not None:
        params.append(("q", f"timestamp>={format_cc(window.gte)}"))
    if window.gt is not None:
        params.append(("q", f"timestamp>{format_cc(window.gt)}"))
    if window.lt is not None:
        params.append(("q", f"timestamp<{format_cc(window.lt)}"))
    params.extend(("q", raw) for raw in q.raw_q)
    params.append(("order-direction", q.order))
    if q.per_page is not None:
        params.append(("results-per-page", str(q.per_page)))
    return params


# -- raw v2 q filters ------------------------------------------------------------------------


@dataclass(frozen=True)
class QFilter:
    """One ``q`` clause: ``key``, operator (``:`` is equality) and value."""

    key: str
    op: str
    value: str

    def __str__(self) -> str:
        return f"{self.key}{self.op}{self.value}"


def _q_clauses(text: str) -> list[str]:
    """Split on ``;`` as CC does (clauses are ANDed); ``;;`` is a literal ``;``."""
    parts = text.replace(";;", "\0").split(";")
    return [p.replace("\0", ";") for p in parts]


def parse_q_clause(clause: str) -> QFilter:
    """Check one clause against the grammar.

    Raises:
        UsageError: no operator, a key CC cannot filter ``/v2/events`` on, or no value.
    """
    valid = ", ".join(Q_KEYS)
    match = Q_OPERATOR.search(clause)
    if match is None:
        raise UsageError(
            f"--q {clause!r}: no operator; write KEY:VALUE, 'KEY IN A,B' or KEY>=VALUE "
            f"(also >, <=, <), where KEY is one of: {valid}"
        )
    key, op, value = clause[: match.start()], match.group(), clause[match.end() :]
    if key not in Q_KEYS:
        raise UsageError(
            f"--q {clause!r}: Cloud Controller cannot filter events on {key!r}; valid keys: {valid}"
        )
    if not value.strip():
        raise UsageError(f"--q {clause!r}: no value for {key!r}")
    return QFilter(key, op, value)


def parse_q(text: str, now: datetime) -> str:
    """Validate a raw ``--q`` value and return what to send.

    Timestamps are read with cfevents' time parser (so ``timestamp>=7d`` works) and sent in
    CC's format: CC's own parser is lenient but answers 500 to what it cannot read.

    Raises:
        UsageError: the filter does not follow the grammar (see :func:`parse_q_clause`).
    """
    out: list[str] = []
    for clause in _q_clauses(text):
        f = parse_q_clause(clause)
        value = f.value
        if f.key == "timestamp":
            values = value.split(",") if f.op == " IN " else [value]
            try:
                value = ",".join(format_cc(parse_time(v, now)) for v in values)
            except TimeParseError as exc:
                raise UsageError(f"--q {clause!r}: {exc}") from None
        out.append(str(QFilter(f.key, f.op, value)).replace(";", ";;"))
    return ";".join(out)


# -- one event shape -------------------------------------------------------------------------


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _blank_to_none(value: Any) -> Any:
    return None if value == "" else value


def normalise_v3(resource: dict[str, Any]) -> Event:
    """A ``/v3/audit_events`` resource in the normalised event shape."""
    actor, target = _obj(resource.get("actor")), _obj(resource.get("target"))
    return {
        "guid": resource.get("guid"),
        "created_at": resource.get("created_at"),
        "type": resource.get("type"),
        "actor": {
            "guid": _blank_to_none(actor.get("guid")),
            "type": _blank_to_none(actor.get("type")),
            "name": _blank_to_none(actor.get("name")),
        },
        "target": {
            "guid": _blank_to_none(target.get("guid")),
            "type": _blank_to_none(target.get("type")),
            "name": _blank_to_none(target.get("name")),
        },
        "data": _obj(resource.get("data")),
        "space": {"guid": _blank_to_none(_obj(resource.get("space")).get("guid")), "name": None},
        "organization": {
            "guid": _blank_to_none(_obj(resource.get("organization")).get("guid")),
            "name": None,
        },
    }


def normalise_v2(resource: dict[str, Any]) -> Event:
    """A ``/v2/events`` resource (metadata + entity) in the normalised event shape.

    ``created_at`` is ``entity.timestamp``, the column v3 shows as ``created_at``; v2's
    ``space_guid`` is ``""`` for org-level events and becomes ``None``.
    """
    meta, entity = _obj(resource.get("metadata")), _obj(resource.get("entity"))
    return {
        "guid": meta.get("guid"),
        "created_at": entity.get("timestamp") or meta.get("created_at"),
        "type": entity.get("type"),
        "actor": {
            "guid": _blank_to_none(entity.get("actor")),
            "type": _blank_to_none(entity.get("actor_type")),
            "name": _blank_to_none(entity.get("actor_name")),
        },
        "target": {
            "guid": _blank_to_none(entity.get("actee")),
            "type": _blank_to_none(entity.get("actee_type")),
            "name": _blank_to_none(entity.get("actee_name")),
        },
        "data": _obj(entity.get("metadata")),
        "space": {"guid": _blank_to_none(entity.get("space_guid")), "name": None},
        "organization": {"guid": _blank_to_none(entity.get("organization_guid")), "name": None},
    }


def unique(events: Iterable[Event], memory: int = DEDUPE_MEMORY) -> Iterator[Event]:
    """Drop events whose GUID was seen among the last ``memory`` ones.

    OFFSET paging (what ``next`` links do) repeats a row at a page boundary when events are
    written while a newest-first listing runs; this keeps each event once in bounded memory.
    """
    seen: set[Any] = set()
    recent: deque[Any] = deque()
    for event in events:
        guid = event.get("guid")
        if guid is not None:
            if guid in seen:
                continue
            seen.add(guid)
            recent.append(guid)
            if len(recent) > memory:
                seen.discard(recent.popleft())
        yield event


def settle_ties(events: Iterable[Event], order: str = "desc") -> Iterator[Event]:
    """Order events that share a ``created_at`` second by GUID.

    CC breaks ties differently per API (v2 by id, v3 by guid), so without this the same
    query could list same-second events in another order on each source. Only one second's
    events are held at a time.
    """
    group: list[Event] = []
    for event in events:
        if group and event.get("created_at") != group[0].get("created_at"):
            yield from _sorted_group(group, order)
            group = []
        group.append(event)
    yield from _sorted_group(group, order)


def _sorted_group(group: list[Event], order: str) -> list[Event]:
    return sorted(group, key=lambda e: str(e.get("guid") or ""), reverse=order == "desc")


# -- crashes ---------------------------------------------------------------------------------


def crash_from_event(event: Event) -> Event:
    """The crash record for one normalised ``app.crash`` or ``audit.app.process.crash``.

    Shape (every value may be ``None``)::

        {"created_at", "organization": {"guid", "name"}, "space": {"guid", "name"},
         "app": {"guid", "name"}, "process": {"guid", "type"},
         "instance": {"guid", "index"}, "cell_id", "reason", "exit_status",
         "exit_description", "crash_count", "crash_timestamp", "version",
         "process_crash_guid", "app_crash_guid"}
    """
    data = _obj(event.get("data"))
    is_process = event.get("type") == PROCESS_CRASH
    actor, target = _obj(event.get("actor")), _obj(event.get("target"))
    record: Event = {
        "created_at": event.get("created_at"),
        "organization": {"guid": _obj(event.get("organization")).get("guid"), "name": None},
        "space": {"guid": _obj(event.get("space")).get("guid"), "name": None},
        "app": {"guid": target.get("guid"), "name": target.get("name")},
        # audit.app.process.crash's actor is the process; app.crash's actor is the app.
        "process": {
            "guid": actor.get("guid") if is_process else None,
            "type": actor.get("name") if is_process else None,
        },
        "instance": {"guid": data.get("instance"), "index": data.get("index")},
    }
    for key in CRASH_DATA_KEYS:
        record[key] = data.get(key)
    record["process_crash_guid"] = event.get("guid") if is_process else None
    record["app_crash_guid"] = None if is_process else event.get("guid")
    return record


def merge_crash(primary: Event, other: Event) -> Event:
    """Fill the primary record's missing values from the other half of the pair."""
    merged: Event = {}
    for key, value in primary.items():
        alt = other.get(key)
        if isinstance(value, dict) and isinstance(alt, dict):
            merged[key] = {k: v if v is not None else alt.get(k) for k, v in value.items()}
        else:
            merged[key] = value if value is not None else alt
    return merged


@dataclass
class _Pending:
    record: Event
    when: float | None
    has_process: bool
    has_app: bool

    def complete(self) -> bool:
        return self.has_process and self.has_app


def _same_crash(a: Event, b: Event) -> bool:
    """Same app, and the same instance GUID and index wherever both records have them."""
    if a["app"]["guid"] != b["app"]["guid"]:
        return False
    for key in ("guid", "index"):
        x, y = a["instance"].get(key), b["instance"].get(key)
        if x is not None and y is not None and x != y:
            return False
    return True


def _crash_sort_key(entry: _Pending) -> tuple[Any, ...]:
    r = entry.record
    return (
        entry.when if entry.when is not None else float("-inf"),
        str(r["app"]["guid"] or ""),
        r["instance"]["index"] if isinstance(r["instance"]["index"], int) else -1,
        str(r["instance"]["guid"] or ""),
        r["crash_timestamp"] if isinstance(r["crash_timestamp"], int) else -1,
    )


def crash_records(
    events: Iterable[Event], order: str = "desc", window: float = PAIR_WINDOW_SECONDS
) -> Iterator[Event]:
    """One record per crash from normalised events listed in time order (``order``).

    CC writes each crash twice: ``audit.app.process.crash`` (actor = the process; data holds
    Diego's whole payload incl. ``crash_count``, ``crash_timestamp`` in nanoseconds and the
    process ``version``) and ``app.crash`` (actor = the app; a slice of the payload plus
    ``exit_status`` when Diego sent one). Events of the same app, instance GUID and index
    within ``window`` seconds are one crash. ``audit.app.process.crash`` is the primary
    record (its time and values win); ``app.crash`` only fills values the primary lacks. A
    crash with only one of the two events still counts once.

    Memory is bounded: a crash is held only until an event more than ``window`` seconds away
    arrives. Records come out in time order with same-second crashes ordered by app GUID,
    instance index and instance GUID, so both APIs give identical output. Events of other
    types are ignored.
    """
    pending: list[_Pending] = []
    by_app: dict[Any, list[_Pending]] = {}
    last_scan: float | None = None

    def ready(now: float | None) -> Iterator[Event]:
        # Input is in time order, so everything more than ``window`` away from ``now`` can no
        # longer find its other half, and sorts before anything still pending or to come.
        # ``now`` None is the end of the input: everything goes.
        batch = [e for e in pending if now is None or e.when is None or abs(now - e.when) > window]
        if not batch:
            return
        gone = {id(e) for e in batch}
        pending[:] = [e for e in pending if id(e) not in gone]
        for entry in batch:
            key = entry.record["app"]["guid"]
            siblings = [s for s in by_app.get(key, []) if s is not entry]
            if siblings:
                by_app[key] = siblings
            else:
                by_app.pop(key, None)
        batch.sort(key=_crash_sort_key, reverse=order == "desc")
        for entry in batch:
            yield entry.record

    for event in events:
        kind = event.get("type")
        if kind not in CRASH_TYPES:
            continue
        record = crash_from_event(event)
        when = cc_epoch(record["created_at"])
        if when is not None and when != last_scan:  # once per distinct second, not per event
            last_scan = when
            yield from ready(when)
        is_process = kind == PROCESS_CRASH
        mate = _find_mate(by_app.get(record["app"]["guid"], []), record, when, is_process, window)
        if mate is None:
            entry = _Pending(record, when, is_process, not is_process)
            pending.append(entry)
            by_app.setdefault(record["app"]["guid"], []).append(entry)
        elif is_process:
            mate.record = merge_crash(record, mate.record)
            mate.when, mate.has_process = when, True
        else:
            mate.record = merge_crash(mate.record, record)
            mate.has_app = True
    yield from ready(None)


def _find_mate(
    candidates: list[_Pending], record: Event, when: float | None, is_process: bool, window: float
) -> _Pending | None:
    """The nearest pending half of the other type that belongs to the same crash."""
    best: _Pending | None = None
    best_gap = float("inf")
    for entry in candidates:
        if entry.complete() or (entry.has_process if is_process else entry.has_app):
            continue
        if not _same_crash(entry.record, record):
            continue
        gap = abs(when - entry.when) if when is not None and entry.when is not None else window
        if gap <= window and gap < best_gap:
            best, best_gap = entry, gap
    return best


def per_hour(crashes: int, first: float, last: float) -> float | None:
    """How fast an app crashed while it crashed: crashes per hour between its first and last
    crash, (N - 1) / (last - first), to three significant digits; None for one crash (or an
    unknown time). From the crashes alone, so the same window always gives the same rate."""
    if crashes < 2 or first == float("-inf") or last == float("-inf"):
        return None
    return float(f"{(crashes - 1) * 3600 / max(last - first, 1.0):.3g}")


def summarise(crashes: Iterable[Event]) -> list[Event]:
    """One row per app: crash count, first and last crash, the last crash's exit description.

    Rows are sorted by crash count (most first), then last crash (newest first), then app
    name. Row shape: ``{"organization", "space", "app", "crashes", "first", "last",
    "per_hour", "last_exit_description", "last_reason"}`` (``per_hour``: see
    :func:`per_hour`). Memory grows with apps, not crashes.
    """
    rows: dict[Any, Event] = {}
    first_at: dict[Any, tuple[float, int]] = {}
    last_at: dict[Any, tuple[float, int]] = {}
    for crash in crashes:
        app = crash["app"]
        key = app.get("guid") or ("name", app.get("name"), crash["space"].get("guid"))
        stamp = crash.get("created_at")
        epoch = cc_epoch(stamp)
        nanos = crash.get("crash_timestamp")
        # Same-second crashes are told apart by Diego's crash_timestamp where there is one.
        when = (
            epoch if epoch is not None else float("-inf"),
            nanos if isinstance(nanos, int) else -1,
        )
        row = rows.get(key)
        if row is None:
            row = rows[key] = {
                "organization": dict(crash["organization"]),
                "space": dict(crash["space"]),
                "app": dict(app),
                "crashes": 0,
                "first": stamp,
                "last": stamp,
                "per_hour": None,
                "last_exit_description": crash.get("exit_description"),
                "last_reason": crash.get("reason"),
            }
            first_at[key] = last_at[key] = when
        row["crashes"] += 1
        if when < first_at[key]:
            first_at[key] = when
            row["first"] = stamp
        if when > last_at[key]:
            last_at[key] = when
            row["last"] = stamp
            row["last_exit_description"] = crash.get("exit_description")
            row["last_reason"] = crash.get("reason")
        if row["app"].get("name") is None:
            row["app"]["name"] = app.get("name")
    for key, row in rows.items():
        row["per_hour"] = per_hour(row["crashes"], first_at[key][0], last_at[key][0])
    ordered = sorted(
        rows,
        key=lambda k: (
            -rows[k]["crashes"],
            -last_at[k][0],
            str(rows[k]["app"].get("name") or ""),
            str(rows[k]["app"].get("guid") or ""),
        ),
    )
    return [rows[k] for k in ordered]
