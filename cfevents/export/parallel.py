"""Parallel backfill: a bounded range paged as id-ordered sub-ranges at once, written in order.

``parallel_pages`` gives exactly the pages' events :func:`~cfevents.events.keyset.keyset_pages`
gives, in the same id order, so the export's output is byte-identical to the serial one:

1. The fixed end: ``created_ats[lt]`` = the older of ``--until`` and now minus the min-age
   guard (at least 60s). One ``per_page=1`` probe counts the events from the cursor to it
   (``total_results``); a small range (fewer than :data:`MIN_SPLIT_PAGES` pages) is never split.
2. N boundary events: ``per_page=1&page=K`` probes at K = C·k/N (k = 1..N) in CC's id order.
   Sub-range k runs from boundary k−1 (the cursor for the first) to boundary k and holds
   exactly the counted events.
3. Workers keyset-page their sub-ranges concurrently (``after_guid``, never OFFSET) and spool
   each page to a temporary file (one line per page, on disk, not in memory); the writer reads
   the sub-ranges in order, so the checkpoint advances only with the in-order writer.
4. Each sub-range must end exactly at its boundary event with exactly its count (the
   cross-check against the range's total). When one does not (events pruned or committed into
   the range meanwhile), the writer warns and carries on serially from the last event it
   handed out: still the serial export's bytes.
5. What comes after the last boundary (the live tail, younger than the guard) is paged
   serially, with read-ahead, as the serial export pages it.

Politeness: at most :data:`MAX_PARALLEL` requests at once; a 429 or 503 seen by any worker
(``CFClient.on_throttle``) pauses every worker for the server's delay and halves the
concurrency for the rest of the run. Memory: one page per worker plus the writer's page.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfevents.cc.paging import JsonGetter, Params, ReadsAhead, check_page, guid_of
from cfevents.errors import ApiError, BadResponseError, NetworkError

MAX_PARALLEL = 8
MIN_SPLIT_PAGES = 4  # a range of fewer full pages is paged serially (hourly runs never split)
KEYSET_KEYS = ("after_guid", "page", "per_page", "order_by")
END_KEYS = ("created_ats[lt]", "created_ats[lte]")


class RangeMismatch(Exception):
    """A sub-range did not hold exactly its counted events up to its boundary event."""


class _Stopped(Exception):
    """The pool was stopped (the writer is done or gave up)."""


@dataclass(frozen=True)
class SubRange:
    """Events after ``anchor`` (None: from the start) up to and including ``stop``."""

    index: int
    anchor: str | None
    stop: str
    count: int


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


def _decoder() -> Callable[[bytes], Any]:
    from cfevents.cc.client import decode_json

    return decode_json


def _encoder() -> Callable[[list[dict[str, Any]]], bytes]:
    try:
        import orjson  # type: ignore[import-not-found,unused-ignore]

        return lambda items: orjson.dumps(items) + b"\n"
    except ImportError:  # pragma: no cover - orjson is optional
        return lambda items: json.dumps(items, separators=(",", ":")).encode() + b"\n"


class _Spool:
    """One sub-range's pages on disk, one line each, appended by its worker."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = open(path, "wb")  # noqa: SIM115 - closed by the worker
        self.ready = 0  # pages written and flushed
        self.done = False
        self.error: BaseException | None = None


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
    ) -> None:
        self.client = client
        self.path = path
        self.base = base
        self.per_page = per_page
        self.gate = gate
        self.encode = _encoder()
        self.changed = threading.Condition()
        self.spools = [_Spool(folder / f"range-{r.index}.ndjson") for r in ranges]
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
            self._fetch(r, spool)
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the writer when it reaches this sub-range
            spool.error = exc
        finally:
            spool.file.close()
            with self.changed:
                spool.done = True
                self.changed.notify_all()

    def _raw(self, query: Params) -> bytes:
        """One page's body as the server sent it (CFClient), or re-encoded (any JsonGetter)."""
        if isinstance(self.client, ReadsAhead):  # CFClient: retries, token refresh, no decode
            get = self.client.get  # type: ignore[attr-defined]
            return bytes(get(self.path, query).content)
        return self.encode(self.client.get_json(self.path, query))

    def _fetch(self, r: SubRange, spool: _Spool) -> None:
        """Spool the raw pages of ``r``; the writer decodes and checks them (one decode per
        page, as serial paging). The next cursor is read off the body's last self link."""
        from cfevents.events.keyset import guess_last_guid

        cursor, remaining = r.anchor, r.count
        while remaining > 0:
            size = min(self.per_page, remaining)
            query = list(self.base)
            if cursor:
                query.append(("after_guid", cursor))
            query += [("page", "1"), ("per_page", str(size))]
            with self.gate.slot():
                raw = self._raw(query)
            header = {"after": cursor, "size": size, "bytes": len(raw)}
            spool.file.write(json.dumps(header).encode() + b"\n")
            spool.file.write(raw)
            spool.file.flush()
            remaining -= size
            with self.changed:
                spool.ready += 1
                self.changed.notify_all()
            if remaining > 0:
                cursor = guess_last_guid(raw, self.path) or self._last_guid(raw)
                if cursor is None:
                    return  # an empty or odd page: the writer finds the mismatch
            del raw

    def _last_guid(self, raw: bytes) -> str | None:
        items = _decoder()(raw).get("resources") or []
        return str(guid_of(items[-1])) if items else None

    def pages(self, r: SubRange) -> Iterator[list[dict[str, Any]]]:
        """``r``'s pages in order as its worker spools them, each checked: it follows the page
        before, holds the events asked for, and the last ends at ``r.stop`` (else
        :class:`RangeMismatch`). The worker's error comes after what it spooled."""
        spool = self.spools[r.index]
        decode = _decoder()
        read = 0
        after = r.anchor
        mismatch = RangeMismatch(
            f"sub-range {r.index + 1} does not hold the {r.count:,} events counted up to "
            f"event {r.stop}"
        )
        with open(spool.path, "rb") as handle:
            while True:
                with self.changed:
                    while spool.ready == read and not spool.done:
                        self.changed.wait(timeout=0.5)
                    ready, done = spool.ready, spool.done
                if read < ready:
                    header = json.loads(handle.readline())
                    raw = handle.read(header["bytes"])
                    read += 1
                    try:
                        body = check_page(decode(raw), self.path)
                    except ValueError:
                        raise BadResponseError(
                            f"the API answered 200 without JSON [GET {self.path}]"
                        ) from None
                    del raw
                    items: list[dict[str, Any]] = body["resources"]
                    del body
                    guids = [str(guid_of(item)) for item in items]
                    if header["after"] != after or len(items) != header["size"]:
                        raise mismatch
                    if r.stop in guids[:-1]:
                        raise mismatch
                    after = guids[-1]
                    yield items
                    del items
                    continue
                if done:
                    break
        spool.path.unlink(missing_ok=True)
        if spool.error is not None:
            raise spool.error
        if after != r.stop:
            raise mismatch


