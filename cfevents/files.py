"""Every file cfevents writes, and every file it reads as an input, goes through here.

One set of rules for export ``--out``, report ``--save-state`` and output files, checkpoints
and SQLite store files (docs/architecture.md "Files"):

- strftime patterns expand (local time, as cron's ``date``): ``usage-%Y-%m-%d.csv``;
- a non-empty regular file is never replaced without ``force`` (an incremental export appends);
- a directory, a symbolic link, a device, a FIFO or a socket is refused, except a
  ``/dev/stdout``-like target (``/dev/…``, ``/proc/self/fd/…`` naming a character device or a
  pipe): that one is written through, never truncated, renamed over or replaced;
- the target's directory is checked when the target is checked, before any work starts;
- a whole file (a state file, a report, a workbook, a checkpoint) is written to a temporary
  file in the same directory, fsynced and renamed over the target: a reader sees the old file
  or the new one, never half of one;
- an input is opened read-only; nothing here creates or changes it;
- text is UTF-8; a lone surrogate in it is written as its JSON escape (output.unstorable).

Errors name the Python parameter (``out``, ``save_state``, ``checkpoint``): the CLI maps it
to the flag. A refused target is :class:`UsageError` (exit 2), a failed write
:class:`OutputIOError` (exit 9).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Literal, TextIO, cast

from cfevents.errors import OutputIOError, UsageError
from cfevents.output.unstorable import ERRORS  # a lone surrogate is written as its JSON escape

# Targets under these are the process's own streams or devices: written through.
PASSTHROUGH_PREFIXES = ("/dev/", "/proc/self/fd/")

Existing = Literal["refuse", "append", "replace"]
"""What happens to an existing non-empty regular file: ``refuse`` (unless ``force``),
``append`` to it (incremental exports), or ``replace`` it (a file cfevents owns: checkpoints)."""


@dataclass(frozen=True)
class OutputTarget:
    """A checked output path: where to write, and how."""

    path: Path
    param: str  # the parameter that named it, for messages
    passthrough: bool = False  # /dev/stdout-like: write through, never replace
    size: int | None = None  # the existing regular file's size; None when there is none

    @property
    def exists(self) -> bool:
        return self.size is not None


def expand(path: str | os.PathLike[str], *, param: str, now: datetime | None = None) -> str:
    """``path`` with its strftime patterns expanded (local time); unchanged without ``%``.

    Raises:
        UsageError: a pattern strftime cannot expand.
    """
    text = os.fspath(path)
    if "%" not in text or "://" in text:  # a URL's %-escapes are not strftime's
        return text
    try:
        return (now or datetime.now()).strftime(text)
    except ValueError as exc:
        raise UsageError(f"bad strftime pattern in {text!r}: {exc}", param=param) from None


def check_output(
    path: str | os.PathLike[str],
    *,
    param: str,
    force: bool = False,
    existing: Existing = "refuse",
    expand_patterns: bool = True,
    hint: str = "`force` replaces it",
) -> OutputTarget:
    """Check an output path before any work; the target to write (patterns expanded).

    Raises:
        UsageError: a directory, symlink, device, FIFO or socket (other than a
            ``/dev/stdout``-like target), a missing or unwritable directory, or a non-empty
            file with ``existing="refuse"`` and no ``force``.
    """
    text = expand(path, param=param) if expand_patterns else os.fspath(path)
    if not text:
        raise UsageError("an empty path", param=param)
    target = Path(text)
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        _check_directory(target, param)
        return OutputTarget(target, param)
    except OSError as exc:
        raise UsageError(f"cannot use {target}: {exc.strerror}", param=param) from None
    if _passes_through(text, st):
        return OutputTarget(target, param, passthrough=True)
    kind = _refused_kind(st.st_mode)
    if kind is not None:
        raise UsageError(
            f"{target} is {kind}; name a regular file (cfevents never writes through or "
            "replaces one)",
            param=param,
        )
    if st.st_size > 0 and existing == "refuse" and not force:
        raise UsageError(f"{target} exists and is not empty; {hint}", param=param)
    _check_directory(target, param)
    return OutputTarget(target, param, size=st.st_size)


def _passes_through(text: str, st: os.stat_result) -> bool:
    """A /dev/stdout-like target: a character device, a pipe, or a link to what the process
    writes to (``/dev/stdout`` -> ``/proc/self/fd/1`` -> a pipe, a terminal or a redirected
    file), named under /dev or /proc/self/fd. A regular file there (/dev/shm) is a file."""
    if not text.startswith(PASSTHROUGH_PREFIXES):
        return False
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode) or stat.S_ISLNK(st.st_mode)):
        return False
    try:
        return not stat.S_ISDIR(os.stat(text).st_mode)
    except OSError:
        return False


def _refused_kind(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device"


def _check_directory(target: Path, param: str) -> None:
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise UsageError(f"the directory {directory} does not exist", param=param)
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write in the directory {directory}", param=param)


@contextlib.contextmanager
def atomic_output(target: OutputTarget, *, binary: bool = False) -> Iterator[IO[str] | IO[bytes]]:
    """A file to write the whole output into; on success it replaces the target atomically
    (fsynced first); on failure the target is left as it was and the temporary file removed.

    A pass-through target (``/dev/stdout``) is opened and written directly.

    Raises:
        OutputIOError: the file could not be written or made durable.
    """
    if target.passthrough:
        try:
            encoding, errors = (None, None) if binary else ("utf-8", ERRORS)
            with open(
                target.path, "wb" if binary else "w", encoding=encoding, errors=errors
            ) as handle:
                yield handle
        except OSError as exc:
            raise _io_error(target, exc) from None
        return
    directory = target.path.parent if str(target.path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise _io_error(target, exc) from None
    try:
        mode = "wb" if binary else "w"
        text = (None, None) if binary else ("utf-8", ERRORS)
        with os.fdopen(fd, mode, encoding=text[0], errors=text[1], newline=None) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target.path)
        _fsync_directory(directory)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _io_error(target, exc) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write(target: OutputTarget, data: str | bytes) -> None:
    """Write ``data`` as the whole content of ``target`` (see :func:`atomic_output`)."""
    with atomic_output(target, binary=isinstance(data, bytes)) as handle:
        handle.write(data)  # type: ignore[arg-type]  # str into text, bytes into binary


def open_stream(target: OutputTarget, *, append: bool) -> TextIO:
    """The target opened for a stream of text (an export): appended to, or started afresh.

    Raises:
        OutputIOError: it cannot be opened.
    """
    mode = "a" if append or target.passthrough else "w"
    try:
        return cast("TextIO", open(target.path, mode, encoding="utf-8", errors=ERRORS, newline=""))
    except OSError as exc:
        raise UsageError(f"cannot open {target.path}: {exc.strerror}", param=target.param) from None


def check_input(path: str | os.PathLike[str], *, param: str) -> Path:
    """An existing regular file (or a pipe) to read; nothing is created or changed.

    Raises:
        UsageError: it does not exist, or is a directory.
    """
    target = Path(os.fspath(path))
    try:
        st = os.stat(target)
    except FileNotFoundError:
        raise UsageError(f"{target} does not exist", param=param) from None
    except OSError as exc:
        raise UsageError(f"cannot read {target}: {exc.strerror}", param=param) from None
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{target} is a directory, not a file", param=param)
    return target


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a directory; the rename is still atomic
    finally:
        os.close(fd)


def _io_error(target: OutputTarget, exc: OSError) -> OutputIOError:
    return OutputIOError(f"cannot write {target.path} ({target.param}): {exc.strerror or exc}")
