"""Deterministic generator of a simulated Cloud Foundry foundation.

Given a seed and an end time, `Foundation.generate` builds orgs, spaces, apps,
a month of app usage events (simulated per app: pushes, starts, scales,
restarts, tasks, ...) and the audit `events` table (crash pairs written exactly
as Cloud Controller writes them, plus user actions). The same seed and end give
byte-identical data.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import threading
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cfevents.sandbox.store import (
    NULL,
    SECOND_US,
    STATE_INDEX,
    AppRef,
    UsageEventStore,
    iso_second,
    uuid_from_digest,
)

ORG_NAMES = ("acme", "globex", "initech")
APP_NAMES = (
    "api",
    "web",
    "worker",
    "billing",
    "checkout",
    "search",
    "auth",
    "reports",
    "notifier",
    "gateway",
)
SYSTEM_BUILDPACKS = (
    "nodejs_buildpack",
    "java_buildpack",
    "python_buildpack",
    "go_buildpack",
    "ruby_buildpack",
)
#: A custom buildpack URL as CC stores it: credentials already obfuscated.
CUSTOM_BUILDPACK = "https://***:***@buildpacks.example.com/custom-buildpack.git"
STAGING_MEMORY = 1024
USERS = (("alice", "alice@example.com"), ("bob", "bob@example.com"), ("carol", "carol@example.com"))
EXIT_DESCRIPTIONS = (
    "APP/PROC/{type}: Exited with status 137 (out of memory)",
    "APP/PROC/{type}: Exited with status 1",
    "APP/PROC/{type}: Exited with status 143",
    "Instance never healthy after 1m0s: Failed to make TCP connection to port 8080: connection refused",
    "Instance became unhealthy: Failed to make HTTP request to '/health' on port 8080: timed out after 1.00 seconds",
)
DAY_US = 86_400 * SECOND_US

S = STATE_INDEX  # short alias for the state codes used by the simulation


@dataclass(frozen=True, slots=True)
class Org:
    """An organization."""

    guid: str
    name: str
    quota_guid: str
    created_at_us: int


@dataclass(frozen=True, slots=True)
class Space:
    """A space in an org."""

    guid: str
    name: str
    org_guid: str
    created_at_us: int


@dataclass(frozen=True, slots=True)
class App:
    """An app; `processes` is a tuple of (process guid, process type)."""

    guid: str
    name: str
    space_guid: str
    org_guid: str
    processes: tuple[tuple[str, str], ...]
    lifecycle: str
    buildpack: str | None
    droplet_guid: str
    created_at_us: int


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
    exit_status: str | None
    crash_count: int
    timestamp: datetime
    crash_timestamp: int
    version: str
    process_event_guid: str
    app_event_guid: str


@dataclass(slots=True)
class AuditEvent:
    """A row of the `events` table. `timestamp_us` is shown; `created_at_us` is filtered on."""

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


@dataclass(slots=True)
class _AppState:
    """The simulation's view of one app."""

    index: int
    processes: int
    buildpack: int
    staging_buildpack: int
    active_from: int
    weight: float = 1.0
    staged: bool = True
    started: bool = True
    instances: list[int] = field(default_factory=list)
    memory: list[int] = field(default_factory=list)
    fresh: bool = False
    pending: list[Callable[[_AppState], None]] = field(default_factory=list)


