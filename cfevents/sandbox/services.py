"""Service instances simulated over time, the service usage events CC writes, and their truth.

Emission follows `ServiceInstance` hooks and `ServiceUsageEventRepository`
(docs/accounting.md §1.7):

- CREATED when the instance row is inserted: for a managed instance that is the
  v3 precursor, *before* the broker provisions, so a failed provision still has
  its CREATED and stays (billed) until it is deleted;
- UPDATED only when the plan or the name changes (parameter updates write nothing);
- DELETED when the row is destroyed (after deprovisioning);
- purge and reseed: TRUNCATE, then one CREATED per existing instance with
  `guid = service_instance.guid` and `created_at = now`.

The simulation runs on its own random stream, so app usage events are unchanged.
`ServiceSimulation.truth` answers from the simulation's own timeline (what
existed under which plan, when), never from the events.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cfevents.sandbox.store import SECOND_US, iso_second, to_us

MANAGED = "managed_service_instance"
USER_PROVIDED = "user_provided_service_instance"
#: (offering, broker, plans) of the simulated marketplace.
CATALOG = (
    ("postgres", "db-broker", ("small", "medium", "large")),
    ("redis", "cache-broker", ("cache-small", "cache-large")),
    ("rabbitmq", "mq-broker", ("single", "cluster")),
)
INSTANCE_NAMES = ("db", "cache", "queue", "store", "search", "logs", "creds", "mail")


@dataclass(frozen=True, slots=True)
class Plan:
    guid: str
    name: str
    offering_guid: str
    offering_name: str
    broker_guid: str
    broker_name: str


@dataclass(slots=True)
class Instance:
    """One service instance; `history` is [(µs, plan index or -1, name)] from its creation on."""

    guid: str
    type: str
    space: int
    name: str
    plan: int  # -1 for user-provided
    created_us: int
    failed: bool = False
    deleted_us: int | None = None
    updated_us: int = 0
    history: list[tuple[int, int]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ServiceEvent:
    """One `service_usage_events` row (names and plan as of the event)."""

    id: int
    guid: str
    created_us: int
    state: str
    instance: int
    name: str
    plan: int


@dataclass(frozen=True, slots=True)
class ServiceUsage:
    """What one service instance existed for in a window, per plan guid (None: user-provided).

    `seconds` maps plan guid to whole seconds inside the window; a failed provision counts
    from its CREATED to its DELETED like any other instance.
    """

    service_instance_guid: str
    service_instance_type: str
    space_guid: str
    org_guid: str
    seconds: dict[str | None, int]

    @property
    def total_seconds(self) -> int:
        return sum(self.seconds.values())


class ServiceSimulation:
    """Instances, their events and timeline; `spaces` are (space guid, space name, org guid)."""

    def __init__(
        self,
        rng: random.Random,
        uuid: Callable[..., str],
        spaces: Sequence[tuple[str, str, str]],
    ) -> None:
        self.rng = rng
        self.uuid = uuid
        self.spaces = list(spaces)
        self.plans: list[Plan] = []
        for offering, broker, plan_names in CATALOG:
            for plan in plan_names:
                self.plans.append(
                    Plan(
                        uuid("plan", offering, plan),
                        plan,
                        uuid("offering", offering),
                        offering,
                        uuid("broker", broker),
                        broker,
                    )
                )
        self.instances: list[Instance] = []
        self.events: list[ServiceEvent] = []
        self.positions: dict[str, int] = {}
        self.next_id = 1

    # -- generation ------------------------------------------------------------------------

    def generate(self, start_us: int, end_us: int, actions: int) -> None:
        """Instances that predate the window (no retained events), then `actions` over it."""
        rng = self.rng
        for _ in range(max(3, actions // 6)):
            self._create(start_us - rng.randrange(1, 200 * 86_400) * SECOND_US, event=False)
        self.instances.sort(key=lambda i: i.created_us)
        times = sorted(rng.randrange(start_us, end_us - 600 * SECOND_US) for _ in range(actions))
        for at in times:
            self.act(self._pick(), at)

    def _pick(self) -> str:
        r = self.rng.random()
        live = [i for i in self.instances if i.deleted_us is None]
        if not live or r < 0.35:
            return "create"
        if r < 0.55:
            return "update_plan"
        if r < 0.70:
            return "rename"
        if r < 0.80:
            return "update_parameters"
        return "delete"

    def act(self, action: str, at_us: int, guid: str | None = None) -> ServiceEvent | None:
        """Perform one action at `at_us` (on `guid`, else a random live instance)."""
        if action == "create":
            self._create(at_us, event=True)
            return self.events[-1]
        live = [i for i in self.instances if i.deleted_us is None]
        if guid is not None:
            live = [i for i in live if i.guid == guid]
            if not live:
                raise ValueError(f"no live service instance {guid}")
        target = self.rng.choice(live)
        if action == "update_plan":
            plans = self._plans_of(target)
            if target.type != MANAGED or len(plans) < 2:
                return None  # a user-provided instance has no plan to change
            target.plan = self.rng.choice([p for p in plans if p != target.plan])
            target.history.append((at_us, target.plan))
            target.updated_us = at_us
            return self._event(target, "UPDATED", at_us)
        if action == "rename":
            target.name = f"{target.name.split('-v')[0]}-v{self.next_id}"
            target.updated_us = at_us
            return self._event(target, "UPDATED", at_us)
        if action == "update_parameters":
            target.updated_us = at_us  # CC writes no usage event for this
            return None
        if action == "delete":
            target.deleted_us = at_us
            target.history.append((at_us, -2))
            return self._event(target, "DELETED", at_us)
        raise ValueError(f"unknown service action {action!r}")

    def _plans_of(self, instance: Instance) -> list[int]:
        offering = self.plans[instance.plan].offering_guid if instance.plan >= 0 else None
        return [p for p, plan in enumerate(self.plans) if plan.offering_guid == offering]

    def _create(self, at_us: int, *, event: bool) -> None:
        rng = self.rng
        n = len(self.instances)
        managed = rng.random() < 0.75
        plan = rng.randrange(len(self.plans)) if managed else -1
        instance = Instance(
            guid=self.uuid("service_instance", n),
            type=MANAGED if managed else USER_PROVIDED,
            space=rng.randrange(len(self.spaces)),
            name=f"{rng.choice(INSTANCE_NAMES)}-{n}",
            plan=plan,
            created_us=at_us,
            failed=managed and rng.random() < 0.1,
            updated_us=at_us,
        )
        instance.history.append((at_us, plan))
        self.instances.append(instance)
        if event:
            self._event(instance, "CREATED", at_us)

    def _event(
        self, instance: Instance, state: str, at_us: int, guid: str | None = None
    ) -> ServiceEvent:
        index = self.instances.index(instance)
        event = ServiceEvent(
            id=self.next_id,
            guid=guid or self.uuid("service_usage_event", self.next_id),
            created_us=at_us,
            state=state,
            instance=index,
            name=instance.name,
            plan=instance.plan,
        )
        self.next_id += 1
        self.positions[event.guid] = len(self.events)
        self.events.append(event)
        return event

    def purge_and_reseed(self, now_us: int) -> None:
        """TRUNCATE, then one CREATED per existing instance (guid = instance guid, at now)."""
        self.events.clear()
        self.positions.clear()
        for instance in self.instances:
            if instance.deleted_us is None:
                self._event(instance, "CREATED", now_us, guid=instance.guid)

    def prune_before(self, cutoff_us: int, *, keep_running: bool = False) -> None:
        """Delete events created before the cutoff, never the newest one.

        `keep_running` (cloud_controller_ng #5210): an instance that exists now keeps its
        newest event before the cutoff, so its plan and start stay known.
        """
        if not self.events:
            return
        last = self.events[-1].id
        kept: set[int] = set()
        if keep_running:
            newest: dict[int, ServiceEvent] = {}
            for event in self.events:
                if event.created_us < cutoff_us:
                    newest[event.instance] = event
            kept = {e.id for i, e in newest.items() if self.instances[i].deleted_us is None}
        self.events = [
            e for e in self.events if e.created_us >= cutoff_us or e.id == last or e.id in kept
        ]
        self.positions = {e.guid: n for n, e in enumerate(self.events)}

    # -- presenting --------------------------------------------------------------------------

    def present_event(self, event: ServiceEvent, base: str) -> dict[str, Any]:
        """`ServiceUsageEventPresenter`: offering, plan and broker are always objects; for a
        user-provided instance their guid and name are null (the row's columns are NULL)."""
        instance = self.instances[event.instance]
        space_guid, space_name, org_guid = self.spaces[instance.space]
        plan = self.plans[event.plan] if event.plan >= 0 else None
        at = iso_second(event.created_us)
        return {
            "guid": event.guid,
            "created_at": at,
            "updated_at": at,
            "state": event.state,
            "space": {"guid": space_guid, "name": space_name},
            "organization": {"guid": org_guid},
            "service_instance": {"guid": instance.guid, "name": event.name, "type": instance.type},
            "service_plan": {
                "guid": plan.guid if plan else None,
                "name": plan.name if plan else None,
            },
            "service_offering": {
                "guid": plan.offering_guid if plan else None,
                "name": plan.offering_name if plan else None,
            },
            "service_broker": {
                "guid": plan.broker_guid if plan else None,
                "name": plan.broker_name if plan else None,
            },
            "links": {"self": {"href": f"{base}/v3/service_usage_events/{event.guid}"}},
        }

    def present_instance(self, instance: Instance, base: str) -> dict[str, Any]:
        """`ServiceInstancePresenter`: the common keys, then the managed or user-provided ones,
        then relationships, metadata and links (its `correct_order`)."""
        space_guid = self.spaces[instance.space][0]
        url = f"{base}/v3/service_instances/{instance.guid}"
        bindings = f"service_instance_guids={instance.guid}"
        stamp = iso_second(instance.created_us)
        failed = instance.failed
        body: dict[str, Any] = {
            "guid": instance.guid,
            "created_at": stamp,
            "updated_at": iso_second(instance.updated_us),
            "name": instance.name,
            "tags": [],
            "last_operation": {
                "type": "create",
                "state": "failed" if failed else "succeeded",
                "description": "Provisioning failed" if failed else "Operation succeeded",
                "updated_at": stamp,
                "created_at": stamp,
            },
        }
        relationships: dict[str, Any] = {"space": {"data": {"guid": space_guid}}}
        links: dict[str, Any] = {
            "self": {"href": url},
            "space": {"href": f"{base}/v3/spaces/{space_guid}"},
            "service_credential_bindings": {
                "href": f"{base}/v3/service_credential_bindings?{bindings}"
            },
            "service_route_bindings": {"href": f"{base}/v3/service_route_bindings?{bindings}"},
        }
        if instance.type == MANAGED:
            plan = self.plans[instance.plan]
            body |= {
                "type": "managed",
                "maintenance_info": {"version": "1.0.0"},
                "upgrade_available": False,
                "dashboard_url": f"https://{plan.broker_name}.example.com/dashboard/{instance.guid}",
            }
            relationships["service_plan"] = {"data": {"guid": plan.guid}}
            links |= {
                "service_plan": {"href": f"{base}/v3/service_plans/{plan.guid}"},
                "parameters": {"href": f"{url}/parameters"},
                "shared_spaces": {"href": f"{url}/relationships/shared_spaces"},
            }
        else:
            body |= {"type": "user-provided", "syslog_drain_url": None, "route_service_url": None}
            links["credentials"] = {"href": f"{url}/credentials"}
        return body | {
            "relationships": relationships,
            "metadata": {"labels": {}, "annotations": {}},
            "links": links,
        }

    def live(self) -> list[Instance]:
        return [i for i in self.instances if i.deleted_us is None]

    # -- the truth ---------------------------------------------------------------------------

    def truth(self, start: datetime, end: datetime) -> dict[str, ServiceUsage]:
        """Per instance guid, whole seconds per plan guid inside [start, end).

        From the simulation's timeline at CC's whole-second resolution; instances
        that existed for no second of the window are absent.
        """
        lo, hi = to_us(start) // SECOND_US, to_us(end) // SECOND_US
        found: dict[str, ServiceUsage] = {}
        for instance in self.instances:
            seconds: dict[str | None, int] = {}
            marks = [(t // SECOND_US, plan) for t, plan in instance.history]
            for (t, plan), (t_next, _) in zip(marks, [*marks[1:], (hi, -2)], strict=True):
                if plan == -2:
                    continue
                overlap = min(t_next, hi) - max(t, lo)
                if overlap > 0:
                    key = self.plans[plan].guid if plan >= 0 else None
                    seconds[key] = seconds.get(key, 0) + overlap
            if seconds:
                space_guid, _, org_guid = self.spaces[instance.space]
                found[instance.guid] = ServiceUsage(
                    instance.guid, instance.type, space_guid, org_guid, seconds
                )
        return found
