"""Compact column store for app usage events, with Cloud Controller query semantics.

One row per event, kept in `array` columns (about 40 bytes a row), so a million
events fit in modest memory. Dicts are rendered only for the rows of a page.

Rows are kept in id order (the table's primary key). `created_at` is stored in
microseconds and is *mostly* increasing in id order; a prefix-maximum and a
suffix-minimum column let a time window be answered with two binary searches
plus a scan of the few rows near its edges whose timestamps are out of order.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any

STATES = (
    "STARTED",
    "STOPPED",
    "BUILDPACK_SET",
    "TASK_STARTED",
    "TASK_STOPPED",
    "STAGING_STARTED",
    "STAGING_STOPPED",
    # Only ever seen as a *previous* state: a task's or build's model state.
    "RUNNING",
    "STAGING",
    "STAGED",
    "PENDING",
)
STATE_INDEX = {name: i for i, name in enumerate(STATES)}
NULL = -1

#: One whole second in microseconds: v3 widens bounds by 0.999999 s, i.e. to the next second.
SECOND_US = 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

TASK_NAMES = ("db-migrate", "send-invoices", "reindex", "cleanup-sessions", "nightly-report")


@dataclass(frozen=True, slots=True)
class AppRef:
    """What a usage event row needs to know about its app (denormalised, like the CC table)."""

    guid: str
    name: str
    space_guid: str
    space_name: str
    org_guid: str
    #: Every process the app ever had, (guid, type), in creation order; rows index into it.
    processes: list[tuple[str, str]]


def iso_second(us: int) -> str:
    """Render microseconds since the epoch the way CC does: whole seconds, UTC, `Z`."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(us // SECOND_US))


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    delta = moment.astimezone(UTC) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * SECOND_US + delta.microseconds


def from_us(us: int) -> datetime:
    """The UTC datetime of microseconds since the epoch."""
    return EPOCH + timedelta(microseconds=us)


def uuid_from_digest(digest: bytes) -> str:
    """Format 16 bytes as a version-4-looking UUID string."""
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[digest[8] & 3]}{h[17:20]}-{h[20:32]}"


class Selection:
    """The rows matching a query, as ordered segments of positions.

    Each segment is a `range` or a sorted `list`; with `perm` set, the segments
    index into that permutation (created_at order) instead of the table.
    """

    def __init__(self, segments: list[Sequence[int]], perm: Sequence[int] | None = None) -> None:
        self.segments = [s for s in segments if len(s)]
        self.perm = perm

    def __len__(self) -> int:
        return sum(len(s) for s in self.segments)

    def page(self, offset: int, limit: int, descending: bool = False) -> list[int]:
        """Return the table positions of rows `offset`..`offset+limit` in this order."""
        out: list[int] = []
        for seg in reversed(self.segments) if descending else self.segments:
            size = len(seg)
            if offset >= size:
                offset -= size
                continue
            want = limit - len(out)
            if descending:
                end = size - offset
                out.extend(reversed(seg[max(0, end - want) : end]))
            else:
                out.extend(seg[offset : offset + want])
            offset = 0
            if len(out) >= limit:
                break
        perm = self.perm
        return out if perm is None else [perm[i] for i in out]


