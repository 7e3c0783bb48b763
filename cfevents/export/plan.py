"""What one export reads and where it writes: :class:`ExportPlan`, built and checked once.

:meth:`ExportPlan.build` is the one constructor every export goes through (app usage, service
usage, and any kind after them): it checks the options of :class:`ExportArgs` (format, out,
checkpoint, min-age, interval, per-page, parallel, store restrictions) before any request, and
fixes them in a frozen plan the engine runs. Errors name the Python parameter.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, cast

from cfevents.errors import UsageError
from cfevents.events.bounds import check_interval, check_min_age, check_per_page
from cfevents.events.query import V3_MAX_PER_PAGE

if TYPE_CHECKING:
    from cfevents.events.kinds import EventKind
    from cfevents.events.resolve import Resolver
    from cfevents.files import OutputTarget
    from cfevents.shapes import LostCursor, OnRotated

EXPORT_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "json",
}
APPENDABLE = ("csv", "tsv", "ndjson")  # formats a checkpointed export can add to
FLAT_FORMATS = ("csv", "tsv", "ndjson", "json")
DEFAULT_GUARD = timedelta(seconds=60)  # min_age with a checkpoint, follow or a store


class ExportArgs(TypedDict, total=False):
    """How an export runs: where it writes, its checkpoint, min-age and polling."""

    out: str | os.PathLike[str] | None
    force: bool  # replace a non-empty out file (without a checkpoint)
    format: str | None
    default_format: str
    checkpoint: str | os.PathLike[str] | None
    min_age: str | timedelta | None
    on_lost_cursor: LostCursor
    on_rotated: OnRotated
    follow: bool
    interval: str | float
    per_page: int
    foundation: str | None  # a database out files events under this name (default: the API URL)
    flat: bool  # csv/tsv/ndjson/json with the stores' snake_case columns (cfevents.stores.columns)
    parallel: int  # 1..8 sub-ranges of the settled range paged at once (default 1: serial)


@dataclass(frozen=True)
class ExportSource:
    """What an export reads: one event kind's endpoint, its parameters and filters."""

    path: str
    params: tuple[tuple[str, str], ...] = ()
    after_guid: str | None = None
    keep: Callable[[dict[str, Any]], bool] | None = None  # client-side filter
    enrich: Callable[[list[dict[str, Any]]], None] | None = None  # e.g. org names, per page
    noun: str = "app usage event"
    columns: tuple[str, ...] | None = None
    filtered: tuple[str, ...] = ()  # the filter parameters given (a store refuses them)


@dataclass(frozen=True)
class ExportPlan:
    """What one export reads and where it goes, fixed before the first request."""

    path: str
    params: tuple[tuple[str, str], ...] = ()
    per_page: int = V3_MAX_PER_PAGE
    min_age: timedelta | None = None  # leave younger events for the next run
    interval: float = 60.0  # seconds between polls with ``follow``
    follow: bool = False
    restart_lost: bool = False  # restart from the oldest event when CC forgot the cursor
    after_guid: str | None = None  # start after this event (unless the checkpoint has a cursor)
    checkpoint: Path | None = None
    out: Path | None = None
    fmt: str = "ndjson"
    keep: Callable[[dict[str, Any]], bool] | None = None  # client-side filter
    enrich: Callable[[list[dict[str, Any]]], None] | None = None  # e.g. org names, per page
    noun: str = "app usage event"  # what the path lists, for messages
    columns: tuple[str, ...] | None = None  # CSV/TSV columns of run() without a spec (usage's)
    store: str | None = None  # a history store (usage.db, postgresql://…): holds the cursor
    foundation: str | None = None  # the store's name for this foundation (default: the API URL)
    flat: bool = False  # write the store's snake_case columns (cfevents.stores.columns)
    on_rotated: str = "fail"  # --out rotated away or truncated: "fail" or "new-file"
    parallel: int = 1  # sub-ranges of the settled range paged at once (cfevents.export.parallel)
    out_passthrough: bool = False  # out is /dev/stdout-like: written through, never replaced

    @classmethod
    def build(cls, args: ExportArgs, source: ExportSource) -> ExportPlan:
        """The checked plan for ``args`` over ``source``: every option refused here, before
        any request, names its parameter."""
        store, target = _destination(args, source)
        fmt = _format(args, target)
        flat = args.get("flat", False)
        if flat:
            check_flat(fmt, store=store is not None)
        follow = args.get("follow", False)
        checkpoint = args.get("checkpoint")
        age = check_min_age(args.get("min_age"))
        if age is None and (checkpoint is not None or follow or store is not None):
            age = DEFAULT_GUARD
        per_page = args.get("per_page", V3_MAX_PER_PAGE)
        check_per_page(per_page, V3_MAX_PER_PAGE, f"v3 {source.path}")
        return cls(
            path=source.path,
            params=source.params,
            per_page=per_page,
            min_age=age or None,  # 0s: no guard at all
            interval=_interval(args),
            follow=follow,
            restart_lost=_choice(args, "on_lost_cursor", ("fail", "restart")) == "restart",
            on_rotated=_choice(args, "on_rotated", ("fail", "new-file")),
            after_guid=source.after_guid,
            checkpoint=Path(checkpoint) if checkpoint is not None else None,
            out=target.path if target is not None else None,
            out_passthrough=target is not None and target.passthrough,
            fmt=fmt,
            keep=source.keep,
            enrich=source.enrich,
            noun=source.noun,
            columns=source.columns,
            store=store,
            foundation=args.get("foundation"),
            flat=flat,
            parallel=_parallel(args, store),
        )


