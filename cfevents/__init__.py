"""cfevents: query and export Cloud Foundry app usage events and crash/audit events."""

__version__ = "0.1.0"
