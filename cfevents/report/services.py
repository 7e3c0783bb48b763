"""Service-instance accounting from service usage events (``docs/accounting.md`` §2.8).

:func:`service_report` reads ``/v3/service_instances`` first (the snapshot), then every
retained service usage event in CC's id order (the stream is tiny: one event per create,
update or delete), and runs the docs/accounting.md §2.8 state machine per ``service_instance.guid``:

- CREATED opens a segment under the event's plan (a failed provision too: CC wrote the row
  and bills nothing less until its DELETED); a reseed CREATED (``guid ==
  service_instance.guid``) is a continuation, or opens the instance if it was not known;
- UPDATED closes the current segment and opens the next under the event's plan. The event
  has no previous plan: it comes from tracked state; an instance first seen on an UPDATED
  existed before under a plan nobody can know (flag ``unknown_plan``; its seconds go to plan
  ``None``);
- DELETED closes; first seen on a DELETED, it existed before under the event's plan;
- instances in the snapshot without any event existed through the whole read, under the
  snapshot's plan.

Seconds are whole, clipped to ``[T0, E)`` with ``E = min(T1, now - min_age)``. User-provided
instances are left out unless ``include_user_provided``. Nothing here imports HTTP code.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from cfevents.errors import IncompleteDataError, UsageError
from cfevents.report.api import (
    DEFAULT_MARGIN,
    DEFAULT_MIN_AGE,
    Report,
    Window,
    counted,
    effective_end,
    rates_meta,
)
from cfevents.report.ccsource import PER_PAGE, GetsJson, _all
from cfevents.report.rates import DEFAULT_PLAN, Rates, services_cost
from cfevents.report.timeutil import epoch, iso, to_epoch
from cfevents.stores.columns import SERVICE_USAGE

SERVICE_EVENTS = "/v3/service_usage_events"
MANAGED = "managed_service_instance"
USER_PROVIDED = "user_provided_service_instance"
SERVICE_GROUPINGS = ("org", "space", "offering", "plan", "instance")
_KEYS = {
    "org": ("org_guid", "org_name"),
    "space": ("space_guid", "space_name"),
    "offering": ("service_offering_guid", "service_offering_name"),
    "plan": ("service_plan_guid", "service_plan_name"),
    "instance": ("service_instance_guid", "service_instance_name", "service_instance_type"),
}
# the columns a row of each grouping names: a plan row is the plan across the foundation (with
# its offering), not per space; an instance row says where it lives
_LEVELS = {
    "org": ("org",),
    "space": ("org", "space"),
    "offering": ("offering",),
    "plan": ("offering", "plan"),
    "instance": ("org", "space", "offering", "plan", "instance"),
    "space,plan": ("org", "space", "offering", "plan"),  # a plan per space: statement lines
}
FIGURES = ("service_seconds", "service_hours", "created", "updated", "deleted", "flags")
COST_FIELDS = ("cost", "currency")


class ServiceReportSource(Protocol):
    """Where a service report reads from."""

    @property
    def foundation(self) -> str: ...

    def service_instances(self) -> list[dict[str, Any]]:
        """``/v3/service_instances`` now (read before the events)."""
        ...

    def spaces(self) -> list[dict[str, Any]]:
        """``/v3/spaces`` (space names and orgs of instances seen only in the snapshot)."""
        ...

    def oldest_service_event(self) -> Mapping[str, Any] | None: ...

    def service_events(self) -> Iterable[Mapping[str, Any]]:
        """Every retained service usage event, in CC's id order."""
        ...

    def org_names(self, guids: Collection[str]) -> Mapping[str, str]: ...