class Simulator:
    """Emits usage events app by app, the way CC's repositories write them.

    Every action is a *burst* (rows written within milliseconds); `gaps`
    records, per row, either a negative weight (a burst starts after an idle
    gap of that relative length) or the microseconds since the previous row.
    """

    def __init__(self, rng: random.Random, store: UsageEventStore, apps: list[_AppState]) -> None:
        self.rng = rng
        self.store = store
        self.apps = apps
        self.gaps = array("q")
        self.next_task = 0
        self.steps = 0
        self.budget = 0
        self._new_burst = True

    def run(self, events: int) -> None:
        """Emit exactly `events` rows; apps not yet pushed (`active_from`) stay quiet."""
        self.budget = events
        rng, apps = self.rng, self.apps
        weights = [a.weight for a in apps]
        while self.budget > 0:
            for choice in rng.choices(range(len(apps)), weights, k=256):
                app = apps[choice]
                if app.active_from > self.steps:
                    app = apps[0]
                self._new_burst = True
                self.step(app)
                self.steps += 1
                if self.budget <= 0:
                    break

    def step(self, app: _AppState) -> None:
        """Perform the app's next action."""
        if app.pending:
            app.pending.pop(0)(app)
        elif not app.staged:
            self.stage(app, start=True)
        elif not app.started:
            self._pick(app, ((0.75, self.start), (0.9, self.restage), (1.0, self.run_task)))
        else:
            actions = (
                (0.35, self.scale),
                (0.45, self.resize),
                (0.60, self.run_task),
                (0.72, self.stop),
                (0.84, self.restart),
                (0.92, self.restage),
                (1.0, self.scale),
            )
            self._pick(app, actions)

    def _pick(
        self, app: _AppState, actions: tuple[tuple[float, Callable[[_AppState], None]], ...]
    ) -> None:
        r = self.rng.random()
        for bound, action in actions:
            if r < bound:
                action(app)
                return

    def _emit(
        self,
        app: _AppState,
        state: str,
        prev_state: str | None,
        process: int = NULL,
        sizes: tuple[int, int, int, int] | None = None,
        buildpack: int = 0,
        task: int = NULL,
    ) -> None:
        """Write one row; `sizes` is (memory, prev memory, instances, prev instances)."""
        if self.budget <= 0:
            return
        self.budget -= 1
        if sizes is None:
            sizes = (STAGING_MEMORY, STAGING_MEMORY, 1, 1)
        memory, prev_memory, instances, prev_instances = sizes
        self.store.add(
            S[state],
            NULL if prev_state is None else S[prev_state],
            app.index,
            process,
            memory,
            prev_memory,
            instances,
            prev_instances,
            buildpack,
            task,
        )
        if self._new_burst:
            self.gaps.append(-int(self.rng.expovariate(1.0) * 1000) - 1)
            self._new_burst = False
        else:
            self.gaps.append(self.rng.randint(1_500, 180_000))

    def _process_event(
        self, app: _AppState, p: int, state: str, prev: str, old: tuple[int, int] | None = None
    ) -> None:
        """A process row; `old` is (memory, instances) before a scale, else unchanged."""
        mem, inst = app.memory[p], app.instances[p]
        prev_mem, prev_inst = old or (mem, inst)
        if app.fresh:
            self._emit(app, state, None, p, (mem, NULL, inst, NULL), app.buildpack)
        else:
            self._emit(app, state, prev, p, (mem, prev_mem, inst, prev_inst), app.buildpack)

    def stage(self, app: _AppState, start: bool) -> None:
        """A build: STAGING_STARTED now, STAGING_STOPPED (and more) on the app's next turn."""
        self._emit(app, "STAGING_STARTED", "STAGING", buildpack=app.staging_buildpack)
        app.pending.append(lambda a: self.finish_staging(a, start))

    def finish_staging(self, app: _AppState, start: bool) -> None:
        """STAGING_STOPPED, then BUILDPACK_SET per process and a start, or one for the build."""
        self._emit(app, "STAGING_STOPPED", "STAGING", buildpack=app.buildpack)
        app.staged = True
        if not start:
            self._emit(app, "BUILDPACK_SET", "STAGED", buildpack=app.buildpack)
            return
        current = "STARTED" if app.started else "STOPPED"
        for p in range(app.processes):
            self._process_event(app, p, "BUILDPACK_SET", current)
        if not app.started:
            self.start(app)

    def start(self, app: _AppState) -> None:
        """STARTED for every process; the very first start has no previous values."""
        for p in range(app.processes):
            self._process_event(app, p, "STARTED", "STOPPED")
        app.started, app.fresh = True, False

    def stop(self, app: _AppState) -> None:
        """STOPPED for every process."""
        for p in range(app.processes):
            self._process_event(app, p, "STOPPED", "STARTED")
        app.started = False

    def restart(self, app: _AppState) -> None:
        """A stop and a start in one burst."""
        self.stop(app)
        self.start(app)

    def restage(self, app: _AppState) -> None:
        """Stop if running, then stage with start."""
        if app.started:
            self.stop(app)
        self.stage(app, start=True)

    def scale(self, app: _AppState) -> None:
        """Change one process's instance count (STARTED -> STARTED)."""
        p = self.rng.randrange(app.processes)
        old = (app.memory[p], app.instances[p])
        choices = [n for n in (1, 2, 3, 4, 6, 10) if n != app.instances[p]]
        app.instances[p] = self.rng.choice(choices)
        self._process_event(app, p, "STARTED", "STARTED", old)

    def resize(self, app: _AppState) -> None:
        """Change one process's memory (STARTED -> STARTED)."""
        p = self.rng.randrange(app.processes)
        old = (app.memory[p], app.instances[p])
        app.memory[p] = self.rng.choice([m for m in (256, 512, 1024, 2048) if m != app.memory[p]])
        self._process_event(app, p, "STARTED", "STARTED", old)

    def run_task(self, app: _AppState) -> None:
        """TASK_STARTED now, TASK_STOPPED on the app's next turn."""
        task = self.next_task
        self.next_task += 1
        memory = self.rng.choice((256, 512, 1024))
        self._emit(app, "TASK_STARTED", "RUNNING", sizes=(memory, memory, 1, 1), task=task)
        app.pending.append(
            lambda a: self._emit(
                a, "TASK_STOPPED", "RUNNING", sizes=(memory, memory, 1, 1), task=task
            )
        )

    def started_processes(self) -> Iterator[tuple[int, int, int, int]]:
        """(app index, process index, memory, instances) of every started process, in creation order."""
        for app in self.apps:
            if app.started:
                for p in range(app.processes):
                    yield app.index, p, app.memory[p], app.instances[p]


