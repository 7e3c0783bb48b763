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
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cfevents.errors import UsageError

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
        raise UsageError(f"--checkpoint: cannot read {path}: {exc.strerror}") from None
    try:
        data: Any = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise ValueError("not a cfevents checkpoint (version 1)")
        output = data.get("output")
        return Checkpoint(
            api=str(data["api"]),
            after_guid=data.get("after_guid"),
            last_created_at=data.get("last_created_at"),
            events=int(data.get("events") or 0),
            output=OutputState(**output) if isinstance(output, dict) else None,
            updated_at=data.get("updated_at"),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"--checkpoint: {path} is not a valid checkpoint file ({exc})") from None


def save(path: Path, checkpoint: Checkpoint) -> None:
    """Atomically replace ``path``: temp file + fsync + rename + directory fsync."""
    directory = path.resolve().parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(checkpoint.to_json())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # not every platform lets a directory be fsynced
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class CheckpointStore:
    """The checkpoint file of one incremental export."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Checkpoint | None:
        return load(self.path)

    def save(self, checkpoint: Checkpoint) -> None:
        save(self.path, checkpoint)
