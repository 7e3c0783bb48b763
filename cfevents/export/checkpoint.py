"""The incremental-export checkpoint: where the last run stopped, written atomically.

File format (JSON, one object; README "Checkpoint file"):

```
{"version": 1,
 "api": "https://api.sys.example.com",   # the foundation the cursor belongs to
 "after_guid": "…",                       # the last event written (CC id order)
 "last_created_at": "2024-05-01T12:00:00Z",
 "events": 12345,                         # events written by all runs so far
 "output": {"path": "/abs/usage.csv", "format": "csv", "bytes": 1234567} | null,
 "updated_at": "2024-05-01T12:01:00Z"}
```

It is replaced atomically (temp file in the same directory, fsync, rename, fsync of the
directory) and only after the output it describes has been flushed and fsynced, so a crash at
any point leaves it pointing at or before what was written. With ``--out FILE`` it also records
the file's size: a rerun cuts off anything written after the recorded size (a batch whose
checkpoint was never written) before exporting it again, so every event lands exactly once.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cfevents.errors import ExportLockedError, OutputIOError, UsageError
from cfevents.files import OutputTarget, atomic_write, check_output

VERSION = 1


@dataclass
class OutputState:
    path: str
    format: str
    bytes: int


@dataclass
class Checkpoint:
    api: str
    after_guid: str | None = None
    last_created_at: str | None = None
    events: int = 0
    output: OutputState | None = None
    updated_at: str | None = None
    version: int = VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


def load(path: Path) -> Checkpoint | None:
    """The checkpoint at ``path``, None if the file does not exist; a usage error if unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}", param="checkpoint") from None
    try:
        data: Any = json.loads(text)
    except ValueError as exc:
        raise UsageError(
            f"{path} is not a valid checkpoint file ({exc})", param="checkpoint"
        ) from None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise UsageError(
            f"{path} is not a valid checkpoint file (not a cfevents checkpoint (version 1))",
            param="checkpoint",
        )

    def field(obj: dict[str, Any], key: str, kind: type, *, required: bool = False) -> Any:
        value = obj.get(key)
        if value is None and not required:
            return None
        if type(value) is not kind:  # bool is not an int here, and "12" is not a number
            name = {str: "a string", int: "an integer"}[kind]
            shown = "missing" if key not in obj else json.dumps(value)[:40]
            raise UsageError(f"{path}: {key!r} must be {name}, not {shown}", param="checkpoint")
        return value

    raw_output = data.get("output")
    output = None
    if raw_output is not None:
        if not isinstance(raw_output, dict):
            raise UsageError(f"{path}: 'output' must be an object or null", param="checkpoint")
        output = OutputState(
            path=field(raw_output, "path", str, required=True),
            format=field(raw_output, "format", str, required=True),
            bytes=field(raw_output, "bytes", int, required=True),
        )
    events = field(data, "events", int) or 0
    if events < 0 or (output is not None and output.bytes < 0):
        raise UsageError(f"{path}: 'events' and 'bytes' cannot be negative", param="checkpoint")
    return Checkpoint(
        api=field(data, "api", str, required=True),
        after_guid=field(data, "after_guid", str),
        last_created_at=field(data, "last_created_at", str),
        events=events,
        output=output,
        updated_at=field(data, "updated_at", str),
    )


def save(path: Path, checkpoint: Checkpoint) -> None:
    """Atomically replace ``path``: temp file + fsync + rename + directory fsync
    (cfevents.files.atomic_write).

    A failure (disk full, EIO, a failed fsync) is :class:`OutputIOError` naming the file; the
    previous checkpoint is left as it was.
    """
    atomic_write(OutputTarget(path, "checkpoint"), checkpoint.to_json())


def probe(path: Path) -> None:
    """Before any request: the checkpoint is a regular file (or none yet), its directory
    exists and a file can be created there (cfevents.files.check_output). Else a usage error,
    nothing written."""
    target = check_output(path, param="checkpoint", existing="replace")
    directory = target.path.parent if str(target.path.parent) else Path(".")
    if target.passthrough:
        raise UsageError(f"{path} is not a regular file", param="checkpoint")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=directory)
    except OSError as exc:
        raise UsageError(
            f"cannot write in {directory}: {exc.strerror}; nothing was exported",
            param="checkpoint",
        ) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)


class CheckpointLock:
    """An exclusive ``fcntl.flock`` on ``<checkpoint>.lock``, held for the whole run.

    The kernel drops it when the process dies (kill -9 included), so a crash never leaves a
    stale lock; the pid written into the file only names the holder in the error message.
    """

    def __init__(self, checkpoint: Path) -> None:
        self.checkpoint = checkpoint
        self.path = checkpoint.with_name(checkpoint.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UsageError(
                f"cannot create {self.path}: {exc.strerror}", param="checkpoint"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = b""
            with contextlib.suppress(OSError):
                holder = os.pread(fd, 32, 0)
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise OutputIOError(f"cannot lock {self.path}: {exc.strerror}") from None
            pid = holder.decode("ascii", "replace").strip() or "unknown"
            raise ExportLockedError(
                f"another export holds {self.checkpoint} (pid {pid}); let it finish first "
                f"(lock file {self.path})"
            ) from None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # closing drops the flock; the file stays (harmless)
            self._fd = None


class CheckpointStore:
    """The checkpoint file of one incremental export."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Checkpoint | None:
        return load(self.path)

    def save(self, checkpoint: Checkpoint) -> None:
        save(self.path, checkpoint)
