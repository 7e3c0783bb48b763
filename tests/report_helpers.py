"""Builders for usage-report tests: v3 app usage events, snapshots and a fake ReportSource."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from cfevents.report import Opening, Snapshot, Window, usage_report
from cfevents.report.opening import Attrs, ProcessOpening, TaskOpening
from cfevents.report.timeutil import epoch

DAY0 = "2024-05-01"
FOUNDATION = "https://api.example.com"
_ids = itertools.count(1)


def ts(at: str) -> str:
    """``"01:00"`` / ``"01:00:05"`` on 2024-05-01, or a full ``YYYY-MM-DDThh:mm[:ss]Z``."""
    if "T" in at:
        return at if at.count(":") == 2 else at.replace("Z", ":00Z")
    return f"{DAY0}T{at}:00Z" if at.count(":") == 1 else f"{DAY0}T{at}Z"


def dt(at: str) -> datetime:
    return datetime.fromtimestamp(epoch(ts(at)), UTC)


def ev(
    at: str,
    proc: str | None,
    state: str,
    prev: str | None = None,
    n: tuple[int | None, int | None] = (1, 1),
    m: tuple[int | None, int | None] = (512, 512),
    *,
    app: str = "A",
    app_name: str | None = None,
    space: str = "S",
    org: str = "O",
    ptype: str | None = "web",
    task: str | None = None,
    guid: str | None = None,
) -> dict[str, Any]:
    """One v3 app usage event as CC presents it (``n``/``m`` are (previous, current))."""
    return {
        "guid": guid or f"ev-{next(_ids):06d}",
        "created_at": ts(at),
        "updated_at": ts(at),
        "state": {"current": state, "previous": prev},
        "app": {"guid": app, "name": app_name or f"app-{app}"},
        "process": {"guid": proc, "type": ptype if proc else None},
        "space": {"guid": space, "name": f"space-{space}"},
        "organization": {"guid": org},
        "buildpack": {"guid": None, "name": None},
        "task": {"guid": task, "name": f"task-{task}" if task else None},
        "memory_in_mb_per_instance": {"current": m[1], "previous": m[0]},
        "instance_count": {"current": n[1], "previous": n[0]},
    }


def task_ev(
    at: str, task: str, state: str, prev: str | None, mem: int, **kw: Any
) -> dict[str, Any]:
    return ev(at, None, state, prev, (1, 1), (mem, mem), task=task, ptype=None, **kw)


def attrs(app: str = "A", ptype: str | None = "web", space: str = "S", org: str = "O") -> Attrs:
    return Attrs(org, space, f"space-{space}", app, f"app-{app}", ptype)


def file_opening(
    t0: str,
    processes: Mapping[str, tuple[int, int]] | None = None,
    *,
    app: str = "A",
    apps: Mapping[str, str] | None = None,
    tasks: Mapping[str, int] | None = None,
) -> Opening:
    """A state-file opening as of ``t0``: running processes {guid: (instances, memory)}."""
    opening = Opening(source="file", tentative=False, as_of=epoch(ts(t0)), foundation=FOUNDATION)
    for guid, (n, m) in (processes or {}).items():
        opening.processes[guid] = ProcessOpening(
            True, n, m, attrs((apps or {}).get(guid, app)), source="file"
        )
    for guid, mem in (tasks or {}).items():
        opening.tasks[guid] = TaskOpening(mem, attrs(app, None))
    return opening


def snapshot(
    processes: Iterable[tuple[str, str, int, int]] = (),
    *,
    stopped_apps: Iterable[str] = (),
    running_tasks: Iterable[tuple[str, str, int]] = (),
) -> Snapshot:
    """Processes (guid, app, instances, memory) of STARTED apps (unless in stopped_apps)."""
    procs = list(processes)
    stopped = set(stopped_apps)
    app_guids = sorted({p[1] for p in procs} | stopped)
    return Snapshot(
        apps=[
            {
                "guid": a,
                "name": f"app-{a}",
                "state": "STOPPED" if a in stopped else "STARTED",
                "relationships": {"space": {"data": {"guid": "S"}}},
            }
            for a in app_guids
        ],
        processes=[
            {
                "guid": g,
                "type": "web",
                "instances": n,
                "memory_in_mb": mem,
                "relationships": {"app": {"data": {"guid": a}}},
            }
            for g, a, n, mem in procs
        ],
        tasks=[
            {
                "guid": g,
                "name": f"task-{g}",
                "state": "RUNNING",
                "memory_in_mb": mem,
                "relationships": {"app": {"data": {"guid": a}}},
            }
            for g, a, mem in running_tasks
        ],
        spaces=[
            {
                "guid": "S",
                "name": "space-S",
                "relationships": {"organization": {"data": {"guid": "O"}}},
            }
        ],
    )


class FakeSource:
    """A ReportSource over a list of events; records the order of the calls."""

    foundation = FOUNDATION

    def __init__(
        self,
        events: Iterable[Mapping[str, Any]] = (),
        snap: Snapshot | None = None,
        *,
        oldest: str | None = "2024-04-01T00:00:00Z",
        oldest_event: Mapping[str, Any] | None = None,
        orgs: Mapping[str, str] | None = None,
    ) -> None:
        self.events = list(events)
        self.snap = snap or Snapshot()
        self.oldest = oldest
        self.oldest_ev = oldest_event
        self.orgs = dict(orgs or {"O": "org-one"})
        self.calls: list[str] = []

    def snapshot(self) -> Snapshot:
        self.calls.append("snapshot")
        return self.snap

    def oldest_event(self) -> Mapping[str, Any] | None:
        self.calls.append("oldest")
        if self.oldest_ev is not None:
            return self.oldest_ev
        if self.oldest is None:
            return None
        return {"guid": "oldest", "created_at": self.oldest, "process": {"guid": "x"}}

    def events_since(self, start: datetime) -> Iterator[Mapping[str, Any]]:
        self.calls.append("events")
        floor = int(start.timestamp())
        for event in self.events:
            if epoch(str(event["created_at"])) >= floor:
                yield event

    def org_names(self, guids: Iterable[str]) -> Mapping[str, str]:
        self.calls.append("orgs")
        return {g: self.orgs[g] for g in guids if g in self.orgs}


WINDOW = Window(dt("2024-05-01T00:00:00Z"), dt("2024-05-02T00:00:00Z"))
LATER = dt("2024-05-03T00:00:00Z")  # a "now" well past the window: E = T1


def report(
    events: Iterable[Mapping[str, Any]] = (),
    *,
    opening: Any = "events",
    snap: Snapshot | None = None,
    by: str = "process",
    window: Window = WINDOW,
    now: datetime = LATER,
    **kw: Any,
) -> Any:
    source = FakeSource(events, snap)
    return usage_report(source, window, by=by, opening=opening, now=now, **kw)


def row(rep: Any, **match: Any) -> dict[str, Any]:
    """The one row whose keys equal ``match``."""
    found = [r for r in rep.rows if all(r.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, rep.rows)
    return found[0]


def hours(seconds: int) -> float:
    return seconds / 3600


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)
