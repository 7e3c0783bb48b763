"""Parallel backfill: a bounded range paged as id-ordered sub-ranges at once, written in order.

``parallel_pages`` gives exactly the events :func:`~cfevents.events.keyset.keyset_pages` gives,
in the same id order, so the export's output is byte-identical to the serial one:

1. The fixed end: ``created_ats[lt]`` = the older of ``--until`` and now minus the min-age
   guard (at least 60s). One probe round, all requests at once (``per_page=1``, no ``page``
   offset): one counts the events from the cursor to the end (``total_results``; a range of
   fewer than :data:`MIN_SPLIT_PAGES` pages is never split), and one per instant ``T`` spread
   over the span asks for the first event (in CC's id order) created at or after ``T``
   (``created_ats[gte]=T``; Cloud Controller answers it from its ``created_at`` index, and a
   later instant can only find a later event). When the events cluster in part of the span
   (the counts say so), one more round aims the instants at them.
2. Sub-range 1 runs from the cursor to the first boundary event, sub-range k from after
   boundary k-1 to boundary k (both counted by the worker's first page: the difference of their
   ``total_results`` is the sub-range's size), the last one to the end.
3. Workers keyset-page their sub-ranges concurrently (``after_guid``, never OFFSET). With a
   ``renderer`` (an export to csv, tsv, ndjson or json) each worker formats its pages itself,
   while sub-range 1 streams, into a spool file (one page at a time on disk, never a whole
   sub-range in memory); the writer then copies them out in order, so the tail of the export
   is a concatenation. The checkpoint advances only with the in-order writer.
   Each worker downloads its next page (raw bytes) while it formats the one before.
4. Each sub-range must end exactly at its boundary event with exactly its counted events.
   When one does not (events pruned or committed into the range meanwhile, a boundary gone),
   the writer warns and carries on serially from the last event it handed out: still the
   serial export's bytes.
5. What comes after the last sub-range (the live tail, younger than the guard) is paged
   serially, with read-ahead, as the serial export pages it (not when ``--until`` is older
   than the guard: the last sub-range's last request was that request).

Politeness: at most ``parallel`` (:data:`MAX_PARALLEL`) requests at once; a 429 or 503 seen by
any worker (``CFClient.on_throttle``) pauses every worker for the server's delay and halves the
concurrency for the rest of the run. Memory: per worker one decoded page and up to two raw
bodies, plus the writer's page. The
spool files live in a private temporary directory (next to ``--out``, else the system's),
removed when the export ends, fails or is stopped.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import marshal
import os
import queue
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cfevents.cc.paging import JsonGetter, Params, ReadsAhead, check_page, guid_of
from cfevents.errors import ApiError, BadResponseError, NetworkError
from cfevents.output.formatters import FormattedPage

MAX_PARALLEL = 8
MIN_SPLIT_PAGES = 4  # a range of fewer full pages is paged serially (hourly runs never split)
KEYSET_KEYS = ("after_guid", "page", "per_page", "order_by")
END_KEYS = ("created_ats[lt]", "created_ats[lte]")
START_KEYS = ("created_ats[gt]", "created_ats[gte]")
# Where the instants start when neither --since nor the checkpoint says: CC prunes usage
# events older than this by default (cc.app_usage_events.cutoff_age_in_days: 31).
RETENTION = timedelta(days=31)
UNEVEN = 1.5  # a sub-range expected to hold more than this many shares: aim the instants again
CC_TIME = "%Y-%m-%dT%H:%M:%SZ"
SPOOL_PREFIX = ".cfevents-spool-"
_TOTAL = re.compile(rb'"total_results"\s*:\s*(\d+)')
_NEXT_NULL = re.compile(rb'"next"\s*:\s*null')

#: ``renderer()`` gives a worker its own page formatter: the events of one page -> the text they
#: add to the output and how many of them it holds (client-side filters may drop some).
Renderer = Callable[[], Callable[[list[dict[str, Any]]], tuple[str, int]]]


class RangeMismatch(Exception):
    """A sub-range did not end just before its boundary event with its counted events."""


class _Stopped(Exception):
    """The pool was stopped (the writer is done or gave up)."""


@dataclass(frozen=True)
class SubRange:
    """Events after ``after`` (None: from the start) up to and including the boundary event
    ``stop`` (None: to the fixed end)."""

    index: int
    after: str | None
    stop: str | None


@dataclass(frozen=True)
class SpooledPage(FormattedPage):
    """A page a worker formatted: its output ``text`` (``count`` records), the ``read``
    events it stands for and the last of them (where the cursor goes after it)."""

    read: int
    last_guid: str
    last_created_at: str


class Gate:
    """At most ``limit`` requests at once; a throttle pauses everyone and halves the limit."""

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.active = 0
        self.resume_at = 0.0
        self.stopped = False
        self.throttles = 0
        self.clock = clock
        self.cond = threading.Condition()

    def throttled(self, status: int, delay: float) -> None:
        with self.cond:
            self.throttles += 1
            self.limit = max(1, self.limit // 2)
            self.resume_at = max(self.resume_at, self.clock() + delay)
            self.cond.notify_all()

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.cond.notify_all()

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self.cond:
            while not self.stopped:
                wait = self.resume_at - self.clock()
                if self.active < self.limit and wait <= 0:
                    break
                self.cond.wait(timeout=min(0.5, max(0.01, wait)))
            if self.stopped:
                raise _Stopped
            self.active += 1
        try:
            yield
        finally:
            with self.cond:
                self.active -= 1
                self.cond.notify_all()


# -- the probe round ----------------------------------------------------------------------------


def _cc_time(text: str) -> datetime:
    return datetime.strptime(text, CC_TIME).replace(tzinfo=UTC)


def _lower_bound(base: Params, start: str | None, end: datetime) -> datetime:
    """Where the instants start: ``--since``, the checkpoint's last event or CC's retention,
    whichever is latest."""
    lower = end - RETENTION
    for key, value in base:
        if key in START_KEYS:
            moment = _cc_time(value) + timedelta(seconds=key == "created_ats[gt]")
            lower = max(lower, moment)
    if start:
        with contextlib.suppress(ValueError):  # not CC's format: the other bounds still hold
            lower = max(lower, _cc_time(start))
    return lower


def _instants(points: list[tuple[datetime, int]], n: int) -> list[str]:
    """``n - 1`` whole-second instants splitting the events in ``n`` even shares, read off
    ``points`` (time, events at or after it; times ascending, the counts falling) by linear
    interpolation between them."""
    total = points[0][1]
    wanted = [total - total * k // n for k in range(1, n)]
    found: list[str] = []
    for left in wanted:
        for (t0, c0), (t1, c1) in itertools.pairwise(points):
            if c1 <= left <= c0:
                share = (c0 - left) / (c0 - c1) if c0 > c1 else 0.0
                found.append((t0 + (t1 - t0) * share).strftime(CC_TIME))
                break
    return sorted(set(found))


class Probes:
    """The probe requests of one plan (``per_page=1``, never a ``page`` offset), a round at once
    behind the gate. ``query`` counts the range; an instant's probe replaces its lower bound."""

    def __init__(self, client: JsonGetter, path: str, query: Params, gate: Gate) -> None:
        self.client, self.path, self.query, self.gate = client, path, query, gate
        self.rounds = 0

    def one(self, instant: str | None) -> dict[str, Any]:
        query = self.query
        if instant is not None:  # later than --since: it replaces it
            query = [(k, v) for k, v in query if k not in START_KEYS]
            query.append(("created_ats[gte]", instant))
        with self.gate.slot():
            return check_page(
                self.client.get_json(self.path, [*query, ("per_page", "1")]), self.path
            )

    def round(self, instants: Sequence[str | None]) -> list[dict[str, Any]]:
        """The probes of ``instants`` (None: the count) at once; the first error is raised once
        all are back."""
        self.rounds += 1
        found: list[dict[str, Any]] = [{}] * len(instants)
        errors: list[BaseException] = []

        def ask(i: int) -> None:
            try:
                found[i] = self.one(instants[i])
            except BaseException as exc:  # re-raised below
                errors.append(exc)

        threads = [
            threading.Thread(target=ask, args=(i,), daemon=True) for i in range(len(instants))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return found


def _total(body: dict[str, Any]) -> int | None:
    pagination = body.get("pagination")
    total = pagination.get("total_results") if isinstance(pagination, dict) else None
    return total if isinstance(total, int) else None


def counted_query(base: Params, end: str, after_guid: str | None = None) -> Params:
    """``base`` up to the fixed end (the older of ``end`` and ``--until``), after the cursor."""
    fixed_end = min([end, *(v for k, v in base if k in END_KEYS)])
    query = [(k, v) for k, v in base if k not in END_KEYS] + [("created_ats[lt]", fixed_end)]
    if after_guid:
        query.append(("after_guid", after_guid))
    return query


def plan_ranges(
    client: JsonGetter,
    path: str,
    base: Params,
    after_guid: str | None,
    per_page: int,
    parallel: int,
    end: str,
    gate: Gate,
    start: str | None = None,
) -> tuple[list[SubRange], int] | None:
    """The sub-ranges between the cursor and the fixed end (and the range's total), or None
    when the range is too small to split. ``start``: the created_at of the cursor's event."""
    if any(k == "created_ats" for k, _ in base):
        return None  # equality windows cannot take a relational bound as well (CC: 400)
    probes = Probes(client, path, counted_query(base, end, after_guid), gate)
    upper = _cc_time(dict(probes.query)["created_ats[lt]"])
    lower, n = _lower_bound(base, start, upper), max(1, parallel)
    instants = _instants([(lower, n), (upper, 0)], n) if upper > lower else []
    first, *rest = probes.round([None, *instants])
    total = _total(first)
    if total is None or total < MIN_SPLIT_PAGES * per_page or not first["resources"]:
        return None
    events, counts = _read_round(instants, rest)
    if _uneven(counts, total, n):  # the events cluster: aim the instants with these counts
        oldest = _cc_time(str(first["resources"][0].get("created_at") or lower.strftime(CC_TIME)))
        later = [(t, c) for t, c in counts if t > oldest]
        aimed = _instants([(oldest, total), *later, (upper, 0)], n)
        if aimed:
            events, _ = _read_round(aimed, probes.round(aimed))
    ranges = _ranges(after_guid, events, n)
    return (ranges, total) if len(ranges) > 1 else None


def _read_round(
    instants: list[str], bodies: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[tuple[datetime, int]]]:
    """The first event at or after each instant (repeats and misses dropped), and how many
    events are at or after each instant."""
    events: list[dict[str, Any]] = []
    counts: list[tuple[datetime, int]] = []
    for instant, body in zip(instants, bodies, strict=True):
        counts.append((_cc_time(instant), _total(body) or 0))
        items = body["resources"]
        if items and (not events or guid_of(events[-1]) != guid_of(items[0])):
            events.append(items[0])
    return events, counts


def _uneven(counts: list[tuple[datetime, int]], total: int, n: int) -> bool:
    """Whether the instants would give a sub-range more than UNEVEN shares of ``total``."""
    marks = [total, *(c for _, c in counts), 0]
    biggest = max(a - b for a, b in itertools.pairwise(marks))
    return biggest * n > UNEVEN * total


def _ranges(after_guid: str | None, events: list[dict[str, Any]], n: int) -> list[SubRange]:
    """Sub-range k ends at boundary event k, the next one starts after it."""
    stops: list[str | None] = [str(guid_of(e)) for e in events[: n - 1]]
    anchors = [after_guid, *stops]
    return [SubRange(i, a, s) for i, (a, s) in enumerate(zip(anchors, [*stops, None], strict=True))]


# -- the workers ---------------------------------------------------------------------------------


class _Spool:
    """One sub-range's pages on disk, appended by its worker: a header line, then the page."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = open(path, "wb")  # noqa: SIM115 - closed by the worker
        self.ready = 0  # pages written and flushed
        self.done = False
        self.mismatch = False  # the sub-range did not end where the probes said
        self.error: BaseException | None = None
        self.total: int | None = None  # events from this sub-range's first one to the end


class Pool:
    """One worker thread per sub-range, behind a shared :class:`Gate`; spools in ``folder``."""

    def __init__(
        self,
        client: JsonGetter,
        path: str,
        base: Params,
        per_page: int,
        ranges: list[SubRange],
        gate: Gate,
        folder: Path,
        renderer: Renderer | None = None,
    ) -> None:
        self.client, self.path, self.base, self.per_page = client, path, base, per_page
        self.gate = gate
        self.renderer = renderer
        self.changed = threading.Condition()
        self.spools = [_Spool(folder / f"range-{r.index}") for r in ranges]
        self.threads = [
            threading.Thread(
                target=self._work, args=(r,), name=f"cfevents-range-{r.index}", daemon=True
            )
            for r in ranges
        ]
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.gate.stop()

    def _work(self, r: SubRange) -> None:
        spool = self.spools[r.index]
        try:
            self._fill(r, spool)
        except _Stopped:
            pass
        except ApiError as exc:
            from cfevents.events.keyset import LOST_CURSOR_DETAIL

            if exc.status == 422 and LOST_CURSOR_DETAIL in exc.detail:
                spool.mismatch = True  # a boundary (or the cursor) is gone: serial from here
            else:
                spool.error = exc
        except BaseException as exc:  # handed to the writer when it reaches this sub-range
            spool.error = exc
        finally:
            spool.file.close()
            with self.changed:
                spool.done = True
                self.changed.notify_all()

    def _fill(self, r: SubRange, spool: _Spool) -> None:
        """Decode, check, cut and format ``r``'s pages into its spool while its next page
        downloads (:func:`_ahead`); cut after its boundary event."""
        render = self.renderer() if self.renderer is not None else None
        ended = False
        for body, size in _ahead(self._bodies(r, spool), self.gate):
            items = self._items(body)
            del body
            guids = [str(guid_of(item)) for item in items]
            full = len(guids) == size
            if r.stop in guids:
                items, ended = items[: guids.index(str(r.stop)) + 1], True
            if items:
                self._spool(spool, items, render)
            del items
            if ended or not full:
                break
        spool.mismatch = r.stop is not None and not ended

    def _bound(self, r: SubRange) -> int | None:
        """How many events ``r`` holds, once its own first page and the next sub-range's are
        in: the difference of their counts to the end."""
        if r.stop is None or r.index + 1 >= len(self.spools):
            return None
        with self.changed:
            mine, theirs = self.spools[r.index].total, self.spools[r.index + 1].total
        return None if mine is None or theirs is None else mine - theirs

    def _bodies(self, r: SubRange, spool: _Spool) -> Iterator[tuple[Any, int]]:
        """``r``'s pages as the server sent them (raw bytes from a CFClient) and the size each
        asked for: the next page, or the rest of the counted events. The next cursor, the count
        and the boundary event are read off the raw body."""
        cursor, got = r.after, 0
        while True:
            bound = self._bound(r)
            size = self.per_page if bound is None else min(self.per_page, bound - got)
            if size < 1:
                return  # past the count without the boundary event: a mismatch
            body = self._get(cursor, size)
            total, after, found = self._peek(body, r.stop)
            if spool.total is None:
                with self.changed:
                    spool.total = total or 0
            yield body, size
            del body
            got += size if total is None else min(size, total)
            if found or after is None or (total is not None and total <= size):
                return
            if after == cursor:
                raise BadResponseError(
                    f"the API's keyset cursor does not advance [GET {self.path}]"
                )
            cursor = after

    def _get(self, cursor: str | None, size: int) -> Any:
        query = list(self.base)
        if cursor:
            query.append(("after_guid", cursor))
        query += [("page", "1"), ("per_page", str(size))]
        with self.gate.slot():
            if isinstance(self.client, ReadsAhead):  # CFClient: retries, token refresh
                get = self.client.get  # type: ignore[attr-defined]
                return bytes(get(self.path, query).content)
            return self.client.get_json(self.path, query)

    def _peek(self, body: Any, stop: str | None) -> tuple[int | None, str | None, bool]:
        """A page's ``total_results``, its last guid (None: the last page) and whether it holds
        ``stop``, from the raw bytes where it can (decoded only when they do not say)."""
        if isinstance(body, bytes):
            from cfevents.events.keyset import guess_last_guid

            match = _TOTAL.search(body, 0, 4096)
            if match is not None:
                after = guess_last_guid(body, self.path)
                if after is not None or _NEXT_NULL.search(body, 0, 4096):
                    found = stop is not None and f'"{stop}"'.encode() in body
                    return int(match.group(1)), after, found
            body = self._items(body, whole=True)
        items = body.get("resources") or [] if isinstance(body, dict) else []
        guids = [str(guid_of(item)) for item in items]
        more = len(items) > 0 and _total(body) != len(items)
        return _total(body), guids[-1] if more else None, stop in guids

    def _items(self, body: Any, whole: bool = False) -> Any:
        """The page's events (or, ``whole``, the checked page), decoded if raw."""
        if isinstance(body, bytes):
            try:
                body = _decoder()(body)
            except ValueError:
                raise BadResponseError(
                    f"the API answered 200 without JSON [GET {self.path}]"
                ) from None
        page = check_page(body, self.path)
        return page if whole else page["resources"]

    def _spool(
        self,
        spool: _Spool,
        items: list[dict[str, Any]],
        render: Callable[[list[dict[str, Any]]], tuple[str, int]] | None,
    ) -> None:
        last = items[-1]
        header = {"read": len(items), "last": str(guid_of(last)), "at": last.get("created_at")}
        if render is None:
            payload = marshal.dumps(items)  # JSON's types only: read back by this process
        else:
            text, header["count"] = render(items)
            payload = text.encode("utf-8", "surrogatepass")
            del text
        header["bytes"] = len(payload)
        spool.file.write(json.dumps(header).encode() + b"\n")
        spool.file.write(payload)
        spool.file.flush()
        with self.changed:
            spool.ready += 1
            self.changed.notify_all()

    def pages(self, r: SubRange) -> Iterator[dict[str, Any]]:
        """``r``'s pages in order as its worker spools them (a dict page, or a SpooledPage):
        then the worker's error, or :class:`RangeMismatch` when it did not end at its
        boundary with its count."""
        spool = self.spools[r.index]
        read = 0
        with open(spool.path, "rb") as handle:
            while True:
                with self.changed:
                    while spool.ready == read and not spool.done:
                        self.changed.wait(timeout=0.5)
                    ready, done = spool.ready, spool.done
                if read < ready:
                    header = json.loads(handle.readline())
                    payload = handle.read(header["bytes"])
                    read += 1
                    yield _page_of(header, payload)
                    del payload
                    continue
                if done:
                    break
        spool.path.unlink(missing_ok=True)
        if spool.error is not None:
            raise spool.error
        if spool.mismatch:
            raise RangeMismatch(
                f"sub-range {r.index + 1} did not end where the probes said"
                + (f" (before event {r.stop})" if r.stop else "")
            )


def _ahead(pages: Iterator[Any], gate: Gate) -> Iterator[Any]:
    """``pages`` made by a thread of their own, one ahead: the next request is on the wire
    while the caller decodes and formats this page (a raw body waits, never a decoded page)."""
    box: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)
    done = threading.Event()

    def put(item: tuple[bool, Any]) -> None:
        while not done.is_set() and not gate.stopped:
            with contextlib.suppress(queue.Full):
                box.put(item, timeout=0.2)
                return

    def produce() -> None:
        try:
            for page in pages:
                put((True, page))
                del page
            put((False, None))
        except BaseException as exc:  # raised in the caller
            put((False, exc))

    threading.Thread(target=produce, daemon=True).start()
    try:
        while True:
            try:
                more, value = box.get(timeout=0.5)
            except queue.Empty:
                if gate.stopped:
                    raise _Stopped from None
                continue
            if not more:
                if value is not None:
                    raise value
                return
            yield value
            del value
    finally:
        done.set()


