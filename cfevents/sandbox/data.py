"""Deterministic generator of a simulated Cloud Foundry foundation.

Given a seed and an end time, `Foundation.generate` builds orgs, spaces, apps,
a month of app usage events (simulated per app: pushes, starts, scales,
restarts, rolling deploys, tasks, deletions, ...) and the audit `events` table
(crash pairs written exactly as Cloud Controller writes them, plus user
actions). The same seed and end give byte-identical data.

The simulation records its own timeline (`truth.Timeline`) as it goes:
`Foundation.usage_truth` and `Foundation.task_truth` answer what really ran,
without reading the usage events back.
"""

from __future__ import annotations

import hashlib
import random
import threading
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from cfevents.sandbox.audit import DAY_US, AuditEvent, AuditWriter, Crash
from cfevents.sandbox.services import ServiceSimulation, ServiceUsage
from cfevents.sandbox.simulation import MEMORIES, AppState, Simulator
from cfevents.sandbox.store import (
    NULL,
    SECOND_US,
    STATE_INDEX,
    TASK_NAMES,
    AppRef,
    UsageEventStore,
    to_us,
    uuid_from_digest,
)
from cfevents.sandbox.truth import ORIGIN, RUNNING, TASK_STATES, ProcessUsage, TaskUsage, Timeline

ORG_NAMES = ("acme", "globex", "initech")
#: What `Foundation.perform` can make an app do (besides `delete` and `next`).
ACTIONS = (
    "start",
    "stop",
    "restart",
    "scale",
    "resize",
    "deploy",
    "restage",
    "rolling_restage",
    "run_task",
)
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
    """An app; `processes` is a tuple of its current (process guid, process type), web first.

    A deleted app keeps its last processes and has `deleted_at_us` set.
    """

    guid: str
    name: str
    space_guid: str
    org_guid: str
    processes: tuple[tuple[str, str], ...]
    lifecycle: str
    buildpack: str | None
    droplet_guid: str
    created_at_us: int
    deleted_at_us: int | None = None


@dataclass(frozen=True, slots=True)
class ProcessNow:
    """A process as `/v3/processes` shows it now."""

    guid: str
    type: str
    app: App
    instances: int
    memory_in_mb: int
    created_at_us: int
    updated_at_us: int
    version: str = ""


