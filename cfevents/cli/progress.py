"""A rich progress bar on stderr for long exports (terminals only, unless --progress)."""

from __future__ import annotations

from typing import Any, TextIO


class ExportProgress:
    """Events written, pages, rate, and the total when the server said it."""

    def __init__(self, enabled: bool, stderr: TextIO, tty: bool, verb: str = "exporting") -> None:
        self._progress: Any = None
        self._task: Any = None
        # a report's reading shows only once it is long (a page of events): short reads, the
        # common case, print nothing but their summary
        self._pending = (stderr, tty, verb) if enabled and verb != "exporting" else None
        if enabled and self._pending is None:
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

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn(verb),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "events · {task.fields[pages]} · {task.fields[rate]}/s"
                if verb == "exporting"
                else "events · {task.fields[rate]}/s"
            ),
            TimeElapsedColumn(),
            console=Console(file=stderr, force_terminal=tty or None),
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task("export", total=None, pages="0 pages", rate="0")

    def update(self, written: int, pages: int, total: int | None) -> None:
        if self._progress is None:
            return
        elapsed = self._progress.tasks[0].elapsed or 0.0
        rate = f"{written / elapsed:,.0f}" if elapsed > 0 else "0"
        label = f"{pages} page" if pages == 1 else f"{pages} pages"
        self._progress.update(self._task, completed=written, total=total, pages=label, rate=rate)

    def events(self, read: int) -> None:
        """A report's reading: ``read`` events so far (no pages, no total); the bar appears
        once a page (5000) has been read."""
        if self._pending is not None and read >= 5000:
            self._start(*self._pending)
            self._pending = None
        self.update(read, 0, None)

    def __enter__(self) -> ExportProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