class UsageEventStore:
    """The app_usage_events table: columns, guid scheme, filters and presenters."""

    def __init__(
        self,
        key: bytes,
        apps: Sequence[AppRef],
        buildpacks: Sequence[tuple[str | None, str | None]],
    ) -> None:
        self.key = key
        self.apps = list(apps)
        self.buildpacks = list(buildpacks)
        self.ids = array("q")
        self.created = array("q")
        self.state = array("b")
        self.prev_state = array("b")
        self.app = array("h")
        self.process = array("i")
        self.memory = array("i")
        self.prev_memory = array("i")
        self.instances = array("i")
        self.prev_instances = array("i")
        self.buildpack = array("b")
        self.task = array("i")
        #: Reseeded rows reuse their process guid as event guid (and lack process_type).
        self.reseeded: dict[int, str] = {}
        self.reseeded_by_guid: dict[str, int] = {}
        #: Rows of an app's first web process (whose guid is the app's) with an id below this
        #: were written by an older CC, before v3 added the parent app columns: v3 `app` guid
        #: and name null, v2 `parent_app_*` null. Task, build and other processes' rows came
        #: with v3, which always fills them.
        self.appless_before_id = 0
        self.next_id = 1
        self._prefix_max = array("q")
        self._suffix_min = array("q")
        self._created_order: array[int] | None = None
        self._json_fragments: dict[str, Any] | None = None

    # -- writing ---------------------------------------------------------------

    def _columns(self) -> tuple[array[int], ...]:
        return (
            self.ids,
            self.created,
            self.state,
            self.prev_state,
            self.app,
            self.process,
            self.memory,
            self.prev_memory,
            self.instances,
            self.prev_instances,
            self.buildpack,
            self.task,
        )

    def add(
        self,
        state: int,
        prev_state: int,
        app: int,
        process: int,
        memory: int,
        prev_memory: int,
        instances: int,
        prev_instances: int,
        buildpack: int,
        task: int,
    ) -> int:
        """Write every column but created_at for a new row (NULL is -1); return its id.

        The bulk loader fills `created` afterwards and then calls `reindex()`;
        live inserts call `stamp_new_rows()`.
        """
        event_id = self.next_id
        self.next_id += 1
        self.ids.append(event_id)
        self.state.append(state)
        self.prev_state.append(prev_state)
        self.app.append(app)
        self.process.append(process)
        self.memory.append(memory)
        self.prev_memory.append(prev_memory)
        self.instances.append(instances)
        self.prev_instances.append(prev_instances)
        self.buildpack.append(buildpack)
        self.task.append(task)
        return event_id

    def stamp_new_rows(self, created_us: int) -> None:
        """Give every row written by `add()` since the last stamp this created_at."""
        while len(self.created) < len(self.ids):
            self.created.append(created_us)
            self._note_appended(created_us)

    def _note_appended(self, created_us: int) -> None:
        pmax, smin = self._prefix_max, self._suffix_min
        pmax.append(max(pmax[-1], created_us) if pmax else created_us)
        smin.append(created_us)
        i = len(smin) - 2
        while i >= 0 and smin[i] > created_us:
            smin[i] = created_us
            i -= 1
        self._created_order = None

    def reindex(self) -> None:
        """Rebuild the derived columns after a bulk load or a delete."""
        self._prefix_max = array("q", accumulate(self.created, max))
        rev_min = array("q", accumulate(reversed(self.created), min))
        rev_min.reverse()
        self._suffix_min = rev_min
        self._created_order = None

    def keep_only(self, positions: Iterable[int]) -> None:
        """Delete every row whose position is not in `positions` (sorted ascending)."""
        keep = list(positions)
        for col in self._columns():
            kept = array(col.typecode, [col[p] for p in keep])
            del col[:]
            col.extend(kept)
        live = set(self.ids)
        for event_id in [i for i in self.reseeded if i not in live]:
            del self.reseeded_by_guid[self.reseeded.pop(event_id)]
        self.reindex()

    def detach_tail(self, count: int) -> list[tuple[int, ...]]:
        """Remove the last `count` rows and return them whole (every column, id first)."""
        columns = self._columns()
        start = len(self.ids) - count
        rows = list(zip(*(col[start:] for col in columns), strict=True))
        for col in columns:
            del col[start:]
        self.reindex()
        return rows

    def attach(self, rows: list[tuple[int, ...]]) -> None:
        """Put detached rows back, each at its id's place (they may be older than the tail)."""
        if not rows:
            return
        columns = self._columns()
        first = bisect_left(self.ids, min(row[0] for row in rows))
        for row in rows:
            for col, value in zip(columns, row, strict=True):
                col.append(value)
        order = sorted(range(first, len(self.ids)), key=self.ids.__getitem__)
        for col in columns:
            col[first:] = array(col.typecode, [col[p] for p in order])
        self.reindex()

    def truncate(self) -> None:
        """Delete all rows; ids continue after the old maximum (no RESTART IDENTITY)."""
        self.keep_only(())

    def add_process(self, app: int, guid: str, kind: str) -> int:
        """A new process of app number `app` (a deployment's); returns its index."""
        processes = self.apps[app].processes
        processes.append((guid, kind))
        if self._json_fragments is not None:
            self._json_fragments["processes"][app].append(_dumps({"guid": guid, "type": kind}))
            self._json_fragments["reseeded"][app].append(_dumps({"guid": guid, "type": None}))
        return len(processes) - 1

    # -- lookup ----------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.ids)

    def appless(self, pos: int) -> bool:
        """Whether the row at `pos` is an older CC's row of an app's first web process."""
        return self.ids[pos] < self.appless_before_id and self.process[pos] == 0

    def guid(self, pos: int) -> str:
        """The guid of the row at `pos`."""
        event_id = self.ids[pos]
        return self.reseeded.get(event_id) or self.guid_for_id(event_id)

    def guid_for_id(self, event_id: int) -> str:
        """The generated guid of an id: a keyed checksum, then the id itself in hex."""
        digest = hashlib.blake2b(event_id.to_bytes(8, "big"), key=self.key, digest_size=16).digest()
        h = digest.hex()
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[digest[8] & 3]}{h[17:20]}-{event_id:012x}"

    def position_of_id(self, event_id: int) -> int | None:
        """The position of an id, or None if no such row exists."""
        pos = bisect_left(self.ids, event_id)
        return pos if pos < len(self.ids) and self.ids[pos] == event_id else None

    def find(self, guid: str) -> int | None:
        """The position of the row with this guid, or None."""
        event_id = self.reseeded_by_guid.get(guid)
        if event_id is None:
            event_id = self._decode_guid(guid)
            if event_id is None or event_id in self.reseeded:
                return None
        return self.position_of_id(event_id)

    def _decode_guid(self, guid: str) -> int | None:
        tail = guid[-12:]
        if len(guid) != 36 or not all(c in "0123456789abcdef" for c in tail):
            return None
        event_id = int(tail, 16)
        return event_id if self.guid_for_id(event_id) == guid else None

    # -- querying --------------------------------------------------------------

    def select_by_id(
        self, start: int, windows: list[tuple[int, int]] | None, guids: list[str] | None
    ) -> Selection:
        """Rows at positions >= `start`, in any of `windows` ([lo, hi) µs), with one of `guids`."""
        if guids is not None:
            return Selection([self._guid_positions(guids, start, windows)])
        if windows is None:
            return Selection([range(start, len(self.ids))])
        segments: list[Sequence[int]] = []
        last = -1
        for lo, hi in merge_windows(windows):
            for seg in self._window_segments(lo, hi, start):
                if len(seg) and seg[0] <= last:
                    return Selection([self._union(windows, start)])
                if len(seg):
                    segments.append(seg)
                    last = seg[-1]
        return Selection(segments)

    def select_by_created(
        self, start: int, windows: list[tuple[int, int]] | None, guids: list[str] | None
    ) -> Selection:
        """Like `select_by_id`, ordered by (created_at, guid) as `order_by=created_at` is."""
        if guids is not None:
            rows = self._guid_positions(guids, start, windows)
            return Selection([sorted(rows, key=lambda p: (self.created[p], self.guid(p)))])
        perm = self.created_order()
        key = self.created.__getitem__
        bounds = merge_windows(windows) if windows is not None else [(-(2**62), 2**62)]
        spans = [
            range(bisect_left(perm, lo, key=key), bisect_left(perm, hi, key=key))
            for lo, hi in bounds
        ]
        if start == 0:
            return Selection(list(spans), perm)
        return Selection([[perm[i] for span in spans for i in span if perm[i] >= start]])

    def created_order(self) -> array[int]:
        """Positions sorted by (created_at, guid); computed once per table change."""
        if self._created_order is None:
            created = self.created
            order = sorted(range(len(created)), key=created.__getitem__)
            self._created_order = array("q", self._break_ties(order))
        return self._created_order

    def _break_ties(self, order: list[int]) -> list[int]:
        created = self.created
        i, n = 0, len(order)
        while i < n:
            j = i + 1
            while j < n and created[order[j]] == created[order[i]]:
                j += 1
            if j - i > 1:
                order[i:j] = sorted(order[i:j], key=self.guid)
            i = j
        return order

    def _guid_positions(
        self, guids: list[str], start: int, windows: list[tuple[int, int]] | None
    ) -> list[int]:
        found = {p for p in map(self.find, guids) if p is not None and p >= start}
        if windows is not None:
            found = {p for p in found if in_windows(self.created[p], windows)}
        return sorted(found)

    def _window_segments(self, lo: int, hi: int, start: int) -> list[Sequence[int]]:
        pmax, smin, created = self._prefix_max, self._suffix_min, self.created
        first = max(bisect_left(pmax, lo), start)  # before: every created_at < lo
        stop = bisect_left(smin, hi)  # from here: every created_at >= hi
        if first >= stop:
            return []
        core_lo = max(first, bisect_left(smin, lo))  # from here: created_at >= lo
        core_hi = min(stop, bisect_left(pmax, hi))  # before here: created_at < hi
        if core_lo >= core_hi:
            return [[p for p in range(first, stop) if lo <= created[p] < hi]]
        return [
            [p for p in range(first, core_lo) if lo <= created[p] < hi],
            range(core_lo, core_hi),
            [p for p in range(core_hi, stop) if lo <= created[p] < hi],
        ]

    def _union(self, windows: list[tuple[int, int]], start: int) -> list[int]:
        found: set[int] = set()
        for lo, hi in windows:
            for seg in self._window_segments(lo, hi, start):
                found.update(seg)
        return sorted(found)

    # -- presenting ------------------------------------------------------------

    def task_guid(self, task: int) -> str:
        """The deterministic guid of task number `task`."""
        return uuid_from_digest(
            hashlib.blake2b(b"task%d" % task, key=self.key, digest_size=16).digest()
        )

    def _fields(self, pos: int) -> dict[str, Any]:
        """Every column of the row at `pos` under its CC column name."""
        app = self.apps[self.app[pos]]
        process, task = self.process[pos], self.task[pos]
        reseeded = self.ids[pos] in self.reseeded
        process_guid, process_type = app.processes[process] if process != NULL else ("", None)
        bp_guid, bp_name = self.buildpacks[self.buildpack[pos]]
        prev = self.prev_state[pos]
        if reseeded:
            package_state, prev_package_state = "STAGED", "UNKNOWN"
        elif task != NULL:
            package_state = prev_package_state = "STAGED"
        elif process != NULL:
            package_state, prev_package_state = "STAGED", "UNKNOWN"
        else:
            package_state = prev_package_state = "READY"
        appless = self.appless(pos)
        return {
            "appless": appless,
            "state": STATES[self.state[pos]],
            "previous_state": None if prev == NULL else STATES[prev],
            "memory": self.memory[pos],
            "prev_memory": _maybe(self.prev_memory[pos]),
            "instances": self.instances[pos],
            "prev_instances": _maybe(self.prev_instances[pos]),
            "process_guid": process_guid,
            "process_type": None if reseeded else process_type,
            "buildpack_guid": bp_guid,
            "buildpack_name": bp_name,
            "task_guid": None if task == NULL else self.task_guid(task),
            "task_name": None if task == NULL else TASK_NAMES[task % len(TASK_NAMES)],
            "package_state": package_state,
            "previous_package_state": prev_package_state,
            "app": app,
        }

    def present_v3(self, pos: int, base_url: str) -> dict[str, Any]:
        """The v3 presenter (`AppUsageEventPresenter`): updated_at is created_at."""
        f = self._fields(pos)
        app: AppRef = f["app"]
        guid = self.guid(pos)
        stamp = iso_second(self.created[pos])
        return {
            "guid": guid,
            "created_at": stamp,
            "updated_at": stamp,
            "state": {"current": f["state"], "previous": f["previous_state"]},
            "app": {"guid": None, "name": None}
            if f["appless"]
            else {"guid": app.guid, "name": app.name},
            "process": {"guid": f["process_guid"] or None, "type": f["process_type"]},
            "space": {"guid": app.space_guid, "name": app.space_name},
            "organization": {"guid": app.org_guid},
            "buildpack": {"guid": f["buildpack_guid"], "name": f["buildpack_name"]},
            "task": {"guid": f["task_guid"], "name": f["task_name"]},
            "memory_in_mb_per_instance": {"current": f["memory"], "previous": f["prev_memory"]},
            "instance_count": {"current": f["instances"], "previous": f["prev_instances"]},
            "links": {"self": {"href": f"{base_url}/v3/app_usage_events/{guid}"}},
        }

    def render_v3_json(self, positions: Iterable[int], base_url: str) -> str:
        """`present_v3` of several rows as compact JSON array items, without building dicts.

        A 5000-row page is the hot path of bulk exports; splicing pre-encoded
        fragments is about three times faster than `json.dumps` of dicts, and
        produces exactly the same bytes.
        """
        fragments = self._fragments()
        href = _dumps(f"{base_url}/v3/app_usage_events/")[:-1]
        states = fragments["states"]
        out = []
        for pos in positions:
            a, process, task = self.app[pos], self.process[pos], self.task[pos]
            guid = self.guid(pos)
            stamp = iso_second(self.created[pos])
            if process == NULL:
                process_json = '{"guid":null,"type":null}'
            elif self.ids[pos] in self.reseeded:
                process_json = fragments["reseeded"][a][process]
            else:
                process_json = fragments["processes"][a][process]
            task_json = '{"guid":null,"name":null}'
            app_json = fragments["apps"][a]
            if self.appless(pos):
                app_json = '"app":{"guid":null,"name":null}'
            if task != NULL:
                task_json = _dumps(
                    {"guid": self.task_guid(task), "name": TASK_NAMES[task % len(TASK_NAMES)]}
                )
            out.append(
                f'{{"guid":"{guid}","created_at":"{stamp}","updated_at":"{stamp}",'
                f'"state":{{"current":{states[self.state[pos]]},"previous":{states[self.prev_state[pos]]}}},'
                f'{app_json},"process":{process_json},{fragments["places"][a]},'
                f'"buildpack":{fragments["buildpacks"][self.buildpack[pos]]},"task":{task_json},'
                f'"memory_in_mb_per_instance":{{"current":{self.memory[pos]},'
                f'"previous":{_number(self.prev_memory[pos])}}},'
                f'"instance_count":{{"current":{self.instances[pos]},'
                f'"previous":{_number(self.prev_instances[pos])}}},'
                f'"links":{{"self":{{"href":{href}{guid}"}}}}}}'
            )
        return ",".join(out)

    def _fragments(self) -> dict[str, Any]:
        """Pre-encoded JSON pieces per app, process, buildpack and state."""
        if self._json_fragments is None:
            apps = self.apps
            states = [_dumps(name) for name in STATES]
            self._json_fragments = {
                "states": [*states, "null"],  # index -1 (NULL) is JSON null
                "apps": [_dumps({"app": {"guid": a.guid, "name": a.name}})[1:-1] for a in apps],
                "places": [
                    _dumps(
                        {
                            "space": {"guid": a.space_guid, "name": a.space_name},
                            "organization": {"guid": a.org_guid},
                        }
                    )[1:-1]
                    for a in apps
                ],
                "processes": [
                    [_dumps({"guid": g, "type": t}) for g, t in a.processes] for a in apps
                ],
                "reseeded": [
                    [_dumps({"guid": g, "type": None}) for g, _ in a.processes] for a in apps
                ],
                "buildpacks": [_dumps({"guid": g, "name": n}) for g, n in self.buildpacks],
            }
        return self._json_fragments

    def present_v2(self, pos: int) -> dict[str, Any]:
        """The v2 presenter: metadata without updated_at, entity keys in CC's order."""
        f = self._fields(pos)
        app: AppRef = f["app"]
        guid = self.guid(pos)
        process_row = bool(f["process_guid"])
        return {
            "metadata": {
                "guid": guid,
                "url": f"/v2/app_usage_events/{guid}",
                "created_at": iso_second(self.created[pos]),
            },
            "entity": {
                "state": f["state"],
                "previous_state": f["previous_state"],
                "memory_in_mb_per_instance": f["memory"],
                "previous_memory_in_mb_per_instance": f["prev_memory"],
                "instance_count": f["instances"],
                "previous_instance_count": f["prev_instances"],
                "app_guid": f["process_guid"],
                "app_name": app.name if process_row else "",
                "space_guid": app.space_guid,
                "space_name": app.space_name,
                "org_guid": app.org_guid,
                "buildpack_guid": f["buildpack_guid"],
                "buildpack_name": f["buildpack_name"],
                "package_state": f["package_state"],
                "previous_package_state": f["previous_package_state"],
                "parent_app_guid": None if f["appless"] else app.guid,
                "parent_app_name": None if f["appless"] else app.name,
                "process_type": f["process_type"],
                "task_name": f["task_name"],
                "task_guid": f["task_guid"],
            },
        }


def merge_windows(windows: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sort half-open windows and merge the overlapping ones."""
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(w for w in windows if w[0] < w[1]):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def in_windows(value: int, windows: Iterable[tuple[int, int]]) -> bool:
    """Whether `value` lies in any of the half-open windows."""
    return any(lo <= value < hi for lo, hi in windows)


def _dumps(value: Any) -> str:
    """JSON as CC sends it: UTF-8, with a lone surrogate (a name no UTF-8 can hold) as its
    ``\\udnnn`` escape, the one way JSON can carry it."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if not text.isascii() and _LONE_SURROGATE.search(text):
        text = _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _number(value: int) -> str:
    return "null" if value == NULL else str(value)


def _maybe(value: int) -> int | None:
    return None if value == NULL else value