class Foundation:
    """The generated data, and the mutations the sandbox supports (appends, purge, prune).

    All reads and writes of usage events must hold `lock`.
    """

    def __init__(self, seed: int, end: datetime, days: int) -> None:
        self.seed = seed
        self.end = end
        self.days = days
        self.end_us = to_us(end)
        self.start_us = self.end_us - days * DAY_US
        self.key = hashlib.blake2b(b"cfevents-sandbox:%d" % seed, digest_size=32).digest()
        self.rng = random.Random(seed)
        self.lock = threading.RLock()
        self.base_url = "http://sandbox.invalid"
        self.orgs: list[Org] = []
        self.spaces: list[Space] = []
        self.apps: list[App] = []
        self.buildpacks: list[tuple[str | None, str | None]] = []
        self.audit_events: list[AuditEvent] = []
        self._crashes: list[Crash] = []
        self.store = UsageEventStore(self.key, [], [])
        self.simulator = Simulator(self.rng, self.store, [])

    @classmethod
    def generate(
        cls, seed: int, end: datetime, days: int = 30, usage_events: int | None = None
    ) -> Foundation:
        """Build a foundation; `usage_events=None` means the natural simulated volume."""
        foundation = cls(seed, end, days)
        foundation._build_resources()
        count = usage_events if usage_events is not None else int(days * len(foundation.apps) * 3.5)
        foundation._build_usage_events(count)
        foundation._build_audit_events()
        return foundation

    # -- generation ------------------------------------------------------------

    def uuid(self, *parts: object) -> str:
        """A deterministic UUID for a named thing."""
        text = "/".join(map(str, parts)).encode()
        return uuid_from_digest(hashlib.blake2b(text, key=self.key, digest_size=16).digest())

    def _build_resources(self) -> None:
        rng = self.rng
        self.buildpacks = [(None, None), (None, CUSTOM_BUILDPACK)]
        for name in SYSTEM_BUILDPACKS:
            self.buildpacks += [(self.uuid("buildpack", name), name), (None, name)]
        born = self.start_us - 400 * DAY_US
        for o, org_name in enumerate(ORG_NAMES):
            org = Org(
                self.uuid("org", org_name),
                org_name,
                self.uuid("quota", "default"),
                born + o * DAY_US,
            )
            self.orgs.append(org)
            for space_name in ("prod", "staging", "dev") if o == 0 else ("prod", "staging"):
                space = Space(
                    self.uuid("space", org_name, space_name),
                    space_name,
                    org.guid,
                    org.created_at_us + DAY_US,
                )
                self.spaces.append(space)
                names = ["api"] if space_name == "prod" else []
                names += rng.sample(
                    [n for n in APP_NAMES if n not in names], rng.randint(3, 5) - len(names)
                )
                for app_name in names:
                    self._add_app(org, space, app_name)
        staging = next(s.guid for s in self.spaces if s.name == "staging")
        beta = next(i for i, a in enumerate(self.apps) if a.space_guid == staging)
        self.apps[beta] = _renamed(self.apps[beta], "[beta]-search")
        self.store.apps = [self._app_ref(a) for a in self.apps]
        self.store.buildpacks = self.buildpacks

    def _add_app(self, org: Org, space: Space, name: str) -> None:
        rng = self.rng
        guid = self.uuid("app", org.name, space.name, name)
        processes = [(guid, "web")]  # the web process shares its app's guid, as in v3
        if name == "worker" or rng.random() < 0.3:
            processes.append((self.uuid("process", guid, "worker"), "worker"))
        kind = rng.random()
        buildpack: str | None = rng.choice(SYSTEM_BUILDPACKS)
        lifecycle = "buildpack"
        if kind < 0.15:
            lifecycle, buildpack = "docker", None
        elif kind < 0.2:
            buildpack = CUSTOM_BUILDPACK
        app = App(
            guid=guid,
            name=name,
            space_guid=space.guid,
            org_guid=org.guid,
            processes=tuple(processes),
            lifecycle=lifecycle,
            buildpack=buildpack,
            droplet_guid=self.uuid("droplet", guid),
            created_at_us=space.created_at_us + rng.randrange(300) * DAY_US,
        )
        self.apps.append(app)

    def _app_ref(self, app: App) -> AppRef:
        space = next(s for s in self.spaces if s.guid == app.space_guid)
        return AppRef(app.guid, app.name, space.guid, space.name, app.org_guid, app.processes)

    def _buildpack_variants(self, app: App) -> tuple[int, int]:
        """Buildpack variant indexes for (staged droplet, staging start) of an app."""
        if app.buildpack is None:
            return 0, 0
        if app.buildpack == CUSTOM_BUILDPACK:
            return 1, 1
        full = self.buildpacks.index((self.uuid("buildpack", app.buildpack), app.buildpack))
        return full, full + 1 if self.rng.random() < 0.5 else 0

    def _build_usage_events(self, count: int) -> None:
        rng = self.rng
        states = []
        for i, app in enumerate(self.apps):
            buildpack, staging = self._buildpack_variants(app)
            new = i > 0 and rng.random() < 0.25
            n = len(app.processes)
            state = _AppState(
                index=i,
                processes=n,
                buildpack=buildpack,
                staging_buildpack=staging,
                active_from=int(count * rng.uniform(0.05, 0.8)) if new else 0,
                weight=rng.choice((0.5, 1.0, 1.0, 2.0, 4.0)),
                staged=not new,
                started=not new and rng.random() < 0.9,
                instances=[rng.choice((1, 2, 3, 4)) for _ in range(n)],
                memory=[rng.choice((256, 512, 1024)) for _ in range(n)],
                fresh=new,
            )
            states.append(state)
        self.simulator = Simulator(rng, self.store, states)
        self.simulator.run(count)
        self.store.created.extend(self._timestamps(self.simulator.gaps))
        self.simulator.gaps = array("q")
        self.store.reindex()

    def _timestamps(self, gaps: array[int]) -> array[int]:
        """Lay the bursts out over the window so the newest row is minutes before `end`."""
        newest = (
            self.end_us
            - self.rng.randint(3 * 60, 9 * 60) * SECOND_US
            - self.rng.randrange(SECOND_US)
        )
        intra = sum(g for g in gaps if g > 0)
        weight = -sum(g for g in gaps if g < 0) or 1
        span = newest - self.start_us
        scale = max(span - intra, 0) / weight
        times = array("q", bytes(8 * len(gaps)))
        t = self.start_us
        for i, g in enumerate(gaps):
            t += int(-g * scale) if g < 0 else g
            times[i] = t
        if times:
            shift = newest - times[-1]
            for i in range(len(times)):
                times[i] += shift
        self._invert_some(times)
        return times

    def _invert_some(self, times: array[int]) -> None:
        """Make ~0.5% of rows 1-3 s older than their predecessor (long transactions)."""
        rng = self.rng
        n = len(times)
        for i in rng.sample(range(1, n - 1), min(n - 2, max(0, n // 200))) if n > 2 else ():
            times[i] = times[i - 1] - rng.randint(SECOND_US, 3 * SECOND_US)

    def _build_audit_events(self) -> None:
        rng = self.rng
        rows: list[dict[str, Any]] = []
        loops = max(1, round(self.days / 7.5))
        crash_apps = rng.sample(range(len(self.apps)), min(len(self.apps), loops + 8))
        for n, a in enumerate(crash_apps):
            rows += self._crash_rows(self.apps[a], loop=n < loops)
        rows += self._user_rows(self.days * 10)
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
            rows += self._crash_pair(app, (p_guid, p_type), t, index, counts[index], version)
        return rows

    def _crash_pair(
        self, app: App, process: tuple[str, str], t: int, index: int, count: int, version: str
    ) -> list[dict[str, Any]]:
        """The two rows CC writes for one crash: the process event, then app.crash."""
        rng = self.rng
        p_guid, p_type = process
        if rng.random() < 0.08:  # written across a whole-second boundary
            t = t - t % SECOND_US + SECOND_US - rng.randint(1_000, 4_000)
        description = rng.choice(EXIT_DESCRIPTIONS).format(type=p_type.upper())
        instance, cell = self.uuid("instance", p_guid, t), self.uuid("cell", rng.randrange(12))
        exit_status = str(rng.choice((1, 137))) if rng.random() < 0.05 else None
        since_ns = (t - rng.randint(50_000, 900_000)) * 1000 + rng.randrange(1000)
        process_meta = {
            "instance": instance,
            "index": index,
            "cell_id": cell,
            "reason": "CRASHED",
            "exit_description": description,
            "crash_count": count,
            "crash_timestamp": since_ns,
            "version": version,
        }
        app_meta: dict[str, Any] = {"instance": instance, "index": index, "cell_id": cell}
        if exit_status is not None:
            app_meta["exit_status"] = exit_status
        app_meta |= {"exit_description": description, "reason": "CRASHED"}
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
            "timestamp": _from_us(t),
            "crash_timestamp": since_ns,
            "version": version,
        }
        first = self._row(
            "audit.app.process.crash", (p_guid, "process", p_type, None), app, t, process_meta
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

    def _row(
        self,
        kind: str,
        actor: tuple[str, str, str, str | None],
        app: App,
        t: int,
        metadata: dict[str, Any],
        actee: tuple[str, str, str] | None = None,
    ) -> dict[str, Any]:
        """One audit row; the created_at column trails the timestamp by under a millisecond."""
        actee_guid, actee_type, actee_name = actee or (app.guid, "app", app.name)
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
            "created_at_us": t + self.rng.choice((0, 0, self.rng.randint(1, 900))),
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
            if n % 40 == 7:  # the created_at column ticks over into the next second
                row["timestamp_us"] = t - t % SECOND_US + SECOND_US - rng.randint(100, 400)
                row["created_at_us"] = row["timestamp_us"] + rng.randint(500, 900)
            rows.append(row)
        rows += self._space_and_org_rows()
        return rows

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

    # -- reading (for tests and the server) ------------------------------------

    def usage_event_count(self) -> int:
        """How many usage events are visible."""
        with self.lock:
            return len(self.store)

    def usage_event_id(self, i: int) -> int:
        """The id of the i-th event in id order."""
        with self.lock:
            return self.store.ids[i]

    def usage_event_guid(self, i: int) -> str:
        """The guid of the i-th event in id order."""
        with self.lock:
            return self.store.guid(i)

    def usage_event_created_at_us(self, i: int) -> int:
        """The stored (sub-second) created_at of the i-th event, in µs since the epoch."""
        with self.lock:
            return self.store.created[i]

    def usage_events_v3(self, base_url: str | None = None) -> Iterator[dict[str, Any]]:
        """Every visible usage event as the v3 API renders it, in id order."""
        base = base_url or self.base_url
        with self.lock:
            rendered = [self.store.present_v3(p, base) for p in range(len(self.store))]
        return iter(rendered)

    def usage_events_v2(self) -> Iterator[dict[str, Any]]:
        """Every visible usage event as the v2 API renders it, in id order."""
        with self.lock:
            rendered = [self.store.present_v2(p) for p in range(len(self.store))]
        return iter(rendered)

    def audit_events_v3(self, base_url: str | None = None) -> Iterator[dict[str, Any]]:
        """Every audit event as `/v3/audit_events` renders it, in id order."""
        base = base_url or self.base_url
        return (e.present_v3(base) for e in self.audit_events)

    def audit_events_v2(self) -> Iterator[dict[str, Any]]:
        """Every audit event as `/v2/events` renders it, in id order."""
        return (e.present_v2() for e in self.audit_events)

    def crashes(self) -> list[Crash]:
        """The crashes behind the crash event pairs, oldest first."""
        return list(self._crashes)

    def app_state(self, app_guid: str) -> str:
        """The desired state of an app now: STARTED or STOPPED."""
        i = next(i for i, a in enumerate(self.apps) if a.guid == app_guid)
        with self.lock:
            return "STARTED" if self.simulator.apps[i].started else "STOPPED"

    # -- mutations -------------------------------------------------------------

    def append_usage_events(self, n: int, at_us: int) -> None:
        """Simulate `n` more events, all created at `at_us`, with new ids at the end."""
        with self.lock:
            self.simulator.run(n)
            self.simulator.gaps = array("q")
            self.store.stamp_new_rows(at_us)

    def open_transaction(self, n: int, at_us: int) -> list[tuple[int, ...]]:
        """Simulate `n` events whose ids are taken now but which stay invisible until committed.

        This is PostgreSQL seen from CC: ids come from a sequence at insert time,
        created_at is the transaction's start, and rows show up only at COMMIT,
        possibly after rows with higher ids.
        """
        with self.lock:
            self.append_usage_events(n, at_us)
            return self.store.detach_tail(n)

    def commit(self, rows: list[tuple[int, ...]]) -> None:
        """Make the rows of `open_transaction` visible."""
        with self.lock:
            self.store.attach(rows)

    def purge_and_reseed(self, now_us: int) -> None:
        """TRUNCATE, then one STARTED row per started process (guid = process guid).

        As in `purge_and_reseed_started_apps!`: previous values equal the current
        ones, process_type is not copied, and every row gets the same `now`.
        """
        with self.lock:
            store = self.store
            store.truncate()
            for a, p, memory, instances in self.simulator.started_processes():
                app_state = self.simulator.apps[a]
                started = S["STARTED"]
                event_id = store.add(
                    started,
                    started,
                    a,
                    p,
                    memory,
                    memory,
                    instances,
                    instances,
                    app_state.buildpack,
                    NULL,
                )
                guid = self.apps[a].processes[p][0]
                store.reseeded[event_id] = guid
                store.reseeded_by_guid[guid] = event_id
            store.stamp_new_rows(now_us)

    def prune_usage_events_before(self, cutoff_us: int) -> None:
        """Retention cleanup: delete rows created before the cutoff, except the newest row."""
        with self.lock:
            store = self.store
            last = len(store) - 1
            store.keep_only(
                p for p in range(len(store)) if store.created[p] >= cutoff_us or p == last
            )


def _renamed(app: App, name: str) -> App:
    return App(
        guid=app.guid,
        name=name,
        space_guid=app.space_guid,
        org_guid=app.org_guid,
        processes=app.processes,
        lifecycle=app.lifecycle,
        buildpack=app.buildpack,
        droplet_guid=app.droplet_guid,
        created_at_us=app.created_at_us,
    )


def to_us(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * SECOND_US + delta.microseconds


def _from_us(us: int) -> datetime:
    return datetime.fromtimestamp(us // SECOND_US, UTC).replace(microsecond=us % SECOND_US)