class CloudControllerServiceSource:
    """A :class:`ServiceReportSource` over anything with ``get_json`` (CFClient)."""

    def __init__(self, client: GetsJson, foundation: str) -> None:
        self.client = client
        self._foundation = foundation

    @property
    def foundation(self) -> str:
        return self._foundation

    def service_instances(self) -> list[dict[str, Any]]:
        return _all(self.client, "/v3/service_instances", [])

    def spaces(self) -> list[dict[str, Any]]:
        return _all(self.client, "/v3/spaces", [])

    def oldest_service_event(self) -> Mapping[str, Any] | None:
        body = self.client.get_json(SERVICE_EVENTS, [("page", "1"), ("per_page", "1")])
        items = body.get("resources") or []
        return items[0] if items else None

    def service_events(self) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            params = [("after_guid", cursor)] if cursor else []
            body = self.client.get_json(
                SERVICE_EVENTS, [*params, ("page", "1"), ("per_page", str(PER_PAGE))]
            )
            items = body.get("resources") or []
            yield from items
            if len(items) < PER_PAGE or not (body.get("pagination") or {}).get("next"):
                return
            cursor = str(items[-1]["guid"])

    def org_names(self, guids: Collection[str]) -> Mapping[str, str]:
        found = _all(self.client, "/v3/organizations", [("guids", ",".join(sorted(guids)))])
        return {str(o["guid"]): str(o["name"]) for o in found if o.get("guid")}


@dataclass
class _Instance:
    """What is known of one instance; ``plan`` is None for user-provided or unknown."""

    guid: str
    type: str
    org_guid: str | None = None
    space_guid: str | None = None
    space_name: str | None = None
    name: str | None = None
    plan: str | None = None
    open_since: int | None = None
    last_t: int | None = None
    flags: set[str] = field(default_factory=set)


@dataclass
class _Group:
    key: tuple[Any, ...]
    seconds: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    flags: set[str] = field(default_factory=set)
    # seconds per (plan, price period): periods split where a plan price changes (--rates)
    plan_seconds: dict[tuple[str | None, int], int] = field(default_factory=dict)


def row_fields(by: str, priced: bool = False) -> tuple[str, ...]:
    """The keys of a service report's rows grouped ``by`` (a space row names its org, a plan
    row its offering — one row per plan, across spaces — an instance row all), then the
    figures (``priced``: with ``cost`` and ``currency``)."""
    if by not in _LEVELS:
        raise UsageError(f"`by` must be one of {', '.join(_LEVELS)}, not {by!r}", param="by")
    figures = (*FIGURES[:-1], *(COST_FIELDS if priced else ()), FIGURES[-1])
    return (*(f for level in _LEVELS[by] for f in _KEYS[level]), *figures)


