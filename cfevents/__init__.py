"""cfevents: query and export Cloud Foundry app usage events and crash/audit events.

The Python API (README "Python API")::

    import cfevents

    with cfevents.connect() as cf:  # credentials as the CLI finds them
        for event in cf.usage_events(since="7d", state="STARTED"):
            ...

Names are imported on first use, so ``import cfevents`` loads neither requests nor Typer.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cfevents.version import __version__

if TYPE_CHECKING:
    from cfevents.api import Client, connect
    from cfevents.errors import (
        ApiError,
        AuthError,
        CfEventsError,
        ExitCode,
        IncompleteDataError,
        LostCursorError,
        NetworkError,
        NotFoundError,
        UsageError,
        V2DisabledError,
    )
    from cfevents.events.listing import Listing, Truncation
    from cfevents.export.engine import ExportJob
    from cfevents.export.plan import ExportPlan
    from cfevents.report import Report
    from cfevents.shapes import (
        AuditEvent,
        Crash,
        CrashSummary,
        ExportFormat,
        Order,
        OutputFormat,
        Source,
        UsageEvent,
        UsageOrder,
    )

_PUBLIC: dict[str, str] = {
    "connect": "cfevents.api",
    "Client": "cfevents.api",
    "ExportJob": "cfevents.export.engine",
    "ExportPlan": "cfevents.export.plan",
    "Listing": "cfevents.events.listing",
    "Truncation": "cfevents.events.listing",
    "Report": "cfevents.report",
    **dict.fromkeys(
        (
            "CfEventsError",
            "ExitCode",
            "UsageError",
            "AuthError",
            "NotFoundError",
            "NetworkError",
            "ApiError",
            "V2DisabledError",
            "LostCursorError",
            "IncompleteDataError",
        ),
        "cfevents.errors",
    ),
    **dict.fromkeys(
        (
            "UsageEvent",
            "AuditEvent",
            "Crash",
            "CrashSummary",
            "OutputFormat",
            "ExportFormat",
            "UsageOrder",
            "Order",
            "Source",
        ),
        "cfevents.shapes",
    ),
}

__all__ = [
    "ApiError",
    "AuditEvent",
    "AuthError",
    "CfEventsError",
    "Client",
    "Crash",
    "CrashSummary",
    "ExitCode",
    "ExportFormat",
    "ExportJob",
    "ExportPlan",
    "IncompleteDataError",
    "Listing",
    "LostCursorError",
    "NetworkError",
    "NotFoundError",
    "Order",
    "OutputFormat",
    "Report",
    "Source",
    "Truncation",
    "UsageError",
    "UsageEvent",
    "UsageOrder",
    "V2DisabledError",
    "__version__",
    "connect",
]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'cfevents' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
