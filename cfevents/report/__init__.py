"""Chargeback accounting from app usage events (the model: ``docs/accounting.md``).

The library entry is :func:`usage_report`; the engine (:class:`Accountant`) is pure and can be
fed events from anywhere. Nothing here imports Typer, rich or requests.
"""

from cfevents.errors import IncompleteDataError
from cfevents.report.api import (
    DEFAULT_MARGIN,
    DEFAULT_MIN_AGE,
    OPENING_MODES,
    Report,
    ReportSource,
    Window,
    month_window,
    usage_report,
    window_from_options,
)
from cfevents.report.ccsource import CloudControllerSource
from cfevents.report.engine import GROUPINGS, Accountant, EngineResult
from cfevents.report.opening import Opening, Snapshot, read_state, state_to_json, write_state
from cfevents.report.present import summary_lines, table_rows
from cfevents.report.rows import row_fields

__all__ = [
    "DEFAULT_MARGIN",
    "DEFAULT_MIN_AGE",
    "GROUPINGS",
    "OPENING_MODES",
    "Accountant",
    "CloudControllerSource",
    "EngineResult",
    "IncompleteDataError",
    "Opening",
    "Report",
    "ReportSource",
    "Snapshot",
    "Window",
    "month_window",
    "read_state",
    "row_fields",
    "state_to_json",
    "summary_lines",
    "table_rows",
    "usage_report",
    "window_from_options",
    "write_state",
]