class _Accountant:
    """The docs/accounting.md §2.8 state machine; segments are added to groups as they close."""

    def __init__(
        self,
        t0: int,
        end: int,
        by: str,
        include_user_provided: bool,
        cuts: tuple[int, ...] = (),
    ) -> None:
        self.cuts = cuts  # price changes (Rates.service_cuts)
        self.t0, self.end, self.by = t0, end, by
        self.include_user_provided = include_user_provided
        self.instances: dict[str, _Instance] = {}
        self.groups: dict[tuple[Any, ...], _Group] = {}
        self.plans: dict[str, tuple[str | None, str | None, str | None]] = {}  # plan -> names
        self.counters = {"events_read": 0, "reseeds": 0, "clock_skew_adjustments": 0}
        self.first = 0  # the read's start: inferred segments open there

    def wanted(self, kind: str | None) -> bool:
        return kind == MANAGED or (self.include_user_provided and kind == USER_PROVIDED)

    def feed(self, event: Mapping[str, Any]) -> None:
        self.counters["events_read"] += 1
        si = event.get("service_instance") or {}
        guid, kind = si.get("guid"), si.get("type")
        created = event.get("created_at")
        if not guid or not isinstance(created, str) or not self.wanted(kind):
            return
        t = epoch(created)
        inst = self.instances.get(str(guid))
        if inst is None:
            inst = self.instances[str(guid)] = _Instance(str(guid), str(kind))
        if inst.last_t is not None and t < inst.last_t:
            t = inst.last_t
            self.counters["clock_skew_adjustments"] += 1
        plan = (event.get("service_plan") or {}).get("guid")
        offering = event.get("service_offering") or {}
        if plan:
            self.plans[plan] = (
                (event.get("service_plan") or {}).get("name"),
                offering.get("guid"),
                offering.get("name"),
            )
        space = event.get("space") or {}
        inst.org_guid = (event.get("organization") or {}).get("guid") or inst.org_guid
        inst.space_guid = space.get("guid") or inst.space_guid
        inst.space_name = space.get("name") or inst.space_name
        inst.name = si.get("name") or inst.name
        state = event.get("state")
        known = inst.last_t is not None
        inst.last_t = t
        if state == "CREATED" and SERVICE_USAGE.is_reseeded(event):
            self.counters["reseeds"] += 1
            if inst.open_since is None:
                inst.plan, inst.open_since = plan, t
            return
        if state == "CREATED":
            self._close(inst, t)
            inst.plan, inst.open_since = plan, t
            self._count(inst, t, "created")
        elif state == "UPDATED":
            if not known:  # existed before the read, under a plan the event does not say
                inst.plan, inst.open_since = None, self.first
                if inst.type == MANAGED:
                    inst.flags.add("unknown_plan")
            self._close(inst, t)
            inst.plan, inst.open_since = plan, t
            self._count(inst, t, "updated")
        elif state == "DELETED":
            if not known:
                inst.plan, inst.open_since = plan, self.first
                inst.flags.add("inferred_start")
            self._close(inst, t)
            self._count(inst, t, "deleted")

    def _close(self, inst: _Instance, t: int) -> None:
        if inst.open_since is None:
            return
        a, b = max(inst.open_since, self.t0), min(t, self.end)
        group = self._group(inst)
        if b > a:
            group.seconds += b - a
            lo = a
            while lo < b:  # split at each price change
                period = bisect.bisect_right(self.cuts, lo)
                hi = min(b, self.cuts[period]) if period < len(self.cuts) else b
                key = (inst.plan, period)
                group.plan_seconds[key] = group.plan_seconds.get(key, 0) + hi - lo
                lo = hi
            group.flags |= inst.flags
        inst.open_since = None

    def _count(self, inst: _Instance, t: int, what: str) -> None:
        if self.t0 <= t < self.end:
            group = self._group(inst)
            setattr(group, what, getattr(group, what) + 1)

    def _group(self, inst: _Instance) -> _Group:
        plan_name, offering, offering_name = self.plans.get(inst.plan or "", (None, None, None))
        if inst.plan is None and "unknown_plan" in inst.flags and inst.open_since == self.first:
            plan_name = "unknown"
            offering_name = offering_name or "unknown"  # a plan row names its offering first
        values = {
            "org": (inst.org_guid, None),
            "space": (inst.space_guid, inst.space_name),
            "offering": (offering, offering_name),
            "plan": (inst.plan, plan_name),
            "instance": (inst.guid, inst.name, inst.type),
        }
        key: tuple[Any, ...] = ()
        for level in _LEVELS[self.by]:
            key += values[level]
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = _Group(key)
        return group

    def finish(self) -> dict[str, dict[str, Any]]:
        """Close what is open at E; the open instances (closing state, docs/accounting.md §2.12)."""
        closing = {
            i.guid: {"plan_guid": i.plan, "since": iso(max(i.open_since, self.t0)), "type": i.type}
            for i in self.instances.values()
            if i.open_since is not None
        }
        for inst in self.instances.values():
            if inst.open_since is not None:
                if inst.open_since < self.end:
                    self._group(inst).flags.add("open_at_end")
                self._close(inst, self.end)
        return closing


