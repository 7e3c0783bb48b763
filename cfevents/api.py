"""The Python API: :func:`connect` and the :class:`Client` every ``cfevents`` command runs on.

Each method means what the command-line flags of the same name mean: time values
(``"7d"``, ``"2024-05-01"``, RFC 3339 or a ``datetime``), half-open ``[since, until)``
windows, limits, keyset paging, org/space/app names or GUIDs, retries, token refresh and the
same-origin token rule. Failures are :class:`cfevents.errors.CfEventsError` subclasses, each
with the ``exit_code`` the CLI exits with.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, TypedDict, Unpack, cast

from cfevents.errors import CfEventsError, LostCursorError, UsageError, V2DisabledError
from cfevents.events.bounds import check_interval, check_limit, check_min_age, check_per_page
from cfevents.events.listing import (
    RECENT_ORDER,
    Listing,
    Truncation,
    oldest_to_newest,
    page_size,
    recent_first,
    split_commas,
)
from cfevents.events.query import (
    USAGE_ORDERS,
    V2_EVENTS_MAX_PER_PAGE,
    V3_MAX_PER_PAGE,
    TimeWindow,
    UsageQuery,
    build_usage_params,
)
from cfevents.export.plan import ExportArgs

if TYPE_CHECKING:
    from cfevents.cc.client import CFClient
    from cfevents.cc.config import Settings
    from cfevents.cc.paging import PageInfo
    from cfevents.events.audit import EventQuery
    from cfevents.events.context import ContextCache
    from cfevents.events.crashfilter import CrashFilter
    from cfevents.events.loops import LoopRule
    from cfevents.events.resolve import Resolver, Scope
    from cfevents.export.engine import ExportJob
    from cfevents.export.plan import ExportSource
    from cfevents.report import Opening, Report, Window
    from cfevents.report.rates import Rates
    from cfevents.shapes import (
        AuditEvent,
        Crash,
        CrashLoop,
        CrashSummary,
        Order,
        ServiceUsageEvent,
        Source,
        UsageEvent,
        UsageOrder,
    )

TimeValue = str | datetime
Grouping = Literal["org", "space", "app", "process"]
Names = str | Sequence[str]


class TimeArgs(TypedDict, total=False):
    """A time window: ``[since, until)``; ``created_after`` is exclusive (CC: from T+1s)."""

    since: TimeValue | None
    until: TimeValue | None
    created_after: TimeValue | None
    created_before: TimeValue | None


class ScopeArgs(TypedDict, total=False):
    """Orgs, spaces and apps by name or GUID (repeatable, or comma lists)."""

    org: Names
    space: Names
    app: Names


class UsageFilterArgs(TimeArgs, ScopeArgs, total=False):
    """What app usage events can be filtered by (``org``, ``space``, ``app`` and ``state``
    after fetching: the endpoint cannot)."""

    created_at: Sequence[TimeValue]  # whole seconds, ORed
    guids: Names
    after_guid: str | None
    state: Names
    names: bool  # fill in organization.name (default True; False saves the lookups)


class UsageEventArgs(UsageFilterArgs, total=False):
    """The arguments of :meth:`Client.usage_events`."""

    order: Order | None
    order_by: UsageOrder | None
    per_page: int | None
    page: int | None
    limit: int | None


class UsageExportArgs(UsageFilterArgs, ExportArgs, total=False):
    """The arguments of :meth:`Client.usage_export`."""


class ServiceFilterArgs(TimeArgs, total=False):
    """What ``GET /v3/service_usage_events`` filters by (all of it on the server)."""

    created_at: Sequence[TimeValue]  # whole seconds, ORed
    guids: Names
    after_guid: str | None
    service_instance_types: Names  # managed_service_instance, user_provided_service_instance
    service_offering_guids: Names


class ServiceEventArgs(ServiceFilterArgs, total=False):
    """The arguments of :meth:`Client.service_usage_events`."""

    order: Order | None
    per_page: int | None
    page: int | None
    limit: int | None


class ServiceExportArgs(ServiceFilterArgs, ExportArgs, total=False):
    """The arguments of :meth:`Client.service_usage_export`."""


class ReportArgs(TypedDict, total=False):
    """The arguments of :meth:`Client.usage_report`."""

    month: str | None  # YYYY-MM (UTC); or since/until; neither: this month so far
    since: TimeValue | None
    until: TimeValue | None
    by: Grouping  # org, space, app (default) or process
    daily: bool  # one row per group and UTC day
    opening: str | os.PathLike[str] | Opening  # snapshot (default), events, none, a state file
    save_state: str | os.PathLike[str] | None  # write the closing state here (for --opening)
    force: bool  # replace a non-empty save_state file
    min_age: str | timedelta  # count only up to now minus this (default 5m)
    allow_incomplete: bool  # report (flagged) when events the window needs are gone
    now: datetime | None  # the clock (tests)
    input: str | os.PathLike[str] | None  # a store or NDJSON export to read instead of the API
    foundation: str | None  # with input: which foundation of a store holding several
    rates: str | os.PathLike[str] | Rates | None  # prices: a rates TOML file (report/rates.py)
    pivot: str | None  # "month": one column per calendar month of the window
    compare: bool  # with month: the previous month's figure, the delta and the percent
    value: str | None  # the figure of pivot/compare: cost (with rates) or gb_hours by default


class StatementArgs(ReportArgs, total=False):
    """The arguments of :meth:`Client.chargeback` (``by`` and ``daily`` are not used)."""

    per: str  # org (default) or space: one total per org or per space


class ServiceReportArgs(TypedDict, total=False):
    """The arguments of :meth:`Client.service_report`."""

    month: str | None  # YYYY-MM (UTC); or since/until; neither: this month so far
    since: TimeValue | None
    until: TimeValue | None
    by: str  # org, space, offering, plan (default) or instance
    include_user_provided: bool  # user-provided instances too (no plan, usually not billed)
    min_age: str | timedelta  # count only up to now minus this (default 5m)
    allow_incomplete: bool  # report (flagged) when events the window needs are gone
    now: datetime | None  # the clock (tests)
    rates: str | os.PathLike[str] | Rates | None  # prices: a rates TOML file (report/rates.py)


class CrashFilterArgs(TypedDict, total=False):
    """Why it crashed: the crash filters of :meth:`Client.crashes` and the summaries/follows."""

    reasons: Names  # text in the reason or exit description (any of them)
    exit_statuses: Sequence[str | int]  # exit statuses (any of them), e.g. 137
    oom: bool  # only OOM kills: exit 137, or "out of memory"/"OOM"
    context: str | timedelta | None  # attach the app's changes in this period before each crash


class CrashArgs(TimeArgs, ScopeArgs, CrashFilterArgs, total=False):
    """The arguments of :meth:`Client.crashes` and :meth:`Client.crash_summary`."""

    order: Order  # desc (newest first, the default) or asc
    source: Source  # auto (v3), v3 or v2
    per_page: int | None
    limit: int | None
    names: bool  # fill in org and space names (default True)


class AuditArgs(CrashArgs, total=False):
    """The arguments of :meth:`Client.audit_events`."""

    types: Names  # e.g. audit.app.update, app.crash
    actees: Names  # target GUIDs
    q: Sequence[str]  # raw v2 q filters (they imply v2)


USAGE_PATH = "/v3/app_usage_events"
USAGE_V2_PATH = "/v2/app_usage_events"
SERVICE_USAGE_PATH = "/v3/service_usage_events"
SERVICE_INSTANCE_TYPES = ("managed_service_instance", "user_provided_service_instance")
AUDIT_V3_PATH = "/v3/audit_events"
AUDIT_V2_PATH = "/v2/events"
NON_GLOBAL_HINT = (
    "no usage events visible: Cloud Controller only shows app usage events to admin, "
    "admin_read_only and global_auditor users, and your token has none of those scopes"
)

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

    # -- app usage events --------------------------------------------------------------------

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
        from cfevents.cc.paging import PageInfo, resources

        filters = _UsageFilters.parse(args)
        per_page, limit, order_by = (
            args.get("per_page"),
            check_limit(args.get("limit")),
            args.get("order_by"),
        )
        check_per_page(per_page, V3_MAX_PER_PAGE, f"v3 {USAGE_PATH}")
        if (order := args.get("order")) is not None:
            if order_by is not None:
                raise UsageError(
                    "`order` and `order_by` say the same thing: give one", param="order"
                )
            order_by = "created_at" if check_order(order) == "asc" else "-created_at"
        if order_by is not None and order_by not in USAGE_ORDERS:
            raise UsageError(
                f"`order_by` must be created_at or -created_at (got {order_by!r})", param="order_by"
            )
        client_filtered = filters.client_side
        size = page_size(None if client_filtered else limit, per_page, V3_MAX_PER_PAGE)
        recent = recent_first(
            limit,
            windowed=filters.window != TimeWindow(),
            order_by=order_by,
            positioned=filters.after_guid is not None or args.get("page") is not None,
        )
        query = UsageQuery(
            window=filters.window,
            guids=filters.guids,
            after_guid=filters.after_guid,
            order_by=RECENT_ORDER if recent else order_by,
            per_page=size,
            page=args.get("page"),
        )
        keep = filters.keep(self._resolver())
        info = PageInfo()
        pages = self._usage_pages(query, limit, client_filtered)
        events: Iterator[dict[str, Any]] = resources(pages, info)
        if keep is not None:
            events = filter(keep, events)
        if limit is not None:
            events = itertools.islice(events, limit)
        if recent:
            events = oldest_to_newest(events)
        if args.get("names", True):
            events = map(org_namer(self._resolver()), events)

        def truncation(shown: int) -> Truncation | None:
            if limit is None or shown < limit:
                return None
            end = "newest" if recent else "first"
            if client_filtered:
                return Truncation(shown, "matching events", end=end)
            total = info.total_results
            return (
                Truncation(shown, "matching events", total, end=end)
                if (total or 0) > shown
                else None
            )

        def empty_hint() -> str | None:
            from cfevents.cc.auth import GLOBAL_READ_SCOPES

            if info.total_results != 0:
                return None
            scopes = self.http.tokens.scopes()
            return (
                NON_GLOBAL_HINT if scopes is not None and not scopes & GLOBAL_READ_SCOPES else None
            )

        return Listing(
            cast("Iterator[UsageEvent]", events),
            info,
            truncation=truncation,
            empty_hint=empty_hint,
            paged=not recent,
        )

    def _usage_pages(
        self,
        query: UsageQuery,
        limit: int | None,
        client_filtered: bool,
        path: str = USAGE_PATH,
        extra: Sequence[tuple[str, str]] = (),
    ) -> Iterator[dict[str, Any]]:
        """The paging strategy: one page, keyset in id order, or ``next`` links (ordered)."""
        from cfevents.cc.paging import v3_pages
        from cfevents.cc.readahead import read_ahead
        from cfevents.export.engine import keyset_pages

        size = query.per_page or V3_MAX_PER_PAGE
        params = [*build_usage_params(query), *extra]
        # never a page past the limit; with several pages, fetch the next while using this one
        max_pages = -(-limit // size) if limit is not None and not client_filtered else None
        several = limit is None or (limit > size and not client_filtered)
        if query.page is not None:
            return itertools.islice(v3_pages(self.http, path, params), 1)
        if query.order_by is None:  # CC's id order: page by keyset, not OFFSET links
            return _blame_after_guid(
                keyset_pages(
                    self.http,
                    path,
                    params,
                    query.after_guid,
                    size,
                    max_pages=max_pages,
                    read_ahead=several,
                ),
                query.after_guid,
                "app usage event" if path == USAGE_PATH else "service usage event",
            )
        pages = v3_pages(self.http, path, params)
        if max_pages is not None:
            pages = itertools.islice(pages, max_pages)
        return read_ahead(pages) if several else pages

    def usage_event(self, guid: str, v2: bool = False, names: bool = True) -> UsageEvent:
        """One app usage event: v3 shape (with ``organization.name`` filled in, unless
        ``names=False``), or v2's ``metadata``/``entity`` shape with ``v2``."""
        from urllib.parse import quote

        target = f"{USAGE_V2_PATH if v2 else USAGE_PATH}/{quote(_one_guid(guid))}"
        event = self.http.get_json(target)
        if names and not v2 and isinstance(event, dict):
            event = org_namer(self._resolver())(event)
        return cast("UsageEvent", event)

    def usage_coverage(self, **args: Unpack[TimeArgs]) -> str | None:
        """When the window starts before the oldest app usage event Cloud Controller still
        holds (it prunes them: 31 days by default), the span actually covered, in words, for a
        warning; else None. One request (the oldest event)."""
        from cfevents.timeparse import format_cc, utcnow

        now = utcnow()
        window = time_window(now, args)
        start = window.gte or window.gt
        if start is None:
            return None
        body = self.http.get_json(USAGE_PATH, [("order_by", "created_at"), ("per_page", "1")])
        resources = body.get("resources") if isinstance(body, dict) else None
        if not resources or not isinstance(resources[0], dict):
            return None
        oldest_text = str(resources[0].get("created_at") or "")
        try:
            oldest = datetime.fromisoformat(oldest_text.replace("Z", "+00:00"))
        except ValueError:
            return None
        if oldest <= start:
            return None
        until = window.lt
        gone = (
            f"the window starts {format_cc(start)} but Cloud Controller holds no usage events "
            f"before {format_cc(oldest)} (it prunes old ones)"
        )
        if isinstance(until, datetime) and until <= oldest:  # never "covers only B to A"
            return f"{gone}: the whole window, up to {format_cc(until)}, is gone"
        end = format_cc(until) if isinstance(until, datetime) else "now"
        return f"{gone}: this covers only {format_cc(oldest)} to {end}"

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
        from cfevents.export.plan import ExportSource, check_store_export, store_target

        store = store_target(args) is not None
        filtered = _store_refused(args)
        if store:
            check_store_export(args, filtered)  # before any name is resolved against the API
        filters = _UsageFilters.parse(args)
        params = build_usage_params(UsageQuery(window=filters.window, guids=filters.guids))
        resolver = self._resolver()
        names = args.get("names", True) and not store and not args.get("flat", False)
        source = ExportSource(
            USAGE_PATH,
            tuple(params),
            filters.after_guid,
            filters.keep(resolver),
            enrich=org_names_page(resolver) if names else None,
            filtered=filtered,
        )
        return self._export_job(args, source)

    def service_usage_events(self, **args: Unpack[ServiceEventArgs]) -> Listing[ServiceUsageEvent]:
        """Service usage events (``GET /v3/service_usage_events``), streamed page by page.

        Every filter is the server's (:class:`ServiceFilterArgs`); without ``order`` they come
        in CC's id order, paged by keyset; ``page`` fetches only that page. ``limit`` None
        means every matching event.
        """
        from cfevents.cc.paging import PageInfo, resources

        per_page, limit, order = (
            args.get("per_page"),
            check_limit(args.get("limit")),
            args.get("order"),
        )
        check_per_page(per_page, V3_MAX_PER_PAGE, f"v3 {SERVICE_USAGE_PATH}")
        order_by = None
        if order is not None:
            order_by = "created_at" if check_order(order) == "asc" else "-created_at"
        filters = _ServiceFilters.parse(args)
        recent = recent_first(
            limit,
            windowed=filters.window != TimeWindow(),
            order_by=order_by,
            positioned=filters.after_guid is not None or args.get("page") is not None,
        )
        query = UsageQuery(
            window=filters.window,
            guids=filters.guids,
            after_guid=filters.after_guid,
            order_by=RECENT_ORDER if recent else order_by,
            per_page=page_size(limit, per_page, V3_MAX_PER_PAGE),
            page=args.get("page"),
        )
        info = PageInfo()
        pages = self._usage_pages(query, limit, False, SERVICE_USAGE_PATH, filters.extra)
        events: Iterator[dict[str, Any]] = resources(pages, info)
        if limit is not None:
            events = itertools.islice(events, limit)
        if recent:
            events = oldest_to_newest(events)

        def truncation(shown: int) -> Truncation | None:
            if limit is None or shown < limit:
                return None
            total = info.total_results
            end = "newest" if recent else "first"
            return (
                Truncation(shown, "matching events", total, end=end)
                if (total or 0) > shown
                else None
            )

        def empty_hint() -> str | None:
            from cfevents.cc.auth import GLOBAL_READ_SCOPES

            if info.total_results != 0:
                return None
            scopes = self.http.tokens.scopes()
            if scopes is None or scopes & GLOBAL_READ_SCOPES:
                return None
            return NON_GLOBAL_HINT.replace("app usage", "service usage")

        return Listing(
            cast("Iterator[ServiceUsageEvent]", events),
            info,
            truncation=truncation,
            empty_hint=empty_hint,
            paged=not recent,
        )

    def service_usage_event(self, guid: str) -> ServiceUsageEvent:
        """One service usage event (``GET /v3/service_usage_events/:guid``)."""
        from urllib.parse import quote

        target = f"{SERVICE_USAGE_PATH}/{quote(_one_guid(guid))}"
        return cast("ServiceUsageEvent", self.http.get_json(target))

    def service_usage_export(self, **args: Unpack[ServiceExportArgs]) -> ExportJob:
        """:meth:`usage_export` for service usage events: same engine, checkpoint and min-age."""
        from cfevents.export.plan import ExportSource
        from cfevents.output.columns import SERVICE_USAGE_COLUMNS

        filters = _ServiceFilters.parse(args)
        params = [
            *build_usage_params(UsageQuery(window=filters.window, guids=filters.guids)),
            *filters.extra,
        ]
        source = ExportSource(
            SERVICE_USAGE_PATH,
            tuple(params),
            filters.after_guid,
            noun="service usage event",
            columns=SERVICE_USAGE_COLUMNS,
            filtered=_store_refused(args),
        )
        return self._export_job(args, source)

    def _export_job(self, args: ExportArgs, source: ExportSource) -> ExportJob:
        """An ExportJob over ``source`` with the options of ``args`` (checked by ExportPlan)."""
        from cfevents.export.engine import ExportJob
        from cfevents.export.plan import ExportPlan

        plan = ExportPlan.build(args, source)
        return ExportJob(self.http, plan, note=self.note, warn=self.warn, sleep=self.sleep)

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
        from cfevents.report.rates import as_rates

        now, window, age = _report_window(args)
        rates = as_rates(args.get("rates"))
        pivot, compare = args.get("pivot"), args.get("compare", False)
        if pivot is None and not compare:
            return self._usage_report(args, window, now, age, rates)
        from cfevents.report.pivot import check_value, compare_previous, pivot_months

        by, value = args.get("by", "app"), check_value(args.get("value"), rates is not None)
        _check_months(args, pivot, compare)

        def run(month: Window) -> Report:
            return self._usage_report(args, month, now, age, rates)

        if compare:
            return compare_previous(run, str(args.get("month")), by=by, value=value)
        return pivot_months(run, window, by=by, value=value)

    def _usage_report(
        self, args: ReportArgs, window: Window, now: datetime, age: timedelta, rates: Rates | None
    ) -> Report:
        from cfevents.files import check_output
        from cfevents.report import CloudControllerSource, usage_report, write_state

        save_state = args.get("save_state")
        state_target = (  # checked before the report runs: no work lost to a bad path
            check_output(save_state, param="save_state", force=args.get("force", False))
            if save_state is not None
            else None
        )
        options: dict[str, Any] = {
            "rates": rates,
            "by": args.get("by", "app"),
            "daily": args.get("daily", False),
            "opening": args.get("opening", "snapshot"),
            "min_age": age,
            "allow_incomplete": args.get("allow_incomplete", False),
        }
        history = args.get("input")
        if history is not None:  # stored history: no request to the API at all
            from cfevents.report.history import history_report, history_source

            stored = history_source(
                os.fspath(history),
                foundation=args.get("foundation"),
                allow_incomplete=options["allow_incomplete"],
            )
            with stored:
                report = history_report(stored, window, **options)
        else:
            source = CloudControllerSource(self.http, self.api, events=self._report_events)
            report = usage_report(source, window, now=now, **options)
        if state_target is not None:
            write_state(state_target, report.closing_state)
        return report

    def service_report(self, **args: Unpack[ServiceReportArgs]) -> Report:
        """Service-instance seconds per org, space, offering, plan or instance, with created,
        updated and deleted counts (README "Service usage events"): the same window, min-age
        and completeness rules (exit 7) as :meth:`usage_report`."""
        from cfevents.report.rates import as_rates
        from cfevents.report.services import CloudControllerServiceSource, service_report

        now, window, age = _report_window(args)
        rates = as_rates(args.get("rates"))
        return service_report(
            CloudControllerServiceSource(self.http, self.api),
            window,
            rates=rates,
            by=args.get("by", "plan"),
            include_user_provided=args.get("include_user_provided", False),
            min_age=age,
            now=now,
            allow_incomplete=args.get("allow_incomplete", False),
        )

    def chargeback(self, **args: Unpack[StatementArgs]) -> Report:
        """One statement per org (``per="org"``) or space: app, task and service lines with
        their costs and a total line each (README "Chargeback statement"). ``rates`` is
        required. From stored history (``input``) there are no service lines (a warning).
        """
        from cfevents.report.rates import as_rates
        from cfevents.report.statement import STATEMENT_PER, build_statement

        per = args.get("per", "org")
        if per not in STATEMENT_PER:
            raise UsageError(f"--per must be one of {', '.join(STATEMENT_PER)}, not {per!r}")
        rates = as_rates(args.get("rates"))
        if rates is None:
            raise UsageError("a chargeback statement needs prices: --rates FILE")
        _report_window(args)  # bad window values fail before any request
        usage_args: dict[str, Any] = {k: v for k, v in args.items() if k not in ("per", "daily")}
        usage_args |= {"by": "app", "rates": rates}
        usage = self.usage_report(**cast("ReportArgs", usage_args))
        if args.get("input") is not None:
            usage.warnings.append(
                "no service lines: stored history holds app usage only (run without --input "
                "for services)"
            )
            return build_statement(usage, None, per=per)
        service_args: dict[str, Any] = {
            k: v
            for k, v in args.items()
            if k in ("month", "since", "until", "min_age", "allow_incomplete", "now")
        }
        service_args |= {"by": "plan", "rates": rates}
        services = self.service_report(**cast("ServiceReportArgs", service_args))
        return build_statement(usage, services, per=per)

    def _report_events(self, start: datetime) -> Iterator[dict[str, Any]]:
        """Every usage event from ``start`` on, in id order: the export's keyset pages with
        read-ahead (one streamed pass; closing this stops the background download)."""
        from cfevents.export.engine import keyset_pages
        from cfevents.timeparse import format_cc

        params = [("created_ats[gte]", format_cc(start))]
        # no guessed download: page N and its raw body are gone before page N+1's body arrives
        pages = keyset_pages(self.http, USAGE_PATH, params, None, V3_MAX_PER_PAGE, guess_next=False)
        try:
            for page in pages:
                yield from page.get("resources") or []
                del page  # let page N go before page N+1 is decoded
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()

    # -- audit events and crashes ------------------------------------------------------------

    def audit_events(self, **args: Unpack[AuditArgs]) -> Listing[AuditEvent]:
        """Audit events from v3 ``/v3/audit_events`` or v2 ``/v2/events``, in one shape.

        ``q`` holds raw v2 filters (they imply v2). The first page is read here, so a refused
        request raises before any event is handed out. ``names`` fills in org/space names.
        """
        from cfevents.events import audit

        limit = check_limit(args.get("limit"))
        resolver, query, src = self._event_query(
            args,
            types=audit_types(split_commas(_values(args.get("types", ())), unique=True)),
            actees=split_commas(_values(args.get("actees", ())), unique=True),
            q=args.get("q", ()),
            limit=limit,
        )
        direction, raw_q = query.order, query.raw_q
        info = _page_info()
        events = audit.settle_ties(
            self._read_events(query, src, info, bool(raw_q), ahead=limit is None), direction
        )
        if limit is not None:
            events = itertools.islice(events, limit)
        if args.get("names", True):
            events = with_names(events, resolver)

        def truncation(shown: int) -> Truncation | None:
            total = info.total_results or 0
            if limit is None or shown < limit or total <= shown:
                return None
            return Truncation(shown, "matching events", total)

        return Listing(cast("Iterator[AuditEvent]", events), info, truncation=truncation)

    def audit_event(self, guid: str, source: Source = "auto", names: bool = True) -> AuditEvent:
        """One audit event (v3, or v2 with ``source="v2"``) in the normalised shape."""
        from urllib.parse import quote

        from cfevents.events import audit

        src = choose_source(source)
        key = quote(_one_guid(guid))
        if src == "v2":
            require_v2(self.http)
            try:
                event = audit.normalise_v2(self.http.get_json(f"{AUDIT_V2_PATH}/{key}"))
            except V2DisabledError:
                raise V2DisabledError(v2_off_message()) from None
        else:
            event = audit.normalise_v3(self.http.get_json(f"{AUDIT_V3_PATH}/{key}"))
        if names:
            event = next(with_names([event], self._resolver()))
        return cast("AuditEvent", event)

    def crashes(self, **args: Unpack[CrashArgs]) -> Listing[Crash]:
        """App crashes, each once (CC writes two events per crash), newest first by default.

        Arguments: the time window (``since``, ``until``, ``created_after``,
        ``created_before``), ``org``/``space``/``app``, ``order``, ``source``, ``per_page``,
        ``limit`` and ``names`` (fill in org/space names), as for :meth:`audit_events`.
        """
        from cfevents.events import audit

        limit = check_limit(args.get("limit"))
        keep = _crash_filter(args)
        # a filtered listing may read far past its limit: full pages, read ahead
        sizing = None if keep else limit
        resolver, query, src = self._event_query(args, types=audit.CRASH_TYPES, limit=sizing)
        info = _page_info()
        reading = self._read_events(query, src, info, ahead=sizing is None)
        records = keep.apply(audit.crash_records(reading, query.order))
        shown = itertools.islice(records, limit) if limit is not None else records
        cache = self._context_cache(args, src)
        if cache is not None:
            from cfevents.events.context import with_context

            shown = with_context(shown, cache)
        if args.get("names", True):
            shown = with_names(shown, resolver)

        def truncation(count: int) -> Truncation | None:
            # peeking at the rest costs at most one more page, and only when every event CC
            # counted was already read
            if limit is None or count < limit:
                return None
            unread = (info.total_results or 0) > info.resources
            if not unread and next(records, None) is None:
                return None
            end = "newest" if query.order == "desc" else "oldest"
            counted = None if keep else info.total_results or None
            return Truncation(count, "crashes", end=end, counted=counted)

        return Listing(cast("Iterator[Crash]", shown), info, truncation=truncation)

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
        from cfevents.events.follow import KeysetCursor
        from cfevents.events.loops import LoopDetector
        from cfevents.timeparse import utcnow

        pause = check_interval(interval)  # the one bound every follow obeys
        if args.get("until") is not None or args.get("created_before") is not None:
            raise UsageError("has no end: drop `until`/`created_before`", param="follow")
        detector = LoopDetector(loop) if loop is not None else None
        cache = self._context_cache(args, choose_source(args.get("source", "auto")))
        stop = stop or threading.Event()
        keyset = KeysetCursor(time_window(utcnow(), args).gte or utcnow(), lag)
        query = cast("CrashArgs", dict(args))
        for bound in ("until", "created_after", "created_before", "context"):
            query.pop(bound, None)  # type: ignore[misc]
        query["order"], query["limit"] = "asc", None
        while not stop.is_set():
            query["since"] = keyset.since()
            for crash in self.crashes(**query):
                guids = (crash.get("process_crash_guid"), crash.get("app_crash_guid"))
                if not keyset.fresh(crash.get("created_at"), guids):
                    continue
                loops = detector.observe(dict(crash)) if detector is not None else []
                for record in [dict(crash), *loops]:
                    yield cast("Crash | CrashLoop", cache.attach(record) if cache else record)
            for record in detector.settle(self.http.server_time) if detector else []:
                yield cast("CrashLoop", cache.attach(record) if cache else record)
            keyset.prune()
            stop.wait(pause)

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
        from cfevents.events.follow import KeysetCursor
        from cfevents.timeparse import utcnow

        pause = check_interval(interval)  # the one bound every follow obeys
        if args.get("until") is not None or args.get("created_before") is not None:
            raise UsageError("has no end: drop `until`/`created_before`", param="follow")
        stop = stop or threading.Event()
        keyset = KeysetCursor(time_window(utcnow(), args).gte or utcnow(), lag)
        query = cast("AuditArgs", dict(args))
        for bound in ("until", "created_after", "created_before"):
            query.pop(bound, None)  # type: ignore[misc]
        query["order"], query["limit"] = "asc", None
        while not stop.is_set():
            query["since"] = keyset.since()
            for event in self.audit_events(**query):
                if keyset.fresh(event.get("created_at"), [event.get("guid")]):
                    yield event
            keyset.prune()
            stop.wait(pause)

    def crash_summary(self, **args: Unpack[CrashArgs]) -> Listing[CrashSummary]:
        """One row per app that crashed: count, first and last crash, the last exit reason.

        Takes the arguments of :meth:`crashes`. Reads every crash in the window; the
        most-crashing apps come first; ``limit`` counts apps.
        """
        from cfevents.events import audit

        limit = check_limit(args.get("limit"))
        resolver, query, src = self._event_query(args, types=audit.CRASH_TYPES, limit=None)
        info = _page_info()
        records = audit.crash_records(self._read_events(query, src, info), query.order)
        rows = audit.summarise(_crash_filter(args).apply(records))
        shown: Iterator[dict[str, Any]] = iter(rows if limit is None else rows[:limit])
        if args.get("names", True):
            shown = with_names(shown, resolver)

        def truncation(count: int) -> Truncation | None:
            return Truncation(count, "apps with crashes", len(rows)) if len(rows) > count else None

        return Listing(
            cast("Iterator[CrashSummary]", shown), info, truncation=truncation, paged=False
        )

    def _context_cache(self, args: CrashArgs, source: str) -> ContextCache | None:
        """The cache that fetches ``context`` for crashes (None without ``context``): the
        app's change events (:data:`cfevents.events.context.CONTEXT_TYPES`) by target GUID."""
        from cfevents.events.context import CONTEXT_TYPES, ContextCache
        from cfevents.timeparse import format_cc

        before = _context_period(args.get("context"))
        if before is None:
            return None

        def fetch(guid: str, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
            return cast(
                "Iterator[dict[str, Any]]",
                self.audit_events(
                    types=CONTEXT_TYPES,
                    actees=[guid],
                    since=format_cc(start),
                    until=format_cc(end),
                    order="asc",
                    source=cast("Source", source),
                    names=False,
                ),
            )

        return ContextCache(fetch, before)

    def _event_query(
        self,
        args: CrashArgs,
        *,
        types: tuple[str, ...],
        limit: int | None,
        actees: list[str] | None = None,
        q: Sequence[str] = (),
    ) -> tuple[Resolver, EventQuery, str]:
        """Check the arguments of an audit-event listing; its resolver, query and source.

        Crash listings (``actees`` None) read two events per crash: a page of 2N+1 events
        usually completes N crashes.
        """
        from cfevents.events import audit
        from cfevents.timeparse import utcnow

        now = utcnow()
        window = time_window(now, args)
        direction = check_order(args.get("order", "desc"))
        raw_q = tuple(audit.parse_q(value, now) for value in q)
        src = choose_source(args.get("source", "auto"), raw_q=bool(raw_q))
        top, endpoint = audit_endpoint(src)
        per_page = args.get("per_page")
        check_per_page(per_page, top, endpoint)
        resolver = self._resolver()
        scope = resolver.resolve_scope(*_scope_values(args))
        targets = (actees or []) + sorted(scope.app_guids or ())
        query = audit.EventQuery(
            types=types,
            target_guids=tuple(dict.fromkeys(targets)),
            space_guids=tuple(sorted(scope.space_guids or ())),
            org_guids=tuple(sorted(scope.org_guids or ())),
            window=window,
            order=direction,
            per_page=page_size(
                limit, per_page, top, per_result=2 if actees is None else 1, ahead=1
            ),
            raw_q=raw_q,
        )
        return resolver, query, src

    def _read_events(
        self,
        query: EventQuery,
        source: str,
        info: PageInfo,
        raw_q: bool = False,
        *,
        ahead: bool = True,
    ) -> Iterator[dict[str, Any]]:
        """Normalised events from either API, each once, in time order.

        The first page is fetched here, before anything is handed out, so a refused request
        (v2 off, a 400) is one error and not a half-written document. With ``ahead`` (no limit:
        every page is needed) the next page downloads in a background thread while this one is
        written, as for usage exports; a limited listing sizes its first page to the limit and
        never asks for a page it may not need.
        """
        from cfevents.cc.paging import resources, v2_pages, v3_pages
        from cfevents.cc.readahead import read_ahead
        from cfevents.events import audit

        if source == "v2":
            require_v2(self.http, raw_q)
            pages = v2_pages(self.http, AUDIT_V2_PATH, audit.build_v2_events_params(query))
            normalise = audit.normalise_v2
        else:
            pages = v3_pages(self.http, AUDIT_V3_PATH, audit.build_v3_audit_params(query))
            normalise = audit.normalise_v3
        try:
            first = next(pages)
        except V2DisabledError:
            raise V2DisabledError(v2_off_message(raw_q)) from None
        rest = read_ahead(pages) if ahead else pages
        events = (normalise(r) for r in resources(itertools.chain([first], rest), info))
        return audit.unique(events)

    def _resolver(self) -> Resolver:
        """A name↔GUID resolver for one call (its cache also serves the name columns)."""
        from cfevents.events.resolve import Resolver

        return Resolver(self.http)


@dataclass(frozen=True)
class _UsageFilters:
    """UsageFilterArgs checked and parsed."""

    window: TimeWindow
    guids: tuple[str, ...]
    after_guid: str | None
    states: frozenset[str]
    scope_values: tuple[list[str], list[str], list[str]]  # org, space, app names or GUIDs

    @classmethod
    def parse(cls, args: UsageFilterArgs) -> _UsageFilters:
        from cfevents.timeparse import utcnow

        window = time_window(utcnow(), args, args.get("created_at", ()))
        after_guid = args.get("after_guid")
        if after_guid is not None and ("," in after_guid or not after_guid.strip()):
            raise UsageError("`after_guid` takes exactly one event GUID", param="after_guid")
        return cls(
            window=window,
            guids=tuple(split_commas(_values(args.get("guids", ())))),
            after_guid=after_guid.strip() if after_guid else None,
            states=usage_states(split_commas(_values(args.get("state", ())))),
            scope_values=_scope_values(args),
        )

    @property
    def client_side(self) -> bool:
        """Whether events are filtered after fetching."""
        return bool(self.states or any(self.scope_values))

    def keep(self, resolver: Resolver) -> Callable[[dict[str, Any]], bool] | None:
        """The after-fetching filter (names resolved to GUIDs once), or None."""
        scope = resolver.resolve_scope(*self.scope_values)
        return usage_filter(scope, set(self.states)) if self.client_side else None


@dataclass(frozen=True)
class _ServiceFilters:
    """ServiceFilterArgs checked and parsed; ``extra`` the type and offering parameters."""

    window: TimeWindow
    guids: tuple[str, ...]
    after_guid: str | None
    extra: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, args: ServiceFilterArgs) -> _ServiceFilters:
        from cfevents.timeparse import utcnow

        window = time_window(utcnow(), args, args.get("created_at", ()))
        after_guid = args.get("after_guid")
        if after_guid is not None and ("," in after_guid or not after_guid.strip()):
            raise UsageError("`after_guid` takes exactly one event GUID", param="after_guid")
        types = split_commas(_values(args.get("service_instance_types", ())))
        for kind in types:
            if kind not in SERVICE_INSTANCE_TYPES:
                raise UsageError(
                    "`service_instance_types` must be managed_service_instance or user_provided_service_instance "
                    f"(got {kind!r})",
                    param="service_instance_types",
                )
        offerings = split_commas(_values(args.get("service_offering_guids", ())))
        extra = []
        if types:
            extra.append(("service_instance_types", ",".join(types)))
        if offerings:
            extra.append(("service_offering_guids", ",".join(offerings)))
        return cls(
            window=window,
            guids=tuple(split_commas(_values(args.get("guids", ())))),
            after_guid=after_guid.strip() if after_guid else None,
            extra=tuple(extra),
        )


