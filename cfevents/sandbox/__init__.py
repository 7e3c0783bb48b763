"""A simulated Cloud Foundry Cloud Controller (v2, v3 and a tiny UAA) for tests and demos.

Importing this package is cheap: nothing is generated or started until a
`Sandbox` is constructed, and the server modules load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cfevents.sandbox.server import RequestRecord, Sandbox, SandboxConfig

__all__ = ["RequestRecord", "Sandbox", "SandboxConfig"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from cfevents.sandbox import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
