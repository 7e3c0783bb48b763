"""Whole-file outputs (a report's ``--out``): written only when complete, atomically.

The document goes to a temporary file beside the target, is flushed and fsynced, and replaces
the target with one ``rename``: a reader sees the old file or the new one, never a part, and a
run that fails (exit 7, a signal, a full disk) leaves no file behind. An existing target is
refused unless ``force`` — checked before the work starts, so a long report is not computed
for nothing.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from cfevents.errors import OutputIOError, UsageError

EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
}


def check_target(path: Path, *, force: bool) -> None:
    """Refuse a target that exists (unless ``force``) or whose directory does not."""
    if path.is_dir():
        raise UsageError(f"--out {path} is a directory")
    if path.exists() and not force:
        raise UsageError(f"--out {path} exists: --force replaces it (atomically, when complete)")
    if not path.parent.is_dir():
        raise UsageError(f"--out {path}: no directory {path.parent}")


def format_for(path: Path) -> str | None:
    """The format a target's extension names (``.csv`` -> csv), or None."""
    return EXTENSIONS.get(path.suffix.lower())


def write_whole(path: Path, write: Callable[[TextIO], object]) -> None:
    """Run ``write`` into a temporary file beside ``path``, make it durable, rename it over
    ``path``. Any failure removes the temporary file; OSError becomes OutputIOError (exit 9)."""
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise OutputIOError(f"--out {path}: cannot write: {exc.strerror}") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # as open() would have made it
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
        _sync_directory(path.parent)
    except OSError as exc:
        _remove(temp)
        raise OutputIOError(f"--out {path}: cannot write: {exc.strerror}") from None
    except BaseException:
        _remove(temp)
        raise


def _sync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system syncs a directory
        handle = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def _remove(temp: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(temp)