def _store_refused(args: UsageExportArgs | ServiceExportArgs) -> tuple[str, ...]:
    """The filter parameters given that a database ``out`` refuses (it keeps every event)."""
    given = cast("Mapping[str, Any]", args)
    keys: tuple[str, ...] = ("org", "space", "app", "state", "guids", "created_at")
    keys += ("service_instance_types", "service_offering_guids")
    return tuple(key for key in keys if given.get(key))


# -- the pieces every list call shares ----------------------------------------------------------


def time_window(now: datetime, args: TimeArgs, created_at: Sequence[TimeValue] = ()) -> TimeWindow:
    """The server-side window for the time arguments (errors name the CLI flag)."""
    since, until = args.get("since"), args.get("until")
    created_after, created_before = args.get("created_after"), args.get("created_before")
    if until is not None and created_before is not None:
        raise UsageError(
            "`until` and `created_before` are the same bound (created_ats[lt]); give one",
            param="until",
        )
    relational = [since, until, created_after, created_before]
    if created_at and any(v is not None for v in relational):
        raise UsageError(
            "(exact seconds) cannot be combined with `since`/`until`/`created_after`/"
            "`created_before`: Cloud Controller rejects that mix",
            param="created_at",
        )
    exact = [v for v in created_at if isinstance(v, datetime)]
    exact += [_parse("created_at", v, now) for v in split_commas(_texts(created_at))]
    gte = _time("since", since, now)
    gt = _time("created_after", created_after, now)
    lt = (
        _time("until", until, now)
        if until is not None
        else _time("created_before", created_before, now)
    )
    window = TimeWindow(gte=gte, gt=gt, lt=lt, equals=tuple(exact))
    lower = window.gte or window.gt
    if lower is not None and window.lt is not None and lower >= window.lt:
        raise UsageError("the time window is empty: the start is not before the end")
    return window


