"""The state at T0: from a snapshot of ``/v3/apps`` + ``/v3/processes`` + running tasks, or from a
closing-state file written by an earlier report (docs/accounting.md §2.3, §2.12).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfevents.errors import UsageError
from cfevents.files import OutputTarget, atomic_write, check_output
from cfevents.report.timeutil import epoch, iso

STATE_FORMAT = 1


@dataclass(slots=True)
class Attrs:
    """Where a process or task belongs: the grouping attributes (names are the last seen)."""

    org_guid: str | None = None
    space_guid: str | None = None
    space_name: str | None = None
    app_guid: str | None = None
    app_name: str | None = None
    process_type: str | None = None


@dataclass(slots=True)
class ProcessOpening:
    """One process at T0."""

    running: bool
    instances: int | None
    memory_mb: int | None
    attrs: Attrs
    since: int | None = None  # when its current segment opened (file only; informational)
    source: str = "snapshot"


@dataclass(slots=True)
class TaskOpening:
    """One task running at T0 (``since`` None: started before the fetch, time unknown)."""

    memory_mb: int | None
    attrs: Attrs
    since: int | None = None
    name: str | None = None


@dataclass
class Opening:
    """The opening state handed to the engine.

    ``tentative`` (snapshot): a process's first event in the fetch overrides its entry, because
    the snapshot describes *now*, not T0. Otherwise (state file) the entries are the state at
    ``as_of`` and events before it are skipped.
    """

    source: str
    processes: dict[str, ProcessOpening] = field(default_factory=dict)
    tasks: dict[str, TaskOpening] = field(default_factory=dict)
    tentative: bool = True
    as_of: int | None = None
    foundation: str | None = None
    last_event_guid: str | None = None


def _rel(resource: Mapping[str, Any], name: str) -> str | None:
    rel = resource.get("relationships") or {}
    data = (rel.get(name) or {}).get("data") or {}
    guid = data.get("guid")
    return str(guid) if guid else None


@dataclass
class Snapshot:
    """``/v3/apps``, ``/v3/processes``, ``/v3/tasks?states=RUNNING`` (and optionally
    ``/v3/spaces``), read BEFORE the events."""

    apps: Sequence[Mapping[str, Any]] = field(default_factory=list)
    processes: Sequence[Mapping[str, Any]] = field(default_factory=list)
    tasks: Sequence[Mapping[str, Any]] = field(default_factory=list)
    spaces: Sequence[Mapping[str, Any]] = field(default_factory=list)

    def opening(self) -> Opening:
        """Every process as the snapshot shows it, and every RUNNING task."""
        spaces = {str(s["guid"]): s for s in self.spaces}
        apps: dict[str, Attrs] = {}
        started: dict[str, bool] = {}
        for app in self.apps:
            guid = str(app["guid"])
            space_guid = _rel(app, "space")
            space = spaces.get(space_guid or "")
            apps[guid] = Attrs(
                org_guid=_rel(space, "organization") if space else None,
                space_guid=space_guid,
                space_name=str(space["name"]) if space and space.get("name") else None,
                app_guid=guid,
                app_name=app.get("name"),
            )
            started[guid] = app.get("state") == "STARTED"
        opening = Opening(source="snapshot", tentative=True)
        for proc in self.processes:
            app_guid = _rel(proc, "app")
            base = apps.get(app_guid or "", Attrs(app_guid=app_guid))
            attrs = Attrs(
                base.org_guid,
                base.space_guid,
                base.space_name,
                base.app_guid,
                base.app_name,
                proc.get("type"),
            )
            opening.processes[str(proc["guid"])] = ProcessOpening(
                running=started.get(app_guid or "", False),
                instances=proc.get("instances"),
                memory_mb=proc.get("memory_in_mb"),
                attrs=attrs,
            )
        for task in self.tasks:
            if task.get("state", "RUNNING") != "RUNNING":
                continue
            app_guid = _rel(task, "app")
            base = apps.get(app_guid or "", Attrs(app_guid=app_guid))
            opening.tasks[str(task["guid"])] = TaskOpening(
                memory_mb=task.get("memory_in_mb"),
                attrs=Attrs(
                    base.org_guid, base.space_guid, base.space_name, app_guid, base.app_name
                ),
                name=task.get("name"),
            )
        return opening

    def started(self) -> Iterable[tuple[str, int]]:
        """(process guid, instances) of every process of a STARTED app."""
        started = {str(a["guid"]) for a in self.apps if a.get("state") == "STARTED"}
        for proc in self.processes:
            if _rel(proc, "app") in started:
                yield str(proc["guid"]), int(proc.get("instances") or 0)


# --- closing-state file (docs/accounting.md §2.12) -------------------------------------------------------------


def _attrs_json(attrs: Attrs) -> dict[str, Any]:
    return {
        "org_guid": attrs.org_guid,
        "space_guid": attrs.space_guid,
        "space_name": attrs.space_name,
        "app_guid": attrs.app_guid,
        "app_name": attrs.app_name,
    }


def state_to_json(opening: Opening) -> dict[str, Any]:
    """The closing state in the docs/accounting.md §2.12 layout (plus ``format``)."""
    if opening.as_of is None:
        raise ValueError("a closing state needs as_of")
    processes: dict[str, Any] = {}
    for guid, p in opening.processes.items():
        entry: dict[str, Any] = {
            "running": p.running,
            "instances": p.instances,
            "memory_mb": p.memory_mb,
            "since": iso(p.since) if p.since is not None else None,
            **_attrs_json(p.attrs),
            "type": p.attrs.process_type,
            "source": p.source,
        }
        processes[guid] = entry
    tasks = {
        guid: {
            "since": iso(t.since) if t.since is not None else None,
            "memory_mb": t.memory_mb,
            "name": t.name,
            **_attrs_json(t.attrs),
        }
        for guid, t in opening.tasks.items()
    }
    return {
        "format": STATE_FORMAT,
        "as_of": iso(opening.as_of),
        "foundation": opening.foundation,
        "last_event_guid": opening.last_event_guid,
        "processes": processes,
        "tasks": tasks,
        "services": {},
    }


def write_state(
    path: str | os.PathLike[str] | OutputTarget, state: Mapping[str, Any], *, force: bool = False
) -> None:
    """Write a closing-state file atomically (cfevents.files: a temporary file fsynced and
    renamed over the target; a non-empty file only with ``force``). Check the target with
    :func:`cfevents.files.check_output` before the report runs and pass that here."""
    target = (
        path
        if isinstance(path, OutputTarget)
        else check_output(path, param="save_state", force=force)
    )
    atomic_write(target, json.dumps(state, indent=1, sort_keys=True) + "\n")


def _int_or_none(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where} is not an integer")
    if value < 0:
        raise ValueError(f"{where} is {value}: a count cannot be negative")
    return value


def _text_or_none(value: Any, where: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{where} is not a string")
    return value


def _not_after(since: int | None, as_of: int | None, where: str) -> int | None:
    if since is not None and as_of is not None and since > as_of:
        raise ValueError(f"{where} ({iso(since)}) is after as_of ({iso(as_of)})")
    return since


def _header(data: Any) -> tuple[int | None, str]:
    """as_of and foundation of a state document, after checking its format."""
    if not isinstance(data, dict) or "as_of" not in data:
        raise ValueError("not a cfevents state file (no as_of)")
    if data.get("format") != STATE_FORMAT:
        shown = json.dumps(data.get("format")) if "format" in data else "missing"
        raise ValueError(f"format is {shown}: this cfevents reads format {STATE_FORMAT}")
    foundation = data.get("foundation")
    if not isinstance(foundation, str) or not foundation:
        raise ValueError("foundation is missing: a state file names the API it is from")
    for key in ("processes", "tasks"):
        if key in data and data[key] is not None and not isinstance(data[key], dict):
            raise ValueError(
                f"{key} must be an object (guid -> entry), not {type(data[key]).__name__}"
            )
    return _time_or_none(data["as_of"], "as_of"), foundation


def _time_or_none(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{where} is not a time")
    return epoch(value)


def _attrs_from(entry: Mapping[str, Any], process_type: str | None = None) -> Attrs:
    def text(key: str) -> str | None:
        value = entry.get(key)
        return str(value) if value is not None else None

    return Attrs(
        text("org_guid"),
        text("space_guid"),
        text("space_name"),
        text("app_guid"),
        text("app_name"),
        process_type,
    )


def state_from_json(data: Any) -> Opening:
    """Parse a closing-state document; ValueError naming the field on anything malformed or
    impossible (a negative count, an unknown format, a since after as_of, no foundation)."""
    as_of, foundation = _header(data)
    opening = Opening(
        source="file",
        tentative=False,
        as_of=as_of,
        foundation=foundation,
        last_event_guid=_text_or_none(data.get("last_event_guid"), "last_event_guid"),
    )
    for guid, entry in (data.get("processes") or {}).items():
        where = f"process {guid}"
        if not isinstance(entry, dict) or not isinstance(entry.get("running"), bool):
            raise ValueError(f"{where}: running must be true or false")
        opening.processes[str(guid)] = ProcessOpening(
            running=entry["running"],
            instances=_int_or_none(entry.get("instances"), f"{where} instances"),
            memory_mb=_int_or_none(entry.get("memory_mb"), f"{where} memory_mb"),
            attrs=_attrs_from(entry, _text_or_none(entry.get("type"), f"{where} type")),
            since=_not_after(
                _time_or_none(entry.get("since"), f"{where} since"), as_of, f"{where} since"
            ),
            source=str(entry.get("source") or "file"),
        )
    for guid, entry in (data.get("tasks") or {}).items():
        if not isinstance(entry, dict):
            raise ValueError(f"task {guid} is not an object")
        opening.tasks[str(guid)] = TaskOpening(
            memory_mb=_int_or_none(entry.get("memory_mb"), f"task {guid} memory_mb"),
            attrs=_attrs_from(entry),
            since=_not_after(
                _time_or_none(entry.get("since"), f"task {guid} since"), as_of, f"task {guid} since"
            ),
            name=_text_or_none(entry.get("name"), f"task {guid} name"),
        )
    return opening


def read_state(path: str | os.PathLike[str]) -> Opening:
    """Load a closing-state file; one clear UsageError line when it cannot be used."""
    target = Path(path)
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"state file {target} does not exist") from None
    except OSError as exc:
        raise UsageError(f"cannot read state file {target}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"state file {target} is not JSON: {exc}") from None
    try:
        return state_from_json(data)
    except ValueError as exc:
        raise UsageError(f"state file {target} is not usable: {exc}") from None
