"""The sandbox differences from Cloud Controller a fidelity check of 0.2.0 found (issue 22), each
against what CC's code does (cloud_controller_ng presenters, controllers and messages)."""

from __future__ import annotations

import re
from collections import Counter

import pytest
import requests
from sandbox_shapes import body


def get(sb, path: str) -> requests.Response:
    return requests.get(sb.url + path, headers={"Authorization": sb.admin_token()}, timeout=60)


def every(sb, path: str) -> list[dict]:
    reply = get(sb, f"{path}{'&' if '?' in path else '?'}per_page=5000")
    assert reply.status_code == 200, reply.text
    return reply.json()["resources"]


def test_user_provided_service_usage_events_carry_null_guid_name_objects(sandbox):
    events = every(sandbox, "/v3/service_usage_events")
    user_provided = [
        e for e in events if e["service_instance"]["type"] == "user_provided_service_instance"
    ]
    assert user_provided
    for e in user_provided:  # ServiceUsageEventPresenter always builds the three objects
        for key in ("service_plan", "service_offering", "service_broker"):
            assert e[key] == {"guid": None, "name": None}


def test_one_crash_writes_one_payload_into_both_events(sandbox):
    """`AppCrashedController#crashed`: `record_crash(process, payload)` (all of it, plus the
    version) and `create_app_crash_event(app, payload)` (a slice of the same hash)."""
    events = every(sandbox, "/v3/audit_events?types=audit.app.process.crash,app.crash")
    by_instance: dict[tuple[str, int], list[dict]] = {}
    for e in events:
        by_instance.setdefault((e["data"]["instance"], e["data"]["index"]), []).append(e)
    with_status = 0
    for pair in by_instance.values():
        process, app = sorted(pair, key=lambda e: e["type"] != "audit.app.process.crash")
        assert [process["type"], app["type"]] == ["audit.app.process.crash", "app.crash"]
        sliced = ("instance", "index", "cell_id", "exit_status", "exit_description", "reason")
        assert app["data"] == {k: process["data"][k] for k in sliced if k in process["data"]}
        assert list(app["data"]) == [k for k in sliced if k in app["data"]]
        status = process["data"].get("exit_status")
        if status is not None:
            with_status += 1
            named = re.search(r"Exited with status (\d+)", process["data"]["exit_description"])
            assert named and int(named.group(1)) == int(status)
    assert with_status  # some Diego versions report it: both events then carry it


def test_processes_as_the_process_presenter_shows_them(sandbox):
    processes = every(sandbox, "/v3/processes")
    assert processes
    for p in processes:
        assert p["relationships"]["revision"] is None  # `revision_guid && {...}`
        assert p["user"] == "vcap" and p["version"]
        assert p["links"]["process_instances"]["href"].endswith(
            f"/v3/processes/{p['guid']}/process_instances"
        )
    # the version the crash events name is the process's
    crashes = every(sandbox, "/v3/audit_events?types=audit.app.process.crash")
    versions = {p["guid"]: p["version"] for p in processes}
    assert any(versions.get(c["actor"]["guid"]) == c["data"]["version"] for c in crashes)


def test_tasks_and_service_instances_carry_ccs_fields(sandbox):
    assert all(t["user"] == "vcap" for t in every(sandbox, "/v3/tasks"))
    instances = every(sandbox, "/v3/service_instances")
    kinds = Counter(i["type"] for i in instances)
    assert kinds["managed"] and kinds["user-provided"]
    for i in instances:
        if i["type"] == "managed":
            assert i["maintenance_info"] == {"version": "1.0.0"}
            assert i["upgrade_available"] is False and i["dashboard_url"].startswith("https://")
            assert i["links"]["service_plan"]["href"].endswith(
                i["relationships"]["service_plan"]["data"]["guid"]
            )
        else:
            assert "syslog_drain_url" in i and "route_service_url" in i
            assert i["links"]["credentials"]["href"].endswith("/credentials")
        assert list(i)[-3:] == ["relationships", "metadata", "links"]  # correct_order


def test_v3_root_has_ccs_links(sandbox):
    links = get(sandbox, "/v3").json()["links"]
    assert list(links) == list(body("ccng_source_v3_root.json")["links"])  # RootController
    assert len(links) == 33
    assert links["service_credential_bindings"]["href"] == (
        f"{sandbox.base_url}/v3/service_credential_bindings"
    )