@dataclass(frozen=True, slots=True)
class TaskNow:
    """A task as `/v3/tasks` shows it now."""

    guid: str
    name: str
    sequence_id: int
    state: str
    memory_in_mb: int
    app: App
    created_at_us: int
    updated_at_us: int


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
        self.timeline = Timeline()
        self.simulator = Simulator(self.rng, self.store, [], self.timeline)
        self.services = ServiceSimulation(random.Random(seed), self.uuid, [])
        #: Called with each mutation a request makes (a purge), so a live foundation can
        #: journal it; None when nothing listens.
        self.journal: Callable[[dict[str, Any]], None] | None = None
        self.audit_high_id = 0  # ids continue after deleted rows, as a sequence does

    @classmethod
    def generate(
        cls,
        seed: int,
        end: datetime,
        days: int = 30,
        usage_events: int | None = None,
        *,
        recent_crash_loop: bool = False,
        appless_days: int = 0,
        client_actor: bool = False,
    ) -> Foundation:
        """Build a foundation; `usage_events=None` means the natural simulated volume.

        `recent_crash_loop` adds one app crashing every few minutes through the last hour;
        `appless_days`: the usage events of the first days were written by an older CC (no
        parent app); `client_actor` adds audit events of a client-credentials actor."""
        foundation = cls(seed, end, days)
        foundation._build_resources()
        count = usage_events if usage_events is not None else int(days * len(foundation.apps) * 3.5)
        foundation._build_usage_events(count)
        if appless_days:
            store, until = foundation.store, foundation.start_us + appless_days * DAY_US
            first = next((p for p in range(len(store)) if store.created[p] >= until), None)
            store.appless_before_id = store.ids[first] if first is not None else store.next_id
        writer = AuditWriter(
            random.Random(seed * 7919 + 104_729),  # its own stream: independent of the simulation
            foundation.uuid,
            (foundation.orgs, foundation.spaces, foundation.apps),
            (foundation.start_us, foundation.end_us),
            recent_crash_loop=recent_crash_loop,
            client_actor=client_actor,
        )
        foundation.audit_events, foundation._crashes = writer.write()
        foundation.audit_high_id = len(foundation.audit_events)
        foundation.services = ServiceSimulation(
            random.Random(seed * 6_700_417 + 65_537),  # its own stream, like the audit writer's
            foundation.uuid,
            [(s.guid, s.name, s.org_guid) for s in foundation.spaces],
        )
        foundation.services.generate(foundation.start_us, foundation.end_us, days * 4)
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
        return AppRef(app.guid, app.name, space.guid, space.name, app.org_guid, list(app.processes))

    def _new_process(self, app: int, kind: str) -> int:
        """A deployment's new process: a fresh guid in the app's process table."""
        ref = self.store.apps[app]
        guid = self.uuid("process", ref.guid, kind, len(ref.processes))
        return self.store.add_process(app, guid, kind)

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
        timeline = self.timeline
        timeline.origin_us = [a.created_at_us for a in self.apps]
        quiet = {i for i in range(1, len(self.apps)) if rng.random() < 0.12}
        for i, app in enumerate(self.apps):
            buildpack, staging = self._buildpack_variants(app)
            new = i > 0 and i not in quiet and rng.random() < 0.25
            n = len(app.processes)
            state = AppState(
                index=i,
                buildpack=buildpack,
                staging_buildpack=staging,
                active_from=int(count * rng.uniform(0.05, 0.8)) if new else 0,
                weight=rng.choice((0.5, 1.0, 1.0, 2.0, 4.0)),
                staged=not new,
                started=not new and (i in quiet or rng.random() < 0.9),
                live=list(range(n)),
                # non-web processes are created with 0 instances; older ones were scaled since
                instances=[rng.choice((1, 2, 3, 4)) if p == 0 else 0 for p in range(n)],
                memory=[rng.choice(MEMORIES[:3]) for _ in range(n)],
                fresh=new,
                created_tx=[ORIGIN] * n,
                updated_tx=[ORIGIN] * n,
            )
            if not new:
                for p in range(1, n):
                    state.instances[p] = rng.choice((0, 1, 2))
            if i in quiet:  # running since before the oldest event, and (almost) never touched
                state.weight = 0.0 if len(quiet) < 2 or i != max(quiet) else 0.01
            if state.started:
                for p in state.live:
                    timeline.process_change(i, p, ORIGIN, state.instances[p], state.memory[p])
            states.append(state)
        doomed = [s for s in states[1:] if not s.fresh and s.index not in quiet]
        for state in rng.sample(doomed, min(len(doomed), 1 + len(states) // 20)):
            state.delete_at = int(count * rng.uniform(0.15, 0.45))  # in steps: mid-window
        sim = Simulator(rng, self.store, states, timeline, self._new_process)
        self.simulator = sim
        sim.run(count)
        times = self._timestamps(sim.tx_gaps)
        self._invert_some(times, sim.row_tx)
        timeline.tx_times = times
        self.store.created = array("q", map(times.__getitem__, sim.row_tx))
        sim.tx_gaps, sim.row_tx = array("q"), array("i")
        self.store.reindex()
        self._sync_apps()

    def _timestamps(self, gaps: array[int]) -> array[int]:
        """Lay the transactions out over the window so the newest is minutes before `end`."""
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
        return times

    def _invert_some(self, times: array[int], row_tx: array[int]) -> None:
        """Make ~0.5% of transactions 1-3 s older than their predecessor (long transactions).

        Only where no process, task or app build of that transaction changed later
        than the new time: one entity's changes stay in id order in time (row locks).
        Laid-out times never decrease and an inversion lowers one by at most 3 s, so
        looking back until a row 6 s older than the new time sees every conflict.
        """
        rng = self.rng
        n = len(times)
        if n <= 2:
            return
        store = self.store
        apps, processes, tasks = store.app, store.process, store.task
        for tx in sorted(rng.sample(range(1, n - 1), max(0, n // 200))):
            t = times[tx - 1] - rng.randint(SECOND_US, 3 * SECOND_US)
            first, end = bisect_left(row_tx, tx), bisect_right(row_tx, tx)
            if first == end:
                continue  # no rows: nothing would show
            keys = {_entity(apps[i], processes[i], tasks[i]) for i in range(first, end)}
            r = first - 1
            while r >= 0 and times[row_tx[r]] >= t - 6 * SECOND_US:
                if times[row_tx[r]] > t and _entity(apps[r], processes[r], tasks[r]) in keys:
                    break
                r -= 1
            else:
                times[tx] = t

    def _sync_apps(self) -> None:
        """Bring `apps` up to date with the simulation: current processes, deletions."""
        for i, state in enumerate(self.simulator.apps):
            app = self.apps[i]
            if app.deleted_at_us is not None:
                continue
            if state.deleted:
                deleted = self.timeline.time_us(state.deleted_tx, i)
                self.apps[i] = replace(app, deleted_at_us=deleted)
                continue
            processes = tuple(self.store.apps[i].processes[p] for p in state.live)
            if processes != app.processes:
                self.apps[i] = replace(app, processes=processes)

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
        """The desired state of an app now: STARTED or STOPPED (a deleted app is STOPPED)."""
        i = next(i for i, a in enumerate(self.apps) if a.guid == app_guid)
        with self.lock:
            state = self.simulator.apps[i]
            return "STARTED" if state.started and not state.deleted else "STOPPED"

    def live_apps(self) -> list[App]:
        """The apps that exist now (deleted ones are gone from `/v3/apps`)."""
        with self.lock:
            return [a for a in self.apps if a.deleted_at_us is None]

    def processes_now(self) -> list[ProcessNow]:
        """Every process that exists now, originals first, then in creation order."""
        with self.lock:
            found = []
            for i, state in enumerate(self.simulator.apps):
                if state.deleted:
                    continue
                app, ref = self.apps[i], self.store.apps[i]
                for p in state.live:
                    guid, kind = ref.processes[p]
                    created = state.created_tx[p]
                    found.append(
                        (
                            created,
                            i,
                            ProcessNow(
                                guid=guid,
                                type=kind,
                                app=app,
                                instances=state.instances[p],
                                memory_in_mb=state.memory[p],
                                created_at_us=self.timeline.time_us(created, i),
                                updated_at_us=self.timeline.time_us(state.updated_tx[p], i),
                                version=self.uuid("version", guid),
                            ),
                        )
                    )
            found.sort(key=lambda item: (item[0], item[1]))
            return [item[2] for item in found]

    def tasks_now(self, states: set[str] | None = None) -> list[TaskNow]:
        """Every task (in `states`) of an app that exists now, in creation order.

        CC keeps finished tasks (until its completed-tasks cleanup), so they are listed too.
        """
        wanted = (
            None if states is None else {TASK_STATES.index(s) for s in states if s in TASK_STATES}
        )
        with self.lock:
            t = self.timeline
            simulated = self.simulator.apps
            found = []
            for task in range(len(t.t_app)):
                a = t.t_app[task]
                if simulated[a].deleted or (wanted is not None and t.t_state[task] not in wanted):
                    continue
                updated = max(t.t_created[task], t.t_started[task], t.t_stopped[task])
                found.append(
                    TaskNow(
                        guid=self.store.task_guid(task),
                        name=TASK_NAMES[task % len(TASK_NAMES)],
                        sequence_id=t.t_sequence[task],
                        state=TASK_STATES[t.t_state[task]],
                        memory_in_mb=t.t_memory[task],
                        app=self.apps[a],
                        created_at_us=t.time_us(t.t_created[task], a),
                        updated_at_us=t.time_us(updated, a),
                    )
                )
            return found

    # -- the truth -------------------------------------------------------------

    def usage_truth(self, start: datetime, end: datetime) -> dict[str, ProcessUsage]:
        """Per process guid, what ran in [start, end), from the simulation's own timeline.

        Exact integers at CC's whole-second resolution (bounds are truncated to
        whole seconds); only processes STARTED during part of the window appear,
        deleted apps' and replaced (deployed-away) processes included.
        """
        with self.lock:
            return self.timeline.usage(self.store.apps, start, end)

    def task_truth(self, start: datetime, end: datetime) -> dict[str, TaskUsage]:
        """Per task guid, the tasks that ran in [start, end) and their seconds in it."""
        with self.lock:
            return self.timeline.tasks(self.store.apps, self.store.task_guid, start, end)

    def service_truth(self, start: datetime, end: datetime) -> dict[str, ServiceUsage]:
        """Per service instance guid, its seconds per plan in [start, end), from the timeline."""
        with self.lock:
            return self.services.truth(start, end)

    # -- mutations -------------------------------------------------------------

    def service_action(self, action: str, at_us: int, guid: str | None = None) -> None:
        """create, update_plan, rename, update_parameters or delete (on `guid`, else at random)."""
        with self.lock:
            self.services.act(action, at_us, guid)

    def purge_and_reseed_services(self, now_us: int) -> None:
        """`POST /v3/service_usage_events/actions/destructively_purge_all_and_reseed`."""
        with self.lock:
            self.services.purge_and_reseed(now_us)
            self._note({"do": "purge_services", "at_us": now_us})

    def _note(self, entry: dict[str, Any]) -> None:
        if self.journal is not None:
            self.journal(entry)

    def crash(
        self, app_guid: str, at_us: int, seed: int, exit_description: str | None = None
    ) -> Crash:
        """Diego reports a crash of the app's web process at `at_us`: CC's two audit events.

        `crash_count` continues the process's crashes of the hour before (a crash loop);
        `exit_description` replaces the drawn one (exit_status follows it)."""
        with self.lock:
            app = next(a for a in self.apps if a.guid == app_guid)
            p_guid, p_type = app.processes[0]
            recent = [
                c
                for c in self._crashes
                if c.process_guid == p_guid and to_us(c.timestamp) > at_us - 3600 * SECOND_US
            ]
            writer = AuditWriter(
                random.Random(seed),
                self.uuid,
                (self.orgs, self.spaces, self.apps),
                (self.start_us, self.end_us),
            )
            version = self.uuid("version", p_guid)
            rows = writer.crash_pair(
                app, (p_guid, p_type), at_us, 0, len(recent) + 1, version, exit_description
            )
            guids = []
            for row in rows:
                row.pop("seq")
                details = row.pop("crash")
                self.audit_high_id += 1
                event_id = self.audit_high_id
                guids.append(self.uuid("event", event_id))
                self.audit_events.append(AuditEvent(id=event_id, guid=guids[-1], **row))
            crash = Crash(**details, process_event_guid=guids[0], app_event_guid=guids[1])
            self._crashes.append(crash)
            return crash

    def user_event(self, kind: str, app_guid: str, at_us: int, seed: int) -> None:
        """The audit event of a user's action on an app at `at_us` (a live foundation's)."""
        with self.lock:
            app = next(a for a in self.apps if a.guid == app_guid)
            writer = AuditWriter(
                random.Random(seed),
                self.uuid,
                (self.orgs, self.spaces, self.apps),
                (self.start_us, self.end_us),
            )
            row = writer.user_row(kind, app, at_us)
            self.audit_high_id += 1
            guid = self.uuid("event", self.audit_high_id)
            self.audit_events.append(AuditEvent(id=self.audit_high_id, guid=guid, **row))

    def prune_audit_events_before(self, cutoff_us: int) -> None:
        """The audit events cleanup (`cc.audit_events.cutoff_age_in_days`): no row is kept."""
        with self.lock:
            self.audit_events = [e for e in self.audit_events if e.created_at_us >= cutoff_us]

    def append_usage_events(self, n: int, at_us: int) -> None:
        """Simulate `n` more events, all created at `at_us`, with new ids at the end."""
        with self.lock:
            sim = self.simulator
            sim.run(n)
            self.timeline.tx_times.extend([at_us] * len(sim.tx_gaps))
            sim.tx_gaps, sim.row_tx = array("q"), array("i")
            self.store.stamp_new_rows(at_us)
            self._sync_apps()

    def perform(self, action: str, app_guid: str, at_us: int) -> int:
        """Make one app do one action now (rows created at `at_us`); returns the rows written.

        Actions: start, stop, restart, scale, resize, deploy, restage,
        rolling_restage (a build, then a deploy on the app's next step), run_task, delete (a build in flight and a PENDING task first, as the generated
        deletions do), and next (the app's next pending step: finishing a build,
        starting or stopping a task). A scale or resize of a stopped app writes nothing.
        """
        with self.lock:
            i = next(i for i, a in enumerate(self.apps) if a.guid == app_guid)
            sim = self.simulator
            app = sim.apps[i]
            if app.deleted:
                raise ValueError(f"app {app_guid} is deleted")
            before = len(self.store)
            sim.budget = 1 << 40
            sim._new_burst = True
            if action == "delete":
                sim.prepare_delete(app)
                app.pending.pop(0)[1](app)
            elif action == "next":
                if app.pending:
                    app.pending.pop(0)[1](app)
            elif action in ("deploy", "rolling_restage") and not app.started:
                raise ValueError("a rolling deployment needs a started app")
            elif action in ACTIONS:
                getattr(sim, action)(app)
            else:
                raise ValueError(f"unknown action {action!r}")
            sim.budget = 0
            self.timeline.tx_times.extend([at_us] * len(sim.tx_gaps))
            sim.tx_gaps, sim.row_tx = array("q"), array("i")
            self.store.stamp_new_rows(at_us)
            self._sync_apps()
            return len(self.store) - before

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
                started = STATE_INDEX["STARTED"]
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
                guid = store.apps[a].processes[p][0]
                store.reseeded[event_id] = guid
                store.reseeded_by_guid[guid] = event_id
            store.stamp_new_rows(now_us)
            self._note({"do": "purge", "at_us": now_us})

    def prune_usage_events_before(self, cutoff_us: int, *, keep_running: bool = False) -> None:
        """Retention cleanup: delete rows created before the cutoff, except the newest row.

        `keep_running` is the cleanup cloud_controller_ng #5210 proposes: the start of
        what still runs survives (see `running_baselines`).
        """
        with self.lock:
            store = self.store
            last = len(store) - 1
            kept = self.running_baselines(cutoff_us) if keep_running else set()
            store.keep_only(
                p
                for p in range(len(store))
                if store.created[p] >= cutoff_us or p == last or p in kept
            )

    def running_baselines(self, cutoff_us: int) -> set[int]:
        """Rows older than the cutoff that #5210's cleanup keeps (positions).

        Per process that runs now, its newest row before the cutoff when that row is a
        STARTED (an older STARTED is stale: the process was stopped and started again
        after the cutoff); per task still RUNNING, its TASK_STARTED.
        """
        store = self.store
        running = {(a, p) for a, p, _, _ in self.simulator.started_processes()}
        started, task_started = STATE_INDEX["STARTED"], STATE_INDEX["TASK_STARTED"]
        newest: dict[tuple[int, int], int] = {}
        kept: set[int] = set()
        for pos in range(len(store)):
            if store.created[pos] >= cutoff_us:
                continue
            task, process = store.task[pos], store.process[pos]
            if task != NULL:
                if store.state[pos] == task_started and self.timeline.t_state[task] == RUNNING:
                    kept.add(pos)
            elif process != NULL and (store.app[pos], process) in running:
                newest[(store.app[pos], process)] = pos
        return kept | {pos for pos in newest.values() if store.state[pos] == started}

    def prune_service_usage_events_before(
        self, cutoff_us: int, *, keep_running: bool = False
    ) -> None:
        """The service usage events cleanup (newest row kept); `keep_running` as #5210."""
        with self.lock:
            self.services.prune_before(cutoff_us, keep_running=keep_running)

    def cleanup(self, now_us: int, days: int = 31, *, keep_running: bool = False) -> None:
        """CC's clock jobs: usage and service usage events older than `days` are deleted."""
        cutoff = now_us - days * DAY_US
        self.prune_usage_events_before(cutoff, keep_running=keep_running)
        self.prune_service_usage_events_before(cutoff, keep_running=keep_running)


def _entity(app: int, process: int, task: int) -> int:
    """One key per process, task or app build (a usage event row's subject)."""
    if task != NULL:
        return -2 - task
    if process == NULL:
        return -(1 << 40) - app
    return app << 32 | process


def _renamed(app: App, name: str) -> App:
    return replace(app, name=name)
