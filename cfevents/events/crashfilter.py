"""Why an app crashed, pure: a crash's exit status, the OOM test and the ``--reason`` /
``--exit-status`` / ``--oom`` filter (applied to listings, summaries and follows alike).

Diego rarely sends ``exit_status`` (issue 22's sandbox sends it as CC does); its
``exit_description`` usually says it (``APP/PROC/WEB: Exited with status 137 (out of
memory)``). The exit status of a crash is therefore ``exit_status`` when it is a number (or a
numeric string, as CC's docs show it), else the number after "exited with status" in the
description.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cfevents.errors import UsageError

Event = dict[str, Any]

OOM_STATUS = 137  # 128 + SIGKILL: what the kernel's OOM killer leaves
_STATUS_TEXT = re.compile(r"exited with status (\d+)", re.IGNORECASE)
_OOM_TEXT = re.compile(r"out of memory|\bOOM\b", re.IGNORECASE)


def exit_status(crash: Event) -> int | None:
    """The crash's exit status: ``exit_status``, else the one its description names."""
    value = crash.get("exit_status")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    match = _STATUS_TEXT.search(str(crash.get("exit_description") or ""))
    return int(match.group(1)) if match else None


def is_oom(crash: Event) -> bool:
    """Exit status 137, or "out of memory" / "OOM" in the reason or exit description."""
    text = f"{crash.get('reason') or ''} {crash.get('exit_description') or ''}"
    return exit_status(crash) == OOM_STATUS or bool(_OOM_TEXT.search(text))


@dataclass(frozen=True)
class CrashFilter:
    """Crashes to keep: any of ``reasons`` (case-insensitive text in the reason or the exit
    description), any of ``statuses`` (exit status), and OOM kills only with ``oom``. Each
    given condition must hold; an empty filter keeps everything."""

    reasons: tuple[str, ...] = ()
    statuses: tuple[int, ...] = ()
    oom: bool = False

    def __bool__(self) -> bool:
        return bool(self.reasons or self.statuses or self.oom)

    def matches(self, crash: Event) -> bool:
        if self.oom and not is_oom(crash):
            return False
        if self.statuses and exit_status(crash) not in self.statuses:
            return False
        if self.reasons:
            text = f"{crash.get('reason') or ''}\n{crash.get('exit_description') or ''}".casefold()
            return any(reason.casefold() in text for reason in self.reasons)
        return True

    def apply(self, crashes: Iterable[Event]) -> Iterator[Event]:
        return (c for c in crashes if self.matches(c)) if self else iter(crashes)

    def describe(self) -> str:
        """The filters as options, for "none matched ..." notes."""
        parts = [f"--reason {r!r}" for r in self.reasons]
        parts += [f"--exit-status {s}" for s in self.statuses]
        parts += ["--oom"] if self.oom else []
        return " ".join(parts)


def crash_filter(
    reasons: Sequence[str] = (), statuses: Sequence[str | int] = (), oom: bool = False
) -> CrashFilter:
    """The filter for ``--reason``, ``--exit-status`` (numbers, comma-separated allowed) and
    ``--oom``.

    Raises:
        UsageError: an exit status that is not a whole number from 0 to 255, or an empty reason.
    """
    found: list[int] = []
    for value in statuses:
        for part in str(value).split(","):
            text = part.strip()
            if not text.isdigit() or int(text) > 255:
                raise UsageError(
                    f"{part!r} is not an exit status (0 to 255)", param="exit_statuses"
                )
            found.append(int(text))
    texts = [r.strip() for reason in reasons for r in reason.split(",")]
    if any(not t for t in texts):
        raise UsageError("give the text to look for, e.g. 'out of memory'", param="reasons")
    return CrashFilter(tuple(dict.fromkeys(texts)), tuple(dict.fromkeys(found)), oom)
