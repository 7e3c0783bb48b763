"""The v3 endpoints (plus the root document), as CC's Rails controllers answer them."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from cfevents.sandbox import messages
from cfevents.sandbox.audit import AuditEvent
from cfevents.sandbox.data import App, Org, ProcessNow, Space, TaskNow
from cfevents.sandbox.errors import ApiError, UnknownError, encode
from cfevents.sandbox.included import included_for_fields, included_for_include
from cfevents.sandbox.messages import ListMessage, ListSpec, matches_unlabelled
from cfevents.sandbox.params import InvalidParameters, parse_nested, to_query
from cfevents.sandbox.services import MANAGED, USER_PROVIDED, Instance, ServiceEvent
from cfevents.sandbox.store import in_windows, iso_second
from cfevents.sandbox.tokens import Principal
from cfevents.sandbox.wire import Call, Reply, json_reply

API_VERSION_V2 = "2.293.0"
API_VERSION_V3 = "3.228.0"
T = TypeVar("T")
Included = Callable[[ListMessage, list[dict[str, Any]]], dict[str, Any] | None]


# -- root documents -----------------------------------------------------------------


def root(call: Call) -> Reply:
    """`GET /`: links; `cloud_controller_v2` only while v2 is enabled."""
    base = call.base_url
    links: dict[str, Any] = {
        "self": {"href": base},
        "cloud_controller_v3": {"href": f"{base}/v3", "meta": {"version": API_VERSION_V3}},
        "network_policy_v0": {"href": f"{base}/networking/v0/external"},
        "network_policy_v1": {"href": f"{base}/networking/v1/external"},
        "login": {"href": base},
        "uaa": {"href": base},
        "credhub": None,
        "routing": None,
        "logging": None,
        "log_cache": None,
        "log_stream": None,
        "app_ssh": {
            "href": None,
            "meta": {"host_key_fingerprint": None, "oauth_client": "ssh-proxy"},
        },
    }
    if call.v2_enabled:
        links["cloud_controller_v2"] = {"href": f"{base}/v2", "meta": {"version": API_VERSION_V2}}
    return json_reply({"links": links})


#: `RootController#v3_root`: every resource CC links, in its order (the sandbox serves some).
V3_ROOT_LINKS = (
    "app_usage_events",
    "apps",
    "audit_events",
    "buildpacks",
    "builds",
    "deployments",
    "domains",
    "droplets",
    "environment_variable_groups",
    "feature_flags",
    "info",
    "isolation_segments",
    "organizations",
    "organization_quotas",
    "packages",
    "processes",
    "resource_matches",
    "roles",
    "routes",
    "security_groups",
    "service_brokers",
    "service_instances",
    "service_credential_bindings",
    "service_offerings",
    "service_plans",
    "service_route_bindings",
    "service_usage_events",
    "spaces",
    "space_quotas",
    "stacks",
    "tasks",
    "users",
)


def v3_root(call: Call) -> Reply:
    """`GET /v3`: CC's links, whether or not the sandbox serves the resource."""
    base = f"{call.base_url}/v3"
    links = {"self": {"href": base}} | {name: {"href": f"{base}/{name}"} for name in V3_ROOT_LINKS}
    return json_reply({"links": links})


# -- shared list machinery ----------------------------------------------------------


def _message(call: Call, spec: ListSpec, unprocessable: bool) -> ListMessage:
    """Parse and validate a list query; invalid ones raise 422 or 400 as the controller does."""
    try:
        params = parse_nested(call.query)
    except InvalidParameters:
        raise ApiError("InvalidRequest") from None
    message = ListMessage(spec, params)
    errors = message.errors()
    if errors:
        raise ApiError("UnprocessableEntity" if unprocessable else "BadQueryParameter", errors)
    return message


