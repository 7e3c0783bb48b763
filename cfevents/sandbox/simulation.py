"""The usage-event simulation: what each app does, and which rows CC writes for it.

The row shapes follow `AppUsageEventRepository`: process events
(`create_from_process`), task events (`create_from_task`) and build events
(`create_from_build`, no process, the staging memory). The sequences follow the
actions of docs/accounting.md §1.1-1.4:

- start: STARTED (prev STOPPED) for every process, 0-instance ones included;
  stop: STOPPED per process; a restart does both in one transaction;
- scale or resize while started: STARTED (prev STARTED, previous = old values);
  while stopped: no event (the next STARTED carries the new values);
- rolling deploy: a new web process (new guid) STARTED with max_in_flight
  instances, then old −k / new +k pairs in one transaction each, the old one
  scaled to 0, then destroyed (STOPPED); non-web processes are restarted;
- tasks: created PENDING (no event), TASK_STARTED (prev PENDING), TASK_STOPPED
  (prev RUNNING);
- staging: STAGING_STARTED, then STAGING_STOPPED and BUILDPACK_SET;
- app deletion: TASK_STOPPED for unfinished tasks (prev PENDING or RUNNING), no
  STAGING_STOPPED for a build in flight (bulk-deleted), STOPPED per started process.

Every row belongs to a transaction; rows of one transaction share one
created_at. Every change of a process's billable state and every task run is
also recorded in a `Timeline` (the truth), from the simulation's own state.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from cfevents.sandbox.store import NULL, STATE_INDEX, UsageEventStore
from cfevents.sandbox.truth import FAILED, NOT_STARTED, SUCCEEDED, Timeline

STAGING_MEMORY = 1024
S = STATE_INDEX  # short alias for the state codes used by the simulation
WEB_SCALES = (1, 2, 3, 4, 6, 10)
WORKER_SCALES = (0, 1, 2, 3)
MEMORIES = (256, 512, 1024, 2048)


@dataclass(slots=True)
class AppState:
    """The simulation's view of one app.

    `live` lists the indexes (into the app's process table, every process it
    ever had) of the processes that exist now, web first; `instances` and
    `memory` are indexed by process index.
    """

    index: int
    buildpack: int
    staging_buildpack: int
    active_from: int
    weight: float = 1.0
    staged: bool = True
    started: bool = True
    live: list[int] = field(default_factory=list)
    instances: list[int] = field(default_factory=list)
    memory: list[int] = field(default_factory=list)
    fresh: bool = False
    pending: list[tuple[int, Callable[[AppState], None]]] = field(default_factory=list)
    #: Task numbers of this app's unfinished (PENDING or RUNNING) tasks.
    tasks: list[int] = field(default_factory=list)
    task_sequence: int = 0
    #: The step from which the app is deleted (-1: never).
    delete_at: int = -1
    deleted: bool = False
    #: Transaction of each process's creation (-1: before the simulation) and last change.
    created_tx: list[int] = field(default_factory=list)
    updated_tx: list[int] = field(default_factory=list)
    deleted_tx: int = -1


class Simulator:
    """Emits usage events app by app, the way CC's repositories write them.

    Every step is a *burst* of one or more transactions. `tx_gaps` records, per
    transaction, either a negative weight (a burst starts after an idle gap of
    that relative length) or the microseconds since the previous transaction;
    `row_tx` the transaction of each row written.
    """

    def __init__(
        self,
        rng: random.Random,
        store: UsageEventStore,
        apps: list[AppState],
        timeline: Timeline | None = None,
        new_process: Callable[[int, str], int] | None = None,
    ) -> None:
        self.rng = rng
        self.store = store
        self.apps = apps
        self.timeline = timeline or Timeline()
        self.new_process = new_process or _no_new_processes
        self.tx_gaps = array("q")
        self.row_tx = array("i")
        self.tx = -1
        self.steps = 0
        self.budget = 0
        self._new_burst = True

    # -- driving -------------------------------------------------------------------

    def run(self, events: int) -> None:
        """Emit exactly `events` rows; apps not yet pushed (`active_from`) stay quiet."""
        self.budget = events
        rng, apps = self.rng, self.apps
        weights = [a.weight for a in apps]
        while self.budget > 0:
            for choice in rng.choices(range(len(apps)), weights, k=256):
                app = apps[choice]
                if app.active_from > self.steps or app.deleted:
                    app = apps[0]
                self._new_burst = True
                self.step(app)
                self.steps += 1
                if self.budget <= 0:
                    break

    def step(self, app: AppState) -> None:
        """Perform the app's next action, or a one-row task run if it would not fit the budget."""
        if app.pending:
            cost, action = app.pending[0]
            if cost > self.budget:
                self.fallback()
                return
            app.pending.pop(0)
            action(app)
            return
        if 0 <= app.delete_at <= self.steps:
            self.prepare_delete(app)
            return
        if not app.staged:
            chosen: Callable[[AppState], None] = self.push
        elif not app.started:
            chosen = self._pick(
                (0.55, self.start),
                (0.70, self.restage),
                (0.80, self.run_task),
                (0.90, self.scale),
                (1.0, self.resize),
            )
        else:
            chosen = self._pick(
                (0.30, self.scale),
                (0.40, self.resize),
                (0.55, self.run_task),
                (0.64, self.stop),
                (0.74, self.restart),
                (0.78, self.restage),
                (0.84, self.rolling_restage),
                (0.92, self.deploy),
                (1.0, self.scale),
            )
        if self.cost(chosen, app) > self.budget:
            self.fallback()
            return
        chosen(app)

    def _pick(
        self, *actions: tuple[float, Callable[[AppState], None]]
    ) -> Callable[[AppState], None]:
        r = self.rng.random()
        for bound, action in actions:
            if r < bound:
                return action
        return actions[-1][1]

    def cost(self, action: Callable[[AppState], None], app: AppState) -> int:
        """How many rows `action` writes for `app` now."""
        n = len(app.live)
        name = getattr(action, "__name__", "")
        if name in ("start", "stop"):
            return n
        if name == "restart":
            return 2 * n
        if name in ("scale", "resize"):
            return 1 if app.started else 0
        if name in ("run_task", "push", "rolling_restage"):
            return 1
        if name == "restage":
            return (n if app.started else 0) + 1
        if name == "deploy":
            return self._deploy_plan(app)[3] + 2 * (n - 1)
        raise AssertionError(name)

    def fallback(self) -> None:
        """A one-row action that always fits: a task run on the first app."""
        app = self.apps[0]
        self._begin()
        task = self._create_task(app)
        self._start_task(app, task)
        app.pending.append((1, lambda a: self._stop_task(a, task)))

    # -- transactions and rows -----------------------------------------------------

    def _begin(self, gap_us: int | None = None) -> int:
        """Start a transaction: the first of a burst after an idle gap, else `gap_us` later."""
        if self._new_burst:
            self.tx_gaps.append(-int(self.rng.expovariate(1.0) * 1000) - 1)
            self._new_burst = False
        else:
            self.tx_gaps.append(gap_us if gap_us is not None else self.rng.randint(1_500, 180_000))
        self.tx += 1
        return self.tx

    def _emit(
        self,
        app: AppState,
        state: str,
        prev_state: str | None,
        process: int = NULL,
        sizes: tuple[int, int, int, int] | None = None,
        buildpack: int = 0,
        task: int = NULL,
    ) -> None:
        """Write one row in the current transaction; `sizes` is (memory, prev memory, instances, prev instances)."""
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
        self.row_tx.append(self.tx)

    def _process_event(
        self,
        app: AppState,
        p: int,
        state: str,
        prev: str | None,
        old: tuple[int, int] | None = None,
    ) -> None:
        """A process row for the process's current values; `old` is (memory, instances) before."""
        mem, inst = app.memory[p], app.instances[p]
        if prev is None:
            self._emit(app, state, None, p, (mem, NULL, inst, NULL), app.buildpack)
        else:
            prev_mem, prev_inst = old or (mem, inst)
            self._emit(app, state, prev, p, (mem, prev_mem, inst, prev_inst), app.buildpack)

    def _record(self, app: AppState, p: int, started: bool) -> None:
        """The truth: from this transaction on, process `p` runs as the simulation now says."""
        self.timeline.process_change(
            app.index,
            p,
            self.tx,
            app.instances[p] if started else NOT_STARTED,
            app.memory[p],
        )
        app.updated_tx[p] = self.tx

    def _add_process(self, app: AppState, kind: str, instances: int, memory: int) -> int:
        p = self.new_process(app.index, kind)
        assert p == len(app.instances)
        app.instances.append(instances)
        app.memory.append(memory)
        app.created_tx.append(self.tx)
        app.updated_tx.append(self.tx)
        return p

    # -- staging -------------------------------------------------------------------

    def push(self, app: AppState) -> None:
        """The first push: stage, then start (first STARTED rows have no previous values)."""
        self.stage(app, start=True)

    def stage(self, app: AppState, start: bool) -> None:
        """A build: STAGING_STARTED now, STAGING_STOPPED (and more) on the app's next turn."""
        self._begin()
        self._emit(app, "STAGING_STARTED", "STAGING", buildpack=app.staging_buildpack)
        n = len(app.live)
        cost = 1 + (2 * n if start else 1)
        app.pending.append((cost, lambda a: self.finish_staging(a, start)))

    def finish_staging(self, app: AppState, start: bool) -> None:
        """STAGING_STOPPED, then BUILDPACK_SET per process and a start, or one for the build."""
        self._begin()
        self._emit(app, "STAGING_STOPPED", "STAGING", buildpack=app.buildpack)
        app.staged = True
        if not start:
            self._emit(app, "BUILDPACK_SET", "STAGED", buildpack=app.buildpack)
            return
        current = "STARTED" if app.started else "STOPPED"
        for p in app.live:
            self._process_event(app, p, "BUILDPACK_SET", None if app.fresh else current)
        if not app.started:
            self._start_processes(app)

    # -- process actions -----------------------------------------------------------

    def start(self, app: AppState) -> None:
        """STARTED (prev STOPPED) for every process, in one transaction."""
        self._begin()
        self._start_processes(app)

    def _start_processes(self, app: AppState) -> None:
        for p in app.live:
            self._process_event(app, p, "STARTED", None if app.fresh else "STOPPED")
            self._record(app, p, True)
        app.started, app.fresh = True, False

    def _stop_processes(self, app: AppState) -> None:
        for p in app.live:
            self._process_event(app, p, "STOPPED", "STARTED")
            self._record(app, p, False)
        app.started = False

    def stop(self, app: AppState) -> None:
        """STOPPED for every process, in one transaction."""
        self._begin()
        self._stop_processes(app)

    def restart(self, app: AppState) -> None:
        """All STOPPED then all STARTED, in one transaction (one created_at)."""
        self._begin()
        self._stop_processes(app)
        self._start_processes(app)

    def restage(self, app: AppState) -> None:
        """Stop if running, then stage with start (v2 style)."""
        if app.started:
            self.stop(app)
        self.stage(app, start=True)

    def rolling_restage(self, app: AppState) -> None:
        """v3 style, app running: a build (build-level BUILDPACK_SET), then a rolling deploy."""
        self._begin()
        self._emit(app, "STAGING_STARTED", "STAGING", buildpack=app.staging_buildpack)
        cost = 2 + self._deploy_plan(app)[3] + 2 * (len(app.live) - 1)
        app.pending.append((cost, self._finish_and_deploy))

    def _finish_and_deploy(self, app: AppState) -> None:
        self.finish_staging(app, start=False)
        self._new_burst = True  # the deployment starts when the CLI has seen the droplet
        self.deploy(app)

    def scale(self, app: AppState) -> None:
        """Change one process's instance count: STARTED -> STARTED, or nothing while stopped."""
        p = self.rng.choice(app.live)
        old = (app.memory[p], app.instances[p])
        scales = WEB_SCALES if p == app.live[0] else WORKER_SCALES
        app.instances[p] = self.rng.choice([n for n in scales if n != app.instances[p]])
        self._footprint_changed(app, p, old)

    def resize(self, app: AppState) -> None:
        """Change one process's memory: STARTED -> STARTED, or nothing while stopped."""
        p = self.rng.choice(app.live)
        old = (app.memory[p], app.instances[p])
        app.memory[p] = self.rng.choice([m for m in MEMORIES if m != app.memory[p]])
        self._footprint_changed(app, p, old)

    def _footprint_changed(self, app: AppState, p: int, old: tuple[int, int]) -> None:
        if not app.started:
            return  # CC writes no event for a stopped process
        self._begin()
        self._process_event(app, p, "STARTED", "STARTED", old)
        self._record(app, p, True)

    def _deploy_plan(self, app: AppState) -> tuple[int, int, list[tuple[int, int]], int]:
        """(desired instances, max_in_flight, [(old, new) instances after each step], web rows)."""
        desired = max(app.instances[app.live[0]], 1)
        in_flight = min(desired, 2 if desired >= 6 else 1)
        old, new = desired, in_flight
        steps = []
        rows = 2  # the new process's first STARTED and the old one's final STOPPED
        while new < desired:
            k = min(in_flight, desired - new)
            old, new = max(old - k, 0), new + k
            steps.append((old, new))
            rows += 2
        if old > 0:
            steps.append((0, new))
            rows += 1
        return desired, in_flight, steps, rows

    def deploy(self, app: AppState) -> None:
        """A rolling deployment of the web process (restart/restage with `--strategy rolling`)."""
        rng = self.rng
        old = app.live[0]
        _, in_flight, steps, _ = self._deploy_plan(app)
        memory = app.memory[old] if rng.random() < 0.7 else rng.choice(MEMORIES)
        self._begin()
        new = self._add_process(app, "web", in_flight, memory)
        self._process_event(app, new, "STARTED", "STOPPED")
        self._record(app, new, True)
        for old_count, new_count in steps:
            self._begin(rng.randint(5, 45) * 1_000_000 + rng.randrange(1_000_000))
            if old_count != app.instances[old]:
                before = (app.memory[old], app.instances[old])
                app.instances[old] = old_count
                self._process_event(app, old, "STARTED", "STARTED", before)
                self._record(app, old, True)
            if new_count != app.instances[new]:
                before = (app.memory[new], app.instances[new])
                app.instances[new] = new_count
                self._process_event(app, new, "STARTED", "STARTED", before)
                self._record(app, new, True)
        self._begin(rng.randint(1, 5) * 1_000_000)
        self._process_event(app, old, "STOPPED", "STARTED")  # Finalize destroys the old process
        self._record(app, old, False)
        app.live = [new, *app.live[1:]]
        for p in app.live[1:]:  # ProcessRestart of each non-web process
            self._begin()
            self._process_event(app, p, "STOPPED", "STARTED")
            self._record(app, p, False)
            self._process_event(app, p, "STARTED", "STOPPED")
            self._record(app, p, True)

    # -- tasks -------------------------------------------------------------------

    def _create_task(self, app: AppState) -> int:
        memory = self.rng.choice((256, 512, 1024))
        app.task_sequence += 1
        task = self.timeline.new_task(app.index, memory, app.task_sequence, self.tx)
        app.tasks.append(task)
        return task

    def _start_task(self, app: AppState, task: int) -> None:
        memory = self.timeline.t_memory[task]
        self._emit(app, "TASK_STARTED", "PENDING", sizes=(memory, memory, 1, 1), task=task)
        self.timeline.task_started(task, self.tx)

    def _stop_task(self, app: AppState, task: int) -> None:
        memory = self.timeline.t_memory[task]
        self._begin()
        self._emit(app, "TASK_STOPPED", "RUNNING", sizes=(memory, memory, 1, 1), task=task)
        state = FAILED if self.rng.random() < 0.1 else SUCCEEDED
        self.timeline.task_stopped(task, self.tx, state)
        app.tasks.remove(task)

    def run_task(self, app: AppState) -> None:
        """A task: created PENDING (no event), then TASK_STARTED now or on the app's next turn."""
        self._begin()
        task = self._create_task(app)
        if self.rng.random() < 0.2:
            app.pending.append((1, lambda a: self._begin_and_start(a, task)))
        else:
            self._begin(self.rng.randint(200_000, 3_000_000))
            self._start_task(app, task)
        app.pending.append((1, lambda a: self._stop_task(a, task)))

    def _begin_and_start(self, app: AppState, task: int) -> None:
        self._begin()
        self._start_task(app, task)

    # -- deletion ------------------------------------------------------------------

    def prepare_delete(self, app: AppState) -> None:
        """Before a doomed app goes: a build in flight and a task still PENDING, then delete."""
        app.delete_at = -1
        self._begin()
        self._emit(app, "STAGING_STARTED", "STAGING", buildpack=app.staging_buildpack)
        self._create_task(app)
        cost = len(app.tasks) + (len(app.live) if app.started else 0)
        app.pending = [(cost, self.delete)]

    def delete(self, app: AppState) -> None:
        """`AppDelete`: unfinished tasks stop, the build is bulk-deleted, started processes stop."""
        self._begin()
        for task in list(app.tasks):
            memory = self.timeline.t_memory[task]
            running = self.timeline.t_started[task] != NULL
            previous = "RUNNING" if running else "PENDING"
            self._emit(app, "TASK_STOPPED", previous, sizes=(memory, memory, 1, 1), task=task)
            self.timeline.task_stopped(task, self.tx, FAILED)
        app.tasks.clear()
        if app.started:
            self._stop_processes(app)
        app.live = []
        app.pending = []
        app.deleted = True
        app.deleted_tx = self.tx

    # -- the present ---------------------------------------------------------------

    def started_processes(self) -> Iterator[tuple[int, int, int, int]]:
        """(app index, process index, memory, instances) of every started process, in creation order."""
        for app in self.apps:
            if app.started and not app.deleted:
                for p in app.live:
                    yield app.index, p, app.memory[p], app.instances[p]


def _no_new_processes(app: int, kind: str) -> int:
    raise RuntimeError("this simulator was built without a process table")