def service_report(
    source: ServiceReportSource,
    window: Window,
    *,
    by: str = "plan",
    include_user_provided: bool = False,
    min_age: timedelta = DEFAULT_MIN_AGE,
    now: datetime | None = None,
    allow_incomplete: bool = False,
    margin: timedelta = DEFAULT_MARGIN,
    rates: Rates | None = None,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Service-instance seconds per org, space, offering, plan or instance (``by``) over
    ``window``, and created/updated/deleted counts (docs/accounting.md §2.8).
    ``progress(events_read)`` is called every PROGRESS_EVERY events while reading.

    Raises :class:`IncompleteDataError` (exit 7) when the oldest retained service usage event
    (or a purge-and-reseed) is newer than ``window.start - margin``, unless
    ``allow_incomplete``; :class:`UsageError` for a bad ``by``, or with ``rates`` for a
    billed plan that has no price (a priced plan nothing used is a warning). With ``rates``,
    rows gain ``cost`` (each plan's seconds x its price per hour x the org's multiplier, summed
    exactly, rounded once) and ``currency``.
    """
    _check_grouping(by, rates)
    now = now or datetime.now(UTC)
    t0, t1 = to_epoch(window.start), to_epoch(window.end)
    end = effective_end(t0, t1, to_epoch(now - min_age))
    needed = t0 - int(margin.total_seconds())
    incomplete = _check_oldest(source, t0, needed, allow_incomplete)
    snapshot = source.service_instances()  # BEFORE the events (docs/accounting.md §2.3)
    cuts = rates.service_cuts() if rates is not None else ()
    engine = _Accountant(t0, end, by, include_user_provided, cuts)
    first_t: int | None = None
    for event in counted(source.service_events(), progress):
        if first_t is None and isinstance(event.get("created_at"), str):
            first_t = epoch(str(event["created_at"]))
            engine.first = min(first_t, needed)
        engine.feed(event)
    if first_t is None:
        engine.first = needed
    _open_from_snapshot(engine, snapshot, source, include_user_provided)
    closing = {"services": engine.finish()}

    with_org = _LEVELS[by][0] == "org"  # the key starts (org_guid, org_name)
    org_guids = {g.key[0] for g in engine.groups.values() if with_org and g.key[0]}
    org_names = dict(source.org_names(org_guids)) if org_guids else {}
    rows = _rows(engine, by, org_names, incomplete, rates)
    warnings = [f"incomplete: {text}" for text in incomplete]
    if rates is not None:
        warnings.extend(_check_prices(engine, rates))
    meta: dict[str, Any] = {
        "window": {"start": iso(t0), "end": iso(t1)},
        "effective_end": iso(end),
        "as_of": iso(end),
        "partial": end < t1,
        "by": by,
        "include_user_provided": include_user_provided,
        "opening_source": "snapshot",
        "counters": dict(engine.counters),
        "events_read": engine.counters["events_read"],
        "incomplete": incomplete,
        "foundation": source.foundation,
    }
    if rates is not None:
        meta["rates"] = rates_meta(rates)
    totals = _totals(rows, rates)
    return Report(rows, totals, meta, closing, list(row_fields(by, rates is not None)), warnings)


def _check_grouping(by: str, rates: Rates | None) -> None:
    if by not in _LEVELS:
        raise UsageError(f"`by` must be one of {', '.join(_LEVELS)}, not {by!r}", param="by")
    if rates is not None and rates.orgs and "org" not in _LEVELS[by]:
        raise UsageError(  # a plan row spans orgs: one multiplier cannot price it exactly
            f"the rates give orgs multipliers, and a {by} row spans orgs: use --by org, "
            "space or instance with them"
        )


def _check_oldest(
    source: ServiceReportSource, t0: int, needed: int, allow_incomplete: bool
) -> list[str]:
    """The oldest retained service usage event must be at or before ``needed`` (exit 7, or
    with ``allow_incomplete`` the problem, to flag the rows)."""
    oldest = source.oldest_service_event()
    if oldest is None or not isinstance(oldest.get("created_at"), str):
        return []
    oldest_t = epoch(str(oldest["created_at"]))
    if oldest_t <= needed:
        return []
    what = (
        f"a purge-and-reseed at {iso(oldest_t)}"
        if SERVICE_USAGE.is_reseeded(oldest)
        else f"the oldest service usage event Cloud Controller still has is from {iso(oldest_t)}"
    )
    problem = f"the window starts at {iso(t0)} but {what}, so events it needs are gone"
    if not allow_incomplete:
        raise IncompleteDataError(f"{problem}: use a later --since, or --allow-incomplete")
    return [problem]


def _totals(rows: list[dict[str, Any]], rates: Rates | None) -> dict[str, Any]:
    total = sum(r["service_seconds"] for r in rows)
    totals: dict[str, Any] = {
        "service_seconds": total,
        "service_hours": total / 3600,
        **{k: sum(r[k] for r in rows) for k in ("created", "updated", "deleted")},
    }
    if rates is not None:
        totals["cost"] = sum((r["cost"] for r in rows), Decimal(0))
        totals["currency"] = rates.currency
    return totals


def _rows(
    engine: _Accountant,
    by: str,
    org_names: Mapping[str, str],
    incomplete: list[str],
    rates: Rates | None,
) -> list[dict[str, Any]]:
    fields = list(row_fields(by)[: -len(FIGURES)])
    with_org = _LEVELS[by][0] == "org"  # the key starts (org_guid, org_name)
    rows = []
    for group in sorted(engine.groups.values(), key=lambda g: tuple(str(v) for v in g.key)):
        row: dict[str, Any] = {}
        values = list(group.key)
        if with_org:
            values[1] = org_names.get(str(values[0])) if values[0] else None
        row.update(zip(fields, values, strict=True))
        row |= {
            "service_seconds": group.seconds,
            "service_hours": group.seconds / 3600,
            "created": group.created,
            "updated": group.updated,
            "deleted": group.deleted,
        }
        if rates is not None:
            factor = rates.multiplier(row.get("org_guid"), row.get("org_name"))
            priced = [
                (rates.plan_price(plan, _plan_label(engine, plan), period) or Decimal(0), seconds)
                for (plan, period), seconds in group.plan_seconds.items()
            ]
            row["cost"] = services_cost(priced, factor)
            row["currency"] = rates.currency
        row["flags"] = sorted(group.flags | ({"incomplete"} if incomplete else set()))
        if group.seconds or group.created or group.updated or group.deleted:
            rows.append(row)
    return rows


def _plan_label(engine: _Accountant, plan: str | None) -> str | None:
    """``offering/plan`` by name, as a rates file keys it (None when the names are unknown)."""
    plan_name, _offering, offering_name = engine.plans.get(plan or "", (None, None, None))
    return f"{offering_name}/{plan_name}" if plan_name and offering_name else None


def _check_prices(engine: _Accountant, rates: Rates) -> list[str]:
    """A billed plan without a price is an error (unless a default); a priced plan that
    matches nothing billed is a warning."""
    used = {k for g in engine.groups.values() for k, s in g.plan_seconds.items() if s and k[0]}
    labels = {plan: _plan_label(engine, plan) for plan, _period in used}
    missing = sorted(
        {
            labels[plan] or str(plan)
            for plan, period in used
            if rates.plan_price(plan, labels[plan], period) is None
        }
    )
    if missing:
        raise UsageError(
            f"--rates {rates.source}: no price for service plan(s) {', '.join(missing)}: "
            'add them to [service_plans] (or a "default")'
        )
    matched = {plan for plan, _period in used} | {label for label in labels.values() if label}
    keys = [*rates.service_plans, *(k for _s, prices in rates.service_periods for k in prices)]
    return [
        f"--rates {rates.source}: service plan {key!r} matches no plan billed in this window"
        for key in dict.fromkeys(keys)
        if key not in matched and key != DEFAULT_PLAN
    ]


def _open_from_snapshot(
    engine: _Accountant,
    snapshot: list[dict[str, Any]],
    source: ServiceReportSource,
    include_user_provided: bool,
) -> None:
    """Instances without events existed through the whole read, under the snapshot's plan."""
    unseen = [s for s in snapshot if str(s.get("guid")) not in engine.instances]
    if not unseen:
        return
    spaces = {str(s.get("guid")): s for s in source.spaces()}
    for item in unseen:
        kind = MANAGED if item.get("type") == "managed" else USER_PROVIDED
        if not engine.wanted(kind):
            continue
        relationships = item.get("relationships") or {}
        space_guid = ((relationships.get("space") or {}).get("data") or {}).get("guid")
        plan = ((relationships.get("service_plan") or {}).get("data") or {}).get("guid")
        space = spaces.get(str(space_guid)) or {}
        org = ((space.get("relationships") or {}).get("organization") or {}).get("data") or {}
        inst = _Instance(
            guid=str(item["guid"]),
            type=kind,
            org_guid=org.get("guid"),
            space_guid=space_guid,
            space_name=space.get("name"),
            name=item.get("name"),
            plan=plan,
            open_since=engine.first,
        )
        if (item.get("last_operation") or {}).get("state") == "failed":
            inst.flags.add("create_failed")
        engine.instances[inst.guid] = inst
