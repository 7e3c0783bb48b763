"""A simulated Cloud Foundry Cloud Controller (v2, v3 and a tiny UAA) for tests, demos and benchmarks.

It answers the app usage event and audit event endpoints the way CC's source does
(shared/reference/cloud-controller-api.md): the same error codes, joined messages,
pagination links, whole-second filter widening, ordering and permission quirks.

Python API::

    from cfevents.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(seed=1, end=None, usage_events=None)).start() as sb:
        sb.url                      # http://127.0.0.1:PORT
        sb.admin_token()            # "bearer eyJ..." (also sb.token(scopes, ttl, user_name, expired))
        sb.refresh_token()          # opaque; POST {sb.url}/oauth/token with Basic cf:
        sb.foundation               # the data: orgs, spaces, apps, usage_events_v3(), crashes(), ...
        sb.requests                 # RequestRecord per request answered

The truth. Usage events come from a simulation of apps and processes over time
(start, stop, scale, memory change, restart, rolling deploy, tasks, staging,
deletion, apps untouched all month), emitted as CC emits them. The simulation
also records its own timeline, so tests can check a report against what really
ran rather than against a second reading of the same events::

        sb.usage_truth(start, end)  # {process guid: ProcessUsage}: instance_seconds,
                                    #   memory_mb_seconds, running_seconds, max_instances,
                                    #   process_type, app/space/org guids and names
        sb.task_truth(start, end)   # {task guid: TaskUsage}: seconds, memory_mb_seconds,
                                    #   memory_in_mb, app/space/org guids, started_at, stopped_at

Exact integers over [start, end) at CC's whole-second `created_at` resolution
(bounds truncated to whole seconds); a process accrues from its change's second
on. `/v3/apps`, `/v3/processes` and `/v3/tasks` (`states=RUNNING`) show the
simulation's present, which is the state at the sandbox's end and stays in step
with `append_usage_events`; a purge changes events, never state. Deleted apps
are gone from `/v3/apps`, their usage stays in the truth.

Scenarios: `sb.perform(action, app_guid, at=None)` makes one app start, stop,
restart, scale, resize, deploy (rolling), restage, rolling_restage, run_task,
delete, or take its
next pending step, with rows created at `at`.

Mutations: `append_usage_events`, `begin_transaction` (ids taken now, visible on
commit), `purge_and_reseed`, `prune_usage_events_before`, `set_v2_enabled`,
`set_rate_limit` / `set_v2_rate_limit` (CC's 429s) and `throttle_next` (nginx's).
CC's cleanups: `cleanup(now, days=31)` (both usage tables, the newest row kept) and
`keep_running=True` on it or on the prunes (the cleanup cloud_controller_ng #5210 proposes).

Options for rows real foundations hold: `SandboxConfig(appless_usage_days=N)` (an older
CC's rows that name no app) and `client_actor_events=True` (`actor_username: ''`).

Command line: `python -m cfevents.sandbox --help`; `--live` runs a foundation that keeps
moving with the wall clock and survives restarts (`cfevents.sandbox.live`).

Deliberate differences from the prose of the reference, each following CC's code:
`guids[]=a` is not an error but matches nothing (Ruby stringifies the array);
`created_ats[gt]=Y&created_ats=X` (plain value last) is an equality filter, only
the other order is a 400; reseeded events copy the current values into
`previous` and have no process type. Non-global readers see no audit events,
organizations, spaces or apps (the sandbox has no roles).

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