def test_service_instances_type_must_be_managed_or_user_provided(sandbox):
    bogus = get(sandbox, "/v3/service_instances?type=bogus")
    assert bogus.status_code == 400
    error = bogus.json()["errors"][0]
    assert error["title"] == "CF-BadQueryParameter"
    assert (
        error["detail"]
        == "The query parameter is invalid: Type must be one of 'managed', 'user-provided'"
    )
    for kind in ("managed", "user-provided"):
        listed = every(sandbox, f"/v3/service_instances?type={kind}")
        assert listed and {i["type"] for i in listed} == {kind}


LABELLED = (
    "/v3/organizations",
    "/v3/spaces",
    "/v3/apps",
    "/v3/processes",
    "/v3/tasks",
    "/v3/service_instances",
)


@pytest.mark.parametrize("path", LABELLED)
def test_label_selector_is_accepted_where_cc_takes_it(sandbox, path):
    everything = every(sandbox, path)
    # the sandbox's resources have no labels: `!env` and `env notin (x)` hold for all of them
    assert every(sandbox, f"{path}?label_selector=!env") == everything
    assert every(sandbox, f"{path}?label_selector=env%20notin%20(prod,dev),tier!=web") == everything
    assert every(sandbox, f"{path}?label_selector=env=prod") == []
    assert every(sandbox, f"{path}?label_selector=env%20in%20(prod,dev)") == []
    empty = get(sandbox, f"{path}?label_selector=")
    assert empty.status_code == 400 and "Missing label_selector value" in empty.text


def test_label_selector_is_refused_where_cc_does(sandbox):
    reply = get(sandbox, "/v3/audit_events?label_selector=env")
    assert reply.status_code == 400 and "Unknown query parameter(s): 'label_selector'" in reply.text


def test_include_adds_the_related_resources(sandbox):
    body = get(sandbox, "/v3/apps?include=space.organization&per_page=3").json()
    spaces = {a["relationships"]["space"]["data"]["guid"] for a in body["resources"]}
    assert {s["guid"] for s in body["included"]["spaces"]} == spaces
    orgs = {s["relationships"]["organization"]["data"]["guid"] for s in body["included"]["spaces"]}
    assert {o["guid"] for o in body["included"]["organizations"]} == orgs
    assert "include=space.organization" in body["pagination"]["first"]["href"]
    spaces_body = get(sandbox, "/v3/spaces?include=org").json()
    assert {o["guid"] for o in spaces_body["included"]["organizations"]} == {
        s["relationships"]["organization"]["data"]["guid"] for s in spaces_body["resources"]
    }
    assert "included" not in get(sandbox, "/v3/apps").json()
    bad = get(sandbox, "/v3/apps?include=droplet")
    assert bad.status_code == 400
    assert (
        "Invalid included resource: 'droplet'. Valid included resources are: 'space', 'org', 'space.organization'"
        in bad.text
    )


def test_fields_and_service_plan_names_on_service_instances(sandbox):
    query = (
        "/v3/service_instances?type=managed&fields[space]=name,guid"
        "&fields[service_plan.service_offering]=name"
    )
    body = get(sandbox, query).json()
    spaces = {i["relationships"]["space"]["data"]["guid"] for i in body["resources"]}
    assert {s["guid"] for s in body["included"]["spaces"]} == spaces
    assert all(set(s) == {"guid", "name"} for s in body["included"]["spaces"])
    assert body["included"]["service_offerings"] and all(
        set(o) == {"name"} for o in body["included"]["service_offerings"]
    )
    bad = get(sandbox, "/v3/service_instances?fields[app]=name")
    assert bad.status_code == 400 and "Fields [app] valid resources are: 'space'" in bad.text
    plan = body["resources"][0]["relationships"]["service_plan"]["data"]["guid"]
    name = next(p.name for p in sandbox.foundation.services.plans if p.guid == plan)
    named = every(sandbox, f"/v3/service_instances?service_plan_names={name}")
    assert named and all(
        i["relationships"]["service_plan"]["data"]["guid"]
        in {p.guid for p in sandbox.foundation.services.plans if p.name == name}
        for i in named
    )
