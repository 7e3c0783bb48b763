"""The export engine: the min-age guard, batches, the sink and the job that runs a plan.

Pages come by keyset in CC's id order (cfevents.events.keyset).

Rows commit out of id order (an event with a lower id can become visible after one with a
higher id), so an incremental export leaves events younger than ``min_age`` for the next run
and never moves its cursor past them.
"""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO, TypeAlias, cast

from cfevents.cc.paging import JsonGetter
from cfevents.errors import (
    ApiError,
    CfEventsError,
    ExportStopped,
    LostCursorError,
    OutputIOError,
    StoppedBySignal,
    StoreIOError,
    UsageError,
)
from cfevents.events.keyset import (  # keyset paging lives in events/ (re-exported here)
    LOST_CURSOR_DETAIL,
    guess_last_guid,
    keyset_pages,
    unknown_after_guid,
)
from cfevents.export import checkpoint as ckpt
from cfevents.export.plan import ExportPlan
from cfevents.export.store import StoreSink
from cfevents.files import OutputTarget, open_stream
from cfevents.output.unstorable import ERRORS
from cfevents.stores import EventKind, kind_for_path
from cfevents.stores.columns import flat_records
from cfevents.timeparse import cc_epoch, format_cc, utcnow

if TYPE_CHECKING:
    from cfevents.export.parallel import Renderer, SpooledPage
    from cfevents.output.formatters import OutputSpec


__all__ = [
    "LOST_CURSOR_DETAIL",
    "ApiClient",
    "Batch",
    "Cursor",
    "ExportJob",
    "ExportPlan",
    "Sink",
    "batches",
    "check_header",
    "guess_last_guid",
    "keyset_pages",
    "unknown_after_guid",
]


class ApiClient(JsonGetter, Protocol):
    """What the export needs of CFClient."""

    api: str


CC_TIME = "%Y-%m-%dT%H:%M:%SZ"  # created_ats values, as format_cc writes them
CLOCK_TOLERANCE_S = 5.0  # local clock vs the API's before --min-age trusts the API's


@dataclass
class Batch:
    """The events of one page that may be written now, and where the cursor goes after them."""

    events: list[dict[str, Any]]
    total_results: int | None = None  # what the server said matched (from this cursor on)
    stopped_by_age: bool = False  # the page held an event younger than min_age
    spooled: SpooledPage | None = None  # --parallel: the page, formatted by a worker (no events)

    @property
    def size(self) -> int:
        """The events read (the cursor moves past them)."""
        return self.spooled.read if self.spooled is not None else len(self.events)

    @property
    def last_guid(self) -> str | None:
        if self.spooled is not None:
            return self.spooled.last_guid
        return str(self.events[-1]["guid"]) if self.events else None

    @property
    def last_created_at(self) -> str | None:
        if self.spooled is not None:
            return self.spooled.last_created_at
        return str(self.events[-1].get("created_at")) if self.events else None


@dataclass
class Cursor:
    """Where the export is: the last event written (None = from the beginning)."""

    after_guid: str | None = None
    last_created_at: str | None = None
    events: int = 0

    def advance(self, batch: Batch) -> None:
        if batch.size:
            self.after_guid = batch.last_guid
            self.last_created_at = batch.last_created_at
            self.events += batch.size


def batches(
    pages: Iterable[dict[str, Any]],
    *,
    min_age: timedelta | None,
    now: Callable[[], datetime],
) -> Iterator[Batch]:
    """One batch per page, cut at the first event younger than ``min_age`` (then stop)."""
    for page in pages:
        items: list[dict[str, Any]] = page.get("resources") or []
        total = (page.get("pagination") or {}).get("total_results")
        total = total if isinstance(total, int) else None
        spooled = page.get("spooled")
        if spooled is not None:  # --parallel: every event of it is older than the guard
            yield Batch([], total, spooled=spooled)
            continue
        if min_age is not None:
            cutoff = format_cc(now() - min_age)
            for index, event in enumerate(items):
                if str(event.get("created_at") or "") >= cutoff:
                    yield Batch(items[:index], total, stopped_by_age=True)
                    return
        yield Batch(items, total)
        del page, items  # not kept alive while the next page is fetched and decoded


