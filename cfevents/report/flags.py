"""What each row flag of a report means: one line each, for ``--help``, the README and the
legend a table prints when flags appear (the one place these words live)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

FLAG_MEANINGS: dict[str, str] = {
    "inferred_start": "running before its first event; its start comes from that event's "
    "previous state",
    "unknown_start": "a start no event or snapshot shows; counted from its first event only",
    "running_at_start": "a task already running when the read began; counted from there",
    "open_at_end": "still running at the window end; counted up to it",
    "closed_by_reseed": "absent from a purge-and-reseed, so taken as stopped at the reseed",
    "chain_gap": "an event's previous state disagrees with the one before it (lost events?)",
    "memory_carried_forward": "an event without memory; the previous memory was used",
    "unknown_instances": "the instance count is unknown for some time; that time counts 0",
    "unknown_memory": "the memory is unknown for some time; no MB-seconds for it",
    "state_mismatch": "a BUILDPACK_SET whose state disagrees with the tracked one",
    "stop_while_stopped": "a STOPPED event for a process already stopped",
    "stop_unobservable": "a task's stop can never be seen (its start was pruned or reseeded)",
    "duplicate_task_start": "a second TASK_STARTED for one task, ignored",
    "duplicate_task_stop": "a second TASK_STOPPED for one task, ignored",
    "no_process_guid": "an old event without a process guid; keyed by app and process type",
    "incomplete": "events this window needs are gone (--allow-incomplete): figures are low",
    "unknown_plan": "a service instance whose plan before its first UPDATED nobody knows",
    "create_failed": "a failed provision, billed from CREATED to DELETED as CC keeps it",
}


def legend(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """``flag: meaning`` for each flag the rows carry (a table's legend), sorted."""
    seen: set[str] = set()
    for row in rows:
        flags = row.get("flags") or []
        seen.update(flags.split(",") if isinstance(flags, str) else flags)
    seen.discard("")
    return [f"{flag}: {FLAG_MEANINGS.get(flag, '(see README)')}" for flag in sorted(seen)]


def help_text() -> str:
    """The flags and their meanings as a ``--help`` epilog paragraph."""
    return "Row flags:\n\n" + "\n\n".join(f"{f}: {m}" for f, m in FLAG_MEANINGS.items())