def _time(param: str, value: TimeValue | None, now: datetime) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return _parse(param, value, now)


def _parse(param: str, value: str, now: datetime) -> datetime:
    from cfevents.timeparse import TimeParseError, parse_time

    try:
        return parse_time(value, now)
    except TimeParseError as exc:
        raise UsageError(str(exc), param=param) from None


def _texts(values: Sequence[TimeValue]) -> list[str]:
    return [v for v in values if isinstance(v, str)]


def _values(value: Names) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _scope_values(args: ScopeArgs) -> tuple[list[str], list[str], list[str]]:
    return (
        _values(args.get("org", ())),
        _values(args.get("space", ())),
        _values(args.get("app", ())),
    )


def _context_period(value: str | timedelta | None) -> timedelta | None:
    """``context``: a duration (``15m``) from 1s to 1d, or None."""
    from cfevents.timeparse import TimeParseError, parse_duration

    if value is None or value == "":
        return None
    try:
        period = value if isinstance(value, timedelta) else parse_duration(value)
    except TimeParseError as exc:
        raise UsageError(str(exc), param="context") from None
    if not timedelta(seconds=1) <= period <= timedelta(days=1):
        raise UsageError(f"{value!r} is out of range (1s to 1d)", param="context")
    return period


def _crash_filter(args: CrashArgs) -> CrashFilter:
    from cfevents.events.crashfilter import crash_filter

    return crash_filter(
        _values(args.get("reasons", ())), args.get("exit_statuses", ()), args.get("oom", False)
    )


