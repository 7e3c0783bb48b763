"""``--flat`` for ``usage list`` and ``usage export``: the history stores' snake_case columns.

One mapping (:mod:`cfevents.stores.columns`), so file users and database users share one
schema: ``state.current`` is ``state_current``, ``organization.guid`` is ``org_guid``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cfevents.cli.options import OUTPUT_PANEL
from cfevents.errors import UsageError

if TYPE_CHECKING:
    from cfevents.cli.options import OutputFlags
    from cfevents.cli.runtime import Runtime
    from cfevents.events.kinds import EventKind
    from cfevents.events.listing import Listing
    from cfevents.output.formatters import OutputSpec

FlatOpt = Annotated[
    bool,
    typer.Option(
        "--flat",
        help="Flat snake_case columns (state_current, org_guid, …), as in a database --out; "
        "csv, tsv, ndjson, json.",
        rich_help_panel=OUTPUT_PANEL,
    ),
]


def flat_spec(spec: OutputSpec, fields: str | None, store: str = "app_usage") -> OutputSpec:
    """The spec with the flat columns of the ``store`` kind; ``--fields`` then names flat
    columns."""
    from cfevents.export.plan import check_flat
    from cfevents.output.columns import parse_fields
    from cfevents.stores.columns import kind_named

    check_flat(spec.fmt)
    names = kind_named(store).column_names
    selected = parse_fields(fields) if fields is not None else None
    if fields is not None and not selected:
        raise UsageError("--fields: give at least one field name")
    bad = [name for name in selected or () if name not in names]
    if bad:
        raise UsageError(
            f"--fields: with --flat, unknown column(s) {', '.join(map(repr, bad))}; "
            f"the columns are: {', '.join(names)}"
        )
    return replace(spec, columns=names, fields=tuple(selected) if selected else None, labels={})


def usage_spec(rt: Runtime, shape: OutputFlags, *, flat: bool) -> OutputSpec:
    """The output spec for app usage events, with the flat columns when ``flat``."""
    from cfevents.events.kinds import APP_USAGE

    return kind_spec(rt, APP_USAGE, shape, flat=flat)


def kind_spec(rt: Runtime, kind: EventKind, shape: OutputFlags, *, flat: bool) -> OutputSpec:
    """The output spec for a kind's events: its column set, or with ``flat`` its store's flat
    columns (a kind without a store has none)."""
    if not flat:
        return shape.spec(rt, kind.columns)
    if kind.store is None:
        raise UsageError(f"--flat: {kind.noun}s have no flat columns")
    return flat_spec(replace(shape, fields=None).spec(rt, kind.columns), shape.fields, kind.store)


def flat_listing(listing: Listing[Any]) -> Listing[dict[str, Any]]:
    """The listing's events as flat rows; its hints still answer for the events read."""
    from cfevents.events.listing import Listing
    from cfevents.stores.columns import flat_records

    return Listing(
        flat_records(dict(event) for event in listing),
        listing.info,
        truncation=lambda _count: listing.truncation(),
        empty_hint=listing.empty_hint,
    )
