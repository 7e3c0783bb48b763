"""Usage events, audit events and crashes: query builders, name resolution, listings."""