def _one_guid(guid: str) -> str:
    if not guid.strip() or "/" in guid:
        raise UsageError(f"not an event GUID: {guid!r}")
    return guid.strip()


def _page_info() -> PageInfo:
    from cfevents.cc.paging import PageInfo

    return PageInfo()


# The states Cloud Controller writes on app usage events (state.current).
USAGE_STATES = (
    "STARTED",
    "STOPPED",
    "BUILDPACK_SET",
    "STAGING_STARTED",
    "STAGING_STOPPED",
    "TASK_STARTED",
    "TASK_STOPPED",
)
# Short audit event types: `--type crash` means both records CC writes for a crash.
AUDIT_SHORT_TYPES = {"crash": ("audit.app.process.crash", "app.crash")}


def usage_states(values: Sequence[str]) -> frozenset[str]:
    """``--state`` values upper-cased; one CC never emits is a usage error naming the valid ones
    (a typo would otherwise scan every event and match none)."""
    states = frozenset(v.strip().upper() for v in values)
    unknown = sorted(states - set(USAGE_STATES))
    if unknown:
        raise UsageError(
            f"unknown state {', '.join(unknown)}; CC emits {', '.join(USAGE_STATES)}",
            param="state",
        )
    return states


def audit_types(values: Sequence[str]) -> tuple[str, ...]:
    """``--type`` values with the short ones expanded (``crash``: both crash records); a short
    type that is not one of them is a usage error (CC's types all hold a dot)."""
    types: list[str] = []
    for value in values:
        if "." in value:
            expanded: tuple[str, ...] = (value,)
        elif value.lower() in AUDIT_SHORT_TYPES:
            expanded = AUDIT_SHORT_TYPES[value.lower()]
        else:
            raise UsageError(
                f"unknown type {value!r}; give a full CC type (audit.app.update, "
                f"app.crash, ...) or a short one: {', '.join(AUDIT_SHORT_TYPES)}"
            )
        types.extend(t for t in expanded if t not in types)
    return tuple(types)


