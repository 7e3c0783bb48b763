"""The Python API: :func:`connect` and the :class:`Client` every ``cfevents`` command runs on.

Each method means what the command-line flags of the same name mean: time values
(``"7d"``, ``"2024-05-01"``, RFC 3339 or a ``datetime``), half-open ``[since, until)``
windows, limits, keyset paging, org/space/app names or GUIDs, retries, token refresh and the
same-origin token rule. Failures are :class:`cfevents.errors.CfEventsError` subclasses, each
with the ``exit_code`` the CLI exits with.

A facade: the listings are built in ``cfevents.events`` (usage.py, audit_listing.py, their
arguments in args.py and checks in filters.py and bounds.py), exports in ``cfevents.export``
(``ExportPlan.build``), reports in ``cfevents.report``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Unpack, cast

from cfevents.events.args import (
    AuditArgs,
    CrashArgs,
    CrashFilterArgs,
    Names,
    ScopeArgs,
    ServiceEventArgs,
    ServiceFilterArgs,
    TimeArgs,
    TimeValue,
    UsageEventArgs,
    UsageFilterArgs,
)
from cfevents.events.filters import (
    AUDIT_V2_PATH,
    AUDIT_V3_PATH,
    NON_GLOBAL_HINT,
    SERVICE_INSTANCE_TYPES,
    SERVICE_USAGE_PATH,
    USAGE_PATH,
    USAGE_STATES,
    USAGE_V2_PATH,
    audit_endpoint,
    audit_types,
    check_order,
    choose_source,
    one_guid,
    time_window,
    usage_filter,
    usage_states,
)
from cfevents.events.listing import Listing
from cfevents.events.resolve import org_namer
from cfevents.export.plan import ExportArgs
from cfevents.report.args import Grouping, ReportArgs, ServiceReportArgs, StatementArgs

if TYPE_CHECKING:
    from cfevents.cc.client import CFClient
    from cfevents.cc.config import Settings
    from cfevents.events.kinds import EventKind
    from cfevents.events.loops import LoopRule
    from cfevents.events.resolve import Resolver
    from cfevents.export.engine import ExportJob
    from cfevents.report import CloudControllerSource, Report
    from cfevents.report.coverage import KindStatus
    from cfevents.report.services import CloudControllerServiceSource
    from cfevents.shapes import (
        AuditEvent,
        Crash,
        CrashLoop,
        CrashSummary,
        ServiceUsageEvent,
        Source,
        UsageEvent,
    )

__all__ = [  # what callers import from here; the rest lives in cfevents.events and .export
    "AUDIT_V2_PATH",
    "AUDIT_V3_PATH",
    "NON_GLOBAL_HINT",
    "SERVICE_INSTANCE_TYPES",
    "SERVICE_USAGE_PATH",
    "USAGE_PATH",
    "USAGE_STATES",
    "USAGE_V2_PATH",
    "AuditArgs",
    "Client",
    "CrashArgs",
    "CrashFilterArgs",
    "ExportArgs",
    "Grouping",
    "Names",
    "ReportArgs",
    "ScopeArgs",
    "ServiceEventArgs",
    "ServiceExportArgs",
    "ServiceFilterArgs",
    "ServiceReportArgs",
    "StatementArgs",
    "TimeArgs",
    "TimeValue",
    "UsageEventArgs",
    "UsageExportArgs",
    "UsageFilterArgs",
    "audit_endpoint",
    "audit_types",
    "check_order",
    "choose_source",
    "connect",
    "time_window",
    "usage_filter",
    "usage_states",
]


class UsageExportArgs(UsageFilterArgs, ExportArgs, total=False):
    """The arguments of :meth:`Client.usage_export`."""


class ServiceExportArgs(ServiceFilterArgs, ExportArgs, total=False):
    """The arguments of :meth:`Client.service_usage_export`."""


_log = logging.getLogger("cfevents")


def connect(
    api: str | None = None,
    token: str | None = None,
    *,
    skip_ssl_validation: bool = False,
    timeout: float = 30.0,
    retries: int = 5,
    env: Mapping[str, str] | None = None,
) -> Client:
    """A client for one Cloud Controller, credentials found as the CLI finds them.

    ``api``/``token`` first, then ``CF_API``/``CF_TOKEN`` (or ``CF_CLIENT_ID`` and
    ``CF_CLIENT_SECRET``) in ``env`` (default: ``os.environ``), then the cf CLI's own login
    (``~/.cf/config.json``). Nothing is sent until the first call.

    Raises:
        UsageError: a malformed API URL.
        AuthError: no credentials anywhere.
    """
    from cfevents.cc import config

    environ = dict(os.environ if env is None else env)
    settings = config.resolve(
        api_flag=api,
        token_flag=token,
        skip_ssl_validation=skip_ssl_validation,
        env=environ,
        cf_config=config.load_cf_config(environ),
        timeout=timeout,
        retries=retries,
    )
    return Client.from_settings(settings)


class Client:
    """Usage events, audit events, crashes and exports from one Cloud Controller.

    Notes (retries, restarts) go to ``note`` and warnings to ``warn``; by default both go to
    the ``cfevents`` logger. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        http: CFClient | Callable[[], CFClient],
        *,
        note: Callable[[str], None] | None = None,
        warn: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._http = http if callable(http) and not hasattr(http, "get_json") else None
        self._client: CFClient | None = None if self._http is not None else cast("CFClient", http)
        self.note = note or _log.info
        self.warn = warn or _log.warning
        self.sleep = sleep

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        log: Callable[[str], None] | None = None,
        note: Callable[[str], None] | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> Client:
        """A client for resolved settings (``cfevents.cc.config.resolve``)."""
        from cfevents.cc.client import CFClient

        notify = note or _log.info
        return cls(lambda: CFClient(settings, log=log, notify=notify), note=notify, warn=warn)

    @property
    def http(self) -> CFClient:
        """The HTTP client (built on first use: a call that fails validation sends nothing)."""
        if self._client is None:
            assert self._http is not None
            self._client = self._http()
        return self._client

    @property
    def api(self) -> str:
        return self.http.api

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def usage_events(self, **args: Unpack[UsageEventArgs]) -> Listing[UsageEvent]:
        """App usage events (``GET /v3/app_usage_events``), streamed page by page.

        The filters of :class:`UsageFilterArgs`; without ``order`` (or CC's spelling,
        ``order_by``: ``created_at`` is ``asc``, ``-created_at`` is ``desc``) they come in CC's
        id order, paged by keyset; ``page`` fetches only that page. ``org``, ``space``, ``app``
        and ``state`` filter after fetching (the endpoint cannot). ``limit`` None means every
        matching event.

        CC's events carry only ``organization.guid``: each event comes with
        ``organization.name`` filled in (one ``/v3/organizations`` request per org GUID not
        seen before in this call, cached; still streamed), unless ``names=False``.
        """

        from cfevents.events.kinds import APP_USAGE

        return cast("Listing[UsageEvent]", self._events(APP_USAGE, args))

    def usage_event(self, guid: str, v2: bool = False, names: bool = True) -> UsageEvent:
        """One app usage event: v3 shape (with ``organization.name`` filled in, unless
        ``names=False``), or v2's ``metadata``/``entity`` shape with ``v2``."""
        from cfevents.events.kinds import APP_USAGE

        return cast("UsageEvent", self._event(APP_USAGE, guid, v2=v2, names=names))

    def usage_coverage(self, **args: Unpack[TimeArgs]) -> str | None:
        """When the window starts before the oldest app usage event Cloud Controller still
        holds (it prunes them: 31 days by default), the span actually covered, in words, for a
        warning; else None. One request (the oldest event)."""

        from cfevents.events.kinds import APP_USAGE

        return self.coverage(APP_USAGE, **args)

    def coverage(self, kind: str | EventKind, **args: Unpack[TimeArgs]) -> str | None:
        """:meth:`usage_coverage` for any usage kind by name (``app_usage``,
        ``service_usage``; or its command, ``usage``, ``services``): CC prunes each kind on
        its own."""

        from cfevents.events.kinds import export_kind
        from cfevents.events.usage import usage_coverage

        return usage_coverage(self.http, args, export_kind(kind))

    def usage_export(self, **args: Unpack[UsageExportArgs]) -> ExportJob:
        """The export engine for every matching event in id order (a context manager).

        The filters of :class:`UsageFilterArgs`. Iterate the job for the events (a checkpoint
        advances after each page you finish), or call ``job.run()`` to write them to ``out``
        (or stdout) in ``format`` (from ``out``'s extension, else ``default_format``, else
        NDJSON). With ``checkpoint`` it is incremental: rerun it and every event is delivered
        exactly once, even after a crash. Events younger than ``min_age`` (default 60s with a
        checkpoint or ``follow``) wait for the next run; ``follow`` polls every ``interval``.

        Events written to a file or stdout, and those you iterate, have ``organization.name``
        filled in (one ``/v3/organizations`` request per org GUID not seen before, cached),
        unless ``names=False``; a database ``out`` keeps CC's event as sent.
        """
        from cfevents.events.kinds import APP_USAGE

        return self._export(APP_USAGE, args)

    def service_usage_events(self, **args: Unpack[ServiceEventArgs]) -> Listing[ServiceUsageEvent]:
        """Service usage events (``GET /v3/service_usage_events``), streamed page by page.

        Every filter is the server's (:class:`ServiceFilterArgs`); without ``order`` they come
        in CC's id order, paged by keyset; ``page`` fetches only that page. ``limit`` None
        means every matching event.
        """

        from cfevents.events.kinds import SERVICE_USAGE

        return cast("Listing[ServiceUsageEvent]", self._events(SERVICE_USAGE, args))

    def service_usage_event(self, guid: str) -> ServiceUsageEvent:
        """One service usage event (``GET /v3/service_usage_events/:guid``)."""
        from cfevents.events.kinds import SERVICE_USAGE

        return cast("ServiceUsageEvent", self._event(SERVICE_USAGE, guid))

    def service_usage_export(self, **args: Unpack[ServiceExportArgs]) -> ExportJob:
        """:meth:`usage_export` for service usage events: same engine, checkpoint and min-age."""
        from cfevents.events.kinds import SERVICE_USAGE

        return self._export(SERVICE_USAGE, args)

    def events(self, kind: str | EventKind, **args: Any) -> Listing[dict[str, Any]]:
        """The listing of any usage kind by name (``app_usage``, ``service_usage``; or its
        command, ``usage``, ``services``) with that kind's arguments: :meth:`usage_events`
        and :meth:`service_usage_events` are this, typed."""
        from cfevents.events.kinds import export_kind

        return self._events(export_kind(kind), cast("UsageEventArgs", args))

    def export(self, kind: str | EventKind, **args: Any) -> ExportJob:
        """The export of any usage kind by name, with that kind's filters and the options of
        :class:`ExportArgs`: :meth:`usage_export` and :meth:`service_usage_export` are this,
        typed."""
        from cfevents.events.kinds import export_kind

        return self._export(export_kind(kind), cast("UsageExportArgs", args))

    def _events(
        self, kind: EventKind, args: UsageEventArgs | ServiceEventArgs
    ) -> Listing[dict[str, Any]]:
        """The listing of a usage kind (events/usage.py builds every kind's the same way)."""
        from cfevents.events import usage

        return usage.kind_events(self.http, kind, args)

    def _event(self, kind: EventKind, guid: str, v2: bool = False, names: bool = True) -> Any:
        """One event of ``kind`` (GET path/:guid), its org name filled in when the kind's
        listing fills it in and ``names``; v2's shape from the kind's v2 path with ``v2``."""
        from urllib.parse import quote

        path = kind.v2_path if v2 and kind.v2_path is not None else kind.path
        event = self.http.get_json(f"{path}/{quote(one_guid(guid))}")
        if names and kind.org_names and not v2 and isinstance(event, dict):
            event = org_namer(self._resolver())(event)
        return event

    def _export(self, kind: EventKind, args: UsageExportArgs | ServiceExportArgs) -> ExportJob:
        """The export job of ``kind``: its source built from the kind's description, every
        option checked by ``ExportPlan.build`` (one constructor for every kind)."""
        from cfevents.export.engine import ExportJob
        from cfevents.export.plan import ExportPlan, export_source

        plan = ExportPlan.build(args, export_source(kind, args, self._resolver()))
        return ExportJob(self.http, plan, note=self.note, warn=self.warn, sleep=self.sleep)

    # -- history ------------------------------------------------------------------------------

    def history_sync(
        self,
        store: str,
        *,
        min_age: str | timedelta | None = None,
        foundation: str | None = None,
        on_batch: Callable[[int, int, int | None], None] | None = None,
    ) -> list[str]:
        """Bring a history store up to date (README "Billing: start here"): for each kind with
        a store table (events/kinds.py: app usage, then service usage events) the events Cloud
        Controller has that the store lacks (the first run also records the opening
        snapshot); each kind records how far the store is complete. Returns one summary line
        per kind. Raises StoreLockedError (exit 8) while another sync holds the store."""
        from cfevents.events.kinds import EXPORT_KINDS

        lines: list[str] = []
        for kind in (kind for kind in EXPORT_KINDS if kind.store is not None):
            job = self._export(kind, {"out": store, "min_age": min_age, "foundation": foundation})
            with job:
                job.run(on_batch=on_batch)
            lines.append(job.summary(job.stored))
        return lines

    def history_status(self, store: str, foundation: str | None = None) -> list[KindStatus]:
        """Per foundation and kind in ``store``: rows, first event, how far it is complete,
        the last sync, holes, reseeds and the first whole month it can report. No request."""
        from cfevents.report.coverage import history_status

        return history_status(store, foundation)

    # -- chargeback ---------------------------------------------------------------------------

    def usage_report(self, **args: Unpack[ReportArgs]) -> Report:
        """Instance-, memory- and task-seconds per org, space, app or process (README "Chargeback").

        The window is ``month`` (``YYYY-MM``) or ``[since, until)``, default this month so far;
        counting stops at now minus ``min_age`` and never extrapolates. The snapshot
        (``/v3/apps``, ``/v3/processes``, ``/v3/tasks``) is read first, then every usage event
        from 15 minutes before the window in one streamed keyset pass (the export's read-ahead
        pages). ``save_state`` writes the closing state a later report opens with.

        Raises:
            IncompleteDataError: events the window needs were pruned or purged (exit 7), unless
                ``allow_incomplete`` (then rows are flagged ``incomplete``).
            UsageError: bad arguments or an unusable state file.
        """
        from cfevents.report import run

        return run.usage_report(args, self._report_source)

    def _report_source(self) -> CloudControllerSource:
        """The report's source over this API (built when the report reads it)."""
        from cfevents.report import CloudControllerSource

        return CloudControllerSource(self.http, self.api, events=self._report_events)

    def _service_source(self) -> CloudControllerServiceSource:
        from cfevents.report.services import CloudControllerServiceSource

        return CloudControllerServiceSource(self.http, self.api)

    def service_report(self, **args: Unpack[ServiceReportArgs]) -> Report:
        """Service-instance seconds per org, space, offering, plan or instance, with created,
        updated and deleted counts (README "Service usage events"): the same window, min-age
        and completeness rules (exit 7) as :meth:`usage_report`."""
        from cfevents.report import run

        return run.service_report(args, self._service_source)

    def chargeback(self, **args: Unpack[StatementArgs]) -> Report:
        """One statement per org (``per="org"``) or space: app, task and service lines with
        their costs and a total line each (README "Chargeback statement"). ``rates`` is
        required. From stored history (``input``) there are no service lines (a warning).
        """
        from cfevents.report import run

        return run.chargeback(args, self._report_source, self._service_source)

    def _report_events(self, start: datetime) -> Iterator[dict[str, Any]]:
        """Every usage event from ``start`` on, in id order: the export's keyset pages with
        read-ahead (one streamed pass; closing this stops the background download)."""
        from cfevents.events.usage import report_events

        return report_events(self.http, start)

    def audit_events(self, **args: Unpack[AuditArgs]) -> Listing[AuditEvent]:
        """Audit events from v3 ``/v3/audit_events`` or v2 ``/v2/events``, in one shape.

        ``q`` holds raw v2 filters (they imply v2). The first page is read here, so a refused
        request raises before any event is handed out. ``names`` fills in org/space names.
        Newest first; with a ``limit`` and no window or ``order``, the most recent events
        oldest to newest, like ``tail``.
        """

        from cfevents.events import audit_listing

        return audit_listing.audit_events(self.http, args)

    def audit_event(self, guid: str, source: Source = "auto", names: bool = True) -> AuditEvent:
        """One audit event (v3, or v2 with ``source="v2"``) in the normalised shape."""

        from cfevents.events import audit_listing

        return audit_listing.audit_event(self.http, guid, source, names)

    def crashes(self, **args: Unpack[CrashArgs]) -> Listing[Crash]:
        """App crashes, each once (CC writes two events per crash), newest first by default;
        with a ``limit`` and no window or ``order``, the most recent oldest to newest (``tail``).

        Arguments: the time window (``since``, ``until``, ``created_after``,
        ``created_before``), ``org``/``space``/``app``, ``order``, ``source``, ``per_page``,
        ``limit`` and ``names`` (fill in org/space names), as for :meth:`audit_events`.
        """

        from cfevents.events import audit_listing

        return audit_listing.crashes(self.http, args)

    def follow_crashes(
        self,
        *,
        interval: str | float = 30.0,
        stop: threading.Event | None = None,
        lag: float = 60.0,
        loop: LoopRule | None = None,
        **args: Unpack[CrashArgs],
    ) -> Iterator[Crash | CrashLoop]:
        """Crashes as they arrive, oldest first, each once, until ``stop`` is set.

        Starts at ``since`` (or now) and polls every ``interval`` seconds. Each poll re-reads
        from ``lag`` seconds before the newest crash seen (CC may commit an event a little
        after its created_at) and keyset-skips what it has handed out by (created_at, guid),
        so a crash is never yielded twice, even when its two events arrive in different polls.

        With ``loop`` (:class:`cfevents.events.loops.LoopRule`) each crash is followed by the
        loop records it causes, and each poll ends with the resolutions due by the API's clock
        (its HTTP ``Date``): tell them apart with :func:`cfevents.events.loops.is_loop`.
        """
        from cfevents.events import follow

        return follow.follow_crashes(self, args, interval=interval, stop=stop, lag=lag, loop=loop)

    def follow_events(
        self,
        *,
        interval: str | float = 30.0,
        stop: threading.Event | None = None,
        lag: float = 60.0,
        **args: Unpack[AuditArgs],
    ) -> Iterator[AuditEvent]:
        """Audit events as they arrive, oldest first, each once, until ``stop`` is set: the
        keyset follow of :meth:`follow_crashes` (from ``since`` or now, every ``interval``
        seconds, re-reading ``lag`` seconds) over :meth:`audit_events` and its filters."""
        from cfevents.events import follow

        return follow.follow_events(self, args, interval=interval, stop=stop, lag=lag)

    def crash_summary(self, **args: Unpack[CrashArgs]) -> Listing[CrashSummary]:
        """One row per app that crashed: count, first and last crash, the last exit reason.

        Takes the arguments of :meth:`crashes`. Reads every crash in the window; the
        most-crashing apps come first; ``limit`` counts apps.
        """

        from cfevents.events import audit_listing

        return audit_listing.crash_summary(self.http, args)

    def _resolver(self) -> Resolver:
        """A name↔GUID resolver for one call (its cache also serves the name columns)."""
        from cfevents.events.resolve import Resolver

        return Resolver(self.http)
