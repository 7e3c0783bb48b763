"""The audit `events` table: crash pairs exactly as CC writes them, plus user actions.

For each crash Diego reports, `AppCrashedController` writes `audit.app.process.crash`
(the whole payload, actor = the process) and then `app.crash` (a slice of it,
actor = the app) (reference §3.4).
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cfevents.sandbox.store import SECOND_US, from_us, iso_second

if TYPE_CHECKING:
    from cfevents.sandbox.data import App, Org, Space

DAY_US = 86_400 * SECOND_US
USERS = (("alice", "alice@example.com"), ("bob", "bob@example.com"), ("carol", "carol@example.com"))
#: The client id of the client-credentials actor (`SandboxConfig.client_actor_events`).
Actor = tuple[str, str, str, str | None]  # guid, type, name, username
CLIENT_ID = "ci-pipeline"
#: `create_app_crash_event`: `droplet_exited_payload.slice(...)`, in the slice's order.
APP_CRASH_SLICE = ("instance", "index", "cell_id", "exit_status", "exit_description", "reason")
EXIT_DESCRIPTIONS = (
    "APP/PROC/{type}: Exited with status 137 (out of memory)",
    "APP/PROC/{type}: Exited with status 1",
    "APP/PROC/{type}: Exited with status 143",
    "Instance never healthy after 1m0s: Failed to make TCP connection to port 8080: connection refused",
    "Instance became unhealthy: Failed to make HTTP request to '/health' on port 8080: timed out after 1.00 seconds",
)


@dataclass(frozen=True, slots=True)
class Crash:
    """One crash as Diego reported it; CC writes it as two audit events."""

    app_guid: str
    app_name: str
    space_guid: str
    org_guid: str
    process_guid: str
    process_type: str
    instance_guid: str
    index: int
    cell_id: str
    reason: str
    exit_description: str
    exit_status: int | str | None
    crash_count: int
    timestamp: datetime
    crash_timestamp: int
    version: str
    process_event_guid: str
    app_event_guid: str


@dataclass(slots=True)
class AuditEvent:
    """A row of the `events` table. `timestamp_us` is shown; `created_at_us` is filtered on.

    CC writes both from one clock reading, so they are equal; they stay two fields
    because the API reads them from two columns.
    """

    id: int
    guid: str
    type: str
    actor: str
    actor_type: str
    actor_name: str
    actor_username: str | None
    actee: str
    actee_type: str
    actee_name: str
    timestamp_us: int
    created_at_us: int
    metadata: dict[str, Any]
    space_guid: str
    organization_guid: str

    def present_v3(self, base_url: str) -> dict[str, Any]:
        """The v3 `EventPresenter`: created_at/updated_at both from `timestamp`."""
        stamp = iso_second(self.timestamp_us)
        return {
            "guid": self.guid,
            "created_at": stamp,
            "updated_at": stamp,
            "type": self.type,
            "actor": {"guid": self.actor, "type": self.actor_type, "name": self.actor_name},
            "target": {"guid": self.actee, "type": self.actee_type, "name": self.actee_name},
            "data": self.metadata,
            "space": {"guid": self.space_guid} if self.space_guid else None,
            "organization": {"guid": self.organization_guid} if self.organization_guid else None,
            "links": {"self": {"href": f"{base_url}/v3/audit_events/{self.guid}"}},
        }

    def present_v2(self) -> dict[str, Any]:
        """The v2 presenter: metadata from the created_at/updated_at columns, entity as exported."""
        created = iso_second(self.created_at_us)
        return {
            "metadata": {
                "guid": self.guid,
                "url": f"/v2/events/{self.guid}",
                "created_at": created,
                "updated_at": created,
            },
            "entity": {
                "type": self.type,
                "actor": self.actor,
                "actor_type": self.actor_type,
                "actor_name": self.actor_name,
                "actor_username": self.actor_username,
                "actee": self.actee,
                "actee_type": self.actee_type,
                "actee_name": self.actee_name,
                "timestamp": iso_second(self.timestamp_us),
                "metadata": self.metadata,
                "space_guid": self.space_guid,
                "organization_guid": self.organization_guid,
            },
        }


class AuditWriter:
    """Generates the events table for a foundation's orgs, spaces and apps."""

    def __init__(
        self,
        rng: random.Random,
        uuid: Callable[..., str],
        resources: tuple[list[Org], list[Space], list[App]],
        window: tuple[int, int],
        *,
        recent_crash_loop: bool = False,
        client_actor: bool = False,
    ) -> None:
        self.recent_crash_loop = recent_crash_loop
        self.client_actor = client_actor
        self.rng = rng
        self.uuid = uuid
        self.orgs, self.spaces, self.apps = resources
        self.start_us, self.end_us = window
        self.days = max(1, (self.end_us - self.start_us) // DAY_US)
        self.audit_events: list[AuditEvent] = []
        self._crashes: list[Crash] = []

    def write(self) -> tuple[list[AuditEvent], list[Crash]]:
        """Every audit event in id order, and the crashes behind the crash pairs."""
        self._build_audit_events()
        return self.audit_events, self._crashes

    def _build_audit_events(self) -> None:
        rng = self.rng
        rows: list[dict[str, Any]] = []
        loops = max(1, round(self.days / 7.5))
        crash_apps = rng.sample(range(len(self.apps)), min(len(self.apps), loops + 8))
        for n, a in enumerate(crash_apps):
            rows += self._crash_rows(self.apps[a], loop=n < loops)
        if self.recent_crash_loop and self.apps:
            rows += self._recent_loop_rows(self.apps[crash_apps[0]])
        rows += self._user_rows(self.days * 10)
        rows += self._platform_rows(self.days)
        if self.client_actor:  # drawn last: every other row stays as it was
            rows += self._client_rows()
        rows.sort(key=lambda r: (r["timestamp_us"], r["seq"]))
        guids: dict[int, list[str]] = {}
        crashes: list[dict[str, Any]] = []
        for i, r in enumerate(rows, start=1):
            r.pop("seq")
            crash = r.pop("crash", None)
            guid = self.uuid("event", i)
            self.audit_events.append(AuditEvent(id=i, guid=guid, **r))
            if crash is not None:
                if id(crash) not in guids:
                    crashes.append(crash)
                guids.setdefault(id(crash), []).append(guid)
        for crash in crashes:
            process_event, app_event = guids[id(crash)]
            self._crashes.append(
                Crash(**crash, process_event_guid=process_event, app_event_guid=app_event)
            )

    def _crash_rows(self, app: App, loop: bool) -> list[dict[str, Any]]:
        rng = self.rng
        p_guid, p_type = rng.choice(app.processes)
        window = self.end_us - 20 * 60 * SECOND_US - self.start_us
        if loop:
            t = self.start_us + rng.randrange(window - 12 * 3600 * SECOND_US)
            # Diego restarts at once three times, then backs off 30 s doubling up to 16 min.
            delays = [
                rng.randint(5, 20) + (0 if k < 3 else min(30 * 2 ** (k - 3), 960))
                for k in range(rng.randint(20, 40))
            ]
        else:
            t = self.start_us
            delays = sorted(rng.randrange(window // SECOND_US) for _ in range(rng.randint(1, 4)))
            delays = [delays[0]] + [b - a for a, b in itertools.pairwise(delays)]
        rows: list[dict[str, Any]] = []
        counts: dict[int, int] = {}
        index_choices = (0, 0, 1) if loop else (0, 1, 2)
        version = self.uuid("version", p_guid)
        for delay in delays:
            t += delay * SECOND_US + rng.randrange(SECOND_US)
            index = rng.choice(index_choices)
            counts[index] = counts.get(index, 0) + 1 if loop else 1
            rows += self.crash_pair(app, (p_guid, p_type), t, index, counts[index], version)
        return rows

    def _recent_loop_rows(self, app: App) -> list[dict[str, Any]]:
        """A crash loop in the hour before the end: a crash every 3 to 6 minutes."""
        rng = random.Random(self.end_us)  # its own stream: the rest of the table is unchanged
        p_guid, p_type = app.processes[0]
        version = self.uuid("version", p_guid)
        t = self.end_us - 3600 * SECOND_US
        # what changed just before: an environment change, then a rolling deploy by a user
        user, email = USERS[rng.randrange(len(USERS))]
        actor = (self.uuid("user", user), "user", email, user)
        env = {"request": {"environment_variables": "[PRIVATE DATA HIDDEN]"}}
        rows: list[dict[str, Any]] = [
            self._row("audit.app.update", actor, app, t - 150 * SECOND_US, env),
            self._row(
                "audit.app.deployment.create",
                actor,
                app,
                t - 120 * SECOND_US,
                {
                    "droplet_guid": self.uuid("droplet", app.guid, "recent"),
                    "request": {"type": "rolling"},
                },
            ),
        ]
        count = 0
        while (t := t + rng.randint(180, 360) * SECOND_US) < self.end_us - 30 * SECOND_US:
            count += 1
            rows += self.crash_pair(app, (p_guid, p_type), t, 0, count, version)
        return rows

    def crash_pair(
        self,
        app: App,
        process: tuple[str, str],
        t: int,
        index: int,
        count: int,
        version: str,
        exit_description: str | None = None,
    ) -> list[dict[str, Any]]:
        """The two rows CC writes for one crash: the process event, then app.crash.
        `exit_description` replaces the drawn one (the draw still happens: the data stays put)."""
        rng = self.rng
        p_guid, p_type = process
        if rng.random() < 0.08:  # written across a whole-second boundary
            t = t - t % SECOND_US + SECOND_US - rng.randint(1_000, 4_000)
        description = rng.choice(EXIT_DESCRIPTIONS).format(type=p_type.upper())
        description = exit_description if exit_description is not None else description
        instance, cell = self.uuid("instance", p_guid, t), self.uuid("cell", rng.randrange(12))
        reported = rng.choice((1, 137)) if rng.random() < 0.05 else None  # kept: the data stays put
        exit_status = _exit_status(description, reported, count)
        since_ns = (t - rng.randint(50_000, 900_000)) * 1000 + rng.randrange(1000)
        # Diego's AppCrashed payload (exit_status omitempty), then CC adds the version: the
        # process event gets all of it, app.crash a slice of the same dict.
        payload: dict[str, Any] = {
            "instance": instance,
            "index": index,
            "cell_id": cell,
            "reason": "CRASHED",
        }
        if exit_status is not None:
            payload["exit_status"] = exit_status
        payload |= {
            "exit_description": description,
            "crash_count": count,
            "crash_timestamp": since_ns,
            "version": version,
        }
        app_meta = {k: payload[k] for k in APP_CRASH_SLICE if k in payload}
        crash = {
            "app_guid": app.guid,
            "app_name": app.name,
            "space_guid": app.space_guid,
            "org_guid": app.org_guid,
            "process_guid": p_guid,
            "process_type": p_type,
            "instance_guid": instance,
            "index": index,
            "cell_id": cell,
            "reason": "CRASHED",
            "exit_description": description,
            "exit_status": exit_status,
            "crash_count": count,
            "timestamp": from_us(t),
            "crash_timestamp": since_ns,
            "version": version,
        }
        first = self._row(
            "audit.app.process.crash", (p_guid, "process", p_type, None), app, t, dict(payload)
        )
        second = self._row(
            "app.crash",
            (app.guid, "app", app.name, None),
            app,
            t + rng.randint(2_000, 40_000),
            app_meta,
        )
        first["crash"] = second["crash"] = crash
        return [first, second]

    _crash_pair = crash_pair  # its name before the live foundation used it from outside

    def _row(
        self,
        kind: str,
        actor: Actor,
        app: App,
        t: int,
        metadata: dict[str, Any],
        actee: tuple[str, str, str] | None = None,
    ) -> dict[str, Any]:
        """One audit row; CC fills `created_at` and `timestamp` from one clock reading."""
        actee_guid, actee_type, actee_name = actee or (app.guid, "app", app.name)
        self.rng.choice((0, 0, self.rng.randint(1, 900)))  # an old draw, kept: the data stays put
        return {
            "type": kind,
            "actor": actor[0],
            "actor_type": actor[1],
            "actor_name": actor[2],
            "actor_username": actor[3],
            "actee": actee_guid,
            "actee_type": actee_type,
            "actee_name": actee_name,
            "timestamp_us": t,
            "created_at_us": t,
            "metadata": metadata,
            "space_guid": app.space_guid,
            "organization_guid": app.org_guid,
            "seq": self.rng.random(),
        }

    def _user_rows(self, count: int) -> list[dict[str, Any]]:
        """User actions on apps, plus space- and org-level events."""
        rng = self.rng
        rows = []
        kinds = (
            "audit.app.start",
            "audit.app.stop",
            "audit.app.update",
            "audit.app.restage",
            "audit.app.process.scale",
        )
        window = self.end_us - 10 * 60 * SECOND_US - self.start_us
        for n in range(count):
            t = self.start_us + rng.randrange(window)
            user, email = rng.choice(USERS)
            actor = (self.uuid("user", user), "user", email, user)
            app = rng.choice(self.apps)
            kind = rng.choice(kinds) if n % 25 else "audit.app.create"
            row = self._row(kind, actor, app, t, self._user_metadata(kind, app))
            if n % 40 == 7:  # written in the last microseconds of a second
                row["timestamp_us"] = t - t % SECOND_US + SECOND_US - rng.randint(100, 400)
                row["created_at_us"] = row["timestamp_us"]
                rng.randint(500, 900)  # an old draw, kept: the data stays put
            rows.append(row)
        rows += self._space_and_org_rows()
        return rows

    def user_row(self, kind: str, app: App, t: int) -> dict[str, Any]:
        """One user's action on an app at `t`, as `_user_rows` writes them (for live use)."""
        user, email = self.rng.choice(USERS)
        actor = (self.uuid("user", user), "user", email, user)
        row = self._row(kind, actor, app, t, self._user_metadata(kind, app))
        row.pop("seq")
        return row

    def _user_metadata(self, kind: str, app: App) -> dict[str, Any]:
        rng = self.rng
        if kind == "audit.app.update":
            return {"request": {"environment_variables": "[PRIVATE DATA HIDDEN]"}}
        if kind == "audit.app.create":
            return {"request": {"name": app.name, "lifecycle": {"type": app.lifecycle}}}
        if kind == "audit.app.process.scale":
            guid, ptype = rng.choice(app.processes)
            return {
                "process_guid": guid,
                "process_type": ptype,
                "request": {"instances": rng.randint(1, 6)},
            }
        return {}

    def _client_rows(self) -> list[dict[str, Any]]:
        """A CI pipeline acting with a client-credentials token: `UserAuditInfo` makes its
        email and user name `''` (no user), so actor_name and actor_username are empty and
        the actor guid is the client id."""
        rng = random.Random(self.end_us + 2)
        actor = (CLIENT_ID, "user", "", "")
        window = self.end_us - 10 * 60 * SECOND_US - self.start_us
        rows = []
        for _ in range(max(3, self.days)):
            app = rng.choice(self.apps)
            kind = rng.choice(("audit.app.restage", "audit.app.start", "audit.app.update"))
            t = self.start_us + rng.randrange(window)
            rows.append(self._row(kind, actor, app, t, self._user_metadata("audit.app.start", app)))
        return rows

    def _space_and_org_rows(self) -> list[dict[str, Any]]:
        rng = self.rng
        rows = []
        actor = (self.uuid("user", "alice"), "user", "alice@example.com", "alice")
        dev = next(s for s in self.spaces if s.name == "dev")
        anchor = next(a for a in self.apps if a.space_guid == dev.guid)
        t = self.start_us + rng.randrange(DAY_US)
        space_row = self._row(
            "audit.space.create",
            actor,
            anchor,
            t,
            {"request": {"name": "dev"}},
            (dev.guid, "space", "dev"),
        )
        rows.append(space_row)
        for org in self.orgs[:2]:
            t = self.start_us + rng.randrange(self.days * DAY_US - DAY_US)
            row = self._row(
                "audit.organization.update",
                actor,
                anchor,
                t,
                {"request": {"suspended": False}},
                (org.guid, "organization", org.name),
            )
            row["space_guid"], row["organization_guid"] = "", org.guid
            rows.append(row)
        return rows

    def _platform_rows(self, days: int) -> list[dict[str, Any]]:
        """Services, routes, bindings, brokers: other types, some with no org or no names.

        As real foundations write them: broker events have neither space nor org
        (v2 `""`, v3 `null`); plan visibilities have an org but no space; bindings
        and visibilities have an empty actee name (reference samples).
        """
        rng = self.rng
        rows: list[dict[str, Any]] = []
        window = self.end_us - 15 * 60 * SECOND_US - self.start_us
        admin = (self.uuid("user", "admin"), "user", "admin", "admin")
        for n in range(max(4, days)):
            t = self.start_us + rng.randrange(window)
            user, email = rng.choice(USERS)
            actor = (self.uuid("user", user), "user", email, user)
            app = rng.choice(self.apps)
            if n % 6 < 2:
                rows.append(self._broker_row(n, admin, app, t))
            else:
                rows.append(self._tenant_row(n, actor, app, t))
        return rows

    def _broker_row(self, n: int, admin: Actor, app: App, t: int) -> dict[str, Any]:
        """A broker (no space, no org) or plan-visibility (an org, no space) event."""
        if n % 6 == 0:
            broker = self.uuid("service_broker", n // 6)
            row = self._row(
                "audit.service_broker.create" if n % 12 == 0 else "audit.service_broker.update",
                admin,
                app,
                t,
                {"request": {"name": "pancake-broker", "auth_password": "[REDACTED]"}},
                (broker, "service_broker", "pancake-broker"),
            )
            row["space_guid"] = row["organization_guid"] = ""
            return row
        visibility = self.uuid("service_plan_visibility", n)
        row = self._row(
            "audit.service_plan_visibility.create",
            admin,
            app,
            t,
            {"request": {"organization_guid": app.org_guid}},
            (visibility, "service_plan_visibility", ""),
        )
        row["space_guid"] = ""
        return row

    def _tenant_row(self, n: int, actor: Actor, app: App, t: int) -> dict[str, Any]:
        """A service instance, binding, route or ssh event in an app's space."""
        instance = self.uuid("service_instance", n)
        kind = n % 6
        if kind == 2:
            return self._row(
                "audit.service_instance.create",
                actor,
                app,
                t,
                {"request": {"name": f"db-{n}", "parameters": "[PRIVATE DATA HIDDEN]"}},
                (instance, "service_instance", f"db-{n}"),
            )
        if kind == 3:
            return self._row(
                "audit.service_binding.create",
                actor,
                app,
                t,
                {"request": {"service_instance_guid": instance, "app_guid": app.guid}},
                (self.uuid("service_binding", n), "service_binding", ""),
            )
        if kind == 4:
            return self._row(
                "audit.route.create",
                actor,
                app,
                t,
                {"request": {"host": app.name, "domain_guid": self.uuid("domain", 0)}},
                (self.uuid("route", n), "route", app.name),
            )
        return self._row(
            "audit.app.ssh-authorized", actor, app, t, {"index": self.rng.randrange(3)}
        )


def _exit_status(description: str, reported: int | None, count: int) -> int | str | None:
    """The payload's exit_status: mostly absent (the tps watcher never sets it); when a Diego
    version reports it, the status the description names (a string in CC's docs, an integer
    from others), and absent for a health-check failure, which names none."""
    match = re.search(r"Exited with status (\d+)", description)
    if reported is None or match is None:
        return None
    status = int(match.group(1))
    return status if count % 2 else str(status)