def _parse_cc_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def usage_filter(scope: Scope, states: set[str]) -> Callable[[dict[str, Any]], bool]:
    """Keep a usage event when it is in the org/space/app scope and in one of ``states``."""
    from cfevents.output.columns import get_path

    def keep(event: dict[str, Any]) -> bool:
        for guids, path in (
            (scope.org_guids, "organization.guid"),
            (scope.space_guids, "space.guid"),
            (scope.app_guids, "app.guid"),
        ):
            if guids is not None and get_path(event, path) not in guids:
                return False
        return not states or str(get_path(event, "state.current") or "").upper() in states

    return keep


def check_order(order: str) -> str:
    from cfevents.events.audit import ORDERS

    value = order.strip().lower()
    if value not in ORDERS:
        raise UsageError(f"`order` must be desc or asc (got {order!r})", param="order")
    return value


def choose_source(source: str, *, raw_q: bool = False) -> str:
    """``v2`` or ``v3`` for ``source`` (auto is v3, or v2 when raw v2 ``q`` filters are given).

    Raises:
        UsageError: an unknown source, or ``q`` with ``source="v3"``.
    """
    from cfevents.events.audit import SOURCES

    value = source.strip().lower()
    if value not in SOURCES:
        raise UsageError(
            f"`source` must be one of {', '.join(SOURCES)} (got {source!r})", param="source"
        )
    if value == "v3" and raw_q:
        raise UsageError(
            "`q` filters are v2 syntax and need `source` v2; with v3 use `types`, `actees`, "
            "`org`/`space`/`app` and `since`/`until`",
            param="q",
        )
    if value == "auto":
        return "v2" if raw_q else "v3"
    return value