def check_header(path: Path, header: str, fmt: str) -> None:
    """An incremental CSV/TSV export appends only rows of the columns its file starts with.

    Raises:
        UsageError: the file's header names another column set (an upgrade that added a
            column, or other ``fields``/``flat``): both sets are named, nothing is written.
    """
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            first = handle.readline()
    except OSError:
        return  # the append itself will say what is wrong
    if not first or first.rstrip("\r\n") == header.rstrip("\r\n"):
        return
    found, wanted = _columns(first, fmt), _columns(header, fmt)
    raise UsageError(
        f"{path} has the columns {', '.join(found)}; this export writes {', '.join(wanted)}: "
        "appending would put rows under the wrong header; export into a new file (with a new "
        "`checkpoint`), or give the `fields` and `flat` the file was written with",
        param="out",
    )


def _columns(line: str, fmt: str) -> list[str]:
    import csv

    return next(csv.reader([line.rstrip("\r\n")], delimiter="\t" if fmt == "tsv" else ","), [])


def _records(pages: Iterable[list[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    """The events of ``pages`` one by one (each page let go before the next is read)."""
    for page in pages:
        yield from page
        del page


# a page of events, or one a --parallel worker wrote
Page: TypeAlias = "list[dict[str, Any]] | SpooledPage"


def _flat_pages(pages: Iterable[Page], kind: EventKind) -> Iterator[Page]:
    """``--flat``: each page's events as the store's snake_case columns."""
    for page in pages:
        if not isinstance(page, list):  # spooled: its worker flattened it
            yield page
            continue
        flat = list(flat_records(page, kind))
        del page
        yield flat
        del flat


class _Handle:
    """The open ``--out`` file behind a Sink: writers bind its ``write`` once, and the file
    under it can be replaced (``--on-rotated new-file`` while exporting)."""

    def __init__(self, handle: TextIO) -> None:
        self.handle = handle
        self.encoding = handle.encoding

    def write(self, text: str) -> int:
        return self.handle.write(text)

    def flush(self) -> None:
        self.handle.flush()

    def fileno(self) -> int:
        return self.handle.fileno()

    def isatty(self) -> bool:
        return False

    @property
    def closed(self) -> bool:
        return self.handle.closed

    def close(self) -> None:
        self.handle.close()


class Sink:
    """Where an export writes: a file it opened (appended when incremental), or a stream."""

    def __init__(
        self, stream: TextIO, *, fresh: bool, path: Path | None = None, owned: bool = False
    ) -> None:
        self.stream = stream
        self.fresh = fresh  # nothing written there yet: it needs a header row
        self.path = path  # the file's absolute path; None for a stream
        self.owned = owned or path is not None  # opened by the export: closed by it

    def sync(self) -> int | None:
        """Flush and fsync; the file's size, or None for a pipe or terminal.

        For a file the export opened, a failed flush or fsync is an :class:`OSError` the
        caller reports (the checkpoint must not move past bytes that are not durable).
        """
        self.stream.flush()
        if self.path is not None:
            os.fsync(self.stream.fileno())
            return os.fstat(self.stream.fileno()).st_size
        try:
            os.fsync(self.stream.fileno())
            return os.fstat(self.stream.fileno()).st_size
        except (OSError, ValueError):
            return None  # a pipe or terminal cannot be fsynced

    def inode(self) -> tuple[int, int]:
        st = os.fstat(self.stream.fileno())
        return st.st_dev, st.st_ino

    def close(self) -> None:
        if self.owned:
            self.stream.close()


class ExportJob:
    """One export run: a frozen :class:`ExportPlan`, a :class:`Sink`, and a checkpoint store.

    A context manager: entering loads the checkpoint, leaving closes the sink. Iterate it for
    the events (the checkpoint moves after each page you finish), or :meth:`run` it to write
    them to the plan's ``out`` file or a stream. ``sleep`` waits between ``follow`` polls.
    """

    def __init__(
        self,
        client: ApiClient,
        plan: ExportPlan,
        *,
        note: Callable[[str], None],
        warn: Callable[[str], None],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.plan = plan
        self.note = note
        self.warn = warn
        self.sleep = sleep
        self.store = ckpt.CheckpointStore(plan.checkpoint) if plan.checkpoint else None
        self.saved: ckpt.Checkpoint | None = None
        self.cursor = Cursor()
        self.start_events = 0
        self.sink: Sink | None = None
        self.pages = 0
        self.pending: Batch | None = None  # handed out but not yet committed
        self.on_batch: Callable[[int, int, int | None], None] | None = None
        self.held_back = False
        self._opened = False
        self.store_sink: StoreSink | None = None  # plan.store, open while the job runs
        self.stored = 0  # events the store did not have yet
        self.store_display = ""  # the store's target without a password
        self.lock = ckpt.CheckpointLock(plan.checkpoint) if plan.checkpoint else None
        self._skew_noted = False
        self._cursor_checked = False  # the cursor's event was checked against CC (once a run)
        self._header = ""  # what a new --out file starts with (the header row of csv/tsv)

    # -- setup -------------------------------------------------------------------------------

    def __enter__(self) -> ExportJob:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the sink (or the store) and drop the checkpoint lock."""
        try:
            self.close_sink()
            self.close_store()
        finally:
            if self.lock is not None:
                self.lock.release()

    def open(self) -> None:
        """Check the checkpoint's location, take its lock, load it (it must belong to this API)
        and place the cursor. All before any request; nothing is written if it fails."""
        if self._opened:
            return
        if self.plan.checkpoint is not None:
            self._check_paths(self.plan.checkpoint)
            ckpt.probe(self.plan.checkpoint)
            assert self.lock is not None
            self.lock.acquire()
        self._opened = True
        if self.plan.store is not None:
            self._open_store(self.plan.store)
            return
        saved = self.store.load() if self.store is not None else None
        self.saved = saved
        if saved is not None:
            if saved.api.rstrip("/") != self.client.api:
                raise UsageError(
                    f"--checkpoint: {self.plan.checkpoint} belongs to {saved.api}, not {self.client.api}"
                )
            self.cursor = Cursor(saved.after_guid, saved.last_created_at, saved.events)
            if saved.after_guid:
                self.note(
                    f"resuming after event {saved.after_guid} ({saved.events:,} events already "
                    "exported)"
                )
        elif self.plan.after_guid:
            self.cursor = Cursor(self.plan.after_guid)
        self.start_events = self.cursor.events

    def _open_store(self, target: str) -> None:
        """Take the store's export lock, resume at its cursor, record the opening snapshot."""
        try:
            self._open_store_sink(target)
        except StoreIOError as exc:  # a full disk before the first page
            exc.message = f"{exc.message}; no event was stored: rerun to resume"
            raise

    def _open_store_sink(self, target: str) -> None:
        sink = self.store_sink = StoreSink(
            target, self.plan.foundation or self.client.api, self.plan.path
        )
        self.store_display = sink.store.display
        try:
            if sink.resumed and self.plan.after_guid:
                raise UsageError(
                    f"--after-guid: {sink.store.display} already holds a cursor for "
                    f"{sink.session.foundation} (after {sink.after_guid}); the store decides where "
                    "an export into it starts"
                )
            self.cursor = Cursor(sink.after_guid or self.plan.after_guid, sink.last_created_at)
            sink.ensure_snapshot(self.client, self.note, self._api_time)
        except BaseException:
            self.close_store()
            raise

    def close_store(self) -> None:
        if self.store_sink is not None:
            self.store_sink.close()
            self.store_sink = None

    def _check_paths(self, checkpoint: Path) -> None:
        out = self.plan.out
        if out is None:
            return
        same = out.resolve() == checkpoint.resolve()
        if not same and out.exists() and checkpoint.exists():
            try:
                same = os.path.samefile(out, checkpoint)
            except OSError:
                same = False
        if same:
            raise UsageError(
                f"--checkpoint and --out name the same file ({checkpoint}); give each its own"
            )

    def open_sink(self, stream: TextIO | None = None) -> Sink:
        """The plan's ``out`` file, else ``stream`` (default stdout)."""
        self.open()
        out = self.plan.out
        if out is None:
            self.sink = Sink(stream or sys.stdout, fresh=self.saved is None)
            return self.sink
        incremental = self.store is not None
        target = OutputTarget(out, "out", passthrough=self.plan.out_passthrough)
        if target.passthrough:  # /dev/stdout and the like: a stream, never a file to resume
            self.sink = Sink(open_stream(target, append=True), fresh=self.saved is None, owned=True)
            return self.sink
        if incremental:
            self._reconcile(out)
        handle = open_stream(target, append=incremental)  # closed by close_sink
        size = os.fstat(handle.fileno()).st_size
        wrapped: Any = _Handle(handle) if incremental else handle
        self.sink = Sink(wrapped, fresh=size == 0, path=out.resolve())
        if self.store is not None:
            # Before the first byte: where --out starts, so a run killed before its first
            # page's checkpoint is cut back to here on rerun (nothing twice).
            self._save(size)
        return self.sink

    def _reconcile(self, out: Path) -> None:
        """Cut off what an interrupted run wrote after its last checkpoint."""
        saved = self.saved
        if saved is None or saved.output is None:
            return
        if Path(saved.output.path) != out.resolve():
            self.warn(f"the checkpoint last wrote to {saved.output.path}; now appending to {out}")
            return
        new_file = self.plan.on_rotated == "new-file"
        try:
            size = out.stat().st_size
        except FileNotFoundError:
            if new_file:
                self.note(f"--out {out} was rotated away; starting a new file there")
                return
            raise OutputIOError(
                f"--out {out} is missing but the checkpoint says {saved.output.bytes:,} bytes were "
                "written to it; restore it, rerun with --on-rotated new-file to carry on in a new "
                "file, or start over with a new checkpoint file"
            ) from None
        if size < saved.output.bytes:
            if new_file:
                self.note(
                    f"--out {out} is shorter ({size:,} bytes) than the checkpoint records "
                    f"({saved.output.bytes:,}); carrying on at its end (--on-rotated new-file)"
                )
                return
            raise OutputIOError(
                f"--out {out} is shorter ({size:,} bytes) than the checkpoint records "
                f"({saved.output.bytes:,}); it was truncated or replaced outside cfevents: "
                "rerun with --on-rotated new-file to carry on at its end"
            )
        if size > saved.output.bytes:
            os.truncate(out, saved.output.bytes)
            self.note(
                f"removed {size - saved.output.bytes:,} bytes an interrupted run wrote after its "
                "last checkpoint; those events are exported again now"
            )

    # -- the stream ----------------------------------------------------------------------------

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self.plan.out is not None:
            raise UsageError(f"this export writes to {self.plan.out}: call run() instead")
        return self.events()

    def run(
        self,
        spec: OutputSpec | None = None,
        *,
        stdout: TextIO | None = None,
        on_batch: Callable[[int, int, int | None], None] | None = None,
    ) -> int:
        """Write every event to the sink in the plan's format; the number written.

        ``on_batch(events_read, pages, total)`` runs after each committed page. An error
        says where the export stopped (and that a rerun resumes there).
        """
        from cfevents.output.formatters import write_pages

        if self.plan.store is not None:
            return self._run_into_store(on_batch)
        spec = self._spec(spec)
        sink = self.open_sink(stdout)
        try:
            if not sink.fresh and self._header and sink.path is not None:
                check_header(sink.path, self._header, self.plan.fmt)
            spec = replace(spec, headers=sink.fresh and spec.headers)
            self.on_batch = on_batch
            pages = self._kept_pages(self._renderer(spec, sink))
            if self.plan.flat:
                pages = _flat_pages(pages, kind_for_path(self.plan.path))
            try:
                written = write_pages(pages, sink.stream, spec)
                self.commit()
                if self.store is not None and sink.path is not None:
                    # every byte is committed now, a CSV header without events too: a rerun
                    # must not take it for an interrupted run's ("removed 324 bytes ...")
                    self._save(sink.sync())
            finally:
                self.close_sink()
        except BaseException as exc:
            raise self._stopped(exc, sink) from None
        finally:
            self.close()
        return written

    def _spec(self, spec: OutputSpec | None) -> OutputSpec:
        """The output spec (the plan's columns without one); the header row a CSV/TSV starts
        with, kept for a rotated file and the column-set check of an appended one."""
        from cfevents.output.columns import USAGE_COLUMNS
        from cfevents.output.formatters import OutputSpec, write

        kind = kind_for_path(self.plan.path)
        columns = kind.column_names if self.plan.flat else (self.plan.columns or USAGE_COLUMNS)
        spec = spec or OutputSpec(fmt=self.plan.fmt, columns=columns)
        if spec.headers and self.plan.fmt in ("csv", "tsv"):
            header = io.StringIO()
            write([], header, replace(spec, tty=False))
            self._header = header.getvalue()
        return spec

    def _stopped(self, exc: BaseException, sink: Sink) -> BaseException:
        """What a failed run raises: the error with where the export stopped (a new error;
        the caught one is left as it was), or a clean stop for a signal."""
        if isinstance(exc, OutputIOError):
            return exc.extended(self.unrecorded_note())
        if isinstance(exc, KeyboardInterrupt | StoppedBySignal):
            # Ctrl-C, SIGTERM, SIGHUP: the sink is closed (a JSON array too) and the checkpoint
            # points at the last page written in full; say so, and how far the export got.
            signum = exc.signum if isinstance(exc, StoppedBySignal) else int(signal.SIGINT)
            return ExportStopped(signum, self.stopped_note())
        if isinstance(exc, BrokenPipeError) or not isinstance(exc, OSError | CfEventsError):
            return exc
        if isinstance(exc, OSError):  # disk full, EIO, a failed fsync: never swallowed
            where = sink.path or "the output"
            return OutputIOError(
                f"cannot write {where}: {exc.strerror or exc}; {self.unrecorded_note()}"
            )
        if isinstance(exc, UsageError) and exc.param == "out":  # refused before any request
            return exc
        return exc.extended(self.stopped_note())

    def _run_into_store(self, on_batch: Callable[[int, int, int | None], None] | None) -> int:
        """Every event into the store, page by page (each page and its cursor commit together)."""
        self.on_batch = on_batch
        self.open()  # a locked or unusable store fails here, with its own message
        try:
            # each page is let go before the next is fetched and decoded (a ``for`` loop's
            # variable would keep page N alive while page N + 1 is decoded: twice the memory)
            deque(self.event_pages(), maxlen=0)
            self.commit()
        except (KeyboardInterrupt, StoppedBySignal) as exc:
            # each page and its cursor commit together: the store holds every page read in full
            signum = exc.signum if isinstance(exc, StoppedBySignal) else int(signal.SIGINT)
            self._settle_store()
            raise ExportStopped(signum, self.stopped_note()) from None
        except CfEventsError as exc:
            self._settle_store()
            raise exc.extended(self.stopped_note()) from None
        finally:
            self.close_store()
        return self.stored

    def _settle_store(self) -> None:
        """The export stops: the pages written in full are committed (when the store still
        can) and the cursor the note names is the store's committed one."""
        if self.store_sink is not None:
            self.cursor.after_guid, self.cursor.last_created_at = self.store_sink.settle()

    def events(self) -> Iterator[dict[str, Any]]:
        """The events that pass the plan's filter (committed page by page)."""
        self.open()
        return _records(self.event_pages())

    def event_pages(self) -> Iterator[list[dict[str, Any]]]:
        """The events that pass the plan's filter, a page at a time (names filled in once per
        page); a page is committed when the next one is asked for."""
        return cast(Iterator[list[dict[str, Any]]], self._kept_pages(None))  # none spooled

    def _kept_pages(self, renderer: Renderer | None) -> Iterator[Page]:
        """:meth:`event_pages`; with a ``renderer``, --parallel's workers format pages
        themselves (filtered and named first), and those come as they wrote them."""
        self.open()
        keep, enrich = self.plan.keep, self.plan.enrich
        for page in self._page_stream(renderer):
            if isinstance(page, list):
                if keep is not None:
                    page = [event for event in page if keep(event)]
                if enrich is not None:
                    enrich(page)
            yield page
            del page  # not kept alive while the next page is fetched and decoded

    def _renderer(self, spec: OutputSpec, sink: Sink) -> Renderer | None:
        """--parallel: what each worker formats its pages with, as :meth:`run` would (the
        plan's filter, names and ``flat``, then the page's text); None when not parallel or
        the format goes record by record."""
        from cfevents.output.formatters import page_formatter

        plan, stream = self.plan, sink.stream
        if plan.parallel <= 1 or page_formatter(stream, spec) is None:
            return None
        keep, enrich, kind = plan.keep, plan.enrich, kind_for_path(plan.path)
        naming = threading.Lock()  # the resolver's cache is not for threads at once

        def renderer() -> Callable[[list[dict[str, Any]]], tuple[str, int]]:
            text = page_formatter(stream, spec)
            assert text is not None

            def render(page: list[dict[str, Any]]) -> tuple[str, int]:
                if keep is not None:
                    page = [event for event in page if keep(event)]
                if enrich is not None:
                    with naming:
                        enrich(page)
                if plan.flat:
                    page = list(flat_records(page, kind))
                return text(page), len(page)

            return render

        return renderer

    def stream(self) -> Iterator[dict[str, Any]]:
        """Every event read; the previous batch is committed before the next one starts."""
        return _records(cast(Iterator[list[dict[str, Any]]], self._page_stream(None)))

    def _page_stream(self, renderer: Renderer | None = None) -> Iterator[Page]:
        """Every page read; the previous batch is committed before the next one starts."""
        restarted = False
        while True:
            try:
                yield from self._one_pass(renderer)
            except LostCursorError as exc:
                resumed = self.store_sink is not None and self.store_sink.resumed
                if not resumed and (self.saved is None or not self.saved.after_guid):
                    raise unknown_after_guid(self.cursor.after_guid, exc, self.plan.noun) from None
                if not self.plan.restart_lost or restarted:
                    raise LostCursorError(
                        f"{exc.message}. Events after {self.cursor.last_created_at or 'the cursor'} "
                        "may already be gone: rerun with --on-lost-cursor restart to export from "
                        "the oldest event still kept (earlier events may repeat), or with a new "
                        "checkpoint and --since"
                    ) from None
                restarted = True
                self.warn(f"{exc.message}; restarting from the oldest available event")
                self.cursor.after_guid = None
                continue
            if not self.plan.follow:
                return
            self.sleep(self.plan.interval)

    def _pages(self, renderer: Renderer | None) -> Iterator[dict[str, Any]]:
        """Keyset pages from the cursor; with ``parallel`` the settled range in sub-ranges at
        once (the same pages' events in the same order: cfevents.export.parallel), formatted
        by the workers with ``renderer`` and spooled next to ``--out``."""
        plan = self.plan
        params = list(plan.params)
        if plan.parallel <= 1:
            reader: JsonGetter = self.client
            if self.store_sink is not None:  # keeps each event's text for the raw column
                reader = self.store_sink.pages_client(reader)
            return keyset_pages(reader, plan.path, params, self.cursor.after_guid, plan.per_page)
        from cfevents.export.parallel import parallel_pages

        guard = max(plan.min_age or timedelta(0), timedelta(seconds=60))
        return parallel_pages(
            self.client,
            plan.path,
            params,
            self.cursor.after_guid,
            plan.per_page,
            parallel=plan.parallel,
            end=format_cc(self._server_now() - guard),
            warn=self.warn,
            note=self.note,
            renderer=renderer,
            start=self.cursor.last_created_at,
            spool_dir=self.sink.path.parent if self.sink and self.sink.path else None,
        )

    def _check_cursor(self) -> None:
        """Once a run: the cursor's event as CC has it now must be the event the cursor was
        left on. A purge-and-reseed writes one event per running process with the process
        guid as its guid: when the cursor was on such an event, a second reseed brings the
        guid back, CC keeps paging after it, and every event of the reseed and before it
        would be skipped without a word. Its ``created_at`` tells the two apart. Only a
        reseeded event's guid comes back, so only such an event is compared (the built-in
        demo foundation, made again at each run, keeps its guids at new times)."""
        guid, at = self.cursor.after_guid, self.cursor.last_created_at
        if self._cursor_checked or not guid or not at:
            return
        self._cursor_checked = True
        try:
            kind = kind_for_path(self.plan.path)
        except KeyError:  # audit events: CC never gives a guid twice
            return
        try:
            event = self.client.get_json(f"{self.plan.path}/{guid}")
        except ApiError as exc:
            if exc.status == 404:  # gone: the listing says so itself (LostCursorError)
                return
            raise
        if not isinstance(event, dict) or event.get("guid") != guid or not kind.is_reseeded(event):
            return  # not a reseeded event: its guid is its own
        now = event.get("created_at")
        if cc_epoch(now) is None or cc_epoch(now) == cc_epoch(at):
            return
        raise LostCursorError(
            f"Cloud Controller's event {guid} is from {now}, not {at} as when the cursor was "
            "left on it: its events were purged and reseeded (a reseed gives each event the "
            f"guid of its {kind.reseed_column.removesuffix('_guid').replace('_', ' ')})"
        )

    def _one_pass(self, renderer: Renderer | None) -> Iterator[Page]:
        plan = self.plan
        self._check_cursor()
        started = self._server_now()  # every event older than this less min-age is visible
        pages = self._pages(renderer)
        for batch in batches(pages, min_age=plan.min_age, now=self._server_now):
            self.pages += 1
            self.pending = batch
            yield batch.spooled or batch.events
            self.commit()
            if self.on_batch is not None:
                self.on_batch(self.events_read(), self.pages, self._total(batch))
            if batch.stopped_by_age:
                self.held_back = True
            del batch  # not kept alive while the next page is fetched and decoded
        if self.store_sink is not None:  # read to the end: the store is complete up to here
            self.store_sink.mark_complete(self._complete_until(started), started)

    def _complete_until(self, started: datetime) -> datetime:
        """Every event created before this was visible to a pass that began at ``started``
        (its CC time) and read every page: ``started`` less min-age, or ``--until``."""
        complete = started - (self.plan.min_age or timedelta(0))
        for key, value in self.plan.params:
            if key.startswith("created_ats[lt"):  # nothing later was asked for
                bound = datetime.strptime(value, CC_TIME).replace(tzinfo=UTC)
                complete = min(complete, bound + timedelta(seconds=key == "created_ats[lte]"))
        return complete

    def _api_time(self, local: datetime) -> datetime:
        """``local`` (our clock) by the API's clock when ours is off by more than
        CLOCK_TOLERANCE_S."""
        skew = getattr(self.client, "clock_skew", None)
        if not isinstance(skew, int | float) or abs(skew) <= CLOCK_TOLERANCE_S:
            return local
        return local + timedelta(seconds=skew)

    def _server_now(self) -> datetime:
        """Now, by the API's clock when ours is off by more than CLOCK_TOLERANCE_S (the min-age
        guard compares with ``created_at``, which CC stamps with its own clock)."""
        skew = getattr(self.client, "clock_skew", None)
        if not isinstance(skew, int | float) or abs(skew) <= CLOCK_TOLERANCE_S:
            return utcnow()
        if not self._skew_noted:
            self._skew_noted = True
            way = "behind" if skew > 0 else "ahead of"
            self.note(
                f"the local clock is {abs(skew):.0f}s {way} the API's (its HTTP Date header); "
                "--min-age uses the API's clock"
            )
        return utcnow() + timedelta(seconds=skew)

    def _total(self, batch: Batch) -> int | None:
        if batch.total_results is None:
            return None
        return int(self.cursor.events - self.start_events + batch.total_results - batch.size)

    def commit(self) -> None:
        """Flush and fsync what was written, then move the cursor and save the checkpoint."""
        batch, self.pending = self.pending, None
        if batch is None or not batch.size:
            return
        if self.store_sink is not None:  # the page and the cursor after it, one transaction
            self.stored += self.store_sink.write(batch.events)
        sink = self.sink
        size = sink.sync() if sink is not None else None
        self.cursor.advance(batch)
        if sink is not None and sink.path is not None and self.store is not None:
            size = self._follow_rotation(sink, size)
        self._save(size)

    def _save(self, size: int | None) -> None:
        if self.store is None:
            return
        sink = self.sink
        output = (
            ckpt.OutputState(str(sink.path), self.plan.fmt, size)
            if sink is not None and sink.path is not None and size is not None
            else None
        )
        self.store.save(
            ckpt.Checkpoint(
                api=self.client.api,
                after_guid=self.cursor.after_guid,
                last_created_at=self.cursor.last_created_at,
                events=self.cursor.events,
                output=output,
                updated_at=format_cc(utcnow()),
            ),
        )

    def _follow_rotation(self, sink: Sink, size: int | None) -> int | None:
        """The batch just made durable went into the file this run opened. If ``--out`` now
        names another file (rotated away) or a shorter one (truncated), fail or, with
        ``--on-rotated new-file``, carry on in the file that is there now."""
        assert sink.path is not None
        try:
            st = os.stat(sink.path)
            moved = (st.st_dev, st.st_ino) != sink.inode() or st.st_size < (size or 0)
        except FileNotFoundError:
            moved = True
        if not moved:
            return size
        if self.plan.on_rotated != "new-file":
            raise OutputIOError(
                f"--out {sink.path} was rotated away or truncated while exporting (events up to "
                f"{self.cursor.events:,} are in the file this run opened); rerun with "
                "--on-rotated new-file to carry on in a new file"
            )
        handle = open(sink.path, "a", encoding="utf-8", errors=ERRORS, newline="")  # noqa: SIM115
        stream = sink.stream
        assert isinstance(stream, _Handle)
        old, stream.handle = stream.handle, handle
        old.close()
        if os.fstat(handle.fileno()).st_size == 0:
            handle.write(self._header)
        self.note(f"--out {sink.path} was rotated; carrying on in a new file there")
        return sink.sync()

    def close_sink(self) -> None:
        if self.sink is not None:
            self.sink.close()
            self.sink = None

    # -- messages ------------------------------------------------------------------------------

    def events_read(self) -> int:
        """Events read past the cursor in this run (client-side filters may drop some)."""
        return self.cursor.events - self.start_events

    def unrecorded_note(self) -> str:
        where = f" ({self.cursor.after_guid})" if self.cursor.after_guid else ""
        return f"nothing past event {self.cursor.events:,}{where} was recorded; rerun to resume"

    def stopped_note(self) -> str:
        where = (
            f"after event {self.cursor.after_guid} ({self.cursor.last_created_at})"
            if self.cursor.after_guid
            else "before the first event"
        )
        text = f"the export stopped after reading {self.events_read():,} events, {where}"
        if self.plan.checkpoint is not None:
            text += f"; {self.plan.checkpoint} points there: rerun to resume"
        if self.plan.store is not None:
            text += "; the store's cursor points there: rerun to resume"
        return text

    def summary(self, written: int) -> str:
        pages = "1 page" if self.pages == 1 else f"{self.pages} pages"
        if self.plan.store is not None:
            text = (
                f"stored {self.stored:,} new events ({self.events_read():,} read) in {pages} "
                f"into {self.store_display}"
            )
            if self.held_back and self.plan.min_age is not None:
                text += f"; events younger than {int(self.plan.min_age.total_seconds())}s are left for the next run"
            return text
        text = f"exported {written:,} events ({self.events_read():,} read) in {pages}"
        if self.held_back and self.plan.min_age is not None:
            text += f"; events younger than {int(self.plan.min_age.total_seconds())}s are left for the next run"
        return text
