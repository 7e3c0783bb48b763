"""Writing a follow (``crashes --follow``, ``events list --follow``): each record as it
arrives, one header, and a clean stop that says how many were shown (exit 143 on SIGTERM,
130 on Ctrl-C)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from cfevents.cli.runtime import Runtime

if TYPE_CHECKING:
    from cfevents.output.formatters import OutputSpec


def stream_spec(spec: OutputSpec) -> OutputSpec:
    """An endless stream cannot be one JSON array: ``-o json`` is one object per line."""
    return dataclasses.replace(spec, fmt="ndjson") if spec.fmt == "json" else spec


def run_follow(
    rt: Runtime,
    records: Iterable[Any],
    spec: OutputSpec,
    *,
    nouns: tuple[str, str],
    each: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Write each record (then run ``each`` on it) until the follow is stopped; ``nouns`` is
    the singular and plural of what is shown, for the stop line."""
    from cfevents.cli.output import emit
    from cfevents.errors import ExportStopped, StoppedBySignal

    shown = 0
    try:
        for record in records:
            emit(rt, [record], spec)
            if shown == 0:  # one header, before the first record
                spec = dataclasses.replace(spec, headers=False)
            shown += 1
            if each is not None:
                each(dict(record))
    except (KeyboardInterrupt, StoppedBySignal) as exc:
        signum = exc.signum if isinstance(exc, StoppedBySignal) else 2
        noun = nouns[0] if shown == 1 else nouns[1]
        raise ExportStopped(signum, f"stopped following ({shown} {noun} shown)") from None