def pagination(
    call: Call, path: str, total: int, message: ListMessage, order_label: str | None = None
) -> dict[str, Any]:
    """The `PaginatedListPresenter` pagination object: absolute, sorted, CGI-escaped hrefs."""
    per_page, page = message.per_page, message.page
    last = max(1, -(-total // per_page))
    params: dict[str, Any] = {"per_page": str(per_page)}
    if message.ordering_configured:
        params["order_by"] = ("-" if message.descending else "+") + (
            order_label or message.order_column
        )
    params |= message.echo()

    def href(number: int) -> dict[str, str]:
        return {"href": f"{call.base_url}{path}?{to_query(params | {'page': str(number)})}"}

    return {
        "total_results": total,
        "total_pages": last,
        "first": href(1),
        "last": href(last),
        "next": href(page + 1) if page + 1 <= last else None,
        "previous": href(page - 1) if page > 1 else None,
    }


def _list_reply(
    call: Call,
    path: str,
    total: int,
    message: ListMessage,
    resources: list[dict[str, Any]],
    order_label: str | None = None,
    included: dict[str, Any] | None = None,
) -> Reply:
    body = {
        "pagination": pagination(call, path, total, message, order_label),
        "resources": resources,
    }
    if included is not None:  # the decorators' `included`, after the resources
        body["included"] = included
    reply = json_reply(body, listed=len(resources))
    reply.skipped = _offset(message)
    return reply


def _offset(message: ListMessage) -> int:
    return (message.page - 1) * message.per_page


def _paged(items: Sequence[T], message: ListMessage) -> list[T]:
    offset = _offset(message)
    return list(items[offset : offset + message.per_page])


# -- app usage events ---------------------------------------------------------------


def list_usage_events(call: Call) -> Reply:
    """`GET /v3/app_usage_events` (`AppUsageEventsController#index`)."""
    principal = call.reader()
    message = _message(call, messages.USAGE_EVENTS, unprocessable=True)
    foundation = call.foundation
    with foundation.lock:
        total, rows = 0, []
        if principal.global_reader:
            selection = _select_usage_events(call, message)
            total = len(selection)
            rows = selection.page(_offset(message), message.per_page, message.descending)
        resources = foundation.store.render_v3_json(rows, call.base_url)
    head = encode({"pagination": pagination(call, "/v3/app_usage_events", total, message)})
    body = head[:-1] + b',"resources":[' + resources.encode() + b"]}"
    return Reply(200, body, listed=len(rows), skipped=_offset(message))


def _select_usage_events(call: Call, message: ListMessage) -> Any:
    """`AppUsageEventListFetcher`: after_guid cursor, then created_ats, then guids."""
    store = call.foundation.store
    start = 0
    if "after_guid" in message.requested:
        after = message.strings("after_guid")
        if not after:
            raise UnknownError("undefined method '[]' for nil")
        position = store.find(after[0])
        if position is None:
            raise ApiError(
                "UnprocessableEntity", "After guid filter must be a valid app usage event guid."
            )
        start = position + 1
    windows = message.windows("created_ats")
    guids = message.strings("guids")
    if message.order_column == "created_at":
        return store.select_by_created(start, windows, guids)
    return store.select_by_id(start, windows, guids)


def get_usage_event(call: Call, guid: str) -> Reply:
    """`GET /v3/app_usage_events/:guid`: 404 unless found *and* the caller reads globally."""
    principal = call.reader()
    foundation = call.foundation
    with foundation.lock:
        position = foundation.store.find(guid) if principal.global_reader else None
        if position is None:
            raise ApiError("ResourceNotFound", "App usage event not found")
        return json_reply(foundation.store.present_v3(position, call.base_url))


def purge_usage_events(call: Call) -> Reply:
    """`POST .../actions/destructively_purge_all_and_reseed`: admins only, `200 {}`."""
    if not call.authenticate().admin:
        raise ApiError("NotAuthorized")
    call.foundation.purge_and_reseed(time.time_ns() // 1000)
    return json_reply({})


# -- audit events -------------------------------------------------------------------


def list_audit_events(call: Call) -> Reply:
    """`GET /v3/audit_events` (`EventsController#index`); validation errors are 400s.

    Simplification: CC shows non-global readers the events of spaces and orgs
    where they hold roles; the sandbox has no roles, so they see nothing.
    """
    principal = call.reader()
    message = _message(call, messages.AUDIT_EVENTS, unprocessable=False)
    events = (
        _filter_audit_events(call.foundation.audit_events, message)
        if principal.global_reader
        else []
    )
    resources = [e.present_v3(call.base_url) for e in _paged(events, message)]
    return _list_reply(call, "/v3/audit_events", len(events), message, resources)


def _filter_audit_events(events: list[AuditEvent], message: ListMessage) -> list[AuditEvent]:
    """`EventListFetcher`: filters on the created_at/updated_at *columns*, not `timestamp`."""
    matched: list[AuditEvent] = list(events)
    for key, column in (
        ("types", "type"),
        ("space_guids", "space_guid"),
        ("organization_guids", "organization_guid"),
        ("guids", "guid"),
    ):
        wanted = message.strings(key)
        if wanted is not None:
            matched = [e for e in matched if getattr(e, column) in wanted]
    excluded = message.excluded_targets()
    if excluded is not None:
        matched = [e for e in matched if e.actee not in excluded]
    elif (targets := message.strings("target_guids")) is not None:
        matched = [e for e in matched if e.actee in targets]
    for key in ("created_ats", "updated_ats"):
        windows = message.windows(key)
        if windows is not None:
            matched = [e for e in matched if in_windows(e.created_at_us, windows)]
    if message.order_column in ("created_at", "updated_at"):
        matched.sort(key=lambda e: (e.created_at_us, e.guid), reverse=message.descending)
    return matched


def get_audit_event(call: Call, guid: str) -> Reply:
    """`GET /v3/audit_events/:guid`."""
    principal = call.reader()
    found = next((e for e in call.foundation.audit_events if e.guid == guid), None)
    if found is None or not principal.global_reader:
        raise ApiError("ResourceNotFound", "Event not found")
    return json_reply(found.present_v3(call.base_url))


# -- organizations, spaces, apps ----------------------------------------------------


def _present_org(org: Org, base: str) -> dict[str, Any]:
    url = f"{base}/v3/organizations/{org.guid}"
    stamp = iso_second(org.created_at_us)
    return {
        "guid": org.guid,
        "created_at": stamp,
        "updated_at": stamp,
        "name": org.name,
        "suspended": False,
        "relationships": {"quota": {"data": {"guid": org.quota_guid}}},
        "metadata": {"labels": {}, "annotations": {}},
        "links": {
            "self": {"href": url},
            "domains": {"href": f"{url}/domains"},
            "default_domain": {"href": f"{url}/domains/default"},
            "quota": {"href": f"{base}/v3/organization_quotas/{org.quota_guid}"},
        },
    }


def _present_space(space: Space, base: str) -> dict[str, Any]:
    url = f"{base}/v3/spaces/{space.guid}"
    stamp = iso_second(space.created_at_us)
    return {
        "guid": space.guid,
        "created_at": stamp,
        "updated_at": stamp,
        "name": space.name,
        "suspended": False,
        "relationships": {
            "organization": {"data": {"guid": space.org_guid}},
            "quota": {"data": None},
        },
        "metadata": {"labels": {}, "annotations": {}},
        "links": {
            "self": {"href": url},
            "organization": {"href": f"{base}/v3/organizations/{space.org_guid}"},
            "features": {"href": f"{url}/features"},
            "apply_manifest": {"href": f"{url}/actions/apply_manifest", "method": "POST"},
        },
    }


def _present_app(app: App, state: str, base: str) -> dict[str, Any]:
    url = f"{base}/v3/apps/{app.guid}"
    stamp = iso_second(app.created_at_us)
    data: dict[str, Any] = {}
    if app.lifecycle == "buildpack":
        data = {"buildpacks": [app.buildpack] if app.buildpack else [], "stack": "cflinuxfs4"}
    links: dict[str, dict[str, str]] = {
        name: {"href": f"{url}/{name}"}
        for name in ("environment_variables", "processes", "packages", "droplets", "tasks")
    }
    links |= {  # `AppPresenter#build_links`
        "current_droplet": {"href": f"{url}/droplets/current"},
        "start": {"href": f"{url}/actions/start", "method": "POST"},
        "stop": {"href": f"{url}/actions/stop", "method": "POST"},
        "revisions": {"href": f"{url}/revisions"},
        "deployed_revisions": {"href": f"{url}/revisions/deployed"},
        "features": {"href": f"{url}/features"},
    }
    return {
        "guid": app.guid,
        "created_at": stamp,
        "updated_at": stamp,
        "name": app.name,
        "state": state,
        "lifecycle": {"type": app.lifecycle, "data": data},
        "relationships": {
            "space": {"data": {"guid": app.space_guid}},
            "current_droplet": {"data": {"guid": app.droplet_guid}},
        },
        "metadata": {"labels": {}, "annotations": {}},
        "links": {"self": {"href": url}, "space": {"href": f"{base}/v3/spaces/{app.space_guid}"}}
        | links,
    }


def _filter_resources(
    items: list[T],
    message: ListMessage,
    columns: dict[str, Callable[[T], str]],
    created: Callable[[T], int],
) -> list[T]:
    """Comma-list filters named in `columns`, created/updated windows, then ordering."""
    matched = list(items)
    if "label_selector" in message.requested and not matches_unlabelled(
        message.values.get("label_selector")
    ):
        matched = []  # the sandbox's resources have no labels
    for key, column in columns.items():
        wanted = message.strings(key)
        if wanted is not None:
            matched = [item for item in matched if column(item) in wanted]
    for key in ("created_ats", "updated_ats"):
        windows = message.windows(key)
        if windows is not None:
            matched = [item for item in matched if in_windows(created(item), windows)]
    order = message.order_column
    if order != "id":
        sort_key: Callable[[T], Any] = columns["names"] if order == "name" else created
        if order == "state":
            sort_key = columns["state"]
        matched.sort(
            key=lambda item: (sort_key(item), columns["guids"](item)), reverse=message.descending
        )
    return matched


def _resource_list(
    call: Call,
    path: str,
    spec: ListSpec,
    principal: Principal,
    found: Callable[[ListMessage], tuple[int, list[dict[str, Any]]]],
    included: Included | None = None,
) -> Reply:
    """A resource list; `found` filters, orders and presents one page for global readers;
    `included` adds what `include=`/`fields[...]=` ask for."""
    message = _message(call, spec, unprocessable=False)
    total, resources = found(message) if principal.global_reader else (0, [])
    label = "desired_state" if message.order_column == "state" else None
    extra = included(message, resources) if included is not None else None
    return _list_reply(call, path, total, message, resources, label, extra)


def list_organizations(call: Call) -> Reply:
    """`GET /v3/organizations` (non-global readers see none: the sandbox has no roles)."""
    principal = call.reader()
    columns: dict[str, Callable[[Org], str]] = {
        "names": lambda o: o.name,
        "guids": lambda o: o.guid,
    }

    def found(message: ListMessage) -> tuple[int, list[dict[str, Any]]]:
        orgs = _filter_resources(call.foundation.orgs, message, columns, lambda o: o.created_at_us)
        return len(orgs), [_present_org(o, call.base_url) for o in _paged(orgs, message)]

    return _resource_list(call, "/v3/organizations", messages.ORGANIZATIONS, principal, found)


def list_spaces(call: Call) -> Reply:
    """`GET /v3/spaces`."""
    principal = call.reader()
    columns: dict[str, Callable[[Space], str]] = {
        "names": lambda s: s.name,
        "guids": lambda s: s.guid,
        "organization_guids": lambda s: s.org_guid,
    }

    def found(message: ListMessage) -> tuple[int, list[dict[str, Any]]]:
        spaces = _filter_resources(
            call.foundation.spaces, message, columns, lambda s: s.created_at_us
        )
        return len(spaces), [_present_space(s, call.base_url) for s in _paged(spaces, message)]

    def included(message: ListMessage, page: list[dict[str, Any]]) -> dict[str, Any] | None:
        presenters = (_present_space, _present_org)
        return included_for_include(message, call.foundation, call.base_url, page, presenters)

    return _resource_list(call, "/v3/spaces", messages.SPACES, principal, found, included)


def list_apps(call: Call) -> Reply:
    """`GET /v3/apps`."""
    principal = call.reader()
    foundation = call.foundation
    columns: dict[str, Callable[[App], str]] = {
        "names": lambda a: a.name,
        "guids": lambda a: a.guid,
        "organization_guids": lambda a: a.org_guid,
        "space_guids": lambda a: a.space_guid,
        "state": lambda a: foundation.app_state(a.guid),
    }

    def found(message: ListMessage) -> tuple[int, list[dict[str, Any]]]:
        apps = _filter_resources(
            foundation.live_apps(), message, columns, lambda a: a.created_at_us
        )
        page = _paged(apps, message)
        return len(apps), [
            _present_app(a, foundation.app_state(a.guid), call.base_url) for a in page
        ]

    def included(message: ListMessage, page: list[dict[str, Any]]) -> dict[str, Any] | None:
        presenters = (_present_space, _present_org)
        return included_for_include(message, foundation, call.base_url, page, presenters)

    return _resource_list(call, "/v3/apps", messages.APPS, principal, found, included)


def _get_resource(
    call: Call, items: Sequence[T], guid: str, label: str, guid_of: Callable[[T], str]
) -> T:
    principal = call.reader()
    found = next((item for item in items if guid_of(item) == guid), None)
    if found is None or not principal.global_reader:
        raise ApiError("ResourceNotFound", f"{label} not found")
    return found


def get_organization(call: Call, guid: str) -> Reply:
    """`GET /v3/organizations/:guid`."""
    org = _get_resource(call, call.foundation.orgs, guid, "Organization", lambda o: o.guid)
    return json_reply(_present_org(org, call.base_url))


def get_space(call: Call, guid: str) -> Reply:
    """`GET /v3/spaces/:guid`."""
    space = _get_resource(call, call.foundation.spaces, guid, "Space", lambda s: s.guid)
    return json_reply(_present_space(space, call.base_url))


def get_app(call: Call, guid: str) -> Reply:
    """`GET /v3/apps/:guid`."""
    app = _get_resource(call, call.foundation.live_apps(), guid, "App", lambda a: a.guid)
    return json_reply(_present_app(app, call.foundation.app_state(app.guid), call.base_url))


# -- processes and tasks: the simulation's present ----------------------------------


def _present_process(process: ProcessNow, base: str) -> dict[str, Any]:
    """`ProcessPresenter` as a list shows it (the command hidden); `version` changes with
    every new droplet or restart, as the crash events' `version` names it."""
    url = f"{base}/v3/processes/{process.guid}"
    app = process.app
    return {
        "guid": process.guid,
        "created_at": iso_second(process.created_at_us),
        "updated_at": iso_second(process.updated_at_us),
        "version": process.version,
        "type": process.type,
        "command": "[PRIVATE DATA HIDDEN IN LISTS]",
        "user": "vcap",
        "instances": process.instances,
        "memory_in_mb": process.memory_in_mb,
        "disk_in_mb": 1024,
        "log_rate_limit_in_bytes_per_second": -1,
        "health_check": {
            "type": "port" if process.type == "web" else "process",
            "data": {"timeout": None, "invocation_timeout": None, "interval": None},
        },
        "readiness_health_check": {
            "type": "process",
            "data": {"invocation_timeout": None, "interval": None},
        },
        "relationships": {
            "app": {"data": {"guid": app.guid}},
            "revision": None,  # `process.revision_guid && {...}`: no revisions here
        },
        "metadata": {"labels": {}, "annotations": {}},
        "links": {
            "self": {"href": url},
            "scale": {"href": f"{url}/actions/scale", "method": "POST"},
            "app": {"href": f"{base}/v3/apps/{app.guid}"},
            "space": {"href": f"{base}/v3/spaces/{app.space_guid}"},
            "stats": {"href": f"{url}/stats"},
            "process_instances": {"href": f"{url}/process_instances"},
        },
    }


def _present_task(task: TaskNow, base: str) -> dict[str, Any]:
    """`TaskPresenter` (without the command, as lists show it)."""
    url = f"{base}/v3/tasks/{task.guid}"
    app = task.app
    return {
        "guid": task.guid,
        "sequence_id": task.sequence_id,
        "name": task.name,
        "user": "vcap",  # the droplet's run-action user
        "state": task.state,
        "memory_in_mb": task.memory_in_mb,
        "disk_in_mb": 1024,
        "log_rate_limit_in_bytes_per_second": -1,
        "result": {"failure_reason": "Exited with status 1" if task.state == "FAILED" else None},
        "droplet_guid": app.droplet_guid,
        "relationships": {"app": {"data": {"guid": app.guid}}},
        "metadata": {"labels": {}, "annotations": {}},
        "links": {
            "self": {"href": url},
            "app": {"href": f"{base}/v3/apps/{app.guid}"},
            "cancel": {"href": f"{url}/actions/cancel", "method": "POST"},
            "droplet": {"href": f"{base}/v3/droplets/{app.droplet_guid}"},
        },
        "created_at": iso_second(task.created_at_us),
        "updated_at": iso_second(task.updated_at_us),
    }


def list_processes(call: Call) -> Reply:
    """`GET /v3/processes`: every process that exists now, with its instances and memory."""
    principal = call.reader()
    foundation = call.foundation
    columns: dict[str, Callable[[ProcessNow], str]] = {
        "guids": lambda p: p.guid,
        "types": lambda p: p.type,
        "app_guids": lambda p: p.app.guid,
        "space_guids": lambda p: p.app.space_guid,
        "organization_guids": lambda p: p.app.org_guid,
    }

    def found(message: ListMessage) -> tuple[int, list[dict[str, Any]]]:
        processes = _filter_resources(
            foundation.processes_now(), message, columns, lambda p: p.created_at_us
        )
        page = _paged(processes, message)
        return len(processes), [_present_process(p, call.base_url) for p in page]

    return _resource_list(call, "/v3/processes", messages.PROCESSES, principal, found)


def list_tasks(call: Call) -> Reply:
    """`GET /v3/tasks` (`states=RUNNING` for the ones running now)."""
    principal = call.reader()
    foundation = call.foundation
    columns: dict[str, Callable[[TaskNow], str]] = {
        "guids": lambda t: t.guid,
        "names": lambda t: t.name,
        "states": lambda t: t.state,
        "app_guids": lambda t: t.app.guid,
        "space_guids": lambda t: t.app.space_guid,
        "organization_guids": lambda t: t.app.org_guid,
    }

    def found(message: ListMessage) -> tuple[int, list[dict[str, Any]]]:
        states = message.strings("states")
        tasks = _filter_resources(
            foundation.tasks_now(None if states is None else set(states)),
            message,
            columns,
            lambda t: t.created_at_us,
        )
        page = _paged(tasks, message)
        return len(tasks), [_present_task(t, call.base_url) for t in page]

    return _resource_list(call, "/v3/tasks", messages.TASKS, principal, found)


def get_process(call: Call, guid: str) -> Reply:
    """`GET /v3/processes/:guid`."""
    processes = call.foundation.processes_now()
    process = _get_resource(call, processes, guid, "Process", lambda p: p.guid)
    return json_reply(_present_process(process, call.base_url))


def get_task(call: Call, guid: str) -> Reply:
    """`GET /v3/tasks/:guid`."""
    task = _get_resource(call, call.foundation.tasks_now(), guid, "Task", lambda t: t.guid)
    return json_reply(_present_task(task, call.base_url))


# -- service usage events and service instances ------------------------------------


def list_service_usage_events(call: Call) -> Reply:
    """`GET /v3/service_usage_events` (`ServiceUsageEventsController#index`)."""
    principal = call.reader()
    message = _message(call, messages.SERVICE_USAGE_EVENTS, unprocessable=True)
    foundation = call.foundation
    with foundation.lock:
        selected = _select_service_events(call, message) if principal.global_reader else []
        sim = foundation.services
        resources = [sim.present_event(e, call.base_url) for e in _paged(selected, message)]
    return _list_reply(call, "/v3/service_usage_events", len(selected), message, resources)


def _select_service_events(call: Call, message: ListMessage) -> list[ServiceEvent]:
    """`ServiceUsageEventListFetcher`: after_guid, created_ats, guids, types, offerings."""
    sim = call.foundation.services
    start = 0
    if "after_guid" in message.requested:
        after = message.strings("after_guid")
        if not after:
            raise UnknownError("undefined method '[]' for nil")
        position = sim.positions.get(after[0])
        if position is None:
            raise ApiError(
                "UnprocessableEntity",
                "After guid filter must be a valid service usage event guid.",
            )
        start = position + 1
    selected = sim.events[start:]
    windows = message.windows("created_ats")
    if windows is not None:
        selected = [e for e in selected if in_windows(e.created_us, windows)]
    guids = message.strings("guids")
    if guids is not None:
        selected = [e for e in selected if e.guid in guids]
    types = message.strings("service_instance_types")
    if types is not None:
        selected = [e for e in selected if sim.instances[e.instance].type in types]
    offerings = message.strings("service_offering_guids")
    if offerings is not None:
        selected = [
            e for e in selected if e.plan >= 0 and sim.plans[e.plan].offering_guid in offerings
        ]
    if message.order_column == "created_at":
        selected.sort(key=lambda e: (e.created_us, e.id), reverse=message.descending)
    return selected


def get_service_usage_event(call: Call, guid: str) -> Reply:
    """`GET /v3/service_usage_events/:guid`."""
    principal = call.reader()
    sim = call.foundation.services
    with call.foundation.lock:
        position = sim.positions.get(guid) if principal.global_reader else None
        if position is None:
            raise ApiError("ResourceNotFound", "Service usage event not found")
        return json_reply(sim.present_event(sim.events[position], call.base_url))


def purge_service_usage_events(call: Call) -> Reply:
    """`POST /v3/service_usage_events/actions/destructively_purge_all_and_reseed`."""
    if not call.authenticate().admin:
        raise ApiError("NotAuthorized")
    call.foundation.purge_and_reseed_services(time.time_ns() // 1000)
    return json_reply({})


def list_service_instances(call: Call) -> Reply:
    """`GET /v3/service_instances`: the instances that exist now."""
    principal = call.reader()
    sim = call.foundation.services
    kinds = {MANAGED: "managed", USER_PROVIDED: "user-provided"}
    columns: dict[str, Callable[[Instance], str]] = {
        "names": lambda i: i.name,
        "guids": lambda i: i.guid,
        "space_guids": lambda i: sim.spaces[i.space][0],
        "organization_guids": lambda i: sim.spaces[i.space][2],
        "service_plan_guids": lambda i: sim.plans[i.plan].guid if i.plan >= 0 else "",
        "service_plan_names": lambda i: sim.plans[i.plan].name if i.plan >= 0 else "",
    }

    def found(message: ListMessage) -> tuple[int, list[dict[str, Any]]]:
        kind = message.values.get("type")  # one value, validated: managed or user-provided
        with call.foundation.lock:
            live = [i for i in sim.live() if kind is None or kinds[i.type] == kind]
            items = _filter_resources(live, message, columns, lambda i: i.created_us)
            return len(items), [
                sim.present_instance(i, call.base_url) for i in _paged(items, message)
            ]

    def included(message: ListMessage, page: list[dict[str, Any]]) -> dict[str, Any] | None:
        return included_for_fields(message, call.foundation, page)

    return _resource_list(
        call, "/v3/service_instances", messages.SERVICE_INSTANCES, principal, found, included
    )


def get_service_instance(call: Call, guid: str) -> Reply:
    """`GET /v3/service_instances/:guid`."""
    sim = call.foundation.services
    with call.foundation.lock:
        found = _get_resource(call, sim.live(), guid, "Service instance", lambda i: i.guid)
        return json_reply(sim.present_instance(found, call.base_url))