def export_source(kind: EventKind, args: ExportArgs, resolver: Resolver) -> ExportSource:
    """What an export of ``kind`` reads for ``args`` (its filters parsed by the kind): the one
    way every kind's export is built, so file, store, parallel and follow exports treat every
    kind alike. A database ``out`` is checked first (before any name is resolved)."""
    from cfevents.events.query import UsageQuery, build_usage_params
    from cfevents.events.resolve import org_names_page
    from cfevents.output.columns import COLUMN_SETS

    given = cast("Mapping[str, Any]", args)
    filtered = tuple(key for key in kind.narrowing if given.get(key))
    store = store_target(args) is not None
    if store:
        check_store_export(args, filtered)
    assert kind.parse is not None, f"{kind.name} has no export"
    filters = kind.parse(args)
    query = UsageQuery(window=filters.window, guids=filters.guids)
    names = kind.org_names and given.get("names", True) and not store  # --flat: org_name
    return ExportSource(
        kind.path,
        (*build_usage_params(query), *filters.extra),
        filters.after_guid,
        filters.keep(resolver),
        enrich=org_names_page(resolver) if names else None,
        noun=kind.noun,
        columns=COLUMN_SETS[kind.columns].columns,
        filtered=filtered,
    )


def store_target(args: ExportArgs) -> str | None:
    """The history store ``out`` names (usage.db, postgresql://…, patterns expanded), or None."""
    from cfevents.files import expand
    from cfevents.stores import is_store_target

    out = args.get("out")
    if out is None:
        return None
    text = expand(out, param="out")
    return text if is_store_target(text) else None


def _destination(args: ExportArgs, source: ExportSource) -> tuple[str | None, OutputTarget | None]:
    """The store, or the checked ``out`` file (None: stdout)."""
    from cfevents.files import check_output

    out = args.get("out")
    if out is None or os.fspath(out) == "-":  # out="-" is stdout, as for any Unix tool
        return None, None
    store = store_target(args)
    if store is not None:
        check_store_export(args, source.filtered)
        return store, None
    incremental = args.get("checkpoint") is not None
    target = check_output(
        out,
        param="out",
        force=args.get("force", False),
        existing="append" if incremental else "refuse",
        hint="`force` replaces it, `checkpoint` appends to it incrementally",
    )
    suffix = target.path.suffix.lower()
    if suffix and suffix not in EXPORT_EXTENSIONS and not args.get("format"):
        raise UsageError(
            f"cfevents cannot write {suffix} files; name a {', '.join(EXPORT_EXTENSIONS)} file "
            f"(or give `format` to write {target.path.name} anyway)",
            param="out",
        )
    return None, target


def _format(args: ExportArgs, target: OutputTarget | None) -> str:
    from cfevents.output.formatters import FORMATS

    suffix = EXPORT_EXTENSIONS.get(target.path.suffix.lower()) if target is not None else None
    fmt = (args.get("format") or suffix or args.get("default_format") or "ndjson").strip().lower()
    if args.get("checkpoint") is not None and fmt not in APPENDABLE:
        raise UsageError(
            f"appends, so it needs `format` csv, tsv or ndjson (not {fmt})", param="checkpoint"
        )
    if fmt not in FORMATS:
        raise UsageError(
            f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}", param="format"
        )
    return fmt


def _interval(args: ExportArgs) -> float:
    """Seconds between polls: the one bound (cfevents.events.bounds) with ``follow``; without
    it the value is never used, so only its syntax and upper bound are checked."""
    interval = args.get("interval", "60s")
    if args.get("follow", False):
        return check_interval(interval)
    from cfevents.events.bounds import MAX_INTERVAL_S, duration

    seconds = duration(interval, param="interval").total_seconds()
    if not seconds <= MAX_INTERVAL_S:
        raise UsageError(f"{interval!r} is out of range (at most 1d)", param="interval")
    return seconds


def _choice(args: ExportArgs, param: str, choices: Sequence[str]) -> str:
    value = str(cast("Mapping[str, Any]", args).get(param, choices[0]))
    if value not in choices:
        raise UsageError(f"`{param}` must be {' or '.join(choices)} (got {value!r})", param=param)
    return value


def check_flat(fmt: str, *, store: bool = False) -> None:
    """``flat`` writes flat snake_case columns: only to files of records."""
    if store:
        raise UsageError("a database `out` always has the flat columns; drop `flat`", param="flat")
    if fmt not in FLAT_FORMATS:
        raise UsageError(f"applies to `format` csv, tsv, ndjson or json (not {fmt})", param="flat")


def check_store_export(args: ExportArgs, filtered: Sequence[str]) -> None:
    """A store is a complete copy of the foundation's events: no checkpoint, no filters."""
    if args.get("checkpoint") is not None:
        raise UsageError(
            "a database `out` holds its own cursor (committed with each page); drop `checkpoint`",
            param="checkpoint",
        )
    if args.get("format"):
        raise UsageError("a database `out` has its own schema; drop `format`", param="format")
    if filtered:
        raise UsageError(
            "a database `out` keeps every event (a complete copy, so reports from it are "
            "exact); filter when you query or report instead",
            param=", ".join(filtered),
        )


def _parallel(args: ExportArgs, store: str | None) -> int:
    """The checked ``parallel``: 1..8, and 1 with a database ``out`` or ``follow``."""
    from cfevents.export.parallel import check_parallel

    parallel = check_parallel(args.get("parallel", 1))
    if parallel > 1 and store is not None:
        raise UsageError(
            "writes files and streams; a database `out` pages serially", param="parallel"
        )
    if parallel > 1 and args.get("follow", False):
        raise UsageError("is for bounded backfills; `follow` pages serially", param="parallel")
    return parallel