def audit_endpoint(source: str) -> tuple[int, str]:
    if source == "v2":
        return V2_EVENTS_MAX_PER_PAGE, f"v2 {AUDIT_V2_PATH}"
    return V3_MAX_PER_PAGE, f"v3 {AUDIT_V3_PATH}"


def v2_off_message(raw_q: bool = False) -> str:
    hint = (
        "--q filters need v2: use --type, --actee, --org/--space/--app and --since/--until instead"
        if raw_q
        else "use --source v3"
    )
    return f"this foundation has the v2 API switched off; {hint}"


def require_v2(client: CFClient, raw_q: bool = False) -> None:
    """Stop early (exit 5) when ``GET /`` says v2 is off; a failing ``GET /`` proves nothing.

    Raises:
        V2DisabledError: ``GET /`` has no ``links.cloud_controller_v2``.
    """
    try:
        available = client.v2_available()
    except CfEventsError:
        return  # the events request itself will tell (nginx's 'V2 endpoints disabled' 404)
    if not available:
        raise V2DisabledError(v2_off_message(raw_q))


def org_namer(resolver: Resolver) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A function filling in a usage event's ``organization.name`` (CC sends only the GUID).

    Each org GUID is looked up once (``/v3/organizations?guids=``) the first time it is seen
    and cached in ``resolver``; nothing is read ahead, so an export's checkpoint still
    commits only events already written.
    """

    def fill(event: dict[str, Any]) -> dict[str, Any]:
        org = event.get("organization")
        if isinstance(org, dict):
            guid = org.get("guid")
            org["name"] = resolver.name("organizations", guid) if isinstance(guid, str) else None
        return event

    return fill


def org_names_page(resolver: Resolver) -> Callable[[list[dict[str, Any]]], None]:
    """:func:`org_namer` for a whole page (an export): each org GUID of the page is looked up
    once, in the order first seen (the same requests as event by event, cached across pages),
    so a row costs a dict lookup, not a call."""

    def fill(events: list[dict[str, Any]]) -> None:
        names: dict[str, str | None] = {}
        for event in events:
            org = event.get("organization")
            if isinstance(org, dict):
                guid = org.get("guid")
                if not isinstance(guid, str):
                    org["name"] = None
                elif guid in names:
                    org["name"] = names[guid]
                else:
                    org["name"] = names[guid] = resolver.name("organizations", guid)

    return fill


def with_names(
    records: Iterable[dict[str, Any]], resolver: Resolver, chunk: int = 200
) -> Iterator[dict[str, Any]]:
    """Fill ``space.name`` and ``organization.name``: one lookup per chunk of new GUIDs."""
    it = iter(records)
    while batch := list(itertools.islice(it, chunk)):
        resolver.preload("spaces", (r["space"]["guid"] for r in batch if r["space"]["guid"]))
        resolver.preload(
            "organizations",
            (r["organization"]["guid"] for r in batch if r["organization"]["guid"]),
        )
        for record in batch:
            record["space"]["name"] = resolver.name("spaces", record["space"]["guid"])
            record["organization"]["name"] = resolver.name(
                "organizations", record["organization"]["guid"]
            )
            yield record


def _blame_after_guid(
    pages: Iterator[dict[str, Any]], after_guid: str | None, noun: str = "app usage event"
) -> Iterator[dict[str, Any]]:
    """Keyset pages; an unknown cursor is the caller's ``after_guid`` (a typo), not pruning."""
    from cfevents.export.engine import unknown_after_guid

    first = True
    try:
        for page in pages:
            first = False
            yield page
    except LostCursorError as exc:
        if not first or after_guid is None:  # a cursor of ours, lost while paging
            raise
        raise unknown_after_guid(after_guid, exc, noun) from None