def _decoder() -> Callable[[bytes], Any]:
    from cfevents.cc.client import decode_json

    return decode_json


def _page_of(header: dict[str, Any], payload: bytes) -> dict[str, Any]:
    if "count" not in header:
        return {"resources": marshal.loads(payload)}
    text = payload.decode("utf-8", "surrogatepass")
    spooled = SpooledPage(text, header["count"], header["read"], header["last"], header["at"])
    return {"resources": [], "spooled": spooled}


# -- the writer ----------------------------------------------------------------------------------


def _spool_dir(near: Path | None) -> Path:
    """A new private directory for the spool files: next to ``near`` (the output, on the disk
    that holds it anyway) when it can be made there, else in the system's temporary directory.
    Directories a killed run left there (its process is gone) are removed first."""
    if near is not None:
        _remove_stale(near)
        try:
            return Path(tempfile.mkdtemp(prefix=f"{SPOOL_PREFIX}{os.getpid()}-", dir=near))
        except OSError:
            pass
    return Path(tempfile.mkdtemp(prefix=f"{SPOOL_PREFIX}{os.getpid()}-"))


def _remove_stale(folder: Path) -> None:
    try:
        found = list(folder.glob(f"{SPOOL_PREFIX}*"))
    except OSError:
        return
    for path in found:
        pid = path.name[len(SPOOL_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process
    return True


def _plan_or_note(
    plan: Callable[[], tuple[list[SubRange], int] | None], say: Callable[[str], None]
) -> tuple[list[SubRange], int] | None:
    """The plan, or None (paged serially) when a probe failed, with one note; a lost cursor
    stays silent (the serial pages say what is wrong with it)."""
    from cfevents.events.keyset import LOST_CURSOR_DETAIL

    try:
        return plan()
    except (ApiError, BadResponseError, NetworkError) as exc:
        lost = isinstance(exc, ApiError) and LOST_CURSOR_DETAIL in exc.detail
        if not lost:
            say(
                f"--parallel: the boundary probes failed ({exc.message}); paging the range serially"
            )
        return None


def parallel_pages(
    client: JsonGetter,
    path: str,
    params: Params,
    after_guid: str | None,
    per_page: int,
    *,
    parallel: int,
    end: str,
    warn: Callable[[str], None],
    spool_dir: Path | None = None,
    note: Callable[[str], None] | None = None,
    renderer: Renderer | None = None,
    start: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Pages in id order, as ``keyset_pages`` gives them: the range up to ``end`` split into
    ``parallel`` sub-ranges paged at once, then the rest serially. With ``renderer`` the split
    range comes as pages already formatted (``{"spooled": SpooledPage}``). A boundary probe that
    fails (a proxy error, a foundation refusing a filter) costs nothing but the split: the whole
    range is paged serially, with one ``note``. ``start``: the created_at of the cursor's event."""
    from cfevents.events.keyset import keyset_pages

    base = [(k, v) for k, v in params if k not in KEYSET_KEYS]
    gate = Gate(max(1, min(parallel, MAX_PARALLEL)))
    listener = getattr(client, "on_throttle", False)
    if listener is None:  # a CFClient: its 429/503 retries feed the shared back-off
        client.on_throttle = gate.throttled  # type: ignore[attr-defined]
    last, complete = after_guid, False
    try:
        planned = _plan_or_note(
            lambda: plan_ranges(
                client, path, base, after_guid, per_page, parallel, end, gate, start
            ),
            note or warn,
        )
        if planned is not None:
            ranges, total = planned
            folder = _spool_dir(spool_dir)
            query = counted_query(base, end)
            pool = Pool(client, path, query, per_page, ranges, gate, folder, renderer)
            try:
                last, complete = yield from _in_order(pool, ranges, total, warn)
            finally:
                pool.stop()
                shutil.rmtree(folder, ignore_errors=True)
            # --until older than the guard: the last sub-range asked what serial paging would
            complete = complete and ("created_ats[lt]", dict(query)["created_ats[lt]"]) in base
        if not complete:
            yield from keyset_pages(client, path, params, last, per_page)
    finally:
        if listener is None:
            client.on_throttle = None  # type: ignore[attr-defined]


def _in_order(
    pool: Pool, ranges: list[SubRange], total: int, warn: Callable[[str], None]
) -> Generator[dict[str, Any], None, tuple[str | None, bool]]:
    """The sub-ranges' pages in order, each with the events left (``pagination``); after a
    mismatch, a warning and no more. Returns the last event's guid and whether every sub-range
    ended where the probes said."""
    left = total
    last: str | None = ranges[0].after
    try:
        for r in ranges:
            for page in pool.pages(r):
                spooled: SpooledPage | None = page.get("spooled")
                if spooled is not None:
                    last, read = spooled.last_guid, spooled.read
                else:
                    last, read = str(guid_of(page["resources"][-1])), len(page["resources"])
                page["pagination"] = {"total_results": max(left, read)}
                left -= read
                yield page
                del page
    except RangeMismatch as exc:
        warn(f"{exc}; carrying on serially from event {last or 'the start'}")
        return last, False
    return last, True


def check_parallel(parallel: int) -> int:
    """``parallel`` if it is 1..MAX_PARALLEL; else a :class:`~cfevents.errors.UsageError`."""
    from cfevents.errors import UsageError

    if isinstance(parallel, bool) or not isinstance(parallel, int):
        raise UsageError(f"--parallel: {parallel!r} is not a whole number")
    if not 1 <= parallel <= MAX_PARALLEL:
        raise UsageError(f"--parallel: {parallel} is out of range (1..{MAX_PARALLEL})")
    return parallel
