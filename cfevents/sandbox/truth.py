"""The simulation's own timeline, and the usage it implies: the truth a report is checked against.

The simulator records every change of a process's billable state (started or
not, instances, memory) and every task's start and stop *as it makes them*,
with the transaction it made them in. Transactions get their time when the
simulated month is laid out (or, live, when they happen); CC writes that time
into `created_at` at whole-second resolution, so the truth uses whole seconds
too. Nothing here reads emitted usage events: a report and a check computed from
the same events could agree and both be wrong.

Per process, a change never takes effect before the previous one (CC's row
locks serialise them), so effective times are a running maximum; this only
matters for events a test appends with an older time than earlier ones.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cfevents.sandbox.store import NULL, SECOND_US, AppRef, from_us, to_us

#: Task model states, as `/v3/tasks` shows them.
TASK_STATES = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED")
PENDING, RUNNING, SUCCEEDED, FAILED = range(4)
#: A process state the simulation records for a process that is not STARTED.
NOT_STARTED = -1
#: The transaction of a process's state before the simulated month began.
ORIGIN = -1


@dataclass(frozen=True, slots=True)
class ProcessUsage:
    """What one process consumed in a window, from the simulation's timeline.

    `instance_seconds` = Σ instances × seconds while STARTED; `memory_mb_seconds`
    = Σ instances × memory (MB) × seconds; `running_seconds` = seconds STARTED
    (with any instance count, 0 included); `max_instances` the peak instance count
    held for at least one second of the window (so after all changes of one second).
    """

    process_guid: str
    process_type: str
    app_guid: str
    app_name: str
    space_guid: str
    space_name: str
    org_guid: str
    instance_seconds: int
    memory_mb_seconds: int
    running_seconds: int
    max_instances: int


@dataclass(frozen=True, slots=True)
class TaskUsage:
    """What one task consumed in a window: its running seconds clipped to the window."""

    task_guid: str
    app_guid: str
    space_guid: str
    org_guid: str
    memory_in_mb: int
    seconds: int
    memory_mb_seconds: int
    started_at: datetime
    stopped_at: datetime | None


class Timeline:
    """Compact logs of process changes and task runs, plus the time of every transaction."""

    def __init__(self) -> None:
        #: µs time of each transaction, by transaction number.
        self.tx_times = array("q")
        # process changes: app index, process index (per app), transaction, instances or NOT_STARTED, memory
        self.p_app = array("h")
        self.p_proc = array("i")
        self.p_tx = array("i")
        self.p_instances = array("i")
        self.p_memory = array("i")
        # tasks, by task number: app, memory, per-app sequence id, transactions, state
        self.t_app = array("h")
        self.t_memory = array("i")
        self.t_sequence = array("i")
        self.t_created = array("i")
        self.t_started = array("i")
        self.t_stopped = array("i")
        self.t_state = array("b")
        #: The µs time the ORIGIN transaction stands for, per app (when the app was created).
        self.origin_us: list[int] = []

    # -- recording ---------------------------------------------------------------

    def process_change(self, app: int, process: int, tx: int, instances: int, memory: int) -> None:
        """From transaction `tx` on, the process runs `instances` (or NOT_STARTED) of `memory` MB."""
        self.p_app.append(app)
        self.p_proc.append(process)
        self.p_tx.append(tx)
        self.p_instances.append(instances)
        self.p_memory.append(memory)

    def new_task(self, app: int, memory: int, sequence: int, tx: int) -> int:
        """A task created PENDING in transaction `tx`; returns its number."""
        self.t_app.append(app)
        self.t_memory.append(memory)
        self.t_sequence.append(sequence)
        self.t_created.append(tx)
        self.t_started.append(NULL)
        self.t_stopped.append(NULL)
        self.t_state.append(PENDING)
        return len(self.t_app) - 1

    def task_started(self, task: int, tx: int) -> None:
        """PENDING -> RUNNING in transaction `tx`."""
        self.t_started[task] = tx
        self.t_state[task] = RUNNING

    def task_stopped(self, task: int, tx: int, state: int) -> None:
        """The task reached a terminal state in transaction `tx` (a PENDING one never ran)."""
        self.t_stopped[task] = tx
        self.t_state[task] = state

    # -- time ----------------------------------------------------------------------

    def time_us(self, tx: int, app: int) -> int:
        """The µs time of a transaction (ORIGIN: the app's creation)."""
        return self.origin_us[app] if tx == ORIGIN else self.tx_times[tx]

    # -- the truth -----------------------------------------------------------------

    def usage(self, apps: list[AppRef], start: datetime, end: datetime) -> dict[str, ProcessUsage]:
        """Per process guid, usage in [start, end) (bounds truncated to whole seconds).

        Only processes STARTED for some part of the window are included.
        """
        lo, hi = _bounds(start, end)
        # per process key: [effective second, instances, memory, inst-s, mb-s, running-s, max]
        acc: dict[int, list[int]] = {}
        tx_times, origin = self.tx_times, self.origin_us
        for a, p, tx, n, m in zip(
            self.p_app, self.p_proc, self.p_tx, self.p_instances, self.p_memory, strict=True
        ):
            t = (origin[a] if tx == ORIGIN else tx_times[tx]) // SECOND_US
            key = a << 32 | p
            row = acc.get(key)
            if row is None:
                acc[key] = [t, n, m, 0, 0, 0, -1]
                continue
            t = max(t, row[0])
            _accrue(row, t, lo, hi)
            row[0], row[1], row[2] = t, n, m
        out: dict[str, ProcessUsage] = {}
        for key, row in acc.items():
            _accrue(row, hi, lo, hi)
            if row[5] == 0:
                continue
            app = apps[key >> 32]
            guid, kind = app.processes[key & 0xFFFFFFFF]
            out[guid] = ProcessUsage(
                process_guid=guid,
                process_type=kind,
                app_guid=app.guid,
                app_name=app.name,
                space_guid=app.space_guid,
                space_name=app.space_name,
                org_guid=app.org_guid,
                instance_seconds=row[3],
                memory_mb_seconds=row[4],
                running_seconds=row[5],
                max_instances=max(row[6], 0),
            )
        return out

    def tasks(
        self, apps: list[AppRef], task_guid: Callable[[int], str], start: datetime, end: datetime
    ) -> dict[str, TaskUsage]:
        """Per task guid, the tasks that ran in [start, end) (a task stopped while PENDING never ran)."""
        lo, hi = _bounds(start, end)
        out: dict[str, TaskUsage] = {}
        for task in range(len(self.t_app)):
            started = self.t_started[task]
            if started == NULL:
                continue
            a = self.t_app[task]
            s = self.time_us(started, a) // SECOND_US
            stopped = self.t_stopped[task]
            e = None if stopped == NULL else max(self.time_us(stopped, a) // SECOND_US, s)
            if s >= hi or (e is not None and e <= lo and not (e == s == lo)):
                continue
            seconds = max(0, min(hi, hi if e is None else e) - max(lo, s))
            app = apps[a]
            memory = self.t_memory[task]
            out[task_guid(task)] = TaskUsage(
                task_guid=task_guid(task),
                app_guid=app.guid,
                space_guid=app.space_guid,
                org_guid=app.org_guid,
                memory_in_mb=memory,
                seconds=seconds,
                memory_mb_seconds=seconds * memory,
                started_at=from_us(s * SECOND_US),
                stopped_at=None if e is None else from_us(e * SECOND_US),
            )
        return out


def _bounds(start: datetime, end: datetime) -> tuple[int, int]:
    """Whole seconds since the epoch of two aware datetimes."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("truth windows take timezone-aware datetimes (UTC)")
    return to_us(start) // SECOND_US, to_us(end) // SECOND_US


def _accrue(row: list[int], until: int, lo: int, hi: int) -> None:
    """Add the segment [row's second, until) ∩ [lo, hi) at the row's state."""
    instances = row[1]
    if instances == NOT_STARTED:
        return
    seconds = min(until, hi) - max(row[0], lo)
    if seconds > 0:
        row[3] += instances * seconds
        row[4] += instances * row[2] * seconds
        row[5] += seconds
        row[6] = max(row[6], instances)