def _check_months(args: ReportArgs, pivot: str | None, compare: bool) -> None:
    """``pivot`` and ``compare`` run one report per month: what cannot go with that."""
    if pivot is not None and pivot != "month":
        raise UsageError(f"--pivot must be month, not {pivot!r}")
    if pivot is not None and compare:
        raise UsageError("use --pivot month or --compare, not both")
    if compare and args.get("month") is None:
        raise UsageError("--compare needs --month (the month compared with the one before)")
    if args.get("daily"):
        raise UsageError("--daily cannot go with --pivot month or --compare")
    if args.get("save_state") is not None:
        raise UsageError("--save-state cannot go with --pivot month or --compare")
    if args.get("opening", "snapshot") not in ("snapshot", "events", "none"):
        raise UsageError("--opening FILE cannot go with --pivot month or --compare")


def _report_window(args: ReportArgs | ServiceReportArgs) -> tuple[datetime, Window, timedelta]:
    """The clock, the window (``month`` or ``[since, until)``, default this month so far) and
    ``min_age`` of a report, checked before any request."""
    from cfevents.report import DEFAULT_MIN_AGE, window_from_options
    from cfevents.timeparse import format_cc, utcnow

    now = args.get("now") or utcnow()
    since, until = args.get("since"), args.get("until")
    window = window_from_options(
        args.get("month"),
        format_cc(since) if isinstance(since, datetime) else since,
        format_cc(until) if isinstance(until, datetime) else until,
        now,
    )
    age = check_min_age(args.get("min_age", DEFAULT_MIN_AGE))
    assert age is not None
    return now, window, age
