"""The progress display of long exports and long reads, on stderr (terminals only, unless
--progress).

An export's bar is rich's live display, left on the screen above its summary. A long read
(``usage list --all``, a report, ``crashes --summary``, ...) shows one line that erases
itself: drawn by hand when a page is done (the next one may take a while), once more than
SHOW_AFTER_PAGES pages were read, at most every REDRAW_EVERY seconds; erased before anything
else reaches the terminal (:func:`read_progress` guards stdout and stderr) and at the end, so
nothing of it is left on the screen and it never lands inside a table.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TextIO, cast

if TYPE_CHECKING:
    from cfevents.cc.paging import PageInfo
    from cfevents.cli.runtime import Runtime

SHOW_AFTER_PAGES = 2  # a read of one or two pages prints nothing but its output
EVENTS_PER_PAGE = 5000  # a report counts events, not pages: a v3 page of them
REDRAW_EVERY = 0.1  # seconds between two draws of a read's line
ERASE = "\r\x1b[K"  # back to the line's start, erase it: the cursor stays on the line


class ExportProgress:
    """Events written (or read), pages, rate, and the total when the server said it."""

    def __init__(
        self,
        enabled: bool,
        stderr: TextIO,
        tty: bool,
        verb: str = "exporting",
        *,
        transient: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._progress: Any = None
        self._task: Any = None
        self._stderr, self._env = stderr, env
        self._transient = transient
        self._shown = False  # a read's line is on the screen
        self._drawn_at = 0.0
        self._flush_first: list[TextIO] = []  # guarded streams: their text goes out first
        if enabled:
            self._start(stderr, tty, verb)

    def _start(self, stderr: TextIO, tty: bool, verb: str) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        console = (  # a read's line is rendered into a buffer, then drawn by hand
            Console(file=io.StringIO(), force_terminal=True, highlight=False)
            if self._transient
            else Console(file=stderr, force_terminal=tty or None)
        )
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn(verb),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("events{task.fields[pages]} · {task.fields[rate]}/s"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            auto_refresh=not self._transient,
        )
        if not self._transient:
            self._progress.start()
        self._task = self._progress.add_task("export", total=None, pages=" · 0 pages", rate="0")

    def update(self, written: int, pages: int, total: int | None) -> None:
        """``written`` events in ``pages`` pages so far, of ``total`` when known."""
        self._show(written, pages, total, f" · {pages} page" + ("" if pages == 1 else "s"))

    def page(self, info: PageInfo) -> None:
        """A listing's page is done (its observer: :meth:`Listing.observe`)."""
        self.update(info.resources, info.pages, info.total_results)

    def events(self, read: int) -> None:
        """A report's reading: ``read`` events so far (no pages shown, no total)."""
        self._show(read, -(-read // EVENTS_PER_PAGE), None, "")

    def _show(self, done: int, pages: int, total: int | None, label: str) -> None:
        if self._progress is None:
            return
        elapsed = self._progress.tasks[0].elapsed or 0.0
        rate = f"{done / elapsed:,.0f}" if elapsed > 0 else "0"
        self._progress.update(self._task, completed=done, total=total, pages=label, rate=rate)
        if self._transient and pages > SHOW_AFTER_PAGES:
            self._draw()

    def _draw(self) -> None:
        from cfevents.output.table import terminal_width

        now = time.monotonic()
        if now - self._drawn_at < REDRAW_EVERY:
            return
        self._drawn_at = now
        console = self._progress.console
        console.width = max(20, terminal_width(self._stderr, self._env) - 1)
        buffer = console.file
        buffer.seek(0)
        buffer.truncate()
        console.print(self._progress.make_tasks_table(self._progress.tasks), end="")
        line = buffer.getvalue().split("\n", 1)[0]
        for stream in self._flush_first:
            stream.flush()  # a table's last rows before the line, never after it
        self._write("\r" + line + "\x1b[K")
        self._shown = True

    def clear(self) -> None:
        """Erase a read's line (it is drawn again when the next page is done)."""
        if self._shown:
            self._shown = False
            self._write(ERASE)

    def _write(self, text: str) -> None:
        try:
            self._stderr.write(text)
            self._stderr.flush()
        except (BrokenPipeError, ValueError):
            self._progress = None  # a closed stderr: no more progress

    def guard(self, stream: TextIO) -> TextIO:
        """``stream`` (on the same terminal), erasing the line before each write."""
        self._flush_first.append(stream)
        return cast("TextIO", _ErasingWriter(stream, self))

    def __enter__(self) -> ExportProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.clear()
        if self._progress is not None:
            if not self._transient:
                self._progress.stop()
            self._progress = None


class _ErasingWriter:
    """A text stream that erases the progress line before each write (the rest delegates)."""

    def __init__(self, stream: TextIO, progress: ExportProgress) -> None:
        self._stream, self._progress = stream, progress

    def write(self, text: str) -> int:
        self._progress.clear()
        return self._stream.write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def read_progress(rt: Runtime) -> Iterator[ExportProgress]:
    """The progress line of a long read, for the block's duration: on a terminal stderr unless
    --quiet. Inside the block ``rt.env`` writes through guards that erase the line first
    (stderr, and stdout when it is a terminal too); at the end the line is erased."""
    saved = rt.env
    enabled = not rt.quiet and saved.stderr_isatty()
    bar = ExportProgress(enabled, saved.stderr, True, "reading", transient=True, env=saved.env)
    if enabled:
        stdout = bar.guard(saved.stdout) if saved.stdout_isatty() else saved.stdout
        rt.env = replace(saved, stdout=stdout, stderr=bar.guard(saved.stderr))
    try:
        yield bar
    finally:
        rt.env = saved
        bar.close()
