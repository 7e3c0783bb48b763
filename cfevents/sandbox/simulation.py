"""The usage-event simulation: what each app does, and which rows CC writes for it.

The row shapes follow `AppUsageEventRepository`: process events (`create_from_process`),
task events (`create_from_task`, previous state RUNNING) and build events
(`create_from_build`, no process, the staging memory).
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from cfevents.sandbox.store import NULL, STATE_INDEX, UsageEventStore

STAGING_MEMORY = 1024
S = STATE_INDEX  # short alias for the state codes used by the simulation


@dataclass(slots=True)
class AppState:
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
    pending: list[Callable[[AppState], None]] = field(default_factory=list)


class Simulator:
    """Emits usage events app by app, the way CC's repositories write them.

    Every action is a *burst* (rows written within milliseconds); `gaps`
    records, per row, either a negative weight (a burst starts after an idle
    gap of that relative length) or the microseconds since the previous row.
    """

    def __init__(self, rng: random.Random, store: UsageEventStore, apps: list[AppState]) -> None:
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

    def step(self, app: AppState) -> None:
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
        self, app: AppState, actions: tuple[tuple[float, Callable[[AppState], None]], ...]
    ) -> None:
        r = self.rng.random()
        for bound, action in actions:
            if r < bound:
                action(app)
                return

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
        self, app: AppState, p: int, state: str, prev: str, old: tuple[int, int] | None = None
    ) -> None:
        """A process row; `old` is (memory, instances) before a scale, else unchanged."""
        mem, inst = app.memory[p], app.instances[p]
        prev_mem, prev_inst = old or (mem, inst)
        if app.fresh:
            self._emit(app, state, None, p, (mem, NULL, inst, NULL), app.buildpack)
        else:
            self._emit(app, state, prev, p, (mem, prev_mem, inst, prev_inst), app.buildpack)

    def stage(self, app: AppState, start: bool) -> None:
        """A build: STAGING_STARTED now, STAGING_STOPPED (and more) on the app's next turn."""
        self._emit(app, "STAGING_STARTED", "STAGING", buildpack=app.staging_buildpack)
        app.pending.append(lambda a: self.finish_staging(a, start))

    def finish_staging(self, app: AppState, start: bool) -> None:
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

    def start(self, app: AppState) -> None:
        """STARTED for every process; the very first start has no previous values."""
        for p in range(app.processes):
            self._process_event(app, p, "STARTED", "STOPPED")
        app.started, app.fresh = True, False

    def stop(self, app: AppState) -> None:
        """STOPPED for every process."""
        for p in range(app.processes):
            self._process_event(app, p, "STOPPED", "STARTED")
        app.started = False

    def restart(self, app: AppState) -> None:
        """A stop and a start in one burst."""
        self.stop(app)
        self.start(app)

    def restage(self, app: AppState) -> None:
        """Stop if running, then stage with start."""
        if app.started:
            self.stop(app)
        self.stage(app, start=True)

    def scale(self, app: AppState) -> None:
        """Change one process's instance count (STARTED -> STARTED)."""
        p = self.rng.randrange(app.processes)
        old = (app.memory[p], app.instances[p])
        choices = [n for n in (1, 2, 3, 4, 6, 10) if n != app.instances[p]]
        app.instances[p] = self.rng.choice(choices)
        self._process_event(app, p, "STARTED", "STARTED", old)

    def resize(self, app: AppState) -> None:
        """Change one process's memory (STARTED -> STARTED)."""
        p = self.rng.randrange(app.processes)
        old = (app.memory[p], app.instances[p])
        app.memory[p] = self.rng.choice([m for m in (256, 512, 1024, 2048) if m != app.memory[p]])
        self._process_event(app, p, "STARTED", "STARTED", old)

    def run_task(self, app: AppState) -> None:
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