def plan_ranges(
    client: JsonGetter,
    path: str,
    base: Params,
    after_guid: str | None,
    per_page: int,
    parallel: int,
    end: str,
    gate: Gate,
) -> tuple[list[SubRange], int] | None:
    """The sub-ranges between the cursor and the fixed ``end`` (and the range's total), or None
    when the range is too small to split or a probe found nothing."""
    until = [v for k, v in base if k in END_KEYS]
    fixed_end = min([end, *until])
    counted = [(k, v) for k, v in base if k not in END_KEYS] + [("created_ats[lt]", fixed_end)]
    if after_guid:
        counted.append(("after_guid", after_guid))

    def probe(position: int) -> dict[str, Any]:
        query = [*counted, ("page", str(position)), ("per_page", "1")]
        with gate.slot():
            return check_page(client.get_json(path, query), path)

    first = probe(1)
    pagination = first.get("pagination")
    total = pagination.get("total_results") if isinstance(pagination, dict) else None
    if not isinstance(total, int) or total < MIN_SPLIT_PAGES * per_page:
        return None
    n = min(parallel, total // per_page)
    positions = [total * k // n for k in range(1, n + 1)]
    found: dict[int, str | None] = {}
    errors: list[BaseException] = []

    def locate(position: int) -> None:
        try:
            items = probe(position)["resources"]
            found[position] = str(guid_of(items[0])) if items else None
        except BaseException as exc:  # re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=locate, args=(p,), daemon=True) for p in positions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    stops = [found.get(p) for p in positions]
    if any(stop is None for stop in stops):
        return None
    anchors = [after_guid, *stops[:-1]]
    starts = [0, *positions[:-1]]
    ranges = [
        SubRange(i, anchor, str(stop), position - start)
        for i, (anchor, stop, start, position) in enumerate(
            zip(anchors, stops, starts, positions, strict=True)
        )
    ]
    return ranges, total


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
) -> Iterator[dict[str, Any]]:
    """Pages in id order, as ``keyset_pages`` gives them: the range up to ``end`` split into
    ``parallel`` sub-ranges paged at once, then the rest serially. A boundary probe that fails
    (a foundation with ``renderer.max_total_results`` refuses deep ``page`` numbers, a proxy
    error) costs nothing but the split: the whole range is paged serially, with one ``note``."""
    from cfevents.events.keyset import LOST_CURSOR_DETAIL, keyset_pages

    base = [(k, v) for k, v in params if k not in KEYSET_KEYS]
    gate = Gate(max(1, min(parallel, MAX_PARALLEL)))
    listener = getattr(client, "on_throttle", False)
    if listener is None:  # a CFClient: its 429/503 retries feed the shared back-off
        client.on_throttle = gate.throttled  # type: ignore[attr-defined]
    last = after_guid
    try:
        try:
            planned = plan_ranges(client, path, base, after_guid, per_page, parallel, end, gate)
        except (ApiError, BadResponseError, NetworkError) as exc:
            planned = None  # the serial pages below say what is wrong with the cursor
            lost = isinstance(exc, ApiError) and LOST_CURSOR_DETAIL in exc.detail
            if not lost:
                (note or warn)(
                    f"--parallel: the boundary probes failed ({exc.message}); paging the range "
                    "serially"
                )
        if planned is not None:
            ranges, total = planned
            left = total
            with tempfile.TemporaryDirectory(prefix="cfevents-parallel-", dir=spool_dir) as tmp:
                pool = Pool(client, path, base, per_page, ranges, gate, Path(tmp))
                try:
                    for r in ranges:
                        for items in pool.pages(r):
                            last = str(guid_of(items[-1]))
                            page = {"resources": items, "pagination": {"total_results": left}}
                            left -= len(items)
                            del items
                            yield page
                            del page
                except RangeMismatch as exc:
                    warn(f"{exc}; carrying on serially from event {last or 'the start'}")
                finally:
                    pool.stop()
        yield from keyset_pages(client, path, params, last, per_page)
    finally:
        if listener is None:
            client.on_throttle = None  # type: ignore[attr-defined]


def check_parallel(parallel: int) -> int:
    """``parallel`` if it is 1..MAX_PARALLEL; else a :class:`~cfevents.errors.UsageError`."""
    from cfevents.errors import UsageError

    if isinstance(parallel, bool) or not isinstance(parallel, int):
        raise UsageError(f"--parallel: {parallel!r} is not a whole number")
    if not 1 <= parallel <= MAX_PARALLEL:
        raise UsageError(f"--parallel: {parallel} is out of range (1..{MAX_PARALLEL})")
    return parallel


__all__ = [
    "MAX_PARALLEL",
    "Gate",
    "RangeMismatch",
    "SubRange",
    "check_parallel",
    "parallel_pages",
    "plan_ranges",
]
